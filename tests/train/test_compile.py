"""``compile: true`` (``cfkit train --compile``): the trained networks run as ``torch.compile`` modules,
while checkpoints, EMA and inference keep the plain networks."""

from __future__ import annotations

import shutil

import pytest
import torch

from cfkit.runs.checkpoint import latest

pytestmark = pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")), reason="inductor on the CPU needs a C++ compiler"
)


def weights(run) -> dict[str, torch.Tensor]:
    state = torch.load(latest(run), weights_only=True)
    return {f"{n}.{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}


def test_compiled_run_trains_like_eager_and_its_checkpoints_resume_without_compile(tmp_path, tiny_domains, capsys):
    import cfkit.methods.template  # noqa: F401 - registers "template" (not auto-imported)
    from cfkit.train import train
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    a, b = tiny_domains
    opts = dict(size=32, batch=2, iters=4, ckpt_every=2, log_every=1, device="cpu", amp="off", ema=0.5)
    where = {"data_a": a, "data_b": b, "out": str(tmp_path / "x"), "compile": True}
    fresh = Trainer(resolve("template", None, {**opts, **where}))
    assert type(fresh.method.nets["G"]).__name__ == "OptimizedModule"
    assert fresh.method.net("G") is fresh.bare["G"]._orig_mod  # state dicts and inference see the plain network
    w0 = {f"{n}.{k}": v.clone() for n in ("G", "D") for k, v in fresh.method.net(n).state_dict().items()}

    eager = train("template", a, b, out=str(tmp_path / "eager"), **opts)
    compiled = train("template", a, b, out=str(tmp_path / "compiled"), compile=True, stop_at=2, **opts)
    assert "torch.compile: G, D" in capsys.readouterr().err
    half = weights(compiled)
    assert not any("_orig_mod" in k for k in half)  # plain state dicts: any cfkit loads them
    ema = torch.load(latest(compiled), weights_only=True)["ema"]["G"]
    assert set(ema) == {k.removeprefix("G.") for k in half if k.startswith("G.")}

    train("template", a, b, out=str(compiled), resume=True, **opts)  # compile is not structural
    we, wc = weights(eager), weights(compiled)
    assert we.keys() == wc.keys() == w0.keys()
    for k in we:  # the compiled steps are the eager steps, up to rounding
        moved = (we[k] - w0[k]).abs().max()
        assert moved > 0 and (wc[k] - we[k]).abs().max() < 0.02 * moved, k


def test_compile_without_a_cxx_compiler_is_one_clear_error(tmp_path, tiny_domains, monkeypatch):
    import cfkit.methods.template  # noqa: F401
    from cfkit.errors import InputError
    from cfkit.train import train

    monkeypatch.setattr(shutil, "which", lambda _name: None)
    a, b = tiny_domains
    with pytest.raises(InputError, match="C\\+\\+ compiler"):
        train("template", a, b, out=str(tmp_path / "run"), size=32, batch=2, iters=2, device="cpu", compile=True)
    assert not (tmp_path / "run" / "ckpt").exists()


def test_compiled_networks_under_ddp_give_one_eager_process_gradients(tmp_path, request, tmp_path_factory):
    # compile is applied before the DDP wrapper: two ranks of compiled networks all-reduce the gradients
    # one eager process computes on both images (float64, as in test_ddp: no float32 sign flips of L1 terms)
    from test_cyclegan import real_domains
    from test_ddp import _assert_close, _run

    data = real_domains(request, tmp_path_factory.mktemp("compile-ddp-data"))
    exact = {"float64": True, "amp": "off"}
    single = _run(tmp_path, 1, "template", data, 1, exact)
    ddp = _run(tmp_path, 2, "template", data, 2, {**exact, "compile": True})
    assert {n for n, g in single["grads"].items() if g} == {"G", "D"}
    scale = max(g.abs().max().item() for n in single["grads"].values() for g in n.values())
    _assert_close(single["grads"], ddp["grads"], "grad", rtol=1e-9, atol=1e-11 * scale)
    assert ddp["spread"] == 0.0  # both ranks hold the same weights after two compiled steps
