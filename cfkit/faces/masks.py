"""Face-region mask geometry: the convex hull of dlib's 68 points extended upward to the forehead (the
eyebrows lifted by half the brow-to-chin distance), and an ellipse around an aligned face where no
landmarks exist (drawings). The registry of mask methods is :mod:`cfkit.curate.maskers`.
"""

from __future__ import annotations

import cv2
import numpy as np

FOREHEAD = 0.5  # eyebrows move up by this fraction of the brow-to-chin distance


def landmark_mask(shape: tuple[int, int], lm68: np.ndarray, forehead: float = FOREHEAD) -> np.ndarray:
    """Filled convex hull of the 68 points plus the eyebrows lifted to the forehead."""
    lm = np.asarray(lm68, np.float64)
    brows = lm[17:27]
    chin = lm[8]
    up = brows.mean(0) - chin
    lifted = brows + up * forehead
    hull = cv2.convexHull(np.vstack([lm, lifted]).astype(np.float32)).astype(np.int32)
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8)
    return mask


def ellipse_mask(shape: tuple[int, int]) -> np.ndarray:
    """Centred ellipse covering an aligned face (used when no landmarks are available)."""
    h, w = shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, int(h * 0.52)), (int(w * 0.36), int(h * 0.46)), 0, 0, 360, 255, -1)
    return mask
