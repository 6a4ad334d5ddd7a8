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


def test_eval_scale_prints_the_memory_table(shared_data):
    """Tiny N, one model-free metric, no workers: the per-N table and the flatness verdict come out."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_eval_scale.py"),
            *("--counts", "3,6", "--metrics", "l1_target", "--per-metric", "0", "--reference", "2"),
            *("--workers", "0", "--size", "32"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["N", "peak", "MB"])
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [r[0] for r in rows] == ["3", "6"]
    assert all(float(r[1]) >= float(r[2]) > 50 for r in rows)  # process tree peak >= main process peak, in MB
    assert any(line.startswith(("memory flat:", "memory NOT flat:")) for line in lines)
