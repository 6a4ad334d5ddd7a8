"""Atomic checkpoints in ``RUN/ckpt/``: ``step-XXXXXXXX.pt`` (last ``keep``) and ``best.pt``.

A checkpoint holds everything a bit-for-bit resume needs: network, EMA, optimizer and grad
scaler states, every rank's RNG states (torch CPU/CUDA, numpy, random), the data stream
positions, the step and the resolved config. It loads with ``weights_only=True`` (tensors and
plain containers only: no pickled code).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cfkit.errors import InputError
from cfkit.fsutil import atomic_open, atomic_write_text

FORMAT = "cfkit-train-1"
"""The ``format`` entry of a training checkpoint."""
_STEP = re.compile(r"^step-(\d{8})\.pt$")


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "random": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, key, *rest = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["random"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def ckpt_dir(run: str | Path) -> Path:
    return Path(run) / "ckpt"


def step_checkpoints(run: str | Path) -> list[Path]:
    d = ckpt_dir(run)
    return sorted(p for p in d.glob("step-*.pt") if _STEP.match(p.name)) if d.is_dir() else []


def step_of(path: str | Path) -> int:
    """The step of a ``step-NNNNNNNN.pt`` checkpoint, from its name."""
    m = _STEP.match(Path(path).name)
    if m is None:
        raise ValueError(f"{path}: not a step checkpoint")
    return int(m.group(1))


def latest(run: str | Path) -> Path | None:
    ckpts = step_checkpoints(run)
    return ckpts[-1] if ckpts else None


def save(run: str | Path, state: dict[str, Any], step: int, keep: int, best: bool = False) -> Path:
    """Write ``step-<step>.pt`` atomically, prune to the last ``keep``, copy to ``best.pt`` if ``best``."""
    path = ckpt_dir(run) / f"step-{step:08d}.pt"
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)
    for old in step_checkpoints(run)[:-keep]:
        old.unlink(missing_ok=True)
    if best:
        with atomic_open(ckpt_dir(run) / "best.pt", "wb") as dst, open(path, "rb") as src:
            shutil.copyfileobj(src, dst)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"checkpoint not found: {path}") from None
    except Exception as e:  # noqa: BLE001 - truncated / foreign files become one clear line
        raise InputError(f"{path}: not a readable cfkit checkpoint ({type(e).__name__})") from None


def find(run_or_ckpt: str | Path, prefer_best: bool = False) -> Path:
    """A checkpoint file from a run folder (latest step, or ``best.pt`` if asked) or a ``.pt`` path."""
    p = Path(run_or_ckpt)
    if p.is_file():
        return p
    if not p.is_dir():
        raise InputError(f"no run folder or checkpoint at {p}")
    best = ckpt_dir(p) / "best.pt"
    if prefer_best and best.is_file():
        return best
    last = latest(p)
    if last is None:
        raise InputError(f"{p}: no checkpoints in {ckpt_dir(p)} (is it a cfkit run folder?)")
    return last


def trim_metrics(run: str | Path, step: int) -> None:
    """Drop ``metrics.jsonl`` rows past ``step`` (logged after the checkpoint a resume restarts from)."""
    path = Path(run) / "metrics.jsonl"
    if path.is_file():
        rows = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        atomic_write_text(path, "".join(ln + "\n" for ln in rows))
