"""Adam implementations on a method's real parameters: for-loop (torch's CPU default), foreach, fused.

    python benchmarks/bench_optimizer.py [--method cyclegan] [--size 128] [--width 1.0] [--steps 5] [--threads 1]

Builds the method's trainable networks (``build_networks`` at ``--size``/``--width``, the recipe's
hyper-parameters), gives every parameter a fixed random gradient and times ``optimizer.step()`` per
implementation (process CPU seconds, best of ``--steps``), in one run. Also prints how far each one's
weights are from the for-loop's after those steps (the implementations round differently).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

IMPLS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="cyclegan")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    method = METHODS.get(args.method)(resolve(args.method, overrides={"size": args.size, "width": args.width}), "cpu")
    params = [p for net in method.build_networks().values() for p in net.parameters() if p.requires_grad]
    grads = [torch.randn_like(p) for p in params]
    print(
        f"{args.method}: {len(params)} tensors, {sum(p.numel() for p in params) / 1e6:.1f} M parameters; torch "
        f"{torch.__version__}, threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    results = {}
    for name, kw in IMPLS.items():
        weights = [p.detach().clone().requires_grad_() for p in params]
        for w, g in zip(weights, grads, strict=True):
            w.grad = g
        opt = torch.optim.Adam(weights, lr=2e-4, betas=(0.5, 0.999), **kw)
        best = float("inf")
        for _ in range(args.steps):
            start = time.process_time()
            opt.step()
            best = min(best, time.process_time() - start)
        results[name] = (best, weights)
    base, ref = results["for-loop"]
    print(f"{'implementation':14} {'CPU ms/step':>11} {'vs for-loop':>11} {'max |w - w_for-loop|':>21}")
    for name, (t, weights) in results.items():
        diff = max(float((w - r).detach().abs().max()) for w, r in zip(weights, ref, strict=True))
        print(f"{name:14} {t * 1e3:11.1f} {base / t:10.2f}x {diff:21.2e}")


if __name__ == "__main__":
    main()
