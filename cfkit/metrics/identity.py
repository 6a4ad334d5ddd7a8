"""Identity similarity: cosine between the face embedding of each source and of its output."""

from __future__ import annotations

import numpy as np

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import paired_result, unavailable


def embeddings(ctx, role: str) -> dict:
    return ctx.data.identity.get(role, {})


@METRICS.register("identity")
class IdentitySimilarity(Metric):
    name = "identity"
    label = "ID cosine"
    needs = ("identity",)
    higher_is_better = True

    def compute(self, ctx):
        if "identity" in ctx.data.unavailable:
            return unavailable(ctx.data.unavailable["identity"])
        backend = ctx.data.provenance.get("identity", {}).get("backend", "")
        return paired_result(ctx, embeddings(ctx, "source"), embeddings(ctx, ctx.method), np.dot, backend=backend)
