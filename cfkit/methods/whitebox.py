"""White-box cartoonization (Wang & Yu, CVPR 2020) with a landmark loss (seed 003).

Generator ``G`` (:class:`cfkit.nets.whitebox.Generator`) followed by a guided filter guided by the
input photo. Training (official ``train_code/train.py``), with ``out = GF(a, G(a))``:

* surface: the self-guided filter of ``out`` vs of cartoons, spectral-norm patch D, LSGAN;
* texture: ``out`` and cartoons through one random colour shift to grayscale, second D, LSGAN;
* structure: superpixels of ``out`` with adaptive colouring (computed in a worker pool while the
  other terms are computed), L1 on VGG features; content: L1 on VGG features of ``out`` and ``a``.
  Both divided by the feature map's ``H*W*C`` as the official code does;
* total variation (official normalisation ``/(3 H W)``);
* landmark (seed 003): landmarks of ``out`` through a frozen landmark regressor vs that regressor's
  landmarks of the input photo (detached): one consistent target, zero for an identity generator.

Phases: ``landmarks`` (only when no regressor run is named: the regressor learns from the batches'
heatmaps of both domains, then is frozen), ``pretrain`` (G alone, pixel L1 to the photo, no guided
filter) and ``train`` (G then D). Lengths are iterations (``--total_iter`` in the official code);
weights and their sources are in ``pipelines/train/whitebox.yaml`` and ``docs/methods/whitebox.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cfkit.errors import InputError
from cfkit.nets.superpixel import SuperpixelPool
from cfkit.nets.whitebox import Discriminator, Generator, color_shift, guided_filter, surface, total_variation
from cfkit.train.data import to_uint8
from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase


def in_fp32(fn, *xs: torch.Tensor) -> torch.Tensor:
    """``fn(*xs)`` in float32 with autocast off: box sums and soft-argmax lose too much in bf16, where they
    would otherwise run on G's bf16 output."""
    with torch.autocast(xs[0].device.type, enabled=False):
        return fn(*(x.float() for x in xs))


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Official ``lsgan_loss`` for D: ``0.5 * (mean((real - 1)^2) + mean(fake^2))``."""
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return (fake - 1).pow(2).mean()


def feature_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Official VGG loss: mean absolute difference divided once more by the map's ``H * W * C``."""
    c, h, w = x.shape[1:]
    return (x - y).abs().mean() / (h * w * c)


