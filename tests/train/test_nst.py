"""NST baseline: the "training" pass yields exactly the style set's averaged Gram matrices (checked
against a direct computation), checkpoints reload, and translating optimises inputs towards them."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def direct_style_grams(folder: Path, size: int) -> dict[str, torch.Tensor]:
    """Per-layer Gram matrices averaged over every image of ``folder``, computed in one batch."""
    from cfkit.methods.nst import STYLE_LAYERS, VGGFeatures, gram
    from cfkit.nets.pretrained import vgg_features
    from cfkit.train.data import load_domain, to_float

    feats, _ = vgg_features("vgg19")
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
    run = train("nst", a, b, out=str(tmp_path / "run"), set={"method": {"steps": 5}}, **opts)

    info = json.loads((run / "run.json").read_text())
    assert info["schedule"] == [{"phase": "style", "iters": 3, "steps": ["stats"]}]  # 6 style images / 2
    if "substituted_for" in info["assets"]["vgg"]:
        assert info["assets"]["vgg"]["asset"] == "vgg16"
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
