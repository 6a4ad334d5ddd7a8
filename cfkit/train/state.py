"""A run's resumable state: what a checkpoint holds, and the checks before a run continues from one.

The state is everything a bit-for-bit resume needs (networks, EMA, optimizers, grad scalers, the data
streams' positions, every process's RNG states, step, best monitored value) plus the resolved options.
A resume is refused when a structural option differs (the networks would not load) and, unless
``override``, when an option that plans the run's data or schedule changed; a method's phase lengths
(its ``*_iters`` and ``*epochs`` hyper-parameters) plan the schedule, so they count as the latter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from cfkit.errors import InputError
from cfkit.runs import checkpoint as ckpt
from cfkit.train.data import IndexStream
from cfkit.train.distributed import gather
from cfkit.train.method import Method

# keys whose change makes a checkpoint incompatible with the current run
STRUCTURAL = ("name", "size", "width", "batch", "accum", "method", "ema", "substitute")
# keys whose change would silently re-plan a resumed run's data or schedule: refused unless ``override``
PLANNED = {"data_a": "--data-a", "data_b": "--data-b", "iters": "--iters", "epochs": "--epochs", "split": "--set split"}


@dataclass
class TrainState:
    """The live objects a checkpoint saves and restores (the trainer's, by reference)."""

    method: Method
    ema: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    scalers: dict[str, torch.amp.GradScaler]
    streams: dict[str, IndexStream]

    def state_dict(self, step: int, phase: str, config: dict[str, Any], best: float, world: int) -> dict[str, Any]:
        """The checkpoint's content (a collective under DDP: every process's RNG state is gathered)."""
        return {
            "format": ckpt.FORMAT,
            "step": step,
            "phase": phase,
            "config": config,
            "nets": {n: self.method.net(n).state_dict() for n in self.method.nets},
            "ema": {n: m.state_dict() for n, m in self.ema.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "streams": {k: s.state_dict() for k, s in self.streams.items()},
            "rng": gather(ckpt.rng_state(), world),
            "best": best,
        }

    def load_state_dict(self, state: dict[str, Any], rank: int, world: int) -> tuple[int, float]:
        """Restore everything from ``state`` (checked with :func:`check_resumable` first); (step, best)."""
        for n, sd in state["nets"].items():
            self.method.net(n).load_state_dict(sd)
        for n, sd in state["ema"].items():
            self.ema[n].load_state_dict(sd)
        for n, sd in state["optimizers"].items():
            self.optimizers[n].load_state_dict(sd)
        for n, sd in state["scalers"].items():
            self.scalers[n].load_state_dict(sd)
        for k, stream in self.streams.items():
            stream.load_state_dict(state["streams"][k])
        rngs = state["rng"]
        if len(rngs) != world:
            raise InputError(f"cannot resume: checkpoint has {len(rngs)} processes, this run has {world}")
        ckpt.set_rng_state(rngs[rank])
        return int(state["step"]), float(state["best"])


def _is_phase_length(key: str) -> bool:
    """Whether method hyper-parameter ``key`` is a phase length (it plans the schedule, builds nothing)."""
    return key.endswith(("_iters", "epochs"))


def check_resumable(old: dict[str, Any], now: dict[str, Any], override: bool, method: type[Method]) -> None:
    """One-line error where the run saved as ``old`` cannot continue with the options ``now`` (of ``method``)."""
    from cfkit.train.config import TrainOptions

    default = TrainOptions().to_dict()  # a key newer than the checkpoint's cfkit: its default then
    old_hp, now_hp = (asdict(method.hyper_parameters(c.get("method") or {}, saved=True)) for c in (old, now))
    lengths = [k for k in now_hp if _is_phase_length(k)]
    old_built, now_built = ({k: v for k, v in hp.items() if k not in lengths} for hp in (old_hp, now_hp))
    diff = [k for k in STRUCTURAL if k != "method" and old.get(k, default[k]) != now[k]]
    diff += ["method"] if old_built != now_built else []
    if diff:
        raise InputError(f"cannot resume: {', '.join(diff)} differ from the checkpoint's run (start a new --out)")
    changed = [(PLANNED[k], now[k], old.get(k)) for k in PLANNED if old.get(k) != now[k]]
    changed += [(f"--set method.{k}", now_hp[k], old_hp[k]) for k in lengths if old_hp[k] != now_hp[k]]
    if changed and not override:
        flag, value, was = changed[0]
        raise InputError(
            f"cannot resume: {flag} is {value!r}, the run was started with {was!r}; "
            "pass --override to re-plan the run with the new value"
        )
