"""Shared fixtures: CLI runner, shared data location, assets fetched once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Assets are fetched once into a persistent, git-ignored home unless the caller chose one.
os.environ.setdefault("CFKIT_HOME", str(REPO / ".cache" / "cfkit-test"))
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo (real photos and cartoons); skipped where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-image test data not found at {SHARED_DATA} (present in the project workspace only)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def asset():
    """``asset("scrfd")`` -> installed path, fetching it (official URL, else registry package) once."""
    from cfkit.assets import fetch

    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = fetch(name)
        return cache[name]

    return get


@pytest.fixture
def server():
    """A threaded HTTP server on 127.0.0.1 serving what the test adds (see ``mini_http``)."""
    from mini_http import MiniServer

    s = MiniServer()
    yield s
    s.close()


@pytest.fixture
def run_cli(capsys):
    """Run ``cfkit ARGS...`` in-process: returns (exit_code, stdout, stderr)."""
    from cfkit.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return int(exc.value.code or 0), out.out, out.err

    return run


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest installs its script as ``sys.modules["__main__"]`` and leaves it there; a later
    test's spawned worker processes would re-run that script. Put the real ``__main__`` back after each test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
