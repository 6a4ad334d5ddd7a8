"""``cfkit mask``: (re)compute ``masks/<id>.png`` of a prepared dataset with a registered method."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cfkit.console import info, track
from cfkit.curate.pipeline import write_parquet
from cfkit.errors import InputError
from cfkit.fsutil import safe_ids

BATCH = 64


def make_masks(dataset: str | os.PathLike, method: str = "landmarks", checkpoint: str | None = None) -> int:
    """Write a mask per manifest row; uses the manifest's 68 points, else measures them. Returns the count."""
    from cfkit.curate.maskers import make_masker
    from cfkit.imageio import load_rgb, save_png

    dataset = Path(dataset)
    manifest = dataset / "manifest.parquet"
    if not manifest.is_file():
        raise InputError(f"{dataset} is not a prepared dataset (no manifest.parquet); run cfkit prepare first")
    masker = make_masker(method, checkpoint)
    df = pd.read_parquet(manifest)
    if "id" not in df.columns:
        raise InputError(f"{manifest}: no 'id' column")
    df["id"] = safe_ids(df["id"], str(manifest))
    lm_model = None
    rows = list(df.iterrows())
    for start in track(range(0, len(rows), BATCH), f"mask ({method})", unit="batch"):
        images, lms = [], []
        for _, row in rows[start : start + BATCH]:
            rgb = load_rgb(dataset / "images" / f"{row['id']}.png")
            lm = row.get("landmarks68")
            lm = None if lm is None or len(lm) != 136 else np.asarray(lm, np.float32).reshape(68, 2)
            if lm is None and method == "landmarks" and row.get("detector") == "scrfd":
                if lm_model is None:
                    from cfkit.faces.landmarks import Landmarks68

                    lm_model = Landmarks68()
                lm = lm_model.detect(rgb, assume_aligned=True)
            images.append(rgb)
            lms.append(lm)
        for (_, row), mask in zip(rows[start : start + BATCH], masker(images, lms), strict=True):
            save_png(dataset / "masks" / f"{row['id']}.png", mask)
    df["mask"] = method
    write_parquet(manifest, df)
    info(f"{len(df)} masks ({method}) written to {dataset / 'masks'}")
    return len(df)
