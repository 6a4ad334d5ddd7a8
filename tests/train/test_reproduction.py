"""The paper recipes are the papers' (issue 21): paper networks are required and stand-ins explicit,
the authors' VGG input conventions, schedules and step orders, and checks on in-run landmark regressors."""

from __future__ import annotations

import json

import pytest
import torch

VGG_STANDIN = {"vgg19": "vgg16"}
SMALL = {"size": 32, "width": 0.125, "batch": 2, "log_every": 1, "sample_every": 100}


@pytest.mark.parametrize(("method", "paper"), [("cartoongan", "vgg19"), ("whitebox", "vgg19"), ("cpgan", "lightcnn9")])
def test_a_paper_recipe_without_its_network_refuses_in_one_line(method, paper, tiny_domains, tmp_path, run_cli):
    a, b = tiny_domains
    run = tmp_path / "run"
    rc, out, err = run_cli("train", method, "--data-a", a, "--data-b", b, "--size", "32", "--iters", "1", "--out", run)
    assert rc != 0 and not run.exists()  # refused before any work
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1 and f"cfkit models fetch {paper}" in lines[0] and f"--substitute {paper}=" in lines[0]
    rc, _, err = run_cli("train", method, "--data-a", a, "--data-b", b, "--substitute", f"{paper}=vgg99")
    assert rc != 0 and "not a known stand-in" in err


def test_mask_variant_refuses_without_vgg19_too(tiny_domains, tmp_path):
    from cfkit.errors import AssetMissingError
    from cfkit.train import train

    a, b = tiny_domains
    with pytest.raises(AssetMissingError, match="cfkit models fetch vgg19"):
        train("cartoongan-mask", a, b, out=str(tmp_path / "run"), iters=1, **SMALL)


def test_a_stand_in_is_announced_and_in_run_json_from_its_first_write(tiny_domains, tmp_path, asset, capsys):
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    asset("vgg16")
    a, b = tiny_domains
    over = {**SMALL, "data_a": str(a), "data_b": str(b), "out": str(tmp_path / "run"), "iters": 2}
    trainer = Trainer(resolve("cartoongan", overrides={**over, "substitute": VGG_STANDIN}))
    assert "vgg16/conv4_3 stands in for the paper's vgg19/conv4_4" in " ".join(capsys.readouterr().err.split())

    def interrupted():
        raise KeyboardInterrupt

    trainer.train_step = interrupted  # the run dies in its first step, after run.json's first write
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "running"
    content = info["assets"]["content_loss"]
    assert (content["substituted_for"], content["arch"], content["layer"]) == ("vgg19/conv4_4", "vgg16", "conv4_3")
    assert content["weight_factor"] == 1.0 and "measure" in content["factor_basis"]


