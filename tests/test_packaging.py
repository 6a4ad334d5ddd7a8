"""A non-editable install must still find pipelines/, eval/ and dashboard/ (bundled into the wheel)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"wheel build failed: {proc.stderr[-2000:]}")
    return next(out.glob("cfkit-*.whl"))


def test_wheel_bundles_resource_folders(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for folder in ("pipelines", "eval", "dashboard"):
        src = [p for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert src, f"{folder}/ is empty"
        for p in src:
            assert f"cfkit/_bundled/{p.relative_to(REPO).as_posix()}" in names


def test_installed_wheel_resolves_resources(wheel, tmp_path):
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    code = (
        "import cfkit.resources as r, sys;"
        "print(*(r.resource_dir(n) for n in ('pipelines','eval','dashboard')), sep='\\n')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    lines = out.stdout.splitlines()
    bundled = target / "cfkit" / "_bundled"
    assert lines == [str(bundled / n) for n in ("pipelines", "eval", "dashboard")], out.stdout + out.stderr
    assert all(Path(line).is_dir() and any(Path(line).iterdir()) for line in lines)
