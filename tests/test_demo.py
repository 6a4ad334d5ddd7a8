"""`cfkit demo` runs the whole loop offline on images shipped with installed packages."""

from __future__ import annotations

import json

import pandas as pd

from cfkit.demo import DemoOptions, run_demo


def test_demo_end_to_end(tmp_path, monkeypatch):
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
    assert "cfkit models fetch fid-inception" in (
        metrics["metrics"]["cartoongan-mask"]["fid"].get("unavailable") or "cfkit models fetch fid-inception"
    )
    assert (paths["eval"] / "report.html").stat().st_size > 10_000
    assert (paths["study"] / "study.db").is_file() and (paths["study"] / "study.yaml").is_file()
