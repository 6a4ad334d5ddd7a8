"""White-box cartoonization (seed 003): its filters and representations against direct computations,
then training, resume and translation on real faces at small size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch


def _direct_guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter per channel with explicit windows clipped at the image border."""
    h, w = guide.shape

    def box(x):
        out = np.empty_like(x)
        for i in range(h):
            for j in range(w):
                out[i, j] = x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean()
        return out

    mi, mp = box(guide), box(src)
    a = (box(guide * src) - mi * mp) / (box(guide * guide) - mi * mi + eps)
    b = mp - a * mi
    return box(a) * guide + box(b)


@pytest.mark.parametrize(("r", "eps"), [(1, 1e-2), (2, 5e-3), (5, 0.2)])
def test_guided_filter_matches_direct_box_computation(r, eps):
    from cfkit.nets.whitebox import guided_filter

    g = torch.Generator().manual_seed(r)
    guide = torch.rand(2, 3, 13, 17, generator=g, dtype=torch.float64) * 2 - 1
    src = torch.rand(2, 3, 13, 17, generator=g, dtype=torch.float64) * 2 - 1
    ours = guided_filter(guide, src, r, eps).numpy()
    for n in range(2):
        for c in range(3):
            ref = _direct_guided_filter(guide[n, c].numpy(), src[n, c].numpy(), r, eps)
            np.testing.assert_allclose(ours[n, c], ref, rtol=1e-9, atol=1e-12)
    # a large eps smooths towards the box mean; a tiny eps with guide == src returns the image
    flat = guided_filter(src, src, 1, 1e-8)
    assert torch.allclose(flat, src, atol=1e-4)


def test_colour_shift_uses_the_official_ranges_in_rgb_order():
    from cfkit.nets.whitebox import COLOR_SHIFT_RANGES, color_shift, color_shift_weights

    # official utils.color_shift (BGR images): b U(0.014, 0.214), g U(0.487, 0.687), r U(0.199, 0.399)
    assert COLOR_SHIFT_RANGES == ((0.199, 0.399), (0.487, 0.687), (0.014, 0.214))
    torch.manual_seed(0)
    w = torch.stack([color_shift_weights() for _ in range(4000)])
    for c, (lo, hi) in enumerate(COLOR_SHIFT_RANGES):
        assert lo <= w[:, c].min() < lo + 0.005 and hi - 0.005 < w[:, c].max() <= hi
    # each channel reaches the gray image with its own weight; one draw shared by all images
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    weights = torch.tensor([0.3, 0.6, 0.1])
    gray_red, gray_white = color_shift(red, torch.ones(1, 3, 4, 4), weights=weights)
    assert gray_red.shape == (1, 1, 4, 4)
    assert torch.allclose(gray_red, torch.full_like(gray_red, 0.3)) and torch.allclose(
        gray_white, torch.ones(1, 1, 4, 4)
    )


def test_adaptive_colouring_on_a_known_image():
    from cfkit.nets.superpixel import SuperpixelPool, adaptive_colour, superpixel_image

    rng = np.random.default_rng(0)
    img = np.zeros((32, 32, 3), np.uint8)
    labels = np.zeros((32, 32), np.int64)
    labels[:, 16:] = 1
    labels[16:, :] += 2
    img[labels == 0] = (200, 40, 40)  # flat: std 0 < 20 -> mean
    noisy = np.clip(rng.normal(120, 30, (16 * 16, 3)), 0, 255).astype(np.uint8)  # 20 < std < 40
    img[labels == 1] = noisy
    bimodal = np.where(np.arange(16 * 16)[:, None] % 4 == 0, 250, 10).repeat(3, 1).astype(np.uint8)  # std > 40
    img[labels == 2] = bimodal
    img[labels == 3] = (10, 200, 90)
    out = adaptive_colour(img, labels)
    assert np.allclose(out[labels == 0], (200, 40, 40)) and np.allclose(out[labels == 3], (10, 200, 90))
    n = noisy.astype(np.float32)
    assert 20 < n.std() < 40
    assert np.allclose(out[labels == 1][0], 0.5 * n.mean(0) + 0.5 * np.median(n, 0), atol=1e-3)
    assert bimodal.std() > 40 and np.allclose(out[labels == 2][0], 10)  # median (mean would be 70)

    # SLIC (sigma 1 blurs edges by a pixel) on four flat quadrants: every segment takes one quadrant's
    # exact colour (mean of a flat segment, median where it straddles an edge), the edges stay in place
    quads = np.zeros((64, 64, 3), np.uint8)
    colours = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (90, 90, 90)], np.uint8)
    quads[:32, :32], quads[:32, 32:], quads[32:, :32], quads[32:, 32:] = colours
    sp = superpixel_image(quads, n_segments=16)
    assert {tuple(c) for c in sp.reshape(-1, 3).astype(int)} == {tuple(c) for c in colours.astype(int)}
    assert (sp == quads).all(-1).mean() > 0.95
    # the worker pool returns what the in-process computation returns
    batch = np.stack([img, quads[:32, :32]])
    pool = SuperpixelPool(workers=1)
    try:
        np.testing.assert_array_equal(pool.submit(batch).result(), SuperpixelPool(workers=0).submit(batch).result())
    finally:
        pool.close()


