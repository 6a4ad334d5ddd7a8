"""Safe archive extraction: traversal, links, bombs, limits; and archives as --src."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest
from mini_http import image_bytes

from cfkit.curate.sources import resolve
from cfkit.curate.sources.archive import ExtractLimits, extract
from cfkit.errors import CfkitError


def _zip(path, members: dict[str, bytes], symlinks: dict[str, str] | None = None):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _tar(path, members: dict[str, bytes], mode="w:gz", links: dict[str, tuple[bytes, str]] | None = None):
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return path


def test_zip_traversal_and_symlinks_refused(tmp_path):
    arc = _zip(
        tmp_path / "a.zip",
        {"faces/ok.png": image_bytes(1), "../escape.png": b"x", "/abs.png": b"x", "faces/../../up.png": b"x"},
        symlinks={"faces/link.png": "/etc/passwd"},
    )
    dest = tmp_path / "out"
    rejected = extract(arc, dest)
    assert sorted(r.origin.split("!")[1] for r in rejected) == sorted(
        ["../escape.png", "/abs.png", "faces/../../up.png", "faces/link.png"]
    )
    assert {r.reason for r in rejected} == {"unsafe_path"}
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["a.zip", "out/.cfkit-extracted.json", "out/faces/ok.png"]
    assert not (dest / "faces" / "link.png").is_symlink()


def test_tar_traversal_and_links_refused(tmp_path):
    arc = _tar(
        tmp_path / "a.tar.gz",
        {"set/ok.png": image_bytes(2), "../../escape.png": b"x"},
        links={"set/sym.png": (tarfile.SYMTYPE, "/etc/passwd"), "set/hard.png": (tarfile.LNKTYPE, "/etc/passwd")},
    )
    rejected = extract(arc, tmp_path / "out")
    assert sorted(r.origin.split("!")[1] for r in rejected) == ["../../escape.png", "set/hard.png", "set/sym.png"]
    assert [p.name for p in (tmp_path / "out").rglob("*.png")] == ["ok.png"]


def test_zip_bomb_member_refused(tmp_path):
    arc = _zip(tmp_path / "bomb.zip", {"bomb.png": b"\0" * (20 << 20), "ok.png": image_bytes(3)})
    assert arc.stat().st_size < 200_000
    rejected = extract(arc, tmp_path / "out")
    assert [(r.origin, r.reason) for r in rejected] == [("bomb.zip!bomb.png", "too_large")]
    assert not (tmp_path / "out" / "bomb.png").exists() and (tmp_path / "out" / "ok.png").is_file()


def test_tar_bomb_refused(tmp_path):
    arc = _tar(tmp_path / "bomb.tar.gz", {"ok.png": image_bytes(4), "bomb.png": b"\0" * (30 << 20)})
    rejected = extract(arc, tmp_path / "out")
    assert [(r.origin, r.reason) for r in rejected] == [("bomb.tar.gz!bomb.png", "too_large")]


def test_total_limit_stops_extraction(tmp_path):
    arc = _zip(tmp_path / "big.zip", {f"{i}.png": image_bytes(i, noise=True) for i in range(4)})
    with pytest.raises(CfkitError, match="expands beyond"):
        extract(arc, tmp_path / "out", ExtractLimits(max_total_bytes=20_000))


def test_archive_as_src_returns_images_and_rejections(tmp_path):
    arc = _zip(tmp_path / "set.zip", {"a.png": image_bytes(5), "b.jpg": image_bytes(6, fmt="JPEG"), "../x.png": b"x"})
    got = resolve("folder", str(arc), tmp_path / "work")
    assert sorted(i.path.name for i in got) == ["a.png", "b.jpg"]
    assert got.rejected_by_reason() == {"unsafe_path": 1}
    again = resolve("folder", str(arc), tmp_path / "work", limit=1)  # extracted once, reused
    assert len(again) == 1 and again.rejected_by_reason() == {"unsafe_path": 1}
