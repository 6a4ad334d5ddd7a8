"""Identity retrieval accuracy: is the source most similar to an output that output's own source?"""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, mean_result, unavailable


@METRICS.register("identity_retrieval")
class IdentityRetrieval(Metric):
    name = "identity_retrieval"
    label = "ID top-1"
    needs = ("identity",)
    higher_is_better = True

    def compute(self, ctx):
        src, out = ctx.feature("identity", "source"), ctx.feature("identity")
        gallery_ids = [k for k in ctx.ids if src.get(k) is not None]
        if len(gallery_ids) < 2:
            return unavailable(f"needs >= 2 source faces with an embedding (got {len(gallery_ids)})")
        gallery = np.stack([src[k] for k in gallery_ids])
        per_image = {}
        for k in ctx.ids:
            if out.get(k) is None or src.get(k) is None:
                per_image[k] = float("nan")
            else:
                per_image[k] = float(gallery_ids[int(np.argmax(gallery @ out[k]))] == k)
        backend = ctx.data.provenance.get("identity", {}).get("backend", "")
        return mean_result(per_image, ctx, backend=backend, gallery=len(gallery_ids), chance=1 / len(gallery_ids))
