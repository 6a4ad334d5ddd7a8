"""Evaluation at scale: peak memory and throughput of ``run_eval`` against the number of images, per metric.

    python benchmarks/bench_eval_scale.py [--counts 500,2000,10000] [--metrics fid,kid,lpips,...]
                                          [--per-metric 200] [--reference 200] [--workers 2] [--size 128]

Images: the 513 face photos of ../shared/data (FFHQ + CelebA thumbnails) cycled into N distinct sources
(random crop of 88-100 % of the face, flip, brightness; resized to ``--size``), a method "blur" of their
Gaussian-blurred copies (the sources are also the ``--targets``), and a fixed reference of ``--reference``
anime faces; written once into a temp folder. FID/KID load seeded random-init weights written where
pytorch-fid looks (``$TORCH_HOME``, as the tests do: the official weights are not obtainable offline), so
the values are not real FIDs but the work is the real network's. Each N runs ``run_eval`` in its own
process (reference statistics cached by a priming run first, so every N pays only for its own images); a
sampler adds up the RSS of that process and its decode workers every 50 ms. Per-metric throughput: each
default metric alone at ``--per-metric`` ids. Memory is flat when the peak grows by no more than the
per-image results that are O(N) by design (the Inception features: float32 in the store plus the float64
copy FID/KID take, 24 KiB per output) plus ``--tolerance`` of the smallest N's peak.
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
INCEPTION_BYTES = 2048 * (4 + 8)
"""Per output image, by design: its pool3 features in the store (float32) and FID/KID's float64 stack."""

CHILD = """
import json, os, sys, threading, time
from pathlib import Path

peak = [0]

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0

def children(pid):
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(k) for k in kids] + [g for k in kids for g in children(int(k))]

def sample():
    me = os.getpid()
    while True:
        peak[0] = max(peak[0], rss_kib(me) + sum(rss_kib(c) for c in children(me)))
        time.sleep(0.05)

threading.Thread(target=sample, daemon=True).start()
from cfkit.console import set_verbosity
from cfkit.evaluate.api import run_eval
set_verbosity(quiet=True)
source, blur, reference, out, metrics, n, workers = sys.argv[1:8]
t = time.perf_counter()
doc = run_eval(methods=[f"blur={blur}"], source=source, reference=reference, targets=source, out=out,
               metrics=metrics.split(","),
               max_images=int(n), workers=int(workers), device="cpu")
wall = time.perf_counter() - t
time.sleep(0.1)
import resource
values = {m: r["value"] for m, r in doc["metrics"]["blur"].items()}
main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # a peak between two samples counts too
print(json.dumps({"wall": wall, "peak_kib": max(peak[0], main), "main_kib": main,
                  "decoded": doc["timing"]["images_decoded"], "values": values, "unavailable": doc["unavailable"]}))
"""


def face_photos() -> list[Path]:
    from cfkit.imageio import list_images

    return list_images(DATA / "photos" / "ffhq_thumbs128") + list_images(DATA / "photos" / "celeba_face2bitmoji128")


