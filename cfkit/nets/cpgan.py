"""CP-GAN networks and face regions (Huang et al., ACML 2018; authors' code JunhongH/CP-GAN).

Generator: the Johnson et al. (ECCV 2016) image transformation network the authors use
(``src/models/transformer_net.py``): 9x9 conv (32), two stride-2 3x3 convs (64, 128), five
residual blocks (128), two nearest x2 upsamplings each followed by a 3x3 conv (64, 32), 9x9 conv
to RGB; reflection padding and instance norm (affine) throughout. The authors' net outputs
unbounded values in [0, 255] units; here a ``tanh`` maps the output to cfkit's [-1, 1] (Johnson
et al.'s paper ends in a scaled tanh too). ``width`` scales every channel count.

Discriminators (global and local) are the pix2pix/CycleGAN PatchGAN the authors import
(``networks.define_D(..., 'basic', n_layers=3, norm='instance')``): :class:`NLayerDiscriminator`.

Face regions: the authors' local discriminator sees three horizontal strips of a 128 px face,
rows 16-48, 48-80, 80-112 (``GAN_model.crop_and_pad``), each zero-padded back to the full image
("cropping and padding scheme"). Those strips are centred on the eyes, nose and mouth rows of
their crop (32, 64, 96) with borders half-way between neighbouring parts; :func:`strip_rows`
applies that rule to where an alignment template puts the parts (:func:`template_points`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cfkit.nets.cartoongan import ResidualBlock, norm_layer
from cfkit.nets.cyclegan import NLayerDiscriminator

__all__ = [
    "Generator",
    "NLayerDiscriminator",
    "template_points",
    "part_rows",
    "strip_rows",
    "strip_masks",
    "part_centres",
]


def _ch(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    """Reflection padding ``k // 2`` then a ``k`` x ``k`` conv (the authors' ``ConvLayer``)."""
    return [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride)]


class Generator(nn.Module):
    """Johnson-style transformation network; images in [-1, 1]; H, W divisible by 4."""

    def __init__(self, width: float = 1.0, n_res: int = 5):
        super().__init__()
        c1, c2, c3 = _ch(32, width), _ch(64, width), _ch(128, width)
        layers: list[nn.Module] = []
        for cin, cout, k, s in ((3, c1, 9, 1), (c1, c2, 3, 2), (c2, c3, 3, 2)):
            layers += [*_conv(cin, cout, k, s), norm_layer("instance", cout), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(c3, "instance") for _ in range(n_res)]
        for cin, cout in ((c3, c2), (c2, c1)):  # the authors' UpsampleConvLayer: nearest x2, then conv
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv(cin, cout, 3)]
            layers += [norm_layer("instance", cout), nn.ReLU(inplace=True)]
        layers += [*_conv(c1, 3, 9), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- face regions

PART_ROWS_AUTHORS = {"eyes": 0.25, "nose": 0.5, "mouth": 0.75}
"""Part rows (fraction of the image height) implied by the authors' strips: 32, 64, 96 of 128 px."""


def template_points(template: str = "ffhq") -> np.ndarray:
    """Where an alignment template puts the canonical face's eyes (image-left first), nose tip and
    mouth centre: ``4 x 2`` image-relative (x, y) in [0, 1].

    The canonical face is insightface's ArcFace template; for ``ffhq`` it is placed by the FFHQ
    oriented square, as :func:`cfkit.geometry.align.template_eyes` does for the eyes.
    """
    from cfkit.geometry.align import arcface_points, template_matrix, transform_points

    size = 1024  # pixel-centre coordinates, converted to relative units below
    canon = arcface_points(112)
    pts = transform_points(template_matrix(canon, size, template), canon).astype(np.float64)
    four = np.array([pts[0], pts[1], pts[2], (pts[3] + pts[4]) / 2])
    return (four + 0.5) / size


def part_rows(template: str = "ffhq") -> dict[str, float]:
    """Image-relative rows of the eyes (their mean), nose tip and mouth centre in ``template``."""
    p = template_points(template)
    return {"eyes": float(p[:2, 1].mean()), "nose": float(p[2, 1]), "mouth": float(p[3, 1])}


def strip_bounds(rows: dict[str, float]) -> tuple[float, float, float, float]:
    """Strip borders (relative): each part row is a strip's centre, borders half-way between parts.

    ``strip_bounds(PART_ROWS_AUTHORS)`` is (0.125, 0.375, 0.625, 0.875): rows 16, 48, 80, 112 of 128.
    """
    if not isinstance(rows, dict) or not {"eyes", "nose", "mouth"} <= set(rows):
        raise ValueError(f"part rows need eyes, nose and mouth, got {rows!r}")
    e, n, m = float(rows["eyes"]), float(rows["nose"]), float(rows["mouth"])
    if not 0 < e < n < m < 1:
        raise ValueError(f"part rows must increase inside the image: eyes {e}, nose {n}, mouth {m}")
    top, bottom = e - (n - e) / 2, m + (m - n) / 2
    return max(0.0, top), (e + n) / 2, (n + m) / 2, min(1.0, bottom)


def strip_rows(size: int, rows: dict[str, float] | None = None, template: str = "ffhq") -> list[tuple[int, int]]:
    """The three strips ``[(top, bottom), ...]`` in pixel rows of a ``size`` px image (bottom exclusive)."""
    b = [int(round(f * size)) for f in strip_bounds(rows or part_rows(template))]
    return [(b[i], b[i + 1]) for i in range(3)]


def strip_masks(size: int, strips: list[tuple[int, int]]) -> torch.Tensor:
    """``3 x 1 x size x 1`` masks, 1 on a strip's rows: ``x * mask`` is the authors' crop-and-pad."""
    m = torch.zeros(len(strips), 1, size, 1)
    for i, (top, bottom) in enumerate(strips):
        m[i, :, top:bottom] = 1.0
    return m


def part_centres(points: torch.Tensor | None, ok: torch.Tensor | None, fallback: torch.Tensor, n: int) -> torch.Tensor:
    """Centres of the eyes (mean of both), nose and mouth: ``3 x N x 2`` image-relative (x, y).

    ``points``: ``N x 5 x 2`` in cfkit's 5-point scheme (:mod:`cfkit.geometry.scheme`), ``ok``: ``N``
    (1 where the image has landmarks); images without landmarks (or ``points=None``) use
    ``fallback``, the ``4 x 2`` template points of :func:`template_points`.
    """
    from cfkit.geometry.scheme import PARTS

    fb = torch.stack([fallback[list(idx)].mean(0) for idx in PARTS.values()])  # 3 x 2
    out = fb[:, None].expand(-1, n, -1)
    if points is None:
        return out.clone()
    lm = torch.stack([points[:, list(idx)].mean(1) for idx in PARTS.values()])  # 3 x N x 2
    have = ok.view(1, -1, 1).to(lm.dtype) > 0
    return torch.where(have, lm, out.to(lm))
