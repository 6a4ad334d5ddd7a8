"""CartoonGAN (Chen, Lai & Liu, CVPR 2018): photo -> cartoon from unpaired sets.

Losses (Sec. 3.2): ``L = L_adv + w * L_con``.

* ``L_adv`` (edge-promoted adversarial loss, Sec. 3.2.1): D separates real cartoons (label 1)
  from generated images *and* edge-smoothed cartoons (label 0); G is trained to make D say 1.
* ``L_con`` (Sec. 3.2.2): l1 distance of VGG19 ``conv4_4`` features of ``G(p)`` and ``p``, ``w = 10``,
  the VGG fed RGB in [0, 1] as the public reproduction (``method.content_input: unit``). Without VGG19 a
  run refuses to start unless it asks for a stand-in (``--substitute vgg19=vgg16``: VGG16 ``conv4_3``,
  announced, weight times the stand-in's factor, recorded in ``run.json``).

Schedule: an initialisation phase trains G with the content loss only (Sec. 3.3), then D and G
alternate. Hyper-parameters live in ``pipelines/train/cartoongan.yaml`` with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cfkit.errors import InputError
from cfkit.nets.cartoongan import Discriminator, Generator
from cfkit.nets.diffaugment import diff_augment
from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


@dataclass(frozen=True)
class CartoonGANHparams:
    """``method:`` of ``pipelines/train/cartoongan.yaml`` (sources there)."""

    w_content: float = 10.0  # omega of Eq. 2: weight of the content loss in the adversarial phase
    w_init_content: float | None = None  # content weight of the init phase; None: w_content (the paper's)
    w_init_pixel: float = 0.0  # l1 pixel weight added to the init phase (not in the paper)
    d_augment: str = ""  # DiffAugment policy for D, e.g. "translation,cutout" ("": none; not in the paper)
    content_layer: str = "vgg19/conv4_4"  # ARCH/LAYER of the frozen VGG content loss
    content_input: str = "unit"  # how the VGG sees images (cfkit.nets.losses.INPUTS): the reproduction's [0, 1]
    lr: float = 2e-4
    lr_g: float | None = None  # G's lr; None: lr
    lr_d: float | None = None  # D's lr; None: lr
    betas: tuple[float, float] = (0.5, 0.999)
    init_epochs: float = 10.0  # the content-only initialisation phase
    epochs: float = 100.0  # the adversarial phase
    lr_drops: tuple[float, ...] = ()  # fractions of the adversarial phase from which the lr is x0.1 (reproduction)
    n_res: int = 8  # G's residual blocks
    g_norm: str = "instance"
    d_norm: str = "batch"


@METHODS.register("cartoongan")
class CartoonGAN(Method):
    name = "cartoongan"
    cpu_bf16 = True  # loss curves within 4 % of fp32's over a short run, 1.9x faster per step (docs/train.md)
    needs_edge_smoothed_b = True
    ema_nets = ("G",)
    monitor = "g_content"  # best.pt: lowest content loss in the adversarial phase (identity proxy)
    hparams = CartoonGANHparams
    hp: CartoonGANHparams

    def __init__(self, options, device):
        super().__init__(options, device)
        self._content = None
        self._content_factor = 1.0  # the weight factor of a stand-in content network
        # the init phase's weights: the paper's content loss (w_content unless set), plus a cfkit pixel term
        self.w_init_content = self.hp.w_content if self.hp.w_init_content is None else self.hp.w_init_content
        self.w_init_pixel = self.hp.w_init_pixel
        if not self.w_init_content and not self.w_init_pixel:
            raise InputError("method.w_init_content and method.w_init_pixel are both 0: the init phase has no loss")
        if any(not 0 < d < 1 for d in self.hp.lr_drops):
            raise InputError(
                f"method.lr_drops must be fractions of the adversarial phase in (0, 1): {self.hp.lr_drops}"
            )
        self.augment_d = diff_augment(self.hp.d_augment)  # not in the paper: few-image runs

    # --- declarations --------------------------------------------------------------------
    def build_networks(self) -> dict[str, nn.Module]:
        hp = self.hp
        return {
            "G": Generator(self.width, hp.n_res, hp.g_norm),
            "D": Discriminator(self.width, hp.d_norm),
        }

    def _adam(self, nets: tuple[str, ...], lr_key: str) -> OptimSpec:
        lr = getattr(self.hp, lr_key)
        return OptimSpec(nets, self.hp.lr if lr is None else lr, self.hp.betas)

    def build_optimizers(self) -> dict[str, OptimSpec]:
        return {"g": self._adam(("G",), "lr_g"), "d": self._adam(("D",), "lr_d")}

    def phases(self) -> list[Phase]:
        return [
            Phase("init", self.hp.init_epochs, ("g",)),
            Phase("adversarial", self.hp.epochs, ("d", "g"), drops=self.hp.lr_drops),
        ]

    # --- losses --------------------------------------------------------------------------
    def require_assets(self) -> None:
        self.content  # noqa: B018 - built now: a missing VGG19 stops the run before any work

    @property
    def content(self) -> nn.Module:
        """The frozen VGG content loss, built on first use (inference never needs it)."""
        if self._content is None:
            from cfkit.nets.losses import frozen_content_loss

            purpose, standins = f"{self.name}: the content loss", self.options.substitute
            self._content, self._content_factor = frozen_content_loss(
                self.hp.content_layer, self.device, standins, purpose, self.hp.content_input
            )
            self.provenance["content_loss"] = self._content.provenance
        return self._content

    def content_distance(self, fake: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``L_con`` times a stand-in network's weight factor (1 for the paper's VGG19)."""
        distance = self.content(fake, a)  # builds the network (and its factor) on first use
        return self._content_factor * distance

    def d_input(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """What D sees of ``x``: all of it here (subclasses restrict it, e.g. through ``mask``)."""
        return x

    def discriminate(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """D's logits for what it sees of ``x`` (``d_input``), through ``method.d_augment``."""
        return self.nets["D"](self.augment_d(self.d_input(x, mask)))

    def real_mask(self, batch: Batch) -> torch.Tensor | None:
        """The mask D applies to the real cartoons and their edge-smoothed copies (none here)."""
        return None

    def content_loss(self, fake: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.hp.w_content * self.content_distance(fake, a)

    def d_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.nets["G"](batch["a"])
            mask = self.real_mask(batch)
        return {
            "real": bce(self.discriminate(batch["b"], mask), 1.0),
            "smooth": bce(self.discriminate(batch["b_smooth"], mask), 0.0),
            "fake": bce(self.discriminate(fake), 0.0),
        }

    def g_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake = self.nets["G"](batch["a"])
        return {"adv": bce(self.discriminate(fake), 1.0), "content": self.content_loss(fake, batch["a"])}

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        if phase == "init":
            fake = self.nets["G"](batch["a"])
            terms = {}
            if self.w_init_content:  # the paper's init: the content loss alone (0 skips the VGG: pixel-only init)
                terms["content"] = self.w_init_content * self.content_distance(fake, batch["a"])
            if self.w_init_pixel:  # not in the paper (0 in its recipe): lets a short run's G start near the identity
                terms["pixel"] = self.w_init_pixel * (fake - batch["a"]).abs().mean()
            return terms
        return self.d_losses(batch) if opt == "d" else self.g_losses(batch)

    # --- outputs -------------------------------------------------------------------------
    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {"a": batch["a"], "fake_b": self.translate(batch["a"]), "b": batch["b"], "b_smooth": batch["b_smooth"]}

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net("G")(x)