KILLED_PARENT = """
import multiprocessing
import time

import numpy as np

from cfkit.nets.superpixel import SuperpixelPool

if __name__ == "__main__":
    pool = SuperpixelPool(workers=1)
    pool.submit(np.zeros((1, 16, 16, 3), np.uint8)).result()
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)
    time.sleep(60)
"""


def test_superpixel_workers_exit_when_the_training_process_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "train_like.py"  # spawned workers re-import a main script from a file
    script.write_text(KILLED_PARENT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert workers, "the pool started no worker process"
    proc.send_signal(signal.SIGKILL)  # no finalizers run: the pool is never shut down
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as f:  # an exited child re-parented to init may linger as a zombie
            return f.read().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers)


def test_official_architecture_and_normalisations():
    from cfkit.methods.whitebox import feature_l1
    from cfkit.nets.whitebox import Discriminator, Generator, total_variation

    g = Generator()
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    # 7x7, 2 x (stride-2, conv), 4 blocks x 2, mid 3x3, 2 x 2 decoder convs (the last 7x7): official unet_generator
    assert len(convs) == 1 + 4 + 8 + 1 + 2 + 2
    assert [c.out_channels for c in convs[:5]] == [32, 32, 64, 64, 128]
    assert [c.stride for c in convs[:5]] == [(1, 1), (2, 2), (1, 1), (2, 2), (1, 1)]
    assert convs[0].kernel_size == convs[-1].kernel_size == (7, 7) and convs[-1].out_channels == 3
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d)) for m in g.modules())
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert g(x).shape == x.shape
    d = Discriminator(1)
    assert d(torch.zeros(2, 1, 64, 64)).shape == (2, 1, 8, 8)
    assert all(hasattr(m, "parametrizations") for m in d.modules() if isinstance(m, torch.nn.Conv2d))
    # official total_variation_loss and VGG loss normalisations, written out
    y = torch.rand(2, 3, 8, 8)
    tv = ((y[:, :, 1:] - y[:, :, :-1]) ** 2).mean() + ((y[..., 1:] - y[..., :-1]) ** 2).mean()
    assert torch.isclose(total_variation(y), tv / (3 * 8 * 8))
    f1, f2 = torch.rand(2, 512, 4, 4), torch.rand(2, 512, 4, 4)
    assert torch.isclose(feature_l1(f1, f2), (f1 - f2).abs().mean() / (4 * 4 * 512))


#: an aligned face's 5 points (eye_l, eye_r, nose, mouth, chin), image-relative
TEMPLATE = np.array([[0.36, 0.42], [0.64, 0.42], [0.5, 0.56], [0.5, 0.7], [0.5, 0.9]], np.float32)


