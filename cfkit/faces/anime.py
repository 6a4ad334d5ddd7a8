"""Drawing-capable face detection: ``animeface`` (nagadomi's imager, PyPI ``animeface``) when usable.

``animeface`` 2.0.3 silently finds no faces with Pillow >= 12, so it is used only after a probe:
it must import and find at least one face in the first images it is shown. Otherwise callers fall
back (e.g. to a centre crop) and record :attr:`AnimeFaceDetector.unusable` as the reason.
"""

from __future__ import annotations

import numpy as np

from cfkit.faces.detector import Detection


def _centre(box) -> np.ndarray:
    return np.array([box.x + box.width / 2.0, box.y + box.height / 2.0], np.float32)


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

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        if self.unusable:
            return []
        try:
            import animeface
            from PIL import Image

            faces = animeface.detect(Image.fromarray(rgb))
        except Exception as e:  # noqa: BLE001
            self.unusable = f"animeface failed ({type(e).__name__}: {str(e)[:80]})"
            return []
        out = [self._to_detection(f) for f in faces if f.likelihood >= self.threshold]
        if not self._found:
            self._found = bool(out)
            self._probed += 1
            if not self._found and self._probed >= self.PROBE_IMAGES:
                self.unusable = f"animeface found no face in the first {self._probed} images (broken with this Pillow?)"
        return sorted(out, key=lambda d: -d.area)

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
