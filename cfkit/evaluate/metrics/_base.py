"""What a metric is and the statistics every metric reports (value, 95% bootstrap CI, n)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.extract import Extracted
from cfkit.stats import bootstrap_ci


@dataclass
class MetricContext:
    """What a metric sees for one method: its paired ids and the extracted per-image features."""

    method: str
    ids: list[str]
    data: Extracted
    config: EvalConfig
    source_ids: list[str] = field(default_factory=list)

    def feature(self, name: str, role: str | None = None) -> dict:
        """id -> value of per-image feature ``name`` for ``role`` (default: this method's outputs)."""
        return self.data.feature(name, role or self.method)


class Metric:
    """Subclass, set the class attributes, implement :meth:`compute`, register by name."""

    name = ""
    label = ""
    needs: tuple[str, ...] = ()
    """Per-image features read (names in :data:`cfkit.evaluate.features.FEATURES`)."""
    default = True
    """Whether ``cfkit eval`` computes it when no ``--metrics`` are given."""
    higher_is_better = False
    per_image = True
    """Whether the metric has one value per image (a ``per_image.csv`` column)."""
    copy_baseline = False
    """Whether the metric also scores the source images as outputs (the "copy the input" baseline)."""

    def run(self, ctx: MetricContext) -> dict:
        """:meth:`compute`, or :func:`unavailable` with the reason when a needed feature could not be computed."""
        for name in self.needs:
            if name in ctx.data.unavailable:
                return unavailable(ctx.data.unavailable[name])
        return self.compute(ctx)

    def compute(self, ctx: MetricContext) -> dict:
        """``{"value", "ci": [lo, hi], "n", ...}`` plus ``"per_image": {id: value}``, or :func:`unavailable`."""
        raise NotImplementedError


def unavailable(reason: str, **extra) -> dict:
    return {"value": None, "ci": None, "n": 0, "unavailable": reason, **extra}


def mean_result(per_image: dict[str, float], ctx: MetricContext, **extra) -> dict:
    """Mean of the finite per-image values with its bootstrap CI and n."""
    vals = np.array([v for v in per_image.values() if v is not None and np.isfinite(v)], dtype=np.float64)
    if vals.size == 0:
        return unavailable("no image pair could be measured", per_image=per_image, **extra)
    cfg = ctx.config
    return {
        "value": float(vals.mean()),
        "ci": list(ci) if (ci := bootstrap_ci(vals, cfg.bootstrap, cfg.seed)) else None,
        "n": int(vals.size),
        "per_image": per_image,
        **extra,
    }


def feature_mean(ctx: MetricContext, feature: str, **extra) -> dict:
    """:func:`mean_result` of a per-image distance feature over ``ctx.ids``, with its ``resized_pairs``."""
    vals = ctx.feature(feature)
    resized = ctx.data.provenance.get(feature, {}).get("resized_pairs", 0)
    return mean_result({k: vals[k] for k in ctx.ids if k in vals}, ctx, resized_pairs=resized, **extra)


def paired_result(ctx: MetricContext, src: dict, out: dict, fn: Callable, **extra) -> dict:
    """``fn(source_feature, output_feature)`` per id; a missing feature (no face found) is a failure, not a 0."""
    per_image, failed = {}, 0
    for k in ctx.ids:
        a, b = src.get(k), out.get(k)
        if a is None or b is None:
            failed += 1
            per_image[k] = float("nan")
        else:
            per_image[k] = float(fn(a, b))
    return mean_result(per_image, ctx, failures=failed, failure_rate=failed / max(len(ctx.ids), 1), **extra)
