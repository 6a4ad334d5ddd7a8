"""Landmark Assisted CycleGAN (seed 002; Wu, Gu, Tao, Shen, Tai, Jia 2019, arXiv:1907.01424).

CycleGAN (:class:`cfkit.methods.cyclegan.CycleGAN`: LSGAN, cycle L1, image pools, official names:
``G_A``: A -> B, ``D_A`` judges domain B) with the paper's landmark assistance, in both directions:

* conditional generators ``G_A(x, l_x)``, ``G_B(y, l_y)``: the input's 5 landmark heatmaps are
  concatenated to the image (Sec. 3.2); the cycle goes back with the same heatmaps,
  ``G_B(G_A(x, l), l)``, which the landmark loss asks the fake to have;
* landmark consistency (Eq. 4): ``lambda_landmark * ||R_B(G_A(x, l)) - l||^2`` with ``R_B`` a
  frozen heatmap regressor of domain B (and ``R_A`` for the other direction);
* an unconditional global PatchGAN ``D_A`` and a landmark-conditioned one ``D_A_gc(y, l)`` (Eq. 5);
* local PatchGANs ``D_A_eyes``, ``D_A_nose``, ``D_A_mouth`` on square patches around those
  landmarks, each term weighted by its ``lambda_<part>`` (Eq. 6);
* two stages (Sec. 3.3.1): stage I without the local discriminators; stage II crops the fakes'
  patches at the landmarks ``R_B`` predicts on them (``soft_argmax`` of ``R_B(G_A(x, l))``, the
  prediction the landmark loss already makes), real patches at the images' own landmarks.

Regressors: ``method.regressor_a`` / ``regressor_b`` name ``cfkit train landmark-regressor`` runs
(or checkpoints); a domain whose regressor is not named gets one trained here first, in a
``regressor`` phase, with the ``landmark-regressor`` objective (heatmap MSE on randomly rotated,
scaled and shifted copies of the batches; images without landmarks masked out). Either way the
regressors are networks of the run, frozen after that phase and saved with it, so ``cfkit
translate`` needs nothing but images: it predicts each input's landmarks with ``R_A``, renders
them as heatmaps like the training batches', and runs ``G_A`` (``--reverse``: ``R_B`` and ``G_B``,
B images -> A). Training images without landmarks
are conditioned the same way. (A named regressor run must still exist when the run is loaded.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cfkit.errors import InputError
from cfkit.geometry.scheme import NAMES, PARTS
from cfkit.methods.cyclegan import CycleGAN, CycleGANCore, lsgan
from cfkit.methods.landmark_regressor import check_in_run_regressor, regressor_objective
from cfkit.nets.cyclegan import NLayerDiscriminator, init_weights
from cfkit.nets.image_pool import ImagePool
from cfkit.nets.landmark_cyclegan import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    local_discriminator,
    part_patches,
)
from cfkit.nets.landmarks import LandmarkRegressor, heatmaps, load_regressor, sigma_px, soft_argmax
from cfkit.train.method import METHODS, Batch, OptimSpec, Phase

#: (translation, its discriminators' prefix, source domain key, target domain key, target regressor)
DIRECTIONS = (("G_A", "D_A", "a", "b", "R_B"), ("G_B", "D_B", "b", "a", "R_A"))


def landmark_consistency(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 4: mean squared difference of the regressor's heatmaps on a fake and the input's heatmaps."""
    return (pred.float() - target.float()).pow(2).mean()


@dataclass(frozen=True)
class LandmarkCycleGANHparams(CycleGANCore):
    """``method:`` of ``pipelines/train/landmark-cyclegan.yaml`` (sources there): CycleGAN's networks and
    weights, without its schedule, plus the paper's additions."""

    lambda_identity: float = 0.0
    lambda_landmark: float = 1.0  # Eq. 4: landmark consistency
    lambda_eyes: float = 1.0  # Eq. 6: local discriminator terms, per part
    lambda_nose: float = 1.0
    lambda_mouth: float = 1.0
    patch_eyes: float = 0.25  # local patch side, fraction of the image side
    patch_nose: float = 0.25
    patch_mouth: float = 0.25
    stage1_iters: int = 100_000  # stage I: no local discriminators (Sec. 3.3.1: 100K iterations)
    stage2_iters: int = 50_000  # stage II: local discriminators on
    stage2_decay_from: float | None = 0.5  # fraction of stage II after which lr decays linearly; None: constant
    regressor_a: str | None = None  # a landmark-regressor run or checkpoint for domain A; None: trained here
    regressor_b: str | None = None  # the same for domain B
    regressor_width: float = 1.0  # regressors trained here: width (times --width)
    regressor_depth: int = 4  # their U-Net levels
    regressor_iters: int = 4000  # their phase's length
    regressor_batch: int = 16  # images per iteration in that phase (landmark-regressor's batch)
    regressor_check: bool = True  # stop after that phase when a regressor is no better than the mean face
    lr_regressor: float = 1e-3
    regressor_w_heatmap: float = 100.0  # heatmap MSE weight (landmark-regressor's; readable logs)
    regressor_aug_rotate: float = 0.0  # random rotation of their batches (degrees)
    regressor_aug_scale: float = 0.0  # random zoom (fraction)
    regressor_aug_shift: float = 0.0  # random shift (fraction of the side)


