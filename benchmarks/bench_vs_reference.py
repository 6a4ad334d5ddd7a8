"""Training speed against the reference implementations: cfkit and the code users would otherwise run, one run.

    python benchmarks/bench_vs_reference.py [--lengths 1,2] [--repeats 3] [--threads 1] [--size 128]
        [--width 1.0] [--runners peer,default,fp32[,default+compile,fp32+compile]] [--cyclegan-peer PATH]
        [--model] [--dry-run]

CycleGAN: cfkit's ``cfkit train cyclegan`` against the official pytorch-CycleGAN-and-pix2pix ``train.py``
(``--cyclegan-peer``, default ``../shared/peers/pytorch-CycleGAN-and-pix2pix`` from the repository root,
run from its folder as ``../shared/peers/README.md`` says) on the same faces (FFHQ thumbnails -> bitmoji from
../shared/data), the same size, batch 1, the same networks and losses. Each runner is a fresh process
(``OMP_NUM_THREADS=--threads``, CPU only) trained for each of two lengths; the difference of the two
lengths' wall and CPU seconds (process and its children), divided by the difference of iterations, is
the cost of one iteration with start-up, data decoding and the final save cancelled. Runners take turns
within each repetition (so changing load falls on all of them); medians over ``--repeats``, with the spread
(min-max). Runners: ``peer`` (reference, fp32), ``default`` (cfkit as users get it: bf16 autocast on a CPU
with native bf16), ``fp32`` (cfkit ``--amp off``: the reference's arithmetic), and either with ``+compile``
(``cfkit train --compile``; the untimed warm-up fills a shared inductor cache, so each timed run compiles
warm, in seconds, and the difference of two lengths cancels that; ``--lengths 1,3`` keeps its noise
small). Ratios are reference /
cfkit seconds per iteration, by CPU time (the figure that holds on a shared CPU) and by wall time.

``--model`` adds cfkit's step-cost model (``bench_train_step.py``): FLOPs of one CycleGAN iteration and the
measured fp32 conv peak per CPU second, so each runner's CPU seconds per iteration become a utilisation
(how far any implementation of the same arithmetic could still go), and the same for CP-GAN and White-box,
whose authors' code does not run on today's stack (below).

CartoonGAN: the public PyTorch CartoonGAN (github.com/znxlwm/pytorch-CartoonGAN, MIT licence) hard-codes
its data layout relative to its working directory, pre-trains and edge-promotes before its first timed
iteration and loads VGG19 weights from a file; it is not in ``../shared/peers`` (read-only here) and is
not run: the output says how a user places it. CP-GAN's code (Python 2.7, torch 0.3) and White-box's
(TensorFlow 1) do not run on today's stack: the output points to the step-cost model.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PEERS = REPO.parent / "shared" / "peers"
PHOTOS, CARTOONS = "photos/ffhq_thumbs128", "cartoons/bitmoji_kaggle384"
RUNNERS = ("peer", "default", "fp32", "default+compile", "fp32+compile")
CARTOONGAN_PEER = (
    "CartoonGAN: the public PyTorch CartoonGAN (github.com/znxlwm/pytorch-CartoonGAN, MIT licence) is not "
    "run: it is not placed in ../shared/peers (read-only here), and it reads data/<name>/{train,test,pair} "
    "relative to its working directory, edge-promotes and pre-trains before its first adversarial "
    "iteration and needs a VGG19 weight file. To place it: git clone it into ../shared/peers/pytorch-CartoonGAN "
    "(its licence allows it) and compare by hand with `cfkit train cartoongan`."
)
SEED_CODE = (
    "CP-GAN (authors' code: Python 2.7, torch 0.3) and White-box cartoonization (authors' code: TensorFlow 1) "
    "do not run on today's stack: compared with cfkit's step-cost model instead (--model; bench_train_step.py)."
)


def peer_command(peer: Path, root: Path, out: Path, n: int, args) -> tuple[list[str], dict[str, str], Path]:
    """The official train.py for ``n`` iterations (one epoch of ``n`` images), as its README runs it;
    ``root``: the folder of ``data/``, ``out``: of this run's outputs."""
    ngf = str(max(1, round(64 * args.width)))
    cmd = [
        sys.executable,
        "train.py",
        "--dataroot",
        str(root / "data"),
        "--name",
        "bench",
        "--checkpoints_dir",
        str(out / f"peer-{n}"),
        "--model",
        "cycle_gan",
        "--load_size",
        str(args.size),
        "--crop_size",
        str(args.size),
        "--batch_size",
        "1",
        "--ngf",
        ngf,
        "--ndf",
        ngf,
        "--no_html",
        "--n_epochs",
        "1",
        "--n_epochs_decay",
        "0",
        "--max_dataset_size",
        str(n),
        "--print_freq",
        "1",
        "--num_threads",
        "0",
    ]
    return cmd, {"PYTHONPATH": "_shims"}, peer


