"""pytorch-fid's InceptionV3 on cfkit-decoded images, feature statistics and their content-keyed cache.

Preprocessing is pytorch-fid's, split in two: :func:`to_inception_input` (``ToTensor`` then bilinear
resize to 299, per image, so it runs in decode workers) and the model's own ``2x - 1`` normalisation.
Features, their mean and covariance are computed exactly as ``pytorch_fid.fid_score`` does (float64).

The fast network (the default) is pytorch-fid's with each BatchNorm folded into its convolution and
channels_last memory (oneDNN's fastest CPU convolutions): features within ~1e-6 of the original.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from unittest import mock

import numpy as np

from cfkit.assets import asset_info, asset_path
from cfkit.fsutil import atomic_open, sha256_file
from cfkit.resources import cache_dir

FEATURE_VERSION = 1
"""Bump when decoding or preprocessing changes: invalidates cached statistics."""
SIZE = 299


def to_inception_input(rgb: np.ndarray):
    """``uint8 HxWx3`` -> ``float32 3x299x299`` in [0, 1], as pytorch-fid's ToTensor + resize."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(255)
    return F.interpolate(x[None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0]


def load_inception(dims: int = 2048, device: str = "cpu", exact: bool = False):
    """pytorch-fid's ``InceptionV3`` for ``dims`` with the ``fid-inception`` asset, and its provenance.

    ``exact`` keeps the network as pytorch-fid builds it; otherwise it is :func:`fast_inception`.

    pytorch-fid fetches its weights with ``load_state_dict_from_url``; that single call is pointed at
    the installed asset file so the network is built by pytorch-fid's own code.
    """
    from pytorch_fid import inception as pfi

    if dims not in pfi.InceptionV3.BLOCK_INDEX_BY_DIM:
        raise ValueError(f"fid_dims must be one of {sorted(pfi.InceptionV3.BLOCK_INDEX_BY_DIM)}")
    path = asset_path("fid-inception")
    rec = asset_info("fid-inception") or {}
    model = _build(dims, str(path), rec.get("sha256", ""), exact).to(device)
    provenance = {
        "network": "pytorch-fid" if exact else "pytorch-fid, BatchNorm folded, channels_last",
        "asset": "fid-inception",
        "file": str(path),
        "sha256": rec.get("sha256", ""),
        "official": bool(rec.get("official_hash", False)),
    }
    return model, provenance


class _ChannelsLast:
    """Calls a channels_last network with its input in channels_last memory."""

    def __init__(self, net):
        self.net = net

    def to(self, device):
        self.net.to(device)
        return self

    def __call__(self, x):
        import torch

        return self.net(x.contiguous(memory_format=torch.channels_last))


def fast_inception(model):
    """A copy of pytorch-fid's network with BatchNorm folded into the convolutions, in channels_last."""
    import copy

    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    for m in model.modules():  # torchvision's BasicConv2d: conv (no bias) -> bn -> relu
        if isinstance(getattr(m, "bn", None), torch.nn.BatchNorm2d):
            m.conv, m.bn = fuse_conv_bn_eval(m.conv, m.bn), torch.nn.Identity()
    return _ChannelsLast(model.to(memory_format=torch.channels_last))


@functools.lru_cache(maxsize=4)
def _build(dims: int, path: str, sha256: str, exact: bool):
    """The network for one weights file (keyed by its hash), built once per process."""
    import torch
    from pytorch_fid import inception as pfi

    def _load(*_args, **_kwargs):
        return torch.load(path, map_location="cpu", weights_only=True)

    with mock.patch.object(pfi, "load_state_dict_from_url", _load):
        model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[dims]], resize_input=False)
    return model.eval() if exact else fast_inception(model)


def forward_features(model, batch) -> np.ndarray:
    """pool features of a ``Bx3x299x299`` batch in [0, 1] -> float32 ``(B, dims)`` (pytorch-fid's reduction)."""
    import torch
    from torch.nn.functional import adaptive_avg_pool2d

    with torch.no_grad():
        pred = model(batch)[0]
    if pred.size(2) != 1 or pred.size(3) != 1:
        pred = adaptive_avg_pool2d(pred, output_size=(1, 1))
    return pred.squeeze(3).squeeze(2).cpu().numpy()


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
