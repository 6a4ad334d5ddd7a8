"""Landmark error: NME of the 68 points of output vs source, normalised by the source's inter-ocular distance.

Points are in units of image width/height, so an output at another resolution than its source
(a 64 px translation of a 128 px face) is compared in the same frame.

A face the detector misses in either image is a failure, counted in ``failure_rate``, never a zero error.
"""

from __future__ import annotations

import numpy as np

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import paired_result


def nme(src: np.ndarray, out: np.ndarray) -> float:
    """Mean point-to-point distance / inter-ocular distance of ``src`` (68-point layout)."""
    from cfkit.faces.landmarks import inter_ocular

    d = inter_ocular(src)
    if d <= 0:
        return float("nan")
    return float(np.linalg.norm(np.asarray(out, np.float64) - np.asarray(src, np.float64), axis=1).mean() / d)


@METRICS.register("landmark_nme")
class LandmarkNME(Metric):
    name = "landmark_nme"
    label = "Landmark NME"
    needs = ("landmarks",)

    def compute(self, ctx):
        src, out = ctx.feature("landmarks", "source"), ctx.feature("landmarks")
        return paired_result(ctx, src, out, nme, normaliser="inter-ocular")
