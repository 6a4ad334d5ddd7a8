"""LPIPS between each source and its output (content distance; lower keeps more content)."""

from __future__ import annotations

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import feature_mean


@METRICS.register("lpips")
class LPIPS(Metric):
    name = "lpips"
    label = "LPIPS src↔out"
    needs = ("lpips",)

    def compute(self, ctx):
        return feature_mean(ctx, "lpips", net=ctx.config.lpips_net)
