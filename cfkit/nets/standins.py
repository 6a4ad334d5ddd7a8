"""Paper networks and the stand-ins a run may ask for: ``cfkit train ... --substitute PAPER=STANDIN``.

A paper recipe uses the paper's own frozen network (CartoonGAN, CartoonGAN-mask and White-box: VGG19
``conv4_4``; CP-GAN: LightCNN-9; NST: VGG19) and refuses to start when it is not installed, in one line
naming ``cfkit models fetch NAME``. A stand-in is used only when the run's options ask for it
(``TrainOptions.substitute``, e.g. ``{"vgg19": "vgg16"}``); the method then says so on the console,
multiplies the term's weight by the stand-in's ``factor`` and records both in ``run.json`` from its first
write (``assets.<term>.substituted_for``, ``weight_factor``, ``factor_basis``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cfkit.errors import AssetMissingError, InputError


@dataclass(frozen=True)
class StandIn:
    """What replaces a paper network: its layers by the paper layer's name, and the weight factor."""

    arch: str
    layers: Mapping[str, str]
    factor: float
    basis: str

    def layer(self, paper_layer: str) -> str:
        return self.layers.get(paper_layer, paper_layer)


_UNMEASURED = (
    "1.0: the paper network's term cannot be measured without its weights (offline); measure it with "
    "benchmarks/bench_standin.py where both are installed"
)

#: (paper network, stand-in) -> the stand-in; the only substitutions a run may ask for
STANDINS: dict[tuple[str, str], StandIn] = {
    # the last conv of the same block, pre-ReLU, in a network trained by the same torchvision recipe
    ("vgg19", "vgg16"): StandIn("vgg16", {"conv4_4": "conv4_3"}, 1.0, _UNMEASURED),
    # LightCNN-9's 128-channel 1/16 map (use_fc=0) -> VGG16's 512-channel 1/8 map: a face-identity network
    # replaced by an ImageNet texture network; the MSE is a mean, so only the features' scale differs
    ("lightcnn9", "vgg16"): StandIn("vgg16", {"features": "conv4_3"}, 1.0, _UNMEASURED),
}


OFFLINE = {"vgg19": "vgg16", "lightcnn9": "vgg16"}
"""A stand-in for each paper network that cannot be fetched offline: what benchmarks ask for explicitly."""


def check_substitutes(substitute: Mapping[str, str]) -> None:
    """A one-line error for a substitution cfkit does not know."""
    for paper, standin in substitute.items():
        if (paper, standin) not in STANDINS:
            known = ", ".join(f"{p}={s}" for p, s in STANDINS)
            raise InputError(f"--substitute {paper}={standin}: not a known stand-in (known: {known})")


def resolve(paper: str, substitute: Mapping[str, str], purpose: str) -> StandIn | None:
    """The stand-in the run asked for in place of ``paper`` (an asset name), else ``None`` after checking
    that ``paper`` is installed (:class:`AssetMissingError` naming ``cfkit models fetch PAPER`` if not)."""
    from cfkit.assets import is_installed

    check_substitutes(substitute)
    if paper in substitute:
        return STANDINS[paper, substitute[paper]]
    if not is_installed(paper):
        standins = " or ".join(f"--substitute {p}={s}" for p, s in STANDINS if p == paper)
        raise AssetMissingError(paper, f"{purpose}; to train with a stand-in instead, ask for it: {standins}")
    return None


def announce(standin: StandIn, paper: str, used: str, purpose: str) -> dict[str, object]:
    """Say on the console that ``used`` stands in for ``paper``; returns what ``run.json`` keeps of it."""
    from cfkit.console import warn

    warn(
        f"{purpose}: {used} stands in for the paper's {paper} (--substitute {paper.partition('/')[0]}="
        f"{standin.arch}); its weight x{standin.factor:g}"
    )
    return {"substituted_for": paper, "weight_factor": standin.factor, "factor_basis": standin.basis}