@pytest.fixture(scope="module")
def lm_domains(shared_data, tmp_path_factory):
    """(A, B) prepared datasets at 64 px with ``lm5``: 12 CelebA photos, 12 bitmoji faces; points are
    the aligned-face template jittered per image (the method is tested here, not the landmarks),
    one image per domain without landmarks."""
    import cv2
    import pandas as pd

    from cfkit.imageio import list_images, load_rgb, save_png

    root = tmp_path_factory.mktemp("wb")
    rng = np.random.default_rng(0)
    out = []
    for name, src in (("A", "photos/celeba_face2bitmoji128"), ("B", "cartoons/bitmoji_kaggle384")):
        ids, lm5 = [], []
        for k, path in enumerate(list_images(shared_data / src)[:12]):
            save_png(
                root / name / "images" / f"{path.stem}.png",
                cv2.resize(load_rgb(path), (64, 64), interpolation=cv2.INTER_AREA),
            )
            ids.append(path.stem)
            lm5.append(None if k == 0 else list((TEMPLATE + rng.normal(0, 0.01, TEMPLATE.shape)).ravel()))
        pd.DataFrame({"id": ids, "split": "train", "lm5": lm5}).to_parquet(root / name / "manifest.parquet")
        out.append(root / name)
    return tuple(out)


def test_landmark_loss_is_zero_for_identical_landmarks():
    from cfkit.methods.whitebox import landmark_loss

    pts = torch.rand(3, 5, 2)
    assert landmark_loss(pts, pts.clone()) == 0
    assert torch.isclose(landmark_loss(pts, pts + 0.1), torch.tensor(0.1))


def _flat(state, prefix=""):
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        return {k: v for key, val in state.items() for k, v in _flat(val, f"{prefix}/{key}").items()}
    if isinstance(state, (list, tuple)):
        return {k: v for i, val in enumerate(state) for k, v in _flat(val, f"{prefix}/{i}").items()}
    return {}


TINY = dict(size=32, width=0.125, batch=2, iters=6, log_every=1, ckpt_every=100, substitute={"vgg19": "vgg16"})
# a regressor phase of a few iterations is no better than the mean face: these tests go on anyway
TINY_HP = {"method": {"superpixel_workers": 1, "superpixel_segments": 20, "regressor_check": False}}


def test_whitebox_resume_is_bit_for_bit(tmp_path, lm_domains, asset):
    """All three phases (landmark regressor, pretrain, train), stopped inside the adversarial phase and
    resumed: weights, Adam moments, spectral-norm vectors, RNG (augmentation and colour-shift draws)
    and data position equal a straight run's; superpixels come from the worker pool."""
    from cfkit.runs.checkpoint import latest, load
    from cfkit.train import train

    asset("vgg16")
    a, b = lm_domains
    straight = train("whitebox", a, b, out=str(tmp_path / "straight"), set=TINY_HP, **TINY)
    half = train("whitebox", a, b, out=str(tmp_path / "resumed"), stop_at=5, set=TINY_HP, **TINY)
    assert load(latest(half))["phase"] == "train"
    assert [p["phase"] for p in json.loads((straight / "run.json").read_text())["schedule"]] == [
        "landmarks",
        "pretrain",
        "train",
    ]
    train("whitebox", a, b, out=str(tmp_path / "resumed"), resume=True, set=TINY_HP, **TINY)
    s, r = load(latest(straight)), load(latest(half))
    keys = ("nets", "optimizers", "rng")
    fs, fr = _flat({k: s[k] for k in keys}), _flat({k: r[k] for k in keys})
    assert fs.keys() == fr.keys() and any("_u" in k for k in fs)  # spectral-norm power-iteration state
    assert not [k for k in fs if not torch.equal(fs[k], fr[k])]
    assert s["streams"] == r["streams"] and s["step"] == 6


