"""Safe relative file names for what is downloaded or extracted (a name never leaves its folder)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from cfkit.fetch.reasons import Reject


def safe_relpath(name: str) -> str:
    """``name`` as a harmless relative POSIX path, or :class:`Reject` ``unsafe_path``."""
    raw = name.replace("\\", "/")
    parts = PurePosixPath(raw).parts
    if not parts or raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or any(p in ("..", ".") for p in parts):
        raise Reject("unsafe_path", f"refusing file name {name!r}")
    clean = [re.sub(r"[^A-Za-z0-9._+-]", "_", p).lstrip(".")[:120] or "_" for p in parts]
    return "/".join(clean)
