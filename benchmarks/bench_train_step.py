"""Training throughput per method: steps/s and achieved FLOP/s against a measured peak of the same machine.

    python benchmarks/bench_train_step.py
        [--methods cartoongan,cartoongan-mask,cyclegan,cpgan,landmark-cyclegan,whitebox] [--batches 1,2,4]
        [--size 128] [--steps 3] [--width 1.0] [--threads N] [--modes default,fp32,bf16+cl,...]

Each method runs through the real trainer (``cfkit.train.trainer.Trainer``: its optimizers, loss terms,
DDP-free single process) on real faces from ../shared/data (CelebA photos -> bitmoji; the reverse for
cartoon -> photo methods such as cpgan), timing iterations of its *last* phase (the adversarial one;
CartoonGAN's content-only initialisation is skipped; landmark-cyclegan's stage II with its local
discriminators, where the plain folders' missing landmarks come from its regressors). Model
FLOPs per iteration (forward + backward of every network, frozen VGG included) are counted with
``torch.utils.flop_counter.FlopCounterMode`` on the (untimed) warm-up iteration. The peak is measured in the same run:
the best of a large fp32 matmul and a large 3x3 conv2d (forward) with torch, measured before and after
every configuration (the best measurement stands: other processes on a shared CPU only lower it).
Utilisation = achieved / peak; ``util/CPU-s`` divides FLOPs per process CPU second by the peak's FLOPs per
CPU second, which holds on a CPU shared with other processes (wall-clock rates fall with their load), as
do ``CPU-s/step`` (process CPU seconds per iteration: the speed ratio of two modes at one thread).
Modes (``MODES``): on CPU the trainer's defaults, fp32 and bf16 autocast, each NCHW and channels_last; on
CUDA fp32 and AMP (bf16, else fp16) + channels_last; each against the peak of its precision.
White-box cartoonization computes superpixels in worker processes beside each step: its rows also say how
long the superpixels of one batch take (in-process, the CPU they cost) and how long the step waited for
them (the part that is not hidden), both as shares of the step.
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
MODES = {
    False: {
        "default": {},
        "fp32": {"amp": "off", "channels_last": False},
        "fp32+cl": {"amp": "off", "channels_last": True},
        "bf16": {"amp": "bf16", "channels_last": False},
        "bf16+cl": {"amp": "bf16", "channels_last": True},
    },
    True: {"fp32": {"amp": "off", "channels_last": False}, "amp+cl": {"amp": "auto", "channels_last": True}},
}
"""Trainer options compared per method, on CPU (False) and CUDA (True); ``default`` is what users get
(``--modes`` picks some)."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_rate(fn, flops: float, device: torch.device, repeats: int = 5) -> tuple[float, float]:
    """(FLOP per wall second, FLOP per process CPU second), each from its best repeat."""
    fn()  # warm-up (kernel selection, allocation)
    _sync(device)
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return flops / wall, flops / max(cpu, 1e-9)


