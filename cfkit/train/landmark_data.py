"""Landmarks of a training domain, carried with its images through resize, crop and flip.

Read from a prepared dataset's manifest: ``lm5`` (the 5-point scheme, image-relative), or for
manifests written before it, dlib's ``landmarks68`` (pixels of the aligned image, whose side is
the ``size`` column) mapped with :func:`cfkit.geometry.scheme.from_dlib68`. Plain image folders have
none. Points follow :func:`cfkit.train.data.fit_square` (shorter side resized, centre crop).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cfkit.geometry import scheme
from cfkit.nets.landmarks import heatmaps, sigma_px


def fit_square_points(points: np.ndarray, h: int, w: int, size: int) -> np.ndarray:
    """Relative points of an ``h x w`` image -> relative points after :func:`fit_square` to ``size``."""
    if h == w:
        return points
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    y, x = (nh - size) // 2, (nw - size) // 2
    return ((points * [nw, nh]) - [x, y]) / size


def _row_points(row) -> np.ndarray | None:
    pts = scheme.from_lm5(row.get("lm5"))
    if pts is not None:
        return pts
    lm68 = row.get("landmarks68", row.get("landmarks"))
    if lm68 is None or np.size(lm68) != 136 or not row.get("size"):
        return None
    return scheme.from_lm5(scheme.to_lm5(scheme.from_dlib68(lm68), float(row["size"])))


def domain_landmarks(root: str | Path, ids: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(points ``N x 5 x 2`` relative at training ``size``, ok ``N``: 1 where the image has landmarks)."""
    root = Path(root)
    pts = np.zeros((len(ids), 5, 2), np.float32)
    ok = np.zeros(len(ids), np.float32)
    manifest = root / "manifest.parquet"
    if manifest.is_file():
        import pandas as pd
        from PIL import Image

        df = pd.read_parquet(manifest)
        rows = {str(r["id"]): r for r in df.to_dict("records")}
        for k, i in enumerate(ids):
            p = _row_points(rows.get(i, {}))
            if p is None:
                continue
            with Image.open(root / "images" / f"{i}.png") as im:
                w, h = im.size
            pts[k], ok[k] = fit_square_points(p, h, w, size), 1.0
    return torch.from_numpy(pts), torch.from_numpy(ok)


def flip_landmarks(points: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """Points of mirrored images (x -> 1 - x, eyes swapped); images without landmarks stay at 0."""
    return scheme.flip(points) * ok.view(-1, 1, 1)


def with_heatmaps(tensors: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
    """Add ``<d>_heat`` (``N x 5 x size x size``, zero for images without landmarks) for each ``<d>_lm``."""
    for key in [k[: -len("_lm")] for k in tensors if k.endswith("_lm")]:
        ok = tensors[f"{key}_lm_ok"].view(-1, 1, 1, 1)
        tensors[f"{key}_heat"] = heatmaps(tensors[f"{key}_lm"], size, sigma_px(size)) * ok
    return tensors
