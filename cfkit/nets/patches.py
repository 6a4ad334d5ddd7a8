"""Differentiable square patches around points (eyes, nose, mouth) for a batch of images."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_patches(images: torch.Tensor, centres: torch.Tensor, size: float, out: int | None = None) -> torch.Tensor:
    """Patches ``N x C x out x out`` of side ``size`` px centred on ``centres`` (``N x 2``, (x, y) in [0, 1]).

    ``torchvision.ops.roi_align`` with pixel-centre sampling (``aligned=True``), one sample per
    output pixel when ``out == size`` (then an integer-aligned patch is exactly the pixels), the
    average of ``ceil(size / out)``-squared samples per output pixel when shrinking. Pixels outside
    the image are zeros (the batch is zero-padded by one pixel, as roi_align would otherwise repeat
    the border row). Gradients flow into ``images``; the centres are treated as constants.
    """
    from torchvision.ops import roi_align

    n, _, h, w = images.shape
    out = int(out or round(size))
    padded = F.pad(images, (1, 1, 1, 1))
    c = centres.detach().to(images.dtype)
    half = float(size) / 2.0
    cx, cy = c[:, 0] * w + 1.0, c[:, 1] * h + 1.0  # continuous coordinates in the padded batch
    boxes = torch.stack(
        [torch.arange(n, device=images.device, dtype=images.dtype), cx - half, cy - half, cx + half, cy + half], 1
    )
    return roi_align(padded, boxes, output_size=out, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
