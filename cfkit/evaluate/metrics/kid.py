"""KID: unbiased MMD^2 with the cubic polynomial kernel (x.y/d + 1)^3 over random subsets.

Same definition, subset sampling and RNG use as torch-fidelity's ``kid_features_to_metric``
(``RandomState(seed)``; per subset: method rows, then reference rows, without replacement).
"""

from __future__ import annotations

import numpy as np

from cfkit.console import warn
from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, unavailable
from cfkit.evaluate.metrics.fid import inception_unavailable


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 estimate between equal-size samples ``x`` and ``y``."""
    gamma = 1.0 / x.shape[1]
    kxx = (x @ x.T * gamma + coef0) ** degree
    kyy = (y @ y.T * gamma + coef0) ** degree
    kxy = (x @ y.T * gamma + coef0) ** degree
    m = x.shape[0]
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def kid_subsets(x: np.ndarray, y: np.ndarray, subsets: int, subset_size: int, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    out = np.zeros(subsets)
    for i in range(subsets):
        a = x[rng.choice(len(x), subset_size, replace=False)]
        b = y[rng.choice(len(y), subset_size, replace=False)]
        out[i] = polynomial_mmd2(a, b)
    return out


@METRICS.register("kid")
class KID(Metric):
    name = "kid"
    label = "KID"
    needs = ("inception",)
    per_image = False

    def compute(self, ctx):
        bad, ids, x = inception_unavailable(ctx, 2, "KID")
        if bad:
            return bad
        y = ctx.data.reference_stats.get("features")
        if y is None:
            return unavailable("the reference .npz has mu/sigma only; KID needs its features (pass the folder)")
        cfg = ctx.config
        size = cfg.kid_subset_size
        if size > min(len(x), len(y)):
            size = min(len(x), len(y))
            warn(
                f"KID ({ctx.method}): subset size {cfg.kid_subset_size} > images "
                f"(method {len(x)}, reference {len(y)}); using {size}"
            )
        if size < 2:
            return unavailable(f"KID needs subsets of >= 2 images (got {size})", n=len(ids))
        mmds = kid_subsets(x, np.asarray(y, np.float64), cfg.kid_subsets, size, cfg.seed)
        lo, hi = np.quantile(mmds, [0.025, 0.975])
        return {
            "value": float(mmds.mean()),
            "std": float(mmds.std()),
            "ci": [float(lo), float(hi)],
            "n": len(ids),
            "n_reference": len(y),
            "subsets": cfg.kid_subsets,
            "subset_size": size,
            "ci_kind": "2.5/97.5 percentiles of the subset estimates",
        }