def test_whitebox_cli_train_then_translate(tmp_path, lm_domains, run_cli, asset):
    """Both phases through ``cfkit train whitebox`` on CelebA photos -> bitmoji at 64 px with a named
    landmark-regressor run (so no landmarks phase), then batched ``cfkit translate``."""
    from cfkit.imageio import load_rgb
    from cfkit.nets.whitebox import guided_filter
    from cfkit.train import train
    from cfkit.train.config import resolve
    from cfkit.train.data import to_uint8
    from cfkit.train.inference import load_method
    from cfkit.train.method import METHODS

    asset("vgg16")
    a, b = lm_domains
    reg = train("landmark-regressor", b, size=32, width=0.25, batch=2, iters=2, out=str(tmp_path / "reg"))
    run = tmp_path / "run"
    rc, _, err = run_cli(
        "train", "whitebox", "--data-a", a, "--data-b", b, "--size", "64", "--width", "0.25", "--batch", "4",
        "--iters", "5", "--out", run, "--set", "log_every=1", "--set", "method.superpixel_workers=1",
        "--set", f"method.regressor={reg}", "--substitute", "vgg19=vgg16",
    )  # fmt: skip
    assert rc == 0, err
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["step"] == 5
    assert [s["phase"] for s in info["schedule"]] == ["pretrain", "train"]
    content = info["assets"]["content_loss"]
    assert (content["substituted_for"], content["inputs"]) == ("vgg19/conv4_4", "caffe") and content["sha256"]
    assert info["assets"]["superpixel"] == {"method": "slic", "segments": 200}
    assert info["assets"]["landmark_regressor"].startswith(str(reg))
    hist = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    terms = {"g_surface", "g_texture", "g_tv", "g_content", "g_structure", "g_landmark", "d_surface", "d_texture"}
    assert "g_pre_recon" in hist[0] and terms <= set(hist[-1])
    assert all(np.isfinite(v) for h in hist for k, v in h.items() if k not in ("step", "phase"))
    assert all(h[k] > 0 for h in hist[-2:] for k in terms)

    torch.manual_seed(0)
    cfg = resolve("whitebox", overrides={"size": 64, "width": 0.25}, sets={"method": {"regressor": str(reg)}})
    fresh = METHODS.get("whitebox")(cfg, "cpu")
    fresh.setup()
    trained, _, _ = load_method(run)
    for name in ("G", "D_surface", "D_texture"):
        before, after = fresh.net(name).state_dict(), trained.net(name).state_dict()
        assert any(not torch.equal(v, after[k]) for k, v in before.items() if not k.endswith(("_u", "_v"))), name

    # batched translation = the generator then the guided filter at the test-time eps, image by image
    out = tmp_path / "out"
    rc, _, err = run_cli("translate", run, "--input", a, "--out", out, "--batch", "5")
    assert rc == 0, err
    written = sorted(out.glob("*.png"))
    assert [p.stem for p in written] == sorted(p.stem for p in (a / "images").glob("*.png"))
    x = torch.from_numpy(load_rgb(a / "images" / f"{written[0].stem}.png")).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        raw = trained.net("G")(x)
        expect = to_uint8(guided_filter(x, raw, 1, 5e-3).clamp(-1, 1))[0].permute(1, 2, 0).numpy()
        train_eps = to_uint8(guided_filter(x, raw, 1, 1e-2).clamp(-1, 1))[0].permute(1, 2, 0).numpy()
    got = load_rgb(written[0])
    assert np.abs(got.astype(int) - expect).max() <= 1 and got.std() > 1
    assert np.abs(got.astype(int) - train_eps).max() > 1  # the test-time eps is the one applied


def test_precision_sensitive_terms_stay_fp32_under_bf16_autocast():
    """G's output is bf16 under autocast; the guided filter's box sums and the regressor's soft-argmax run
    in float32 anyway (bf16 moved the landmark term's mean by 44 % over a short run, docs/train.md)."""
    from cfkit.methods.whitebox import WhiteBox, in_fp32
    from cfkit.nets.landmarks import LandmarkRegressor
    from cfkit.nets.whitebox import guided_filter

    torch.manual_seed(0)
    reg = LandmarkRegressor(width=0.25, depth=3).eval().requires_grad_(False)
    a, out = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    method = WhiteBox.__new__(WhiteBox)  # landmark_term needs only its regressor
    method.regressor = lambda: reg
    exact = method.landmark_term(out, a)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(method.landmark_term(out, a), exact)
        assert not torch.equal(landmark_loss_in_autocast(reg, out, a), exact)  # what bf16 gave before
        src = out.bfloat16()
        filtered = in_fp32(lambda g, s: guided_filter(g, s, 1, 1e-2), a, src)
    assert filtered.dtype == torch.float32
    assert torch.equal(filtered, guided_filter(a, src.float(), 1, 1e-2))


def landmark_loss_in_autocast(reg, out, a):
    from cfkit.methods.whitebox import landmark_loss

    return landmark_loss(reg.points(out), reg.points(a))
