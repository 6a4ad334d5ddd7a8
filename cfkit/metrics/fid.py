"""FID with pytorch-fid's InceptionV3 features and its own ``calculate_frechet_distance``.

The 95% CI is a percentile bootstrap over the method's images (reference statistics fixed), using the
exact low-rank identity ``tr sqrt(S1 S2) = ||A1 B^T||_* / sqrt(n1 - 1)`` (A1 centred features,
S2 = B^T B) instead of a 2048x2048 ``sqrtm`` per resample.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from cfkit.metrics import METRICS, Metric
from cfkit.metrics._base import unavailable


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


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's value (its singular-product retry and imaginary-part check included, its print silenced)."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    with contextlib.redirect_stdout(io.StringIO()):
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def _sigma_factor(ref: dict) -> np.ndarray:
    """B with B^T B = sigma of the reference: centred features / sqrt(n-1), else from eigh(sigma)."""
    f = ref.get("features")
    if f is not None and len(f) >= 2:
        f = np.asarray(f, np.float64)
        return (f - f.mean(axis=0)) / np.sqrt(len(f) - 1)
    w, v = np.linalg.eigh(ref["sigma"])
    return (v * np.sqrt(np.clip(w, 0, None))).T


def fid_lowrank(x: np.ndarray, mu2: np.ndarray, tr2: float, b: np.ndarray) -> float:
    """FID of features ``x`` against (mu2, sigma2 = b^T b): ``|d|^2 + tr S1 + tr S2 - 2 ||A1 b^T||_*``."""
    mu1 = x.mean(axis=0)
    a = (x - mu1) / np.sqrt(len(x) - 1)
    d = mu1 - mu2
    return float(d @ d + (a * a).sum() + tr2 - 2 * np.linalg.svd(a @ b.T, compute_uv=False).sum())


def bootstrap_fid(x: np.ndarray, ref: dict, n_boot: int, seed: int) -> list[float] | None:
    if n_boot < 1 or len(x) < 2:
        return None
    b = _sigma_factor(ref)
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
        from cfkit.evaluate.inception import statistics

        bad, ids, x = inception_unavailable(ctx, 2, "FID")
        if bad:
            return bad
        ref = ctx.data.reference_stats
        mu, sigma = statistics(x)
        try:
            value = frechet_distance(mu, sigma, ref["mu"], ref["sigma"])
        except ValueError as e:  # pytorch-fid: large imaginary component of sqrtm
            return unavailable(f"FID undefined: {e}", n=len(ids))
        cfg = ctx.config
        return {
            "value": value,
            "ci": bootstrap_fid(x, ref, cfg.fid_bootstrap, cfg.seed),
            "n": len(ids),
            "n_reference": int(ref["n"]),
            "dims": cfg.fid_dims,
            "ci_kind": "percentile bootstrap over the method's images, reference fixed",
        }
