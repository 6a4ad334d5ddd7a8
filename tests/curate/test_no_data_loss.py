"""``prepare``/``align`` never delete or overwrite a file they did not write; options are recorded honestly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cfkit.curate import align_folder, merge, prepare
from cfkit.curate.split import split_of
from cfkit.errors import InputError
from cfkit.imageio import load_rgb


def user_photos(folder: Path, astronaut: np.ndarray, save, n: int = 3) -> dict[Path, bytes]:
    """``n`` PNGs of the user's own in ``folder``: path -> bytes (to check they survive untouched)."""
    for i in range(n):
        save(folder / f"holiday_{i}.png", np.ascontiguousarray(np.roll(astronaut, 7 * i, axis=1)))
    return {p: p.read_bytes() for p in folder.glob("*.png")}


@pytest.mark.parametrize("layout", ["src_is_out_images", "out_is_src", "out_inside_src"])
def test_prepare_refuses_overlapping_src_and_out_and_deletes_nothing(layout, astronaut, tmp_path, save, run_cli):
    root = tmp_path / "mine"
    if layout == "src_is_out_images":
        src, out = root / "images", root
    elif layout == "out_is_src":
        src, out = root, root
    else:
        src, out = root, root / "prepared"
    before = user_photos(src, astronaut, save) | user_photos(root / "images", astronaut, save)
    rc, _, err = run_cli("prepare", "folder", "--src", src, "--out", out, "--workers", "1")
    assert rc != 0 and err.startswith("error:") and "overlap" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in before} == before
    assert not (out / "journal").exists() and not (out / "manifest.parquet").exists()


def test_prepare_removes_only_files_its_journal_records(models, astronaut, tmp_path, save):
    """A stranger's PNG in OUT/images survives; a face cfkit wrote and later dropped is removed."""
    src, out = tmp_path / "src", tmp_path / "out"
    save(src / "a.png", astronaut)
    save(src / "b.png", astronaut)  # byte-identical content: a duplicate whose file is cfkit's own
    foreign = user_photos(out / "images", astronaut, save, n=2) | user_photos(out / "masks", astronaut, save, n=1)
    res = prepare("folder", src, out, workers=1)
    assert res.kept == 1 and res.rejected.get("duplicate_sha256") == 1
    assert {p: p.read_bytes() for p in foreign} == foreign
    kept = set(pd.read_parquet(res.manifest)["id"])
    ours = {p.stem for p in (out / "images").glob("*.png")} - {p.stem for p in foreign}
    assert ours == kept


def test_src_typo_does_not_poison_the_output(models, astronaut, tmp_path, save):
    src, out = tmp_path / "src", tmp_path / "out"
    save(src / "a.png", astronaut)
    with pytest.raises(InputError, match="not found"):
        prepare("folder", tmp_path / "scr", out, workers=1)  # typo
    assert not list(out.rglob("options.json"))
    res = prepare("folder", src, out, workers=1)  # the corrected re-run is accepted
    assert res.kept == 1
    recorded = json.loads(next(out.rglob("options.json")).read_text())
    assert recorded["src"] == str(src)


def _shard_by_sorted_name(monkeypatch, src: Path) -> None:
    """Shards normally hash the origin path (under tmp_path: random), which can leave a shard of two or
    three images empty; here image k of ``src`` (sorted by name) goes to shard k mod n."""
    from cfkit.curate import pipeline

    names = sorted(p.name for p in src.iterdir())
    monkeypatch.setattr(
        pipeline,
        "in_shard",
        lambda origin, shard: shard is None or names.index(Path(origin).name) % shard[1] == shard[0],
    )


def test_merge_keeps_the_shards_seed_and_refuses_another(
    models, astronaut, t1_path, tmp_path, save, run_cli, monkeypatch
):
    src, out = tmp_path / "src", tmp_path / "out"
    save(src / "astronaut.png", astronaut)
    save(src / "t1.png", load_rgb(t1_path))
    save(src / "astronaut_flipped.png", np.ascontiguousarray(astronaut[:, ::-1]))
    _shard_by_sorted_name(monkeypatch, src)
    for i in range(2):
        prepare("folder", src, out, shard=f"{i}/2", seed=7, workers=1, policy="all")
    with pytest.raises(InputError, match="seed"):
        merge(out, seed=3)
    rc, _, err = run_cli("prepare", "folder", "--out", out, "--merge")  # no --seed: the shards' seed
    assert rc == 0, err
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) >= 7
    splits = (("train", 0.9), ("val", 0.05), ("test", 0.05))
    assert list(manifest["split"]) == [split_of(i, 7, splits) for i in manifest["id"]]
    assert list(manifest["split"]) != [split_of(i, 0, splits) for i in manifest["id"]]
    assert "- seed: 7" in (out / "card.md").read_text()


