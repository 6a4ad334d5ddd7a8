"""Drawing-capable face detection: ``animeface`` (nagadomi's imager, PyPI ``animeface``) when usable.

``animeface`` 2.0.3 silently finds no faces with Pillow >= 12 (cfkit pins Pillow < 12), so it is
used only after a probe: it must import and find at least one face in the first images it is
shown. Otherwise callers fall back (e.g. to a centre crop) and record
:attr:`AnimeFaceDetector.unusable` as the reason.

Besides faces it gives parts (eyes, nose, mouth, chin): :meth:`AnimeFaceDetector.parts` returns
them in the 5-point scheme of :mod:`cfkit.geometry.scheme`. On tight crops (a face filling a small
image) animeface finds nothing until the image is enlarged and given a margin, so ``parts`` tries
:data:`ATTEMPTS` in turn.
"""

from __future__ import annotations

import numpy as np

from cfkit.faces.detector import Detection
from cfkit.geometry.scheme import from_animeface

#: (longest side in px, margin as a fraction of that side) tried in order by ``parts``; 0 = as is.
#: Measured on 40 images of each cartoon set in ../shared/data (docs/landmarks.md): a 25% margin
#: at 128 px finds 39/40 of the 64 px getchu crops (10/40 as is), larger sides help bitmoji/CartoonSet.
ATTEMPTS = ((0, 0.0), (128, 0.25), (192, 0.25), (256, 0.25), (384, 0.0))
PAD_VALUE = 128  # grey margin


def _centre(box) -> np.ndarray:
    return np.array([box.x + box.width / 2.0, box.y + box.height / 2.0], np.float32)


def enlarge(rgb: np.ndarray, side: int, margin: float) -> tuple[np.ndarray, float, int]:
    """(image resized so its longest side is ``side`` (0: kept) with a grey margin, scale, margin px)."""
    import cv2

    h, w = rgb.shape[:2]
    s = side / max(h, w) if side else 1.0
    if s != 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    pad = int(round(margin * max(rgb.shape[:2])))
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return rgb, s, pad


class AnimeFaceDetector:
    """Faces with eyes, nose and mouth from ``animeface``; ``unusable`` says why it is not used."""

    PROBE_IMAGES = 8

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        self.unusable: str | None = None
        self._probed = 0
        self._found = False
        try:
            import animeface  # noqa: F401
        except Exception as e:  # noqa: BLE001 - any broken optional install means "not usable"
            self.unusable = f"animeface not importable ({type(e).__name__})"

    def _faces(self, rgb: np.ndarray) -> list:
        """animeface's faces above the threshold, largest first ([] once unusable)."""
        if self.unusable:
            return []
        try:
            import animeface
            from PIL import Image

            faces = animeface.detect(Image.fromarray(np.ascontiguousarray(rgb)))
        except Exception as e:  # noqa: BLE001
            self.unusable = f"animeface failed ({type(e).__name__}: {str(e)[:80]})"
            return []
        faces = [f for f in faces if f.likelihood >= self.threshold]
        return sorted(faces, key=lambda f: -f.face.pos.width * f.face.pos.height)

    def _probe(self, found: bool) -> None:
        """Count one image; animeface that finds nothing in the first few is declared broken."""
        if not self._found and not self.unusable:  # keep the first reason (e.g. "not importable")
            self._found = found
            self._probed += 1
            if not found and self._probed >= self.PROBE_IMAGES:
                self.unusable = f"animeface found no face in the first {self._probed} images (broken with this Pillow?)"

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        out = [self._to_detection(f) for f in self._faces(rgb)]
        self._probe(bool(out))
        return out

    def parts(self, rgb: np.ndarray) -> tuple[np.ndarray | None, float]:
        """(5-point scheme of the largest face in ``rgb``'s pixel coordinates, or None; likelihood)."""
        for side, margin in ATTEMPTS:
            big, s, pad = enlarge(rgb, side, margin)
            faces = self._faces(big)
            if faces:
                self._probe(True)
                pts = (from_animeface(faces[0]) - pad + 0.5) / s - 0.5  # pixel centres scale about +0.5
                return pts.astype(np.float32), float(faces[0].likelihood)
            if self.unusable:
                break
        self._probe(False)
        return None, 0.0

    @staticmethod
    def _to_detection(face) -> Detection:
        b = face.face.pos
        m = face.mouth.pos
        kps = np.stack(
            [
                _centre(face.left_eye.pos),
                _centre(face.right_eye.pos),
                np.array([face.nose.pos.x, face.nose.pos.y], np.float32),
                np.array([m.x, m.y + m.height / 2.0], np.float32),
                np.array([m.x + m.width, m.y + m.height / 2.0], np.float32),
            ]
        )
        if kps[0, 0] > kps[1, 0]:
            kps[[0, 1]] = kps[[1, 0]]
        box = np.array([b.x, b.y, b.x + b.width, b.y + b.height], np.float32)
        return Detection(box=box, score=float(face.likelihood), kps=kps)
