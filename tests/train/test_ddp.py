"""DDP: the same training under ``torchrun --nproc_per_node 2`` (gloo, CPU) gives the losses and
gradients of one process on the same global batch (2 x 1 image = 1 x 2 images, same sample order:
``DistributedSampler`` shards one permutation; gradients to rounding in float64, as L1 terms make
float32 gradients depend on rounding), and NST's style statistics are the same averages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

TIMEOUT = 900  # seconds: a guard against a hung rank, generous because test runs share their CPUs

DRIVER = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    import cfkit.methods.template  # registers "template" (test_compile trains it)
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    method, data_a, data_b, out, steps = sys.argv[1:6]
    world = int(__import__("os").environ.get("WORLD_SIZE", 1))
    extra = json.loads(sys.argv[6])
    if extra.pop("float64", False):  # networks and batches in float64: an exact comparison (see below)
        torch.set_default_dtype(torch.float64)
    cfg = resolve(method, overrides=dict(data_a=data_a, data_b=data_b, out=out, size=64, width=0.125,
                                         batch=2 // world, flip=False, seed=3, **extra))
    t = Trainer(cfg)
    t.train_step()  # the first iteration's losses (mean over ranks) and gradients are compared
    logs = t.flush_logs(None)
    if world > 1:
        every = [None] * world
        dist.all_gather_object(every, logs)
        logs = {k: sum(d[k] for d in every) / world for k in logs}
    grads = {n: {k: p.grad.clone() for k, p in t.method.net(n).named_parameters() if p.grad is not None}
             for n in t.method.nets}
    for _ in range(int(steps) - 1):
        t.train_step()
    # every rank must hold the same weights after the updates
    flat = torch.cat([p.detach().flatten() for n in sorted(t.method.nets) for p in t.method.net(n).parameters()])
    if world > 1:
        every = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(every, flat)
        spread = max(float((e - flat).abs().max()) for e in every)
    else:
        spread = 0.0
    if t.rank == 0:
        state = {n: {k: v.detach().clone() for k, v in t.method.net(n).state_dict().items() if torch.is_tensor(v)}
                 for n in t.method.nets}
        torch.save({"logs": logs, "state": state, "grads": grads, "spread": spread}, out + "/result.pt")
    t.close()
    """
)


