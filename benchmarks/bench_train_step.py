"""Training throughput per method: steps/s and achieved FLOP/s against a measured peak of the same machine.

    python benchmarks/bench_train_step.py
        [--methods cartoongan,cartoongan-mask,cyclegan,cpgan,landmark-cyclegan,whitebox] [--batches 1,2,4]
        [--size 128] [--steps 3] [--width 1.0] [--threads N]

Each method runs through the real trainer (``cfkit.train.trainer.Trainer``: its optimizers, loss terms,
DDP-free single process) on real faces from ../shared/data (CelebA photos -> bitmoji; the reverse for
cartoon -> photo methods such as cpgan), timing iterations of its *last* phase (the adversarial one;
CartoonGAN's content-only initialisation is skipped; landmark-cyclegan's stage II with its local
discriminators, where the plain folders' missing landmarks come from its regressors). Model
FLOPs per iteration (forward + backward of every network, frozen VGG included) are counted with
``torch.utils.flop_counter.FlopCounterMode`` on the (untimed) warm-up iteration. The peak is measured in the same run:
the best of a large fp32 matmul and a large 3x3 conv2d (forward) with torch, measured before and after
every configuration (the best measurement stands: other processes on a shared CPU only lower it).
Utilisation = achieved / peak.
White-box cartoonization computes superpixels in worker processes beside each step: its rows also say how
long the superpixels of one batch take (in-process, the CPU they cost) and how long the step waited for
them (the part that is not hidden), both as shares of the step.
On CUDA each method also runs with AMP (bf16, else fp16) + channels_last, against the matching peak.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
BENCH_METHODS = ("cartoongan", "cartoongan-mask", "cyclegan", "cpgan", "landmark-cyclegan", "whitebox")
"""Methods benchmarked by default (here and in bench_gpu_check.py): a new method is one more entry."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_rate(fn, flops: float, device: torch.device, repeats: int = 5) -> float:
    fn()  # warm-up (kernel selection, allocation)
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return flops / best


