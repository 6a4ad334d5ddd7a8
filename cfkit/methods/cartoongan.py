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

import torch
import torch.nn.functional as F
from torch import nn

from cfkit.errors import InputError
from cfkit.nets.cartoongan import Discriminator, Generator
from cfkit.nets.diffaugment import diff_augment
from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


@METHODS.register("cartoongan")
class CartoonGAN(Method):
    name = "cartoongan"
    cpu_bf16 = True  # loss curves within 4 % of fp32's over a short run, 1.9x faster per step (docs/train.md)
    needs_edge_smoothed_b = True
    ema_nets = ("G",)
    monitor = "g_content"  # best.pt: lowest content loss in the adversarial phase (identity proxy)

    def __init__(self, options, device):
        super().__init__(options, device)
        self._content = None
        self._content_factor = 1.0  # the weight factor of a stand-in content network
        # the init phase's weights: the paper's content loss (w_content unless set), plus a cfkit pixel term
        self.w_init_content = float(self.hp.get("w_init_content", self.hp.get("w_content", 10.0)))
        self.w_init_pixel = float(self.hp.get("w_init_pixel", 0.0))
        if not self.w_init_content and not self.w_init_pixel:
            raise InputError("method.w_init_content and method.w_init_pixel are both 0: the init phase has no loss")
        self.augment_d = diff_augment(str(self.hp.get("d_augment") or ""))  # not in the paper: few-image runs

    # --- declarations --------------------------------------------------------------------
    def build_networks(self) -> dict[str, nn.Module]:
        hp = self.hp
        return {
            "G": Generator(self.width, int(hp.get("n_res", 8)), str(hp.get("g_norm", "instance"))),
            "D": Discriminator(self.width, str(hp.get("d_norm", "batch"))),
        }

    def _adam(self, nets: tuple[str, ...], lr_key: str) -> OptimSpec:
        betas = tuple(float(b) for b in self.hp.get("betas", (0.5, 0.999)))
        return OptimSpec(nets, float(self.hp.get(lr_key, self.hp.get("lr", 2e-4))), betas)  # type: ignore[arg-type]

    def build_optimizers(self) -> dict[str, OptimSpec]:
        return {"g": self._adam(("G",), "lr_g"), "d": self._adam(("D",), "lr_d")}

    def phases(self) -> list[Phase]:
        return [
            Phase("init", float(self.hp.get("init_epochs", 10)), ("g",)),
            Phase("adversarial", float(self.hp.get("epochs", 100)), ("d", "g"), drops=self.lr_drops),
        ]

    @property
    def lr_drops(self) -> tuple[float, ...]:
        """Fractions of the adversarial phase from which G's and D's lr is multiplied by 0.1 (``method.lr_drops``)."""
        drops = tuple(float(d) for d in self.hp.get("lr_drops") or ())
        if any(not 0 < d < 1 for d in drops):
            raise InputError(f"method.lr_drops must be fractions of the adversarial phase in (0, 1), got {drops}")
        return drops

    # --- losses --------------------------------------------------------------------------
    def require_assets(self) -> None:
        self.content  # noqa: B018 - built now: a missing VGG19 stops the run before any work

    @property
    def content(self) -> nn.Module:
        """The frozen VGG content loss, built on first use (inference never needs it)."""
        if self._content is None:
            from cfkit.nets.losses import frozen_content_loss

            spec, inputs = str(self.hp.get("content_layer", "vgg19/conv4_4")), str(self.hp.get("content_input", "unit"))
            purpose = f"{self.name}: the content loss"
            self._content, self._content_factor = frozen_content_loss(
                spec, self.device, self.options.substitute, purpose, inputs
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
        return float(self.hp.get("w_content", 10.0)) * self.content_distance(fake, a)

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
