"""CP-GAN (Huang, Tan, Yan, Qing, Wu & Yu, ACML 2018): cartoon -> photo from unpaired sets.

Direction: domain A = cartoons (the input), B = photos (``cfkit train cpgan --data-a CARTOONS
--data-b PHOTOS``; ``cfkit translate`` turns cartoons into photos).

Losses, as the authors' ``src/main.py`` / ``GAN_model.py`` compute them (weights in
``pipelines/train/cpgan.yaml``), all least-squares GAN (Mao et al. 2017):

* global: PatchGAN ``D`` on whole faces, G term ``w_gan * (D(G(a)) - 1)^2``;
* local: one PatchGAN ``D_local`` shared by three face regions (or one per region with
  ``local_shared: false``), G term ``w_local * sum_r (D_local(r(G(a))) - 1)^2``; ``local: strips``
  are the authors' horizontal strips around the eyes, nose and mouth rows, zero outside the strip
  ("crop and pad"); ``local: landmarks`` are square patches cut at each image's landmarks;
* content: ``w_content * mean (C(G(a)) - C(a))^2`` with the content network C: LightCNN-9 (the
  authors'); without its weights a run refuses to start unless it asks for a stand-in
  (``--substitute lightcnn9=vgg16``: VGG16 ``conv4_3``, announced, recorded in ``run.json``);
* identity: ``w_identity * |G(b) - b|`` (the authors' ``identity_weight``: G keeps photos as they are).

D terms are ``0.5 * (real + fake)`` times the same weights. Each iteration follows the authors'
``main.py``: G steps on the local terms, ``D_local`` steps, G steps again on global + content +
identity, ``D`` steps (one Adam each for G, D and the local D). Both discriminators judge the fakes of
G before its first step, as the authors' ``y``; the second G step runs G again as stepped (the
authors back-propagated through the first step's graph after the step, which PyTorch >= 1.5 refuses).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from cfkit.errors import InputError
from cfkit.geometry.scheme import PARTS
from cfkit.methods.cyclegan import lsgan
from cfkit.nets.cpgan import Generator, NLayerDiscriminator, part_centres, strip_masks, strip_rows, template_points
from cfkit.nets.cyclegan import init_weights
from cfkit.nets.patches import crop_patches
from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase

LOCAL_KINDS = ("strips", "landmarks")
#: square patch side per part, fraction of the image side (landmark variant; a choice, see docs/methods/cpgan.md)
PATCH_SIDES = {"eyes": 0.42, "nose": 0.25, "mouth": 0.3}


@dataclass(frozen=True)
class CPGANHparams:
    """``method:`` of ``pipelines/train/cpgan.yaml`` (sources there)."""

    epochs: float = 10.0  # epochs over the cartoon set (domain A)
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_res: int = 5  # G's residual blocks
    ndf: int = 64  # the discriminators' first-layer channels (times --width)
    init_gain: float = 0.02  # std of the discriminators' N(0, gain) weight init
    w_gan: float = 1.0  # global D term
    w_local: float = 0.1  # local D terms, per region
    w_content: float = 0.01
    w_identity: float = 1.275  # l1(G(b), b) in [-1, 1] units
    local: str = "strips"  # face regions of the local Ds: strips | landmarks
    local_shared: bool = True  # one D_local for the three regions (the authors'), else one per region
    template: str = "ffhq"  # alignment template the strips (and missing landmarks) are taken from
    part_rows: dict[str, float] | None = None  # {eyes, nose, mouth} image-relative strip rows; None: the template's
    patch_sides: dict[str, float] | None = None  # landmarks: square patch side per part, fraction of the side
    patch_out: int | None = None  # landmarks: px the patches are resampled to; None: half the size
    content_net: str = "lightcnn9"  # lightcnn9 (a stand-in only with --substitute lightcnn9=vgg16) | ARCH/LAYER
    content_weights: str | None = None  # a LightCNN-9 checkpoint file; overrides the asset
    content_distance: str = "mse"  # distance of the content features


def content_loss(hp: CPGANHparams, substitute: dict[str, str] | None = None) -> tuple[nn.Module, float]:
    """CP-GAN's content network as a loss (``method.content_net``, ``method.content_weights``) and the
    factor its weight takes (1 but for a stand-in).

    ``lightcnn9`` (default): the authors' LightCNN-9 (asset ``lightcnn9``, or the file ``content_weights``);
    not installed, it is an :class:`~cfkit.errors.AssetMissingError` unless ``substitute`` asks for a
    stand-in (``{"lightcnn9": "vgg16"}``: VGG16 ``conv4_3``, announced and recorded). ``ARCH/LAYER``: VGG
    features, chosen explicitly.
    """
    from cfkit.assets import asset_info, asset_path
    from cfkit.fsutil import sha256_file
    from cfkit.nets.lightcnn import LightCNNLoss
    from cfkit.nets.losses import ContentLoss
    from cfkit.nets.standins import announce, resolve

    spec, weights, distance = hp.content_net, hp.content_weights, hp.content_distance
    if weights:
        if spec != "lightcnn9":
            raise InputError(f"cpgan: content_weights is a LightCNN-9 file, but content_net is {spec!r}")
        if not Path(weights).is_file():
            raise InputError(f"cpgan: content_weights file not found: {weights}")
        return LightCNNLoss(weights, distance, {"file": str(weights), "sha256": sha256_file(weights)}), 1.0
    if spec != "lightcnn9":
        arch, _, layer = spec.partition("/")
        return ContentLoss(arch, layer, distance), 1.0
    purpose = "cpgan: the content loss"
    standin = resolve("lightcnn9", substitute or {}, purpose)
    if standin is None:
        path, info = asset_path("lightcnn9"), asset_info("lightcnn9") or {}
        return LightCNNLoss(path, distance, {"asset": "lightcnn9", **info}), 1.0
    loss = ContentLoss(standin.arch, standin.layer("features"), distance)
    loss.provenance.update(announce(standin, "lightcnn9", f"{standin.arch}/{standin.layer('features')}", purpose))
    return loss, standin.factor


@METHODS.register("cpgan")
class CPGAN(Method):
    cpu_bf16 = True  # loss curves within 2 % of fp32's over a short run (floor 1.4 %), 1.35x (docs/train.md)
    name = "cpgan"
    direction = "cartoon -> photo"
    ema_nets = ("G",)
    monitor = "g_content"  # best.pt: lowest content loss (a proxy for keeping the cartoon's face)
    hparams = CPGANHparams
    hp: CPGANHparams

    def __init__(self, options, device):
        super().__init__(options, device)
        self._content: nn.Module | None = None
        self._content_factor = 1.0
        self.local = self.hp.local
        if self.local not in LOCAL_KINDS:
            raise InputError(f"cpgan: method.local must be one of {', '.join(LOCAL_KINDS)}, not {self.local!r}")
        self.needs_landmarks = self.local == "landmarks"
        self.shared = self.hp.local_shared
        try:
            self._setup_regions(self.hp.template)
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"cpgan: bad face-region settings ({e})") from None

    def _setup_regions(self, template: str) -> None:
        if self.local == "strips":
            rows = self.hp.part_rows
            self.strips = strip_rows(self.size, rows, template)
            self._masks = strip_masks(self.size, self.strips).to(self.device)
            self.provenance["strips"] = self.strips
            return
        given = dict(self.hp.patch_sides or {})
        if set(given) - set(PARTS):
            raise ValueError(f"patch_sides keys must be among {', '.join(PARTS)}")
        sides = {**PATCH_SIDES, **given}
        self.patch_px = [float(sides[p]) * self.size for p in PARTS]  # square sides at training size
        self.patch_out = self.hp.patch_out or self.size // 2
        self._template = torch.from_numpy(template_points(template)).float()
        self.provenance["patches"] = {"sides_px": self.patch_px, "out": self.patch_out}

    # --- declarations --------------------------------------------------------------------
    def build_networks(self) -> dict[str, nn.Module]:
        ndf = max(1, round(self.hp.ndf * self.width))
        gain = self.hp.init_gain
        nets = {"G": Generator(self.width, self.hp.n_res)}
        for name in ("D", *self.local_nets):
            nets[name] = init_weights(NLayerDiscriminator(ndf=ndf), gain)
        return nets

    @property
    def local_nets(self) -> tuple[str, ...]:
        """``D_local`` shared by the regions (the authors'), or one ``D_local_<part>`` per region."""
        return ("D_local",) if self.shared else tuple(f"D_local_{p}" for p in PARTS)

    def build_optimizers(self) -> dict[str, OptimSpec]:
        lr, betas = self.hp.lr, (self.hp.beta1, self.hp.beta2)
        return {
            "g": OptimSpec(("G",), lr, betas),
            "d_local": OptimSpec(self.local_nets, lr, betas),
            "d": OptimSpec(("D",), lr, betas),
        }

    def phases(self) -> list[Phase]:
        # the authors' main.py order: G on the local terms, D_local, G on the others, D (one Adam per network)
        return [Phase("adversarial", self.hp.epochs, steps=("g:local", "d_local", "g", "d"))]

    # --- face regions --------------------------------------------------------------------
    def regions(self, x: torch.Tensor, lm: torch.Tensor | None = None, ok: torch.Tensor | None = None) -> torch.Tensor:
        """The local discriminators' inputs, eyes/nose/mouth: ``3 x N x C x h x w``.

        ``strips``: ``x`` zeroed outside each strip (full size). ``landmarks``: square patches
        (``crop_patches``) centred on the parts of ``lm`` (``N x 5 x 2``; template points where
        ``ok`` is 0 or no landmarks are given), resampled to ``patch_out`` px.
        """
        if self.local == "strips":
            return x.unsqueeze(0) * self._masks.unsqueeze(1).to(x.dtype)
        centres = part_centres(lm, ok, self._template.to(x.device), len(x))
        return torch.stack([crop_patches(x, c, s, self.patch_out) for c, s in zip(centres, self.patch_px, strict=True)])

    def _local(self, *regions: torch.Tensor) -> list[torch.Tensor]:
        """The local discriminator(s) on each ``3 x N x ...`` region batch (one call per network)."""
        sizes = [r.shape[1] for r in regions]
        if self.shared:
            pred = self.nets["D_local"](torch.cat([r.flatten(0, 1) for r in regions]))
            return [p.unflatten(0, (3, -1)) for p in pred.split([3 * n for n in sizes])]
        per_part = [
            self.nets[d](torch.cat([r[i] for r in regions])).split(sizes) for i, d in enumerate(self.local_nets)
        ]
        return [torch.stack([p[k] for p in per_part]) for k in range(len(regions))]

    # --- losses --------------------------------------------------------------------------
    @property
    def content(self) -> nn.Module:
        """The frozen content network loss, built on first use (inference never needs it)."""
        if self._content is None:
            with torch.random.fork_rng(devices=[]):  # building it must not shift the training RNG stream
                loss, self._content_factor = content_loss(self.hp, self.options.substitute)
                self._content = loss.to(self.device)
            self.provenance["content_loss"] = self._content.provenance
        return self._content

    def require_assets(self) -> None:
        self.content  # noqa: B018 - built now: a missing LightCNN-9 stops the run before any work

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        if opt == "g:local":
            return self._g_local_losses(batch)
        if opt == "d_local":
            return self._d_local_losses(batch)
        return self._g_losses(batch) if opt == "g" else self._d_losses(batch)

    def _fake(self, batch: Batch) -> torch.Tensor:
        """The iteration's fakes, from G before its first step (both discriminators judge them, as the
        authors' ``y``); a D step not preceded by a G step makes its own, without G gradients."""
        if "g_fake" not in batch:
            with torch.no_grad():
                batch.tensors["g_fake"] = self.nets["G"](batch["a"])
        return batch["g_fake"]

    def _g_local_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The authors' first G step: the local adversarial terms alone."""
        fake = self.nets["G"](batch["a"])
        batch.tensors["g_fake"] = fake.detach()
        (local,) = self._local(self.regions(fake, batch.get("a_lm"), batch.get("a_lm_ok")))
        return {"adv": self.hp.w_local * local.shape[0] * lsgan(local, True)}

    def _g_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The authors' second G step: global adversarial, content and identity terms (G as stepped)."""
        a, b = batch["a"], batch["b"]
        w_idt = self.hp.w_identity
        g = self.nets["G"]
        if w_idt > 0:  # one call on [A; B] (instance norm is per image)
            fake, idt = g(torch.cat([a, b])).split([len(a), len(b)])
        else:
            fake = g(a)
        content = self.content(fake, a)  # builds the network (and its factor) on first use
        out = {
            "gan": self.hp.w_gan * lsgan(self.nets["D"](fake), True),
            "content": self.hp.w_content * self._content_factor * content,
        }
        if w_idt > 0:
            out["identity"] = w_idt * F.l1_loss(idt, b)
        return out

    def _d_local_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        fake = self._fake(batch)
        real_l, fake_l = self._local(
            self.regions(batch["b"], batch.get("b_lm"), batch.get("b_lm_ok")),
            self.regions(fake, batch.get("a_lm"), batch.get("a_lm_ok")),  # G keeps the cartoon's geometry
        )
        n_regions = real_l.shape[0]  # sum over regions of per-region means (all regions share one shape)
        return {"adv": self.hp.w_local * n_regions * 0.5 * (lsgan(real_l, True) + lsgan(fake_l, False))}

    def _d_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        b, fake = batch["b"], self._fake(batch)
        real_g, fake_g = self.nets["D"](torch.cat([b, fake])).split([len(b), len(fake)])
        return {"global": self.hp.w_gan * 0.5 * (lsgan(real_g, True) + lsgan(fake_g, False))}

    # --- outputs -------------------------------------------------------------------------
    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.translate(batch["a"])
            out = {"a": batch["a"], "fake_b": fake, "b": batch["b"]}
            parts = self.regions(fake, batch.get("a_lm"), batch.get("a_lm_ok"))
            for part, x in zip(PARTS, parts, strict=True):  # what the local discriminators see
                out[f"fake_b_{part}"] = F.interpolate(x, size=fake.shape[-2:], mode="nearest")
            return out

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.net("G")(x)
