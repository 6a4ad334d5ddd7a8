"""Heatmap landmarks: Gaussian targets, differentiable soft-argmax, and the U-Net regressor.

Points are ``N x K x 2`` tensors of (x, y) in image-relative units [0, 1] (the scheme of
:mod:`cfkit.geometry.scheme`, K = 5); pixel ``i`` covers [i, i + 1) / size, so its centre is at
(i + 0.5) / size. Heatmaps are ``N x K x H x W`` with a Gaussian of peak 1 at each point.

The regressor is the landmark model of Landmark-Assisted CycleGAN (seed 002): a U-Net
(:class:`cfkit.nets.unet.UNet`) trained on one domain with an MSE loss to Gaussian heatmaps.
Frozen (:func:`load_regressor`), it is differentiable with respect to its input image, so other
methods use it for landmark-consistency losses.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from cfkit.geometry.scheme import NAMES
from cfkit.nets.unet import UNet

#: Gaussian sigma as a fraction of the image side (1.6 px at 64 px, 3.2 px at 128 px)
SIGMA = 0.025


def sigma_px(size: int) -> float:
    """The default heatmap sigma in pixels at training size ``size``."""
    return SIGMA * size


def _centres(n: int, device, dtype) -> torch.Tensor:
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) / n


def heatmaps(points: torch.Tensor, size: int | tuple[int, int], sigma_px: float) -> torch.Tensor:
    """``N x K x H x W`` Gaussians (peak 1) at ``points`` (``N x K x 2``, relative (x, y))."""
    h, w = (size, size) if isinstance(size, int) else size
    xs = _centres(w, points.device, points.dtype)
    ys = _centres(h, points.device, points.dtype)
    dx = (xs.view(1, 1, 1, w) - points[..., 0, None, None]) * w
    dy = (ys.view(1, 1, h, 1) - points[..., 1, None, None]) * h
    return torch.exp(-(dx**2 + dy**2) / (2.0 * sigma_px**2))


def soft_argmax(heat: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """``N x K x H x W`` -> ``N x K x 2`` relative (x, y): the mean position of each map's peak region.

    Weights are ``relu(h - threshold * max h)`` per map, so a noisy background does not pull the
    point towards the image centre (plain softmax does: ~0.3 px bias at 64 px with 5% noise,
    against < 0.1 px here). Differentiable with respect to ``heat``; an empty map gives its centre.
    """
    n, k, h, w = heat.shape
    flat = heat.float().flatten(2)
    weights = F.relu(flat - threshold * flat.amax(-1, keepdim=True)) + 1e-12
    weights = (weights / weights.sum(-1, keepdim=True)).view(n, k, h, w)
    x = (weights.sum(2) * _centres(w, heat.device, weights.dtype)).sum(-1)
    y = (weights.sum(3) * _centres(h, heat.device, weights.dtype)).sum(-1)
    return torch.stack([x, y], -1)


#: extra weight of the squared error under a Gaussian (weight = 1 + FG_WEIGHT * target)
FG_WEIGHT = 50.0


def heatmap_loss(
    pred: torch.Tensor, target: torch.Tensor, ok: torch.Tensor | None = None, fg_weight: float = FG_WEIGHT
) -> torch.Tensor:
    """Foreground-weighted mean squared error per image, averaged over the images with landmarks (``ok`` = 1).

    Five small Gaussians cover ~1% of a heatmap, so a plain MSE first settles on all-zero maps
    (measured: still there after 180 iterations at 64 px); weighting the error by
    ``1 + fg_weight * target`` leaves the minimiser at the target but makes the peaks count.
    """
    target = target.float()
    per = ((pred.float() - target).pow(2) * (1.0 + fg_weight * target)).flatten(1).mean(1)
    if ok is None:
        return per.mean()
    ok = ok.float().view(-1)
    return (per * ok).sum() / ok.sum().clamp(min=1.0)


class LandmarkRegressor(UNet):
    """U-Net heatmap regressor: ``forward(x in [-1, 1]) -> N x 5 x H x W``, ``points(x) -> N x 5 x 2``.

    ``size`` is the side it was trained at: :meth:`points` resizes other inputs to it first (points
    are relative, so they need no rescaling back).
    """

    def __init__(self, width: float = 1.0, depth: int = 4, size: int | None = None):
        super().__init__(width=width, in_ch=3, out_ch=len(NAMES), depth=depth)
        self.size = size

    def _fit(self, x: torch.Tensor) -> torch.Tensor:
        if self.size and x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return x

    def points(self, x: torch.Tensor) -> torch.Tensor:
        return soft_argmax(self(self._fit(x)))

    def locate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(points ``N x 5 x 2``, peak height of each heatmap ``N x 5``: ~1 when sure, ~0 when not)."""
        heat = self(self._fit(x))
        return soft_argmax(heat), heat.float().flatten(2).amax(-1)


def load_regressor(run_or_ckpt: str | Path, device: str | torch.device = "cpu") -> LandmarkRegressor:
    """The trained regressor of a ``landmark-regressor`` run folder or checkpoint: eval mode, frozen.

    Gradients still flow through it to its input (for landmark losses in other methods).
    """
    from cfkit.runs.load import load_run

    run = load_run(run_or_ckpt, method="landmark-regressor")
    cfg = run.config
    hp = cfg.get("method") or {}
    net = LandmarkRegressor(width=float(cfg.get("width", 1.0)), depth=int(hp.get("depth", 4)), size=int(cfg["size"]))
    net.load_state_dict(run.nets["regressor"])
    net.source = str(run.path)
    return net.to(device).eval().requires_grad_(False)
