"""Declared dependencies match the code: every import declared, the tested versions inside the bounds.

CI installs ``constraints.txt`` (the versions it tests); these checks keep that file, pyproject's
floors/upper bounds and the installed environment consistent.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python >= 3.11")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
EXTRAS = {k: [Requirement(r) for r in v] for k, v in PYPROJECT["project"]["optional-dependencies"].items()}
INTERNALS_TOUCHED = {"insightface", "pytorch-fid", "lpips"}
"""Libraries whose private structure cfkit relies on: they need an upper bound."""
MODULE_OWNERS = {"dlib": "dlib-bin"}
"""Modules whose distribution's metadata does not name them (a bare extension module)."""


def _pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    pins = [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]
    return {canonicalize_name(p.split("==")[0]): p.split("==")[1] for p in pins}


def _imports(root: Path) -> set[str]:
    names = set()
    for f in root.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"cfkit", "__future__"}


def test_every_third_party_import_is_declared():
    declared = {canonicalize_name(r.name) for r in RUNTIME + EXTRAS["postgres"]}
    dists = md.packages_distributions()
    missing = {}
    for module in sorted(_imports(REPO / "cfkit") | _imports(REPO / "dashboard")):
        owners = {canonicalize_name(d) for d in dists.get(module, [MODULE_OWNERS.get(module, module)])}
        if not owners & declared:
            missing[module] = sorted(owners)
    assert not missing, f"imported but not declared in pyproject dependencies: {missing}"


def test_constraints_pin_every_dependency_inside_its_bounds():
    pins = _pins()
    for req in RUNTIME + [r for rs in EXTRAS.values() for r in rs]:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} outside '{req}'"


def test_libraries_whose_internals_we_touch_have_a_tested_upper_bound():
    pins = _pins()
    for req in RUNTIME:
        if canonicalize_name(req.name) in INTERNALS_TOUCHED:
            uppers = [s for s in req.specifier if s.operator in ("<", "<=", "~=", "==")]
            assert uppers, f"{req.name} needs an upper bound: cfkit relies on its internals"
            assert req.specifier.contains(pins[canonicalize_name(req.name)]), req


def test_installed_versions_are_inside_the_bounds():
    """The environment running the tests is one the bounds allow (CI: exactly constraints.txt)."""
    for req in RUNTIME:
        version = md.version(req.name)
        public = re.sub(r"\+.*$", "", version)  # local labels such as +cu130
        assert req.specifier.contains(public, prereleases=True), f"installed {req.name} {version} outside '{req}'"
