"""A study on real FFHQ photos from ../shared/data: stratified sample by the manifest's gender, analysed."""

from collections import Counter

import pandas as pd
import pytest
import yaml

from cfkit.study import analyze, create_study, open_db
from cfkit.study.simulate import simulate

pytestmark = pytest.mark.shared_data


def test_real_photo_study_stratified_and_analysed(real_folders, tmp_path):
    src, out = real_folders
    manifest = pd.read_parquet(src / "manifest.parquet")
    create_study(
        db=tmp_path / "r.db",
        out=tmp_path / "r",
        methods={k: str(p) for k, p in out.items()},
        source=src,
        name="real",
        n_sources=8,
        stratify_by="gender",
        response_format="rank",
        ratings_per_item=6,
    )
    d = yaml.safe_load((tmp_path / "r" / "study.yaml").read_text())
    full = Counter(manifest["gender"])
    got = Counter(it["stratum"] for it in d["items"])
    for g, n in full.items():  # proportional allocation, off by at most one per stratum
        assert abs(got.get(g, 0) - n * 8 / len(manifest)) < 1
    db = open_db(tmp_path / "r.db")
    res = simulate(db, "real", volunteers=5, double_submit=False)
    assert res.accepted == res.trials == 5 * (8 + 2)
    r = analyze(db, "real", tmp_path / "an", n_boot=300)
    s = r["summary"]
    assert set(s["method"]) == {"blurry", "poster", "sharp"} and (s["n"] == 5 * 8).all()
    assert s["mean"].between(1, 3).all() and "bt" in s  # mean rank of 3 outputs, Bradley-Terry scores
    assert set(r["agreement"]["overall"]) == {"alpha_ordinal"}
