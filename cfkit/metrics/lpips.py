"""LPIPS between each source and its output (content distance; lower keeps more content)."""

from __future__ import annotations

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import mean_result, unavailable


@METRICS.register("lpips")
class LPIPS(Metric):
    name = "lpips"
    label = "LPIPS src↔out"
    needs = ("lpips",)

    def compute(self, ctx):
        if "lpips" in ctx.data.unavailable:
            return unavailable(ctx.data.unavailable["lpips"])
        vals = ctx.data.lpips.get(ctx.method, {})
        res = mean_result({k: vals[k] for k in ctx.ids if k in vals}, ctx, net=ctx.config.lpips_net)
        res["resized_pairs"] = ctx.data.resized_pairs
        return res
