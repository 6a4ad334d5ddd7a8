"""Exponential moving averages of a method's ``ema_nets`` (``--set ema=0.999``), kept beside the live networks."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_decay(decay: float, updates: int) -> float:
    """EMA decay after ``updates`` optimizer steps, with the warm-up of TensorFlow's
    ``ExponentialMovingAverage(num_updates=...)``: ``min(decay, (1 + n) / (10 + n))``, so a short run's
    average follows the trained weights instead of staying near the initial ones."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def ema_copies(nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Frozen eval-mode copies of ``nets``, the averages' starting point."""
    return {n: copy.deepcopy(net).eval().requires_grad_(False) for n, net in nets.items()}


@torch.no_grad()
def ema_update(ema: dict[str, nn.Module], live: dict[str, nn.Module], decay: float) -> None:
    """Move each average ``1 - decay`` of the way to its live network's parameters; copy the buffers."""
    for n, avg in ema.items():
        for pe, p in zip(avg.parameters(), live[n].parameters(), strict=True):
            pe.lerp_(p, 1.0 - decay)
        for be, b in zip(avg.buffers(), live[n].buffers(), strict=True):
            be.copy_(b)