def _run(tmp: Path, nproc: int, method: str, data: tuple[Path, Path], steps: int, extra: dict) -> dict:
    out = tmp / f"{method}-{nproc}"
    out.mkdir()
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    args = [str(driver), method, str(data[0]), str(data[1]), str(out), str(steps), json.dumps(extra)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    else:
        cmd = [sys.executable, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out / "result.pt", weights_only=True)


@pytest.fixture(scope="module")
def small_data(request, tmp_path_factory):
    from test_cyclegan import real_domains

    return real_domains(request, tmp_path_factory.mktemp("ddp-data"))


def _assert_close(single: dict, ddp: dict, what: str, rtol: float, atol: float) -> None:
    for net, tensors in single.items():
        for k, t in tensors.items():
            where = f"{what} {net}.{k}"
            torch.testing.assert_close(ddp[net][k], t, rtol=rtol, atol=atol, msg=lambda m, w=where: f"{w}: {m}")


@pytest.fixture(scope="module")
def cyclegan_runs(small_data, tmp_path_factory):
    """One process on 2 images (1 iteration) and 2 DDP ranks on 1 image each (3 iterations)."""
    tmp = tmp_path_factory.mktemp("ddp-cyclegan")
    # uncropped images (random crops are drawn per rank), fp32 (CycleGAN's CPU default is bf16, whose
    # rounding is not what is compared here)
    extra = {"method": {"load_size": 256}, "amp": "off"}
    return _run(tmp, 1, "cyclegan", small_data, 1, extra), _run(tmp, 2, "cyclegan", small_data, 3, extra)


def test_cyclegan_ddp_matches_single_process(cyclegan_runs):
    # First iteration: losses equal one process on 2 images. Later ones are not compared with one process:
    # Adam's first step is lr * sign(grad), which turns float noise in near-zero gradients (biases before
    # instance norm) into lr-sized differences; instead both ranks must hold bit-identical weights after 3.
    single, ddp = cyclegan_runs
    assert single["logs"].keys() == ddp["logs"].keys() and "g_cycle_a" in single["logs"]
    for k, v in single["logs"].items():
        assert ddp["logs"][k] == pytest.approx(v, rel=1e-4), k
    assert {n for n, g in single["grads"].items() if g} == {"G_A", "G_B", "D_A", "D_B"}
    assert ddp["spread"] == 0.0
    # D's losses are smooth (least squares), so in float32 its gradients agree too; G's are compared in float64
    scale = max(g.abs().max().item() for n in ("D_A", "D_B") for g in single["grads"][n].values())
    discriminators = {n: single["grads"][n] for n in ("D_A", "D_B")}
    _assert_close(discriminators, ddp["grads"], "grad", rtol=1e-3, atol=1e-5 * scale)


def test_cyclegan_ddp_gradients_match_single_process_exactly(small_data, tmp_path):
    # In float64 the all-reduced first-iteration gradients of all four networks are one process's to
    # rounding (measured: 7e-14 of their scale). Not in float32: the L1 cycle and identity terms have the
    # gradient lambda * sign(G(x) - x) / N, and a pixel where |G_B(G_A(a)) - a| is below float32 rounding
    # (2e-7 against the ~2e-6 by which batch 2 and batch 1 convolutions round apart) takes the opposite
    # sign in one of the two runs, moving G's gradient by ~2 / sqrt(N) of its norm: 0.3-0.5% for 64 px.
    exact = {"float64": True, "amp": "off", "method": {"load_size": 256}}
    single = _run(tmp_path, 1, "cyclegan", small_data, 1, exact)
    ddp = _run(tmp_path, 2, "cyclegan", small_data, 1, exact)
    assert {n for n, g in single["grads"].items() if g} == {"G_A", "G_B", "D_A", "D_B"}
    assert {g.dtype for r in (single, ddp) for n in r["grads"].values() for g in n.values()} == {torch.float64}
    scale = max(g.abs().max().item() for n in single["grads"].values() for g in n.values())
    _assert_close(single["grads"], ddp["grads"], "grad", rtol=1e-9, atol=1e-11 * scale)


def test_cartoongan_ddp_gradients_match_single_process_exactly(small_data, tmp_path, asset):
    # D steps before G here, and the G step calls D: only when D is called without its DDP wrapper and
    # frozen (as in one process) are D's gradients the D step's alone (before: off by up to 4x its norm).
    # Instance norm in D: a BatchNorm D normalises over each process's own images (see docs/train.md).
    asset("vgg16")
    exact = {
        "float64": True,
        "amp": "off",
        "method": {"init_epochs": 0, "d_norm": "instance"},
        "substitute": {"vgg19": "vgg16"},
    }
    single = _run(tmp_path, 1, "cartoongan", small_data, 1, exact)
    ddp = _run(tmp_path, 2, "cartoongan", small_data, 1, exact)
    assert {n for n, g in single["grads"].items() if g} == {"G", "D"} and "g_adv" in single["logs"]
    for k, v in single["logs"].items():
        assert ddp["logs"][k] == pytest.approx(v, rel=1e-6), k
    scale = max(g.abs().max().item() for n in single["grads"].values() for g in n.values())
    _assert_close(single["grads"], ddp["grads"], "grad", rtol=1e-9, atol=1e-11 * scale)


def test_nst_style_statistics_ddp_equal_direct_averages(small_data, tmp_path, asset):
    from test_nst import direct_style_grams

    asset("vgg16")
    # a whole pass over the 6 style images: 3 iterations x (1 + 1) images
    ddp = _run(tmp_path, 2, "nst", small_data, 3, {"iters": 3, "substitute": {"vgg19": "vgg16"}})
    style = ddp["state"]["style"]
    assert float(style["count"]) == 6
    for layer, g in direct_style_grams(small_data[1], 64).items():
        torch.testing.assert_close(style[f"grams.{layer}"], g, rtol=1e-4, atol=1e-6)


NAN_DRIVER = textwrap.dedent(
    """
    import os, sys
    import torch
    import cfkit.methods.template as template
    from cfkit.errors import CfkitError
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS
    from cfkit.train.trainer import Trainer

    @METHODS.register("nan-on-rank-1")
    class NanOnRank1(template.TemplateMethod):
        def losses(self, phase, opt, batch):
            # a constant term: no gradient, so DDP's all-reduce cannot carry the NaN to rank 0's weights
            bad = float("nan") if os.environ["RANK"] == "1" and opt == "g" else 0.0
            return {**super().losses(phase, opt, batch), "probe": torch.tensor(bad)}

    data_a, data_b, out = sys.argv[1:4]
    cfg = resolve("nan-on-rank-1", overrides=dict(data_a=data_a, data_b=data_b, out=out, size=32, batch=1,
                                                 iters=6, log_every=2, device="cpu"))
    try:
        Trainer(cfg).fit()
    except CfkitError as e:
        open(f"{out}/error-rank-{os.environ['RANK']}.txt", "w").write(str(e))
        raise SystemExit(1)
    """
)


def test_non_finite_loss_on_one_rank_stops_every_rank(small_data, tmp_path):
    driver = tmp_path / "nan_driver.py"
    driver.write_text(NAN_DRIVER)
    out = tmp_path / "run"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(driver), str(small_data[0]), str(small_data[1]), str(out)]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert res.returncode != 0
    errors = {p.name: p.read_text() for p in out.glob("error-rank-*.txt")}
    # both ranks raised the same clear error at the same step (before: rank 1 raised, rank 0 hung or was killed)
    assert sorted(errors) == ["error-rank-0.txt", "error-rank-1.txt"], res.stderr[-2000:]
    assert errors["error-rank-0.txt"] == errors["error-rank-1.txt"]
    assert "non-finite by step 2" in errors["error-rank-0.txt"]


