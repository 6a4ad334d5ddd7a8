"""CartoonGAN end to end through the CLI on real faces: CelebA photos -> bitmoji cartoons, 64 px,
full architecture at width 0.25."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.shared_data


def test_cartoongan_paper_architecture():
    from cfkit.nets.cartoongan import Discriminator, Generator

    g, d = Generator(), Discriminator()
    convs = [m for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    # flat (1) + 2 x down (2) + 8 residual blocks (2) + 2 x up (2) + final = 1 + 4 + 16 + 4 + 1
    assert len(convs) == 26
    assert convs[0].kernel_size == (7, 7) and convs[0].out_channels == 64
    assert [c.stride for c in convs[1:5]] == [(2, 2), (1, 1), (2, 2), (1, 1)]
    assert [c.out_channels for c in convs[1:5]] == [128, 128, 256, 256]
    assert convs[-1].kernel_size == (7, 7) and convs[-1].out_channels == 3
    x = torch.zeros(1, 3, 64, 64)
    assert g(x).shape == x.shape and d(x).shape == (1, 1, 16, 16)
    small = Generator(width=0.25)
    assert len([m for m in small.modules() if isinstance(m, torch.nn.Conv2d)]) == 24  # same layers, fewer channels
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in g.parameters()) / 10


def test_cartoongan_cli_train_then_translate(tmp_path, face_domains, run_cli, asset):
    from cfkit.imageio import load_rgb
    from cfkit.train.inference import load_method

    asset("vgg16")
    a, b = face_domains
    run = tmp_path / "run"
    rc, _, err = run_cli(
        "train", "cartoongan", "--data-a", a, "--data-b", b, "--size", "64", "--width", "0.25",
        "--batch", "4", "--iters", "4", "--out", run, "--set", "method.init_epochs=1", "--set", "method.epochs=3",
        "--set", "log_every=1", "--set", "sample_every=2", "--substitute", "vgg19=vgg16",
    )  # fmt: skip
    assert rc == 0, err
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["step"] == 4
    assert [s["phase"] for s in info["schedule"]] == ["init", "adversarial"]
    content = info["assets"]["content_loss"]  # the stand-in asked for, recorded as such
    assert (content["substituted_for"], content["arch"], content["layer"]) == ("vgg19/conv4_4", "vgg16", "conv4_3")
    assert content["weight_factor"] == 1.0 and content["inputs"] == "unit"
    assert content["sha256"] and (run / "config.yaml").is_file()
    hist = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in hist] == ["init", "adversarial", "adversarial", "adversarial"]
    assert {"d_real", "d_smooth", "d_fake", "g_adv", "g_content"} <= set(hist[-1])
    assert all(np.isfinite(v) for h in hist for k, v in h.items() if k not in ("step", "phase"))
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000002.png", "step-00000004.png"]
    assert list((run / "tb").glob("events.out.tfevents.*"))

    # parameters moved from their initial values (same seed rebuilds the initial networks)
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    torch.manual_seed(0)
    fresh = METHODS.get("cartoongan")(resolve("cartoongan", overrides={"size": 64, "width": 0.25}), "cpu")
    fresh.setup()
    trained, _, _ = load_method(run)
    for name in ("G", "D"):
        moved = [
            k for k, v in fresh.net(name).state_dict().items() if not torch.equal(v, trained.net(name).state_dict()[k])
        ]
        assert moved, name

    out = tmp_path / "out"
    rc, _, err = run_cli("translate", run, "--input", a, "--out", out, "--batch", "5")
    assert rc == 0, err
    ids = sorted(p.stem for p in (a / "images").glob("*.png"))
    assert sorted(p.stem for p in out.glob("*.png")) == ids
    img = load_rgb(out / f"{ids[0]}.png")
    assert img.shape == (64, 64, 3) and img.std() > 1  # not a constant image
    assert json.loads((out / "translate.json").read_text())["images"] == len(ids)

    # --mask-composite with the input dataset's masks/ (cartoongan has no mask model): background kept
    comp = tmp_path / "comp"
    rc, _, err = run_cli("translate", run, "--input", a, "--out", comp, "--mask-composite")
    assert rc == 0, err
    src, res = load_rgb(a / "images" / f"{ids[0]}.png"), load_rgb(comp / f"{ids[0]}.png")
    bg = load_rgb(a / "masks" / f"{ids[0]}.png")[..., 0] == 0
    assert bg.any() and (~bg).any()
    assert np.abs(res[bg].astype(int) - src[bg].astype(int)).max() <= 1
    assert np.abs(res[~bg].astype(int) - src[~bg].astype(int)).mean() > 5  # the face was translated

    rc, _, err = run_cli("translate", tmp_path / "nope", "--input", a, "--out", out)
    assert rc == 2 and "no run folder" in err


def test_init_pixel_term_is_off_in_the_paper_recipe(asset):
    from skimage import data

    from cfkit.train.config import resolve
    from cfkit.train.data import fit_square, to_float
    from cfkit.train.method import METHODS, Batch

    asset("vgg16")
    x = to_float(torch.from_numpy(fit_square(data.astronaut(), 32)).permute(2, 0, 1)[None])
    for w, terms in ((None, {"content"}), (7.0, {"content", "pixel"})):
        cfg = resolve("cartoongan", overrides={"size": 32, "width": 0.125, "substitute": {"vgg19": "vgg16"}})
        if w is not None:
            cfg.method["w_init_pixel"] = w
        torch.manual_seed(0)
        m = METHODS.get("cartoongan")(cfg, "cpu")
        m.setup()
        out = m.losses("init", "g", Batch({"a": x}))
        assert set(out) == terms
        if w is not None:
            with torch.no_grad():
                expected = 7.0 * (m.net("G")(x) - x).abs().mean()
            torch.testing.assert_close(out["pixel"].detach(), expected)


def test_pixel_only_init_skips_the_content_network_and_a_lossless_init_is_refused():
    from skimage import data

    from cfkit.errors import InputError
    from cfkit.train.config import resolve
    from cfkit.train.data import fit_square, to_float
    from cfkit.train.method import METHODS, Batch

    x = to_float(torch.from_numpy(fit_square(data.astronaut(), 32)).permute(2, 0, 1)[None])
    cfg = resolve("cartoongan", overrides={"size": 32, "width": 0.125})
    cfg.method.update(w_init_content=0.0, w_init_pixel=5.0)
    m = METHODS.get("cartoongan")(cfg, "cpu")
    m.setup()
    out = m.losses("init", "g", Batch({"a": x}))
    assert set(out) == {"pixel"} and m._content is None  # no VGG built (nor fetched) for the init phase
    cfg.method.update(w_init_pixel=0.0)
    with pytest.raises(InputError, match="init phase has no loss"):
        METHODS.get("cartoongan")(cfg, "cpu")
