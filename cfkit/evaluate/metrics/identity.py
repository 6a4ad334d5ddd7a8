"""Identity similarity: cosine between the face embedding of each source and of its output."""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, paired_result


@METRICS.register("identity")
class IdentitySimilarity(Metric):
    name = "identity"
    label = "ID cosine"
    needs = ("identity",)
    higher_is_better = True

    def compute(self, ctx):
        backend = ctx.data.provenance.get("identity", {}).get("backend", "")
        return paired_result(ctx, ctx.feature("identity", "source"), ctx.feature("identity"), np.dot, backend=backend)
