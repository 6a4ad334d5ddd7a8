"""U-Net (Ronneberger, Fischer & Brox, MICCAI 2015) for binary face masks.

Four down/up levels of two 3x3 convolutions (64-128-256-512-1024 channels times ``width``),
with padding so the output keeps the input size (H, W divisible by 16), BatchNorm after each
convolution (as most modern re-implementations) and transposed-convolution up-sampling as in
the paper. Returns mask logits ``N x 1 x H x W``; train with ``BCEWithLogitsLoss``.
"""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, width: float = 1.0, in_ch: int = 3, out_ch: int = 1, depth: int = 4):
        super().__init__()
        chs = [max(4, int(round(64 * width * 2**i))) for i in range(depth + 1)]
        self.down = nn.ModuleList([_double_conv(in_ch, chs[0])])
        self.down.extend(_double_conv(chs[i], chs[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(chs[i + 1], chs[i], 2, 2) for i in reversed(range(depth)))
        self.merge = nn.ModuleList(_double_conv(2 * chs[i], chs[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chs[0], out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)
