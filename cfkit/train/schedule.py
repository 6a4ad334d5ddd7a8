"""The phase schedule: how many iterations each phase of a method gets, and where an iteration falls.

Each phase lasts ``epochs`` passes over domain A (or what the method's ``epoch_images`` says), i.e.
``round(epochs * len(A) / (batch * accum * world))`` iterations (at least 1), or its own ``iters`` when
the method counts iterations. ``iters`` (or ``epochs``) rescales all phases proportionally so that they
sum to that total; ``stop_at`` ends an invocation early (a checkpoint is written) so a later
``--resume`` continues the same run.
"""

from __future__ import annotations

import math

from cfkit.errors import CfkitError
from cfkit.train.config import TrainOptions
from cfkit.train.method import Phase

Plan = list[tuple[Phase, int]]
"""Each phase with its number of iterations, in order."""


def schedule(phases: list[Phase], n_epoch: int, options: TrainOptions, world: int) -> Plan:
    """Iterations of each phase (phases of zero length are dropped); ``n_epoch``: images per epoch."""
    phases = [p for p in phases if (p.iters or p.epochs) > 0]
    if not phases:
        raise CfkitError("the method's schedule is empty (every phase has 0 epochs)")
    per_epoch = n_epoch / (options.batch * options.accum * world)
    own = [  # the recipe's lengths in iterations; a phase with its own batch counts its epochs in it
        float(p.iters) if p.iters else p.epochs * per_epoch * options.batch / (p.batch or options.batch) for p in phases
    ]
    if options.iters:
        target = max(options.iters, len(phases))
        raw = [r / sum(own) * target for r in own]
    else:
        scale = options.epochs * per_epoch / sum(own) if options.epochs else 1.0
        raw = [r * scale for r in own]
    iters = [max(1, math.ceil(r - 1e-9) if p.round_up else round(r)) for p, r in zip(phases, raw, strict=True)]
    if options.iters:  # exact total: adjust the longest phase
        i = max(range(len(iters)), key=iters.__getitem__)
        iters[i] += target - sum(iters)
    return list(zip(phases, iters, strict=True))


def phase_at(plan: Plan, step: int) -> tuple[Phase, float]:
    """The phase of iteration ``step`` and the progress through it in [0, 1) (1.0 past the end)."""
    start = 0
    for phase, n in plan:
        if step < start + n:
            return phase, (step - start) / n
        start += n
    phase, _ = plan[-1]
    return phase, 1.0
