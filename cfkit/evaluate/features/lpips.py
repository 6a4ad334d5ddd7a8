"""LPIPS distances computed in the pass: source vs output (``lpips``) and consecutive outputs (``lpips_diversity``).

Both run the network on the main process on pairs of decoded images; the second image of a pair is
resized (bilinear, antialiased) to the first's size when they differ, counted in the provenance.
"""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import OUTPUT, SOURCE, Feature, process_model


def _tensor(rgb: np.ndarray, size: tuple[int, int] | None = None):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x


class _LPIPSPairs(Feature):
    """Shared by both features: the model, and distances of image pairs batched by shape."""

    def open(self, cfg, device):
        from cfkit.nets.pretrained import lpips_model

        self.model = process_model(("lpips", cfg.lpips_net, device), lambda: lpips_model(cfg.lpips_net).to(device))
        self.device = device
        self.provenance = {"net": cfg.lpips_net, **self.model.provenance, "resized_pairs": 0}
        return self.provenance

    def distances(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
        import torch

        a, b = [], []
        for x, y in pairs:
            self.provenance["resized_pairs"] += x.shape[:2] != y.shape[:2]
            a.append(_tensor(x))
            b.append(_tensor(y, tuple(x.shape[:2])))
        out = [0.0] * len(pairs)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(a):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        for idx in by_shape.values():
            with torch.no_grad():
                d = self.model(
                    torch.cat([a[i] for i in idx]).to(self.device), torch.cat([b[i] for i in idx]).to(self.device)
                )
            for i, v in zip(idx, d.flatten().cpu().numpy().astype(float), strict=True):
                out[i] = float(v)
        return out


@FEATURES.register("lpips")
class LPIPSToSource(_LPIPSPairs):
    """Per output: LPIPS to its source (stored under the output's role)."""

    name = "lpips"
    kinds = (SOURCE, OUTPUT)

    def add(self, key, values, store):
        src = values.get(SOURCE)
        roles = [r for r in values if r != SOURCE]
        if src is None or not roles:
            return
        for role, d in zip(roles, self.distances([(src, values[r]) for r in roles]), strict=True):
            store[role][key] = d


@FEATURES.register("lpips_diversity")
class LPIPSDiversity(_LPIPSPairs):
    """Per output: LPIPS to the same method's output of the next id (stored under the earlier id)."""

    name = "lpips_diversity"
    kinds = (OUTPUT,)

    def open(self, cfg, device):
        self.prev: dict[str, tuple[str, np.ndarray]] = {}
        return super().open(cfg, device)

    def add(self, key, values, store):
        roles = [r for r in values if r in self.prev]
        for role, d in zip(roles, self.distances([(self.prev[r][1], values[r]) for r in roles]), strict=True):
            store[role][self.prev[role][0]] = d
        self.prev.update({r: (key, img) for r, img in values.items()})
