"""Safe archive extraction: traversal, links, bombs, limits; and archives as --src."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest
from mini_http import image_bytes

from cfkit.curate.sources import resolve
from cfkit.errors import CfkitError
from cfkit.fetch.archive import ExtractLimits, extract


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


def test_source_options_are_typed_before_they_reach_the_extractor(tmp_path, run_cli):
    """``-o max_members=2`` arrives as text; it is read as the integer the limit is (it was a TypeError)."""
    arc = _zip(tmp_path / "set.zip", {f"{i}.png": image_bytes(i) for i in range(3)})
    with pytest.raises(CfkitError, match=r"has 3 members \(limit 2\)"):
        resolve("folder", str(arc), tmp_path / "work", max_members="2")
    rc, _, err = run_cli("prepare", "folder", "--src", arc, "--out", tmp_path / "o", "-o", "max_members=2")
    assert rc != 0 and "set.zip has 3 members (limit 2)" in err and "internal error" not in err


def _patch_zip_member(path, name: str, *, flags: int | None = None, method: int | None = None) -> None:
    """Rewrite one member's general-purpose flags / compression method in its local and central headers."""
    import struct

    data = bytearray(path.read_bytes())
    raw = name.encode()
    for sig, flag_at, method_at, name_len_at, name_at in (
        (b"PK\x03\x04", 6, 8, 26, 30),
        (b"PK\x01\x02", 8, 10, 28, 46),
    ):
        i = data.find(sig)
        while i >= 0:
            n = struct.unpack_from("<H", data, i + name_len_at)[0]
            if bytes(data[i + name_at : i + name_at + n]) == raw:
                if flags is not None:
                    struct.pack_into("<H", data, i + flag_at, flags)
                if method is not None:
                    struct.pack_into("<H", data, i + method_at, method)
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def test_encrypted_and_unsupported_zip_members_rejected_rest_extracted(tmp_path):
    """Issue 11 item 7: one unreadable member is a rejection with its reason, not an aborted extraction."""
    arc = _zip(tmp_path / "mixed.zip", {"a.png": image_bytes(7), "secret.png": image_bytes(8), "odd.png": b"y" * 100})
    _patch_zip_member(arc, "secret.png", flags=0x1)  # traditional PKWARE encryption bit
    _patch_zip_member(arc, "odd.png", method=98)  # PPMd: not readable by zipfile
    with zipfile.ZipFile(arc) as zf, pytest.raises(RuntimeError):  # what aborted the whole extraction before
        zf.read("secret.png")
    rejected = extract(arc, tmp_path / "out")
    assert {r.origin: r.reason for r in rejected} == {
        "mixed.zip!secret.png": "encrypted",
        "mixed.zip!odd.png": "unsupported",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".cfkit-extracted.json", "a.png"]
    got = resolve("folder", str(arc), tmp_path / "work")
    assert [i.path.name for i in got] == ["a.png"]
    assert got.rejected_by_reason() == {"encrypted": 1, "unsupported": 1}


def test_select_extracts_chosen_members_to_chosen_names(tmp_path):
    arc = _tar(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/models/w.onnx": b"w" * 10, "pkg-1.0/README": b"r"})
    rejected = extract(arc, tmp_path / "out", select=lambda n: "flat.onnx" if n.endswith(".onnx") else None)
    assert rejected == [] and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["flat.onnx"]
    assert (tmp_path / "out" / "flat.onnx").read_bytes() == b"w" * 10
