"""Statistics shared by evaluation metrics, method comparisons and study analysis."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BLOCK = 256
"""Resamples drawn at once (bounded memory for long value lists)."""


def bootstrap_ci(
    values,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    stat: Callable[[np.ndarray], float] = np.mean,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``stat`` over the finite ``values``; None below 2 of them.

    The method of ``scipy.stats.bootstrap(method="percentile")``, vectorised for the mean.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or n_resamples < 1:
        return None
    rng = np.random.default_rng(seed)
    boots = np.empty(n_resamples)
    for start in range(0, n_resamples, BLOCK):
        idx = rng.integers(0, v.size, size=(min(start + BLOCK, n_resamples) - start, v.size))
        boots[start : start + len(idx)] = v[idx].mean(axis=1) if stat is np.mean else [stat(v[i]) for i in idx]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return float(lo), float(hi)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
