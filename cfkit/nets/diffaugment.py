"""Differentiable augmentation of D's inputs (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020).

With a few dozen training images D memorises the real set and wins outright; G's gradient then
says "be one of these images" rather than "have this style". Augmenting every image D judges, real
and generated alike, with fresh random transforms that gradients pass through keeps D from
memorising, without leaking the augmentations into G's outputs (the paper's 100-shot results).

Images are ``N x C x H x W`` in [-1, 1]; each sample draws its own parameters. A policy is a
comma-separated list of transforms, applied in the paper's order:

* ``color``: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2)), contrast (x U(0.5, 1.5));
* ``translation``: shift by up to 1/8 of the side, zero padding;
* ``cutout``: zero one square of half the side at a random place.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cfkit.errors import InputError


def color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    r = lambda: torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device)  # noqa: E731
    x = x + (r() - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r() * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r() + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device).view(1, h, 1) + ty
    gx = torch.arange(w, device=x.device).view(1, 1, w) + tx
    inside = ((gy >= 0) & (gy < h) & (gx >= 0) & (gx < w)).unsqueeze(1)
    index = (gy.clamp(0, h - 1) * w + gx.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    return x.flatten(2).gather(2, index).view(n, c, h, w) * inside.to(x.dtype)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + 1 - ch % 2, (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + 1 - cw % 2, (n, 1, 1), device=x.device)
    y = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((y - cy).abs() < ch / 2) & ((xx - cx).abs() < cw / 2)
    return x * (~hole).unsqueeze(1).to(x.dtype)


TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def diff_augment(policy: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The augmentation of ``policy`` (``""``: none, the identity)."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in TRANSFORMS]
    if unknown:
        raise InputError(f"unknown D augmentation {unknown[0]!r}; choose from {', '.join(TRANSFORMS)}")
    names.sort(key=list(TRANSFORMS).index)

    def augment(x: torch.Tensor) -> torch.Tensor:
        for name in names:
            x = TRANSFORMS[name](x)
        return x

    return augment
