"""``cfkit prepare folder`` throughput with 1 and 2 worker processes, same images, one run.

    python benchmarks/bench_prepare.py [--n 64] [--workers 1,2]

Images: the face photos of ../shared/data at 128 px (113 FFHQ thumbnails, then 400 CelebA crops; up to
513), the first ``--n``. Each run starts from an empty output folder
(detection, alignment, dlib landmarks, quality, dedupe, manifest and card: the whole command);
wall time from process start, so model loading is included, as a user sees it. Each run also prints where
its workers' time went per image (``prepare``'s stage clock: decode, detect, align, landmarks, quality, mask,
write) and what the stages leave of the wall time (start-up: imports, models, spawning workers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
DATA = [PHOTOS / "ffhq_thumbs128", PHOTOS / "celeba_face2bitmoji128"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    if not all(d.is_dir() for d in DATA):
        sys.exit(f"needs {' and '.join(map(str, DATA))}")
    from cfkit.imageio import list_images
    from cfkit.stageclock import stage_summary

    files = [p for d in DATA for p in list_images(d)][: args.n]
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, {len(files)} face photos (128 px)")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for k, p in enumerate(files):
            (src / f"{k:04d}{p.suffix}").symlink_to(p)
        for k, w in enumerate(map(int, args.workers.split(","))):
            out = Path(tmp) / f"out{k}"  # a new folder each run: an existing one would be resumed
            cmd = [sys.executable, "-m", "cfkit", "-q", "prepare", "folder", "--src", str(src), "--out", str(out)]
            t = time.perf_counter()
            proc = subprocess.run([*cmd, "--workers", str(w)], capture_output=True, text=True)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                sys.exit(proc.stderr[-2000:])
            kept = len(list((out / "images").glob("*.png")))
            print(f"workers {w}: {wall:6.1f} s, {len(files) / wall:5.2f} images/s ({kept} faces kept)", flush=True)
            (journal,) = (out / "journal").glob("*/seconds.json")
            seconds = json.loads(journal.read_text())
            busy = sum(seconds.values())
            print(f"  per image in the workers: {stage_summary(seconds, len(files))}")
            print(f"  in the stages {busy:.1f} worker-s; the rest of the wall time x workers: {wall * w - busy:.1f} s")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