def measure_peak(device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """FLOP/s of a large matmul and of a large 3x3 conv2d (the models' dominant op; best of NCHW and
    channels_last) on ``device``; ``*_cpu``: the same per process CPU second."""
    n = 4096 if device.type == "cuda" else 1536
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    mm, mm_cpu = _best_rate(lambda: a @ b, 2 * n**3, device)
    batch, ch, hw = (32, 256, 64) if device.type == "cuda" else (4, 128, 64)
    cv = cv_cpu = 0.0
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(batch, ch, hw, hw, device=device, dtype=dtype).contiguous(memory_format=fmt)
        conv = torch.nn.Conv2d(ch, ch, 3, padding=1, bias=False).to(device, dtype, memory_format=fmt)
        with torch.no_grad():
            w, c = _best_rate(lambda conv=conv, x=x: conv(x), 2 * batch * ch * ch * 9 * hw * hw, device)
        cv, cv_cpu = max(cv, w), max(cv_cpu, c)
    return {"matmul": mm, "conv": cv, "peak": max(mm, cv), "peak_cpu": max(mm_cpu, cv_cpu)}


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


def bench_method(name: str, batch: int, args, data: tuple[Path, Path], out: Path, mode: dict) -> dict[str, float]:
    """One method at one batch size; ``mode``: trainer options (``amp``, ``channels_last``), {} = defaults."""
    from torch.utils.flop_counter import FlopCounterMode

    from cfkit.nets.standins import OFFLINE  # offline stand-ins, asked for explicitly
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
        "iters": 10_000,
        "substitute": OFFLINE,
        **mode,
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
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        t.train_step()
    _sync(t.device)
    rate = args.steps / (time.perf_counter() - start)
    cpu = (time.process_time() - cpu) / args.steps
    losses = {k: float(v) / t.log.count for k, v in t.log.sums.items()}  # mean of every logged term
    out = {
        "phase": phase,
        "steps_per_s": rate,
        "images_per_s": rate * batch,
        "flops": flops,
        "achieved": flops * rate,
        "achieved_cpu": flops / max(cpu, 1e-9),
        "cpu_s": cpu,
        "amp": {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(t.dtype, "fp32"),
        "channels_last": t.channels_last,
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
    ap.add_argument("--modes", default="", help="comma-separated names of MODES (default: all of the device's)")
    args = ap.parse_args()

    from cfkit.console import set_verbosity
    from cfkit.train.method import METHODS
    from cfkit.train.runtime import pick_device

    set_verbosity(quiet=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if not DATA.is_dir():
        raise SystemExit(f"needs the real images in {DATA}")
    methods = [m for m in args.methods.split(",") if m in METHODS]
    skipped = sorted(set(args.methods.split(",")) - set(methods))
    modes = MODES[device.type == "cuda"]
    if args.modes:
        unknown = set(args.modes.split(",")) - set(modes)
        if unknown:
            raise SystemExit(f"unknown modes {', '.join(sorted(unknown))}; choose from {', '.join(modes)}")
        modes = {k: v for k, v in modes.items() if k in args.modes.split(",")}
    half = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    dtypes = {
        tag: half
        if opts.get("amp", "auto") != "off" and (device.type == "cuda" or opts.get("amp") == "bf16")
        else torch.float32
        for tag, opts in modes.items()
    }
    peaks = {dt: measure_peak(device, dt) for dt in set(dtypes.values())}
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
            for tag, opts in modes.items():
                for batch in map(int, args.batches.split(",")):
                    r = bench_method(name, batch, args, pair, tmp / f"{name}-{tag}-{batch}", opts)
                    rows.append((name, tag, batch, r))
                    print(f"  {name} {tag} batch {batch}: {r['steps_per_s']:.3f} steps/s", flush=True)
                    # the peak again after each run: other processes depress single measurements, the best stands
                    for k, v in measure_peak(device, dtypes[tag]).items():
                        peaks[dtypes[tag]][k] = max(peaks[dtypes[tag]][k], v)
    for dt, p in peaks.items():
        print(
            f"best peak {str(dt).replace('torch.', '')}: matmul {p['matmul'] / 1e9:.1f} GFLOP/s, conv3x3 "
            f"{p['conv'] / 1e9:.1f} GFLOP/s; per CPU second {p['peak_cpu'] / 1e9:.1f} GFLOP"
        )
    print(
        f"{'method':16} {'mode':8} {'precision':9} {'batch':>5} {'phase':12} {'steps/s':>8} {'img/s':>7} "
        f"{'GFLOP/step':>10} {'GFLOP/s':>8} {'util':>6} {'util/CPU-s':>10} {'CPU-s/step':>10}"
    )
    for name, tag, batch, r in rows:
        p = peaks[dtypes[tag]]
        prec = r["amp"] + ("+cl" if r["channels_last"] else "")
        print(
            f"{name:16} {tag:8} {prec:9} {batch:5d} {r['phase']:12} "
            f"{r['steps_per_s']:8.3f} {r['images_per_s']:7.2f} {r['flops'] / 1e9:10.1f} "
            f"{r['achieved'] / 1e9:8.1f} {r['achieved'] / p['peak']:6.1%} {r['achieved_cpu'] / p['peak_cpu']:10.1%} "
            f"{r['cpu_s']:10.2f}"
        )
    for name, tag, batch, r in rows:
        if "sp_cost" in r:
            print(
                f"{name} {tag} batch {batch}: superpixels of one batch cost "
                f"{r['sp_cost']:.1%} of a step in-process; the step waited {r['sp_wait']:.1%} for the worker pool"
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
