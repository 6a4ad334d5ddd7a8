"""Unit face embeddings of sources and outputs (ArcFace or dlib, see :mod:`cfkit.faces.identity`); None = no face."""

from __future__ import annotations

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import Feature, process_model


def _backend(name: str):
    from cfkit.faces.identity import get_identity_backend

    return process_model(("identity", name), lambda: get_identity_backend(name))


@FEATURES.register("identity")
class IdentityEmbedding(Feature):
    name = "identity"

    def open(self, cfg, device):
        model = _backend(cfg.identity_backend)
        return {"backend": model.name, **getattr(model, "provenance", {})}

    def per_image(self, rgb, cfg):
        return _backend(cfg.identity_backend).embed(rgb)