def make_sets(root: Path, n: int, n_ref: int, size: int) -> tuple[Path, Path, Path]:
    """``source/`` (N jittered faces), ``blur/`` (their blurred copies, same ids), ``reference/`` (anime)."""
    import cv2

    from cfkit.imageio import list_images, load_rgb, save_png

    dirs = [root / d for d in ("source", "blur", "reference")]
    for d in dirs:
        d.mkdir(parents=True)
    photos = [load_rgb(p) for p in face_photos()[:n]]
    rng = np.random.default_rng(0)
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        s = int(min(h, w) * rng.uniform(0.88, 1.0))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        crop = cv2.resize(img[y : y + s, x : x + s], (size, size), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.clip(crop * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)
        save_png(dirs[0] / f"img{i:06d}.png", crop)
        save_png(dirs[1] / f"img{i:06d}.png", cv2.GaussianBlur(crop, (0, 0), 1.5))
    for p in list_images(DATA / "cartoons" / "anime_getchu64")[:n_ref]:
        (dirs[2] / p.name).symlink_to(p)
    return dirs[0], dirs[1], dirs[2]


def run_child(sets, out: Path, metrics: str, n: int, workers: int, env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, sets), str(out), metrics, str(n), str(workers)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"run_eval failed at N={n} ({metrics}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def per_metric(sets, tmp: Path, n: int, workers: int, env: dict) -> None:
    """Each default metric alone at ``n`` ids: its throughput, peak memory and value."""
    from cfkit.evaluate.metrics import default_metrics

    print(f"\nper metric alone, {n} ids (process start excluded, model load included)")
    print(f"{'metric':20} {'wall s':>8} {'ids/s':>7} {'peak MB':>8}  value")
    for m in default_metrics():
        r = run_child(sets, tmp / f"alone-{m}", m, n, workers, env)
        value = r["values"][m]
        shown = f"{value:.6g}" if value is not None else "unavailable: " + str(r["unavailable"])[:60]
        print(f"{m:20} {r['wall']:8.1f} {n / r['wall']:7.2f} {r['peak_kib'] / 1024:8.0f}  {shown}", flush=True)


def scale(sets, tmp: Path, counts: list[int], metrics: str, workers: int, tolerance: float, env: dict) -> None:
    """All ``metrics`` together at each N: peak memory, wall time, and whether the peak is flat in N."""
    print(f"\n{'N':>6} {'peak MB':>8} {'main MB':>8} {'wall s':>8} {'ids/s':>7} {'load':>5}  metrics: {metrics}")
    rows = []
    for n in counts:
        r = run_child(sets, tmp / f"out{n}", metrics, n, workers, env)
        rows.append((n, r))
        print(
            f"{n:6d} {r['peak_kib'] / 1024:8.0f} {r['main_kib'] / 1024:8.0f} {r['wall']:8.1f} "
            f"{n / r['wall']:7.2f} {os.getloadavg()[0]:5.1f}",
            flush=True,
        )
    if len(rows) < 2:
        return
    (n0, r0), (n1, r1) = rows[0], rows[-1]
    by_design = (n1 - n0) * INCEPTION_BYTES / 2**20 if {"fid", "kid"} & set(metrics.split(",")) else 0.0
    growth = (r1["peak_kib"] - r0["peak_kib"]) / 1024
    beyond = growth - by_design
    base = r0["peak_kib"] / 1024
    print(
        f"memory {'flat' if beyond <= tolerance * base else 'NOT flat'}: peak {n0} -> {n1} ids grew {growth:.0f} MB; "
        f"O(N) by design (Inception features) {by_design:.0f} MB; beyond that {beyond:.0f} MB "
        f"({100 * beyond / base:.1f} % of the peak at {n0}, allowed {100 * tolerance:.0f} %)"
    )


def main() -> None:
    from cfkit.evaluate.metrics import default_metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="500,2000,10000")
    ap.add_argument("--metrics", default=",".join(default_metrics()), help="of the runs at each N")
    ap.add_argument("--per-metric", type=int, default=200, help="ids for each metric alone (0: skip)")
    ap.add_argument("--reference", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--tolerance", type=float, default=0.15, help="allowed growth beyond the O(N) by design")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    from cfkit.evaluate.testing import write_random_fid_weights

    counts = sorted(map(int, args.counts.split(",")))
    metrics = args.metrics.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        sets = make_sets(tmp / "data", max(counts + [args.per_metric]), args.reference, args.size)
        write_random_fid_weights(tmp / "torch", seed=0)
        home = tmp / "cfkit"
        home.mkdir()
        shared_assets = Path(os.environ.get("CFKIT_HOME", Path.home() / ".cache" / "cfkit")) / "assets"
        if shared_assets.is_dir():
            (home / "assets").symlink_to(shared_assets)  # dlib, alexnet, ...; the FID cache stays in tmp
        env = {**os.environ, "TORCH_HOME": str(tmp / "torch"), "CFKIT_HOME": str(home), "PYTHONPATH": str(REPO)}
        print(f"images written in {time.perf_counter() - t:.0f} s: {max(counts)} sources + blurred copies, ")
        print(f"{args.size} px; reference {args.reference} anime faces; workers {args.workers}; cpus {os.cpu_count()}")
        if {"fid", "kid"} & set(metrics):
            run_child(sets, tmp / "prime", "fid", 2, args.workers, env)  # reference statistics into the cache
        if args.per_metric:
            per_metric(sets, tmp, args.per_metric, args.workers, env)
        scale(sets, tmp, counts, args.metrics, args.workers, args.tolerance, env)
    print(f"\nload average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 shared cores)")


if __name__ == "__main__":
    main()
