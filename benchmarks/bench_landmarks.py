"""Landmark regressor accuracy on held-out faces of prepared datasets, against their manifest labels.

    python benchmarks/bench_landmarks.py --data /tmp/anime --regressor runs/lm-anime [--data ... --regressor ...]

For each dataset: the rows not in the ``train`` split that have ``lm5`` (dlib on photos, animeface on
cartoons) are the test set. Prints NME (mean point error / labelled inter-ocular distance) of the
regressor, of the "mean face" baseline (the train rows' mean points for every face: what a
regressor that ignores the image scores on aligned faces), per point, and how many faces reach
the acceptance peak that ``prepare``/``eval`` use. Numbers go to docs/landmarks.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cfkit.faces.locate import MIN_PEAK
from cfkit.geometry.scheme import NAMES, from_lm5
from cfkit.imageio import load_rgb
from cfkit.nets.landmarks import load_regressor
from cfkit.train.data import to_float


def nme_per_point(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, 5) point errors / each face's labelled inter-ocular distance."""
    iod = np.linalg.norm(truth[:, 0] - truth[:, 1], axis=1, keepdims=True)
    return np.linalg.norm(pred - truth, axis=2) / iod


def evaluate(data: Path, run: Path) -> dict:
    df = pd.read_parquet(data / "manifest.parquet")
    df = df.assign(pts=[from_lm5(v) for v in df["lm5"]])
    df = df[df["pts"].notna()]
    train, test = df[df["split"] == "train"], df[df["split"] != "train"]
    truth = np.stack(test["pts"].to_list())
    mean_face = np.stack(train["pts"].to_list()).mean(0)
    net = load_regressor(run)
    images = [torch.from_numpy(load_rgb(data / "images" / f"{i}.png")).permute(2, 0, 1) for i in test["id"]]
    x = to_float(torch.stack(images))
    with torch.no_grad():
        pred, peaks = net.locate(x)
    err = nme_per_point(pred.numpy(), truth)
    base = nme_per_point(np.broadcast_to(mean_face, truth.shape), truth)
    return {
        "data": data.name,
        "test faces": len(test),
        "regressor NME": err.mean(),
        "mean-face NME": base.mean(),
        "accepted": float((peaks.mean(1) >= MIN_PEAK).float().mean()),
        **{f"NME {n}": v for n, v in zip(NAMES, err.mean(0), strict=True)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--regressor", type=Path, action="append", required=True)
    args = ap.parse_args()
    rows = [evaluate(d, r) for d, r in zip(args.data, args.regressor, strict=True)]
    table = pd.DataFrame(rows).set_index("data").T
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
