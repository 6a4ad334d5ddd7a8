"""LPIPS between each output and the known correct translation (``--targets``), the ``lpips`` metric's network.

The target is resized to the output's size where they differ (``resized_pairs``). Also scored for the
sources themselves: the "copy the input" baseline every method must beat.
"""

from __future__ import annotations

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import feature_mean


@METRICS.register("lpips_target")
class LPIPSToTarget(Metric):
    name = "lpips_target"
    label = "LPIPS out↔target"
    needs = ("lpips_target",)
    copy_baseline = True

    def compute(self, ctx):
        return feature_mean(ctx, "lpips_target", net=ctx.config.lpips_net)