def landmark_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute distance of ``N x K x 2`` normalised landmark coordinates."""
    return (pred - target).abs().mean()


@dataclass(frozen=True)
class WhiteBoxHparams:
    """``method:`` of ``pipelines/train/whitebox.yaml``: the official balance (seed 003's flags:
    ``whitebox-seed003.yaml``; sources and the w0..w4 mapping in docs/methods/whitebox.md)."""

    pretrain_iters: int = 50000  # G alone, pixel l1
    train_iters: int = 30000  # G and D
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.99)
    w_tv: float = 1e4  # total variation
    w_surface: float = 0.1
    w_texture: float = 1.0
    w_content: float = 200.0
    w_structure: float = 200.0
    w_landmark: float = 0.6  # 0: no landmark term (and no regressor)
    channels: int = 32  # G's and the Ds' base channels (times --width)
    n_blocks: int = 4  # G's residual blocks
    gf_r: int = 1  # guided filter radius after G
    gf_eps: float = 1e-2  # its eps in training
    gf_eps_test: float = 5e-3  # its eps in translate
    surface_r: int = 5  # the surface representation's self-guided filter
    surface_eps: float = 0.2
    superpixel: str = "slic"  # slic | felzenszwalb
    superpixel_segments: int = 200
    superpixel_workers: int | Literal["auto"] = "auto"  # processes computing superpixels (0: in-process)
    content_layer: str = "vgg19/conv4_4"  # ARCH/LAYER of the VGG features of content and structure
    content_input: str = "caffe"  # how the VGG sees images (cfkit.nets.losses.INPUTS): the official BGR 0-255
    regressor: str | None = None  # a landmark-regressor run or checkpoint; None: trained in phase "landmarks"
    regressor_iters: int = 2000  # that phase's length
    regressor_batch: int = 16  # images per iteration in that phase (landmark-regressor's batch)
    regressor_check: bool = True  # stop after that phase when the regressor is no better than the mean face
    regressor_lr: float = 1e-3
    regressor_depth: int = 4
    regressor_width: float = 0.25  # times --width
    w_heatmap: float = 100.0  # the regressor's heatmap MSE weight (landmark-regressor's)
    regressor_rotate: float = 15.0  # its batches' random rotation (degrees)
    regressor_scale: float = 0.1  # random zoom (fraction)
    regressor_shift: float = 0.08  # random shift (fraction of the side)


@METHODS.register("whitebox")
class WhiteBox(Method):
    cpu_bf16 = False  # bf16 moves its landmark term's mean by 28 %, D_surface's by 22 % in a short run (docs/train.md)
    name = "whitebox"
    needs_landmarks = True
    ema_nets = ("G",)
    monitor = "g_content"  # best.pt: lowest content term in the train phase (an identity proxy)
    hparams = WhiteBoxHparams
    hp: WhiteBoxHparams

    def __init__(self, options, device):
        super().__init__(options, device)
        self._vgg = None
        self._vgg_factor = 1.0  # the weight factor of a stand-in VGG
        self._pool: SuperpixelPool | None = None
        self._regressor: nn.Module | None = None

    @property
    def trains_regressor(self) -> bool:
        return not self.hp.regressor and self.hp.w_landmark > 0

    # --- declarations --------------------------------------------------------------------
    def build_networks(self) -> dict[str, nn.Module]:
        ch = self.hp.channels
        nets: dict[str, nn.Module] = {
            "G": Generator(self.width, self.hp.n_blocks, ch),
            "D_surface": Discriminator(3, self.width, ch),
            "D_texture": Discriminator(1, self.width, ch),
        }
        if self.trains_regressor:
            from cfkit.nets.landmarks import LandmarkRegressor

            width = self.hp.regressor_width * self.width
            nets["R"] = LandmarkRegressor(width=width, depth=self.hp.regressor_depth, size=self.size)
        return nets

    def build_optimizers(self) -> dict[str, OptimSpec]:
        lr, betas = self.hp.lr, self.hp.betas
        # pretrain has its own Adam: the official train.py restores only G's weights, so its Adam moments start
        # fresh; moments tuned to the pixel L1 would turn the first adversarial steps into ~10x lr jumps
        opts = {
            "g_pre": OptimSpec(("G",), lr, betas),
            "g": OptimSpec(("G",), lr, betas),
            "d": OptimSpec(("D_surface", "D_texture"), lr, betas),
        }
        if self.trains_regressor:
            opts["r"] = OptimSpec(("R",), self.hp.regressor_lr)  # Adam (0.9, 0.999) as landmark-regressor
        return opts

    def phases(self) -> list[Phase]:
        phases = [
            Phase("pretrain", 0, ("g_pre",), iters=self.hp.pretrain_iters),
            Phase("train", 0, ("g", "d"), iters=self.hp.train_iters),
        ]
        if self.trains_regressor:
            phases.insert(
                0, Phase("landmarks", 0, ("r",), iters=self.hp.regressor_iters, batch=self.hp.regressor_batch)
            )
        return phases

    def check_landmarks(self, labelled: dict[str, int]) -> None:
        """The regressor trained here learns from both domains' landmark labels: refuse data without any."""
        if self.trains_regressor and not sum(labelled.values()):
            raise InputError(
                "whitebox: neither --data-a nor --data-b has landmark labels to train the landmark regressor on: "
                "prepare them with landmarks (`cfkit prepare folder --src DIR --profile cartoon` for cartoons) or "
                "train one with `cfkit train landmark-regressor --data DIR` and name it: --set method.regressor=RUN"
            )

    def end_phase(self, phase: str, batch: Batch) -> None:
        """After the ``landmarks`` phase: the regressor must beat the mean face before G trains against it."""
        if phase == "landmarks":
            from cfkit.methods.landmark_regressor import check_in_run_regressor

            why, enforce = "whitebox: the landmark regressor", self.hp.regressor_check
            check_in_run_regressor(self.net("R"), batch, "ab", why, enforce)

    # --- frozen helpers, built on first use ----------------------------------------------
    def require_assets(self) -> None:
        self.vgg  # noqa: B018 - built now: a missing VGG19 stops the run before any work

    @property
    def vgg(self):
        """The frozen VGG of the content and structure terms, fed BGR 0-255 minus the Caffe means as the
        official ``Vgg19.build_conv4_4`` (``method.content_input: caffe``)."""
        if self._vgg is None:
            from cfkit.nets.losses import frozen_content_loss

            why, standins = "whitebox: the content and structure losses", self.options.substitute
            self._vgg, self._vgg_factor = frozen_content_loss(
                self.hp.content_layer, self.device, standins, why, self.hp.content_input
            )
            self.provenance["content_loss"] = self._vgg.provenance
        return self._vgg

    @property
    def pool(self) -> SuperpixelPool:
        if self._pool is None:
            self._pool = SuperpixelPool(self.hp.superpixel_workers, self.hp.superpixel, self.hp.superpixel_segments)
            self.provenance["superpixel"] = {"method": self._pool.method, "segments": self._pool.n_segments}
        return self._pool

    def regressor(self) -> nn.Module:
        """The frozen landmark regressor: the named run's, else the one of the ``landmarks`` phase."""
        if self.trains_regressor:
            # frozen after its phase: eval-mode batch norm, and no gradients for its weights (which
            # would also wake DDP's hooks on them); gradients still reach its input
            return self.net("R").eval().requires_grad_(False)
        if self._regressor is None:
            from cfkit.nets.landmarks import load_regressor

            self._regressor = load_regressor(self.hp.regressor, self.device)
            self.provenance["landmark_regressor"] = self._regressor.source
        return self._regressor

    # --- losses --------------------------------------------------------------------------
    def generate(self, a: torch.Tensor, eps: float | None = None) -> torch.Tensor:
        """``GF(a, G(a))`` with the training ``eps`` unless another is given."""
        r, eps = self.hp.gf_r, self.hp.gf_eps if eps is None else eps
        return in_fp32(lambda guide, src: guided_filter(guide, src, r, eps), a, self.nets["G"](a))

    def _surface(self, x: torch.Tensor) -> torch.Tensor:
        return in_fp32(lambda y: surface(y, self.hp.surface_r, self.hp.surface_eps), x)

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        if phase == "landmarks":
            return self.regressor_losses(batch)
        if phase == "pretrain":
            return {"recon": F.l1_loss(self.nets["G"](batch["a"]), batch["a"])}
        return self.g_losses(batch) if opt == "g" else self.d_losses(batch)

    def regressor_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The ``landmark-regressor`` objective on both domains at once (G's outputs lie between them)."""
        from cfkit.methods.landmark_regressor import regressor_objective

        x, pts = torch.cat([batch["a"], batch["b"]]), torch.cat([batch["a_lm"], batch["b_lm"]])
        ok = torch.cat([batch["a_lm_ok"], batch["b_lm_ok"]])
        aug = [self.hp.regressor_rotate, self.hp.regressor_scale, self.hp.regressor_shift]
        return {"heatmap": regressor_objective(self.nets["R"], x, pts, ok, self.size, aug, self.hp.w_heatmap)}

    def g_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        a = batch["a"]
        out = self.generate(a)
        pending = self.pool.submit(to_uint8(out.detach()).permute(0, 2, 3, 1).cpu().numpy())
        (gray,) = color_shift(out)
        terms = {
            "surface": self.hp.w_surface * lsgan_g(self.nets["D_surface"](self._surface(out))),
            "texture": self.hp.w_texture * lsgan_g(self.nets["D_texture"](gray)),
            "tv": self.hp.w_tv * total_variation(out),
        }
        vgg = self.vgg
        f_out = vgg.features(out)
        with torch.no_grad():
            f_a = vgg.features(a)
        terms["content"] = self.hp.w_content * self._vgg_factor * feature_l1(f_out, f_a)
        if self.hp.w_landmark > 0:
            terms["landmark"] = self.hp.w_landmark * self.landmark_term(out, a)
        structure = torch.from_numpy(pending.result()).to(a.device).permute(0, 3, 1, 2)
        with torch.no_grad():
            f_sp = vgg.features(structure / 127.5 - 1)
        terms["structure"] = self.hp.w_structure * self._vgg_factor * feature_l1(f_out, f_sp)
        return terms

    def landmark_term(self, out: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Seed 003's landmark term: the frozen regressor's points on ``out`` against its points on the
        photo ``a`` (detached). One regressor on both sides, so its own error cancels: the term is zero
        when ``out`` is the photo (curated labels as the target would push G by the regressor's error)."""
        reg = self.regressor()
        with torch.no_grad():
            target = in_fp32(reg.points, a)
        return landmark_loss(in_fp32(reg.points, out), target)

    def d_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        b = batch["b"]
        with torch.no_grad():
            fake = self.generate(batch["a"])
        gray_real, gray_fake = color_shift(b, fake)
        return {
            "surface": self._judge("D_surface", self._surface(b), self._surface(fake)),
            "texture": self._judge("D_texture", gray_real, gray_fake),
        }

    def _judge(self, d: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """LSGAN loss of discriminator ``d`` from one call on ``[real; fake]``."""
        pred_real, pred_fake = self.nets[d](torch.cat([real, fake])).split([len(real), len(fake)])
        return lsgan_d(pred_real, pred_fake)

    # --- outputs -------------------------------------------------------------------------
    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"a": batch["a"], "fake_b": self.translate(batch["a"]), "b": batch["b"]}

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Test time: the guided filter with ``eps = 5e-3`` (official ``cartoonize.py``), clipped to [-1, 1]."""
        r, eps = self.hp.gf_r, self.hp.gf_eps_test
        return guided_filter(x, self.net("G")(x), r, eps).clamp(-1, 1)
