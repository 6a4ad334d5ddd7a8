"""CycleGAN (Zhu, Park, Isola, Efros, ICCV 2017), following the official
pytorch-CycleGAN-and-pix2pix ``models/cycle_gan_model.py``.

Networks keep the official names: ``G_A``: A -> B, ``G_B``: B -> A, ``D_A`` judges domain B
(real B vs G_A(A)), ``D_B`` judges domain A. Losses (weights from ``pipelines/train/cyclegan.yaml``):
least-squares GAN, cycle L1 x ``lambda_a``/``lambda_b``, identity L1 x ``lambda_identity`` x lambda;
the discriminators see fakes drawn from a 50-image history pool (halved D loss, as upstream).
One iteration steps the generators, then the discriminators (upstream order). As upstream, an
epoch is max(|A|, |B|) images, images are loaded at 286/256 of the training size and randomly
cropped (then flipped), and the lr decays linearly once per epoch over the last ``n_epochs_decay``.
``translate`` runs ``G_A``, ``translate_reverse`` (``cfkit translate --reverse``) ``G_B``; with
``--set ema=0.999`` the trainer keeps moving averages of both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from cfkit.nets.cyclegan import NLayerDiscriminator, ResnetGenerator, init_weights
from cfkit.nets.image_pool import ImagePool
from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase


def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017): mean squared distance to the 1/0 target."""
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


@dataclass(frozen=True)
class CycleGANCore:
    """The hyper-parameters CycleGAN shares with the methods built on it (official option names)."""

    ngf: int = 64  # G's first-layer channels (times --width)
    ndf: int = 64  # D's first-layer channels (times --width)
    n_blocks: int = 9  # G's residual blocks
    init_gain: float = 0.02  # std of the N(0, gain) weight init
    pool_size: int = 50  # fake-image history per D
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_a: float = 10.0  # cycle A -> B -> A
    lambda_b: float = 10.0  # cycle B -> A -> B
    lambda_identity: float = 0.5  # identity term, times lambda_a / lambda_b
    load_size: int = 286  # images are held at size * load_size / crop_size and randomly cropped to size
    crop_size: int = 256


@dataclass(frozen=True)
class CycleGANHparams(CycleGANCore):
    """``method:`` of ``pipelines/train/cyclegan.yaml`` (sources there)."""

    n_epochs: float = 100.0  # epochs at the initial lr
    n_epochs_decay: float = 100.0  # epochs of linear decay to zero after them