def cfkit_command(runner: str, root: Path, out: Path, n: int, args) -> tuple[list[str], dict[str, str], Path]:
    cmd = [sys.executable, "-m", "cfkit", "train", "cyclegan", "--data-a", str(root / "data" / "trainA")]
    cmd += ["--data-b", str(root / "data" / "trainB"), "--size", str(args.size), "--batch", "1"]
    cmd += ["--width", str(args.width), "--iters", str(n), "--out", str(out / f"{runner}-{n}")]
    cmd += ["--amp", "off" if runner.startswith("fp32") else "auto"]
    cmd += ["--compile"] if runner.endswith("+compile") else []
    env = {"PYTHONPATH": str(REPO), "CFKIT_HOME": str(root / "cfkit-home")}
    return cmd, {**env, "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor")}, REPO


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed ({cwd}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def build_data(root: Path, n: int) -> None:
    """trainA = the first ``n`` FFHQ thumbnails, trainB = the first ``n`` bitmoji (symlinks)."""
    from cfkit.imageio import list_images

    for sub, src in (("trainA", PHOTOS), ("trainB", CARTOONS)):
        images = list_images(DATA / src)
        if len(images) < n:
            sys.exit(f"{DATA / src} has {len(images)} images; --lengths needs {n}")
        (root / "data" / sub).mkdir(parents=True)
        for p in images[:n]:
            (root / "data" / sub / p.name).symlink_to(p)


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.2f} ({min(xs):.2f}-{max(xs):.2f})"


