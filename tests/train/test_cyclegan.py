"""CycleGAN: architecture against the official model, image-pool semantics, LR schedule, and a short
real training run (64 px, width 1/8, the full ResNet-9 / 70x70 PatchGAN) through the trainer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cfkit.nets.cyclegan import NLayerDiscriminator, ResnetGenerator, receptive_field
from cfkit.nets.image_pool import ImagePool

SMALL = {"size": 64, "width": 0.125, "batch": 2, "flip": True, "log_every": 1, "sample_every": 100, "seed": 1}


def image_ids(domain: Path) -> list[str]:
    from cfkit.train.data import list_domain

    return sorted(list_domain(domain, "all")[0])


def subset(root: Path, dst: Path, n: int) -> Path:
    """A plain folder of the first ``n`` images of a domain (symlinks): quick loading, short epochs."""
    from cfkit.train.data import list_domain

    dst.mkdir(parents=True)
    for p in list_domain(root, "all")[1][:n]:
        (dst / p.name).symlink_to(p.resolve())
    return dst


def real_domains(request, tmp: Path) -> tuple[Path, Path]:
    """8 CelebA photos (A) and 6 bitmoji faces (B) from ../shared/data; where that is absent, the
    scikit-image crops of ``tiny_domains`` (6 astronaut with masks, 6 chelsea)."""
    try:
        shared = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        return request.getfixturevalue("tiny_domains")
    a = subset(shared / "photos" / "celeba_face2bitmoji128", tmp / "a", 8)
    return a, subset(shared / "cartoons" / "bitmoji_kaggle384", tmp / "b", 6)


@pytest.fixture(scope="module")
def small_data(request, tmp_path_factory) -> tuple[Path, Path]:
    return real_domains(request, tmp_path_factory.mktemp("cyclegan-data"))


def test_full_width_networks_match_official_sizes():
    # parameter counts printed by the official repo for resnet_9blocks / basic D at ngf = ndf = 64
    g, d = ResnetGenerator(), NLayerDiscriminator()
    assert sum(p.numel() for p in g.parameters()) == 11_378_179
    assert sum(p.numel() for p in d.parameters()) == 2_764_737
    assert receptive_field(d) == 70
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in g.modules()) == 2 + 2 * 9
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        assert ResnetGenerator(ngf=8)(x).shape == x.shape
        assert NLayerDiscriminator(ndf=8)(x).shape == (1, 1, 6, 6)


def _images(n: int, start: int) -> torch.Tensor:
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 2, 2).clone()


def test_image_pool_fills_then_swaps_half_the_time():
    assert torch.equal(ImagePool(0, (3, 2, 2)).query(_images(3, 0)), _images(3, 0))
    pool = ImagePool(4, (3, 2, 2), generator=torch.Generator().manual_seed(0))
    first = _images(4, 0)
    assert torch.equal(pool.query(first), first)  # filling: returned as given, and stored
    assert [int(t[0, 0, 0]) for t in pool.images] == [0, 1, 2, 3] and len(pool) == 4
    inserted, from_history, n = set(range(4)), 0, 2000
    for k in range(4, 4 + n, 2):
        batch = _images(2, k)
        out = pool.query(batch.requires_grad_())
        assert out.shape == batch.shape and not out.requires_grad
        for i, v in enumerate(int(t[0, 0, 0]) for t in out):  # images enter one after another
            if v != k + i:  # an old image: it was in the pool, and the new one took its place
                from_history += 1
                assert v in inserted and v < k + i
                inserted.discard(v)
                inserted.add(k + i)
        stored = {int(t[0, 0, 0]) for t in pool.images}
        assert len(pool) == 4 and stored == inserted
    assert abs(from_history / n - 0.5) < 0.05  # p = 1/2 (binomial sd 0.011)


def test_recipe_declares_the_paper_schedule():
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    cfg = resolve("cyclegan", overrides={"size": 128})
    hp = cfg.method
    assert (cfg.batch, hp["lambda_a"], hp["lambda_identity"], hp["pool_size"]) == (1, 10.0, 0.5, 50)
    m = METHODS.get("cyclegan")(cfg, torch.device("cpu"))
    (phase,) = m.phases()
    assert (phase.epochs, phase.decay_from, phase.steps) == (200, 0.5, ("g", "d"))
    specs = m.build_optimizers()
    assert specs["g"].nets == ("G_A", "G_B") and specs["d"].nets == ("D_A", "D_B")
    assert specs["g"].lr == 2e-4 and specs["g"].betas == (0.5, 0.999)


def test_cyclegan_trains_resumes_and_translates(small_data, tmp_path):
    from cfkit.runs.checkpoint import load, step_checkpoints
    from cfkit.train import train
    from cfkit.train.config import resolve
    from cfkit.train.inference import load_method, translate
    from cfkit.train.trainer import Trainer

    a, b = small_data
    # 1 epoch constant + 3 decaying in 4 iterations (one per epoch): the official per-epoch rule
    # 1 - max(0, e - 1) / (3 + 1) in epoch e gives 2e-4, 2e-4 * 3/4, 2e-4 * 2/4, 2e-4 * 1/4
    # a 2-image pool is full after the first iteration: later ones draw from it at random
    hp = {"n_epochs": 1, "n_epochs_decay": 3, "pool_size": 2}
    over = {**SMALL, "data_a": str(a), "data_b": str(b), "out": str(tmp_path / "run"), "iters": 4, "ckpt_every": 2}
    t = Trainer(resolve("cyclegan", overrides={**over, "method": hp}))
    lrs, step = [], t.train_step

    def recording_step():
        step()
        lrs.append([t.opts[o].param_groups[0]["lr"] for o in ("g", "d")])

    t.train_step = recording_step
    run = t.fit()
    expected = [2e-4, 1.5e-4, 1e-4, 0.5e-4]
    assert [g for g, _ in lrs] == pytest.approx(expected) and [d for _, d in lrs] == pytest.approx(expected)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 4
    for row in history:
        terms = {k: v for k, v in row.items() if k.startswith(("g_", "d_"))}
        assert set(terms) == {"g_gan_a", "g_gan_b", "g_cycle_a", "g_cycle_b", "g_idt_a", "g_idt_b", "d_a", "d_b"}
        assert all(torch.isfinite(torch.tensor(v)) for v in terms.values())
    mid, last = (load(p) for p in step_checkpoints(run)[-2:])
    for net in ("G_A", "G_B", "D_A", "D_B"):
        changed = [not torch.equal(v, last["nets"][net][k]) for k, v in mid["nets"][net].items()]
        assert sum(changed) > len(changed) // 2, net

    assert int(last["nets"]["pool_D_A"]["count"]) == 2
    # stopping at 2 and resuming gives the weights (and image pools) of the uninterrupted run
    part = str(tmp_path / "part")
    train("cyclegan", a, b, out=part, iters=4, stop_at=2, set={"method": hp}, **SMALL)
    train("cyclegan", a, b, out=part, iters=4, resume=True, set={"method": hp}, **SMALL)
    resumed = load(step_checkpoints(part)[-1])
    for net, sd in last["nets"].items():
        for k, v in sd.items():
            torch.testing.assert_close(resumed["nets"][net][k], v, rtol=0, atol=0)

    method, cfg, _ = load_method(run, device="cpu")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(method.translate(x), method.net("G_A")(x))
    written = translate(run, a, str(tmp_path / "out"), device="cpu")
    assert sorted(p.stem for p in written) == image_ids(a)
    from cfkit.imageio import load_rgb

    assert all(load_rgb(p).shape == (64, 64, 3) for p in written)


def test_lr_steps_once_per_epoch_as_the_official_scheduler():
    from cfkit.train.method import Phase

    phase = Phase("cyclegan", 200, ("g", "d"), decay_from=0.5, decay_per_epoch=True)
    # official LambdaLR rule 1 - max(0, e - n_epochs) / (n_epochs_decay + 1), e the 1-based epoch
    for e in (1, 50, 100, 101, 150, 200):
        official = 1.0 - max(0, e - 100) / 101
        for within in (0.0, 0.5, 0.99):  # constant within the epoch
            assert phase.lr_factor((e - 1 + within) / 200) == pytest.approx(official)
    assert phase.lr_factor(199.5 / 200) == pytest.approx(1 / 101)


def test_epoch_is_the_larger_domain_and_images_are_randomly_cropped(small_data, tmp_path):
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    a, b = small_data
    small_a = subset(a, tmp_path / "a3", 3)  # |A| = 3 < |B| = 6
    over = {**SMALL, "batch": 1, "data_a": str(small_a), "data_b": str(b), "out": str(tmp_path / "r"), "epochs": 2}
    t = Trainer(resolve("cyclegan", overrides=over))
    assert len(t.data_a) == 3 and len(t.data_b) == 6
    assert t.total == 2 * 6  # two epochs of max(|A|, |B|) images, batch 1
    # held at 64 * 286 / 256 = 72 px (official load 286 -> crop 256), cropped to 64 at random offsets
    assert t.data_a.images.shape[-1] == 72
    from cfkit.train.data import to_float

    offsets = set()
    for _ in range(12):
        batch = t.next_batch()
        assert batch["a"].shape[-2:] == (64, 64)
        x, full = batch["a"][0], to_float(t.data_a.images[t.data_a.ids.index(batch.ids["a"][0])])
        found = [
            (y, xo)
            for y in range(9)
            for xo in range(9)
            if any(
                torch.equal(c, x)
                for c in (full[:, y : y + 64, xo : xo + 64], full[:, y : y + 64, xo : xo + 64].flip(-1))
            )
        ]
        assert found, "a batch image is not a crop of its held image"
        offsets.update(found)
    assert len(offsets) > 3  # different crops
    fixed = t.fixed_batch()["a"][0]
    torch.testing.assert_close(fixed, to_float(t.data_a.images[0])[:, 4:68, 4:68])  # centred for samples


def _translated_directly(net: torch.nn.Module, folder: Path) -> np.ndarray:
    """``net`` on the images of ``folder`` prepared as ``translate`` prepares them, as uint8 HWC."""
    from cfkit.imageio import load_rgb
    from cfkit.train.data import fit_square, list_domain, to_float, to_uint8

    arr = np.stack([fit_square(load_rgb(p), 64) for p in sorted(list_domain(folder, "all")[1])])
    with torch.no_grad():
        y = net(to_float(torch.from_numpy(arr).permute(0, 3, 1, 2)))
    return to_uint8(y).permute(0, 2, 3, 1).numpy()


def test_reverse_translates_with_g_b_and_its_ema(small_data, tiny_domains, tmp_path):
    from cfkit.imageio import load_rgb
    from cfkit.train import train, translate
    from cfkit.train.data import fit_square
    from cfkit.train.inference import load_method

    a, b = small_data
    hp = {"method": {"n_blocks": 2}}
    run = train("cyclegan", a, b, out=str(tmp_path / "run"), iters=2, ema=0.999, set=hp, **SMALL)

    def outputs(name: str, folder: Path = b, **kw) -> np.ndarray:
        written = translate(run, folder, tmp_path / name, device="cpu", **kw)
        return np.stack([load_rgb(p) for p in sorted(written)])

    rev, fwd, rev_raw = outputs("rev", reverse=True), outputs("fwd"), outputs("rev-raw", reverse=True, weights="raw")
    ema, raw = (load_method(run, device="cpu", weights=w)[0] for w in ("ema", "raw"))
    assert np.array_equal(rev, _translated_directly(ema.net("G_B"), b))  # G_B's moving average
    assert np.array_equal(rev_raw, _translated_directly(raw.net("G_B"), b))
    assert np.abs(rev.astype(int) - rev_raw).mean() > 0.5  # two steps in, the average is not the weights
    assert np.abs(rev.astype(int) - fwd).mean() > 2  # G_B, not G_A
    record = json.loads((tmp_path / "rev" / "translate.json").read_text())
    assert (record["direction"], record["reverse"], record["weights"]) == ("cartoon -> photo", True, "ema")
    assert json.loads((tmp_path / "fwd" / "translate.json").read_text())["direction"] == "photo -> cartoon"

    # --mask-composite: the input dataset's masks/ keep the background of the reversed images too
    masked = tiny_domains[0]
    comp = outputs("comp", masked, reverse=True, mask_composite=True)
    masks = np.stack([fit_square(load_rgb(p)[..., 0], 64) for p in sorted((masked / "masks").glob("*.png"))])
    fg, bg = masks == 255, masks == 0
    assert fg.sum() > 1000 and bg.sum() > 1000
    assert np.abs(comp[fg].astype(int) - _translated_directly(ema.net("G_B"), masked)[fg]).max() <= 1
    assert np.abs(comp[bg].astype(int) - _translated_directly(torch.nn.Identity(), masked)[bg]).max() <= 1
