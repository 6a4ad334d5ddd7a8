"""glibc ``malloc`` policies for cfkit's two long loops, each measured for its own pattern.

Both change only where host memory comes from, never a value; both are process-wide and no-ops off
glibc/Linux. Each job sets its policy as it starts (a process that trains, then evaluates, ends each
job with that job's policy):

* training (:func:`keep_freed_memory`, every CPU trainer): the same activations are allocated every
  iteration; glibc hands them back to the kernel and faults in fresh, zeroed pages each time (CycleGAN,
  128 px: 44-83 k page faults and 4.7 % more CPU time per iteration, docs/train.md). Keeping freed blocks
  below 1 GiB reuses them, as CUDA's caching allocator does; the process keeps its peak instead.
* evaluation (:func:`pin_mmap_threshold`, every extraction pass): glibc raises its mmap threshold each
  time a large block is freed, after which the batched network inputs come from a heap whose freed pieces
  are not handed back, so the main process grew ~0.5 MB per image (100 -> 1500 images: +544 MB,
  ``benchmarks/bench_eval_scale.py``). Pinned at glibc's initial 128 KiB, memory stays flat in N.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
KEEP_BYTES = 1 << 30
"""Training: blocks below this size come from (and return to) the heap; free heap above it is trimmed."""
EVAL_MMAP_BYTES = 128 * 1024
"""Evaluation: allocations from this size up are mmapped, and unmapped when freed (glibc's initial value)."""


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(param, value))
    except (OSError, AttributeError):
        return False


def keep_freed_memory() -> bool:
    """Training policy: keep freed blocks below ``KEEP_BYTES`` for reuse; False where nothing was set."""
    return _mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) and _mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)


def pin_mmap_threshold() -> bool:
    """Evaluation policy: large blocks are mmapped and returned when freed; False where nothing was set."""
    return _mallopt(M_MMAP_THRESHOLD, EVAL_MMAP_BYTES)
