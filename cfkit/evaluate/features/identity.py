"""Unit face embeddings (ArcFace or dlib, see :mod:`cfkit.faces.identity`); None = no face.

``identity``: of sources and outputs; ``identity_target``: of the known targets (``--targets``), so that
an output (and the copied source) can be held to the identity of the correct translation.
"""

from __future__ import annotations

from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import TARGET, Feature, process_model


def _backend(name: str):
    from cfkit.faces.identity import get_identity_backend

    return process_model(("identity", name), lambda: get_identity_backend(name))


@FEATURES.register("identity")
class IdentityEmbedding(Feature):
    name = "identity"

    def open(self, cfg, device):
        model = _backend(cfg.identity_backend)
        return {
            "backend": model.name,
            "assume_aligned": cfg.identity_assume_aligned,
            **getattr(model, "provenance", {}),
        }

    def per_image(self, rgb, cfg):
        return _backend(cfg.identity_backend).embed(rgb, assume_aligned=cfg.identity_assume_aligned)


@FEATURES.register("identity_target")
class TargetIdentityEmbedding(IdentityEmbedding):
    name = "identity_target"
    kinds = (TARGET,)
