"""LPIPS distances computed in the pass: source vs output (``lpips``) and consecutive outputs (``lpips_diversity``).

Both run the network on the main process on pairs of decoded images (:class:`PairDistance`: the second
image of a pair is resized to the first's size when they differ, counted in the provenance).
"""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import OUTPUT, SOURCE, process_model
from cfkit.evaluate.features._pairs import PairDistance


class LPIPSPairs(PairDistance):
    """LPIPS (``cfg.lpips_net``) of image pairs: the model, loaded once per process, and its provenance."""

    def open(self, cfg, device):
        from cfkit.nets.pretrained import lpips_model

        super().open(cfg, device)

        def build():
            import torch

            with torch.random.fork_rng(devices=[]):  # building it must not move a training run's RNG
                return lpips_model(cfg.lpips_net).to(device)

        self.model = process_model(("lpips", cfg.lpips_net, device), build)
        self.provenance.update(net=cfg.lpips_net, **self.model.provenance)
        return self.provenance

    def batch_distance(self, a, b):
        return self.model(a, b)


@FEATURES.register("lpips")
class LPIPSToSource(LPIPSPairs):
    """Per output: LPIPS to its source (stored under the output's role)."""

    name = "lpips"
    kinds = (SOURCE, OUTPUT)

    def add(self, key, values, store):
        self.add_against(SOURCE, key, values, store, resize_to_anchor=True)


@FEATURES.register("lpips_diversity")
class LPIPSDiversity(LPIPSPairs):
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
