"""Ids are safe relative names; output folders and export files never take over a file cfkit did not write."""

from __future__ import annotations

import json

import pytest

from cfkit.errors import InputError
from cfkit.fsutil import OUTPUTS_RECORD, OutputFolder, check_new, safe_id, safe_ids


@pytest.mark.parametrize(
    "bad",
    [
        "../../victim/x",
        "a/../../b",
        "/etc/passwd",
        "C:evil",
        "a\\..\\b",
        "a//b",
        "a/",
        ".",
        "",
        "x\x00y",
        "line\nbreak",
        "x\udcff",
        "x" * 201,
        None,
        float("nan"),
        3.5,
    ],
)
def test_unsafe_ids_are_refused_naming_the_row(bad):
    with pytest.raises(InputError, match=r"^m\.parquet row 1: unusable id ") as e:
        safe_ids(["fine", bad], "m.parquet")
    assert "\n" not in str(e.value)


def test_plain_and_nested_ids_pass():
    assert safe_ids(["a", "sub/b-1_2.x", "名前", "..x", 7], "m") == ["a", "sub/b-1_2.x", "名前", "..x", "7"]
    assert safe_id("x" * 200, "m") == "x" * 200


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_output_folder_replaces_only_its_own_record(tmp_path):
    out = tmp_path / "out"
    run = OutputFolder(out, "cmd", replace=True)
    run.begin(["a.txt", "sub/b.txt"])
    (out / "a.txt").write_text("a")
    (out / "sub").mkdir()
    (out / "sub" / "b.txt").write_text("b")
    assert run.finish() == ["a.txt", "sub/b.txt"]
    again = OutputFolder(out, "cmd", replace=True)
    again.begin(["c.txt"])
    (out / "c.txt").write_text("c")
    assert again.finish() == ["c.txt"] and _files(out) == sorted([OUTPUTS_RECORD, "c.txt"])
    with pytest.raises(InputError, match="earlier `cfkit cmd`.*--force"):
        OutputFolder(out, "cmd", force=False)
    with pytest.raises(InputError, match="no record of writing"):  # another command's output is not ours
        OutputFolder(out, "other", replace=True)


def test_output_folder_refuses_files_of_others_and_force_keeps_them(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(InputError, match=r"1 file\(s\) cfkit has no record of writing there \(e.g. notes.md\)"):
        OutputFolder(out, "cmd", replace=True)
    forced = OutputFolder(out, "cmd", force=True, replace=True)
    forced.begin()
    (out / "r.txt").write_text("r")
    assert forced.finish() == ["r.txt"] and (out / "notes.md").read_text() == "mine"
    again = OutputFolder(out, "cmd", force=True, replace=True)
    again.begin()
    assert (out / "notes.md").read_text() == "mine" and not (out / "r.txt").exists()


def test_an_interrupted_run_is_recognised_by_its_plan(tmp_path):
    out = tmp_path / "out"
    OutputFolder(out, "cmd", replace=True).begin(["a.png", "b.png"])
    (out / "a.png").write_bytes(b"partial")  # killed before finish()
    assert json.loads((out / OUTPUTS_RECORD).read_text())["complete"] is False
    OutputFolder(out, "cmd", replace=True).begin(["c.png"])
    assert not (out / "a.png").exists()


def test_check_new_refuses_existing_files_unless_forced(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("user's")
    with pytest.raises(InputError, match="exists; pass --force"):
        check_new(p, b"x")
    check_new(p, b"user's")  # the same bytes: nothing is lost
    check_new(p, b"new", force=True)
    with pytest.raises(InputError, match="is a folder"):
        check_new(tmp_path, b"x", force=True)
