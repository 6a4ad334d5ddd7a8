"""Trainer pieces that need no model assets: config precedence, schedule, data streams,
checkpoint files, edge smoothing, and the template method trained end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cfkit.errors import CfkitError, InputError


def test_config_precedence_defaults_recipe_flags_set(tmp_path):
    from cfkit.options import parse_assignments as parse_set
    from cfkit.train.config import TrainOptions, resolve

    recipe = tmp_path / "r.yaml"
    recipe.write_text("size: 256\nbatch: 4\nmethod:\n  lr: 0.001\n  w: 3\n")
    cfg = resolve("cartoongan", recipe, {"batch": 2, "seed": None}, parse_set(["method.w=5", "ema=0.99"]))
    assert cfg.size == 256  # recipe beats defaults
    assert cfg.batch == 2  # flag beats recipe
    assert cfg.seed == TrainOptions.seed  # None = not given
    assert cfg.method == {"lr": 0.001, "w": 5}  # --set beats recipe, nested merge keeps siblings
    assert cfg.ema == 0.99 and cfg.out == "runs/cartoongan"
    bundled = resolve("cartoongan")
    assert bundled.method["w_content"] == 10.0 and bundled.recipe.endswith("cartoongan.yaml")
    with pytest.raises(InputError, match=r"unknown option\(s\) bogus"):
        resolve("cartoongan", overrides=None, sets={"bogus": 1})
    with pytest.raises(InputError, match="batch must be an integer"):  # typed: caught before any work
        resolve("cartoongan", overrides=None, sets={"batch": "eight"})
    with pytest.raises(InputError, match="multiple of 16"):
        resolve("cartoongan", overrides={"size": 100})
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_set(["noequals"])


def test_unknown_method_lists_known_names():
    from cfkit.train.method import METHODS

    with pytest.raises(CfkitError, match="cartoongan-mask"):
        METHODS.get("nope")


def test_schedule_epochs_and_iters_scaling():
    from dataclasses import replace

    from cfkit.train.config import TrainOptions
    from cfkit.train.method import Phase
    from cfkit.train.schedule import schedule

    phases = [Phase("init", 1, ("g",)), Phase("unet", 20, ("u",)), Phase("adv", 20, ("d", "g")), Phase("x", 0, ())]
    base = TrainOptions(batch=8, accum=1)
    plan = schedule(phases, 400, base, world=1)  # 50 iterations per epoch
    assert [(p.name, n) for p, n in plan] == [("init", 50), ("unet", 1000), ("adv", 1000)]
    assert [n for _, n in schedule(phases, 400, base, world=2)] == [25, 500, 500]
    assert sum(n for _, n in schedule(phases, 400, replace(base, iters=30), 1)) == 30
    assert [n for _, n in schedule(phases, 400, replace(base, iters=3), 1)] == [1, 1, 1]
    assert [n for _, n in schedule(phases, 400, replace(base, epochs=4.1), 1)] == [5, 100, 100]


def test_index_stream_shards_and_resumes():
    from cfkit.train.data import IndexStream

    ranks = [IndexStream(10, seed=1, rank=r, world=2) for r in range(2)]
    first = [s.take(5) for s in ranks]
    assert sorted(first[0] + first[1]) == list(range(10))  # one permutation, disjoint shards
    s = IndexStream(7, seed=3)
    s.take(5)
    state = s.state_dict()
    rest = s.take(9)  # crosses two epoch boundaries
    t = IndexStream(7, seed=3)
    t.load_state_dict(state)
    assert t.take(9) == rest
    assert IndexStream(7, seed=4).take(7) != IndexStream(7, seed=3).take(7)


def test_load_domain_manifest_split_masks_and_plain_folder(tmp_path, tiny_domains):
    import pandas as pd

    from cfkit.imageio import load_rgb
    from cfkit.train.data import fit_square, load_domain

    a, b = tiny_domains
    dom = load_domain(a, 64)
    assert dom.images.shape == (6, 3, 64, 64) and dom.images[:].dtype == torch.uint8
    assert dom.masks is not None and dom.masks.shape == (6, 1, 64, 64)
    # the store holds each image as decoded, fitted and laid out C x H x W; read by any index list
    expect = fit_square(load_rgb(a / "images" / f"{dom.ids[4]}.png"), 64).transpose(2, 0, 1)
    np.testing.assert_array_equal(dom.images[[4, 1]][0].numpy(), expect)
    assert torch.equal(dom.images[[4, 1]][1], dom.images[1]) and torch.equal(dom.images[:][4], dom.images[4])
    again = load_domain(a, 64)  # built once: the second load opens the same file
    assert again.images.path == dom.images.path
    plain = load_domain(b, 32)
    assert plain.ids == [f"cat{k}" for k in range(6)] and plain.masks is None
    # a manifest restricts to its split
    import shutil

    c = tmp_path / "C"
    shutil.copytree(a, c)
    pd.DataFrame({"id": [f"astro{k}" for k in range(6)], "split": ["train"] * 4 + ["test"] * 2}).to_parquet(
        c / "manifest.parquet"
    )
    assert len(load_domain(c, 32)) == 4 and len(load_domain(c, 32, split="all")) == 6
    (c / "masks" / "astro0.png").unlink()
    with pytest.raises(InputError, match="mask all or none"):
        load_domain(c, 32)
    with pytest.raises(InputError, match="no rows"):
        load_domain(c, 32, split="val")


def test_edge_smoothing_blurs_only_edges_and_is_cached(tmp_path, monkeypatch):
    import cv2
    from skimage import data

    from cfkit.train import edges

    monkeypatch.setenv("CFKIT_HOME", str(tmp_path))
    img = np.ascontiguousarray(data.chelsea()[:128, :128])
    out = edges.edge_smooth(img)
    region = cv2.dilate(cv2.Canny(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 100, 200), np.ones((5, 5), np.uint8)) > 0
    assert 0.01 < region.mean() < 0.99
    np.testing.assert_array_equal(out[~region], img[~region])  # untouched away from edges
    blurred = cv2.GaussianBlur(img, (5, 5), 0, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_array_equal(out[region], blurred[region])
    from cfkit.train.store import build_store

    pair = np.stack([img, np.ascontiguousarray(img[::-1])]).transpose(0, 3, 1, 2)
    images = build_store("test-images", 2, pair.shape[1:], lambda i: np.ascontiguousarray(pair[i]), "test")
    first = edges.edge_smoothed(images)
    assert np.array_equal(first[1].permute(1, 2, 0).numpy(), edges.edge_smooth(np.ascontiguousarray(img[::-1])))
    assert len(list((tmp_path / "cache" / "train").glob("*.u8"))) == 2  # images + their smoothed copy
    assert edges.edge_smoothed(images).path == first.path and torch.equal(edges.edge_smoothed(images)[:], first[:])


def test_checkpoint_keep_last_and_rng_roundtrip(tmp_path):
    from cfkit.runs import checkpoint as ckpt

    for step in (1, 2, 3, 4):
        ckpt.save(tmp_path, {"step": step, "rng": ckpt.rng_state()}, step, keep=2, best=step == 2)
    assert [p.name for p in ckpt.step_checkpoints(tmp_path)] == ["step-00000003.pt", "step-00000004.pt"]
    assert ckpt.load(tmp_path / "ckpt" / "best.pt")["step"] == 2
    assert ckpt.find(tmp_path).name == "step-00000004.pt" and ckpt.find(tmp_path, prefer_best=True).name == "best.pt"
    assert not list((tmp_path / "ckpt").glob("*.part"))
    state = ckpt.rng_state()
    expect = (torch.rand(3), np.random.rand(2))
    ckpt.set_rng_state(state)
    assert torch.equal(torch.rand(3), expect[0]) and np.array_equal(np.random.rand(2), expect[1])
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable"):
        ckpt.load(tmp_path / "bad.pt")


def test_template_method_trains_checkpoints_and_translates(tmp_path, tiny_domains):
    import cfkit.methods.template  # noqa: F401 - registers "template" (not auto-imported)
    from cfkit.imageio import load_rgb
    from cfkit.train import train, translate
    from cfkit.train.inference import load_method

    a, b = tiny_domains
    run = train("template", a, b, out=str(tmp_path / "run"), size=32, batch=2, iters=3, ema=0.5, log_every=1)
    hist = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist] == [1, 2, 3]
    assert {"d_real", "d_fake", "g_adv", "g_identity"} <= set(hist[-1])
    assert all(np.isfinite(v) for h in hist for k, v in h.items() if k not in ("step", "phase"))
    method, cfg, path = load_method(run)
    assert cfg.name == "template" and path.name == "step-00000003.pt"
    state = torch.load(path, weights_only=True)
    assert set(state["ema"]) == {"G"}  # EMA weights are kept and preferred at inference
    assert torch.equal(method.net("G").state_dict()["0.0.weight"], state["ema"]["G"]["0.0.weight"])
    assert not torch.equal(state["ema"]["G"]["0.0.weight"], state["nets"]["G"]["0.0.weight"])
    written = translate(run, a, tmp_path / "out")
    assert sorted(p.stem for p in written) == [f"astro{k}" for k in range(6)]
    assert load_rgb(written[0]).shape == (32, 32, 3)
    with pytest.raises(InputError, match="--resume"):
        train("template", a, b, out=str(run), size=32, batch=2, iters=3)


def test_gradient_accumulation_matches_the_larger_batch(tmp_path, tiny_domains):
    import cfkit.methods.template  # noqa: F401
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    a, b = tiny_domains
    weights = []
    for batch, accum in ((4, 1), (2, 2), (2, 1)):
        cfg = resolve(
            "template",
            overrides=dict(data_a=str(a), data_b=str(b), out=str(tmp_path / f"r{accum}"), size=32, batch=batch),
            sets={"accum": accum, "flip": False, "method": {"optimizer": "sgd", "lr": 0.1}},  # SGD: scale-sensitive
        )
        t = Trainer(cfg)
        t.train_step()
        weights.append({n: p.detach().clone() for n, p in t.method.net("G").named_parameters()})
    for name, w in weights[0].items():
        torch.testing.assert_close(weights[1][name], w, rtol=1e-4, atol=1e-6)
    assert any(not torch.allclose(weights[2][n], w, rtol=1e-4, atol=1e-6) for n, w in weights[0].items())


def test_non_finite_loss_is_one_clear_error(tmp_path, tiny_domains):
    import cfkit.methods.template  # noqa: F401
    from cfkit.train import train

    a, b = tiny_domains
    with pytest.raises(CfkitError, match="non-finite"):
        train(
            "template",
            a,
            b,
            out=str(tmp_path / "r"),
            size=32,
            batch=2,
            iters=2,
            set={"method": {"w_identity": float("nan")}},
        )


def test_training_size_follows_the_data_and_refuses_upsampling(tmp_path, tiny_domains):
    import cfkit.methods.template  # noqa: F401
    from cfkit.imageio import list_images, load_rgb, save_png
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    a, b = tiny_domains  # 160 px crops
    small = tmp_path / "b100"
    for p in list_images(b):
        save_png(small / p.name, load_rgb(p)[:100, :120])  # shortest side 100 px
    assert resolve("cartoongan").size == "auto"  # the bundled recipes follow the data
    over = dict(data_a=str(a), data_b=str(small), batch=2, iters=1)
    t = Trainer(resolve("template", overrides={**over, "size": "auto", "out": str(tmp_path / "r1")}))
    assert t.options.size == t.method.size == 96 and t.data_b.images.shape[-1] == 96  # 100 rounded down to 16
    with pytest.raises(InputError, match=r"training size 128 px is larger than the --data-b images \(100 px\)"):
        Trainer(resolve("template", overrides={**over, "size": 128, "out": str(tmp_path / "r2")}))


def test_ema_warms_up_and_translate_chooses_ema_or_raw(tmp_path, tiny_domains, run_cli):
    import cfkit.methods.template  # noqa: F401
    from cfkit.train import train
    from cfkit.train.ema import ema_decay
    from cfkit.train.inference import load_method

    assert [ema_decay(0.999, n) for n in (1, 2, 10_000)] == [2 / 11, 3 / 12, 0.999]
    a, b = tiny_domains
    run = train("template", a, b, out=str(tmp_path / "run"), size=32, batch=2, iters=2, ema=0.999, ckpt_every=1)
    s1, s2 = (torch.load(run / "ckpt" / f"step-0000000{k}.pt", weights_only=True) for k in (1, 2))
    for k, raw in s2["nets"]["G"].items():
        if raw.is_floating_point():  # step 2 moves the average 1 - 3/12 of the way to the weights, not 1/1000
            torch.testing.assert_close(s2["ema"]["G"][k], s1["ema"]["G"][k].lerp(raw, 0.75))
    w = "0.0.weight"
    assert torch.equal(load_method(run, weights="ema")[0].net("G").state_dict()[w], s2["ema"]["G"][w])
    assert torch.equal(load_method(run, weights="raw")[0].net("G").state_dict()[w], s2["nets"]["G"][w])
    code, _, _ = run_cli("translate", run, "--input", a, "--out", tmp_path / "raw", "--weights", "raw")
    assert code == 0 and json.loads((tmp_path / "raw" / "translate.json").read_text())["weights"] == "raw"
    code, _, err = run_cli("translate", run, "--input", a, "--out", tmp_path / "x", "--weights", "best")
    assert code != 0 and "--weights must be ema or raw" in err


def test_translate_reverse_is_refused_for_one_generator_methods(tmp_path, tiny_domains, run_cli, capsys):
    import cfkit.methods.template  # noqa: F401
    from cfkit.errors import InputError
    from cfkit.train import train, translate

    a, b = tiny_domains
    run = train("template", a, b, out=str(tmp_path / "run"), size=32, batch=2, iters=1)
    capsys.readouterr()  # the training log
    code, _, err = run_cli("translate", run, "--input", b, "--out", tmp_path / "rev", "--reverse")
    assert code != 0 and err.strip().splitlines() == [
        "error: --reverse: template translates photo -> cartoon only; "
        "runs of cyclegan, landmark-cyclegan translate both ways"
    ]
    assert not (tmp_path / "rev").exists()
    with pytest.raises(InputError, match="template translates photo -> cartoon only"):
        translate(run, b, tmp_path / "rev", reverse=True)


def test_resume_refuses_a_changed_plan_unless_overridden(tmp_path, tiny_domains):
    import cfkit.methods.template  # noqa: F401
    from cfkit.train import train

    a, b = tiny_domains
    opts = dict(out=str(tmp_path / "run"), size=32, batch=2, iters=4)
    train("template", a, b, stop_at=2, **opts)
    with pytest.raises(InputError, match=r"--iters is 6, the run was started with 4; pass --override"):
        train("template", a, b, resume=True, **{**opts, "iters": 6})
    with pytest.raises(InputError, match=r"--data-a is '.*'"):
        train("template", b, b, resume=True, **opts)
    with pytest.raises(InputError, match=r"--set split is 'all'"):
        train("template", a, b, resume=True, set={"split": "all"}, **opts)
    run = train("template", a, b, resume=True, override=True, **{**opts, "iters": 6})
    assert json.loads((run / "run.json").read_text())["step"] == 6


def test_a_method_phase_length_replans_with_override_and_other_hparams_stay_structural(tmp_path, tiny_domains):
    import cfkit.methods.template  # noqa: F401
    from cfkit.train import train

    a, b = tiny_domains
    opts = dict(out=str(tmp_path / "run"), size=32, batch=2)
    run = train("template", a, b, **opts)
    one_epoch = json.loads((run / "run.json").read_text())["step"]
    with pytest.raises(InputError, match=r"--set method.epochs is 2.0, the run was started with 1.0; pass --override"):
        train("template", a, b, resume=True, set={"method": {"epochs": 2.0}}, **opts)
    with pytest.raises(InputError, match=r"cannot resume: method differ"):
        train("template", a, b, resume=True, override=True, set={"method": {"w_identity": 2.0}}, **opts)
    train("template", a, b, resume=True, override=True, set={"method": {"epochs": 2.0}}, **opts)
    assert json.loads((run / "run.json").read_text())["step"] == 2 * one_epoch


def test_every_bundled_recipe_loads_into_typed_options():
    from cfkit.resources import resource_dir
    from cfkit.train.config import TrainOptions, resolve

    recipes = sorted((resource_dir("pipelines") / "train").glob("*.yaml"))
    assert len(recipes) >= 7
    for name in (p.stem for p in recipes):
        opts = resolve(name)
        assert isinstance(opts, TrainOptions) and opts.name == name and opts.recipe.endswith(f"{name}.yaml")
        assert isinstance(opts.batch, int) and (opts.size == "auto" or opts.size % 16 == 0)
        assert TrainOptions.from_saved({**opts.to_dict(), "from_a_newer_cfkit": 1}) == opts  # saved runs reload
