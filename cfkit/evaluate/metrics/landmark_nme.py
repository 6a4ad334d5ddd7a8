"""Landmark error: NME of the 5-point scheme of output vs source, normalised by the source's inter-ocular distance.

Each domain has its own landmark source (``landmarks_source`` / ``landmarks_output`` in the
protocol: dlib on photos, animeface or a landmark-regressor run on cartoons), all mapped onto the
5-point scheme of :mod:`cfkit.geometry.scheme`, so photo -> cartoon and cartoon -> photo compare like
with like. Points are in units of image width/height, so an output at another resolution than its
source (a 64 px translation of a 128 px face) is compared in the same frame.

A face no source finds in either image is a failure, counted in ``failure_rate``, never a zero error;
``sources`` counts which source placed the points of the measured outputs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, paired_result


def nme(src: np.ndarray, out: np.ndarray) -> float:
    """Mean point-to-point distance / distance between the eye centres (points 0 and 1) of ``src``."""
    src, out = np.asarray(src, np.float64), np.asarray(out, np.float64)
    d = float(np.linalg.norm(src[0] - src[1]))
    if d <= 0:
        return float("nan")
    return float(np.linalg.norm(out - src, axis=1).mean() / d)


@METRICS.register("landmark_nme")
class LandmarkNME(Metric):
    name = "landmark_nme"
    label = "Landmark NME"
    needs = ("landmarks_source", "landmarks_output")

    def compute(self, ctx):
        src, out = ctx.feature("landmarks_source", "source"), ctx.feature("landmarks_output")
        sources = dict(Counter(v[1] for k, v in out.items() if k in set(ctx.ids) and v is not None))
        return paired_result(
            ctx,
            {k: v[0] for k, v in src.items() if v is not None},
            {k: v[0] for k, v in out.items() if v is not None},
            nme,
            normaliser="inter-ocular",
            sources=sources,
        )
