"""Mean absolute pixel difference in [0, 1] between each output and the known correct translation (``--targets``).

The target is resized to the output's size where they differ (``resized_pairs``). Also scored for the
sources themselves: the "copy the input" baseline every method must beat.
"""

from __future__ import annotations

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import feature_mean


@METRICS.register("l1_target")
class L1ToTarget(Metric):
    name = "l1_target"
    label = "L1 out↔target"
    needs = ("l1_target",)
    copy_baseline = True

    def compute(self, ctx):
        return feature_mean(ctx, "l1_target")
