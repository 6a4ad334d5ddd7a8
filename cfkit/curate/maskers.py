"""Mask methods by name: ``landmarks`` (geometry from :mod:`cfkit.faces.masks`), ``unet`` (a trained checkpoint).

    masker = make_masker("landmarks")
    masks = masker([rgb], [lm68])     # list of uint8 H x W, 255 inside the face

``unet`` runs the U-Net of a ``cartoongan-mask`` run (:func:`cfkit.methods.cartoongan_mask.predict_masks`);
maskers take batches so a model loads once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cfkit.errors import CfkitError
from cfkit.faces.masks import ellipse_mask, landmark_mask
from cfkit.registry import Registry

Masker = Callable[[list[np.ndarray], list["np.ndarray | None"]], list[np.ndarray]]
MASK_METHODS: Registry[Callable[..., Masker]] = Registry("mask method")


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
