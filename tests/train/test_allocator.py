"""CPU training keeps freed host memory for reuse instead of faulting in fresh pages every iteration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAULTS = """
import resource, sys, torch
from cfkit.train.runtime import prepare_device
if sys.argv[1] == "kept":
    prepare_device(torch.device("cpu"))
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(1 << 24)  # 64 MiB, every page written
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
print(faults())
"""


def _second_allocation_faults(mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning: Linux only")
def test_cpu_training_reuses_freed_memory_without_page_faults():
    """glibc returns a freed 64 MiB block to the kernel, so writing one again faults in its 16384 pages;
    after ``prepare_device(cpu)`` (every CPU Trainer) the block is reused with (almost) no faults."""
    assert _second_allocation_faults("default") > 10_000
    assert _second_allocation_faults("kept") < 500
