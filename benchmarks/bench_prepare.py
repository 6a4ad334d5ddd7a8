"""``cfkit prepare folder`` throughput with 1 and 2 worker processes, same images, one run.

    python benchmarks/bench_prepare.py [--n 64] [--workers 1,2]

Images: FFHQ thumbnails (128 px) from ../shared/data. Each run starts from an empty output folder
(detection, alignment, dlib landmarks, quality, dedupe, manifest and card: the whole command);
wall time from process start, so model loading is included, as a user sees it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "ffhq_thumbs128"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    from cfkit.imageio import list_images

    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, {args.n} FFHQ thumbnails")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for p in list_images(DATA)[: args.n]:
            (src / p.name).symlink_to(p)
        for w in map(int, args.workers.split(",")):
            out = Path(tmp) / f"out{w}"
            cmd = [sys.executable, "-m", "cfkit", "-q", "prepare", "folder", "--src", str(src), "--out", str(out)]
            t = time.perf_counter()
            proc = subprocess.run([*cmd, "--workers", str(w)], capture_output=True, text=True)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                sys.exit(proc.stderr[-2000:])
            kept = len(list((out / "images").glob("*.png")))
            print(f"workers {w}: {wall:6.1f} s, {args.n / wall:5.2f} images/s ({kept} faces kept)", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
