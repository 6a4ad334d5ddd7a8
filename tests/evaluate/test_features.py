"""The feature registry: a metric that needs a new per-image feature is added without touching the pass."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest

from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.features import FEATURES, Feature
from cfkit.evaluate.metrics import METRICS, default_metrics
from cfkit.evaluate.metrics._base import Metric, paired_result
from cfkit.imageio import list_images, load_rgb


class MeanColour(Feature):
    name = "mean_colour"

    def per_image(self, rgb, cfg):
        return rgb.reshape(-1, 3).mean(axis=0)


class ColourShift(Metric):
    name = "colour_shift"
    label = "colour shift"
    needs = ("mean_colour",)
    default = False

    def compute(self, ctx):
        src, out = ctx.feature("mean_colour", "source"), ctx.feature("mean_colour")
        return paired_result(ctx, src, out, lambda a, b: np.abs(a - b).sum())


@pytest.fixture
def colour_shift():
    """What a contributor's two modules would register (removed again after the test)."""
    FEATURES.register("mean_colour")(MeanColour)
    METRICS.register("colour_shift")(ColourShift)
    yield
    FEATURES._entries.pop("mean_colour")
    METRICS._entries.pop("colour_shift")


def test_new_metric_and_feature_run_through_cli_and_report(colour_shift, package_sets, tmp_path, run_cli, asset):
    import cfkit.imageio

    asset("alexnet")
    decoded = Counter()
    real = cfkit.imageio.load_rgb

    def counting(path, *a, **k):
        decoded[str(path)] += 1
        return real(path, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cfkit.imageio, "load_rgb", counting)
        rc, out, err = run_cli(
            "eval",
            "--methods",
            f"blur={package_sets['blur']}",
            "--source",
            package_sets["source"],
            "--metrics",
            "colour_shift,lpips,lpips_diversity",
            "--workers",
            "0",
            "--out",
            tmp_path / "out",
        )
    assert rc == 0, err
    files = list_images(package_sets["source"]) + list_images(package_sets["blur"])
    assert decoded == Counter({str(p): 1 for p in files})  # one decode per image, shared by three features
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    res = doc["metrics"]["blur"]
    first = list_images(package_sets["source"])[0]
    a, b = (load_rgb(p).reshape(-1, 3).mean(0) for p in (first, package_sets["blur"] / first.name))
    rows = {r["id"]: r for r in csv.DictReader((tmp_path / "out" / "per_image.csv").open())}
    assert float(rows[first.stem]["colour_shift"]) == pytest.approx(np.abs(a - b).sum(), rel=1e-9)
    assert res["colour_shift"]["n"] == 12 and res["lpips"]["n"] == 12 and res["lpips_diversity"]["n"] == 11
    assert "colour shift" in (tmp_path / "out" / "report.md").read_text()


def test_default_metrics_come_from_the_registry(colour_shift):
    assert EvalConfig().metrics == default_metrics()
    assert set(default_metrics()) >= {"fid", "kid", "identity", "landmark_nme", "lpips", "lpips_diversity"}
    assert "colour_shift" not in default_metrics() and "colour_shift" in METRICS.names()


def test_every_metric_needs_registered_features():
    for name in METRICS.names():
        for feature in METRICS.get(name).needs:
            assert FEATURES.get(feature).name == feature, (name, feature)
