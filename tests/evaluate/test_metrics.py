"""Per-pair metrics by hand on constructed features; bootstrap; registry discovery."""

from __future__ import annotations

import numpy as np
import pytest

from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.extract import Extracted
from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import MetricContext
from cfkit.stats import bootstrap_ci


def _ctx(data: Extracted, ids: list[str], method: str = "m") -> MetricContext:
    return MetricContext(method=method, ids=ids, data=data, config=EvalConfig(bootstrap=200), source_ids=ids)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_registry_discovers_every_metric_module():
    assert set(METRICS.names()) >= {
        "fid",
        "kid",
        "identity",
        "identity_retrieval",
        "landmark_nme",
        "lpips",
        "lpips_diversity",
        "l1_target",
        "lpips_target",
        "identity_target",
    }


def test_bootstrap_ci():
    rng = np.random.default_rng(0)
    v = rng.normal(5, 1, 400)
    lo, hi = bootstrap_ci(v, 500, seed=1)
    assert lo < v.mean() < hi and 0.1 < hi - lo < 0.4  # ~ 2 * 1.96 / sqrt(400)
    assert bootstrap_ci([1.0], 100) is None
    assert bootstrap_ci([1.0, np.nan, 3.0], 100) is not None


def test_identity_cosine_and_retrieval_by_hand():
    d = Extracted()
    src = {"a": _unit([1, 0, 0]), "b": _unit([0, 1, 0]), "c": _unit([0, 0, 1]), "d": None}
    out = {"a": _unit([1, 0.2, 0]), "b": _unit([1, 0.9, 0]), "c": None, "d": _unit([1, 1, 1])}
    d.features["identity"] = {"source": src, "m": out}
    d.provenance["identity"] = {"backend": "test"}
    ids = ["a", "b", "c", "d"]
    sim = METRICS.get("identity")().compute(_ctx(d, ids))
    assert sim["n"] == 2 and sim["failures"] == 2 and sim["failure_rate"] == 0.5
    assert sim["value"] == pytest.approx((float(out["a"] @ src["a"]) + float(out["b"] @ src["b"])) / 2, rel=1e-6)
    assert np.isnan(sim["per_image"]["c"])  # a failure is not a zero
    assert sim["backend"] == "test"
    ret = METRICS.get("identity_retrieval")().compute(_ctx(d, ids))
    # a -> nearest source a (right); b's output (1, .9, 0) is nearer source a than b (wrong)
    assert ret["per_image"]["a"] == 1.0 and ret["per_image"]["b"] == 0.0
    assert ret["value"] == 0.5 and ret["n"] == 2 and ret["gallery"] == 3


def test_identity_to_target_by_hand():
    """The output's embedding against its target's; the source's for the copy baseline; no face is a failure."""
    d = Extracted()
    tgt = {"a": _unit([1, 0, 0]), "b": _unit([0, 1, 0]), "c": None}
    src = {"a": _unit([0, 0, 1]), "b": _unit([0, 1, 1]), "c": _unit([1, 0, 0])}
    out = {"a": _unit([1, 0.5, 0]), "b": None, "c": _unit([1, 0, 0])}
    d.features["identity"] = {"source": src, "m": out}
    d.features["identity_target"] = {"target": tgt}
    metric = METRICS.get("identity_target")()
    assert metric.higher_is_better and metric.copy_baseline and metric.default
    r = metric.compute(_ctx(d, ["a", "b", "c"]))
    assert r["n"] == 1 and r["failures"] == 2 and r["value"] == pytest.approx(float(out["a"] @ tgt["a"]), rel=1e-6)
    copy = metric.compute(_ctx(d, ["a", "b", "c"], method="source"))
    assert copy["n"] == 2 and copy["value"] == pytest.approx((0 + 2**-0.5) / 2, rel=1e-6)


def test_landmark_nme_by_hand():
    src = np.array([[10, 50], [50, 50], [30, 70], [30, 90], [30, 110]], np.float32)  # eye centres 40 apart
    d = Extracted()
    moved = src + np.array([3, 4], np.float32)
    d.features["landmarks_source"] = {"source": {"a": (src, "dlib68"), "b": (src, "dlib68")}}
    d.features["landmarks_output"] = {"m": {"a": (moved, "animeface"), "b": None}}
    r = METRICS.get("landmark_nme")().compute(_ctx(d, ["a", "b"]))
    assert r["value"] == pytest.approx(5 / 40)
    assert r["n"] == 1 and r["failure_rate"] == 0.5 and np.isnan(r["per_image"]["b"])
    assert r["sources"] == {"animeface": 1}


def test_unavailable_feature_reported():
    d = Extracted()
    d.unavailable["landmarks_source"] = "model asset 'dlib-landmarks68' is not available; run: cfkit models fetch x"
    r = METRICS.get("landmark_nme")().run(_ctx(d, ["a"]))
    assert r["value"] is None and "cfkit models fetch" in r["unavailable"]
