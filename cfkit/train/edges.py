"""CartoonGAN's edge-smoothed cartoons (Chen et al. CVPR 2018, Sec. 3.2.1).

For each cartoon: (1) Canny edges, (2) dilate the edge region, (3) Gaussian-smooth inside the
dilated region only. These images are extra *negatives* for the discriminator, teaching it that
blurry edges are not cartoon style. Parameters follow the common PyTorch reproduction
(znxlwm/pytorch-CartoonGAN ``edge_promoting``: Canny 100/200, 5x5 dilation, 5x5 Gaussian).

Results are a :class:`~cfkit.train.store.UInt8Store` built once, keyed by the images' store and the parameters.
"""

from __future__ import annotations

import hashlib

import numpy as np

from cfkit.train.store import UInt8Store, build_store

PARAMS = {"canny_low": 100, "canny_high": 200, "dilate": 5, "blur": 5}


def edge_smooth(rgb: np.ndarray, p: dict = PARAMS) -> np.ndarray:
    """One ``H x W x 3`` uint8 image with its edge regions Gaussian-blurred."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, p["canny_low"], p["canny_high"])
    region = cv2.dilate(edges, np.ones((p["dilate"], p["dilate"]), np.uint8)) > 0
    blurred = cv2.GaussianBlur(rgb, (p["blur"], p["blur"]), 0, borderType=cv2.BORDER_REFLECT)
    return np.where(region[..., None], blurred, rgb)


def edge_smoothed(images: UInt8Store) -> UInt8Store:
    """A store of the edge-smoothed ``images`` (``N x 3 x H x W`` uint8), built once beside it."""

    def produce(i: int) -> np.ndarray:
        rgb = images[i].permute(1, 2, 0).numpy()
        return np.ascontiguousarray(edge_smooth(rgb).transpose(2, 0, 1))

    key = hashlib.sha256(f"{images.path.stem}:{sorted(PARAMS.items())}".encode()).hexdigest()[:32]
    return build_store(key, len(images), images.item_shape, produce, "edge-smoothing cartoons")
