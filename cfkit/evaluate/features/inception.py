"""pytorch-fid InceptionV3 pool features of outputs and reference images (FID, KID), batched on the main
process, and the reference set's statistics: from a pytorch-fid ``.npz``, a content-keyed cache, or the
reference images' features (then cached). Mean and covariance are computed as ``pytorch_fid.fid_score``
does (float64).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from cfkit.console import info
from cfkit.errors import CfkitError, InputError
from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.extract import Extracted, Item
from cfkit.evaluate.features import FEATURES
from cfkit.evaluate.features._base import OUTPUT, REFERENCE, Feature
from cfkit.fsutil import atomic_open, sha256_file
from cfkit.resources import cache_dir

FEATURE_VERSION = 1
"""Bump when decoding or preprocessing changes: invalidates cached statistics."""


@FEATURES.register("inception")
class InceptionFeatures(Feature):
    name = "inception"
    kinds = (OUTPUT, REFERENCE)

    def open(self, cfg, device):
        from cfkit.nets.inception import load_inception

        self.model, provenance = load_inception(cfg.fid_dims, device, cfg.fid_exact)
        self.device, self.batch_size, self.pending = device, cfg.batch_size, []
        return provenance

    def per_image(self, rgb, cfg):
        from cfkit.nets.inception import to_inception_input

        return to_inception_input(rgb)

    def add(self, key, values, store):
        self.pending += [(role, key, x) for role, x in values.items()]
        if len(self.pending) >= self.batch_size:
            self.flush(store)

    def flush(self, store):
        import torch

        from cfkit.nets.inception import forward_features

        if not self.pending:
            return
        feats = forward_features(self.model, torch.stack([x for _, _, x in self.pending]).to(self.device))
        for (role, key, _), f in zip(self.pending, feats, strict=True):
            store[role][key] = f
        self.pending = []


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) as ``pytorch_fid.fid_score.calculate_activation_statistics`` (float64)."""
    act = np.asarray(features, dtype=np.float64)
    return np.mean(act, axis=0), np.cov(act, rowvar=False)


def stats_key(files: list[Path], dims: int, weights_sha256: str) -> str:
    """Cache key: contents of every file (in order) + options + weights + preprocessing version."""
    h = hashlib.sha256()
    h.update(json.dumps({"dims": dims, "weights": weights_sha256, "version": FEATURE_VERSION}).encode())
    for f in files:
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def cached_stats_path(key: str) -> Path:
    return cache_dir("fid") / f"{key[:32]}.npz"


def save_stats(path: str | Path, features: np.ndarray, ids: list[str] | None = None) -> None:
    """pytorch-fid ``.npz`` (``mu``, ``sigma``) plus the float32 ``features`` KID needs and the ``ids``."""
    mu, sigma = statistics(features)
    extra = {"ids": np.array(ids)} if ids is not None else {}
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, mu=mu, sigma=sigma, features=np.asarray(features, dtype=np.float32), **extra)


def load_stats(path: str | Path) -> dict:
    """``{"mu", "sigma", "features" (or None)}`` from a pytorch-fid or cfkit ``.npz``."""
    with np.load(path) as f:
        return {
            "mu": f["mu"][:],
            "sigma": f["sigma"][:],
            "features": f["features"][:] if "features" in f.files else None,
        }


def npz_reference(path: Path, res: Extracted) -> dict:
    """Reference statistics from a pytorch-fid ``.npz`` into ``res``; their provenance."""
    if not path.is_file():
        raise InputError(f"reference statistics not found: {path}")
    stats = load_stats(path)
    res.reference_stats = {**stats, "n": len(stats["features"]) if stats["features"] is not None else 0}
    return {"path": str(path), "kind": "npz"}


def needs_reference_images(cfg: EvalConfig, files: dict[str, Path], res: Extracted, prov: dict) -> bool:
    """Whether the reference images must be decoded for their statistics: not when they are cached (loaded
    into ``res`` here; ``prov`` gains the cache key and file) nor when the weights are missing (the
    Inception load reports that)."""
    from cfkit.assets import asset_info, asset_path

    try:
        asset_path("fid-inception")  # fetched on first use
    except CfkitError:
        return False
    key = stats_key(list(files.values()), cfg.fid_dims, asset_info("fid-inception")["sha256"])
    cached = cached_stats_path(key)
    prov.update(cache_key=key, cache_file=str(cached))
    if cfg.cache and cached.is_file():
        stats = load_stats(cached)
        res.reference_stats = {**stats, "n": len(stats["features"])}
        prov["cached"] = True
        info(f"reference statistics from cache ({len(files)} images): {cached}")
        return False
    prov["cached"] = False
    return True


def reference_from_features(res: Extracted, ref_items: list[Item], ref_prov: dict, cfg: EvalConfig) -> None:
    """Reference statistics from freshly extracted features (cached for the next run)."""
    feats = res.feature("inception", REFERENCE)
    keys = [it.key for it in ref_items if it.key in feats]
    if not keys:
        return
    f = np.stack([feats[k] for k in keys])
    if cfg.cache and len(keys) == len(ref_items) and "cache_file" in ref_prov:
        save_stats(ref_prov["cache_file"], f, [k.split(":", 1)[1] for k in keys])
    mu, sigma = statistics(f)
    res.reference_stats = {"mu": mu, "sigma": sigma, "features": f, "n": len(keys)}
