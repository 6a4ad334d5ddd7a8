"""CP-GAN: architecture against the authors' code (JunhongH/CP-GAN), the face strips, the content
network slot, and a short real run (anime faces -> FFHQ photos, 64 px, width 1/4) through the trainer:
finite losses, weights move, bit-for-bit resume, ``cfkit translate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cfkit.nets.cpgan import PART_ROWS_AUTHORS, Generator, NLayerDiscriminator, part_rows, strip_rows

SMALL = {"size": 64, "width": 0.25, "batch": 2, "log_every": 1, "sample_every": 100, "seed": 3}
STANDIN = {"lightcnn9": "vgg16"}  # offline there is no LightCNN-9: the tests ask for the stand-in


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _method(**hp):
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    cfg = resolve("cpgan", overrides={"size": hp.pop("size", 128), "method": hp})
    return METHODS.get("cpgan")(cfg, torch.device("cpu"))


def test_full_width_networks_match_the_authors_layer_list():
    # transformer_net.py, counted by hand: (cin, cout, k) convs with bias + affine instance norms
    convs = [(3, 32, 9), (32, 64, 3), (64, 128, 3), *[(128, 128, 3)] * 10, (128, 64, 3), (64, 32, 3), (32, 3, 9)]
    norms = [32, 64, 128, *[128] * 10, 64, 32]
    expected = sum(ci * co * k * k + co for ci, co, k in convs) + sum(2 * c for c in norms)
    g = Generator()
    assert _count(g) == expected == 1_679_235
    kernels = [m.kernel_size[0] for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert kernels[0] == kernels[-1] == 9 and len(kernels) == len(convs)
    assert [m.stride[0] for m in g.modules() if isinstance(m, torch.nn.Conv2d)].count(2) == 2
    assert sum(isinstance(m, torch.nn.Upsample) for m in g.modules()) == 2
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in g.modules()) == len(convs)
    assert all(m.affine for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d))
    # networks.define_D(3, 64, 'basic', norm='instance'): the pix2pix 70x70 PatchGAN
    assert _count(NLayerDiscriminator()) == 2_764_737
    nets = _method(size=128).build_networks()
    assert {k: _count(v) for k, v in nets.items()} == {"G": 1_679_235, "D": 2_764_737, "D_local": 2_764_737}
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        y = Generator(width=0.25)(x)
    assert y.shape == x.shape and y.abs().max() <= 1


def test_strips_reproduce_the_authors_rows_and_follow_the_template():
    assert strip_rows(128, PART_ROWS_AUTHORS) == [(16, 48), (48, 80), (80, 112)]  # GAN_model.crop_and_pad
    assert strip_rows(256, PART_ROWS_AUTHORS) == [(32, 96), (96, 160), (160, 224)]
    # the authors' crop-and-pad (crop the rows, zero-pad back to full size) == the method's regions
    m = _method(size=128, part_rows=PART_ROWS_AUTHORS)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    theirs = [F.pad(x[:, :, t:b], (0, 0, t, 128 - b)) for t, b in ((16, 48), (48, 80), (80, 112))]
    torch.testing.assert_close(m.regions(x), torch.stack(theirs), rtol=0, atol=0)

    from cfkit.geometry.align import template_eyes

    for template in ("ffhq", "arcface"):
        rows = part_rows(template)
        eye_y = (template_eyes(template, 1024)[:, 1].mean() + 0.5) / 1024  # pixel centres -> relative
        assert rows["eyes"] == pytest.approx(float(eye_y), abs=1e-5)
        for size in (64, 128, 256):
            strips = strip_rows(size, template=template)
            assert all(s[1] == n[0] for s, n in zip(strips, strips[1:], strict=False))  # contiguous
            for (top, bottom), part in zip(strips, ("eyes", "nose", "mouth"), strict=True):
                assert top <= rows[part] * size < bottom  # each strip holds its part's row
    # FFHQ's square puts the mouth at 3/4 of the height (the authors' crop too) but the eyes lower
    ffhq = part_rows("ffhq")
    assert ffhq["mouth"] == pytest.approx(0.75, abs=1e-4) and 0.45 < ffhq["eyes"] < 0.5
    assert strip_rows(128) == [(52, 69), (69, 87), (87, 105)]


def test_recipe_declares_the_authors_settings():
    m = _method()
    assert (m.options.size, m.options.batch, m.options.flip) == (128, 1, False)
    assert (m.hp.w_gan, m.hp.w_local, m.hp.w_content, m.hp.local) == (1.0, 0.1, 0.01, "strips")
    (phase,) = m.phases()
    # the authors' main.py: G on the local terms, D_local, G on the others, D; one Adam per network
    assert (phase.epochs, phase.steps, phase.decay_from) == (10, ("g:local", "d_local", "g", "d"), None)
    specs = m.build_optimizers()
    assert (specs["g"].nets, specs["d_local"].nets, specs["d"].nets) == (("G",), ("D_local",), ("D",))
    assert specs["g"].lr == specs["d"].lr == 1e-4 and specs["g"].betas == (0.5, 0.999)
    assert m.direction == "cartoon -> photo"

    from cfkit.errors import InputError

    for bad in ({"local": "patches"}, {"part_rows": {"eyes": 0.6, "nose": 0.5, "mouth": 0.7}}, {"template": "x"}):
        with pytest.raises(InputError, match="cpgan"):
            _method(**bad)
    with pytest.raises(InputError, match="patch_sides"):
        _method(local="landmarks", patch_sides={"ears": 0.2})


def _lightcnn_file(path, in_ch: int):
    """A LightCNN-9 checkpoint in the official layout (DataParallel prefixes, fc layers, extra keys)."""
    from cfkit.nets.lightcnn import LightCNN9

    sd = {f"module.{k}": v for k, v in LightCNN9(in_ch).state_dict().items()}
    sd["module.fc1.filter.weight"], sd["module.fc2.weight"] = torch.zeros(512, 8192), torch.zeros(79077, 256)
    torch.save({"epoch": 3, "state_dict": sd}, path)
    return path


def test_content_network_slot(tmp_path, monkeypatch, asset):
    from cfkit.errors import AssetMissingError, InputError
    from cfkit.methods.cpgan import CPGANHparams, content_loss

    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    for in_ch, tag in ((1, "grayscale"), (3, "ImageNet")):
        path = _lightcnn_file(tmp_path / f"lcnn{in_ch}.pth.tar", in_ch)
        loss, factor = content_loss(CPGANHparams(content_net="lightcnn9", content_weights=str(path)))
        assert factor == 1.0 and loss.provenance["arch"] == "lightcnn9" and tag in loss.provenance["input"]
        assert loss.provenance["sha256"] and "substituted_for" not in loss.provenance
        assert loss.features(x).shape == (2, 128, 4, 4)  # 1/16 resolution, 128 channels
        assert float(loss(x, x)) == 0 and float(loss(x, y)) > 0
    with pytest.raises(InputError, match="not found"):
        content_loss(CPGANHparams(content_weights=str(tmp_path / "missing.pth")))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable"):
        content_loss(CPGANHparams(content_weights=str(tmp_path / "junk.pth")))
    with pytest.raises(InputError, match="content_net"):
        content_loss(CPGANHparams(content_net="vgg16/conv4_3", content_weights=str(path)))

    asset("vgg16")  # fetched into the test home before it is swapped for one without LightCNN
    monkeypatch.setenv("CFKIT_HOME", str(tmp_path / "home"))
    for hp in (CPGANHparams(), CPGANHparams(content_net="lightcnn9")):  # the authors' network: no silent stand-in
        with pytest.raises(AssetMissingError, match="cfkit models fetch lightcnn9"):
            content_loss(hp)


def test_cpgan_trains_resumes_and_translates(cartoon_photo_domains, asset, tmp_path, run_cli):
    from cfkit.imageio import load_rgb
    from cfkit.runs.checkpoint import load, step_checkpoints
    from cfkit.train import train

    asset("vgg16")
    a, b = cartoon_photo_domains
    run = train("cpgan", a, b, out=str(tmp_path / "run"), iters=4, ckpt_every=2, substitute=STANDIN, **SMALL)
    info = json.loads((run / "run.json").read_text())
    content = info["assets"]["content_loss"]
    assert (content["arch"], content["layer"], content["distance"]) == ("vgg16", "conv4_3", "mse")
    assert content["substituted_for"] == "lightcnn9" and content["weight_factor"] == 1.0 and content["sha256"]
    assert info["assets"]["strips"] == [[26, 35], [35, 44], [44, 52]]
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 4
    for row in history:
        terms = {k: v for k, v in row.items() if k.startswith(("g_", "d_"))}
        assert set(terms) == {"g_local_adv", "d_local_adv", "g_gan", "g_content", "g_identity", "d_global"}
        assert all(torch.isfinite(torch.tensor(v)) for v in terms.values())
    mid, last = (load(p) for p in step_checkpoints(run)[-2:])
    for net in ("G", "D", "D_local"):
        changed = [not torch.equal(v, last["nets"][net][k]) for k, v in mid["nets"][net].items()]
        assert sum(changed) > len(changed) // 2, net

    # stopping at 2 and resuming gives the weights and optimizer states of the uninterrupted run
    part = str(tmp_path / "part")
    train("cpgan", a, b, out=part, iters=4, stop_at=2, substitute=STANDIN, **SMALL)
    train("cpgan", a, b, out=part, iters=4, resume=True, substitute=STANDIN, **SMALL)
    resumed = load(step_checkpoints(part)[-1])
    for key in ("nets", "optimizers"):
        flat_l, flat_r = _flat(last[key]), _flat(resumed[key])
        assert flat_l.keys() == flat_r.keys()
        assert all(torch.equal(v, flat_r[k]) for k, v in flat_l.items()), key

    rc, _, err = run_cli("translate", run, "--input", a, "--out", tmp_path / "photos", "--device", "cpu")
    assert rc == 0, err
    written = sorted((tmp_path / "photos").glob("*.png"))
    assert sorted(p.stem for p in written) == sorted(p.stem for p in a.iterdir())
    assert all(load_rgb(p).shape == (64, 64, 3) for p in written)
    record = json.loads((tmp_path / "photos" / "translate.json").read_text())
    assert (record["method"], record["direction"]) == ("cpgan", "cartoon -> photo")


def test_landmark_patches_are_centred_on_the_landmarks():
    from cfkit.nets.cpgan import part_centres, template_points

    m = _method(size=64, local="landmarks", patch_sides={"eyes": 0.5, "nose": 0.25, "mouth": 0.25}, patch_out=32)
    assert m.needs_landmarks and m.patch_px == [32.0, 16.0, 16.0]
    # 2 x 2 white squares around each point (on pixel corners: exact), each patch holding only its own
    pts = torch.tensor(
        [[[20, 14], [44, 14], [32, 36], [30, 52], [32, 60]], [[16, 12], [40, 16], [28, 36], [34, 52], [30, 60]]]
    )
    x = -torch.ones(2, 3, 64, 64)
    for n, p in enumerate(pts):
        for px, py in p[:4].tolist():
            x[n, :, py - 1 : py + 1, px - 1 : px + 1] = 1.0
    lm, ok = pts.float() / 64, torch.ones(2)
    patches = m.regions(x, lm, ok)  # eyes, nose, mouth x N x 3 x 32 x 32
    assert patches.shape == (3, 2, 3, 32, 32)
    grid = torch.arange(32, dtype=torch.float32)
    for part in patches:
        w = part[:, 0].clamp(min=0)  # the white squares (background -1, outside the image 0)
        cy = (w.sum(2) * grid).sum(1) / w.sum((1, 2))
        cx = (w.sum(1) * grid).sum(1) / w.sum((1, 2))
        # centre of a 32 px output in pixel-centre coordinates is 15.5
        torch.testing.assert_close(cx, torch.full((2,), 15.5), atol=1e-4, rtol=0)
        torch.testing.assert_close(cy, torch.full((2,), 15.5), atol=1e-4, rtol=0)
    # images without landmarks: the template's parts
    ok = torch.tensor([1.0, 0.0])
    centres = part_centres(lm, ok, torch.from_numpy(template_points("ffhq")).float(), 2)
    t = template_points("ffhq")
    expected_missing = torch.from_numpy(np.stack([t[:2].mean(0), t[2], t[3]])).float()
    torch.testing.assert_close(centres[:, 1], expected_missing)
    torch.testing.assert_close(centres[:, 0], torch.stack([lm[0, :2].mean(0), lm[0, 2], lm[0, 3]]))


@pytest.fixture(scope="module")
def landmarked_domains(shared_data, tmp_path_factory):
    """Prepared datasets at 64 px with ``lm5``: 6 bitmoji faces (A, the dataset's 5 labelled points)
    and 6 CelebA photos (B, celeba_landmarks.npy). The chin (unlabelled, unused by cpgan) is put
    below the mouth."""
    import cv2
    import pandas as pd

    from cfkit.imageio import load_rgb, save_png

    def write(root, items):
        rows = []
        for i, (rgb, five) in items.items():  # five: eye_l, eye_r, nose, mouth_l, mouth_r (relative)
            save_png(root / "images" / f"{i}.png", cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA))
            mouth = (five[3] + five[4]) / 2
            lm5 = np.stack([five[0], five[1], five[2], mouth, mouth + (mouth - five[2])])
            rows.append({"id": i, "split": "train", "lm5": lm5.ravel().tolist(), "lm_source": "dlib68"})
        pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
        return root

    root = tmp_path_factory.mktemp("cpgan-lm")
    bit = shared_data / "cartoons" / "bitmoji_kaggle384"
    table = pd.read_csv(bit / "train.csv").head(6)
    cartoons = {
        r.image_id[:-4]: (
            load_rgb(bit / "trainimages" / r.image_id),
            np.asarray(r.iloc[2:12], float).reshape(5, 2) / 384,
        )
        for _, r in table.iterrows()
    }
    cel = shared_data / "photos" / "celeba_face2bitmoji128"
    pts = np.load(cel / "celeba_landmarks.npy")
    photos = {
        f"{k:05d}": (load_rgb(cel / "trainA" / f"{k:05d}.jpg"), pts[k].reshape(5, 2) / 128)
        for k in (0, 30, 60, 90, 120, 150)
    }
    return write(root / "A", cartoons), write(root / "B", photos)


def test_landmark_variant_trains_with_per_part_discriminators(landmarked_domains, asset, tmp_path):
    from cfkit.runs.checkpoint import load, step_checkpoints
    from cfkit.train import train
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    asset("vgg16")
    a, b = landmarked_domains
    hp = {"method": {"local": "landmarks", "local_shared": False}}
    over = {**SMALL, "data_a": str(a), "data_b": str(b), "iters": 2, "flip": True}
    over["substitute"] = STANDIN
    batch = Trainer(resolve("cpgan", overrides={**over, "out": str(tmp_path / "probe"), **hp})).next_batch()
    assert batch["a_lm_ok"].tolist() == [1, 1] and batch["b_lm_ok"].tolist() == [1, 1]
    run = train("cpgan", a, b, out=str(tmp_path / "run"), iters=2, ckpt_every=1, set=hp, substitute=STANDIN, **SMALL)
    info = json.loads((run / "run.json").read_text())
    assert info["assets"]["patches"] == {"sides_px": [26.88, 16.0, 19.2], "out": 32}
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(v)) for h in history for k, v in h.items() if k[:2] in ("g_", "d_"))
    first, last = (load(p) for p in step_checkpoints(run)[-2:])
    assert set(last["nets"]) == {"G", "D", "D_local_eyes", "D_local_nose", "D_local_mouth"}
    for net in ("D_local_eyes", "D_local_nose", "D_local_mouth"):
        assert any(not torch.equal(v, last["nets"][net][k]) for k, v in first["nets"][net].items()), net


def _flat(state, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, list) else ()
    return {k: v for key, sub in items for k, v in _flat(sub, f"{prefix}/{key}").items()}
