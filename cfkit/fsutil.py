"""File safety: atomic writes (no reader sees a half-written file), content hashing, ids that stay inside
their folder, and output folders that record what cfkit wrote (so it never replaces a file of the user's)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cfkit.errors import InputError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def refuse_overlap(src: str | os.PathLike, out: str | os.PathLike, what: str = "--src") -> None:
    """Raise when the local input ``src`` and the output folder ``out`` are the same or nest.

    Writing (and cleaning) an output inside the input, or the input inside the output, could overwrite
    or delete the user's own files.
    """
    a, b = Path(src).expanduser().resolve(), Path(out).expanduser().resolve()
    if a == b or a.is_relative_to(b) or b.is_relative_to(a):
        raise InputError(f"{what} {src} and the output folder {out} overlap; choose an output outside the input")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


MAX_ID_CHARS = 200
"""Longest id accepted: ``OUT/<id>.png`` must stay a valid file name on every common file system."""


def safe_id(value: object, where: str) -> str:
    """``value`` as an id that names a file below a folder (``OUT/<id>.png``), else an InputError naming ``where``.

    An id is a relative name: ``/``-separated parts, none empty, ``.`` or ``..``; no leading ``/`` or drive,
    no backslash, NUL, control or undecodable characters; at most :data:`MAX_ID_CHARS` characters. Every id
    read from a manifest, shard table or folder passes here, so none can climb out of its folder.
    """
    import numbers
    import re
    import unicodedata

    text = str(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        missing = value is None or isinstance(value, float) and value != value
        problem = "missing" if missing else f"not text but {type(value).__name__}"
    elif not text:
        problem = "empty"
    elif len(text) > MAX_ID_CHARS:
        problem = f"longer than {MAX_ID_CHARS} characters"
    elif any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        problem = "control or undecodable character"
    elif text.startswith("/") or re.match(r"[A-Za-z]:", text):
        problem = "absolute path or drive"
    elif "\\" in text or any(p in ("", ".", "..") for p in text.split("/")):
        problem = "not a plain relative name: backslash, '..', '.' or empty part"
    else:
        return text
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise InputError(f"{where}: unusable id {shown} ({problem})")


def safe_ids(values, where: str) -> list[str]:
    """:func:`safe_id` of each value, the error naming its row (0-based) in ``where``."""
    return [safe_id(v, f"{where} row {k}") for k, v in enumerate(values)]


def check_new(path: str | os.PathLike, data: bytes, *, force: bool = False, what: str = "--out") -> None:
    """Raise unless ``path`` may be written with ``data``: an existing file is replaced only with ``force`` (or
    when it already holds ``data``), since cfkit cannot tell whether it wrote it."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; give a file name")
    if os.path.lexists(path) and not force:
        same = path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
        if not same:
            raise InputError(f"{what} {path} exists; pass --force to replace it, or choose another name")


OUTPUTS_RECORD = ".cfkit-outputs.json"
"""The file in an output folder listing what cfkit wrote there (see :class:`OutputFolder`)."""


def _files_below(folder: Path) -> set[str]:
    """Relative POSIX paths of every entry below ``folder`` that is not a real folder (links included)."""
    found: set[str] = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found |= {(rel / n).as_posix() for n in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]}
    return found


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / OUTPUTS_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded_outputs(folder: str | os.PathLike, command: str) -> set[str]:
    """Files the record in ``folder`` lists as written there by ``command`` (empty without a record)."""
    record = _read_record(Path(folder))
    return set(record.get("files", ())) if record.get("command") == command else set()


def record_outputs(folder: str | os.PathLike, command: str, files: list[str]) -> None:
    """Add ``files`` (relative names) to the record of ``command``'s output in ``folder``, for outputs drawn
    later from it (``cfkit figure`` in an eval folder); nothing without such a record."""
    record = _read_record(Path(folder))
    if record.get("command") == command:
        record["files"] = sorted(set(record.get("files", ())) | set(files))
        atomic_write_json(Path(folder) / OUTPUTS_RECORD, record)


def _stamp(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


class OutputFolder:
    """An output folder with a record (:data:`OUTPUTS_RECORD`) of the files a ``command`` wrote there.

    Made before any work, it refuses a folder holding files no record shows ``command`` wrote (with
    ``force`` they stay, or are replaced where an output takes their name) and the output of an earlier
    run of ``command`` (unless ``replace``). :meth:`begin` deletes that earlier output (only the files
    its record lists) and records the ``planned`` names, so a later run recognises an interrupted run's
    files as cfkit's; :meth:`finish` records exactly the files this run wrote.
    """

    def __init__(
        self, path: str | os.PathLike, command: str, *, what: str = "--out", force: bool | None = None, replace=False
    ):
        """``force=None``: the command has no ``--force`` (files of others always refuse the folder)."""
        self.path, self.command = Path(path), command
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{what} {path} is not a folder")
        present = _files_below(self.path) - {OUTPUTS_RECORD} if self.path.is_dir() else set()
        own = recorded_outputs(self.path, command)
        self.earlier = sorted(present & own)
        others = sorted(present - own)
        if others and not force:
            hint = "" if force is None else ", or pass --force to write beside them"
            raise InputError(
                f"{what} {path} holds {len(others)} file(s) cfkit has no record of writing there "
                f"(e.g. {others[0]}); choose a new or empty folder{hint}"
            )
        if self.earlier and not replace:
            raise InputError(
                f"{what} {path} holds the output of an earlier `cfkit {command}` ({len(self.earlier)} files); "
                "pass --force to replace it, or choose another folder"
            )
        self._before: dict[str, tuple[int, int, int]] = {}

    def _write_record(self, files: list[str], complete: bool) -> None:
        doc = {"command": self.command, "complete": complete, "files": files}
        atomic_write_json(self.path / OUTPUTS_RECORD, doc)

    def begin(self, planned=()) -> None:
        """Delete the earlier run's files, then record ``planned`` (relative names this run may write)."""
        for rel in self.earlier:
            (self.path / rel).unlink(missing_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)
        self._before = {rel: _stamp(self.path / rel) for rel in _files_below(self.path)}
        self._write_record(sorted(planned), complete=False)

    def finish(self) -> list[str]:
        """Record, and return, the files written since :meth:`begin` (relative POSIX paths)."""
        now = _files_below(self.path) - {OUTPUTS_RECORD}
        ours = sorted(r for r in now if self._before.get(r) != _stamp(self.path / r))
        self._write_record(ours, complete=True)
        return ours
