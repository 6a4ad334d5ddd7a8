"""DDP under ``torchrun --nproc_per_node N``: the process group (gloo on CPU, nccl on GPU), the wrappers of
trainable networks, gradient sync only on the last micro-batch, buffers kept equal, collectives for logs
and checkpoints. In one process every helper is a no-op or the identity."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cfkit.train.runtime import trainable

DDP = nn.parallel.DistributedDataParallel


def start_group(world: int, device: torch.device) -> bool:
    """Start the process group of a multi-process run unless the caller did; True when this call started it."""
    if world == 1 or dist.is_initialized():
        return False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def wrap_trainable(nets: dict[str, nn.Module], device: torch.device) -> None:
    """Replace each network that has trainable parameters by its DDP wrapper, in place."""
    # no buffer sync in forward: an eval-mode BatchNorm (a frozen U-Net) called twice before backward
    # would see its saved running stats overwritten in place; torch >= 2.15 renamed the option
    sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else None
    kw = {sync: False} if sync else {"broadcast_buffers": False}
    ids = [device.index] if device.type == "cuda" else None
    for name in trainable(nets):
        nets[name] = DDP(nets[name], device_ids=ids, **kw)


@contextlib.contextmanager
def rank0_first(world: int, main: bool) -> Iterator[None]:
    """Run the block on process 0 first, then on the others (rank 0 builds caches the others read)."""
    if world > 1 and not main:
        dist.barrier()
    yield
    if world > 1 and main:
        dist.barrier()


def sync_grads(nets: dict[str, nn.Module], world: int, last: bool) -> contextlib.AbstractContextManager:
    """All-reduce gradients only on the ``last`` micro-batch of an accumulated step (DDP's ``no_sync``)."""
    if world == 1 or last:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    for net in nets.values():
        if isinstance(net, DDP):
            stack.enter_context(net.no_sync())
    return stack


def broadcast_buffers(wrapped: dict[str, nn.Module]) -> None:
    """Process 0's floating-point buffers (BatchNorm running statistics) to every process after each
    step, as DDP's ``broadcast_buffers`` would before each forward (off, see :func:`wrap_trainable`): every
    process holds the same networks, so a frozen eval-mode U-Net gives all of them the same masks."""
    for net in wrapped.values():
        if not isinstance(net, DDP):
            continue
        bufs = [b for b in net.module.buffers() if b.is_floating_point()]
        if bufs:
            flat = torch.cat([b.detach().flatten() for b in bufs])
            dist.broadcast(flat, 0)
            for b, v in zip(bufs, flat.split([b.numel() for b in bufs]), strict=True):
                b.copy_(v.view_as(b))


def mean_over_ranks(values: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of ``values`` over every process (every process gets it)."""
    if world == 1:
        return values
    dist.all_reduce(values)
    return values / world


def gather(obj: Any, world: int) -> list[Any]:
    """``obj`` of every process, in rank order (collective)."""
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def end_group(nets: dict[str, nn.Module]) -> None:
    """Wait for every process, replace the DDP wrappers in ``nets`` (they hold the group) by their networks,
    then destroy the group: a rank that exited with the group alive, or left while a peer still sent,
    could abort at exit."""
    dist.barrier()
    for name, net in nets.items():
        if isinstance(net, DDP):
            nets[name] = net.module
    dist.destroy_process_group()