@METHODS.register("landmark-cyclegan")
class LandmarkCycleGAN(CycleGAN):
    cpu_bf16 = True  # curves within the drift reordering alone causes (<= 1.5x its worst term), 1.7x (docs/train.md)
    name = "landmark-cyclegan"
    needs_landmarks = True
    hparams = LandmarkCycleGANHparams
    hp: LandmarkCycleGANHparams

    # --- networks ------------------------------------------------------------------------
    def patch_side(self, part: str) -> int:
        """Side in pixels of ``part``'s local patches at the training size (recipe: fraction of the side)."""
        return max(8, round(getattr(self.hp, f"patch_{part}") * self.size))

    def _named_regressor(self, domain: str) -> str | None:
        return getattr(self.hp, f"regressor_{domain}") or None

    def build_networks(self) -> dict[str, nn.Module]:
        k = len(NAMES)
        ngf = max(1, round(self.hp.ngf * self.width))
        ndf = max(1, round(self.hp.ndf * self.width))
        blocks, pool = self.hp.n_blocks, self.hp.pool_size
        nets: dict[str, nn.Module] = {g: ConditionalGenerator(k, ngf, blocks) for g in ("G_A", "G_B")}
        for d in ("D_A", "D_B"):
            nets[d] = NLayerDiscriminator(ndf=ndf)
            nets[f"{d}_gc"] = ConditionalDiscriminator(k, ndf)
            nets.update({f"{d}_{p}": local_discriminator(self.patch_side(p), ndf) for p in PARTS})
        nets = {n: init_weights(m, self.hp.init_gain) for n, m in nets.items()}
        self.provenance.update(
            {"ngf": ngf, "ndf": ndf, "n_blocks": blocks, "pool_size": pool, "landmarks": list(NAMES)}
        )
        self.provenance["patches_px"] = {p: self.patch_side(p) for p in PARTS}
        for dom in ("a", "b"):
            named = self._named_regressor(dom)
            if named:
                nets[f"R_{dom.upper()}"] = reg = load_regressor(named, "cpu")
                if reg.size != self.size:  # its heatmaps (the landmark loss) are only meaningful at its own size
                    raise InputError(f"regressor_{dom} {named} is for {reg.size} px images, this run {self.size} px")
                self.provenance[f"regressor_{dom}"] = str(named)
            else:
                width = self.hp.regressor_width * self.width
                nets[f"R_{dom.upper()}"] = LandmarkRegressor(width, self.hp.regressor_depth, self.size)
                self.provenance[f"regressor_{dom}"] = "trained in the run's regressor phase"
        # fake histories hold (image, heatmaps) pairs: the unconditional D reads the image channels
        shape = (3 + k, self.size, self.size)
        return {**nets, "pool_D_A": ImagePool(pool, shape), "pool_D_B": ImagePool(pool, shape)}

    def _discriminators(self) -> tuple[str, ...]:
        return tuple(f"{d}{s}" for d in ("D_A", "D_B") for s in ("", "_gc", *(f"_{p}" for p in PARTS)))

    def _trained_regressors(self) -> tuple[str, ...]:
        return tuple(f"R_{d.upper()}" for d in ("a", "b") if not self._named_regressor(d))

    def build_optimizers(self) -> dict[str, OptimSpec]:
        lr, betas = self.hp.lr, (self.hp.beta1, self.hp.beta2)
        specs = {"g": OptimSpec(("G_A", "G_B"), lr, betas), "d": OptimSpec(self._discriminators(), lr, betas)}
        if self._trained_regressors():
            specs["r"] = OptimSpec(self._trained_regressors(), self.hp.lr_regressor)
        return specs

    def phases(self) -> list[Phase]:
        """Lengths in iterations, as the paper counts stage I (Sec. 3.3.1: 100K iterations)."""
        hp, phases = self.hp, []
        if self._trained_regressors():
            phases.append(Phase("regressor", 0, ("r",), iters=hp.regressor_iters, batch=hp.regressor_batch))
        phases.append(Phase("stage1", 0, ("g", "d"), iters=hp.stage1_iters))
        phases.append(Phase("stage2", 0, ("g", "d"), hp.stage2_decay_from, iters=hp.stage2_iters))
        return phases

    def check_landmarks(self, labelled: dict[str, int]) -> None:
        """A regressor trained here needs its domain's landmark labels: refuse a domain without any."""
        for r in self._trained_regressors():
            d = r[-1].lower()
            if not labelled.get(d):
                raise InputError(
                    f"landmark-cyclegan: --data-{d} has no landmark labels to train {r} on: prepare it with them "
                    f"(`cfkit prepare folder --src DIR --profile cartoon` for cartoons) or train a regressor with "
                    f"`cfkit train landmark-regressor --data DIR` and name its run: --set method.regressor_{d}=RUN"
                )

    def end_phase(self, phase: str, batch: Batch) -> None:
        """After the regressor phase: each trained regressor must beat the mean face before the GAN phases."""
        if phase != "regressor":
            return
        for r in self._trained_regressors():
            check_in_run_regressor(
                self.net(r), batch, r[-1].lower(), f"landmark-cyclegan: {r}", self.hp.regressor_check
            )

    # --- landmarks -----------------------------------------------------------------------
    def predicted_points(self, x: torch.Tensor, regressor: str) -> torch.Tensor:
        """N x 5 x 2 landmarks (in [0, 1]) the frozen regressor of x's domain finds on ``x``."""
        with torch.no_grad():
            return self.net(regressor).points(x).float()

    def render(self, points: torch.Tensor) -> torch.Tensor:
        """Heatmaps of ``points`` at the training size, drawn as the trainer draws the batches'."""
        return heatmaps(points, self.size, sigma_px(self.size))

    def landmarks(self, batch: Batch, dom: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(points, heatmaps) of domain ``dom``'s images: their own where they have landmarks, else the
        regressor's prediction."""
        pts, heat, ok = batch[f"{dom}_lm"], batch[f"{dom}_heat"], batch[f"{dom}_lm_ok"]
        if bool((ok > 0).all()):
            return pts, heat
        pred = self.predicted_points(batch[dom], f"R_{dom.upper()}")
        has = (ok > 0).view(-1, 1, 1)
        pts = torch.where(has, pts, pred)
        return pts, torch.where(has[..., None], heat, self.render(pred).to(heat.dtype))

    # --- losses --------------------------------------------------------------------------
    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        for r in ("R_A", "R_B"):  # frozen (eval mode) outside their phase
            self.nets[r].train(phase == "regressor")
        if phase == "regressor":
            return {f"heat_{r[-1].lower()}": self._regressor_loss(r, batch) for r in self._trained_regressors()}
        local = phase == "stage2"
        return self._g_losses(batch, local) if opt == "g" else self._d_losses(batch, local)

    def _regressor_loss(self, regressor: str, batch: Batch) -> torch.Tensor:
        """The ``landmark-regressor`` objective on one domain: weighted heatmap MSE on a randomly rotated,
        scaled and shifted copy of the batch (so aligned faces do not just teach the mean face)."""
        dom = regressor[-1].lower()
        aug = [self.hp.regressor_aug_rotate, self.hp.regressor_aug_scale, self.hp.regressor_aug_shift]
        x, pts, ok, w = batch[dom], batch[f"{dom}_lm"], batch[f"{dom}_lm_ok"], self.hp.regressor_w_heatmap
        return regressor_objective(self.nets[regressor], x, pts, ok, self.size, aug, w)

    def _local_weight(self, part: str) -> float:
        return getattr(self.hp, f"lambda_{part}")

    def _g_losses(self, batch: Batch, local: bool = False) -> dict[str, torch.Tensor]:
        lam_cyc = {"a": self.hp.lambda_a, "b": self.hp.lambda_b}
        lam_idt, lam_lm = self.hp.lambda_identity, self.hp.lambda_landmark
        lms = {d: self.landmarks(batch, d) for d in ("a", "b")}
        fakes = {src: self.nets[g](batch[src], lms[src][1]) for g, _, src, _, _ in DIRECTIONS}
        out: dict[str, torch.Tensor] = {}
        saved: dict[str, torch.Tensor] = {}
        for g, d, src, dst, reg in DIRECTIONS:
            x, fake, heat = batch[src], fakes[src], lms[src][1]
            other = "G_B" if g == "G_A" else "G_A"
            rec = self.nets[other](fake, heat)
            pred = self.nets[reg](fake)
            out[f"gan_{src}"] = lsgan(self.nets[d](fake), True)
            out[f"gan_gc_{src}"] = lsgan(self.nets[f"{d}_gc"](fake, heat), True)
            out[f"cycle_{src}"] = lam_cyc[src] * (rec - x).abs().mean()
            out[f"landmark_{src}"] = lam_lm * landmark_consistency(pred, heat)
            if lam_idt > 0:  # G_A(y, l_y) should leave a real B image unchanged (official identity term)
                y, heat_y = batch[dst], lms[dst][1]
                out[f"idt_{src}"] = lam_cyc[dst] * lam_idt * (self.nets[g](y, heat_y) - y).abs().mean()
            saved[d] = torch.cat([fake, heat.to(fake.dtype)], 1).detach()
            if local:  # stage II: patches where R finds the parts on this fake
                pts = soft_argmax(pred.float()).detach()
                for p in PARTS:
                    patch = part_patches(fake, pts, p, self.patch_side(p))
                    out[f"{p}_{src}"] = self._local_weight(p) * lsgan(self.nets[f"{d}_{p}"](patch), True)
                    saved[f"{d}_{p}"] = patch.detach()
        self._fakes.append(saved)
        return out

    def _d_losses(self, batch: Batch, local: bool = False) -> dict[str, torch.Tensor]:
        fakes = self._fakes.popleft() if self._fakes else self._fresh_fakes(batch, local)
        out = {}
        for _, d, _, dst, _ in DIRECTIONS:
            real, (pts, heat) = batch[dst], self.landmarks(batch, dst)
            pair = self.net(f"pool_{d}").query(fakes[d])
            fake, fake_heat = pair[:, :3], pair[:, 3:]
            key = d[-1].lower()
            pr, pf = self.nets[d](torch.cat([real, fake])).split([len(real), len(fake)])
            out[key] = 0.5 * (lsgan(pr, True) + lsgan(pf, False))
            pr, pf = self.nets[f"{d}_gc"](torch.cat([real, fake]), torch.cat([heat, fake_heat])).split(
                [len(real), len(fake)]
            )
            out[f"{key}_gc"] = 0.5 * (lsgan(pr, True) + lsgan(pf, False))
            if local:
                for p in PARTS:
                    real_p, fake_p = part_patches(real, pts, p, self.patch_side(p)), fakes[f"{d}_{p}"]
                    pr, pf = self.nets[f"{d}_{p}"](torch.cat([real_p, fake_p])).split([len(real_p), len(fake_p)])
                    out[f"{key}_{p}"] = self._local_weight(p) * 0.5 * (lsgan(pr, True) + lsgan(pf, False))
        return out

    def _fresh_fakes(self, batch: Batch, local: bool) -> dict[str, torch.Tensor]:
        """Fakes for a D step not preceded by a G step (no G gradients)."""
        saved = {}
        with torch.no_grad():
            for g, d, src, _, reg in DIRECTIONS:
                heat = self.landmarks(batch, src)[1]
                fake = self.net(g)(batch[src], heat)
                saved[d] = torch.cat([fake, heat.to(fake.dtype)], 1)
                if local:
                    pts = self.net(reg).points(fake).float()
                    saved.update({f"{d}_{p}": part_patches(fake, pts, p, self.patch_side(p)) for p in PARTS})
        return saved

    # --- inference -----------------------------------------------------------------------
    def translate_with(self, x: torch.Tensor, direction: str = "a") -> torch.Tensor:
        """Translate images of domain ``direction`` with the landmarks its regressor finds on them."""
        g, reg = ("G_A", "R_A") if direction == "a" else ("G_B", "R_B")
        heat = self.render(self.predicted_points(x, reg)).to(x.dtype)
        return self.net(g)(x, heat)

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.translate_with(x, "a")

    def translate_reverse(self, x: torch.Tensor) -> torch.Tensor:
        return self.translate_with(x, "b")

    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            (_, heat_a), (_, heat_b) = self.landmarks(batch, "a"), self.landmarks(batch, "b")
            fake_b, fake_a = self.net("G_A")(batch["a"], heat_a), self.net("G_B")(batch["b"], heat_b)
            return {
                "a": batch["a"],
                "heat_a": heat_a.amax(1, keepdim=True) * 2 - 1,
                "fake_b": fake_b,
                "rec_a": self.net("G_B")(fake_b, heat_a),
                "b": batch["b"],
                "heat_b": heat_b.amax(1, keepdim=True) * 2 - 1,
                "fake_a": fake_a,
                "rec_b": self.net("G_A")(fake_a, heat_b),
            }