def test_merge_refuses_shards_prepared_with_another_seed(models, astronaut, tmp_path, save, monkeypatch):
    src = tmp_path / "src"
    save(src / "a.png", astronaut)
    save(src / "b.png", np.ascontiguousarray(astronaut[:, ::-1]))
    _shard_by_sorted_name(monkeypatch, src)
    prepare("folder", src, tmp_path / "one", shard="0/2", seed=1, workers=1)
    prepare("folder", src, tmp_path / "two", shard="1/2", seed=2, workers=1)
    with pytest.raises(InputError, match="different options.*seed"):
        merge(tmp_path / "one", [tmp_path / "two"])


def test_align_output_names_are_unique():
    from cfkit.curate.alignment import output_names

    rels = [Path("x.jpg"), Path("x.png"), Path("a/b.png"), Path("a__b.png"), Path("y.png"), Path("y_1.png")]
    names = output_names(rels)
    assert len(set(names.values())) == len(rels)
    assert names[Path("y.png")] == "y"  # unambiguous names stay readable
    # a further face of y.png is written as y_1: no input may take that name
    assert "y_1" not in names.values()


def test_align_collisions_overwrite_nothing(models, astronaut, tmp_path, save):
    from PIL import Image

    src, out = tmp_path / "src", tmp_path / "al"
    save(src / "x.png", astronaut)
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(src / "x.jpg", quality=95)
    save(src / "a" / "b.png", np.ascontiguousarray(np.roll(astronaut, 20, axis=1)))
    save(src / "a__b.png", np.ascontiguousarray(np.roll(astronaut, -20, axis=1)))
    csv = pd.read_csv(align_folder(src, out, workers=1))
    kept = csv[csv["status"] == "kept"]
    assert len(kept) == 4 and kept["id"].is_unique
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(kept["id"])
    # and a file of the user's that an output would replace stops the run before any work
    save(src / "new.png", astronaut)
    (out / "new.png").write_bytes(b"user's own file")
    with pytest.raises(InputError, match="not written by this alignment"):
        align_folder(src, out, workers=1)
    assert (out / "new.png").read_bytes() == b"user's own file"


def test_align_refuses_output_inside_its_input(astronaut, tmp_path, save):
    save(tmp_path / "src" / "a.png", astronaut)
    with pytest.raises(InputError, match="overlap"):
        align_folder(tmp_path / "src", tmp_path / "src" / "aligned", workers=1)


def test_mask_refuses_an_absolute_id(astronaut, tmp_path, save, run_cli):
    """A manifest id naming a file elsewhere would make ``cfkit mask`` read and overwrite that file."""
    ds, victim = tmp_path / "ds", tmp_path / "victim.png"
    save(ds / "images" / "a.png", astronaut)
    save(victim, astronaut)
    before = victim.read_bytes()
    pd.DataFrame({"id": ["a", str(victim.with_suffix(""))]}).to_parquet(ds / "manifest.parquet")
    rc, _, err = run_cli("mask", ds)
    assert rc != 0 and f"{ds / 'manifest.parquet'} row 1: unusable id" in err and "(absolute path or drive)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert victim.read_bytes() == before and not (ds / "masks").exists()


def test_merge_never_deletes_a_file_through_an_edited_shard_row(astronaut, tmp_path, save, run_cli):
    """A second row with the sha256 of a kept face is dropped as a duplicate; its id must not name a file to delete."""
    sha = hashlib.sha256(b"face").hexdigest()
    face = {"source": "folder", "status": "kept", "reason": "", "detail": "", "sha256": sha, "face_index": 0}
    for k, bad_id in enumerate(["victim", "../../victim"]):  # a stranger's PNG in OUT/images; a file outside OUT
        out = tmp_path / f"out{k}"
        save(out / "images" / f"{sha[:16]}.png", astronaut)  # the face prepare wrote
        rows = [{**face, "origin": "a.png", "id": sha[:16], "phash": "0" * 16}]
        rows.append({**face, "origin": "b.png", "id": bad_id, "phash": "f" * 16})  # origin sorts last: the copy
        (out / "shards").mkdir()
        pd.DataFrame(rows).to_parquet(out / "shards" / "shard-0-of-1.parquet")
        victim = save(out / "images" / f"{bad_id}.png", astronaut)
        before = victim.read_bytes()
        rc, _, err = run_cli("prepare", "folder", "--out", out, "--merge")
        assert rc != 0 and "shard-0-of-1.parquet row 1: " in err and bad_id in err and "Traceback" not in err
        assert victim.read_bytes() == before
