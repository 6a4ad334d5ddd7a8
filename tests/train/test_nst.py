"""NST baseline: the "training" pass yields exactly the style set's averaged Gram matrices (checked
against a direct computation), checkpoints reload, and translating optimises inputs towards them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

STANDIN = {"vgg19": "vgg16"}  # offline there is no VGG19: the tests ask for the stand-in


def direct_style_grams(folder: Path, size: int) -> dict[str, torch.Tensor]:
    """Per-layer Gram matrices averaged over every image of ``folder``, computed in one batch."""
    from cfkit.methods.nst import STYLE_LAYERS, VGGFeatures, gram
    from cfkit.nets.pretrained import torchvision_features
    from cfkit.train.data import load_domain, to_float

    feats, _ = torchvision_features("vgg16")  # the stand-in the tests ask for (no VGG19 offline)
    vgg = VGGFeatures(feats, STYLE_LAYERS)
    with torch.no_grad():
        f = vgg(to_float(load_domain(folder, size, masks=False).images[:]))
    return {k: gram(f[k]).mean(0) for k in STYLE_LAYERS}


def test_layer_names_follow_the_paper():
    from torchvision.models.vgg import cfgs, make_layers  # torchvision's VGG-16 ("D") and VGG-19 ("E") features

    from cfkit.methods.nst import vgg_layer_names

    n16, n19 = vgg_layer_names(make_layers(cfgs["D"])), vgg_layer_names(make_layers(cfgs["E"]))
    assert [n16.index(k) for k in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")] == [
        1, 6, 11, 18, 20, 25
    ]  # fmt: skip
    assert [n19.index(k) for k in ("relu4_1", "relu4_2", "relu5_1")] == [20, 22, 29]


def test_nst_style_pass_checkpoint_and_translate(request, tmp_path, asset):
    from test_cyclegan import image_ids, real_domains, subset

    from cfkit.imageio import load_rgb
    from cfkit.methods.nst import gram
    from cfkit.train import train
    from cfkit.train.data import fit_square, to_float
    from cfkit.train.inference import load_method, translate

    asset("vgg16")
    a, b = real_domains(request, tmp_path)
    opts = {"size": 64, "batch": 2, "log_every": 1, "sample_every": 100}
    run = train("nst", a, b, out=str(tmp_path / "run"), set={"method": {"steps": 5}}, substitute=STANDIN, **opts)

    info = json.loads((run / "run.json").read_text())
    assert info["schedule"] == [{"phase": "style", "iters": 3, "steps": ["stats"]}]  # 6 style images / 2
    assert (info["assets"]["vgg"]["asset"], info["assets"]["vgg"]["substituted_for"]) == ("vgg16", "vgg19")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(torch.isfinite(torch.tensor(r["stats_gram_fit"])) for r in rows)

    method, cfg, _ = load_method(run, device="cpu")  # reloaded from the checkpoint
    style = method.net("style")
    assert float(style.count) == 6
    for layer, g in direct_style_grams(b, 64).items():
        assert g.abs().max() > 0
        torch.testing.assert_close(style.grams[layer], g, rtol=1e-4, atol=1e-6)

    inp = subset(a, tmp_path / "in", 2)
    written = translate(run, inp, str(tmp_path / "out"), device="cpu")
    assert sorted(p.stem for p in written) == image_ids(inp)

    def style_distance(rgb) -> float:
        x = to_float(torch.from_numpy(rgb).permute(2, 0, 1)[None])
        with torch.no_grad():
            f = method.vgg(x)
        return sum(float((gram(f[k])[0] - style.grams[k]).pow(2).mean()) for k in method.style_layers)

    for p in written:
        out = load_rgb(p)
        src = fit_square(load_rgb(next(inp.glob(p.stem + ".*"))), 64)
        assert out.shape == (64, 64, 3) and not (out == src).all()
        assert style_distance(out) < 0.8 * style_distance(src)  # 5 L-BFGS iterations: about -45%


def test_style_pass_uses_every_image_once_and_resumes_exactly(request, tmp_path, asset):
    from test_cyclegan import real_domains, subset

    from cfkit.runs.checkpoint import latest, load
    from cfkit.train import train

    asset("vgg16")
    a, b = real_domains(request, tmp_path)
    b5 = subset(b, tmp_path / "b5", 5)  # 5 style images, batch 2: the pass needs 3 iterations, not round(2.5)
    opts = {"size": 64, "batch": 2, "log_every": 1, "sample_every": 100, "set": {"method": {"steps": 1}}}
    opts["substitute"] = STANDIN
    run = train("nst", a, b5, out=str(tmp_path / "run"), **opts)
    state = load(latest(run))
    assert state["step"] == 3 and float(state["nets"]["style"]["count"]) == 5
    assert len(state["nets"]["style"]["_extra_state"]["seen"]) == 5  # the seen set is in the checkpoint
    for layer, g in direct_style_grams(b5, 64).items():
        torch.testing.assert_close(state["nets"]["style"][f"grams.{layer}"], g, rtol=1e-4, atol=1e-6)
    # stop after 2 iterations (4 images seen; the third wraps around to an image already counted), resume
    train("nst", a, b5, out=str(tmp_path / "part"), stop_at=2, **opts)
    train("nst", a, b5, out=str(tmp_path / "part"), resume=True, **opts)
    resumed = load(latest(tmp_path / "part"))
    assert float(resumed["nets"]["style"]["count"]) == 5
    for k, v in state["nets"]["style"].items():
        if isinstance(v, torch.Tensor):
            torch.testing.assert_close(resumed["nets"]["style"][k], v, rtol=0, atol=0)


def test_style_statistics_are_fp32_under_autocast(request, tmp_path, asset):
    from test_cyclegan import real_domains

    from cfkit.methods.nst import NeuralStyleTransfer, gram
    from cfkit.train.data import load_domain, to_float
    from cfkit.train.method import Batch

    asset("vgg16")
    _, b = real_domains(request, tmp_path)
    dom = load_domain(b, 64, "all", masks=False)
    x = to_float(dom.images[:4])
    method = NeuralStyleTransfer({"size": 64, "method": {}, "substitute": STANDIN}, torch.device("cpu"))
    method.setup()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as the trainer's AMP does on CUDA
        method.losses("style", "stats", Batch({"b": x}, {"b": dom.ids[:4]}))
    style = method.net("style")
    with torch.no_grad():
        feats = method.vgg(x)  # what translate compares against: fp32
    for k in method.style_layers:
        mean = getattr(style, f"sum_{k}") / style.count
        torch.testing.assert_close(mean.float(), gram(feats[k]).mean(0), rtol=1e-4, atol=1e-7)
