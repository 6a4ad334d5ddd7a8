"""CycleGAN networks (Zhu et al., ICCV 2017), layer for layer as in the official
pytorch-CycleGAN-and-pix2pix ``models/networks.py``: the ``resnet_9blocks`` generator
(reflection padding, instance norm without affine, no dropout) and the 70x70 PatchGAN
``basic`` discriminator (3 layers, LeakyReLU 0.2). ``ngf``/``ndf`` set the width
(64 in the paper); tests use smaller widths of the same architecture.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(ch: int) -> nn.Module:
    # official "instance" norm: affine=False, track_running_stats=False
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [reflect-pad, conv3x3, IN, ReLU, reflect-pad, conv3x3, IN](x)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=True),
            _norm(ch),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=True),
            _norm(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, 9 x R4ngf, u2ngf, ungf, c7s1-3 with tanh output in [-1, 1]."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7), _norm(ngf), nn.ReLU(True)]
        for i in range(2):  # downsampling
            m = 2**i
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1, bias=True), _norm(ngf * m * 2)]
            layers += [nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):  # upsampling
            m = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                _norm(ngf * m // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: with ``n_layers=3`` each output unit sees a 70x70 input patch."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=True),
                _norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Official ``init_type='normal'``: conv weights ~ N(0, 0.02), biases 0 (norm layers carry no affine)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def receptive_field(net: NLayerDiscriminator) -> int:
    """Input patch size seen by one output unit (70 for the default discriminator)."""
    rf, jump = 1, 1
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for m in convs:
        rf += (m.kernel_size[0] - 1) * jump
        jump *= m.stride[0]
    return rf
