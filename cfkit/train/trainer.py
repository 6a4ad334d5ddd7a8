"""The training loop shared by every method.

The trainer owns devices, DDP (``torchrun --nproc_per_node N``: gloo on CPU, nccl on GPU,
``DistributedSampler`` shards), AMP (bf16/fp16 on CUDA, bf16 on CPU where a method allows), channels_last,
gradient accumulation, seeding, EMA, the phase schedule, checkpoints, TensorBoard, ``samples/`` grids and the progress
bar. A :class:`~cfkit.train.method.Method` only declares networks, optimizers, phases and losses.

Schedule: each phase lasts ``epochs`` passes over domain A (or what the method's ``epoch_images`` says), i.e.
``round(epochs * len(A) / (batch * accum * world))`` iterations (at least 1), or its own ``iters``
when the method counts iterations. ``iters`` (or
``epochs``) rescales all phases proportionally so that they sum to that total; ``stop_at`` ends
this invocation early (a checkpoint is written) so a later ``--resume`` continues the same run.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cfkit.console import info, make_progress
from cfkit.errors import CfkitError, InputError
from cfkit.fsutil import atomic_write_json, atomic_write_text
from cfkit.train import checkpoint as ckpt
from cfkit.train.config import TrainOptions
from cfkit.train.data import Domain, IndexStream, load_domain, to_float, to_uint8, training_size
from cfkit.train.method import METHODS, Batch, Method, Phase
from cfkit.train.store import UInt8Store

# keys whose change makes a checkpoint incompatible with the current run
STRUCTURAL = ("name", "size", "width", "batch", "accum", "method", "ema", "substitute")
# keys whose change would silently re-plan a resumed run's data or schedule: refused unless ``override``
PLANNED = {"data_a": "--data-a", "data_b": "--data-b", "iters": "--iters", "epochs": "--epochs", "split": "--set split"}


# --- environment ------------------------------------------------------------------------------
def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (1 process: 0, 1, 0)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def pick_device(spec: str, local_rank: int = 0) -> torch.device:
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA GPU is available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    return dev


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 / AMX); elsewhere bf16 is emulated, slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_dtype(spec: str, device: torch.device, cpu_bf16: bool = False) -> torch.dtype | None:
    """Autocast dtype: on CUDA bf16 (else fp16) for ``auto``; on CPU an explicit ``bf16``, or ``auto`` for a
    method that trains the same in bf16 (``Method.cpu_bf16``) on a CPU with native bf16."""
    if device.type == "cpu" and (spec == "bf16" or (spec == "auto" and cpu_bf16 and cpu_has_bf16())):
        return torch.bfloat16
    if spec == "off" or device.type != "cuda":
        if spec == "fp16" and device.type != "cuda":
            info(f"amp=fp16 ignored on {device.type}: fp16 autocast is used on CUDA only")
        return None
    if spec == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[spec]


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def versions() -> dict[str, str]:
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


def ema_decay(decay: float, updates: int) -> float:
    """EMA decay after ``updates`` optimizer steps, with the warm-up of TensorFlow's
    ``ExponentialMovingAverage(num_updates=...)``: ``min(decay, (1 + n) / (10 + n))``, so a short run's
    average follows the trained weights instead of staying near the initial ones."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


# --- schedule ---------------------------------------------------------------------------------
def schedule(phases: list[Phase], n_epoch: int, options: TrainOptions, world: int) -> list[tuple[Phase, int]]:
    """Iterations of each phase (phases of zero length are dropped); ``n_epoch``: images per epoch."""
    phases = [p for p in phases if (p.iters or p.epochs) > 0]
    if not phases:
        raise CfkitError("the method's schedule is empty (every phase has 0 epochs)")
    own = [  # the recipe's lengths in iterations; a phase with its own batch counts its epochs in it
        float(p.iters) if p.iters else p.epochs * n_epoch / ((p.batch or options.batch) * options.accum * world)
        for p in phases
    ]
    if options.iters:
        target = max(options.iters, len(phases))
        raw = [r / sum(own) * target for r in own]
    else:
        scale = options.epochs * n_epoch / (options.batch * options.accum * world) / sum(own) if options.epochs else 1.0
        raw = [r * scale for r in own]
    iters = [max(1, math.ceil(r - 1e-9) if p.round_up else round(r)) for p, r in zip(phases, raw, strict=True)]
    if options.iters:  # exact total: adjust the longest phase
        i = max(range(len(iters)), key=iters.__getitem__)
        iters[i] += target - sum(iters)
    return list(zip(phases, iters, strict=True))


