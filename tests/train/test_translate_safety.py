"""``cfkit translate`` never writes into its input, over files it did not write, or outside --out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def run(tiny_domains, tmp_path_factory) -> Path:
    import cfkit.methods.template  # noqa: F401 - registers "template"
    from cfkit.train import train

    a, b = tiny_domains
    return train("template", a, b, out=str(tmp_path_factory.mktemp("run") / "r"), size=32, batch=2, iters=1)


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("layout", ["same", "out_inside_input", "input_inside_out", "symlink_to_input"])
def test_translate_refuses_to_write_into_its_input(layout, run, tiny_domains, tmp_path, run_cli):
    photos = tmp_path / "photos"
    shutil.copytree(tiny_domains[1], photos)
    out = {
        "same": photos,
        "out_inside_input": photos / "cartoons",
        "input_inside_out": tmp_path,
        "symlink_to_input": tmp_path / "link",
    }[layout]
    if layout == "symlink_to_input":
        out.symlink_to(photos)
    before = _snapshot(photos)
    rc, _, err = run_cli("translate", run, "--input", photos, "--out", out)
    assert rc != 0 and err.startswith("error:") and "overlap" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(photos) == before


def test_translate_replaces_only_its_own_earlier_output(run, tiny_domains, tmp_path, run_cli):
    a, b = tiny_domains
    out = tmp_path / "out"
    rc, _, err = run_cli("translate", run, "--input", b, "--out", out)
    assert rc == 0, err
    doc = json.loads((out / "translate.json").read_text())
    assert doc["files"] == [f"cat{k}.png" for k in range(6)]
    # a second translation of other inputs into the same folder replaces the first whole
    rc, _, err = run_cli("translate", run, "--input", a, "--out", out)
    assert rc == 0, err
    doc = json.loads((out / "translate.json").read_text())
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == doc["files"] == [f"astro{k}.png" for k in range(6)] and doc["images"] == 6
    # a file of the user's in --out stops the run before anything is written or deleted
    (out / "mine.png").write_bytes(b"the user's own")
    before = _snapshot(out)
    rc, _, err = run_cli("translate", run, "--input", b, "--out", out)
    assert rc != 0 and "no record of writing" in err and "mine.png" in err
    assert _snapshot(out) == before


def test_translate_refuses_a_manifest_id_that_climbs_out(run, tiny_domains, tmp_path, run_cli):
    """``../../victim/x`` names an image outside the dataset and an output outside --out: refused, nothing written."""
    a, _ = tiny_domains
    ds = tmp_path / "ds"
    shutil.copytree(a, ds)
    victim = tmp_path / "victim" / "x.png"
    victim.parent.mkdir()
    shutil.copyfile(a / "images" / "astro0.png", victim)
    before = victim.read_bytes()
    ids = [p.stem for p in sorted((ds / "images").glob("*.png"))] + ["../../victim/x"]
    pd.DataFrame({"id": ids, "split": "train"}).to_parquet(ds / "manifest.parquet")
    out = tmp_path / "w" / "out"
    rc, _, err = run_cli("translate", run, "--input", ds, "--out", out)
    assert rc != 0 and "manifest.parquet row 6: unusable id '../../victim/x'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert victim.read_bytes() == before and not list(out.rglob("*.png"))
