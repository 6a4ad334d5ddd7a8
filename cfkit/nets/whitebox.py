"""White-box cartoonization networks and representations (Wang & Yu, CVPR 2020).

Layer sizes follow the authors' TensorFlow code (SystemErrorWang/White-box-Cartoonization,
``train_code/network.py``, ``guided_filter.py``, ``utils.py``):

* :class:`Generator` (``unet_generator``): 7x7 conv (32) -> two stride-2 3x3 downsamplings
  (32 -> 64, 64 -> 128) -> 4 residual blocks at 128 -> 3x3 conv to 64 -> two bilinear x2
  upsamplings, each added to the encoder feature of that scale (additive skips) -> 7x7 conv to RGB.
  LeakyReLU 0.2 (TF's default slope), no normalisation, no output activation; Glorot-uniform
  weights and zero biases (slim's defaults). ``width`` scales the 32 base channels.
* :func:`guided_filter` (He et al. TPAMI 2013, per channel, box means over the pixels inside the
  image as the official depthwise-conv / ``N`` division computes them); the generator's output is
  filtered guided by its input photo (``r=1``, ``eps=1e-2`` in training, ``5e-3`` at test).
* :class:`Discriminator` (``disc_sn``): three stages of [3x3 stride-2 conv, 3x3 conv] with
  32, 64, 128 channels, LeakyReLU 0.2, spectral normalisation on every conv, 1x1 conv to a
  patch map at 1/8 resolution.
* :func:`surface` (self-guided filter ``r=5, eps=0.2``) and :func:`color_shift` (random-weight
  grayscale, the texture representation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: official ``utils.color_shift`` uniform ranges, given there for B, G, R (cv2 images); here in RGB order
COLOR_SHIFT_RANGES = ((0.199, 0.399), (0.487, 0.687), (0.014, 0.214))


def _ch(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, stride, k // 2)
    nn.init.xavier_uniform_(conv.weight)  # slim.convolution2d default initializer
    nn.init.zeros_(conv.bias)
    return conv


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)  # tf.nn.leaky_relu default alpha


class ResBlock(nn.Module):
    """conv3x3 - LeakyReLU - conv3x3 + identity (no activation after the sum, as upstream)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_conv(ch, ch, 3), _act(), _conv(ch, ch, 3))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """The official ``unet_generator``; images in [-1, 1] (output unclipped), H and W divisible by 4."""

    def __init__(self, width: float = 1.0, n_blocks: int = 4, channels: int = 32):
        super().__init__()
        c1, c2, c4 = _ch(channels, width), _ch(2 * channels, width), _ch(4 * channels, width)
        self.enc0 = nn.Sequential(_conv(3, c1, 7), _act())
        self.enc1 = nn.Sequential(_conv(c1, c1, 3, 2), _act(), _conv(c1, c2, 3), _act())
        self.enc2 = nn.Sequential(_conv(c2, c2, 3, 2), _act(), _conv(c2, c4, 3), _act())
        self.blocks = nn.Sequential(*[ResBlock(c4) for _ in range(n_blocks)])
        self.mid = nn.Sequential(_conv(c4, c2, 3), _act())
        self.dec1 = nn.Sequential(_conv(c2, c2, 3), _act(), _conv(c2, c1, 3), _act())
        self.dec0 = nn.Sequential(_conv(c1, c1, 3), _act(), _conv(c1, 3, 7))

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x):
        x0 = self.enc0(x)
        x1 = self.enc1(x0)
        x2 = self.mid(self.blocks(self.enc2(x1)))
        x3 = self.dec1(self._up(x2) + x1)
        return self.dec0(self._up(x3) + x0)


class Discriminator(nn.Module):
    """The official ``disc_sn`` patch discriminator (spectral norm, no other normalisation)."""

    def __init__(self, in_ch: int = 3, width: float = 1.0, channels: int = 32):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers: list[nn.Module] = []
        cin = in_ch
        for i in range(3):
            c = _ch(channels * 2**i, width)
            layers += [sn(_conv(cin, c, 3, 2)), _act(), sn(_conv(c, c, 3)), _act()]
            cin = c
        layers.append(sn(_conv(cin, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the ``(2r+1)^2`` window, counting only pixels inside the image (official box / N)."""
    return F.avg_pool2d(x, 2 * r + 1, stride=1, padding=r, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """Per-channel guided filter of ``src`` with ``guide`` (same channel count or one channel); differentiable."""
    mean_i, mean_p = box_mean(guide, r), box_mean(src, r)
    cov_ip = box_mean(guide * src, r) - mean_i * mean_p
    var_i = box_mean(guide * guide, r) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)


def surface(x: torch.Tensor, r: int = 5, eps: float = 2e-1) -> torch.Tensor:
    """Surface representation: the image's self-guided filter (official ``r=5, eps=2e-1``)."""
    return guided_filter(x, x, r, eps)


def color_shift_weights(generator: torch.Generator | None = None) -> torch.Tensor:
    """Three RGB weights drawn uniformly from :data:`COLOR_SHIFT_RANGES` (torch's RNG)."""
    lo = torch.tensor([r[0] for r in COLOR_SHIFT_RANGES])
    hi = torch.tensor([r[1] for r in COLOR_SHIFT_RANGES])
    return lo + (hi - lo) * torch.rand(3, generator=generator)


def color_shift(*images: torch.Tensor, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """Texture representation: every image as ``sum_c w_c x_c / sum_c w_c`` (N x 1 x H x W).

    One weight triple per call, shared by all ``images`` (the official code draws one per batch
    and applies it to the generated and the real cartoons alike).
    """
    w = color_shift_weights() if weights is None else weights
    w = w.to(images[0].device, images[0].dtype).view(1, 3, 1, 1)
    return tuple((x * w).sum(1, keepdim=True) / w.sum() for x in images)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Official ``total_variation_loss``: mean squared neighbour differences (rows + columns) / (3 H W)."""
    h, w = x.shape[-2:]
    tv_h = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    tv_w = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    return (tv_h + tv_w) / (3 * h * w)
