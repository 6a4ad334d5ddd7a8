"""Distances of each output to the known correct translation of its source (``--targets``), lower is better.

``l1_target``: mean absolute pixel difference in [0, 1]; ``lpips_target``: LPIPS with the ``lpips`` metric's
network. The target is resized to the output's size where they differ (``resized_pairs``). Both are also
scored for the sources themselves: the "copy the input" baseline every method must beat.
"""

from __future__ import annotations

from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, feature_mean


class _ToTarget(Metric):
    copy_baseline = True

    def compute(self, ctx):
        return feature_mean(ctx, self.name, **self.details(ctx))

    def details(self, ctx) -> dict:
        return {}


@METRICS.register("l1_target")
class L1ToTarget(_ToTarget):
    name = "l1_target"
    label = "L1 out↔target"
    needs = ("l1_target",)


@METRICS.register("lpips_target")
class LPIPSToTarget(_ToTarget):
    name = "lpips_target"
    label = "LPIPS out↔target"
    needs = ("lpips_target",)

    def details(self, ctx):
        return {"net": ctx.config.lpips_net}