def measure_peak(device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """FLOP/s of a large matmul and of a large 3x3 conv2d (the models' dominant op) on ``device``."""
    n = 4096 if device.type == "cuda" else 1536
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    mm = _best_rate(lambda: a @ b, 2 * n**3, device)
    batch, ch, hw = (32, 256, 64) if device.type == "cuda" else (4, 128, 64)
    x = torch.randn(batch, ch, hw, hw, device=device, dtype=dtype)
    conv = torch.nn.Conv2d(ch, ch, 3, padding=1, bias=False).to(device, dtype)
    if device.type == "cuda":
        x, conv = x.to(memory_format=torch.channels_last), conv.to(memory_format=torch.channels_last)
    with torch.no_grad():
        cv = _best_rate(lambda: conv(x), 2 * batch * ch * ch * 9 * hw * hw, device)
    return {"matmul": mm, "conv": cv, "peak": max(mm, cv)}


def _subset(src: Path, dst: Path, n: int) -> Path:
    from cfkit.imageio import list_images

    dst.mkdir(parents=True)
    for p in list_images(src)[:n]:
        (dst / p.name).symlink_to(p)
    return dst


class _TimedPool:
    """Wraps whitebox's superpixel pool: seconds the caller was blocked waiting for results."""

    def __init__(self, pool):
        self.pool, self.waited, self.last = pool, 0.0, None

    def submit(self, images):
        self.last = images
        pending = self.pool.submit(images)
        outer = self

        class _Pending:
            def result(self):
                t = time.perf_counter()
                out = pending.result()
                outer.waited += time.perf_counter() - t
                return out

        return _Pending()


def _superpixel_share(t, steps: int, step_s: float) -> dict[str, float]:
    """Blocked wait per step and the in-process cost of one batch's superpixels, as shares of a step."""
    from cfkit.nets.superpixel import SuperpixelPool

    timed = t.method.pool
    inline = SuperpixelPool(0, timed.pool.method, timed.pool.n_segments)
    start = time.perf_counter()
    inline.submit(timed.last).result()
    cost = time.perf_counter() - start
    return {"sp_cost": cost / step_s, "sp_wait": timed.waited / steps / step_s}


def bench_method(name: str, batch: int, args, data: tuple[Path, Path], out: Path, amp: bool) -> dict[str, float]:
    from torch.utils.flop_counter import FlopCounterMode

    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    over = {
        "data_a": str(data[0]),
        "data_b": str(data[1]),
        "out": str(out),
        "size": args.size,
        "batch": batch,
        "width": args.width,
        "device": args.device,
        "amp": "auto" if amp else "off",
        "channels_last": amp,
        "iters": 10_000,
    }
    t = Trainer(resolve(name, overrides=over))
    t.step = sum(n for _, n in t.plan[:-1])  # the last (adversarial) phase
    phase = t.phase_at(t.step)[0].name
    with FlopCounterMode(display=False) as counter:  # also the warm-up iteration
        t.train_step()
    flops = counter.get_total_flops()
    if name == "whitebox":
        t.method._pool = _TimedPool(t.method.pool)  # workers already started by the warm-up
    _sync(t.device)
    start = time.perf_counter()
    for _ in range(args.steps):
        t.train_step()
    _sync(t.device)
    rate = args.steps / (time.perf_counter() - start)
    losses = {k: float(v) / t._logn for k, v in t._logsum.items()}  # mean of every logged term
    out = {
        "phase": phase,
        "steps_per_s": rate,
        "images_per_s": rate * batch,
        "flops": flops,
        "achieved": flops * rate,
        "losses": losses,
    }
    if name == "whitebox":
        out.update(_superpixel_share(t, args.steps, 1 / rate))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(BENCH_METHODS))
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=3, help="timed iterations per configuration")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    from cfkit.console import set_verbosity
    from cfkit.train.method import METHODS
    from cfkit.train.trainer import pick_device

    set_verbosity(quiet=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if not DATA.is_dir():
        raise SystemExit(f"needs the real images in {DATA}")
    methods = [m for m in args.methods.split(",") if m in METHODS]
    skipped = sorted(set(args.methods.split(",")) - set(methods))
    modes = [False, True] if device.type == "cuda" else [False]
    half = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    peaks = {amp: measure_peak(device, half if amp else torch.float32) for amp in modes}
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f} (other processes share the CPU: compare utilisations, not rates)"
    )
    if skipped:
        print(f"not registered (skipped): {', '.join(skipped)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = (
            _subset(DATA / "photos" / "celeba_face2bitmoji128", tmp / "a", 32),
            _subset(DATA / "cartoons" / "bitmoji_kaggle384", tmp / "b", 32),
        )
        for name in methods:
            pair = data[::-1] if METHODS.get(name).direction.startswith("cartoon") else data
            for amp in modes:
                for batch in map(int, args.batches.split(",")):
                    r = bench_method(name, batch, args, pair, tmp / f"{name}-{amp}-{batch}", amp)
                    rows.append((name, amp, batch, r))
                    mode = "amp" if amp else "fp32"
                    print(f"  {name} {mode} batch {batch}: {r['steps_per_s']:.3f} steps/s", flush=True)
                    # the peak again after each run: other processes depress single measurements, the best stands
                    for a, p in measure_peak(device, half if amp else torch.float32).items():
                        peaks[amp][a] = max(peaks[amp][a], p)
    for amp, p in peaks.items():
        tag = "amp" if amp else "fp32"
        print(f"best peak {tag}: matmul {p['matmul'] / 1e9:.1f} GFLOP/s, conv3x3 {p['conv'] / 1e9:.1f} GFLOP/s")
    print(
        f"{'method':16} {'mode':6} {'batch':>5} {'phase':12} {'steps/s':>8} {'img/s':>7} "
        f"{'GFLOP/step':>10} {'GFLOP/s':>8} {'util':>6}"
    )
    for name, amp, batch, r in rows:
        util = r["achieved"] / peaks[amp]["peak"]
        print(
            f"{name:16} {'amp+cl' if amp else 'fp32':6} {batch:5d} {r['phase']:12} "
            f"{r['steps_per_s']:8.3f} {r['images_per_s']:7.2f} {r['flops'] / 1e9:10.1f} "
            f"{r['achieved'] / 1e9:8.1f} {util:6.1%}"
        )
    for name, amp, batch, r in rows:
        if "sp_cost" in r:
            print(
                f"{name} {'amp+cl' if amp else 'fp32'} batch {batch}: superpixels of one batch cost "
                f"{r['sp_cost']:.1%} of a step in-process; the step waited {r['sp_wait']:.1%} for the worker pool"
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
