"""CartoonGAN networks (Chen, Lai & Liu, CVPR 2018, Fig. 2).

Generator: flat conv (7x7, 64) -> two down-convs (stride 2; 128, 256) -> 8 residual blocks ->
two up-convs (stride 1/2; 128, 64) -> 7x7 conv to RGB. Normalisation and padding follow the
authors' released generator (Yijunmaverick/CartoonGAN-Test-Pytorch-Torch ``network/Transformer.py``:
reflection padding, instance normalisation, ``tanh`` output); the figure says "BN", selectable
with ``norm="batch"``.

Discriminator: 7-layer patch discriminator, LeakyReLU 0.2, BN after layers 3, 5, 6 (Fig. 2),
output ``1/4`` of the input resolution.

``width`` scales every channel count (64 * width, ...) and keeps the architecture, so tests can
run the full network at small cost.
"""

from __future__ import annotations

from torch import nn


def _ch(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


def norm_layer(kind: str, ch: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (instance, batch, none)")


class ResidualBlock(nn.Module):
    """conv3x3-norm-ReLU-conv3x3-norm + identity (Fig. 2, "8 residual blocks")."""

    def __init__(self, ch: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            norm_layer(norm, ch),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            norm_layer(norm, ch),
        )

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """CartoonGAN generator; input and output images in [-1, 1]; H, W divisible by 4."""

    def __init__(self, width: float = 1.0, n_res: int = 8, norm: str = "instance"):
        super().__init__()
        c1, c2, c3 = _ch(64, width), _ch(128, width), _ch(256, width)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, c1, 7),
            norm_layer(norm, c1),
            nn.ReLU(inplace=True),
        ]
        for cin, cout in ((c1, c2), (c2, c3)):  # down-convolution: k3 s2 then k3 s1
            layers += [
                nn.Conv2d(cin, cout, 3, 2, 1),
                nn.Conv2d(cout, cout, 3, 1, 1),
                norm_layer(norm, cout),
                nn.ReLU(inplace=True),
            ]
        layers += [ResidualBlock(c3, norm) for _ in range(n_res)]
        for cin, cout in ((c3, c2), (c2, c1)):  # up-convolution: k3 s1/2 then k3 s1
            layers += [
                nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1),
                nn.Conv2d(cout, cout, 3, 1, 1),
                norm_layer(norm, cout),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c1, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Discriminator(nn.Module):
    """CartoonGAN patch discriminator (Fig. 2): logits map at 1/4 resolution."""

    def __init__(self, width: float = 1.0, norm: str = "batch", in_ch: int = 3):
        super().__init__()
        c1, c2, c3, c4 = (_ch(c, width) for c in (32, 64, 128, 256))

        def act():
            return nn.LeakyReLU(0.2, inplace=True)

        self.net = nn.Sequential(
            nn.Conv2d(in_ch, c1, 3, 1, 1),
            act(),
            nn.Conv2d(c1, c2, 3, 2, 1),
            act(),
            nn.Conv2d(c2, c3, 3, 1, 1),
            norm_layer(norm, c3),
            act(),
            nn.Conv2d(c3, c3, 3, 2, 1),
            act(),
            nn.Conv2d(c3, c4, 3, 1, 1),
            norm_layer(norm, c4),
            act(),
            nn.Conv2d(c4, c4, 3, 1, 1),
            norm_layer(norm, c4),
            act(),
            nn.Conv2d(c4, 1, 3, 1, 1),
        )

    def forward(self, x):
        return self.net(x)
