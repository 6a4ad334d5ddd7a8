"""``landmark-regressor``: a U-Net heatmap regressor of the 5-point scheme, trained on one domain.

Seed 002 (Landmark-Assisted CycleGAN) pre-trains such a regressor per domain and freezes it for
its landmark-consistency loss. Trained on the manifest's landmarks (``lm5``: dlib on photos,
animeface on cartoons) with an MSE loss to Gaussian heatmaps; images without landmarks are
skipped by the loss. Aligned faces put every landmark near the same place, so each batch is
randomly rotated, scaled and shifted (images and points together): the network must find the
features, not remember the mean face.

``cfkit train landmark-regressor --data DIR``; load the result with
:func:`cfkit.nets.landmarks.load_regressor`. ``translate`` draws the predicted heatmaps on the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cfkit.nets.landmarks import LandmarkRegressor, heatmap_loss, heatmaps, sigma_px
from cfkit.train.method import METHODS, Batch, Method, OptimSpec, Phase


def random_affine(x: torch.Tensor, pts: torch.Tensor, rot_deg: float, scale: float, shift: float):
    """Rotate/scale/shift images (zeros outside) and their relative points by one random similarity each."""
    n = len(x)
    ang = (torch.rand(n) * 2 - 1) * math.radians(rot_deg)
    s = 1.0 + (torch.rand(n) * 2 - 1) * scale
    t = (torch.rand(n, 2) * 2 - 1) * shift * 2  # in [-1, 1] grid units: shift is a fraction of the side
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    # output grid coords u -> input coords A u + b (A = R(-ang) / s), i.e. content rotated by ang, scaled by s
    theta = torch.stack(
        [
            torch.stack([cos, sin, -(cos * t[:, 0] + sin * t[:, 1])], 1),
            torch.stack([-sin, cos, -(-sin * t[:, 0] + cos * t[:, 1])], 1),
        ],
        1,
    ).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # forward map of points: u = A^-1 (p - b), with A^-1 = s R(ang)
    p = pts * 2 - 1 - theta[:, None, :, 2]
    a_inv = torch.linalg.inv(theta[:, :, :2])
    q = torch.einsum("nij,nkj->nki", a_inv, p)
    return out, (q + 1) / 2


def regressor_objective(
    net: nn.Module,
    x: torch.Tensor,
    pts: torch.Tensor,
    ok: torch.Tensor,
    size: int,
    aug: tuple[float, float, float] | list[float] = (0.0, 0.0, 0.0),
    weight: float = 1.0,
) -> torch.Tensor:
    """The regressor's training objective: ``weight`` x heatmap MSE of ``net`` over the images with
    landmarks (``ok``), on a copy of ``x`` and ``pts`` under one random similarity each (``aug`` =
    rotation degrees, zoom and shift fractions; all zero: none). Methods that train their own
    regressor in a first phase use it too."""
    if any(aug):
        x, pts = random_affine(x, pts, *aug)
    heat = heatmaps(pts, size, sigma_px(size)) * ok.view(-1, 1, 1, 1)
    return weight * heatmap_loss(net(x), heat, ok)


def nme_against_mean_face(
    net: nn.Module, x: torch.Tensor, pts: torch.Tensor, ok: torch.Tensor
) -> tuple[float, float, int]:
    """(NME of ``net``'s points, NME of the mean face, images) over the images of ``x`` with landmarks.

    NME: mean point distance / the distance of the eye centres (points 0 and 1), as
    :func:`cfkit.metrics.landmark_nme.nme`; the mean face predicts the mean of those images' own points.
    """
    has = ok.view(-1) > 0
    n = int(has.sum())
    if n == 0:
        return math.nan, math.nan, 0
    with torch.no_grad():
        pred = net.points(x[has]).float()
    pts = pts[has].float()
    eyes = (pts[:, 0] - pts[:, 1]).norm(dim=-1)

    def nme(p: torch.Tensor) -> float:
        return float(((p - pts).norm(dim=-1).mean(1) / eyes).mean())

    return nme(pred), nme(pts.mean(0, keepdim=True).expand_as(pts)), n


def check_in_run_regressor(net: nn.Module, batch: Batch, domains: str, who: str, enforce: bool = True) -> None:
    """Print the NME of a regressor trained inside a method (on the unaugmented labelled images of ``batch``
    of ``domains``, e.g. ``"ab"``) beside the mean face's; refuse to go on when it is not better."""
    from cfkit.console import info
    from cfkit.errors import CfkitError

    x, pts, ok = (torch.cat([batch[f"{d}{k}"] for d in domains]) for k in ("", "_lm", "_lm_ok"))
    mode = net.training
    net.eval()
    got, mean_face, n = nme_against_mean_face(net, x, pts, ok)
    net.train(mode)
    info(f"{who}: NME {got:.3f} on {n} labelled training images (predicting the mean face: {mean_face:.3f})")
    if not got < mean_face:
        if enforce:
            raise CfkitError(
                f"{who} is no better than the mean face (NME {got:.3f} against {mean_face:.3f}): train it longer "
                "or on more labelled faces, or train one with `cfkit train landmark-regressor` and name its run"
            )
        info(f"{who}: continuing anyway (method.regressor_check is false)")


@dataclass(frozen=True)
class LandmarkRegressorHparams:
    """``method:`` of ``pipelines/train/landmark-regressor.yaml``."""

    depth: int = 4  # U-Net levels: sizes must be multiples of 2**depth
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    epochs: float = 30.0
    decay_from: float | None = None  # fraction of the run after which lr decays linearly to 0; None: constant
    w_heatmap: float = 1.0  # heatmap MSE weight (readable logs; Adam is scale-free)
    aug_rotate: float = 0.0  # random rotation per image (degrees)
    aug_scale: float = 0.0  # random zoom (fraction)
    aug_shift: float = 0.0  # random shift (fraction of the side)


@METHODS.register("landmark-regressor")
class LandmarkRegressorMethod(Method):
    """One network, ``regressor``; batches carry ``a``, ``a_lm``, ``a_lm_ok``, ``a_heat``."""

    name = "landmark-regressor"
    needs_landmarks = True
    one_domain = True
    ema_nets = ("regressor",)
    monitor = "reg_heatmap"
    hparams = LandmarkRegressorHparams
    hp: LandmarkRegressorHparams

    def build_networks(self) -> dict[str, nn.Module]:
        return {"regressor": LandmarkRegressor(width=self.width, depth=self.hp.depth, size=self.size)}

    def build_optimizers(self) -> dict[str, OptimSpec]:
        return {"reg": OptimSpec(("regressor",), self.hp.lr, self.hp.betas)}

    def phases(self) -> list[Phase]:
        return [Phase("regress", self.hp.epochs, ("reg",), decay_from=self.hp.decay_from)]

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        aug = [self.hp.aug_rotate, self.hp.aug_scale, self.hp.aug_shift]
        w = self.hp.w_heatmap
        net = self.nets["regressor"]
        return {"heatmap": regressor_objective(net, batch["a"], batch["a_lm"], batch["a_lm_ok"], self.size, aug, w)}

    @staticmethod
    def overlay(x: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] with the heatmaps' maximum painted in red."""
        m = heat.amax(1, keepdim=True).clamp(0, 1)
        red = torch.tensor([1.0, -1.0, -1.0], device=x.device).view(1, 3, 1, 1)
        return x * (1 - m) + red * m

    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = batch["a"]
        with torch.no_grad():
            pred = self.net("regressor")(x)
        return {"a": x, "target": self.overlay(x, batch["a_heat"]), "predicted": self.overlay(x, pred)}

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.overlay(x, self.net("regressor")(x))
