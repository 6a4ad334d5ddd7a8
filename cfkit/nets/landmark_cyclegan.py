"""Networks of Landmark Assisted CycleGAN (Wu et al. 2019, arXiv:1907.01424, Sec. 3.2 and Fig. 2),
built from the official CycleGAN layers of :mod:`cfkit.nets.cyclegan`:

* :class:`ConditionalGenerator` ``G(x, l)``: the ResNet generator with the input's K landmark
  heatmaps concatenated to its RGB channels (Sec. 3.2, "conditional generator").
* :class:`ConditionalDiscriminator` ``D_gc(y, l)``: the 70x70 PatchGAN on (image, heatmaps), the
  landmark-matched global discriminator of Eq. 5.
* :func:`local_discriminator`: a PatchGAN for one facial part's patches (Eq. 6), as deep as the
  patch side allows.
* :func:`part_patches`: the patches of one part (``cfkit.geometry.scheme.PARTS``) cut at given points.
"""

from __future__ import annotations

import torch

from cfkit.geometry.scheme import PARTS
from cfkit.nets.cyclegan import NLayerDiscriminator, ResnetGenerator
from cfkit.nets.patches import crop_patches


class ConditionalGenerator(ResnetGenerator):
    """``G(x, l)``: ``resnet_9blocks`` on ``3 + n_landmarks`` input channels; RGB output in [-1, 1]."""

    def __init__(self, n_landmarks: int = 5, ngf: int = 64, n_blocks: int = 9):
        super().__init__(in_ch=3 + n_landmarks, ngf=ngf, n_blocks=n_blocks)

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([x, heat.to(x.dtype)], 1))


class ConditionalDiscriminator(NLayerDiscriminator):
    """``D_gc(y, l)``: the ``basic`` PatchGAN judging an image together with its landmark heatmaps."""

    def __init__(self, n_landmarks: int = 5, ndf: int = 64):
        super().__init__(in_ch=3 + n_landmarks, ndf=ndf)

    def forward(self, x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([x, heat.to(x.dtype)], 1))


def local_layers(patch: int) -> int:
    """Stride-2 layers of a PatchGAN whose output on a ``patch``-pixel square is still >= 2 x 2 (at most 3).

    The ``basic`` D halves the side ``n_layers`` times, then two stride-1 4x4 convs take 1 each:
    ``patch / 2**n - 2 >= 2`` (32 px patches keep the full 3 layers, 16 px ones get 2)."""
    for n in (3, 2, 1):
        if patch // 2**n - 2 >= 2:
            return n
    raise ValueError(f"local patches of {patch} px are too small for a PatchGAN (need >= 8 px)")


def local_discriminator(patch: int, ndf: int = 64) -> NLayerDiscriminator:
    """PatchGAN for ``patch``-pixel squares of one facial part."""
    return NLayerDiscriminator(ndf=ndf, n_layers=local_layers(patch))


def part_patches(images: torch.Tensor, points: torch.Tensor, part: str, side: int) -> torch.Tensor:
    """``side``-pixel squares of ``images`` centred on the landmarks of ``part`` (``points``: N x K x 2 in
    [0, 1]). A part with several points (the eyes) gives one patch per point, point after point (2N patches)."""
    return torch.cat([crop_patches(images, points[:, i], side) for i in PARTS[part]])
