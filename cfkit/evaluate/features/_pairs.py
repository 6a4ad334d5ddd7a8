"""Distances between pairs of decoded images, computed on the main process in batches of equal shape.

The second image of a pair is resized (bilinear, antialiased) to the first's size when they differ; the
number of such pairs is the ``resized_pairs`` entry of the feature's provenance.
"""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.features._base import Feature


def to_tensor(rgb: np.ndarray, size: tuple[int, int] | None = None):
    """``uint8 HxWx3`` -> ``1x3xHxW`` float in [-1, 1], resized to ``size`` (H, W) when given and different."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x


class PairDistance(Feature):
    """Subclass and implement :meth:`batch_distance`; call :meth:`distances` or :meth:`add_against` from :meth:`add`."""

    def open(self, cfg, device):
        self.device = device
        self.provenance = {"resized_pairs": 0}
        return self.provenance

    def batch_distance(self, a, b):
        """One distance per row of two ``Nx3xHxW`` batches in [-1, 1] on ``self.device``."""
        raise NotImplementedError

    def distances(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
        import torch

        a, b = [], []
        for x, y in pairs:
            self.provenance["resized_pairs"] += x.shape[:2] != y.shape[:2]
            a.append(to_tensor(x))
            b.append(to_tensor(y, tuple(x.shape[:2])))
        out = [0.0] * len(pairs)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(a):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        for idx in by_shape.values():
            with torch.no_grad():
                d = self.batch_distance(
                    torch.cat([a[i] for i in idx]).to(self.device), torch.cat([b[i] for i in idx]).to(self.device)
                )
            for i, v in zip(idx, d.flatten().cpu().numpy().astype(float), strict=True):
                out[i] = float(v)
        return out

    def add_against(self, anchor: str, key: str, values: dict, store: dict, resize_to_anchor: bool) -> None:
        """Every other role's image of one id against the ``anchor`` role's, stored under that role.

        ``resize_to_anchor``: the other image is resized to the anchor's size, else the anchor to the other's.
        """
        ref = values.get(anchor)
        roles = [r for r in values if r != anchor]
        if ref is None or not roles:
            return
        pairs = [(ref, values[r]) if resize_to_anchor else (values[r], ref) for r in roles]
        for role, d in zip(roles, self.distances(pairs), strict=True):
            store[role][key] = d
