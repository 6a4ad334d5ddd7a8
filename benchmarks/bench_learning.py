"""Does each method learn? The known-answer task (cfkit.evaluate.known_answer) as a curve and a table.

    python benchmarks/bench_learning.py --methods cartoongan,cartoongan-mask,cyclegan,nst
                                        [--iters 300] [--size 64] [--width 0.5] [--points 4]
                                        [--photos DIR] [--n-test 16] [--out DIR] [--set METHOD:KEY=VALUE ...]
                                        [--override] [--landmarks] [--forward]

Domain A: real face photos (default ../shared/data/photos/ffhq_thumbs128, FFHQ-aligned); domain B: the
same photos through the fixed stylisation filter; ``--n-test`` photos are held out. Each method trains
through the real trainer (its recipe, at ``--size``/``--width``, ``--iters`` iterations rescaling the
recipe's phases) and is scored on the held-out photos at ``--points`` evenly spaced steps (the run stops
there with a checkpoint and resumes), against their known targets: L1 (pixels in [0, 1]) and
LPIPS-AlexNet, beside the copy-the-input baseline. The final table is what docs/train.md shows.
Cartoon -> photo methods (``direction`` "cartoon -> photo": cpgan) learn the reverse task, stylised photos
(A) -> photos (B), scored on the held-out stylised photos against the photos themselves; ``--forward``
trains them on the photo -> stylised task like every other method.
``--set nst:method.steps=100`` passes a recipe override to one method (``--set KEY=VALUE``: to all).
``--override`` continues the runs kept in ``--out`` with a larger ``--iters`` (the curve goes on);
``--landmarks`` gives the task dlib's landmarks (automatic for methods that always need them).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos" / "ffhq_thumbs128"


def method_sets(items: list[str], method: str) -> dict:
    """``--set`` items for ``method`` (``KEY=V`` for every method, ``METHOD:KEY=V`` for one)."""
    from cfkit.options import parse_assignments as parse_set

    mine = []
    for item in items:
        target, sep, rest = item.partition(":")
        if not sep or "=" in target:
            mine.append(item)
        elif target == method:
            mine.append(rest)
    return parse_set(mine)


def run_method(method: str, task, args, out: Path) -> list[dict]:
    from cfkit.evaluate.known_answer import score
    from cfkit.runs.checkpoint import latest, step_of
    from cfkit.train import train
    from cfkit.train.method import METHODS

    # cartoon -> photo methods (cpgan) learn the reverse task (stylised photos -> the photos) unless --forward
    reverse = METHODS.get(method).direction.startswith("cartoon") and not args.forward
    data_a, data_b = (task.b, task.a) if reverse else (task.a, task.b)
    points = sorted({max(1, round(args.iters * k / args.points)) for k in range(1, args.points + 1)})
    curve = []
    run = out / method
    if done := latest(run):  # a continued run (--override): only the points it has not reached
        points = [p for p in points if p >= step_of(done)]
    elapsed = 0.0
    for stop in points:
        t = time.perf_counter()
        from cfkit.nets.standins import OFFLINE  # offline stand-ins, asked for explicitly

        train(
            method,
            data_a,
            data_b,
            size=args.size,
            width=args.width,
            iters=args.iters,
            seed=args.seed,
            device="cpu",
            out=run,
            resume=True,
            override=args.override,
            log_every=10,
            sample_every=args.iters,
            ckpt_every=args.iters,
            stop_at=stop,
            set=method_sets(args.set, method),
            substitute=OFFLINE,
        )
        elapsed += time.perf_counter() - t
        s = score(run, task, reverse=reverse)
        curve.append({"method": method, "step": stop, "train_s": round(elapsed, 1), **s.as_dict()})
        print(
            f"  {method:16s} step {stop:5d}  L1 {s.l1:.4f} (copy {s.copy_l1:.4f})  "
            f"LPIPS {s.lpips:.4f} (copy {s.copy_lpips:.4f})  {elapsed:6.0f} s",
            flush=True,
        )
    return curve


def table(rows: list[dict]) -> str:
    """The final point of each method as a Markdown table (every method beside the copy baseline)."""
    lines = [
        "| method | iters | L1 to target | copy L1 | LPIPS to target | copy LPIPS | beats copy | train CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        beats = "yes" if r["l1"] < r["copy_l1"] and r["lpips"] < r["copy_lpips"] else "**no**"
        lines.append(
            f"| {r['method']} | {r['step']} | {r['l1']:.4f} | {r['copy_l1']:.4f} | {r['lpips']:.4f} | "
            f"{r['copy_lpips']:.4f} | {beats} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="cartoongan,cartoongan-mask,cyclegan,nst")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--points", type=int, default=4, help="evaluations along the run")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--n-test", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--filter",
        type=int,
        default=2,
        help="version of the task's stylisation filter (1: the tables of docs/train.md before 2026-12-07)",
    )
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    ap.add_argument("--out", type=Path, default=None, help="keep runs and the task here (default: a temp dir)")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE or METHOD:KEY=VALUE recipe override")
    ap.add_argument(
        "--override",
        action="store_true",
        help="continue runs in --out with a changed --iters (more points on the same curve)",
    )
    ap.add_argument(
        "--landmarks",
        action="store_true",
        help="give the task dlib's landmarks (automatic for methods that always need them)",
    )
    ap.add_argument(
        "--forward",
        action="store_true",
        help="train cartoon -> photo methods (cpgan) on the photo -> stylised task instead of its reverse",
    )
    args = ap.parse_args()

    import torch

    from cfkit.evaluate.known_answer import build_task
    from cfkit.train.method import METHODS

    torch.set_num_threads(args.threads)
    if not args.photos.is_dir():
        raise SystemExit(f"photos not found: {args.photos} (../shared/data is present in the project workspace)")
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        out = (args.out or Path(tmp)).resolve()
        methods = args.methods.split(",")
        landmarks = args.landmarks or any(METHODS.get(m).needs_landmarks for m in methods)
        task = build_task(
            args.photos,
            out / "task",
            size=args.size,
            n_test=args.n_test,
            seed=args.seed,
            landmarks=landmarks,
            filter=args.filter,
        )
        print(
            f"known-answer task: {args.photos} at {args.size} px, {args.n_test} held out, "
            f"filter version {task.filter}; "
            f"width {args.width}, {args.iters} iterations, {args.threads} threads, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        rows = []
        for method in methods:
            rows.append(run_method(method, task, args, out)[-1])
        print("\n" + table(rows))
        if args.out:
            (out / "bench_learning.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
