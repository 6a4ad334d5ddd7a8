"""Training peak memory against dataset size: synthetic domains of N images, a few CycleGAN steps.

    python benchmarks/bench_train_memory.py [--counts 1000,50000] [--size 64] [--baseline /work/main]

For each N: a folder of N random 64 px PNGs used as both domains; a child process builds a
``Trainer`` (width 0.25, batch 4) and runs 3 iterations; its peak RSS (``ru_maxrss``) is printed for
the first run (decoding into the on-disk store) and a second one (store reused). ``--baseline DIR``
runs the same child against another checkout (e.g. one that holds domains in memory) side by side.
``--prebuilt N,..`` writes those counts' stores directly from the generated pixels (the bytes decoding
would give: lossless PNGs at the training size) and runs only the second kind, where decoding N images
would take too long on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys, time
from cfkit.console import set_verbosity
from cfkit.train.config import resolve
from cfkit.train.trainer import Trainer
set_verbosity(quiet=True)
data, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
t = Trainer(resolve("cyclegan", overrides=dict(data_a=data, data_b=data, out=out, size=size, width=0.25, batch=4,
                                                iters=100, device="cpu")))
t1 = time.perf_counter()
for _ in range(3):
    t.train_step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, t1 - t0, time.perf_counter() - t1)
"""


def make_images(root: Path, n: int, size: int, store_home: Path | None = None) -> Path:
    """N random PNGs (RGB crops of one noise image); with ``store_home`` also their decoded store there."""
    import cv2

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size * 2, size * 2, 3), np.uint8)
    crops = rng.integers(0, size, (n, 2))
    for i, (y, x) in enumerate(crops):
        cv2.imwrite(str(root / f"img{i:06d}.png"), base[y : y + size, x : x + size, ::-1])
    if store_home is not None:
        os.environ["CFKIT_HOME"] = str(store_home)
        from cfkit.imageio import list_images
        from cfkit.train.data import STORE_VERSION
        from cfkit.train.store import build_store, source_key

        key = source_key(list_images(root), size=size, channels=3, version=STORE_VERSION)
        chw = base.transpose(2, 0, 1)
        build_store(
            key,
            n,
            (3, size, size),
            lambda i: chw[:, crops[i, 0] : crops[i, 0] + size, crops[i, 1] : crops[i, 1] + size].copy(),
            "store",
        )
    return root


def run_child(checkout: Path, data: Path, out: Path, size: int, home: Path) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "CFKIT_HOME": str(home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(out), str(size)],
        capture_output=True,
        text=True,
        env=env,
        cwd=checkout,
    )
    if proc.returncode != 0:
        sys.exit(proc.stderr[-2000:])
    rss, setup, steps = map(float, proc.stdout.split()[-3:])
    return rss, setup, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1000,50000")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--baseline", default="", help="another checkout to run side by side")
    ap.add_argument("--prebuilt", default="", help="counts whose store is written directly (second run only)")
    args = ap.parse_args()
    checkouts = [("this", REPO)] + ([("baseline", Path(args.baseline))] if args.baseline else [])
    print(
        f"load average {os.getloadavg()[0]:.1f}; cyclegan width 0.25, batch 4, {args.size} px, both domains = N images"
    )
    print(
        f"{'checkout':9} {'images':>7} {'decoded MB':>10} {'run':6} {'peak RSS MB':>11} {'setup s':>8} {'3 steps s':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prebuilt = {int(c) for c in args.prebuilt.split(",") if c}
        for n in map(int, args.counts.split(",")):
            home_pre = tmp / f"home-this-{n}" if n in prebuilt else None
            data = make_images(tmp / f"data{n}", n, args.size, home_pre)
            decoded = n * 3 * args.size**2 / 2**20
            for tag, checkout in checkouts if n not in prebuilt else checkouts[:1]:
                home = tmp / f"home-{tag}-{n}"
                for run in ("second",) if n in prebuilt else ("first", "second"):
                    rss, setup, steps = run_child(checkout, data, tmp / f"out-{tag}-{n}-{run}", args.size, home)
                    print(f"{tag:9} {n:7d} {decoded:10.0f} {run:6} {rss:11.0f} {setup:8.1f} {steps:9.1f}", flush=True)


if __name__ == "__main__":
    main()
