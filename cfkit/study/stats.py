"""Statistics for rating studies, each checked against scipy or a published worked example in the tests."""

from __future__ import annotations

import numpy as np
from scipy import stats


def bootstrap_ci(x, n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (vectorised; same method as ``scipy.stats.bootstrap``)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 256):  # bounded memory for long rating lists
        stop = min(start + 256, n_resamples)
        means[start:stop] = x[rng.integers(0, len(x), size=(stop - start, len(x)))].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return float(lo), float(hi)


def friedman(matrix) -> tuple[float, float]:
    """Friedman chi-square (tie-corrected) and p for a blocks x treatments matrix."""
    m = np.asarray(matrix, dtype=float)
    n, k = m.shape
    if n < 2 or k < 3:
        return (float("nan"), float("nan"))
    r = np.apply_along_axis(stats.rankdata, 1, m)
    q = 12.0 / (n * k * (k + 1)) * np.sum(r.sum(axis=0) ** 2) - 3.0 * n * (k + 1)
    ties = sum(np.sum(c**3 - c) for c in (np.unique(row, return_counts=True)[1] for row in m))
    corr = 1.0 - ties / (n * (k**3 - k))
    q = q / corr if corr > 0 else float("nan")
    return float(q), float(stats.chi2.sf(q, k - 1))


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def bradley_terry(wins, prior: float = 0.0, iters: int = 10_000, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry strengths by Hunter's MM algorithm; ``wins[i, j]`` = times i beat j.

    Returns log-strengths centred at 0. ``prior`` adds that many virtual wins each way between
    every pair (keeps a never-winning method finite).
    """
    w = np.asarray(wins, dtype=float) + prior * (1 - np.eye(len(wins)))
    n = w + w.T
    total = w.sum(axis=1)
    p = np.ones(len(w))
    for _ in range(iters):
        denom = (n / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total / np.where(denom > 0, denom, 1), p)
        new = new / np.exp(np.mean(np.log(np.maximum(new, 1e-300))))
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    lp = np.log(np.maximum(p, 1e-300))
    return lp - lp.mean()


def krippendorff_alpha(data, level: str = "interval") -> float:
    """Krippendorff's alpha for a raters x units array (NaN = missing); level nominal|ordinal|interval."""
    d = np.asarray(data, dtype=float)
    values = np.unique(d[~np.isnan(d)])
    if len(values) < 2:
        return float("nan")
    idx = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for u in d.T:
        u = u[~np.isnan(u)]
        if len(u) < 2:
            continue
        counts = np.zeros(len(values))
        for v in u:
            counts[idx[v]] += 1
        o += (np.outer(counts, counts) - np.diag(counts)) / (len(u) - 1)
    nc = o.sum(axis=1)
    n = nc.sum()
    if level == "nominal":
        delta = 1.0 - np.eye(len(values))
    elif level == "interval":
        delta = (values[:, None] - values[None, :]) ** 2
    elif level == "ordinal":
        cum = np.cumsum(nc)
        lo = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
        hi = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
        between = cum[hi] - np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0)
        delta = (between - (nc[lo] + nc[hi]) / 2) ** 2
    else:
        raise ValueError(f"unknown level '{level}'")
    d_e = (np.outer(nc, nc) * delta).sum()
    return float(1.0 - (n - 1) * (o * delta).sum() / d_e) if d_e > 0 else float("nan")
