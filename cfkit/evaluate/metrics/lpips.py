"""LPIPS between each source and its output (content distance; lower keeps more content)."""

from __future__ import annotations

from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, feature_mean


@METRICS.register("lpips")
class LPIPS(Metric):
    name = "lpips"
    label = "LPIPS src↔out"
    needs = ("lpips",)

    def compute(self, ctx):
        return feature_mean(ctx, "lpips", net=ctx.config.lpips_net)
