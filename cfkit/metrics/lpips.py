"""LPIPS between each source and its output (content distance; lower keeps more content)."""

from __future__ import annotations

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import mean_result


@METRICS.register("lpips")
class LPIPS(Metric):
    name = "lpips"
    label = "LPIPS src↔out"
    needs = ("lpips",)

    def compute(self, ctx):
        vals = ctx.feature("lpips")
        resized = ctx.data.provenance.get("lpips", {}).get("resized_pairs", 0)
        per_image = {k: vals[k] for k in ctx.ids if k in vals}
        return mean_result(per_image, ctx, net=ctx.config.lpips_net, resized_pairs=resized)
