"""FID with pytorch-fid's InceptionV3 features; the Frechet distance without a 2048-d ``sqrtm``.

``tr sqrt(S1 S2)`` is the sum of square roots of the eigenvalues of the symmetric ``A S2 A^T`` for any
factor ``A^T A = S1``: the centred features / sqrt(n - 1) when there are fewer images than dimensions
(an n x n problem), else ``A = diag(sqrt(w)) V^T`` from ``eigh(S1)``. This agrees with pytorch-fid's
``calculate_frechet_distance`` (``scipy.linalg.sqrtm``, kept as ``exact=True``) to ~1e-6 relative and
is tens of times faster. The 95% CI is a percentile bootstrap over the method's images (reference
statistics fixed) with the same identity per resample.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from cfkit.evaluate.features.inception import statistics
from cfkit.evaluate.metrics import METRICS
from cfkit.evaluate.metrics._base import Metric, unavailable


def method_features(ctx) -> tuple[list[str], np.ndarray | None]:
    feats = ctx.feature("inception")
    ids = [k for k in ctx.ids if k in feats]
    return ids, (np.stack([feats[k] for k in ids]).astype(np.float64) if ids else None)


def inception_unavailable(ctx, min_images: int, metric: str) -> tuple[dict | None, list, np.ndarray | None]:
    """(reason-dict or None, ids, features) shared by FID and KID."""
    if ctx.data.reference_stats is None:
        return unavailable(ctx.data.unavailable.get("reference", "no reference images")), [], None
    ids, x = method_features(ctx)
    if len(ids) < min_images:
        return unavailable(f"{metric} needs >= {min_images} images (got {len(ids)})", n=len(ids)), ids, x
    return None, ids, x


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's value (its singular-product retry and imaginary-part check included, its print silenced)."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    with contextlib.redirect_stdout(io.StringIO()):
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def sigma_factor(sigma: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
    """``A`` with ``A^T A = sigma``: centred features / sqrt(n - 1) when they have fewer rows than
    dimensions (``sigma`` must be their ``np.cov``), else from ``eigh(sigma)``."""
    if features is not None and 2 <= len(features) <= sigma.shape[0]:
        f = np.asarray(features, np.float64)
        return (f - f.mean(axis=0)) / np.sqrt(len(f) - 1)
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))).T


def trace_sqrt_product(a: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrt(S1 S2)`` for ``S1 = a^T a``: eigenvalues of the symmetric ``a S2 a^T``."""
    ev = np.linalg.eigvalsh(a @ sigma2 @ a.T)
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, features1=None, features2=None, exact: bool = False) -> float:
    """FID of two Gaussians; ``features`` (the rows behind a sigma) make it cheaper when few.

    ``exact`` is pytorch-fid's own ``calculate_frechet_distance`` (scipy ``sqrtm``), bit for bit.
    """
    if exact:
        return pytorch_fid_distance(mu1, sigma1, mu2, sigma2)
    rows = [len(f) if f is not None else np.inf for f in (features1, features2)]
    if rows[1] < rows[0]:  # factor the side with fewer rows
        mu1, sigma1, features1, mu2, sigma2 = mu2, sigma2, features2, mu1, sigma1
    a = sigma_factor(sigma1, features1)
    d = np.asarray(mu1, np.float64) - mu2
    return float(d @ d + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(a, sigma2))


def fid_lowrank(x: np.ndarray, mu2: np.ndarray, tr2: float, b: np.ndarray) -> float:
    """FID of features ``x`` against (mu2, sigma2 = b^T b): ``|d|^2 + tr S1 + tr S2 - 2 ||A1 b^T||_*``."""
    mu1 = x.mean(axis=0)
    a = (x - mu1) / np.sqrt(len(x) - 1)
    d = mu1 - mu2
    return float(d @ d + (a * a).sum() + tr2 - 2 * np.linalg.svd(a @ b.T, compute_uv=False).sum())


def bootstrap_fid(x: np.ndarray, ref: dict, n_boot: int, seed: int) -> list[float] | None:
    if n_boot < 1 or len(x) < 2:
        return None
    b = sigma_factor(ref["sigma"], ref.get("features"))
    tr2 = float(np.trace(ref["sigma"]))
    rng = np.random.default_rng(seed)
    vals = [fid_lowrank(x[rng.integers(0, len(x), len(x))], ref["mu"], tr2, b) for _ in range(n_boot)]
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return [float(lo), float(hi)]


@METRICS.register("fid")
class FID(Metric):
    name = "fid"
    label = "FID"
    needs = ("inception",)
    per_image = False

    def compute(self, ctx):
        bad, ids, x = inception_unavailable(ctx, 2, "FID")
        if bad:
            return bad
        ref, cfg = ctx.data.reference_stats, ctx.config
        mu, sigma = statistics(x)
        try:
            value = frechet_distance(mu, sigma, ref["mu"], ref["sigma"], x, ref.get("features"), cfg.fid_exact)
        except ValueError as e:  # pytorch-fid: large imaginary component of sqrtm
            return unavailable(f"FID undefined: {e}", n=len(ids))
        return {
            "value": value,
            "ci": bootstrap_fid(x, ref, cfg.fid_bootstrap, cfg.seed),
            "n": len(ids),
            "n_reference": int(ref["n"]),
            "dims": cfg.fid_dims,
            "frechet": "pytorch-fid sqrtm" if cfg.fid_exact else "eigenvalues (tr sqrt(S1 S2))",
            "ci_kind": "percentile bootstrap over the method's images, reference fixed",
        }
