"""The landmark contract: 5-point scheme, heatmaps and soft-argmax, patches, landmarks in batches,
and the landmark-regressor method trained and loaded as a frozen module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cfkit.geometry import scheme
from cfkit.imageio import save_png

# --- scheme -----------------------------------------------------------------------------------


def test_from_dlib68_picks_eye_means_nose_tip_inner_lips_chin():
    pts = np.zeros((68, 2), np.float32)
    pts[36:42] = [10, 20]
    pts[36, 0] = 16  # eye mean x = 11
    pts[42:48] = [40, 20]
    pts[30] = [25, 30]
    pts[60:68] = [25, 40]
    pts[48:60] = [99, 99]  # outer lips are not used
    pts[8] = [25, 55]
    assert scheme.from_dlib68(pts).tolist() == [[11, 20], [40, 20], [25, 30], [25, 40], [25, 55]]


def test_flip_mirrors_x_and_swaps_eyes_numpy_and_torch():
    p = np.array([[0.3, 0.4], [0.7, 0.41], [0.5, 0.6], [0.52, 0.75], [0.5, 0.9]], np.float32)
    f = scheme.flip(p)
    assert np.allclose(f[0], [0.3, 0.41]) and np.allclose(f[1], [0.7, 0.4]) and np.allclose(f[3], [0.48, 0.75])
    assert np.allclose(scheme.flip(f), p)
    t = torch.from_numpy(p)[None]
    assert torch.allclose(scheme.flip(t)[0], torch.from_numpy(f)) and torch.equal(t[0], torch.from_numpy(p))


def test_lm5_roundtrip_and_missing_values():
    p = np.array([[10, 20], [30, 21], [20, 30], [20, 40], [20, 50]], np.float32)
    flat = scheme.to_lm5(p, 64, 128)
    assert np.allclose(flat[:2], [10.5 / 64, 20.5 / 128], atol=1e-5) and len(flat) == 10  # pixel 10: [10, 11) / 64
    assert np.allclose(scheme.from_lm5(flat) * [64, 128] - 0.5, p, atol=1e-3)
    assert scheme.from_lm5(None) is None and scheme.from_lm5([float("nan")] * 10) is None


# --- heatmaps, soft-argmax, loss --------------------------------------------------------------


def test_soft_argmax_recovers_subpixel_points_and_is_differentiable():
    from cfkit.nets.landmarks import heatmaps, soft_argmax

    torch.manual_seed(0)
    pts = torch.rand(4, 5, 2) * 0.8 + 0.1
    heat = heatmaps(pts, 64, 1.6)
    assert heat.shape == (4, 5, 64, 64) and torch.allclose(heat.amax((2, 3)), torch.ones(4, 5), atol=0.2)
    # the peak pixel is the one containing the point
    idx = heat.flatten(2).argmax(-1)
    assert torch.equal(idx % 64, (pts[..., 0] * 64).long()) and torch.equal(idx // 64, (pts[..., 1] * 64).long())
    got = soft_argmax(heat)
    assert (got - pts).abs().max() * 64 < 0.05  # px
    noisy = (heat + 0.05 * torch.randn_like(heat)).requires_grad_(True)
    out = soft_argmax(noisy)
    assert (out - pts).abs().max() * 64 < 0.5
    out.sum().backward()
    assert noisy.grad.abs().sum() > 0


def test_heatmaps_non_square_and_loss_ignores_images_without_landmarks():
    from cfkit.nets.landmarks import heatmap_loss, heatmaps

    h = heatmaps(torch.tensor([[[0.26, 0.52]]]), (32, 64), 2.0)  # pixel (16, 16)
    assert h.shape == (1, 1, 32, 64) and h[0, 0].argmax().item() == 16 * 64 + 16
    target = torch.zeros(2, 5, 8, 8)
    pred = torch.zeros(2, 5, 8, 8)
    pred[1] = 1.0  # wrong everywhere, but image 1 has no landmarks
    assert heatmap_loss(pred, target, torch.tensor([1.0, 0.0])).item() == 0.0
    assert heatmap_loss(pred, target).item() == pytest.approx(0.5)
    peak = torch.zeros(1, 1, 2, 2)
    peak[0, 0, 0, 0] = 1.0  # missing the peak costs 1 + fg_weight there
    assert heatmap_loss(torch.zeros(1, 1, 2, 2), peak, fg_weight=9.0).item() == pytest.approx(10 / 4)


# --- patches ----------------------------------------------------------------------------------


def _direct_crop(img: torch.Tensor, cx: int, cy: int, size: int) -> torch.Tensor:
    """The patch of side ``size`` whose top-left pixel is (cx - size/2, cy - size/2), zeros outside."""
    c, h, w = img.shape
    out = torch.zeros(c, size, size)
    x0, y0 = cx - size // 2, cy - size // 2
    for j in range(size):
        for i in range(size):
            y, x = y0 + j, x0 + i
            if 0 <= y < h and 0 <= x < w:
                out[:, j, i] = img[:, y, x]
    return out


def test_crop_patches_matches_direct_crop_inside_and_at_borders():
    from cfkit.nets.patches import crop_patches

    torch.manual_seed(0)
    imgs = torch.rand(4, 3, 40, 48) + 0.5  # no zeros inside, so padding is visible
    px = [(20, 20), (0, 0), (47, 39), (3, 30)]  # centre, corner, far corner, left border
    centres = torch.tensor([[x / 48, y / 40] for x, y in px])
    got = crop_patches(imgs, centres, 12)
    assert got.shape == (4, 3, 12, 12)
    for k, (x, y) in enumerate(px):
        assert torch.allclose(got[k], _direct_crop(imgs[k], x, y, 12), atol=1e-5), k
    # shrinking: each output pixel averages its 2x2 block of the direct crop
    small = crop_patches(imgs, centres, 12, out=6)
    for k, (x, y) in enumerate(px):
        ref = torch.nn.functional.avg_pool2d(_direct_crop(imgs[k], x, y, 12)[None], 2)[0]
        assert torch.allclose(small[k], ref, atol=1e-5), k


def test_crop_patches_is_differentiable_in_the_images():
    from cfkit.nets.patches import crop_patches

    imgs = torch.rand(2, 3, 32, 32, requires_grad=True)
    crop_patches(imgs, torch.tensor([[0.5, 0.5], [3 / 32, 29 / 32]]), 8).sum().backward()
    g = imgs.grad
    assert g[0, :, 12:20, 12:20].eq(1).all() and g[0].sum() == 3 * 64  # exactly the cropped pixels
    assert g[1, :, 25:, :7].eq(1).all() and g[1].sum() == 3 * 7 * 7  # columns -1..6, rows 25..32


# --- landmarks in training batches ------------------------------------------------------------

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]], np.uint8)
#: image-relative points of the 96 x 64 (w x h) test image, inside its central 64 x 64 crop
POINTS = np.array([[0.36, 0.35], [0.62, 0.33], [0.5, 0.55], [0.47, 0.7], [0.55, 0.88]])


def _dotted(w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), 128, np.uint8)
    for (x, y), c in zip(POINTS, COLOURS, strict=True):
        cx, cy = int(x * w), int(y * h)
        img[cy - 3 : cy + 4, cx - 3 : cx + 4] = c
    return img


@pytest.fixture
def landmark_dataset(tmp_path):
    """A prepared dataset: 'dots' (96 x 64, lm5 = POINTS), 'old' (64 x 64, dlib68 only), 'none'."""
    root = tmp_path / "lmdata"
    save_png(root / "images" / "dots.png", _dotted(96, 64))
    save_png(root / "images" / "old.png", _dotted(64, 64))
    save_png(root / "images" / "none.png", np.full((64, 64, 3), 128, np.uint8))
    lm68 = np.zeros((68, 2))
    lm68[36:42], lm68[42:48], lm68[30], lm68[60:68], lm68[8] = POINTS * 64 - 0.5  # pixel indices
    rows = [
        {"id": "dots", "split": "train", "size": 64, "lm5": list(POINTS.ravel()), "lm_source": "animeface"},
        {"id": "old", "split": "train", "size": 64, "landmarks68": list(lm68.ravel()), "lm5": None},
        {"id": "none", "split": "train", "size": 64, "lm5": None, "lm_source": None},
    ]
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    return root


def _colour_at(img: torch.Tensor, pt: torch.Tensor) -> np.ndarray:
    s = img.shape[-1]
    x, y = (pt * s).long().clamp(0, s - 1).tolist()
    return ((img[:, y, x] + 1) * 127.5).round().numpy()


def test_batches_carry_landmarks_resized_cropped_and_flipped(landmark_dataset, tmp_path):
    from cfkit.train.config import resolve
    from cfkit.train.landmark_data import domain_landmarks
    from cfkit.train.trainer import Trainer

    pts, ok = domain_landmarks(landmark_dataset, ["dots", "old", "none"], 32)
    assert ok.tolist() == [1.0, 1.0, 0.0]
    # 96 x 64 -> 48 x 32, centre crop of 32: x' = (x * 48 - 8) / 32
    assert torch.allclose(pts[0, :, 0], torch.tensor((POINTS[:, 0] * 48 - 8) / 32, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(pts[1], torch.tensor(POINTS, dtype=torch.float32), atol=1e-5)  # from dlib68

    cfg = resolve(
        "landmark-regressor",
        overrides={
            "data_a": str(landmark_dataset),
            "size": 32,
            "batch": 3,
            "out": str(tmp_path / "run"),
            "width": 0.25,
            "device": "cpu",
        },
    )
    tr = Trainer(cfg)
    seen = set()
    for _ in range(8):
        b = tr.next_batch()
        assert b["a_heat"].shape == (3, 5, 32, 32) and b["a_lm"].shape == (3, 5, 2)
        for k, i in enumerate(b.ids["a"]):
            if i == "none":
                assert b["a_lm_ok"][k] == 0 and b["a_heat"][k].abs().sum() == 0 and b["a_lm"][k].abs().sum() == 0
                continue
            assert b["a_lm_ok"][k] == 1
            flipped = abs(b["a_lm"][k, 0, 1] - POINTS[1, 1]) < 1e-4  # eye_l has the y of the image-right eye
            for j in range(5):
                # the dot under point j has the colour of landmark j, or of FLIP[j] in a mirrored image
                want = COLOURS[scheme.FLIP[j] if flipped else j]
                assert np.abs(_colour_at(b["a"][k], b["a_lm"][k, j]) - want).max() <= 40, (i, j, flipped)
            peak = b["a_heat"][k].flatten(1).argmax(-1)  # its pixel centre is within half a pixel of the point
            assert ((peak % 32 + 0.5) - b["a_lm"][k, :, 0] * 32).abs().max() <= 0.5 + 1e-4
            assert ((peak // 32 + 0.5) - b["a_lm"][k, :, 1] * 32).abs().max() <= 0.5 + 1e-4
            seen.add((i, bool(flipped)))
    assert {("dots", True), ("dots", False), ("old", True), ("old", False)} <= seen


def test_train_landmark_regressor_then_load_it_frozen(landmark_dataset, tmp_path, run_cli):
    from cfkit.nets.landmarks import LandmarkRegressor, load_regressor

    out = tmp_path / "reg"
    code, _, err = run_cli(
        "train",
        "landmark-regressor",
        "--data",
        landmark_dataset,
        "--size",
        "32",
        "--iters",
        "3",
        "--batch",
        "2",
        "--width",
        "0.25",
        "--device",
        "cpu",
        "--out",
        out,
    )
    assert code == 0, err
    reg = load_regressor(out)
    assert isinstance(reg, LandmarkRegressor) and not reg.training and reg.size == 32
    x = torch.zeros(2, 3, 64, 64, requires_grad=True)  # another size: resized to 32 inside
    p = reg.points(x)
    assert p.shape == (2, 5, 2) and ((p >= 0) & (p <= 1)).all()
    p.sum().backward()
    assert x.grad is not None and all(q.grad is None for q in reg.parameters())
    code, _, err = run_cli("train", "landmark-regressor", "--data-a", landmark_dataset, "--data-b", landmark_dataset)
    assert code != 0 and "--data DIR" in err
    code, _, err = run_cli("train", "cyclegan", "--data", landmark_dataset)
    assert code != 0 and "--data-a DIR and --data-b DIR" in err
