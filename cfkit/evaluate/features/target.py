"""Distances of each output to the known correct translation of its source (``--targets``), and of the source.

Per id, every output and the source itself (the "copy the input" baseline, stored under ``source``) is
compared with the id's target; the target is resized to the other image's size when they differ
(:class:`~cfkit.evaluate.features._pairs.PairDistance`, counted in the provenance).
"""

from __future__ import annotations

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import OUTPUT, SOURCE, TARGET
from cfkit.evaluate.features._pairs import PairDistance
from cfkit.evaluate.features.lpips import LPIPSPairs


class ToTarget(PairDistance):
    kinds = (SOURCE, OUTPUT, TARGET)

    def add(self, key, values, store):
        self.add_against(TARGET, key, values, store, resize_to_anchor=False)


@FEATURES.register("l1_target")
class L1ToTarget(ToTarget):
    """Mean absolute pixel difference in [0, 1] units (``|a - b| / 255`` of uint8 images)."""

    name = "l1_target"

    def batch_distance(self, a, b):
        return (a - b).abs().mean((1, 2, 3)) / 2  # [-1, 1] -> [0, 1] units


@FEATURES.register("lpips_target")
class LPIPSToTarget(ToTarget, LPIPSPairs):
    """LPIPS with the network of the ``lpips`` feature."""

    name = "lpips_target"
