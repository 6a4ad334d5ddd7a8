"""Detect -> choose faces by policy -> align -> (refine with 68 points) -> measure, for a batch of images.

    aligner = FaceAligner(size=128, template="ffhq")
    for faces, reason, n in aligner.process([rgb1, rgb2]):
        faces[0].image, faces[0].eye_error

Refinement is the FFHQ script's own recipe: the eyes (mean of each eye contour) and mouth corners
come from dlib's 68 points, predicted on a 2x crop aligned from the detector's 5 points.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cfkit.faces.detector import Detection
from cfkit.geometry.align import TEMPLATES, align_face, centre_crop, eye_error, transform_points
from cfkit.stageclock import StageClock

POLICIES = ("largest", "all", "skip")

# Where dlib's HOG detector puts its box on aligned faces (fraction of the side, measured on
# apdrawing + CelebA photos); the shape predictor is seeded with it during refinement.
TEMPLATE_BOX = {"ffhq": (0.184, 0.299, 0.785, 0.9), "arcface": (0.164, 0.224, 0.813, 0.873)}


@dataclass
class FaceResult:
    image: np.ndarray
    matrix: np.ndarray  # source pixel -> output pixel
    kps5: np.ndarray | None  # 5 points used for alignment, source pixels
    detector: str  # scrfd | animeface | centre
    det: Detection | None = None
    note: str = ""  # why a fallback was used
    refined: bool = False
    lm68: np.ndarray | None = None  # measured on the output image
    eye_error: float | None = None


def five_from_68(lm68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from 68 points (the FFHQ script's choice)."""
    lm = np.asarray(lm68, np.float64)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]]).astype(np.float32)


class FaceAligner:
    """One object per process: owns the detectors and the dlib landmark model."""

    def __init__(
        self,
        size: int = 128,
        template: str = "ffhq",
        policy: str = "largest",
        detectors: tuple[str, ...] = ("scrfd",),
        refine: bool = True,
        measure: bool = True,
        threads: int = 0,
        det_threshold: float = 0.5,
    ):
        if template not in TEMPLATES:
            raise ValueError(f"unknown template {template!r} (known: {', '.join(TEMPLATES)})")
        if policy not in POLICIES:
            raise ValueError(f"unknown face policy {policy!r} (known: {', '.join(POLICIES)})")
        self.size, self.template, self.policy, self.detectors = size, template, policy, tuple(detectors)
        self.refine, self.measure = refine, measure
        self._scrfd = None
        self._anime = None
        self._lm = None
        if "scrfd" in self.detectors:
            from cfkit.faces.detector import FaceDetector

            self._scrfd = FaceDetector(threshold=det_threshold, threads=threads)
        if "animeface" in self.detectors:
            from cfkit.faces.anime import AnimeFaceDetector

            self._anime = AnimeFaceDetector(threshold=det_threshold)
        if refine or measure:
            from cfkit.faces.landmarks import Landmarks68

            self._lm = Landmarks68()

    def _detections(self, images: list[np.ndarray]) -> list[tuple[str, list[Detection], str]]:
        """Per image: (detector name, detections, note) from the first detector that finds a face."""
        out: list[tuple[str, list[Detection], str]] = [("", [], "") for _ in images]
        pending = list(range(len(images)))
        for name in self.detectors:
            if not pending:
                break
            if name == "scrfd":
                found = self._scrfd.detect_batch([images[i] for i in pending])
                for i, dets in zip(pending, found, strict=True):
                    out[i] = ("scrfd", dets, "")
            elif name == "animeface":
                for i in pending:
                    out[i] = ("animeface", self._anime.detect(images[i]), "")
            elif name == "centre":
                for i in pending:
                    why = self._anime.unusable if self._anime and self._anime.unusable else ""
                    prev = "+".join(d for d in self.detectors if d != "centre")
                    out[i] = ("centre", [], f"no face found by {prev}" + (f"; {why}" if why else ""))
            pending = [i for i in pending if not out[i][1] and out[i][0] != "centre"]
        return out

    def process(
        self, images: list[np.ndarray], clock: StageClock | None = None
    ) -> list[tuple[list[FaceResult], str | None, int]]:
        """Per image: (faces kept, rejection reason or None, number of faces detected); ``clock`` gets the
        seconds of the ``detect``, ``align`` and (dlib's 68 points) ``landmarks`` stages."""
        clock = clock or StageClock()
        with clock("detect"):
            found = self._detections(images)
        results = []
        for rgb, (name, dets, note) in zip(images, found, strict=True):
            if name == "centre":
                img, m = centre_crop(rgb, self.size)
                results.append(([FaceResult(img, m, None, "centre", note=note)], None, 0))
                continue
            if not dets:
                results.append(([], "no_face", 0))
                continue
            if self.policy == "skip" and len(dets) > 1:
                results.append(([], "multiple_faces", len(dets)))
                continue
            chosen = dets if self.policy == "all" else [max(dets, key=lambda d: d.area)]
            with clock("align"):
                results.append(([self._align(rgb, d, name, clock) for d in chosen], None, len(dets)))
        return results

    def _align(self, rgb: np.ndarray, det: Detection, detector: str, clock: StageClock) -> FaceResult:
        kps = det.kps
        refined = False
        if self.refine and self._lm is not None and detector == "scrfd":
            big = align_face(rgb, kps, self.size * 2, self.template)
            box = np.array(TEMPLATE_BOX[self.template]) * self.size * 2
            with clock("landmarks"):
                lm = self._lm.predict(big.image, box)
            kps = transform_points(cv2.invertAffineTransform(big.matrix), five_from_68(lm))
            refined = True
        al = align_face(rgb, kps, self.size, self.template)
        res = FaceResult(al.image, al.matrix, np.asarray(kps, np.float32), detector, det=det, refined=refined)
        if self.measure and self._lm is not None and detector == "scrfd":
            with clock("landmarks"):
                res.lm68 = self._lm.detect(al.image, assume_aligned=True)
            res.eye_error = eye_error(res.lm68, self.template, self.size)
        return res
