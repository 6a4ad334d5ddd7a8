"""The 5-point landmarks of an aligned face (manifest columns ``lm5``, ``lm_source``, ``lm_score``).

Photos: dlib's 68 points measured on the output image, mapped onto the scheme (``dlib68``).
Cartoons: animeface's parts (``animeface``, with margins/upscaling for tight crops), then a trained
``landmark-regressor`` run for the faces animeface misses (``regressor``), when one is given
(:class:`cfkit.faces.locate.LandmarkChain`). ``lm_score``: animeface likelihood or mean regressor peak.
"""

from __future__ import annotations

import numpy as np

from cfkit.faces.locate import MIN_PEAK, LandmarkChain
from cfkit.geometry import scheme


class Landmarker:
    """``(image, lm68) -> (lm5 or None, lm_source or None, score)`` for one profile."""

    def __init__(self, photo: bool, regressor: str | None = None, min_peak: float = MIN_PEAK):
        self.photo = photo
        self.chain = (
            None if photo else LandmarkChain(["animeface"] + ([regressor] if regressor else []), min_peak=min_peak)
        )

    def __call__(self, image: np.ndarray, lm68: np.ndarray | None) -> tuple[list[float] | None, str | None, float]:
        """Photos: from ``lm68`` (dlib on the output image); cartoons ignore it (dlib is not made for drawings)."""
        h, w = image.shape[:2]
        if self.photo:
            if lm68 is None:
                return None, None, float("nan")
            return scheme.to_lm5(scheme.from_dlib68(lm68), w, h), "dlib68", float("nan")
        pts, source, score = self.chain(image)
        if pts is None:
            return None, None, float("nan")
        return [round(float(v), 5) for v in pts.ravel()], source, score
