"""Where and how a training process runs: its rank under torchrun, its device, autocast precision, seeds.

Every value here is resolved from :class:`~cfkit.train.config.TrainOptions` without changing them
(``device: auto`` -> ``cuda:LOCAL_RANK`` or ``cpu``; ``amp: auto`` -> bf16/fp16/None), so a run's
``config.yaml`` keeps what the user asked for and ``run.json`` what was used.
"""

from __future__ import annotations

import os
import shutil

import torch
from torch import nn

from cfkit.allocator import keep_freed_memory
from cfkit.console import info
from cfkit.errors import InputError


def world_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (1 process: 0, 1, 0)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def pick_device(spec: str, local_rank: int = 0) -> torch.device:
    """The device of ``--device`` (``auto``: this process's GPU where CUDA is available, else the CPU)."""
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


def use_channels_last(spec: bool | str, device: torch.device) -> bool:
    """``channels_last: auto`` is on for CUDA only: on CPU it was no faster in fp32 or bf16 (docs/train.md)."""
    return device.type == "cuda" if spec == "auto" else bool(spec)


def trainable(nets: dict[str, nn.Module]) -> list[str]:
    """The names of the networks with trainable parameters (those DDP wraps and ``compile`` compiles)."""
    return [n for n, net in nets.items() if any(p.requires_grad for p in net.parameters())]


def compile_trainable(nets: dict[str, nn.Module], device: torch.device) -> None:
    """``compile: true``: replace each network with trainable parameters by its ``torch.compile`` (inductor)
    module, in place; the frozen ones stay eager. On CPU inductor builds C++, so a missing compiler is
    refused here, before any work, rather than at the first step."""
    if device.type == "cpu" and not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        raise InputError("--compile on the CPU needs a C++ compiler on PATH (g++ or clang++); train without --compile")
    names = trainable(nets)
    info(f"torch.compile: {', '.join(names)} (the first iterations compile, minutes without a warm cache)")
    for name in names:
        nets[name] = torch.compile(nets[name])


def prepare_device(device: torch.device) -> None:
    """Make ``device`` this process's current GPU, with cuDNN's autotuner on; on CPU, keep freed host memory
    for the next iteration (:func:`~cfkit.allocator.keep_freed_memory`)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    else:
        keep_freed_memory()


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
