"""pytorch-fid InceptionV3 pool features of outputs and reference images (FID, KID), batched on the main process."""

from __future__ import annotations

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import OUTPUT, REFERENCE, Feature


@FEATURES.register("inception")
class InceptionFeatures(Feature):
    name = "inception"
    kinds = (OUTPUT, REFERENCE)

    def open(self, cfg, device):
        from cfkit.nets.inception import load_inception

        self.model, provenance = load_inception(cfg.fid_dims, device, cfg.fid_exact)
        self.device, self.batch_size, self.pending = device, cfg.batch_size, []
        return provenance

    def per_image(self, rgb, cfg):
        from cfkit.nets.inception import to_inception_input

        return to_inception_input(rgb)

    def add(self, key, values, store):
        self.pending += [(role, key, x) for role, x in values.items()]
        if len(self.pending) >= self.batch_size:
            self.flush(store)

    def flush(self, store):
        import torch

        from cfkit.nets.inception import forward_features

        if not self.pending:
            return
        feats = forward_features(self.model, torch.stack([x for _, _, x in self.pending]).to(self.device))
        for (role, key, _), f in zip(self.pending, feats, strict=True):
            store[role][key] = f
        self.pending = []
