"""cfkit's packages import one way: each layer uses only the layers below it, and no two packages import each other.

Every ``import cfkit.x`` / ``from cfkit.x import`` is read from the source (function-level imports
included), so a lazy import cannot hide an inversion.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cfkit"

LAYERS = [
    {"cfkit", "cfkit.errors", "cfkit.fsutil", "cfkit.console", "cfkit.resources", "cfkit.registry", "cfkit.imageio"}
    | {"cfkit.stats", "cfkit.options"},
    {"cfkit.fetch"},  # downloads, archives
    {"cfkit.assets", "cfkit.train.checkpoint"},  # model files: pretrained assets, cfkit's own checkpoints
    {"cfkit.faces.scheme", "cfkit.faces.align", "cfkit.faces.landmarks"},  # face geometry, dlib's 68 points
    {"cfkit.nets"},  # network architectures (some place parts by the face geometry)
    {"cfkit.faces"},  # detection, identity, landmark sources (which may run a trained regressor)
    {"cfkit.metrics", "cfkit.train", "cfkit.methods"},
    {"cfkit.curate", "cfkit.evaluate"},
    {"cfkit.study"},
    {"cfkit.bench"},  # train, evaluate and study in one run
    {"cfkit.demo", "cfkit.cli", "cfkit.__main__"},
]
"""Lowest first. A module of layer i may import layers <= i. An entry is a package or a module; a module
belongs to the longest entry it starts with."""

UNITS = sorted(set().union(*LAYERS), key=len, reverse=True)


def unit(module: str) -> str:
    return next(u for u in UNITS if module == u or module.startswith(u + ".") or u == "cfkit")


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> files, for every cfkit import in cfkit/."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(PACKAGE.parent).with_suffix("")
        here = unit(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]  # the name may be a module
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if (t == "cfkit" or t.startswith("cfkit.")) and unit(t) != here:
                    edges[(here, unit(t))].append(str(f.relative_to(PACKAGE.parent)))
    return edges


def layer_of(u: str) -> int:
    for i, layer in enumerate(LAYERS):
        if u in layer:
            return i
    raise AssertionError(f"{u} is in no layer: add it to LAYERS in tests/test_layers.py")


def test_every_package_has_a_layer():
    for p in PACKAGE.iterdir():
        if p.name.startswith(("_", ".")) and p.name != "__main__.py":
            continue
        if p.is_dir() and (p / "__init__.py").exists() or p.suffix == ".py":
            layer_of(f"cfkit.{p.stem}")


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
    state: dict[str, int] = {}

    def visit(u: str, path: list[str]) -> None:
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, u, v]))
            if v not in state:
                visit(v, [*path, u])
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            visit(u, [])


def test_scanner_sees_lazy_imports():
    """The check would catch an inversion hidden in a function body (the faces -> methods one it found)."""
    edges = import_edges()
    assert ("cfkit.curate", "cfkit.methods") in edges  # curate.maskers imports it inside a function
    assert any("maskers.py" in f for f in edges[("cfkit.curate", "cfkit.methods")])
