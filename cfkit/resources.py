"""Where cfkit keeps things: bundled recipes/protocols/apps and the asset home."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent
BUNDLED = ("pipelines", "eval", "dashboard")


def resource_dir(name: str) -> Path:
    """Folder of a top-level resource (``pipelines``, ``eval``, ``dashboard``).

    A wheel carries them under ``cfkit/_bundled/``; a source checkout has them beside the package.
    """
    if name not in BUNDLED:
        raise ValueError(f"unknown resource folder {name!r}")
    for cand in (_PKG / "_bundled" / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"cfkit resource folder '{name}' not found; the installation is incomplete")


def cfkit_home() -> Path:
    """Asset and cache home: ``$CFKIT_HOME`` or ``~/.cache/cfkit``."""
    return Path(os.environ.get("CFKIT_HOME") or Path.home() / ".cache" / "cfkit").expanduser()


def cache_dir(kind: str) -> Path:
    d = cfkit_home() / "cache" / kind
    d.mkdir(parents=True, exist_ok=True)
    return d
