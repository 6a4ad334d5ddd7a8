"""cartoongan-mask (seed 001) on real faces: the U-Net learns the masks (BCE falls) and the
discriminator's input has the background zeroed, so D's verdict ignores the background."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.shared_data

HP = {"method": {"init_epochs": 1, "unet_epochs": 30, "epochs": 3}}


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory, face_domains, asset):
    from cfkit.train import train

    asset("vgg16")
    torch.set_num_threads(1)  # module-scoped fixture: runs before the per-test thread fixture
    a, b = face_domains
    out = tmp_path_factory.mktemp("mask") / "run"
    opts = {"size": 64, "width": 0.25, "batch": 4, "iters": 34, "log_every": 1, "substitute": {"vgg19": "vgg16"}}
    return train("cartoongan-mask", a, b, out=str(out), set=HP, **opts)


def test_unet_bce_falls_and_schedule(mask_run):
    hist = [json.loads(x) for x in (mask_run / "metrics.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in hist] == ["init"] + ["unet"] * 30 + ["adversarial"] * 3
    bce = [h["u_bce"] for h in hist if h["phase"] == "unet"]
    assert np.mean(bce[-5:]) < 0.75 * np.mean(bce[:3]), bce
    assert all(np.isfinite(v) for h in hist for k, v in h.items() if k not in ("step", "phase"))
    info = json.loads((mask_run / "run.json").read_text())
    assert info["data"]["a"]["masks"] and info["data"]["b"]["masks"]


def test_discriminator_never_sees_the_background(mask_run, face_domains):
    from cfkit.train.data import load_domain, to_float
    from cfkit.train.inference import load_method

    method, _, _ = load_method(mask_run, "cpu")
    a_dom, b_dom = (load_domain(d, 64) for d in face_domains)
    a, b = to_float(a_dom.images[:8]), to_float(b_dom.images[:8])
    b_mask = b_dom.masks[:8].float() / 255
    with torch.no_grad():
        # real cartoons: D input is exactly zero outside the curated mask, untouched inside
        seen = method.d_input(b, b_mask)
        bg = (b_mask < 0.5).expand_as(b)
        assert bg.any() and (~bg).any()
        assert torch.equal(seen[bg], torch.zeros_like(seen[bg])) and torch.equal(seen[~bg], b[~bg])
        # so D's verdict does not change when only the background changes
        noisy = torch.where(bg, torch.rand_like(b) * 2 - 1, b)
        assert torch.equal(method.discriminate(noisy, b_mask), method.discriminate(b, b_mask))
        # generated images: masked by the trained U-Net's own mask of that image
        fake = method.translate(a)
        m = (method.mask_probs(fake) > 0.5).expand_as(fake)
        seen_fake = method.d_input(fake)
        assert torch.equal(seen_fake[~m], torch.zeros_like(seen_fake[~m])) and torch.equal(seen_fake[m], fake[m])
        # the U-Net learned the photos' face masks
        pred, gt = method.mask_probs(a) > 0.5, a_dom.masks[:8] > 127
        iou = (pred & gt).sum() / (pred | gt).sum()
        assert iou > 0.6, float(iou)


def test_predict_masks_and_mask_composite(mask_run, face_domains, tmp_path):
    from cfkit.imageio import load_rgb
    from cfkit.methods.cartoongan_mask import predict_masks
    from cfkit.train import translate

    a, _ = face_domains
    paths = sorted((a / "images").glob("*.png"))[:3]
    imgs = [load_rgb(p) for p in paths]
    imgs.append(np.ascontiguousarray(np.pad(imgs[0], ((10, 10), (0, 20), (0, 0)), constant_values=255)))
    masks = predict_masks(mask_run, imgs)
    assert [m.shape for m in masks] == [im.shape[:2] for im in imgs]
    assert all(set(np.unique(m)) <= {0, 255} for m in masks) and 0 < masks[0].mean() < 255

    written = translate(mask_run, a, tmp_path / "out", mask_composite=True)
    assert sorted(p.stem for p in written) == sorted(p.stem for p in (a / "images").glob("*.png"))
    for p in paths:
        out, src = load_rgb(tmp_path / "out" / p.name), load_rgb(p)
        m = predict_masks(mask_run, [src])[0]
        bg = m == 0
        assert bg.any()
        # background kept from the input (up to uint8 rounding), face replaced
        assert np.abs(out[bg].astype(int) - src[bg].astype(int)).max() <= 1


class BrightnessMask(torch.nn.Module):
    """A stand-in U-Net with a known answer: face = pixels brighter than mid-grey."""

    def forward(self, x):
        return x.mean(1, keepdim=True) * 50


def test_real_and_fake_d_inputs_carry_masks_from_the_same_model():
    from skimage import data

    from cfkit.methods.cartoongan_mask import CartoonGANMask
    from cfkit.train.data import fit_square, to_float
    from cfkit.train.method import Batch

    method = CartoonGANMask({"size": 32, "width": 0.125, "method": {}}, torch.device("cpu"))
    method.setup()
    method.nets["U"] = BrightnessMask()
    seen: list[torch.Tensor] = []
    method.nets["D"].register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    imgs = [fit_square(im, 32) for im in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket())]
    x = to_float(torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2))
    a, b = x[:2], x[2:]
    everywhere = torch.ones_like(b[:, :1])  # a curated mask unlike the model's: must not reach D
    batch = Batch({"a": a, "b": b, "b_smooth": b.flip(-1), "b_mask": everywhere, "a_mask": everywhere})
    with torch.no_grad():
        method.losses("adversarial", "d", batch)
        fake = method.translate(a)

    def by_model(img):
        return img * (img.mean(1, keepdim=True) > 0).to(img.dtype)

    real_in, smooth_in, fake_in = seen
    assert (by_model(b) == 0).any() and (by_model(fake) == 0).any()
    torch.testing.assert_close(real_in, by_model(b))
    torch.testing.assert_close(smooth_in, b.flip(-1) * (b.mean(1, keepdim=True) > 0))  # the real's mask
    torch.testing.assert_close(fake_in, by_model(fake))


def test_unet_learns_the_masks_of_both_domains():
    from cfkit.methods.cartoongan_mask import CartoonGANMask
    from cfkit.train.method import Batch

    method = CartoonGANMask({"size": 32, "width": 0.125, "method": {}}, torch.device("cpu"))
    method.setup()
    method.nets["U"] = BrightnessMask()
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(2))
    ma, mb = (torch.rand(2, 1, 32, 32, generator=g).round() for _ in range(2))
    loss = method.losses("unet", "u", Batch({"a": a, "b": b, "a_mask": ma, "b_mask": mb}))["bce"]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        BrightnessMask()(torch.cat([a, b])), torch.cat([ma, mb])
    )
    torch.testing.assert_close(loss, expected)