def step_cost_model(args) -> dict[str, tuple[float, float]]:
    """{method: (GFLOP per iteration, cfkit fp32 CPU s per iteration)} and the fp32 conv peak, in-process."""
    sys.path.insert(0, str(Path(__file__).parent))
    import torch
    from bench_train_step import bench_method, measure_peak

    from cfkit.console import set_verbosity

    set_verbosity(quiet=True)
    torch.set_num_threads(args.threads)
    peak = measure_peak(torch.device("cpu"))
    ns = argparse.Namespace(size=args.size, width=args.width, steps=1, device="cpu")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = (Path(tmp) / "data" / "trainA", Path(tmp) / "data" / "trainB")
        build_data(Path(tmp), 8)
        for name in ("cyclegan", "cpgan", "whitebox"):
            pair = data[::-1] if name == "cpgan" else data
            r = bench_method(name, 1, ns, pair, Path(tmp) / name, {"amp": "off", "channels_last": False})
            out[name] = (r["flops"] / 1e9, r["cpu_s"])
        peak = {k: max(v, measure_peak(torch.device("cpu"))[k]) for k, v in peak.items()}
    return {"peak_cpu": peak["peak_cpu"] / 1e9, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="1,2", help="two run lengths in iterations; their difference is timed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every runner")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier (the peer's --ngf/--ndf 64 x it)")
    ap.add_argument("--runners", default=",".join(RUNNERS[:3]), help=f"some of {', '.join(RUNNERS)}")
    ap.add_argument("--cyclegan-peer", type=Path, default=PEERS / "pytorch-CycleGAN-and-pix2pix")
    ap.add_argument("--model", action="store_true", help="add the step-cost model (FLOPs, conv peak)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args()
    lengths = sorted({int(x) for x in args.lengths.split(",")})
    runners = args.runners.split(",")
    if len(lengths) != 2 or lengths[0] < 1:
        sys.exit("--lengths takes two different positive iteration counts, e.g. 1,2")
    if bad := set(runners) - set(RUNNERS):
        sys.exit(f"unknown runners {', '.join(sorted(bad))}; choose from {', '.join(RUNNERS)}")
    if "peer" in runners and not (args.cyclegan_peer / "train.py").is_file():
        sys.exit(
            f"no reference CycleGAN at {args.cyclegan_peer} (train.py missing): place "
            "github.com/junyanz/pytorch-CycleGAN-and-pix2pix there (see ../shared/peers/README.md) or pass "
            "--cyclegan-peer PATH, or leave it out with --runners default,fp32"
        )
    if not DATA.is_dir():
        sys.exit(f"needs the real images in {DATA}")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env["CUDA_VISIBLE_DEVICES"] = ""
    print(f"cpus {os.cpu_count()}, threads per runner {args.threads}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"CycleGAN, {args.size} px, batch 1, width {args.width}, {PHOTOS} -> {CARTOONS}; lengths {lengths}")
    print(f"reference: {args.cyclegan_peer.resolve()} (official train.py, fp32)")
    print(CARTOONGAN_PEER)
    print(SEED_CODE)

    def command(runner: str, root: Path, out: Path, n: int):
        if runner == "peer":
            return peer_command(args.cyclegan_peer.resolve(), root, out, n, args)
        return cfkit_command(runner, root, out, n, args)

    times: dict[str, list[tuple[float, float]]] = {r: [] for r in runners}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_data(root, lengths[1])
        if args.dry_run:
            for r in runners:
                cmd, extra, cwd = command(r, root, root, lengths[0])
                print(f"{r}: (cd {cwd} && {' '.join(f'{k}={v}' for k, v in extra.items())} {' '.join(cmd)})")
            return
        for r in runners:  # untimed warm-up: cfkit decodes its data store once, the page cache fills
            cmd, extra, cwd = command(r, root, root / "warm-up", 1)
            timed(cmd, {**env, **extra}, cwd)
        for rep in range(args.repeats):
            for r in runners:
                runs = []
                for n in lengths:
                    cmd, extra, cwd = command(r, root, root / f"rep{rep}", n)
                    runs.append(timed(cmd, {**env, **extra}, cwd))
                k = lengths[1] - lengths[0]
                times[r].append(((runs[1][0] - runs[0][0]) / k, (runs[1][1] - runs[0][1]) / k))
                print(
                    f"  repeat {rep + 1} {r}: {times[r][-1][0]:.2f} s wall, {times[r][-1][1]:.2f} CPU s per iteration"
                )
    model = step_cost_model(args) if args.model else None
    print(f"\n{'runner':34} {'wall s/iter':>20} {'CPU s/iter':>20} {'ratio CPU':>9} {'ratio wall':>10}")
    names = {"peer": "reference train.py (fp32)", "default": "cfkit default", "fp32": "cfkit --amp off (fp32)"}
    names |= {f"{r}+compile": f"{names[r]} --compile" for r in ("default", "fp32")}
    med = {r: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for r, t in times.items()}
    for r, t in times.items():
        ratio = ("", "")
        if "peer" in med and r != "peer":
            ratio = (f"{med['peer'][1] / med[r][1]:.2f}x", f"{med['peer'][0] / med[r][0]:.2f}x")
        wall, cpu = spread([w for w, _ in t]), spread([c for _, c in t])
        print(f"{names[r]:34} {wall:>20} {cpu:>20} {ratio[0]:>9} {ratio[1]:>10}")
    print("ratio = reference s/iteration / cfkit s/iteration (medians); goals: default >= 3x, fp32 >= 1.3x")
    print("wall differences of short runs carry the load's noise: CPU time is the figure on a shared CPU")
    if model:
        flops = model["cyclegan"][0]
        print(
            f"\nstep-cost model: fp32 conv peak {model['peak_cpu']:.1f} GFLOP per CPU second (threads {args.threads})"
        )
        print(f"cyclegan {flops:.1f} GFLOP per iteration; utilisation of the fp32 peak by CPU time:")
        for r in times:
            util = flops / med[r][1] / model["peak_cpu"]
            note = " (bf16 autocast where the CPU has it: its peak is about twice fp32's)" if r == "default" else ""
            print(f"  {names[r]:32} {util:6.1%}{note}")
        for name in ("cpgan", "whitebox"):
            g, c = model[name]
            util = g / c / model["peak_cpu"]
            print(f"{name}: {g:.1f} GFLOP per iteration, cfkit fp32 {c:.2f} CPU s, {util:.1%} of the peak")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (shared CPU: compare ratios, not seconds)")


if __name__ == "__main__":
    main()
