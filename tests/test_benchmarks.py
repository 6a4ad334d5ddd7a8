"""Benchmarks that need hardware this machine may lack say so instead of failing obscurely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the check would run for real")
def test_gpu_check_exits_with_a_clear_message_without_cuda():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_gpu_check.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no CUDA GPU" in proc.stdout
    assert "Traceback" not in proc.stderr
