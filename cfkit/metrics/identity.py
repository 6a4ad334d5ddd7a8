"""Identity similarity: cosine between the face embedding of each source and of its output."""

from __future__ import annotations

import numpy as np

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import mean_result, unavailable


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
        src, out = embeddings(ctx, "source"), embeddings(ctx, ctx.method)
        per_image, failed = {}, 0
        for k in ctx.ids:
            a, b = src.get(k), out.get(k)
            if a is None or b is None:
                failed += 1
                per_image[k] = float("nan")
            else:
                per_image[k] = float(np.dot(a, b))
        backend = ctx.data.provenance.get("identity", {}).get("backend", "")
        return mean_result(per_image, ctx, backend=backend, failures=failed, failure_rate=failed / max(len(ctx.ids), 1))