def test_the_vgg_sees_the_authors_input_convention(asset):
    from cfkit.nets.losses import ContentLoss

    asset("vgg16")
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    caffe, unit = ContentLoss("vgg16", "conv4_3", inputs="caffe"), ContentLoss("vgg16", "conv4_3", inputs="unit")
    bgr = ((x + 1) * 127.5).flip(1) - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)  # White-box Vgg19
    with torch.no_grad():
        torch.testing.assert_close(caffe.features(x), caffe.trunk(bgr), rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(unit.features(x), unit.trunk((x + 1) / 2))  # VGG19((x + 1) / 2): the reproduction
    assert (caffe.provenance["inputs"], unit.provenance["inputs"]) == ("caffe", "unit")


def test_recipes_follow_the_authors_code():
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    official = {"w_tv": 1e4, "w_surface": 0.1, "w_texture": 1.0, "w_content": 200.0, "w_structure": 200.0}
    seed = {"w_tv": 1e5, "w_surface": 0.2, "w_texture": 5.0, "w_content": 20.0, "w_structure": 20.0}
    default, seed003 = resolve("whitebox"), resolve("whitebox", recipe="whitebox-seed003")
    assert {k: default.method[k] for k in official} == official and default.method["content_input"] == "caffe"
    assert {k: seed003.method[k] for k in seed} == seed and seed003.method["w_landmark"] == 0.6
    assert seed003.recipe.endswith("whitebox-seed003.yaml")
    # the in-run regressors use landmark-regressor's loss weight
    w = resolve("landmark-regressor").method["w_heatmap"]
    assert default.method["w_heatmap"] == resolve("landmark-cyclegan").method["regressor_w_heatmap"] == w
    # CartoonGAN: the reproduction's VGG input and step decay (x0.1 at 50 % and 75 % of the adversarial phase)
    cg = resolve("cartoongan", overrides={"size": 32})
    assert cg.method["content_input"] == "unit"
    adversarial = METHODS.get("cartoongan")(cg, "cpu").phases()[-1]
    factors = [adversarial.lr_factor(p) for p in (0.0, 0.49, 0.5, 0.74, 0.75, 0.99)]
    assert factors == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_whitebox_landmark_term_is_zero_for_an_identity_generator():
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    torch.manual_seed(0)
    m = METHODS.get("whitebox")(resolve("whitebox", overrides={"size": 32, "width": 0.125}), "cpu")
    m.setup()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert float(m.landmark_term(x, x)) == 0.0  # the regressor's own error cancels
    assert float(m.landmark_term(x.roll(6, -1), x)) > 0


def _mask_method(**hp):
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS

    torch.manual_seed(0)
    cfg = resolve("cartoongan-mask", overrides={"size": 32, "width": 0.125}, sets={"method": hp})
    m = METHODS.get("cartoongan-mask")(cfg, "cpu")
    m.setup()
    for net in m.nets.values():
        net.eval()
    return m


def test_g_cannot_lower_its_adversarial_loss_through_the_mask():
    from cfkit.methods.cartoongan import bce

    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    for straight_through in (False, True):
        m = _mask_method(mask_gradient=straight_through)
        m.mask_logits = lambda y: 4 * y[:, :1]  # a mask that depends on the image: face where red > 0
        outside = (torch.sigmoid(m.mask_logits(x)) <= 0.5).expand_as(x).detach()
        assert outside.any()
        (grad,) = torch.autograd.grad(bce(m.discriminate(x), 1.0), x)
        # pixels D does not see change only the mask: they get no gradient unless the mask passes one
        assert bool(grad[outside].abs().max() > 0) is straight_through


def test_cpgan_steps_g_twice_per_iteration(tiny_domains, tmp_path, asset):
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    asset("vgg16")
    b, a = tiny_domains  # cartoons -> photos; any two domains do here
    over = {**SMALL, "data_a": str(a), "data_b": str(b), "out": str(tmp_path / "run"), "iters": 3}
    t = Trainer(resolve("cpgan", overrides={**over, "substitute": {"lightcnn9": "vgg16"}}))
    t.train_step()
    steps = {name: {int(s["step"]) for s in opt.state.values()} for name, opt in t.opts.items()}
    assert steps == {"g": {2}, "d_local": {1}, "d": {1}}  # one Adam for G, stepped on local, then on the rest
    logs = t.flush_logs(None)
    assert {"g_local_adv", "d_local_adv", "g_gan", "g_content", "g_identity", "d_global"} == set(logs)


def test_landmark_methods_refuse_domains_without_labels(tiny_domains, tmp_path, asset):
    from cfkit.errors import InputError
    from cfkit.train.config import resolve
    from cfkit.train.trainer import Trainer

    asset("vgg16")
    a, b = tiny_domains  # no landmark labels at all
    over = {**SMALL, "data_a": str(a), "data_b": str(b), "out": str(tmp_path / "run"), "substitute": VGG_STANDIN}
    for method in ("landmark-cyclegan", "whitebox"):
        with pytest.raises(InputError, match="cfkit train landmark-regressor") as err:
            Trainer(resolve(method, overrides=over))
        assert "--profile cartoon" in str(err.value)


class _Points(torch.nn.Module):
    def __init__(self, pts: torch.Tensor):
        super().__init__()
        self.pts = pts

    def points(self, x: torch.Tensor) -> torch.Tensor:
        return self.pts[: len(x)]


def test_in_run_regressor_must_beat_the_mean_face(capsys):
    from cfkit.errors import CfkitError
    from cfkit.methods.landmark_regressor import check_in_run_regressor
    from cfkit.train.method import Batch

    torch.manual_seed(0)
    base = torch.tensor([[0.36, 0.42], [0.64, 0.42], [0.5, 0.56], [0.5, 0.7], [0.5, 0.9]])
    pts = base + torch.randn(6, 5, 2) * 0.02
    ok = torch.tensor([1, 1, 1, 1, 1, 0.0])
    batch = Batch({"a": torch.zeros(6, 3, 8, 8), "a_lm": pts, "a_lm_ok": ok})
    check_in_run_regressor(_Points(pts[ok > 0]), batch, "a", "R_A")  # perfect: NME 0
    assert "R_A: NME 0.000 on 5 labelled" in capsys.readouterr().err
    mean_face = pts[ok > 0].mean(0, keepdim=True).expand(5, 5, 2)
    with pytest.raises(CfkitError, match="no better than the mean face"):
        check_in_run_regressor(_Points(mean_face + 0.01), batch, "a", "R_A")
    check_in_run_regressor(_Points(mean_face + 0.01), batch, "a", "R_A", enforce=False)  # says so, goes on
    assert "continuing anyway" in capsys.readouterr().err


def test_a_phase_with_its_own_batch_counts_its_epochs_in_it():
    from cfkit.train.config import TrainOptions
    from cfkit.train.method import Phase
    from cfkit.train.schedule import schedule

    phases = [Phase("regressor", 1, ("r",), batch=4), Phase("gan", 1, ("g",)), Phase("stage", 0, ("g",), iters=5)]
    plan = schedule(phases, 16, TrainOptions(batch=1), 1)
    assert [n for _, n in plan] == [4, 16, 5]
