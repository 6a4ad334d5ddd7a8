"""``--resume`` continues bit-for-bit on CPU: N steps straight == N/2, stop, resume, N/2.

cartoongan-mask at 32 px crosses all three phases (init, U-Net, adversarial) and the stop
falls inside the U-Net phase; EMA and the edge-smoothed negatives are on, so every piece of
state (weights, EMA, Adam moments, RNG, data position) has to come back exactly.
"""

from __future__ import annotations

import torch

OPTS = dict(size=32, width=0.125, batch=2, iters=6, ema=0.9, log_every=1, ckpt_every=100, substitute={"vgg19": "vgg16"})
HP = {"method": {"init_epochs": 1, "unet_epochs": 2, "epochs": 3, "unet_width": 0.5}}


def _flat(state: dict) -> dict[str, torch.Tensor]:
    out = {}

    def walk(prefix, obj):
        if isinstance(obj, torch.Tensor):
            out[prefix] = obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(f"{prefix}/{i}", v)

    walk("", state)
    return out


def test_resume_is_bit_for_bit(tmp_path, tiny_domains, asset):
    from cfkit.runs.checkpoint import latest, load, step_checkpoints
    from cfkit.train import train

    asset("vgg16")
    a, b = tiny_domains
    straight = train("cartoongan-mask", a, b, out=str(tmp_path / "straight"), set=HP, **OPTS)
    half = train("cartoongan-mask", a, b, out=str(tmp_path / "resumed"), stop_at=3, set=HP, **OPTS)
    assert [p.name for p in step_checkpoints(half)] == ["step-00000003.pt"]
    assert load(latest(half))["phase"] == "unet"
    train("cartoongan-mask", a, b, out=str(tmp_path / "resumed"), resume=True, set=HP, **OPTS)

    s, r = load(latest(straight)), load(latest(half))
    assert s["step"] == r["step"] == 6
    keys = ("nets", "ema", "optimizers", "rng", "scalers")
    fs, fr = _flat({k: s[k] for k in keys}), _flat({k: r[k] for k in keys})
    assert fs.keys() == fr.keys() and any(k.startswith("/ema/G") for k in fs)
    unequal = [k for k in fs if not torch.equal(fs[k], fr[k])]
    assert not unequal, unequal[:5]
    assert s["streams"] == r["streams"]
    # the weights did move (D trains in the adversarial phase only: steps 4-6)
    mid = load(step_checkpoints(half)[0])
    assert mid["step"] == 3
    assert any(not torch.equal(v, s["nets"]["D"][k]) for k, v in mid["nets"]["D"].items())
    assert all(torch.equal(v, s["nets"]["U"][k]) for k, v in mid["nets"]["U"].items())  # U frozen after its phase


def test_resume_trims_metrics_and_tensorboard_to_the_checkpoint(tmp_path, tiny_domains):
    """Killed after logging steps past its last checkpoint: the resumed logs hold each step once."""
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import cfkit.methods.template  # noqa: F401 - registers "template"
    from cfkit.runs.checkpoint import step_checkpoints
    from cfkit.train import train

    a, b = tiny_domains
    opts = dict(size=32, batch=2, iters=6, log_every=1, ckpt_every=2)
    run = train("template", a, b, out=str(tmp_path / "run"), stop_at=5, **opts)
    step_checkpoints(run)[-1].unlink()  # the kill came before step 5's checkpoint: resume from 4
    assert [p.name for p in step_checkpoints(run)][-1] == "step-00000004.pt"
    train("template", a, b, out=str(run), resume=True, **opts)
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tag = next(t for t in acc.Tags()["scalars"] if t.startswith("loss/"))
    assert [e.step for e in acc.Scalars(tag)] == [1, 2, 3, 4, 5, 6]
