"""cfkit's packages import one way: each layer uses only the layers below it, no two packages import each
other, and no files import each other in a circle (inside a package too).

Every ``import cfkit.x`` / ``from cfkit.x import`` is read from the source (function-level imports
included), so a lazy import cannot hide an inversion or a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cfkit"

LAYERS = [
    {"cfkit", "cfkit.errors", "cfkit.fsutil", "cfkit.console", "cfkit.resources", "cfkit.registry", "cfkit.imageio"}
    | {"cfkit.stats", "cfkit.options", "cfkit.allocator", "cfkit.stageclock"},
    {"cfkit.fetch"},  # downloads, archives
    {"cfkit.assets", "cfkit.runs"},  # model files: pretrained assets, cfkit's own run folders and checkpoints
    {"cfkit.geometry"},  # the 5-point scheme, alignment templates
    {"cfkit.nets"},  # network architectures (some place parts by the face geometry)
    {"cfkit.faces"},  # detection, identity, landmark sources (which may run a trained regressor)
    {"cfkit.train", "cfkit.methods"},
    {"cfkit.curate", "cfkit.evaluate"},
    {"cfkit.study"},
    {"cfkit.bench"},  # train, evaluate and study in one run
    {"cfkit.demo", "cfkit.cli", "cfkit.__main__"},
]
"""Lowest first. A module of layer i may import layers <= i. An entry is a top-level module or a whole
package (``cfkit`` is only the root ``__init__.py``)."""


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module in cfkit/ (a package is its ``__init__.py``)."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(PACKAGE.parent).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = f
    return out


def unit(module: str) -> str:
    """The layer entry a module belongs to: its top-level package or module under cfkit."""
    return ".".join(module.split(".")[:2])


def file_edges() -> dict[str, set[str]]:
    """Module -> the cfkit modules it imports (``from pkg import name`` counts the module ``pkg.name`` if
    there is one, else ``pkg``)."""
    files = module_files()
    edges: dict[str, set[str]] = defaultdict(set)
    for here, f in files.items():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]  # the name may be a module
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in files:
                    t = t.rpartition(".")[0]
                if t.startswith("cfkit") and t != here:
                    edges[here].add(t)
    return edges


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> importing files, between different units."""
    files = module_files()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for a, targets in file_edges().items():
        for b in targets:
            if unit(a) != unit(b):
                edges[(unit(a), unit(b))].append(str(files[a].relative_to(PACKAGE.parent)))
    return edges


def layer_of(u: str) -> int:
    for i, layer in enumerate(LAYERS):
        if u in layer:
            return i
    raise AssertionError(f"{u} is in no layer: add it to LAYERS in tests/test_layers.py")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*stack[stack.index(v) :], v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (found := visit(u)):
            return found
    return None


def test_every_package_has_a_layer():
    for p in PACKAGE.iterdir():
        if p.name.startswith(("_", ".")) and p.name != "__main__.py":
            continue
        if p.is_dir() and (p / "__init__.py").exists() or p.suffix == ".py":
            layer_of(f"cfkit.{p.stem}")


def test_layers_list_whole_packages():
    """An entry is a top-level package or module: no package is split across layers."""
    for layer in LAYERS:
        for entry in layer:
            assert entry == "cfkit" or entry.count(".") == 1, f"{entry}: list its whole package"


def test_imports_point_down():
    upward = [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)}) in {', '.join(sorted(set(files)))}"
        for (a, b), files in import_edges().items()
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in import_edges():
        graph[a].add(b)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_cycles_between_files():
    """Inside a package too: no module imports, through any chain, a module that imports it."""
    cycle = find_cycle(file_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_scanner_sees_lazy_imports_and_cycles():
    """The checks would catch an inversion hidden in a function body (the faces -> methods one it found) and
    a cycle of files through a lazy import."""
    edges = import_edges()
    assert ("cfkit.curate", "cfkit.methods") in edges  # curate.maskers imports it inside a function
    assert any("maskers.py" in f for f in edges[("cfkit.curate", "cfkit.methods")])
    assert "cfkit.train.method" in file_edges()["cfkit.train.inference"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