BN_DRIVER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from torch import nn
    import cfkit.methods.template as template
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS
    from cfkit.train.trainer import Trainer

    @METHODS.register("template-bn")
    class TemplateBN(template.TemplateMethod):
        def build_networks(self):  # a BatchNorm D, as CartoonGAN's (paper Fig. 2)
            nets = super().build_networks()
            return {**nets, "D": nn.Sequential(nets["D"], nn.BatchNorm2d(1))}

    data_a, data_b, out = sys.argv[1:4]
    cfg = resolve("template-bn", overrides=dict(data_a=data_a, data_b=data_b, out=out, size=32, batch=1, iters=2,
                                              device="cpu"))
    t = Trainer(cfg)
    for _ in range(2):
        t.train_step()
    stats = torch.cat([b.flatten() for b in t.method.net("D").buffers() if b.is_floating_point()])
    every = [torch.zeros_like(stats) for _ in range(2)]
    dist.all_gather(every, stats)
    t.close()
    kinds = [type(n).__name__ for n in t.method.nets.values()]
    if t.rank == 0:
        torch.save({"stats": every, "group_left": dist.is_initialized(), "kinds": kinds}, out + "/stats.pt")
    """
)


def test_batchnorm_running_statistics_are_the_same_on_every_rank(small_data, tmp_path):
    # each rank normalises over its own images and updates its running statistics from them; after every
    # step process 0's are broadcast (before: the ranks' statistics drifted apart, and a frozen eval-mode
    # BatchNorm network, cartoongan-mask's U-Net, gave each rank different masks)
    driver = tmp_path / "bn_driver.py"
    driver.write_text(BN_DRIVER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(driver), str(small_data[0]), str(small_data[1]), str(tmp_path)]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert res.returncode == 0, res.stderr[-3000:]
    saved = torch.load(tmp_path / "stats.pt", weights_only=True)
    rank0, rank1 = saved["stats"]
    # close() ended the process group, after unwrapping the networks from DDP (which holds the group)
    assert not saved["group_left"]
    assert saved["kinds"] and "DistributedDataParallel" not in saved["kinds"]
    assert torch.equal(rank0, rank1)
    assert not torch.equal(rank0, torch.tensor([0.0, 1.0]))  # the statistics did move from their start


def test_cli_train_under_torchrun_finishes_cleanly(small_data, tmp_path):
    # the documented DDP command, end to end: both ranks train, rank 0 writes the run, and every rank ends
    # the process group before it exits (Trainer.close), so torchrun reports success
    from cfkit.runs import checkpoint as ckpt

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "cfkit"]
    cmd += ["train", "cyclegan", "--data-a", str(small_data[0]), "--data-b", str(small_data[1]), "--out", str(out)]
    cmd += ["--size", "32", "--width", "0.125", "--batch", "1", "--iters", "4", "--device", "cpu"]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["step"], run["world_size"]) == ("finished", 4, 2)
    assert ckpt.latest(out) is not None
