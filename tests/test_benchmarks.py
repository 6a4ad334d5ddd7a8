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


VS_REFERENCE = REPO / "benchmarks" / "bench_vs_reference.py"
CYCLEGAN_PEER = REPO.parent / "shared" / "peers" / "pytorch-CycleGAN-and-pix2pix"


def _vs_reference(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VS_REFERENCE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_vs_reference_without_the_peer_says_where_to_place_it(tmp_path):
    proc = _vs_reference("--cyclegan-peer", str(tmp_path / "absent"))
    assert proc.returncode == 1
    assert f"no reference CycleGAN at {tmp_path / 'absent'}" in proc.stderr
    assert "pytorch-CycleGAN-and-pix2pix" in proc.stderr and "Traceback" not in proc.stderr
    bad = _vs_reference("--lengths", "2,2", "--cyclegan-peer", str(tmp_path / "absent"))
    assert bad.returncode == 1 and "two different positive" in bad.stderr


@pytest.mark.skipif(not CYCLEGAN_PEER.is_dir(), reason=f"no reference CycleGAN in {CYCLEGAN_PEER}")
def test_vs_reference_runs_the_peer_and_cfkit_on_the_same_settings(shared_data):
    """The dry run prints both commands: the same size, batch, width and iterations, the peer from its folder."""
    proc = _vs_reference("--dry-run", "--size", "64", "--width", "0.5", "--lengths", "3,5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {line.split(":")[0]: line for line in proc.stdout.splitlines() if line.startswith(("peer:", "fp32:"))}
    peer, ours = lines["peer"], lines["fp32"]
    assert f"cd {CYCLEGAN_PEER.resolve()} && PYTHONPATH=_shims" in peer and "train.py" in peer
    assert "--load_size 64 --crop_size 64 --batch_size 1 --ngf 32 --ndf 32" in peer
    assert "--max_dataset_size 3 " in peer and "--model cycle_gan" in peer
    assert "cfkit train cyclegan" in ours and "--size 64 --batch 1 --width 0.5 --iters 3" in ours
    assert "--amp off" in ours and "--amp auto" in proc.stdout and "--compile" not in ours
    assert "MIT licence" in proc.stdout and "TensorFlow 1" in proc.stdout
    compiled = _vs_reference("--dry-run", "--runners", "fp32,fp32+compile", "--lengths", "1,3")
    (line,) = [s for s in compiled.stdout.splitlines() if s.startswith("fp32+compile:")]
    assert "--amp off --compile" in line and "TORCHINDUCTOR_CACHE_DIR=" in line  # warm after the warm-up run


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
