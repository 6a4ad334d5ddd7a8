"""The 5-point landmark scheme shared by photos and cartoons.

Points, in this order: ``eye_l`` / ``eye_r`` (eye centres; ``eye_l`` is the eye on the image's
left), ``nose`` (tip), ``mouth`` (centre), ``chin`` (lowest point of the jaw). It is what both
domains can give: dlib's 68 points map onto it (:func:`from_dlib68`) and so do animeface's parts
(:func:`from_animeface`).

In manifests a face's points are ``lm5``: 10 floats ``x0, y0, ..., x4, y4`` in image-relative
units of the aligned image (0 = left/top edge, 1 = right/bottom edge), with ``lm_source`` naming
where they came from (:data:`SOURCES`). Arrays here are ``(..., 5, 2)`` numpy arrays or tensors.
Pixel points (dlib's, animeface's) are pixel indices (the centre of pixel ``i`` is ``i``, as in
OpenCV warps); relative points are continuous (pixel ``i`` covers [i, i + 1) / side).
"""

from __future__ import annotations

import numpy as np

NAMES = ("eye_l", "eye_r", "nose", "mouth", "chin")
#: index permutation after a horizontal flip (x -> 1 - x): the two eyes swap
FLIP = (1, 0, 2, 3, 4)
#: facial parts by landmark index (local discriminators, patches)
PARTS = {"eyes": (0, 1), "nose": (2,), "mouth": (3,)}
#: values of the manifest column ``lm_source``
SOURCES = ("dlib68", "animeface", "regressor")
#: eye contours of dlib's 68 points (iBUG 300-W): the image-left eye (the subject's right) and the image-right eye
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)


def eye_centres(pts68) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left and image-right eyes of a (68, 2) landmark array."""
    return pts68[LEFT_EYE].mean(axis=0), pts68[RIGHT_EYE].mean(axis=0)


def from_dlib68(pts68) -> np.ndarray:
    """(68, 2) iBUG 300-W points -> (5, 2): eye-contour means, nose tip (30), inner-lip mean, chin (8)."""
    p = np.asarray(pts68, np.float64).reshape(68, 2)
    return np.stack([*eye_centres(p), p[30], p[60:68].mean(0), p[8]]).astype(np.float32)


def from_animeface(face) -> np.ndarray:
    """An ``animeface.FaceInfo`` -> (5, 2) pixel indices: eye and mouth box centres, nose and chin points.

    animeface names the eyes from the character's view (its ``left_eye`` is on the image's right);
    here they are ordered by image x.
    """

    def centre(box) -> tuple[float, float]:
        return box.x + (box.width - 1) / 2.0, box.y + (box.height - 1) / 2.0

    eyes = sorted([centre(face.left_eye.pos), centre(face.right_eye.pos)])
    pts = [*eyes, (face.nose.pos.x, face.nose.pos.y), centre(face.mouth.pos), (face.chin.pos.x, face.chin.pos.y)]
    return np.asarray(pts, np.float32)


def flip(points):
    """Points of the horizontally mirrored image: x -> 1 - x and the eyes swapped (numpy or torch)."""
    out = points[..., list(FLIP), :].clone() if hasattr(points, "clone") else np.array(points)[..., list(FLIP), :]
    out[..., 0] = 1.0 - out[..., 0]
    return out


def to_lm5(points, width: float, height: float | None = None) -> list[float] | None:
    """(5, 2) pixel indices in a ``width x height`` image -> the manifest's 10 relative floats."""
    if points is None:
        return None
    rel = (np.asarray(points, np.float64).reshape(5, 2) + 0.5) / [width, height or width]
    return [round(float(v), 5) for v in rel.ravel()]


def from_lm5(values) -> np.ndarray | None:
    """The manifest's ``lm5`` (10 floats, or null/NaN) -> (5, 2) relative points or None."""
    if values is None:
        return None
    a = np.asarray(values, np.float64).ravel()
    if a.size != 10 or not np.isfinite(a).all():
        return None
    return a.reshape(5, 2).astype(np.float32)
