"""The trainer's speed defaults are safe: channels_last trains every registered method like NCHW (the same
losses and gradients in each phase of its schedule, in fp32, where only the order of the arithmetic may
differ); bf16 autocast is the CPU default only for the methods that declare it, on CPUs with native bf16;
Adam runs torch's fused kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cfkit.train.method import METHODS

pytestmark = pytest.mark.shared_data

#: an aligned face's 5 points (eye_l, eye_r, nose, mouth, chin), image-relative
TEMPLATE = np.array([[0.36, 0.42], [0.64, 0.42], [0.5, 0.56], [0.5, 0.7], [0.5, 0.9]], np.float32)
#: small networks and cheap extras; every method's own code paths stay on
TINY_HP = {
    "cyclegan": {"n_blocks": 2},
    "landmark-cyclegan": {"n_blocks": 2, "pool_size": 2},
    "whitebox": {"superpixel_workers": 0, "superpixel_segments": 20},
}


@pytest.fixture(scope="module")
def lm_faces(face_domains, tmp_path_factory) -> tuple[Path, Path]:
    """``face_domains`` (64 px, masks) with jittered template landmarks in both manifests, the first
    image of each without, so landmark methods and regressors train on them too."""
    import pandas as pd

    root = tmp_path_factory.mktemp("cl-faces")
    rng = np.random.default_rng(0)
    out = []
    for src in face_domains:
        dst = shutil.copytree(src, root / src.name)
        df = pd.read_parquet(dst / "manifest.parquet")
        jitter = [list((TEMPLATE + rng.normal(0, 0.01, TEMPLATE.shape)).ravel()) for _ in range(len(df))]
        df["lm5"] = [None, *jitter[1:]]
        df.to_parquet(dst / "manifest.parquet")
        out.append(dst)
    return out[0], out[1]


def _first_iteration_of_each_phase(name: str, data: tuple[Path, Path], out: Path, channels_last: bool):
    """Per phase, from the same fresh start: the first iteration's logged losses and every parameter's
    gradient (each network's from its optimizer's step)."""
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    cls = METHODS.get(name)
    a, b = data[::-1] if cls.direction.startswith("cartoon") else data
    over = {"data_a": str(a), "data_b": None if cls.one_domain else str(b), "out": str(out)}
    over |= {"size": 64, "width": 0.25, "batch": 2, "device": "cpu", "amp": "off", "iters": 1}
    sets = {"channels_last": channels_last, "method": TINY_HP.get(name, {})}
    sets["substitute"] = {"vgg19": "vgg16", "lightcnn9": "vgg16"}  # offline: the paper networks' stand-ins
    opts = resolve(name, overrides=over, sets=sets)
    logs, grads = [], []
    for k in range(len(Trainer(opts).plan)):
        t = Trainer(opts)
        assert t.channels_last is channels_last
        t.step = sum(n for _, n in t.plan[:k])
        t.train_step()
        logs.append(t.flush_logs(None))
        params = ((f"{n}.{k}", p) for n in t.method.nets for k, p in t.method.net(n).named_parameters())
        grads.append({k: p.grad.clone() for k, p in params if p.grad is not None})
    return logs, grads


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS.names())
def test_channels_last_trains_like_nchw(name, lm_faces, tmp_path, asset):
    asset("vgg16")  # the content / perceptual networks' offline weights
    nchw = _first_iteration_of_each_phase(name, lm_faces, tmp_path / "nchw", channels_last=False)
    cl = _first_iteration_of_each_phase(name, lm_faces, tmp_path / "cl", channels_last=True)
    for step, (got, want) in enumerate(zip(cl[0], nchw[0], strict=True)):
        assert sorted(got) == sorted(want)
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-4, abs=1e-6), f"iteration {step}: {k}"
    for step, (got, want) in enumerate(zip(cl[1], nchw[1], strict=True)):
        assert got.keys() == want.keys() and want, f"iteration {step}: no gradients"
        # per network (all its gradients as one vector): the gradients of biases that a normalisation
        # cancels are rounding noise of their own size, so tensors are not compared one by one. 2e-2: the
        # U-Net landmark regressor's heatmap gradients are ill-conditioned in fp32 (measured against float64,
        # where channels_last equals NCHW to 4e-15: NCHW fp32 is 2.0e-3 off, channels_last fp32 6.1e-3); a
        # layout bug would be off by O(1)
        for net in {k.split(".")[0] for k in want}:
            keys = [k for k in want if k.split(".")[0] == net]
            g, h = (torch.cat([d[k].flatten() for k in keys]) for d in (want, got))
            assert float((h - g).norm()) <= 2e-2 * float(g.norm()), f"iteration {step}: {net} gradients"


def test_cpu_bf16_default_only_for_methods_that_declare_it():
    from cfkit.train.runtime import amp_dtype, cpu_has_bf16

    cpu = torch.device("cpu")
    native = torch.bfloat16 if cpu_has_bf16() else None
    declared = {n for n in METHODS.names() if METHODS.get(n).cpu_bf16}
    # exactly the methods whose bf16 loss curves were compared with fp32's (bench_precision.py, docs/train.md);
    # a subclass inherits its parent's flag, so a new one must state its own
    assert declared == {"cyclegan", "cartoongan", "cartoongan-mask", "cpgan", "landmark-cyclegan"}
    assert amp_dtype("auto", cpu, cpu_bf16=True) == native
    assert amp_dtype("auto", cpu, cpu_bf16=False) is None
    assert amp_dtype("off", cpu, cpu_bf16=True) is None
    assert amp_dtype("bf16", cpu) == torch.bfloat16  # asked for explicitly: also emulated


def test_adam_is_fused_and_steps_like_the_for_loop():
    from cfkit.train.method import OptimSpec

    torch.manual_seed(0)
    w = [torch.randn(64, 32), torch.randn(32)]
    grads = [torch.randn_like(t) for t in w]
    fused, plain = ([t.clone().requires_grad_() for t in w] for _ in range(2))
    opts = (
        OptimSpec(("G",), lr=1e-2, betas=(0.5, 0.999)).build(fused),
        torch.optim.Adam(plain, lr=1e-2, betas=(0.5, 0.999)),  # torch's CPU default: the for-loop
    )
    assert opts[0].defaults["fused"] and not opts[1].defaults["fused"]
    for _ in range(3):
        for params, opt in zip((fused, plain), opts, strict=True):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert not torch.equal(fused[0], w[0])
