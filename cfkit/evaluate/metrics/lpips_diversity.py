"""Diversity within a method: LPIPS between outputs of consecutive ids (higher = more varied outputs)."""

from __future__ import annotations

from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, mean_result, unavailable


@METRICS.register("lpips_diversity")
class LPIPSDiversity(Metric):
    name = "lpips_diversity"
    label = "LPIPS diversity"
    needs = ("lpips_diversity",)
    higher_is_better = True

    def compute(self, ctx):
        vals = ctx.feature("lpips_diversity")
        if len(ctx.ids) < 2:
            return unavailable(f"needs >= 2 outputs (got {len(ctx.ids)})")
        return mean_result({k: vals[k] for k in ctx.ids if k in vals}, ctx, pairs="consecutive ids (sorted)")
