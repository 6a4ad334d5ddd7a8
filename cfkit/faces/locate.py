"""Landmark sources of the 5-point scheme, chained: the first that finds a face gives its points.

A chain is written ``"animeface+runs/lm-anime"``: names tried in order, each one of

* ``dlib``: dlib's 68 points mapped onto the scheme (photos; ``assume_aligned`` measures aligned
  crops whose face the HOG detector misses inside the central face box),
* ``animeface``: animeface's parts, with margins and upscaling for tight crops (cartoons),
* a path to a ``landmark-regressor`` run folder or checkpoint (either domain; its points are kept
  when the mean heatmap peak reaches ``min_peak``).

``chain(rgb) -> (relative (5, 2) points or None, source name or None, score)``; source names are
those of the manifest's ``lm_source``: ``dlib68``, ``animeface``, ``regressor``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cfkit.geometry import scheme

#: a regressor's points are kept when the mean peak of its 5 heatmaps reaches this (trained peaks are ~1)
MIN_PEAK = 0.3

Located = tuple[np.ndarray | None, float]  # relative (5, 2) points or None, score


def _relative(pts: np.ndarray | None, rgb: np.ndarray) -> np.ndarray | None:
    if pts is None:
        return None
    h, w = rgb.shape[:2]
    return ((np.asarray(pts, np.float64) + 0.5) / [w, h]).astype(np.float32)


def dlib_source(assume_aligned: bool = False) -> Callable[[np.ndarray], Located]:
    from cfkit.faces.landmarks import Landmarks68

    model = Landmarks68()

    def run(rgb: np.ndarray) -> Located:
        lm = model.detect(rgb, assume_aligned=assume_aligned)
        return _relative(None if lm is None else scheme.from_dlib68(lm), rgb), float("nan")

    return run


def animeface_source() -> Callable[[np.ndarray], Located]:
    from cfkit.faces.anime import AnimeFaceDetector

    det = AnimeFaceDetector()

    def run(rgb: np.ndarray) -> Located:
        pts, score = det.parts(rgb)
        return _relative(pts, rgb), score

    run.detector = det
    return run


def regressor_source(run_or_ckpt: str, min_peak: float = MIN_PEAK) -> Callable[[np.ndarray], Located]:
    import torch

    from cfkit.nets.landmarks import load_regressor

    net = load_regressor(run_or_ckpt)

    def run(rgb: np.ndarray) -> Located:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1  # [-1, 1]
        with torch.no_grad():
            pts, peaks = net.locate(x)
        peak = float(peaks[0].mean())
        return (pts[0].numpy() if peak >= min_peak else None), peak

    run.net = net
    return run


class LandmarkChain:
    """Landmark sources tried in order (see the module docstring for the spec)."""

    def __init__(self, spec: str | list[str], assume_aligned: bool = False, min_peak: float = MIN_PEAK):
        from cfkit.errors import InputError

        names = spec.split("+") if isinstance(spec, str) else list(spec)
        self.spec = "+".join(names)
        self.sources: list[tuple[str, Callable[[np.ndarray], Located]]] = []
        for name in [n.strip() for n in names if n.strip()]:
            if name == "dlib":
                self.sources.append(("dlib68", dlib_source(assume_aligned)))
            elif name == "animeface":
                self.sources.append(("animeface", animeface_source()))
            else:  # a landmark-regressor run (a clear error when it is not one)
                self.sources.append(("regressor", regressor_source(name, min_peak)))
        if not self.sources:
            raise InputError("no landmark source given (dlib, animeface or a landmark-regressor run)")

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray | None, str | None, float]:
        for name, run in self.sources:
            pts, score = run(rgb)
            if pts is not None:
                return pts, name, score
        return None, None, float("nan")
