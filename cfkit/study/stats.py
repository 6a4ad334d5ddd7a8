"""Statistics for rating studies, each checked against scipy or a published worked example in the tests.

Bootstrap intervals and Holm correction: :mod:`cfkit.stats` (shared with the metrics)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def friedman(matrix) -> tuple[float, float]:
    """Friedman chi-square (tie-corrected, ``scipy.stats.friedmanchisquare``) and p for a blocks x treatments
    matrix; NaNs below 2 blocks or 3 treatments."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 3:
        return (float("nan"), float("nan"))
    res = stats.friedmanchisquare(*m.T)
    return float(res.statistic), float(res.pvalue)


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
