"""68-point facial landmarks with dlib (offline asset ``dlib-landmarks68``, iBUG 300-W layout)."""

from __future__ import annotations

import threading

import numpy as np

from cfkit.assets import asset_path


class Landmarks68:
    """dlib HOG face detector + 68-point shape predictor.

    ``detect(rgb)`` returns the landmarks of the largest face or ``None``; with
    ``assume_aligned=True`` an aligned crop whose face the detector misses (small or
    stylised faces) is still measured inside a box covering the central face region.
    """

    def __init__(self, upsample: int = 1):
        import dlib

        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(asset_path("dlib-landmarks68")))
        self._lock = threading.Lock()  # dlib objects are not documented as thread-safe

    @staticmethod
    def _rect(box) -> object:
        import dlib

        x0, y0, x1, y1 = (int(round(v)) for v in box)
        return dlib.rectangle(x0, y0, x1, y1)

    def boxes(self, rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1), largest first."""
        with self._lock:
            rects = self._detector(np.ascontiguousarray(rgb), self.upsample)
        out = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
        return sorted(out, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))

    def predict(self, rgb: np.ndarray, box) -> np.ndarray:
        """68 landmarks inside ``box`` (x0, y0, x1, y1) as a float32 (68, 2) array."""
        with self._lock:
            shape = self._predictor(np.ascontiguousarray(rgb), self._rect(box))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)

    def detect(self, rgb: np.ndarray, assume_aligned: bool = False) -> np.ndarray | None:
        boxes = self.boxes(rgb)
        if boxes:
            return self.predict(rgb, boxes[0])
        if assume_aligned:
            h, w = rgb.shape[:2]
            return self.predict(rgb, (0.15 * w, 0.2 * h, 0.85 * w, 0.9 * h))
        return None

    def shape(self, rgb: np.ndarray, box):
        """The raw dlib ``full_object_detection`` (for dlib's face descriptor)."""
        with self._lock:
            return self._predictor(np.ascontiguousarray(rgb), self._rect(box))
