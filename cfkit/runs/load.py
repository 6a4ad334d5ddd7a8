"""The one reader of a trained run: a run folder (its latest or best checkpoint) or a ``.pt`` file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfkit.errors import InputError
from cfkit.runs import checkpoint as ckpt

WEIGHTS = ("ema", "raw")


@dataclass(frozen=True)
class TrainedRun:
    """A training checkpoint's saved options and the network weights to load."""

    path: Path
    config: dict[str, Any]
    """The run's resolved options, as saved (``TrainOptions.from_saved`` reads them)."""
    nets: dict[str, dict]
    """Network name -> state dict: the chosen weights of every network the checkpoint holds."""


def load_run(
    run_or_ckpt: str | Path, method: str | None = None, prefer_best: bool = False, weights: str = "ema"
) -> TrainedRun:
    """The trained weights of a run folder (latest step, or ``best.pt`` with ``prefer_best``) or a checkpoint.

    ``weights="ema"``: the exponential moving averages where the run kept them, else the trained
    weights; ``"raw"``: always the trained weights. ``method``: the run must be of that method.
    """
    if weights not in WEIGHTS:
        raise InputError(f"--weights must be ema or raw (got {weights!r})")
    path = ckpt.find(run_or_ckpt, prefer_best)
    state = ckpt.load(path)
    if state.get("format") != ckpt.FORMAT:
        raise InputError(f"{path}: not a cfkit training checkpoint")
    config = state.get("config") or {}
    if method is not None and config.get("name") != method:
        raise InputError(f"{path}: not a {method} run (train one with: cfkit train {method})")
    averaged = state.get("ema", {}) if weights == "ema" else {}
    return TrainedRun(path, config, {**state["nets"], **averaged})