@METHODS.register("cyclegan")
class CycleGAN(Method):
    name = "cyclegan"
    epoch_images = "max"  # the official unaligned data loader: an epoch is max(|A|, |B|) images
    reversible = True  # G_B translates B -> A
    ema_nets = ("G_A", "G_B")
    cpu_bf16 = True  # loss curves within 4 % of fp32's over a short run, 1.9x faster per step (docs/train.md)
    hparams = CycleGANHparams
    hp: CycleGANHparams

    def __init__(self, options, device):
        super().__init__(options, device)
        # fakes of the G step for the D step, one entry per micro-batch (gradient accumulation)
        self._fakes: deque[dict[str, torch.Tensor]] = deque(maxlen=self.options.accum)

    def build_networks(self) -> dict[str, nn.Module]:
        ngf = max(1, round(self.hp.ngf * self.width))
        ndf = max(1, round(self.hp.ndf * self.width))
        blocks, pool = self.hp.n_blocks, self.hp.pool_size
        self.provenance.update({"ngf": ngf, "ndf": ndf, "n_blocks": blocks, "pool_size": pool})
        nets = {
            "G_A": ResnetGenerator(ngf=ngf, n_blocks=blocks),
            "G_B": ResnetGenerator(ngf=ngf, n_blocks=blocks),
            "D_A": NLayerDiscriminator(ndf=ndf),
            "D_B": NLayerDiscriminator(ndf=ndf),
        }
        nets = {k: init_weights(v, self.hp.init_gain) for k, v in nets.items()}
        # the fake-image histories: parameter-free modules, so the trainer checkpoints them (exact
        # resume) but neither optimises nor DDP-wraps them; under DDP each rank keeps its own
        shape = (3, self.size, self.size)
        return {**nets, "pool_D_A": ImagePool(pool, shape), "pool_D_B": ImagePool(pool, shape)}

    def build_optimizers(self) -> dict[str, OptimSpec]:
        lr, betas = self.hp.lr, (self.hp.beta1, self.hp.beta2)
        return {"g": OptimSpec(("G_A", "G_B"), lr, betas), "d": OptimSpec(("D_A", "D_B"), lr, betas)}

    def phases(self) -> list[Phase]:
        n, n_decay = self.hp.n_epochs, self.hp.n_epochs_decay
        decay = n / (n + n_decay) if n_decay > 0 else None
        return [Phase("cyclegan", n + n_decay, steps=("g", "d"), decay_from=decay, decay_per_epoch=True)]

    def load_size(self) -> int:
        """Official ``--preprocess resize_and_crop``: load at 286, random 256 crops, scaled to ``size``."""
        ratio = self.hp.load_size / self.hp.crop_size
        return max(self.size, round(self.size * ratio))

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        return self._g_losses(batch) if opt == "g" else self._d_losses(batch)

    def _g_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = batch["a"], batch["b"]
        lam_a, lam_b, lam_idt = self.hp.lambda_a, self.hp.lambda_b, self.hp.lambda_identity
        g_a, g_b = self.nets["G_A"], self.nets["G_B"]
        if lam_idt > 0:  # G_A(B) is the identity term of G_A; one call on [A; B] (instance norm is per image)
            fake_b, idt_a = g_a(torch.cat([a, b])).split([len(a), len(b)])
            fake_a, idt_b = g_b(torch.cat([b, a])).split([len(b), len(a)])
        else:
            fake_b, fake_a = g_a(a), g_b(b)
        rec_a, rec_b = g_b(fake_b), g_a(fake_a)
        self._fakes.append({"D_A": fake_b.detach(), "D_B": fake_a.detach()})
        out = {
            "gan_a": lsgan(self.nets["D_A"](fake_b), True),
            "gan_b": lsgan(self.nets["D_B"](fake_a), True),
            "cycle_a": lam_a * F.l1_loss(rec_a, a),
            "cycle_b": lam_b * F.l1_loss(rec_b, b),
        }
        if lam_idt > 0:
            out["idt_a"] = lam_b * lam_idt * F.l1_loss(idt_a, b)
            out["idt_b"] = lam_a * lam_idt * F.l1_loss(idt_b, a)
        return out

    def _d_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = batch["a"], batch["b"]
        if self._fakes:
            fakes = self._fakes.popleft()
        else:  # D stepped without a preceding G step: fresh fakes, no G gradients
            with torch.no_grad():
                fakes = {"D_A": self.nets["G_A"](a), "D_B": self.nets["G_B"](b)}
        out = {}
        for d, real in (("D_A", b), ("D_B", a)):  # one call on [real; fake] per D (instance norm is per image)
            fake = self.net(f"pool_{d}").query(fakes[d])
            pred_real, pred_fake = self.nets[d](torch.cat([real, fake])).split([len(real), len(fake)])
            out[d[-1].lower()] = 0.5 * (lsgan(pred_real, True) + lsgan(pred_fake, False))
        return out

    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            g_a, g_b = self.net("G_A"), self.net("G_B")
            fake_b, fake_a = g_a(batch["a"]), g_b(batch["b"])
            return {
                "a": batch["a"],
                "fake_b": fake_b,
                "rec_a": g_b(fake_b),
                "b": batch["b"],
                "fake_a": fake_a,
                "rec_b": g_a(fake_a),
            }

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net("G_A")(x)

    def translate_reverse(self, x: torch.Tensor) -> torch.Tensor:
        return self.net("G_B")(x)
