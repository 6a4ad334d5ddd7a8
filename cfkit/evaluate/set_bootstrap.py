"""The difference of a set-level metric (FID, KID) between two methods, with a bootstrap over images.

Both methods are scored on the ids both translated and on the same resamples of those ids (rows of the
Inception features already extracted, never images). Each method's values are computed once per id set
and reused by every pair, so k methods cost k bootstraps. A resample is a vector of counts (how often each
image was drawn). FID: the low-rank Frechet distance of :mod:`cfkit.evaluate.metrics.fid` (``fid_lowrank``) from the
counts and the features projected on the reference factor once, so a resample costs one eigendecomposition
of at most (distinct images drawn)^2. KID: the unbiased MMD^2 of all common images against the whole reference (what
KID's random subsets estimate), without its reference-only term, which cancels in a difference; pairs of an
image with itself are left out, as in the estimate without resampling.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.05


def _kid_less_ref(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 of ``x`` against ``y`` less the ``y``-only term, for each row of image weights ``w``."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kxy = ((x @ y.T / d + 1) ** 3).mean(axis=1)
    pairs = ((w @ kxx) * w).sum(axis=1) - (w * w) @ np.diag(kxx)
    total = w.sum(axis=1)
    return pairs / (total**2 - (w * w).sum(axis=1)) - 2 * (w @ kxy) / total


def weighted_fid(x: np.ndarray, xb: np.ndarray, w: np.ndarray, mu2: np.ndarray, tr2: float) -> float:
    """``fid_lowrank`` of the rows of ``x`` drawn ``w`` times each (sum ``n``), with ``xb = x @ b.T`` for the
    reference's factor ``b`` (``sigma2 = b^T b``)."""
    n = w.sum()
    mu1 = w @ x / n
    d = mu1 - mu2
    tr1 = (w @ np.einsum("ij,ij->i", x, x) - n * mu1 @ mu1) / (n - 1)
    s = w > 0
    z = np.sqrt(w[s])[:, None] * (xb[s] - w @ xb / n) / np.sqrt(n - 1)
    ev = np.linalg.eigvalsh(z @ z.T if z.shape[0] <= z.shape[1] else z.T @ z)
    return float(d @ d + tr1 + tr2 - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


class SetLevelBootstrap:
    """Per-method values of ``metric`` ("fid" or "kid") on the common ids and their resamples, cached."""

    def __init__(self, metric: str, res, n_boot: int, seed: int):
        self.metric, self.res, self.n_boot, self.seed = metric, res, n_boot, seed
        self.ref = res.reference_stats
        self._cache: dict[tuple, np.ndarray] = {}
        self._fid_ref = None

    def _counts(self, n: int) -> np.ndarray:
        """Row 0: every image once (the estimate); then how often each image is drawn in each resample."""
        idx = np.random.default_rng(self.seed).integers(0, n, size=(self.n_boot, n))
        w = np.zeros((self.n_boot + 1, n))
        w[0] = 1
        np.add.at(w, (np.repeat(np.arange(1, self.n_boot + 1), n), idx.ravel()), 1)
        return w

    def _fid_reference(self) -> tuple:
        """``(mu, tr sigma, factor of sigma)`` of the reference, computed once."""
        from cfkit.evaluate.metrics.fid import sigma_factor

        if self._fid_ref is None:
            sigma = self.ref["sigma"]
            self._fid_ref = (self.ref["mu"], float(np.trace(sigma)), sigma_factor(sigma, self.ref.get("features")))
        return self._fid_ref

    def values(self, method: str, ids: list[str]) -> np.ndarray:
        """``[estimate, *one per resample]`` of ``method`` on ``ids``."""
        key = (method, tuple(ids))
        if key not in self._cache:
            feats = self.res.feature("inception", method)
            x = np.stack([feats[k] for k in ids]).astype(np.float64)
            w = self._counts(len(ids))
            if self.metric == "fid":
                mu2, tr2, b = self._fid_reference()
                xb = x @ b.T
                self._cache[key] = np.array([weighted_fid(x, xb, wi, mu2, tr2) for wi in w])
            else:
                self._cache[key] = _kid_less_ref(x, np.asarray(self.ref["features"], np.float64), w)
        return self._cache[key]

    def diff(self, a: str, b: str) -> dict:
        """``diff`` (a - b) on the common ids and its 95% percentile bootstrap CI, or a ``note`` why not."""
        fa, fb = self.res.feature("inception", a), self.res.feature("inception", b)
        ids = sorted(set(fa) & set(fb))
        if self.ref is None or (self.metric == "kid" and self.ref.get("features") is None):
            return {"n": len(ids), "diff": None, "ci": None, "p": None, "note": "no reference features"}
        if len(ids) < 2 or self.n_boot < 1:
            return {"n": len(ids), "diff": None, "ci": None, "p": None, "note": f"{len(ids)} common image(s)"}
        d = self.values(a, ids) - self.values(b, ids)
        lo, hi = np.quantile(d[1:], [ALPHA / 2, 1 - ALPHA / 2])
        return {
            "n": len(ids),
            "diff": float(d[0]),
            "ci": [float(lo), float(hi)],
            "p": None,
            "set_level": True,
            "resamples": self.n_boot,
            "note": "set-level: 95% bootstrap CI of the difference over the common images (no test)",
        }
