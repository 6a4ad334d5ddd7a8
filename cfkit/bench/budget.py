"""A wall-time budget (``cfkit bench --seconds S``): the iterations each method gets so that its training
takes about ``S`` seconds.

Each phase of the method's schedule is timed on its own with the bench's options: one warm-up iteration,
then ``PROBE_STEPS`` timed ones at the phase's start. A schedule's cost per iteration is those costs
weighted by the phases' shares of it (the shares do not depend on the total), so the method gets
``floor(S / cost)`` iterations, at least one per phase. Start-up (data stores, networks, frozen
backbones) is not counted; it is recorded beside the costs. The probe trains networks that are then
dropped: no file is written.
"""

from __future__ import annotations

import time
from typing import Any

PROBE_STEPS = 3
NOMINAL_ITERS = 10_000
"""The total at which the schedule's phase shares are read (large enough that rounding does not move them)."""


def phase_costs(trainer) -> list[float]:
    """Seconds per iteration of each phase of ``trainer.plan``, in order (the trainer's state is spent)."""
    costs, start = [], 0
    for _, n in trainer.plan:
        trainer.step = start
        trainer.train_step()  # warm-up: first allocations, lazy set-up
        t0 = time.perf_counter()
        for _ in range(PROBE_STEPS):
            trainer.step = start
            trainer.train_step()
        costs.append((time.perf_counter() - t0) / PROBE_STEPS)
        start += n
    return costs


def iterations_for(seconds: float, plan, costs: list[float]) -> int:
    """Iterations of the schedule ``plan`` (phases with their lengths) that take ``seconds`` at ``costs``."""
    total = sum(n for _, n in plan)
    per_iter = sum(n * c for (_, n), c in zip(plan, costs, strict=True)) / total
    return max(len(plan), int(seconds / per_iter))


def probe(method: str, seconds: float, data_a: str, data_b: str, sets: dict[str, Any], **options: Any) -> dict:
    """Time ``method``'s phases and return the iterations it gets within ``seconds`` (for ``bench.json``)."""
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    t0 = time.perf_counter()
    cfg = resolve(method, None, {**options, "data_a": data_a, "data_b": data_b, "iters": NOMINAL_ITERS}, sets)
    trainer = Trainer(cfg)
    startup = time.perf_counter() - t0
    try:
        costs = phase_costs(trainer)
    finally:
        trainer.close()
    return {
        "iters": iterations_for(seconds, trainer.plan, costs),
        "s_per_iter": {p.name: round(c, 5) for (p, _), c in zip(trainer.plan, costs, strict=True)},
        "startup_s": round(startup, 3),
    }
