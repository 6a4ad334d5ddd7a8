"""The 5-point landmarks of an aligned face (manifest columns ``lm5``, ``lm_source``, ``lm_score``).

Photos: dlib's 68 points measured on the output image, mapped onto the scheme (``dlib68``).
Cartoons: animeface's parts (``animeface``, with margins/upscaling for tight crops), then a trained
``landmark-regressor`` run for the faces animeface misses (``regressor``), when one is given and
its heatmap peaks reach ``min_peak``. ``lm_score``: animeface likelihood or mean regressor peak.
"""

from __future__ import annotations

import numpy as np

from cfkit.faces import scheme

#: a regressor's points are kept when the mean peak of its 5 heatmaps reaches this (trained peaks are ~1)
MIN_PEAK = 0.3


class Landmarker:
    """``(image, lm68) -> (lm5 or None, lm_source or None, score)`` for one profile."""

    def __init__(self, photo: bool, regressor: str | None = None, min_peak: float = MIN_PEAK):
        self.photo, self.min_peak = photo, min_peak
        self._anime = None
        self._regressor = None
        if not photo:
            from cfkit.faces.anime import AnimeFaceDetector

            self._anime = AnimeFaceDetector()
        if regressor:
            from cfkit.nets.landmarks import load_regressor

            self._regressor = load_regressor(regressor)

    @property
    def note(self) -> str:
        """Why animeface gave nothing (a broken install), else ''."""
        return self._anime.unusable or "" if self._anime else ""

    def __call__(self, image: np.ndarray, lm68: np.ndarray | None) -> tuple[list[float] | None, str | None, float]:
        """Photos: from ``lm68`` (dlib on the output image); cartoons ignore it (dlib is not made for drawings)."""
        h, w = image.shape[:2]
        if self.photo:
            if lm68 is None:
                return None, None, float("nan")
            return scheme.to_lm5(scheme.from_dlib68(lm68), w, h), "dlib68", float("nan")
        if self._anime is not None:
            pts, score = self._anime.parts(image)
            if pts is not None:
                return scheme.to_lm5(pts, w, h), "animeface", score
        if self._regressor is not None:
            rel, peak = regressor_points(self._regressor, image)
            if peak >= self.min_peak:
                return [round(float(v), 5) for v in rel.ravel()], "regressor", peak
        return None, None, float("nan")


def regressor_points(regressor, image: np.ndarray) -> tuple[np.ndarray, float]:
    """(relative (5, 2) points, mean heatmap peak) of one RGB uint8 image."""
    import torch

    from cfkit.train.data import to_float

    x = to_float(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None])
    with torch.no_grad():
        pts, peaks = regressor.locate(x)
    return pts[0].numpy(), float(peaks[0].mean())
