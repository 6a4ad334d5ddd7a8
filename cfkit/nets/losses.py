"""Perceptual (content) loss on frozen ImageNet VGG features.

CartoonGAN (Chen et al. CVPR 2018, Sec. 3.2.2) uses the l1 distance of VGG19 ``conv4_4``
feature maps. A missing VGG is an error naming ``cfkit models fetch ARCH``; a stand-in (VGG16
``conv4_3`` for VGG19 ``conv4_4``) is only used when a run asks for it (:mod:`cfkit.nets.standins`).

The VGG sees its input in the convention of the authors' code (``INPUTS``): ``imagenet`` (torchvision's
normalisation, what its weights were trained on), ``unit`` (RGB in [0, 1] without normalisation: the
public CartoonGAN reproduction, znxlwm/pytorch-CartoonGAN ``VGG((x + 1) / 2)``) or ``caffe`` (BGR in
0-255 minus the Caffe means: White-box ``train_code/loss.py Vgg19.build_conv4_4``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

#: index after the named conv layer in torchvision ``features`` (slice end; no ReLU after it)
LAYERS = {("vgg19", "conv4_4"): 26, ("vgg16", "conv4_3"): 22}

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
INPUTS = ("imagenet", "unit", "caffe")


def vgg_trunk(arch: str, layer: str) -> tuple[nn.Sequential, dict]:
    """Frozen VGG features up to ``layer`` (:class:`~cfkit.errors.AssetMissingError` when not installed)."""
    from cfkit.nets.pretrained import torchvision_features

    if (arch, layer) not in LAYERS:
        raise ValueError(f"unsupported content layer {arch}/{layer}; known: {sorted(LAYERS)}")
    features, prov = torchvision_features(arch)
    trunk = features[: LAYERS[arch, layer]].eval().requires_grad_(False)
    return trunk, {**prov, "arch": arch, "layer": layer}


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
    """``mean |VGG(x) - VGG(y)|`` (or squared) for images in [-1, 1]; ``y`` is a constant target.

    ``inputs``: how the VGG sees the images (one of ``INPUTS``, see the module docstring).
    """

    def __init__(self, arch: str = "vgg19", layer: str = "conv4_4", distance: str = "l1", inputs: str = "imagenet"):
        super().__init__(distance)
        if inputs not in INPUTS:
            raise ValueError(f"unknown VGG input convention {inputs!r}; choose one of {', '.join(INPUTS)}")
        self.trunk, self.provenance = vgg_trunk(arch, layer)
        self.inputs = inputs
        self.provenance.update(distance=distance, inputs=inputs)
        if inputs == "caffe":  # (x + 1) * 127.5 in BGR order, minus the Caffe means
            mean, std = torch.tensor(_CAFFE_BGR_MEAN[::-1]) / 255.0, torch.full((3,), 1 / 255.0)
        elif inputs == "unit":
            mean, std = torch.zeros(3), torch.ones(3)
        else:
            mean, std = torch.tensor(_MEAN), torch.tensor(_STD)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x + 1) / 2 - self.mean) / self.std
        return self.trunk(x.flip(1) if self.inputs == "caffe" else x)


def frozen_content_loss(
    spec: str, device: torch.device, substitute: Mapping[str, str], purpose: str, inputs: str = "imagenet"
) -> tuple[ContentLoss, float]:
    """``ContentLoss`` for ``"arch/layer"`` (e.g. ``vgg19/conv4_4``) on ``device`` and its weight factor.

    ``arch`` must be installed unless ``substitute`` asks for a stand-in (:func:`cfkit.nets.standins.resolve`);
    a stand-in is announced and recorded in the loss's provenance. Built without drawing from torch's RNG
    (so adding it never shifts a training run's random stream).
    """
    from cfkit.nets.standins import announce, resolve

    arch, _, layer = spec.partition("/")
    standin = resolve(arch, substitute, purpose)
    if standin is not None:
        arch, layer = standin.arch, standin.layer(layer)
    with torch.random.fork_rng(devices=[]):
        loss = ContentLoss(arch, layer, inputs=inputs).to(device)
    if standin is None:
        return loss, 1.0
    loss.provenance.update(announce(standin, spec, f"{arch}/{layer}", purpose))
    return loss, standin.factor
