"""GPU check: every method through the real trainer with AMP + channels_last, then NCCL/DDP, in a few minutes.

    python benchmarks/bench_gpu_check.py [--methods a,b] [--batch 8] [--size 128] [--steps 10]

Per method (the list of ``bench_train_step.py``): fp32 and AMP (bf16, else fp16) + channels_last, steps/s
and utilisation against a matmul/conv peak measured in the same run at the matching precision, and
whether the losses stayed finite. Then ``torchrun --nproc_per_node min(2, GPUs)``: an NCCL all-reduce and
a few DDP training steps of the first method, steps/s per rank. Without a CUDA GPU it says so and exits 2.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_step import BENCH_METHODS, DATA, MODES, _subset, bench_method, measure_peak  # noqa: E402

DDP_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    import torch
    import torch.distributed as dist
    from cfkit.console import set_verbosity
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    set_verbosity(quiet=True)
    method, data_a, data_b, out, batch, size, steps = sys.argv[1:8]
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl")  # the trainer reuses it
    x = torch.full((1 << 20,), float(rank + 1), device="cuda")
    dist.all_reduce(x)
    assert float(x[0]) == world * (world + 1) / 2, "NCCL all_reduce gave a wrong sum"
    from cfkit.nets.standins import OFFLINE  # offline stand-ins, asked for explicitly

    t = Trainer(resolve(method, overrides=dict(data_a=data_a, data_b=data_b, out=out, batch=int(batch),
                                               size=int(size), device="cuda", iters=10_000, substitute=OFFLINE)))
    if world == 1:  # one GPU: wrap anyway so DDP's gradient hooks run over NCCL
        for n, net in t.method.nets.items():
            if any(p.requires_grad for p in net.parameters()):
                t.method.nets[n] = t.wrapped[n] = torch.nn.parallel.DistributedDataParallel(net, device_ids=[rank])
    t.step = sum(n for _, n in t.plan[:-1])
    t.train_step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(int(steps)):
        t.train_step()
    torch.cuda.synchronize()
    rate = int(steps) / (time.perf_counter() - start)
    print(f"rank {rank}/{world}: NCCL all_reduce ok, DDP {method} batch {batch}: {rate:.2f} steps/s", flush=True)
    dist.destroy_process_group()
    """
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(BENCH_METHODS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=10, help="timed iterations per configuration")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible (torch.cuda.is_available() is False): nothing to check on this machine")
        sys.exit(2)
    if not DATA.is_dir():
        sys.exit(f"needs the real images in {DATA}")
    from cfkit.console import set_verbosity

    set_verbosity(quiet=True)
    args.device = "cuda"
    device = torch.device("cuda")
    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    print(f"{torch.cuda.get_device_name()} x {torch.cuda.device_count()}, torch {torch.__version__}, AMP {half}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = (
            _subset(DATA / "photos" / "celeba_face2bitmoji128", tmp / "a", 64),
            _subset(DATA / "cartoons" / "bitmoji_kaggle384", tmp / "b", 64),
        )
        rows = []
        for name in args.methods.split(","):
            for tag, opts in MODES[True].items():
                r = bench_method(name, args.batch, args, data, tmp / f"{name}-{tag}", opts)
                peak = measure_peak(device, half if opts["amp"] != "off" else torch.float32)["peak"]
                rows.append((name, tag, r, r["achieved"] / peak))
                print(f"  {name} {tag}: {r['steps_per_s']:.2f} steps/s", flush=True)
        print(f"{'method':18} {'mode':6} {'steps/s':>8} {'img/s':>8} {'GFLOP/s':>9} {'util':>6} losses")
        for name, mode, r, util in rows:
            ok = "finite" if all(math.isfinite(v) for v in r["losses"].values()) else "NON-FINITE"
            print(
                f"{name:18} {mode:6} {r['steps_per_s']:8.2f} {r['images_per_s']:8.1f} "
                f"{r['achieved'] / 1e9:9.1f} {util:6.1%} {ok}"
            )
        nproc = min(2, torch.cuda.device_count())
        driver = tmp / "ddp_driver.py"
        driver.write_text(DDP_DRIVER)
        method = args.methods.split(",")[0]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(driver)]
        cmd += [method, str(data[0]), str(data[1]), str(tmp / "ddp"), str(args.batch), str(args.size), str(args.steps)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        print(proc.stdout.strip() or proc.stderr[-3000:])
        if proc.returncode != 0:
            sys.exit(f"DDP/NCCL check failed (exit {proc.returncode})")


if __name__ == "__main__":
    main()
