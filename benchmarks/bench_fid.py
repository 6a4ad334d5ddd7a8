"""FID feature extraction: cfkit vs ``python -m pytorch_fid`` on the same two folders, same weights, one run.

    python benchmarks/bench_fid.py [--photos 513] [--cartoons 500] [--dims 2048] [--workers 2]

Folder A = real photos from ../shared/data (FFHQ + CelebA thumbnails, 128 px); folder B = cartoon faces
(anime + bitmoji) resized to 128 px PNG (pytorch-fid batches need one size). Both tools load the same
seeded random-init Inception file from ``$TORCH_HOME`` (the official weights are not obtainable offline).
Prints images/s of each tool, their ratio, and the FID difference; cfkit is run cold (empty cache) and
warm (reference statistics cached by content hash, as in every later evaluation against that reference),
and with ``--exact`` also cold in cfkit's exact mode (pytorch-fid's network and scipy ``sqrtm`` bit for bit).
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

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

OURS = """
import json, sys
from cfkit.evaluate.api import fid_folders
r = fid_folders(sys.argv[1], sys.argv[2], fid_dims=int(sys.argv[3]), workers=int(sys.argv[4]), device="cpu",
                fid_exact=sys.argv[5] == "exact", cache=sys.argv[6] == "cache")
print(json.dumps({k: r[k] for k in ("fid", "n", "n_reference", "seconds", "extract_seconds", "images_decoded")}
                 | {"cached": r["reference"].get("cached")}))
"""


def build_folders(root: Path, n_photos: int, n_cartoons: int) -> tuple[Path, Path]:
    from PIL import Image

    from cfkit.imageio import list_images, load_rgb, save_png

    a, b = root / "photos", root / "cartoons"
    a.mkdir()
    b.mkdir()
    photos = [(p, "ffhq") for p in list_images(DATA / "photos" / "ffhq_thumbs128")]
    photos += [(p, "celeba") for p in list_images(DATA / "photos" / "celeba_face2bitmoji128")]
    for p, tag in photos[:n_photos]:
        (a / f"{tag}_{p.name}").symlink_to(p)
    cartoons = [(p, "anime") for p in list_images(DATA / "cartoons" / "anime_getchu64")]
    cartoons += [(p, "bitmoji") for p in list_images(DATA / "cartoons" / "bitmoji_kaggle384")]
    for p, tag in cartoons[:n_cartoons]:
        img = Image.fromarray(load_rgb(p)).resize((128, 128), Image.BILINEAR)
        save_png(b / f"{tag}_{p.stem}.png", __import__("numpy").asarray(img))
    return a, b


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its workers, stdout); CPU time is the fairer figure on a shared box."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=513)
    ap.add_argument("--cartoons", type=int, default=500)
    ap.add_argument("--dims", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--exact", action="store_true", help="also time cfkit's exact mode")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    from cfkit.evaluate.metrics.fid import frechet_distance, pytorch_fid_distance
    from cfkit.evaluate.testing import write_random_fid_weights

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a, b = build_folders(root, args.photos, args.cartoons)
        n = sum(1 for _ in a.iterdir()) + sum(1 for _ in b.iterdir())
        write_random_fid_weights(root / "torch", seed=0)
        env = {**os.environ, "TORCH_HOME": str(root / "torch"), "CFKIT_HOME": str(root / "cfkit")}
        print(f"folders: {a.name} {sum(1 for _ in a.iterdir())} images, {b.name} {sum(1 for _ in b.iterdir())}")
        print(f"cpus {os.cpu_count()}, dims {args.dims}, workers {args.workers}")

        t_ref, c_ref, out = timed(
            [
                sys.executable,
                "-m",
                "pytorch_fid",
                str(b),
                str(a),
                "--device",
                "cpu",
                "--dims",
                str(args.dims),
                "--num-workers",
                str(args.workers),
            ],
            env,
        )
        fid_ref = float(out.strip().split()[-1])
        cmd = [sys.executable, "-c", OURS, str(b), str(a), str(args.dims), str(args.workers)]
        t_cold, c_cold, out = timed([*cmd, "fast", "cache"], env)
        cold = json.loads(out.strip().splitlines()[-1])
        t_warm, c_warm, out = timed([*cmd, "fast", "cache"], env)
        warm = json.loads(out.strip().splitlines()[-1])
        if args.exact:
            t_exact, c_exact, out = timed([*cmd, "exact", "no-cache"], env)
            exact = json.loads(out.strip().splitlines()[-1])

        import numpy as np

        rng = np.random.default_rng(0)  # the Frechet step alone: pytorch-fid's sqrtm vs cfkit's eigenvalues
        f1, f2 = rng.random((cold["n"], args.dims)), rng.random((cold["n_reference"], args.dims))
        stats = (f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))
        t = time.perf_counter()
        pytorch_fid_distance(*stats)
        t_sqrtm = time.perf_counter() - t
        t = time.perf_counter()
        frechet_distance(*stats, f1, f2)
        t_eig = time.perf_counter() - t

    rows = [
        ("pytorch-fid (python -m pytorch_fid)", t_ref, c_ref, n, fid_ref),
        ("cfkit cold (empty cache)", t_cold, c_cold, cold["images_decoded"], cold["fid"]),
        ("cfkit warm (reference cached)", t_warm, c_warm, warm["images_decoded"], warm["fid"]),
    ]
    if args.exact:
        rows.append(("cfkit --exact cold", t_exact, c_exact, exact["images_decoded"], exact["fid"]))
    print(f"\n{'run':38s} {'wall s':>8s} {'CPU s':>8s} {'decoded':>8s} {'img/s*':>8s} {'FID':>14s} {'rel diff':>10s}")
    for name, t, c, k, v in rows:
        rel = abs(v - fid_ref) / abs(fid_ref)
        print(f"{name:38s} {t:8.1f} {c:8.1f} {k:8d} {n / t:8.2f} {v:14.8f} {rel:10.2e}")
    print(f"\n* img/s = images of both folders ({n}) / wall time, process start to FID printed")
    for tag, (_, t, c, _, _) in zip(("cold", "warm", "exact cold"), rows[1:], strict=False):
        print(f"ratio {tag:10s} cfkit/pytorch-fid throughput: wall {t_ref / t:.2f}x, CPU time {c_ref / c:.2f}x")
    print(f"Frechet step alone ({args.dims}-d): pytorch-fid sqrtm {t_sqrtm:.1f} s, cfkit eigenvalues {t_eig:.2f} s")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (2 cores shared: compare ratios, not times)")
    print(f"cfkit extraction only: cold {cold['extract_seconds']:.1f} s, warm {warm['extract_seconds']:.1f} s")


if __name__ == "__main__":
    main()
