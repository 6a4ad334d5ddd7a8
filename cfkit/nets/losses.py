"""Perceptual (content) loss on frozen ImageNet VGG features.

CartoonGAN (Chen et al. CVPR 2018, Sec. 3.2.2) uses the l1 distance of VGG19 ``conv4_4``
feature maps. VGG19 weights have no offline source here, so when they are missing the loss
falls back to VGG16 ``conv4_3`` (the last conv of the same block) and says so in
:attr:`ContentLoss.provenance`, which the trainer writes to ``run.json``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: index after the named conv layer in torchvision ``features`` (slice end; no ReLU after it)
LAYERS = {("vgg19", "conv4_4"): 26, ("vgg16", "conv4_3"): 22}
FALLBACK = {"vgg19": ("vgg16", "conv4_3")}

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def vgg_trunk(arch: str, layer: str) -> tuple[nn.Sequential, dict]:
    """Frozen VGG features up to ``layer``; falls back (VGG19 -> VGG16) when weights are missing."""
    from cfkit.nets.pretrained import vgg_features

    features, prov = vgg_features(arch)
    prov = {**prov, "layer": layer, "requested": f"{arch}/{layer}"}
    if prov.get("substituted_for") == arch:
        arch, layer = FALLBACK[arch]
        prov = {**prov, "layer": layer, "fallback": f"{prov['substituted_for']} weights missing"}
    if (arch, layer) not in LAYERS:
        raise ValueError(f"unsupported content layer {arch}/{layer}; known: {sorted(LAYERS)}")
    trunk = features[: LAYERS[arch, layer]].eval().requires_grad_(False)
    return trunk, {**prov, "arch": arch}


class FeatureDistance(nn.Module):
    """Distance (``l1`` or ``mse``, mean) between frozen features of ``x`` and of a constant target ``y``.

    Subclasses set ``self.trunk`` (kept in eval mode) and define ``features(x)`` for images in [-1, 1].
    """

    def __init__(self, distance: str = "l1"):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"unknown feature distance {distance!r}; choose one of {', '.join(DISTANCES)}")
        self.distance = distance

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(y)
        return DISTANCES[self.distance](self.features(x), target)

    def train(self, mode: bool = True):  # the trunk stays in eval mode
        super().train(mode)
        self.trunk.eval()
        return self


DISTANCES = {"l1": F.l1_loss, "mse": F.mse_loss}


class ContentLoss(FeatureDistance):
    """``mean |VGG(x) - VGG(y)|`` (or squared) for images in [-1, 1]; ``y`` is a constant target."""

    def __init__(self, arch: str = "vgg19", layer: str = "conv4_4", distance: str = "l1"):
        super().__init__(distance)
        self.trunk, self.provenance = vgg_trunk(arch, layer)
        self.provenance["distance"] = distance
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(((x + 1) / 2 - self.mean) / self.std)


def frozen_content_loss(spec: str, device: torch.device) -> ContentLoss:
    """``ContentLoss`` for ``"arch/layer"`` (e.g. ``vgg19/conv4_4``) on ``device``, built without
    drawing from torch's RNG (so adding it never shifts a training run's random stream)."""
    arch, _, layer = spec.partition("/")
    with torch.random.fork_rng(devices=[]):
        return ContentLoss(arch, layer).to(device)
