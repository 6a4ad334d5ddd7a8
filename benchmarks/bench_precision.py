"""bf16 autocast on CPU against fp32: do the loss curves of a short run stay the same, and how much faster is it?

    python benchmarks/bench_precision.py [--methods cyclegan,cartoongan] [--iters 120] [--size 64]
        [--width 0.25] [--batch 4] [--log-every 10] [--threads 1] [--modes bf16+cl,bf16]
        [--data bitmoji|known-answer] [--set METHOD:KEY=VALUE ...]

Each method trains ``--iters`` iterations through the real trainer (its whole schedule scaled to that
length) on the same real faces from ../shared/data (``bitmoji``: CelebA photos -> bitmoji; ``known-answer``:
FFHQ thumbnails -> the same photos through the fixed filter, with face masks and dlib's landmarks in both
domains, which cartoongan-mask, landmark-cyclegan and whitebox need; the reverse for cartoon -> photo
methods), with the same seed, once per mode: ``fp32`` (NCHW, the reference), ``fp32+cl``
(fp32 channels_last: only the order of the arithmetic changes, so its distance to the reference is the
*floor* -- how far two runs drift apart from rounding alone in a chaotic GAN) and each ``--modes`` candidate.
Per logged loss term (the mean over ``--log-every`` iterations): over the last half of the run, the mean of
``|x - x_fp32|`` divided by the mean of ``|x_fp32|`` (0.05 = the curves differ by 5 % of the loss's size),
the relative difference of the two last-half means, and whether any logged value was non-finite. The
speed ratio is fp32 CPU seconds per iteration over the candidate's, from the same run (at these small
sizes; ``bench_train_step.py`` gives the rates at 128 px and full width).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learning import PHOTOS, method_sets  # noqa: E402
from bench_train_step import DATA, MODES, _subset  # noqa: E402

REFERENCE, FLOOR = "fp32", "fp32+cl"


def loss_curves(name: str, mode: dict, args, data: tuple[Path, Path], out: Path) -> dict:
    """One short run: ``{"curves": {term: [mean per log interval]}, "cpu_s": per iteration, "bad": the
    trainer's error on a non-finite loss, or None}``."""
    from cfkit.errors import CfkitError
    from cfkit.nets.standins import OFFLINE  # offline stand-ins, asked for explicitly
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    over = {"data_a": str(data[0]), "data_b": str(data[1]), "out": str(out), "size": args.size, "batch": args.batch}
    over |= {"width": args.width, "device": "cpu", "iters": args.iters, "seed": args.seed, **mode}
    over["substitute"] = OFFLINE
    t = Trainer(resolve(name, overrides=over, sets=method_sets(args.set, name)))
    curves: dict[str, list[float]] = {}
    bad, cpu = None, 0.0
    while t.step < t.total and bad is None:
        start = time.process_time()
        t.train_step()
        cpu += time.process_time() - start if t.step > 1 else 0.0  # the first: one-off kernel setup
        if t.step % args.log_every == 0 or t.step == t.total:
            try:
                logs = t.flush_logs(None)
            except CfkitError as e:  # a non-finite loss: the run would stop here
                bad = str(e)
                continue
            for k, v in logs.items():
                curves.setdefault(k, []).append(v)
    return {"curves": curves, "cpu_s": cpu / max(t.step - 1, 1), "bad": bad}


def compare(ref: dict[str, list[float]], other: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """Per term logged by both: (mean |x - ref| / mean |ref|, relative difference of the means), last half."""
    out = {}
    for k in sorted(set(ref) & set(other)):
        n = min(len(ref[k]), len(other[k]))
        r, o = ref[k][n // 2 : n], other[k][n // 2 : n]
        scale = sum(abs(v) for v in r) / len(r) or 1.0
        mean_r, mean_o = sum(r) / len(r), sum(o) / len(o)
        out[k] = (sum(abs(a - b) for a, b in zip(o, r, strict=True)) / len(r) / scale, abs(mean_o - mean_r) / scale)
    return out


def report(name: str, runs: dict[str, dict], modes: list[str]) -> None:
    """One method's table: each candidate mode against fp32 (printed as soon as its runs are done)."""
    print(f"{'method':16} {'mode':8} {'speed vs fp32':>13} {'finite':>6}  worst term: |diff|/|fp32|, diff of means")
    ref = runs[REFERENCE]
    for tag in modes[1:]:
        r = runs[tag]
        diffs = compare(ref["curves"], r["curves"])
        worst = max(diffs, key=lambda k: diffs[k][0]) if diffs else None
        finite = r["bad"] is None  # the trainer's check: flush_logs raises on a non-finite mean
        summary = f"{worst} {diffs[worst][0]:.3f}, {diffs[worst][1]:.3f}" if worst else "-"
        print(f"{name:16} {tag:8} {ref['cpu_s'] / r['cpu_s']:12.2f}x {'yes' if finite else 'NO':>6}  {summary}")
        for k, (d, m) in diffs.items():
            print(f"{'':26} {k:28} {d:7.3f} {m:7.3f}")
    print(flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="cyclegan,cartoongan")
    ap.add_argument("--modes", default="bf16+cl", help="candidate modes of bench_train_step.MODES (CPU)")
    ap.add_argument("--iters", type=int, default=120)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--data", choices=("bitmoji", "known-answer"), default="bitmoji")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE or METHOD:KEY=VALUE recipe override")
    args = ap.parse_args()

    from cfkit.console import set_verbosity
    from cfkit.errors import CfkitError
    from cfkit.train.method import METHODS

    set_verbosity(quiet=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not DATA.is_dir():
        raise SystemExit(f"needs the real images in {DATA}")
    cpu_modes = MODES[False]
    modes = [REFERENCE, FLOOR, *(m for m in args.modes.split(",") if m not in (REFERENCE, FLOOR))]
    unknown = set(modes) - set(cpu_modes)
    if unknown:
        raise SystemExit(f"unknown modes {', '.join(sorted(unknown))}; choose from {', '.join(cpu_modes)}")
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.iters} iterations at {args.size} px, "
        f"width {args.width}, batch {args.batch}, {args.data} data, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.data == "known-answer":
            from cfkit.evaluate.known_answer import build_task

            task = build_task(PHOTOS, tmp / "task", size=args.size, landmarks=True)
            data = (task.a, task.b)
        else:
            data = (
                _subset(DATA / "photos" / "celeba_face2bitmoji128", tmp / "a", 64),
                _subset(DATA / "cartoons" / "bitmoji_kaggle384", tmp / "b", 64),
            )
        for name in args.methods.split(","):
            pair = data[::-1] if METHODS.get(name).direction.startswith("cartoon") else data
            runs = {}
            try:
                for tag in modes:
                    runs[tag] = loss_curves(name, cpu_modes[tag], args, pair, tmp / f"{name}-{tag}")
                    print(f"  {name} {tag}: {runs[tag]['cpu_s']:.3f} CPU s/iteration", flush=True)
            except CfkitError as e:  # a method this data or these options cannot train: say so, go on
                print(f"{name}: not run: {e}", flush=True)
                continue
            report(name, runs, modes)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