# --- the trainer ------------------------------------------------------------------------------
class Trainer:
    def __init__(self, options: TrainOptions):
        self.options = o = options
        self.rank, self.world, self.local_rank = world_info()
        self.device = pick_device(o.device, self.local_rank)
        self.owns_group = self.world > 1 and not dist.is_initialized()
        if self.owns_group:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
        self.main = self.rank == 0
        self.run_dir = Path(o.out)
        cls = METHODS.get(o.name)
        self.dtype = amp_dtype(o.amp, self.device, cls.cpu_bf16)
        # channels_last: on CUDA; on CPU it was no faster in fp32 or bf16 (docs/train.md)
        self.channels_last = self.device.type == "cuda" if o.channels_last == "auto" else o.channels_last
        self.accum = o.accum
        seed_everything(o.seed + self.rank)

        domains = {k: v for k, v in (("--data-a", o.data_a), ("--data-b", o.data_b)) if v is not None}
        o.size = training_size(o.size, domains, o.split)
        self.method: Method = cls(o, self.device)
        self.method.require_assets()  # before any work: a missing paper network stops the run here
        self.method.setup()
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        for name, net in self.method.nets.items():
            self.method.nets[name] = net.to(self.device, memory_format=mf)
        self.specs = self.method.build_optimizers()
        self.opts = {}
        for name, spec in self.specs.items():
            params = [p for n in spec.nets for p in self.method.nets[n].parameters()]
            opt = spec.build(params)
            for group in opt.param_groups:
                group["base_lr"] = group["lr"]
            self.opts[name] = opt
        self.scalers = {
            n: torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16) for n in self.opts
        }
        if self.world > 1:
            ddp = nn.parallel.DistributedDataParallel
            # no buffer sync in forward: an eval-mode BatchNorm (a frozen U-Net) called twice before backward
            # would see its saved running stats overwritten in place; torch >= 2.15 renamed the option
            sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters else None
            kw = {sync: False} if sync else {"broadcast_buffers": False}
            ids = [self.device.index] if self.device.type == "cuda" else None
            for name, net in self.method.nets.items():
                if any(p.requires_grad for p in net.parameters()):
                    self.method.nets[name] = ddp(net, device_ids=ids, **kw)
        self.wrapped = dict(self.method.nets)  # the DDP wrappers (the plain networks in one process)
        self.ema: dict[str, nn.Module] = {}  # copied after DDP's broadcast: the same start on every rank
        if o.ema:
            self.ema = {n: copy.deepcopy(self.method.net(n)).eval().requires_grad_(False) for n in cls.ema_nets}

        self._load_data(cls)
        self.lm = {}  # domain key -> (points, ok) when the method needs landmarks
        if self.method.needs_landmarks:  # an instance may decide from its recipe (cpgan)
            from cfkit.train.landmark_data import domain_landmarks

            for key, dom in (("a", self.data_a), ("b", self.data_b)):
                if dom is not None:
                    self.lm[key] = domain_landmarks(dom.root, dom.ids, o.size)
            self.method.check_landmarks({k: int((ok > 0).sum()) for k, (_, ok) in self.lm.items()})
        seed = o.seed
        self.stream_a = IndexStream(len(self.data_a), seed, self.rank, self.world)
        self.stream_b = None if self.data_b is None else IndexStream(len(self.data_b), seed + 1, self.rank, self.world)
        n_a = len(self.data_a)
        n_b = n_a if self.data_b is None else len(self.data_b)
        n_epoch = {"a": n_a, "b": n_b, "max": max(n_a, n_b)}[cls.epoch_images]
        self.plan = schedule(self.method.phases(), n_epoch, o, self.world)
        self.total = sum(n for _, n in self.plan)
        self.step = 0
        self.best = math.inf
        self.history: list[dict[str, Any]] = []
        self._logsum: dict[str, torch.Tensor] = {}
        self._logn = 0
        self._monitor: list[float] = []

    def _load_data(self, cls: type[Method]) -> None:
        """Domains (and CartoonGAN's edge-smoothed B) as on-disk stores; under DDP rank 0 builds them first."""
        o = self.options
        if self.world > 1 and not self.main:
            dist.barrier()
        load = self.method.load_size()
        self.data_a = load_domain(o.data_a, load, o.split)
        self.data_b = None if cls.one_domain else load_domain(o.data_b, load, o.split)
        self.smooth_b = None
        if cls.needs_edge_smoothed_b:
            from cfkit.train.edges import edge_smoothed

            self.smooth_b = edge_smoothed(self.data_b.images)
        if self.world > 1 and self.main:
            dist.barrier()

    # --- batches --------------------------------------------------------------------------
    def _to_device(self, t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        real = torch.get_default_dtype()  # float64 under torch.set_default_dtype: exact runs (the DDP tests)
        out = {}
        for k, v in t.items():
            v = v.to(self.device, non_blocking=True)
            if k.endswith(("_lm", "_lm_ok")):
                out[k] = v.to(real)
                continue
            v = v.to(real).div_(255.0) if k.endswith("_mask") else to_float(v)
            out[k] = v.contiguous(memory_format=mf)
        if self.lm:
            from cfkit.train.landmark_data import with_heatmaps

            with_heatmaps(out, self.options.size)
        return out

    def _gather(self, dom: Domain, idx: list[int], extra: UInt8Store | None, key: str, augment: bool):
        t = {key: dom.images[idx]}
        if dom.masks is not None:
            t[f"{key}_mask"] = dom.masks[idx]
        if extra is not None:
            t[f"{key}_smooth"] = extra[idx]
        lm = self.lm.get(key)
        pts, ok = (lm[0][idx], lm[1][idx]) if lm is not None else (None, None)
        t, crop = self._crop(t, random=augment)
        if pts is not None and crop is not None:  # image-relative points follow the crop
            (ys, xs), side, size = crop
            offset = torch.tensor([xs, ys], dtype=pts.dtype).T[:, None, :]
            pts = (pts * side - offset) / size * ok[:, None, None]
        if augment and self.options.flip:
            f = torch.rand(len(idx)) < 0.5
            for k in t:
                t[k][f] = t[k][f].flip(-1)
            if pts is not None:
                from cfkit.train.landmark_data import flip_landmarks

                pts[f] = flip_landmarks(pts[f], ok[f])
        if pts is not None:
            t[f"{key}_lm"], t[f"{key}_lm_ok"] = pts, ok
        return t

    def _crop(self, t: dict[str, torch.Tensor], random: bool):
        """``size`` crops of images held at the method's larger ``load_size``: at random offsets (one per
        image, shared by its mask and edge-smoothed copy), or centred (``random=False``).
        Returns the crops and ``((ys, xs), held side, size)``, or ``(t, None)`` when nothing is cropped."""
        size = self.options.size
        n, side = len(next(iter(t.values()))), next(iter(t.values())).shape[-1]
        if side == size:
            return t, None
        if random:
            ys, xs = torch.randint(0, side - size + 1, (2, n)).tolist()
        else:
            ys = xs = [(side - size) // 2] * n
        crops = {
            k: torch.stack([v[i, :, y : y + size, x : x + size] for i, (y, x) in enumerate(zip(ys, xs, strict=True))])
            for k, v in t.items()
        }
        return crops, ((ys, xs), side, size)

    def next_batch(self, batch: int | None = None) -> Batch:
        bs = batch or self.options.batch
        ia = self.stream_a.take(bs)
        t = self._gather(self.data_a, ia, None, "a", True)
        ids = {"a": [self.data_a.ids[i] for i in ia]}
        if self.data_b is not None:
            ib = self.stream_b.take(bs)
            t.update(self._gather(self.data_b, ib, self.smooth_b, "b", True))
            ids["b"] = [self.data_b.ids[i] for i in ib]
        return Batch(self._to_device(t), ids)

    def fixed_batch(self, n: int = 8) -> Batch:
        """The first ``n`` images of each domain, unaugmented: the subjects of sample grids."""
        ia = list(range(min(n, len(self.data_a))))
        t = self._gather(self.data_a, ia, None, "a", False)
        if self.data_b is not None:
            t.update(self._gather(self.data_b, list(range(min(n, len(self.data_b)))), self.smooth_b, "b", False))
        return Batch(self._to_device(t), {"a": [self.data_a.ids[i] for i in ia]})

    # --- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = ckpt.rng_state()
        if self.world > 1:
            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, rng)
            rngs = gathered
        else:
            rngs = [rng]
        return {
            "format": "cfkit-train-1",
            "step": self.step,
            "phase": self.phase_at(max(self.step - 1, 0))[0].name,
            "config": self.options.to_dict(),
            "nets": {n: self.method.net(n).state_dict() for n in self.method.nets},
            "ema": {n: m.state_dict() for n, m in self.ema.items()},
            "optimizers": {n: o.state_dict() for n, o in self.opts.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "streams": {k: s.state_dict() for k, s in (("a", self.stream_a), ("b", self.stream_b)) if s is not None},
            "rng": rngs,
            "best": self.best,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        old, now = state["config"], self.options.to_dict()
        default = TrainOptions().to_dict()  # a key newer than the checkpoint's cfkit: its default then
        diff = [k for k in STRUCTURAL if old.get(k, default[k]) != now[k]]
        if diff:
            raise InputError(f"cannot resume: {', '.join(diff)} differ from the checkpoint's run (start a new --out)")
        changed = [k for k in PLANNED if old.get(k) != now[k]]
        if changed and not self.options.override:
            k = changed[0]
            raise InputError(
                f"cannot resume: {PLANNED[k]} is {now[k]!r}, the run was started with {old.get(k)!r}; "
                "pass --override to re-plan the run with the new value"
            )
        for n, sd in state["nets"].items():
            self.method.net(n).load_state_dict(sd)
        for n, sd in state["ema"].items():
            self.ema[n].load_state_dict(sd)
        for n, sd in state["optimizers"].items():
            self.opts[n].load_state_dict(sd)
        for n, sd in state["scalers"].items():
            self.scalers[n].load_state_dict(sd)
        self.stream_a.load_state_dict(state["streams"]["a"])
        if self.stream_b is not None:
            self.stream_b.load_state_dict(state["streams"]["b"])
        rngs = state["rng"]
        if len(rngs) != self.world:
            raise InputError(f"cannot resume: checkpoint has {len(rngs)} processes, this run has {self.world}")
        ckpt.set_rng_state(rngs[self.rank])
        self.step, self.best = int(state["step"]), float(state["best"])

    def phase_at(self, step: int) -> tuple[Phase, float]:
        """The phase of iteration ``step`` and the progress through it in [0, 1)."""
        start = 0
        for phase, n in self.plan:
            if step < start + n:
                return phase, (step - start) / n
            start += n
        phase, _ = self.plan[-1]
        return phase, 1.0

    # --- one iteration ------------------------------------------------------------------
    def _sync_ctx(self, last: bool):
        if self.world == 1 or last:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        for net in self.method.nets.values():
            if isinstance(net, nn.parallel.DistributedDataParallel):
                stack.enter_context(net.no_sync())
        return stack

    def _update_only(self, names: tuple[str, ...]) -> None:
        """Gradients only for the networks ``names`` (those one optimizer steps). The others are called
        without their DDP wrapper: a discriminator inside the generator's loss then neither computes
        weight gradients nor all-reduces them, so every process computes what one process would."""
        for n, net in self.wrapped.items():
            net.requires_grad_(n in names)
            self.method.nets[n] = net if n in names else self.method.net(n)

    def _broadcast_buffers(self) -> None:
        """Process 0's floating-point buffers (BatchNorm running statistics) to every process after each
        step, as DDP's ``broadcast_buffers`` would before each forward (off here, see ``__init__``): every
        process holds the same networks, so a frozen eval-mode U-Net gives all of them the same masks."""
        for net in self.wrapped.values():
            if not isinstance(net, nn.parallel.DistributedDataParallel):
                continue
            bufs = [b for b in net.module.buffers() if b.is_floating_point()]
            if bufs:
                flat = torch.cat([b.detach().flatten() for b in bufs])
                dist.broadcast(flat, 0)
                for b, v in zip(bufs, flat.split([b.numel() for b in bufs]), strict=True):
                    b.copy_(v.view_as(b))

    def train_step(self) -> None:
        phase, progress = self.phase_at(self.step)
        factor = phase.lr_factor(progress)
        micro = [self.next_batch(phase.batch) for _ in range(self.accum)]
        for step in phase.steps:  # "opt", or "opt:stage" for a second step of one optimizer on other terms
            opt_name = step.partition(":")[0]
            spec, opt, scaler = self.specs[opt_name], self.opts[opt_name], self.scalers[opt_name]
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor
            self._update_only(spec.nets)
            opt.zero_grad(set_to_none=True)
            for i, mb in enumerate(micro):
                with (
                    self._sync_ctx(i == self.accum - 1),
                    torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None),
                ):
                    terms = self.method.losses(phase.name, step, mb)
                    total = sum(terms.values())
                scaler.scale(total / self.accum).backward()
                for k, v in terms.items():
                    key = f"{step.replace(':', '_')}_{k}"
                    self._logsum[key] = self._logsum.get(key, 0.0) + v.detach().float() / self.accum
            scaler.step(opt)
            scaler.update()
        self.method.nets.update(self.wrapped)
        if self.world > 1:
            self._broadcast_buffers()
        self._logn += 1
        self.step += 1
        with torch.no_grad():
            decay = ema_decay(self.options.ema or 0.0, self.step)
            for n, ema in self.ema.items():
                live = self.method.net(n)
                for pe, p in zip(ema.parameters(), live.parameters(), strict=True):
                    pe.lerp_(p, 1.0 - decay)
                for be, b in zip(ema.buffers(), live.buffers(), strict=True):
                    be.copy_(b)

    # --- outputs ------------------------------------------------------------------------
    def flush_logs(self, writer) -> dict[str, float]:
        """Mean of each logged term since the last flush (over ranks too: under DDP every rank gets the
        same values, so a non-finite loss on one rank stops all of them with the same error)."""
        keys = sorted(self._logsum)
        means = torch.stack([torch.as_tensor(self._logsum[k]).float() for k in keys]).to(self.device) / self._logn
        if self.world > 1:
            dist.all_reduce(means)
            means = means / self.world
        logs = dict(zip(keys, means.tolist(), strict=True))
        self._logsum, self._logn = {}, 0
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad:
            where = f" (on {self.world} processes)" if self.world > 1 else ""
            raise CfkitError(
                f"loss {bad[0]} became non-finite by step {self.step}{where}; lower the lr or check the data"
            )
        phase, _ = self.phase_at(self.step - 1)
        self.history.append({"step": self.step, "phase": phase.name, **logs})
        mon = self.method.monitor
        if mon and mon in logs and phase.name == self.plan[-1][0].name:
            self._monitor.append(logs[mon])
        if writer is not None:
            for k, v in logs.items():
                writer.add_scalar(f"loss/{k}", v, self.step)
            for name, opt in self.opts.items():
                writer.add_scalar(f"lr/{name}", opt.param_groups[0]["lr"], self.step)
            with open(self.run_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(self.history[-1]) + "\n")
        return logs

    def save_samples(self, writer, batch: Batch) -> None:
        from torchvision.utils import make_grid

        from cfkit.imageio import save_png

        nets = list(self.method.nets.values())
        modes = [n.training for n in nets]
        for n in nets:
            n.eval()
        try:
            with torch.no_grad():
                vis = self.method.visuals(batch)
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
        save_png(self.run_dir / "samples" / f"step-{self.step:08d}.png", img)
        if writer is not None:
            writer.add_image("samples/" + "|".join(vis), img, self.step, dataformats="HWC")

    def write_run_info(self, extra: dict[str, Any]) -> None:
        import yaml

        atomic_write_text(self.run_dir / "config.yaml", yaml.safe_dump(self.options.to_dict(), sort_keys=False))
        info_ = {
            "method": self.options.name,
            "versions": versions(),
            "device": str(self.device),
            "world_size": self.world,
            "amp": str(self.dtype).replace("torch.", "") if self.dtype else "off",
            "channels_last": self.channels_last,
            "assets": self.method.provenance,
            "data": {
                k: {"root": str(d.root), "images": len(d), "masks": d.masks is not None}
                for k, d in (("a", self.data_a), ("b", self.data_b))
                if d is not None
            },
            "schedule": [{"phase": p.name, "iters": n, "steps": list(p.steps)} for p, n in self.plan],
            **extra,
        }
        atomic_write_json(self.run_dir / "run.json", info_)

    # --- the loop -----------------------------------------------------------------------
    def fit(self) -> Path:
        o = self.options
        if o.resume:
            last = ckpt.latest(self.run_dir)
            if last is None:
                info(f"--resume: no checkpoint in {self.run_dir}; starting from scratch")
            else:
                self.load_state_dict(ckpt.load(last))
                info(f"resumed {self.run_dir} at step {self.step}")
        elif ckpt.latest(self.run_dir) is not None:
            raise InputError(f"{self.run_dir} holds a run already; pass --resume or choose another --out")
        stop = min(self.total, o.stop_at) if o.stop_at else self.total
        writer = None
        if self.main:
            from torch.utils.tensorboard import SummaryWriter

            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.write_run_info({"status": "running", "step": self.step, "total": self.total})
            if o.resume:  # logs written after the checkpoint would repeat: cut both back to it
                ckpt.trim_metrics(self.run_dir, self.step)
            writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step + 1 if o.resume else None)
        fixed = self.fixed_batch()
        t0, s0 = time.perf_counter(), self.step
        try:
            progress = make_progress()
            progress.disable = progress.disable or not self.main  # one bar, from rank 0
            with progress:
                task = progress.add_task(o.name, total=self.total, completed=self.step, rate="")
                while self.step < stop:
                    self.train_step()
                    ended = self.phase_at(self.step - 1)[0]
                    if self.step < self.total and self.phase_at(self.step)[0] is not ended:
                        self.method.end_phase(ended.name, self.fixed_batch(64))
                    done = self.step >= stop
                    if self.step % o.log_every == 0 or done:
                        logs = self.flush_logs(writer)
                        rate = (self.step - s0) / (time.perf_counter() - t0)
                        summary = " ".join(f"{k}={v:.3g}" for k, v in logs.items())
                        progress.update(task, rate=f"{rate:.2f} it/s {summary}")
                    if self.main and (self.step % o.sample_every == 0 or done):
                        self.save_samples(writer, fixed)
                    if self.step % o.ckpt_every == 0 or done:
                        self.checkpoint()
                    phase, _ = self.phase_at(self.step - 1)
                    progress.update(task, completed=self.step, description=f"{o.name} [{phase.name}]")
        finally:
            if writer is not None:
                writer.close()
        elapsed = time.perf_counter() - t0
        if self.main:
            status = "finished" if self.step >= self.total else "stopped"
            rate = (self.step - s0) / elapsed if elapsed > 0 else 0.0
            self.write_run_info({"status": status, "step": self.step, "total": self.total, "steps_per_s": rate})
        return self.run_dir

    def close(self) -> None:
        """End the process group this trainer started (nothing in one process). Every rank waits for the
        others, then drops its DDP wrappers (which hold the group) before the group is destroyed: a rank
        that exited with the group alive, or left while a peer still sent, could abort at exit."""
        if not self.owns_group:
            return
        dist.barrier()
        for name in self.wrapped:
            self.method.nets[name] = self.method.net(name)
        self.wrapped = dict(self.method.nets)
        dist.destroy_process_group()
        self.owns_group = False

    def checkpoint(self) -> None:
        state = self.state_dict()  # collective under DDP: every rank takes part
        is_best = False
        if self._monitor:
            value = sum(self._monitor) / len(self._monitor)
            self._monitor = []
            if value < self.best:
                self.best, is_best = value, True
                state["best"] = value
        if self.main:
            ckpt.save(self.run_dir, state, self.step, self.options.keep, best=is_best)
