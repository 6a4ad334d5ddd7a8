"""Identity similarity: cosine between the face embedding of each output and of its source (``identity``) or
of its known target (``identity_target``, with ``--targets``: the true photo of a cartoon -> photo task)."""

from __future__ import annotations

import numpy as np

from cfkit.evaluate.features import SOURCE, TARGET
from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, paired_result


class _CosineTo(Metric):
    """Cosine of each output's ``identity`` embedding with the embedding ``anchor`` (feature, role) of its id."""

    higher_is_better = True
    anchor = ("identity", SOURCE)

    def compute(self, ctx):
        backend = ctx.data.provenance.get("identity", {}).get("backend", "")
        feature, role = self.anchor
        return paired_result(ctx, ctx.feature(feature, role), ctx.feature("identity"), np.dot, backend=backend)


@METRICS.register("identity")
class IdentitySimilarity(_CosineTo):
    name = "identity"
    label = "ID cosine"
    needs = ("identity",)


@METRICS.register("identity_target")
class IdentityToTarget(_CosineTo):
    """Scored for the sources too: the copy-the-input baseline (how much of the true face the input shows)."""

    name = "identity_target"
    label = "ID cosine to target"
    needs = ("identity", "identity_target")
    anchor = ("identity_target", TARGET)
    copy_baseline = True
