"""Face-region masks: a registry of methods (``landmarks`` now, ``unet`` from a trained checkpoint).

    masker = make_masker("landmarks")
    masks = masker([rgb], [lm68])     # list of uint8 H x W, 255 inside the face

``landmarks``: convex hull of dlib's 68 points extended upward to the forehead (the eyebrows
lifted by half the brow-to-chin distance). Without landmarks (drawings) it falls back to an
ellipse around the aligned face region. ``unet`` runs the U-Net of a ``cartoongan-mask`` run
(:func:`cfkit.methods.cartoongan_mask.predict_masks`); maskers take batches so it loads once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from cfkit.errors import CfkitError
from cfkit.registry import Registry

Masker = Callable[[list[np.ndarray], list["np.ndarray | None"]], list[np.ndarray]]
MASK_METHODS: Registry[Callable[..., Masker]] = Registry("mask method")

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


@MASK_METHODS.register("landmarks")
def _landmarks_masker(checkpoint: str | Path | None = None) -> Masker:
    def run(images: list[np.ndarray], lms: list[np.ndarray | None]) -> list[np.ndarray]:
        pairs = zip(images, lms, strict=True)
        return [ellipse_mask(im.shape) if lm is None else landmark_mask(im.shape, lm) for im, lm in pairs]

    return run


@MASK_METHODS.register("unet")
def _unet_masker(checkpoint: str | Path | None = None) -> Masker:
    if not checkpoint:
        raise CfkitError(
            "mask method 'unet' needs a trained U-Net: pass --checkpoint PATH (train it with "
            "cfkit train cartoongan-mask)"
        )
    if not Path(checkpoint).exists():
        raise CfkitError(f"U-Net checkpoint not found: {checkpoint}")

    def run(images: list[np.ndarray], lms: list[np.ndarray | None]) -> list[np.ndarray]:
        from cfkit.methods.cartoongan_mask import predict_masks

        return [np.where(np.asarray(m) > 127, 255, 0).astype(np.uint8) for m in predict_masks(checkpoint, images)]

    return run


def make_masker(method: str = "landmarks", checkpoint: str | Path | None = None) -> Masker:
    """A function ``(images, landmarks68 or None each) -> uint8 masks`` for a registered method."""
    return MASK_METHODS.get(method)(checkpoint=checkpoint)
