"""landmark-cyclegan (seed 002) on real faces: architecture, the landmark loss, the patches, the
regressor phase, the stage switch (local discriminators in stage II only), bit-for-bit resume and
``cfkit translate`` from images alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cfkit.geometry.scheme import PARTS

pytestmark = pytest.mark.shared_data

SMALL = {"size": 64, "width": 0.125, "batch": 2, "log_every": 1, "sample_every": 100, "ckpt_every": 2, "keep": 10}
HP = {
    "method": {"n_blocks": 2, "regressor_iters": 1, "stage1_iters": 1, "stage2_iters": 1, "pool_size": 2}
    | {"regressor_batch": 2, "regressor_check": False}  # two regressor iterations cannot beat the mean face
}


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def lm_domains(shared_data, tmp_path_factory, asset) -> tuple[Path, Path]:
    """(A, B) prepared 64 px datasets with ``lm5``: 8 CelebA photos (dlib 68 -> 5 points) and 8 anime
    faces (animeface parts, found on a padded 2x copy), the last image of each without landmarks."""
    import cv2
    import pandas as pd

    from cfkit.faces.landmarks import Landmarks68
    from cfkit.geometry import scheme
    from cfkit.imageio import list_images, load_rgb, save_png

    asset("dlib-landmarks68")
    animeface = pytest.importorskip("animeface")
    from PIL import Image

    root = tmp_path_factory.mktemp("lm-domains")
    dlib68 = Landmarks68()

    def photo_points(rgb):
        pts = dlib68.detect(rgb)
        return None if pts is None else scheme.from_dlib68(pts)

    def anime_points(rgb):
        big = cv2.resize(cv2.copyMakeBorder(rgb, 16, 16, 16, 16, cv2.BORDER_REPLICATE), None, fx=2, fy=2)
        faces = animeface.detect(Image.fromarray(big))
        return scheme.from_animeface(max(faces, key=lambda f: f.face.pos.width)) / 2.0 - 16.0 if faces else None

    def make(dst: Path, folder: Path, points) -> Path:
        recs = []
        for k, p in enumerate(list_images(folder)[:8]):
            rgb = load_rgb(p)
            pts = None if k == 7 else points(rgb)
            save_png(dst / "images" / f"{p.stem}.png", cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA))
            lm5 = None if pts is None else scheme.to_lm5(pts, rgb.shape[1], rgb.shape[0])
            recs.append({"id": p.stem, "split": "train", "source": "test", "lm5": lm5})
        assert sum(r["lm5"] is not None for r in recs) >= 5, f"landmarks found on too few of {folder}"
        pd.DataFrame(recs).to_parquet(dst / "manifest.parquet")
        return dst

    a = make(root / "A", shared_data / "photos" / "celeba_face2bitmoji128", photo_points)
    b = make(root / "B", shared_data / "cartoons" / "anime_getchu64", anime_points)
    return a, b


def test_architecture_at_paper_width():
    from dataclasses import replace

    from cfkit.nets.cyclegan import NLayerDiscriminator, ResnetGenerator
    from cfkit.nets.landmark_cyclegan import local_layers
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    cfg = resolve("landmark-cyclegan")
    m = METHODS.get("landmark-cyclegan")(cfg, torch.device("cpu"))
    nets = m.build_networks()
    heat_in = 5  # heatmap channels entering the first 7x7 conv of G (64 filters) and 4x4 conv of D (64 filters)
    assert _params(nets["G_A"]) == _params(ResnetGenerator()) + heat_in * 7 * 7 * 64 == 11_378_179 + 15_680
    assert _params(nets["D_A"]) == 2_764_737 and _params(nets["D_A_gc"]) == 2_764_737 + heat_in * 4 * 4 * 64
    assert {n for n in nets if n.startswith("D_")} == {
        f"{d}{s}" for d in ("D_A", "D_B") for s in ("", "_gc", "_eyes", "_nose", "_mouth")
    }
    # 128 px: 32/32/40 px patches, each local D the full 3-layer PatchGAN with a 2x2 (or 3x3) output
    assert {p: m.patch_side(p) for p in PARTS} == {"eyes": 32, "nose": 32, "mouth": 40}
    for p in PARTS:
        d = nets[f"D_A_{p}"]
        assert _params(d) == _params(NLayerDiscriminator())
        side = m.patch_side(p)
        assert d(torch.zeros(1, 3, side, side)).shape[-1] >= 2
    assert local_layers(16) == 2 and local_layers(32) == 3
    assert nets["R_A"].head.out_channels == 5 and nets["pool_D_A"].images.shape == (50, 8, 128, 128)
    with torch.no_grad():
        x, h = torch.zeros(1, 3, 64, 64), torch.zeros(1, 5, 64, 64)
        small = METHODS.get("landmark-cyclegan")(replace(cfg, size=64, width=0.125), torch.device("cpu"))
        n = small.build_networks()
        assert n["G_A"](x, h).shape == x.shape and n["D_A_gc"](x, h).shape == (1, 1, 6, 6)
        assert n["D_A_eyes"](torch.zeros(2, 3, 16, 16)).shape == (2, 1, 2, 2)


def test_landmark_loss_is_zero_for_equal_heatmaps_and_grows_with_displacement():
    from cfkit.methods.landmark_cyclegan import landmark_consistency
    from cfkit.nets.landmarks import heatmaps, sigma_px

    pts = torch.tensor([[[0.35, 0.45], [0.65, 0.45], [0.5, 0.6], [0.5, 0.72], [0.5, 0.9]]])
    target = heatmaps(pts, 64, sigma_px(64))
    assert landmark_consistency(target, target) == 0
    losses = [float(landmark_consistency(heatmaps(pts + d / 64, 64, sigma_px(64)), target)) for d in (0.5, 1, 2, 3)]
    assert all(a < b for a, b in zip(losses, losses[1:], strict=False)), losses
    # the gradient of the loss moves a predicted heatmap's peak towards the target's
    moved = heatmaps(pts + 2 / 64, 64, sigma_px(64)).requires_grad_()
    landmark_consistency(moved, target).backward()
    assert float((moved.grad * (target - moved.detach())).sum()) < 0


def test_part_patches_are_centred_on_the_landmarks():
    from cfkit.nets.landmark_cyclegan import part_patches

    img = torch.zeros(2, 3, 64, 64)
    pts = torch.tensor([[[20.5, 24.5], [44.5, 24.5], [32.5, 36.5], [32.5, 46.5], [32.5, 60.5]]]).repeat(2, 1, 1) / 64
    for k, (x, y) in enumerate((pts[0] * 64 - 0.5).long().tolist()):
        img[:, :, y, x] = k + 1  # a marked pixel under each point
    eyes = part_patches(img, pts, "eyes", 15)
    assert eyes.shape == (4, 3, 15, 15)  # both eyes of both images: left eyes, then right eyes
    assert eyes[:2, 0, 7, 7].tolist() == [1, 1] and eyes[2:, 0, 7, 7].tolist() == [2, 2]
    assert part_patches(img, pts, "nose", 15)[:, 0, 7, 7].tolist() == [3, 3]
    assert part_patches(img, pts, "mouth", 15)[:, 0, 7, 7].tolist() == [4, 4]


def test_phases_and_optimizers_follow_the_named_regressors():
    from dataclasses import replace

    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    cls = METHODS.get("landmark-cyclegan")
    cfg = resolve("landmark-cyclegan")
    m = cls(cfg, torch.device("cpu"))
    assert [p.name for p in m.phases()] == ["regressor", "stage1", "stage2"]
    assert [p.steps for p in m.phases()] == [("r",), ("g", "d"), ("g", "d")]
    # lengths in iterations (paper Sec. 3.3.1: stage I 100K); the regressor learns at landmark-regressor's batch
    assert [(p.iters, p.batch) for p in m.phases()] == [(4000, 16), (100_000, None), (50_000, None)]
    assert m.build_optimizers()["r"].nets == ("R_A", "R_B")
    assert m.build_optimizers()["g"].lr == 2e-4 and m.build_optimizers()["g"].betas == (0.5, 0.999)
    assert cfg.method["lambda_a"] == 10.0 and cfg.batch == 1
    only_b = cls(replace(cfg, method={**cfg.method, "regressor_a": "runs/lm-a"}), torch.device("cpu"))
    assert only_b.build_optimizers()["r"].nets == ("R_B",)
    both = cls(replace(cfg, method={**cfg.method, "regressor_a": "x", "regressor_b": "y"}), torch.device("cpu"))
    assert [p.name for p in both.phases()] == ["stage1", "stage2"] and "r" not in both.build_optimizers()


@pytest.fixture(scope="module")
def lm_run(lm_domains, tmp_path_factory) -> Path:
    from cfkit.train import train

    torch.set_num_threads(1)  # module-scoped fixture: runs before the per-test thread fixture
    a, b = lm_domains
    out = tmp_path_factory.mktemp("lcg") / "run"
    return train("landmark-cyclegan", a, b, out=str(out), iters=6, set=HP, **SMALL)


def test_regressor_phase_then_stage_switch(lm_run):
    from cfkit.runs.checkpoint import load, step_checkpoints

    hist = [json.loads(x) for x in (lm_run / "metrics.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in hist] == ["regressor"] * 2 + ["stage1"] * 2 + ["stage2"] * 2
    local = {f"{p}_{d}" for p in PARTS for d in "ab"}
    for h in hist:
        terms = {k for k in h if k not in ("step", "phase")}
        assert all(np.isfinite(h[k]) for k in terms)
        if h["phase"] == "regressor":
            assert terms == {"r_heat_a", "r_heat_b"}
        else:
            g = {k[2:] for k in terms if k.startswith("g_")}
            d = {k[2:] for k in terms if k.startswith("d_")}
            base = {f"{t}_{s}" for t in ("gan", "gan_gc", "cycle", "landmark") for s in "ab"}
            assert g == (base | local if h["phase"] == "stage2" else base)
            d_base = {"a", "b", "a_gc", "b_gc"}
            assert d == (d_base | {f"{s}_{p}" for s in "ab" for p in PARTS} if h["phase"] == "stage2" else d_base)

    s2, s4, s6 = (load(p)["nets"] for p in step_checkpoints(lm_run))

    def changed(x, y, net):
        return any(not torch.equal(v, y[net][k]) for k, v in x[net].items() if v.is_floating_point())

    # regressors learn in their phase only (BatchNorm statistics included), then stay frozen
    init = json.loads((lm_run / "run.json").read_text())
    assert init["assets"]["regressor_a"].startswith("trained")
    assert not changed(s2, s4, "R_A") and not changed(s4, s6, "R_B")
    # stage I moves G and the global Ds, not the local ones; stage II moves the local Ds
    for net in ("G_A", "G_B", "D_A", "D_A_gc", "D_B", "D_B_gc"):
        assert changed(s2, s4, net), net
    for p in PARTS:
        for d in ("D_A", "D_B"):
            assert not changed(s2, s4, f"{d}_{p}") and changed(s4, s6, f"{d}_{p}"), (d, p)


def test_resume_is_bit_for_bit(lm_run, lm_domains, tmp_path):
    from cfkit.runs.checkpoint import latest, load
    from cfkit.train import train

    a, b = lm_domains
    part = str(tmp_path / "part")
    train("landmark-cyclegan", a, b, out=part, iters=6, stop_at=3, set=HP, **SMALL)
    train("landmark-cyclegan", a, b, out=part, iters=6, resume=True, set=HP, **SMALL)
    full, resumed = load(latest(lm_run)), load(latest(part))
    assert full["step"] == resumed["step"] == 6
    for net, sd in full["nets"].items():  # pools included
        for k, v in sd.items():
            assert torch.equal(resumed["nets"][net][k], v), (net, k)
    for name, st in full["optimizers"].items():
        for i, s in st["state"].items():
            assert all(torch.equal(s[k], resumed["optimizers"][name]["state"][i][k]) for k in s)


def test_translate_finds_the_landmarks_itself(lm_run, lm_domains, tmp_path, run_cli):
    from cfkit.imageio import list_images, load_rgb, save_png
    from cfkit.train.inference import load_method

    a, _ = lm_domains
    plain = tmp_path / "plain"  # images only: no manifest, no landmarks
    for p in list_images(a / "images")[:3]:
        save_png(plain / p.name, load_rgb(p))
    rc, _, err = run_cli("translate", lm_run, "--input", plain, "--out", tmp_path / "out")
    assert rc == 0, err
    written = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in written] == sorted(p.name for p in list_images(plain))
    assert all(load_rgb(p).shape == (64, 64, 3) for p in written)

    method, _, _ = load_method(lm_run, device="cpu")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        pts = method.net("R_A").points(x)
        expected = method.net("G_A")(x, method.render(pts))
        torch.testing.assert_close(method.translate(x), expected, rtol=0, atol=0)
        other = method.net("G_A")(x, method.render(pts.flip(1)))  # the landmarks do condition G
        assert not torch.equal(other, expected)


class FixedPoints(torch.nn.Module):
    """A stand-in regressor that finds the same landmarks on every image."""

    def __init__(self, pts: torch.Tensor):
        super().__init__()
        self.pts = pts

    def points(self, x: torch.Tensor) -> torch.Tensor:
        return self.pts.expand(len(x), -1, -1)


def test_reverse_conditions_g_b_on_the_domain_b_regressor(lm_run, lm_domains, tmp_path, run_cli):
    from cfkit.imageio import list_images, load_rgb, save_png
    from cfkit.train.data import fit_square, to_float, to_uint8
    from cfkit.train.inference import load_method

    plain = tmp_path / "anime"  # B images only
    for p in list_images(lm_domains[1] / "images")[:3]:
        save_png(plain / p.name, load_rgb(p))
    rc, _, err = run_cli(
        "translate", lm_run, "--input", plain, "--out", tmp_path / "out", "--reverse", "--device", "cpu"
    )
    assert rc == 0, err
    assert json.loads((tmp_path / "out" / "translate.json").read_text())["direction"] == "cartoon -> photo"
    got = np.stack([load_rgb(p) for p in sorted((tmp_path / "out").glob("*.png"))])

    method = load_method(lm_run, device="cpu")[0]
    arr = np.stack([fit_square(load_rgb(p), 64) for p in sorted(list_images(plain))])
    x = to_float(torch.from_numpy(arr).permute(0, 3, 1, 2))
    with torch.no_grad():
        expected = method.net("G_B")(x, method.render(method.net("R_B").points(x)))
        assert np.array_equal(got, to_uint8(expected).permute(0, 2, 3, 1).numpy())
        # the short run's regressors both find about the image centre: regressors that disagree tell them apart
        pts = torch.rand(1, 5, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
        method.nets["R_A"], method.nets["R_B"] = FixedPoints(pts), FixedPoints(1 - pts)
        by_b, by_a = (method.net("G_B")(x, method.render(p.expand(len(x), -1, -1))) for p in (1 - pts, pts))
        torch.testing.assert_close(method.translate_reverse(x), by_b, rtol=0, atol=0)
        assert (by_a - by_b).abs().mean() > 0.01


def test_named_regressors_are_loaded_and_kept_frozen(lm_domains, tmp_path):
    from cfkit.errors import InputError
    from cfkit.runs.checkpoint import latest, load
    from cfkit.train import train

    a, b = lm_domains
    reg = {"size": 64, "width": 0.125, "batch": 2, "iters": 2, "log_every": 1, "sample_every": 100}
    ra = train("landmark-regressor", a, out=str(tmp_path / "ra"), **reg)
    rb = train("landmark-regressor", b, out=str(tmp_path / "rb"), **reg)
    hp = {"method": {**HP["method"], "regressor_a": str(ra), "regressor_b": str(rb)}}
    run = train("landmark-cyclegan", a, b, out=str(tmp_path / "lcg"), iters=2, set=hp, **SMALL)
    state = load(latest(run))
    assert "r" not in state["optimizers"]
    assert [p["phase"] for p in json.loads((run / "run.json").read_text())["schedule"]] == ["stage1", "stage2"]
    for r, src in (("R_A", ra), ("R_B", rb)):
        want = load(latest(src))["nets"]["regressor"]
        assert all(torch.equal(v, want[k]) for k, v in state["nets"][r].items()), r
    # a regressor of another image size is refused (its heatmaps would not match the run's)
    r32 = train("landmark-regressor", a, out=str(tmp_path / "r32"), **{**reg, "size": 32, "iters": 1})
    bad = {"method": {**hp["method"], "regressor_b": str(r32)}}
    with pytest.raises(InputError, match="regressor_b .* is for 32 px images, this run 64 px"):
        train("landmark-cyclegan", a, b, out=str(tmp_path / "bad"), iters=2, set=bad, **SMALL)
