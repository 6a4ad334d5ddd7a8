"""LightCNN-9 (Wu, He, Sun & Tan, "A Light CNN for Deep Face Representation with Noisy Labels",
TIFS 2018): the content network of CP-GAN, as a feature loss.

The layer names follow the official code (AlfredXiangWu/LightCNN ``light_cnn.py``, also shipped in
JunhongH/CP-GAN ``src/models/light_cnn.py``), so its checkpoints load as they are: ``features`` is
max-feature-map (MFM) convolutions and max-pools; CP-GAN's content loss (``use_fc=0``) is the mean
squared distance of these convolutional features (128 x H/16 x W/16).

Weights: asset ``lightcnn9`` (the file the CP-GAN authors ship, ``pretrained_model/
LightCNN_9Layers_checkpoint.pth.tar``) or any file given by path. The official LightCNN-9 takes
grayscale faces in [0, 1]; a checkpoint whose first layer has three input channels (what the
CP-GAN code builds) gets ImageNet-normalised RGB, as ``src/main.py`` feeds it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cfkit.errors import InputError
from cfkit.nets.losses import _MEAN, _STD, FeatureDistance


class MFM(nn.Module):
    """Max-feature-map: a conv (or linear) layer with twice the channels, element-wise max of the halves."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, pad: int = 1, linear: bool = False):
        super().__init__()
        self.out_channels = cout
        self.filter = nn.Linear(cin, 2 * cout) if linear else nn.Conv2d(cin, 2 * cout, k, stride, pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.filter(x).split(self.out_channels, 1)
        return torch.max(a, b)


class Group(nn.Module):
    """1x1 MFM then k x k MFM (the official ``group``)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, pad: int = 1):
        super().__init__()
        self.conv_a = MFM(cin, cin, 1, 1, 0)
        self.conv = MFM(cin, cout, k, stride, pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class LightCNN9(nn.Module):
    """LightCNN-9 convolutional trunk (``features``; the fc layers are not used by CP-GAN)."""

    def __init__(self, in_ch: int = 1):
        super().__init__()

        def pool():
            return nn.MaxPool2d(2, 2, ceil_mode=True)

        self.features = nn.Sequential(
            MFM(in_ch, 48, 5, 1, 2),
            pool(),
            Group(48, 96),
            pool(),
            Group(96, 192),
            pool(),
            Group(192, 128),
            Group(128, 128),
            pool(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_lightcnn9(path: str | Path) -> LightCNN9:
    """LightCNN-9 trunk with the weights of an official-layout checkpoint (``module.`` prefixes,
    ``state_dict`` wrapper and fc layers allowed); frozen, eval mode."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"LightCNN weights not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__})") from None
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise InputError(f"{path}: no state_dict in the checkpoint")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if k.startswith("features.")}
    first = sd.get("features.0.filter.weight")
    if first is None:
        raise InputError(f"{path}: not a LightCNN-9 checkpoint (no features.0.filter.weight)")
    net = LightCNN9(in_ch=int(first.shape[1]))
    try:
        net.load_state_dict(sd)
    except RuntimeError as e:
        raise InputError(f"{path}: not a LightCNN-9 checkpoint ({str(e).splitlines()[0]})") from None
    return net.eval().requires_grad_(False)


class LightCNNLoss(FeatureDistance):
    """CP-GAN content loss: ``mean (LightCNN(x) - LightCNN(y))^2`` for images in [-1, 1]."""

    def __init__(self, path: str | Path, distance: str = "mse", provenance: dict | None = None):
        super().__init__(distance)
        self.trunk = load_lightcnn9(path)
        self.gray = self.trunk.features[0].filter.in_channels == 1
        self.provenance = {**(provenance or {"file": str(path)}), "arch": "lightcnn9", "distance": distance}
        self.provenance["input"] = "grayscale [0, 1]" if self.gray else "ImageNet-normalised RGB"
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2
        if self.gray:  # PIL's convert("L") weights, as the official LightCNN data loader
            x = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).clamp(0, 1)
        else:
            x = (x - self.mean) / self.std
        return self.trunk(x)
