"""The training loop shared by every method.

The :class:`Trainer` composes plain modules, one job each: :mod:`~cfkit.train.runtime` (rank, device, AMP,
channels_last, seeds), :mod:`~cfkit.train.distributed` (DDP under ``torchrun --nproc_per_node N``),
:mod:`~cfkit.train.batches` (domains and augmented batches), :mod:`~cfkit.train.schedule` (phase lengths),
:mod:`~cfkit.train.ema`, :mod:`~cfkit.train.state` (checkpoint content, resume checks) and
:mod:`~cfkit.train.outputs` (``config.yaml``, ``run.json``, logs, samples). It owns the optimizers,
gradient accumulation and the loop. A :class:`~cfkit.train.method.Method` only declares networks,
optimizers, phases and losses.

The options it is given are not changed: values resolved from them live in their own attributes
(``device``, ``dtype``, ``channels_last``) and in :attr:`Trainer.options`, a copy with the training
``size`` resolved (``auto`` -> the data's size), which is what ``config.yaml`` and checkpoints record.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch

from cfkit.console import info, make_progress
from cfkit.errors import InputError
from cfkit.runs import checkpoint as ckpt
from cfkit.train import distributed
from cfkit.train.batches import Batches
from cfkit.train.config import TrainOptions
from cfkit.train.data import Domain, training_size
from cfkit.train.ema import ema_copies, ema_decay, ema_update
from cfkit.train.method import METHODS, Batch, Method, Phase
from cfkit.train.outputs import LossLog, save_samples, tensorboard_writer, write_logs, write_run_info
from cfkit.train.runtime import (
    amp_dtype,
    compile_trainable,
    pick_device,
    prepare_device,
    seed_everything,
    use_channels_last,
    world_info,
)
from cfkit.train.schedule import phase_at, schedule
from cfkit.train.state import TrainState, check_resumable


class Trainer:
    """One process's training run of ``options`` (see the module docstring)."""

    def __init__(self, options: TrainOptions):
        self.rank, self.world, self.local_rank = world_info()
        self.main = self.rank == 0
        self.device = pick_device(options.device, self.local_rank)
        self.owns_group = distributed.start_group(self.world, self.device)
        prepare_device(self.device)
        cls = METHODS.get(options.name)
        self.dtype = amp_dtype(options.amp, self.device, cls.cpu_bf16)
        self.channels_last = use_channels_last(options.channels_last, self.device)
        self.run_dir = Path(options.out)
        seed_everything(options.seed + self.rank)

        domains = {k: v for k, v in (("--data-a", options.data_a), ("--data-b", options.data_b)) if v is not None}
        self.options = o = copy.deepcopy(options)
        o.size = training_size(options.size, domains, options.split)
        self.method: Method = cls(o, self.device)
        self.method.require_assets()  # before any work: a missing paper network stops the run here
        self.method.setup()
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        for name, net in self.method.nets.items():
            self.method.nets[name] = net.to(self.device, memory_format=mf)
        self.specs = self.method.build_optimizers()
        self.opts: dict[str, torch.optim.Optimizer] = {}
        for name, spec in self.specs.items():
            params = [p for n in spec.nets for p in self.method.nets[n].parameters()]
            opt = spec.build(params)
            for group in opt.param_groups:
                group["base_lr"] = group["lr"]
            self.opts[name] = opt
        self.scalers = {
            n: torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16) for n in self.opts
        }
        if o.compile:
            compile_trainable(self.method.nets, self.device)
        self.bare = dict(self.method.nets)  # never DDP-wrapped: what another optimizer's step calls
        if self.world > 1:
            distributed.wrap_trainable(self.method.nets, self.device)
        self.wrapped = dict(self.method.nets)  # the DDP wrappers (the bare networks in one process)
        self.ema: dict[str, torch.nn.Module] = {}  # copied after DDP's broadcast: the same start on every rank
        if o.ema:
            self.ema = ema_copies({n: self.method.net(n) for n in cls.ema_nets})

        with distributed.rank0_first(self.world, self.main):  # rank 0 builds the data stores
            self.batches = Batches(self.method, o, o.size, self.device, self.channels_last, self.rank, self.world)
        if self.batches.lm:
            self.method.check_landmarks({k: int((ok > 0).sum()) for k, (_, ok) in self.batches.lm.items()})
        self.plan = schedule(self.method.phases(), self.batches.epoch_images(cls.epoch_images), o, self.world)
        self.total = sum(n for _, n in self.plan)
        self.state = TrainState(self.method, self.ema, self.opts, self.scalers, self.batches.streams())
        self.step = 0
        self.best = math.inf
        self.log = LossLog(self.device, self.world)
        self.history: list[dict[str, Any]] = []
        self._monitor: list[float] = []

    @property
    def data_a(self) -> Domain:
        return self.batches.data_a

    @property
    def data_b(self) -> Domain | None:
        return self.batches.data_b

    def next_batch(self, batch: int | None = None) -> Batch:
        """The next augmented batch of each domain, on the device (``batch`` images; default: the run's)."""
        return self.batches.next(batch or self.options.batch)

    def fixed_batch(self, n: int = 8) -> Batch:
        """The first ``n`` images of each domain, unaugmented (sample grids)."""
        return self.batches.fixed(n)

    def phase_at(self, step: int) -> tuple[Phase, float]:
        """The phase of iteration ``step`` and the progress through it in [0, 1)."""
        return phase_at(self.plan, step)

    # --- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        phase = self.phase_at(max(self.step - 1, 0))[0].name
        return self.state.state_dict(self.step, phase, self.options.to_dict(), self.best, self.world)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_resumable(state["config"], self.options.to_dict(), self.options.override, type(self.method))
        self.step, self.best = self.state.load_state_dict(state, self.rank, self.world)

    # --- one iteration ------------------------------------------------------------------
    def _update_only(self, names: tuple[str, ...]) -> None:
        """Gradients only for the networks ``names`` (those one optimizer steps). The others are called
        without their DDP wrapper: a discriminator inside the generator's loss then neither computes
        weight gradients nor all-reduces them, so every process computes what one process would."""
        for n, net in self.wrapped.items():
            net.requires_grad_(n in names)
            self.method.nets[n] = net if n in names else self.bare[n]

    def train_step(self) -> None:
        phase, progress = self.phase_at(self.step)
        factor = phase.lr_factor(progress)
        accum = self.options.accum
        micro = [self.next_batch(phase.batch) for _ in range(accum)]
        for step in phase.steps:  # "opt", or "opt:stage" for a second step of one optimizer on other terms
            opt_name = step.partition(":")[0]
            spec, opt, scaler = self.specs[opt_name], self.opts[opt_name], self.scalers[opt_name]
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor
            self._update_only(spec.nets)
            opt.zero_grad(set_to_none=True)
            for i, mb in enumerate(micro):
                with (
                    distributed.sync_grads(self.method.nets, self.world, i == accum - 1),
                    torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None),
                ):
                    terms = self.method.losses(phase.name, step, mb)
                    total = sum(terms.values())
                scaler.scale(total / accum).backward()
                for k, v in terms.items():
                    self.log.add(f"{step.replace(':', '_')}_{k}", v.detach().float() / accum)
            scaler.step(opt)
            scaler.update()
        self.method.nets.update(self.wrapped)
        if self.world > 1:
            distributed.broadcast_buffers(self.wrapped)
        self.log.count += 1
        self.step += 1
        ema_update(self.ema, {n: self.method.net(n) for n in self.ema}, ema_decay(self.options.ema or 0.0, self.step))

    # --- outputs ------------------------------------------------------------------------
    def flush_logs(self, writer) -> dict[str, float]:
        """Mean of each logged term since the last flush (the same on every process, see ``LossLog.flush``);
        recorded in ``history``, ``metrics.jsonl`` and TensorBoard when ``writer``."""
        logs = self.log.flush(self.step)
        phase, _ = self.phase_at(self.step - 1)
        self.history.append({"step": self.step, "phase": phase.name, **logs})
        mon = self.method.monitor
        if mon and mon in logs and phase.name == self.plan[-1][0].name:
            self._monitor.append(logs[mon])
        if writer is not None:
            lrs = {name: opt.param_groups[0]["lr"] for name, opt in self.opts.items()}
            write_logs(writer, self.run_dir, self.history[-1], lrs)
        return logs

    def save_samples(self, writer, batch: Batch) -> None:
        save_samples(self.run_dir, writer, self.method, batch, self.step)

    def write_run_info(self, extra: dict[str, Any]) -> None:
        write_run_info(
            self.run_dir,
            self.options,
            device=self.device,
            world=self.world,
            dtype=self.dtype,
            channels_last=self.channels_last,
            provenance=self.method.provenance,
            domains={"a": self.data_a, "b": self.data_b},
            plan=self.plan,
            extra=extra,
        )

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
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.write_run_info({"status": "running", "step": self.step, "total": self.total})
            if o.resume:  # logs written after the checkpoint would repeat: cut both back to it
                ckpt.trim_metrics(self.run_dir, self.step)
            writer = tensorboard_writer(self.run_dir, self.step if o.resume else None)
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

    def close(self) -> None:
        """End the process group this trainer started (nothing in one process): every rank waits for the
        others and drops its DDP wrappers before the group is destroyed."""
        if not self.owns_group:
            return
        distributed.end_group(self.method.nets)
        self.wrapped = dict(self.method.nets)
        self.owns_group = False
