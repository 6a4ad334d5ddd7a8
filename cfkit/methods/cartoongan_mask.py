"""CartoonGAN + U-Net mask (seed 001, "ours"): the discriminator never sees the background.

Plain CartoonGAN treats the background as part of the style and floods faces with background
colour. Here a U-Net (``U``) learns face masks with BCE from the curated masks of domain A
(``--data-a DIR`` must hold ``masks/``) and of domain B where it has them, then every image D
judges is multiplied by the U-Net's mask of *that* image: ``D(x * m(x))``. A generated face that
loses its face colours is then seen as an incomplete face and judged fake (seed 001, "Intuition").

* Real and generated images get their masks from the same model, the U-Net: curated masks (a
  landmark hull, an ellipse for drawings) have silhouettes unlike the U-Net's, and D would tell real
  from fake by the silhouette alone. A real cartoon's edge-smoothed copy shares its mask.
* ``m(x)`` is binarised at 0.5 so the background D sees is exactly zero. In G's step the mask is a
  constant (detached): G learns from the face D sees, and cannot lower its adversarial loss by steering
  the frozen U-Net's mask of its own output (say, shrinking it over a badly drawn region).
  ``method.mask_gradient: true`` restores the earlier straight-through gradient into the soft mask.

Schedule (seed 001): G init with the perceptual loss 1 epoch; U-Net 20 epochs BCE; D + G 20
epochs adversarial. Other values as CartoonGAN (see ``pipelines/train/cartoongan-mask.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cfkit.errors import InputError
from cfkit.methods.cartoongan import CartoonGAN, CartoonGANHparams
from cfkit.nets.unet import UNet
from cfkit.train.method import METHODS, Batch, OptimSpec, Phase


@dataclass(frozen=True)
class CartoonGANMaskHparams(CartoonGANHparams):
    """CartoonGAN's, with seed 001's schedule and the U-Net's (``pipelines/train/cartoongan-mask.yaml``)."""

    init_epochs: float = 1.0
    unet_epochs: float = 20.0  # the U-Net's BCE phase, between init and adversarial
    epochs: float = 20.0
    unet_width: float = 1.0  # U-Net channel multiplier (times --width)
    lr_u: float | None = None  # the U-Net's lr; None: lr
    mask_gradient: bool = False  # True: the earlier straight-through gradient from D into the U-Net's soft mask


@METHODS.register("cartoongan-mask")
class CartoonGANMask(CartoonGAN):
    name = "cartoongan-mask"
    cpu_bf16 = True  # loss curves (U-Net BCE included) within 0.5 % of fp32's over a short run, 1.5x (docs/train.md)
    monitor = "g_content"
    hparams = CartoonGANMaskHparams
    hp: CartoonGANMaskHparams

    def build_networks(self) -> dict[str, nn.Module]:
        nets = super().build_networks()
        nets["U"] = UNet(self.hp.unet_width * self.width)
        return nets

    def build_optimizers(self) -> dict[str, OptimSpec]:
        return {**super().build_optimizers(), "u": self._adam(("U",), "lr_u")}

    def phases(self) -> list[Phase]:
        hp = self.hp
        return [
            Phase("init", hp.init_epochs, ("g",)),
            Phase("unet", hp.unet_epochs, ("u",)),
            Phase("adversarial", hp.epochs, ("d", "g"), drops=hp.lr_drops),
        ]

    # --- masks ---------------------------------------------------------------------------
    def mask_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets["U"](x)

    def mask_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Soft face masks ``N x 1 x H x W`` in [0, 1] (used by ``translate --mask-composite``)."""
        return torch.sigmoid(self.net("U")(x))

    def d_input(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """What D sees: ``x`` with the background set to exactly zero.

        Without ``mask`` the U-Net's mask of ``x`` is used, binarised at 0.5 and detached; with
        ``method.mask_gradient`` a straight-through gradient flows into the soft mask
        (``soft - soft.detach()`` is exactly 0 in the forward pass).
        """
        if mask is not None:
            return x * (mask > 0.5).to(x.dtype)
        if not self.hp.mask_gradient:
            with torch.no_grad():
                hard = (torch.sigmoid(self.mask_logits(x)) > 0.5).to(x.dtype)
            return x * hard
        soft = torch.sigmoid(self.mask_logits(x))
        return x * (soft > 0.5).to(x.dtype) + x * (soft - soft.detach())

    # --- losses --------------------------------------------------------------------------
    def real_mask(self, batch: Batch) -> torch.Tensor:
        """The U-Net's mask of each real cartoon (one pass, shared by its edge-smoothed copy)."""
        return torch.sigmoid(self.mask_logits(batch["b"]))

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        self.nets["U"].train(phase == "unet")  # frozen (eval-mode BatchNorm) outside its phase
        if phase != "unet":
            return super().losses(phase, opt, batch)
        if "a_mask" not in batch:
            raise InputError("cartoongan-mask trains its U-Net on masks/ of --data-a; run `cfkit mask DIR` first")
        keys = ("a", "b") if "b_mask" in batch else ("a",)  # both domains' curated masks where B has them
        x = torch.cat([batch[k] for k in keys])
        target = (torch.cat([batch[f"{k}_mask"] for k in keys]) > 0.5).to(x.dtype)
        return {"bce": F.binary_cross_entropy_with_logits(self.mask_logits(x), target)}

    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake = self.translate(batch["a"])
        m = self.mask_probs(batch["a"])
        return {
            "a": batch["a"],
            "mask_a": m * 2 - 1,
            "fake_b": fake,
            "d_sees_fake": self.d_input(fake),
            "composite": fake * m + batch["a"] * (1 - m),
        }


def predict_masks(checkpoint: str | Path, images, batch: int = 16, device: str = "auto") -> list[np.ndarray]:
    """Face masks from a cartoongan-mask run's U-Net, for ``cfkit mask --method unet``.

    ``checkpoint``: run folder or ``.pt``; ``images``: iterable of ``H x W x 3`` uint8 RGB arrays
    (any size). Returns one ``H x W`` uint8 mask per image (255 = face), at the image's own size.
    """
    import cv2

    from cfkit.train.data import to_float
    from cfkit.train.inference import load_method

    method, options, _ = load_method(checkpoint, device)
    if not hasattr(method, "mask_probs"):
        raise InputError(f"{checkpoint}: a '{options.name}' run has no mask model (train cartoongan-mask)")
    size = options.size
    images = list(images)
    out: list[np.ndarray] = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            chunk = images[s : s + batch]
            arr = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in chunk])
            x = to_float(torch.from_numpy(arr).permute(0, 3, 1, 2).to(method.device))
            probs = method.mask_probs(x)[:, 0].float().cpu().numpy()
            for im, p in zip(chunk, probs, strict=True):
                p = cv2.resize(p, (im.shape[1], im.shape[0]), interpolation=cv2.INTER_LINEAR)
                out.append(((p > 0.5) * 255).astype(np.uint8))
    return out
