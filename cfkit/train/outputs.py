"""What a run folder records besides checkpoints: ``config.yaml``, ``run.json`` (the one writer of both),
loss logs (``metrics.jsonl`` and TensorBoard) and ``samples/step-N.png`` grids.

    RUN/config.yaml     the resolved TrainOptions (what ``--resume`` and ``translate`` read back)
    RUN/run.json        status, step, versions, device, precision, assets, data, schedule
    RUN/metrics.jsonl   one line per log flush: step, phase, the mean of every loss term
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch

from cfkit.errors import CfkitError
from cfkit.fsutil import atomic_write_json, atomic_write_text
from cfkit.train.config import TrainOptions
from cfkit.train.data import Domain, to_uint8
from cfkit.train.distributed import mean_over_ranks
from cfkit.train.method import Batch, Method
from cfkit.train.schedule import Plan


def versions() -> dict[str, str]:
    """Versions of Python, cfkit and the libraries a run's numbers depend on."""
    import numpy
    import torchvision

    import cfkit

    return {
        "python": platform.python_version(),
        "cfkit": cfkit.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda or "",
        "platform": platform.platform(),
    }


def write_run_info(
    run_dir: Path,
    options: TrainOptions,
    *,
    device: torch.device,
    world: int,
    dtype: torch.dtype | None,
    channels_last: bool,
    provenance: dict[str, Any],
    domains: dict[str, Domain | None],
    plan: Plan,
    extra: dict[str, Any],
) -> None:
    """``config.yaml`` (``options``) and ``run.json``, both written atomically; ``extra``: status, step, ..."""
    import yaml

    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(options.to_dict(), sort_keys=False))
    info_ = {
        "method": options.name,
        "versions": versions(),
        "device": str(device),
        "world_size": world,
        "amp": str(dtype).replace("torch.", "") if dtype else "off",
        "channels_last": channels_last,
        "assets": provenance,
        "data": {
            k: {"root": str(d.root), "images": len(d), "masks": d.masks is not None}
            for k, d in domains.items()
            if d is not None
        },
        "schedule": [{"phase": p.name, "iters": n, "steps": list(p.steps)} for p, n in plan],
        **extra,
    }
    atomic_write_json(run_dir / "run.json", info_)


class LossLog:
    """Sums of the logged loss terms since the last flush, per optimizer step."""

    def __init__(self, device: torch.device, world: int):
        self.device, self.world = device, world
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0  # optimizer steps summed

    def add(self, key: str, value: torch.Tensor) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value

    def flush(self, step: int) -> dict[str, float]:
        """Mean of each term since the last flush (over processes too: under DDP every process gets the
        same values, so a non-finite loss on one stops all of them with the same error); then reset."""
        keys = sorted(self.sums)
        means = torch.stack([torch.as_tensor(self.sums[k]).float() for k in keys]).to(self.device) / self.count
        means = mean_over_ranks(means, self.world)
        logs = dict(zip(keys, means.tolist(), strict=True))
        self.sums, self.count = {}, 0
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad:
            where = f" (on {self.world} processes)" if self.world > 1 else ""
            raise CfkitError(f"loss {bad[0]} became non-finite by step {step}{where}; lower the lr or check the data")
        return logs


def tensorboard_writer(run_dir: Path, resume_step: int | None):
    """A SummaryWriter on ``RUN/tb``; resumed, it drops events after ``resume_step`` from the earlier files.

    TensorBoard reads a folder's event files in name order, and a name starts with the second it was
    made in (then host, pid and a counter, compared as text): a resume within the same second as the
    earlier file could sort first, so wait (at most a second) until the new file sorts after them.
    """
    from torch.utils.tensorboard import SummaryWriter

    tb = run_dir / "tb"
    newest = max((int(p.name.split(".")[3]) for p in tb.glob("events.out.tfevents.*")), default=0)
    while time.time() < newest + 1:
        time.sleep(0.05)
    return SummaryWriter(str(tb), purge_step=None if resume_step is None else resume_step + 1)


def write_logs(writer, run_dir: Path, record: dict[str, Any], lrs: dict[str, float]) -> None:
    """One flush's ``record`` (step, phase, losses) to TensorBoard and ``metrics.jsonl``, with the lrs."""
    step = record["step"]
    for k, v in record.items():
        if k not in ("step", "phase"):
            writer.add_scalar(f"loss/{k}", v, step)
    for name, lr in lrs.items():
        writer.add_scalar(f"lr/{name}", lr, step)
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")


def save_samples(run_dir: Path, writer, method: Method, batch: Batch, step: int) -> None:
    """``samples/step-N.png``: a grid of the method's visuals of ``batch`` (one row each), networks in
    eval mode; also to TensorBoard when ``writer``."""
    from torchvision.utils import make_grid

    from cfkit.imageio import save_png

    nets = list(method.nets.values())
    modes = [n.training for n in nets]
    for n in nets:
        n.eval()
    try:
        with torch.no_grad():
            vis = method.visuals(batch)
    finally:
        for n, m in zip(nets, modes, strict=True):
            n.train(m)
    rows = []
    for v in vis.values():
        v = v.detach().float()
        if v.shape[1] == 1:
            v = v.expand(-1, 3, -1, -1)
        rows.append(v[: len(batch["a"])])
    k = max(len(r) for r in rows)
    grid = make_grid(torch.cat([r for r in rows if len(r) == k]).cpu(), nrow=k, padding=2, pad_value=1.0)
    img = to_uint8(grid).permute(1, 2, 0).numpy()
    save_png(run_dir / "samples" / f"step-{step:08d}.png", img)
    if writer is not None:
        writer.add_image("samples/" + "|".join(vis), img, step, dataformats="HWC")
