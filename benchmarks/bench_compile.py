"""``cfkit train --compile`` (``torch.compile`` of a method's trained networks) against eager, in one run.

    python benchmarks/bench_compile.py [--method cyclegan] [--size 128] [--width 0.25] [--amp off,auto]
                                       [--steps 8] [--cache DIR] [--threads 1]

Each configuration runs in a fresh process: a ``Trainer`` on the known-answer task of ../shared/data's FFHQ
thumbnails (built once in a temp folder), with ``compile: true`` (inductor) or not, then
one step (for compile: the compilation), two more, and ``--steps`` timed steps. Compiled runs go twice: with
an empty inductor cache and again with the cache the first one filled (``--cache``, default a temp folder),
which is what a second run on the same machine pays. Printed: the first step's seconds, the steady seconds
per step and their ratio to eager, and the iterations after which compiling has paid for itself.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "ffhq_thumbs128"

CHILD = """
import sys, time, torch
from cfkit.train.config import resolve
from cfkit.train.trainer import Trainer

method, task, size, width, amp, mode, steps = sys.argv[1:8]
torch.set_num_threads(int(sys.argv[8]))
options = {"data_a": f"{task}/A", "data_b": f"{task}/B", "size": int(size), "width": float(width), "iters": 1000,
           "out": f"{task}/never", "device": "cpu", "amp": amp, "substitute": {"vgg19": "vgg16", "lightcnn9": "vgg16"},
           "compile": mode == "compile"}
t = Trainer(resolve(method, None, options, {}))
t0 = time.perf_counter(); t.train_step(); first = time.perf_counter() - t0
t.train_step(); t.train_step()
t0 = time.perf_counter()
for _ in range(int(steps)):
    t.train_step()
print(f"RESULT {first:.3f} {(time.perf_counter() - t0) / int(steps):.4f}")
"""


def run(args, task: Path, amp: str, mode: str, cache: Path) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-c", CHILD, args.method, str(task), str(args.size), str(args.width), amp, mode]
    proc = subprocess.run([*cmd, str(args.steps), str(args.threads)], capture_output=True, text=True, env=env)
    found = re.search(r"RESULT (\S+) (\S+)", proc.stdout)
    if proc.returncode != 0 or not found:
        sys.exit(f"{mode} amp={amp} failed:\n{proc.stderr[-3000:]}")
    return float(found.group(1)), float(found.group(2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="cyclegan")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--amp", default="off,auto", help="precisions to compare (cfkit --amp values)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=None, help="inductor cache folder (default: a new temp folder)")
    args = ap.parse_args()
    if not PHOTOS.is_dir():
        sys.exit(f"needs {PHOTOS} (../shared/data is present in the project workspace)")
    from cfkit.evaluate.known_answer import build_task

    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        task = build_task(PHOTOS, Path(tmp) / "task", size=args.size).a.parent
        cache = args.cache or Path(tmp) / "inductor"
        load = os.getloadavg()[0]
        print(f"{args.method}, {args.size} px, width {args.width}, {args.threads} thread(s), load {load:.1f}")
        for amp in args.amp.split(","):
            _, eager = run(args, task, amp, "eager", cache)
            print(f"amp={amp:<5} eager: {eager:.3f} s/step", flush=True)
            for label in ("compile, cold cache", "compile, warm cache"):
                first, steady = run(args, task, amp, "compile", cache)
                gain = eager - steady
                pays = f"pays off after {first / gain:,.0f} iterations" if gain > 0 else "never pays off"
                print(
                    f"amp={amp:<5} {label}: first step {first:.1f} s, {steady:.3f} s/step, "
                    f"{eager / steady:.2f}x eager; {pays}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
