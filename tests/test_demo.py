"""`cfkit demo` runs the whole loop offline on images shipped with installed packages."""

from __future__ import annotations

import json
import math
from collections import Counter

import pandas as pd
import pytest

from cfkit.demo import DemoOptions, run_demo


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no FID weights, as on any offline machine
    paths = run_demo(DemoOptions(out=tmp_path / "demo", iters=6, size=32, width=0.25, batch=2))
    photos = pd.read_parquet(paths["data"] / "manifest.parquet")
    kept = photos[photos["status"] == "kept"] if "status" in photos else photos
    # astronaut (1) + Tom Hanks (1) + t1.jpg (6) + Solvay (29) faces, a few rejected by quality filters
    assert len(kept) >= 30
    assert len(list((paths["data"] / "masks").glob("*.png"))) == len(kept)
    outputs = sorted(p.stem for p in paths["results"].glob("*.png"))
    assert outputs == sorted(kept["id"])
    metrics = json.loads((paths["eval"] / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"cartoongan-mask", "opencv-stylise"}
    assert metrics["metrics"]["cartoongan-mask"]["lpips"]["n"] == len(kept)
    for name, res in metrics["metrics"].items():
        fid = res["fid"]  # no FID weights offline: unavailable, naming the command that fetches them
        assert (fid["value"] is not None and fid["value"] >= 0) or "cfkit models fetch fid-inception" in fid[
            "unavailable"
        ]
        for key in ("identity", "landmark_nme"):  # every photo is measured or counted as a failure
            r = res[key]
            assert r["n"] + r["failures"] == len(kept), (name, key)
            assert (r["value"] is not None and math.isfinite(r["value"])) == (r["n"] > 0), (name, key)
        div = res["lpips_diversity"]  # outputs differ from one photo to the next (no collapse to one image)
        assert div["n"] == len(kept) - 1 and div["value"] > 0, name
    # the stylised baseline keeps the face's geometry: its identity and landmarks must be measurable
    base = metrics["metrics"]["opencv-stylise"]
    assert base["identity"]["n"] >= len(kept) // 3 and 0.5 < base["identity"]["value"] <= 1.0
    assert base["landmark_nme"]["n"] >= len(kept) // 3 and 0 <= base["landmark_nme"]["value"] < 0.5
    assert (paths["eval"] / "report.html").stat().st_size > 10_000
    assert (paths["study"] / "study.db").is_file() and (paths["study"] / "study.yaml").is_file()
    # the held-out photos are spread over the source photos in proportion (not 3 of t1.jpg's 5 colour faces)
    task = pd.read_parquet(paths["data"].parent / "known-answer" / "A" / "manifest.parquet")
    source_of = dict(zip(kept["id"], kept["path"], strict=True))
    held = Counter(source_of[i] for i in task.loc[task["split"] == "test", "id"])
    sizes = Counter(kept["path"])
    assert sum(held.values()) == 6 and all(abs(held[s] - 6 * n / len(kept)) < 1 for s, n in sizes.items())
    # the run is scored against the held-out photos' known stylised copies, beside copying the input
    known = json.loads(paths["known_answer"].read_text())
    printed = " ".join(capsys.readouterr().err.split())
    assert (
        f"L1 {known['l1']:.4f}, LPIPS {known['lpips']:.4f} "
        f"(copying the input: L1 {known['copy_l1']:.4f}, LPIPS {known['copy_lpips']:.4f})"
    ) in printed


@pytest.mark.slow
@pytest.mark.long
def test_demo_defaults_learn_the_stylisation(tmp_path, monkeypatch):
    """With its defaults the demo's cartoongan-mask ends closer to the held-out photos' stylised copies
    than copying the input, in L1 and in LPIPS (docs/train.md, "cfkit demo")."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    paths = run_demo(DemoOptions(out=tmp_path / "demo"))
    known = json.loads(paths["known_answer"].read_text())
    assert known["n"] == 6
    assert known["l1"] < 0.95 * known["copy_l1"] and known["lpips"] < 0.95 * known["copy_lpips"], known
