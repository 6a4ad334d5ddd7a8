"""The Method contract: one module declares a translation method; the trainer runs it.

A method is a subclass of :class:`Method` registered by name in :data:`METHODS`::

    @METHODS.register("mymethod")
    class MyMethod(Method):
        ...

in a module of ``cfkit/methods/`` (every module there is imported on the first registry lookup).
``cfkit/methods/template.py`` is a complete, commented example.

What a method declares (the trainer owns everything else: loop, devices, AMP, channels_last,
gradient accumulation, seeding, EMA, DDP, checkpoints, logging):

``build_networks()``
    ``{name: nn.Module}`` of *trainable* networks (checkpointed, DDP-wrapped, moved to device).
    Frozen helpers (a VGG loss network) are plain attributes created in ``__init__`` or here;
    they are neither checkpointed nor wrapped. Extra training *state* that must survive
    ``--resume`` (CycleGAN's image pools) is a parameter-free module in this dict: checkpointed
    through its state dict, never optimised nor DDP-wrapped (process 0's copy is saved).
``build_optimizers(nets)``
    ``{name: OptimSpec}``: which networks each optimizer updates, with its hyper-parameters.
``phases()``
    the schedule: a list of :class:`Phase` (name, length in epochs of domain A, the optimizer
    names stepped each iteration, in order, and an optional linear lr decay).
``losses(phase, opt, batch)``
    the *weighted* loss terms for one optimizer step (``opt``: the phase's step name, an optimizer name
    or ``"name:stage"``): ``{term: scalar tensor}``. The trainer sums
    them, back-propagates into the networks of ``opt``, logs every term (``loss/<opt>_<term>``).
``visuals(batch)``
    ``{name: images in [-1, 1]}`` for TensorBoard and ``samples/`` grids.
``translate(x)``
    inference: A images in [-1, 1] -> B images in [-1, 1] (uses ``self.nets``; eval mode).
``translate_reverse(x)`` (optional)
    B images -> A images, for a method that also trains the way back (CycleGAN's ``G_B``); it sets
    ``reversible = True`` and ``cfkit translate --reverse`` calls it.
``mask_probs(x)`` (optional)
    a method with a mask model returns ``N x 1 x H x W`` face probabilities of domain A images;
    ``translate --mask-composite`` then uses it (> 0.5) instead of the input dataset's ``masks/``.
``require_assets()``, ``check_landmarks(labelled)``, ``end_phase(phase, batch)`` (optional)
    training-only hooks: build the frozen pretrained networks before any work (a paper network that is
    not installed stops the run; a stand-in is only used when ``options.substitute`` asks for it,
    :mod:`cfkit.nets.standins`), refuse unusable landmark data, check what a phase trained.

Rules the trainer relies on:

* ``self.nets[name]`` is the live network (``self.net(name)`` unwraps it): DDP-wrapped in
  distributed runs while ``opt`` updates it; the others are plain and frozen (no weight gradients;
  gradients still flow through them to their inputs, e.g. D inside G's loss). Inside ``losses``
  call each trainable network at most as often as needed and *detach* or use ``torch.no_grad()``
  where no gradient must flow through a network (G's fakes in the D step): it saves the backward.
* All randomness goes through torch's global RNG (seeded and checkpointed by the trainer),
  so ``--resume`` continues bit-for-bit.
* Batches are dicts of float tensors on the device: ``a``/``b`` images ``N x 3 x H x W`` in
  [-1, 1], ``a_mask``/``b_mask`` ``N x 1 x H x W`` in [0, 1] when the dataset has ``masks/``,
  ``b_smooth`` when the method sets ``needs_edge_smoothed_b = True``, landmarks (``a_lm``,
  ``a_lm_ok``, ``a_heat`` and the same for ``b``) when it sets ``needs_landmarks = True``.
* A method declares its hyper-parameters as a dataclass, ``hparams = MyHparams``: one typed field
  per key of its recipe's ``method:`` section, defaults as in the code. ``self.hp`` is that dataclass
  built by :func:`cfkit.options.build` from the recipe's section merged with ``--set method.KEY=...``
  (``TrainOptions.method``): values are type-checked and a key it does not declare is a one-line
  error, so a misspelt ``--set method.lambda_cycel=3`` stops the run instead of training with the
  default. Its recipe ``pipelines/train/<name>.yaml`` gives the cited values, which override the
  field defaults. A method also reads ``self.size``, ``self.width`` and ``self.device``;
  ``self.options`` (:class:`cfkit.train.config.TrainOptions`) is the trainer's.

``TrainOptions.method`` stays the raw mapping given (recipe + ``--set``): it is what ``config.yaml`` and
checkpoints record and what ``--resume`` compares, so a run's record does not change when a later
version adds a field with a default. A saved run's section is read leniently: keys this version does not
declare (removed since, or misspelt before they were refused) are ignored, as :meth:`TrainOptions.from_saved`
ignores unknown top-level keys.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cfkit.errors import CfkitError
from cfkit.options import build
from cfkit.registry import Registry

if TYPE_CHECKING:
    from cfkit.train.config import TrainOptions


@dataclass(frozen=True)
class OptimSpec:
    """One optimizer: the networks it updates and its hyper-parameters (Adam by default)."""

    nets: tuple[str, ...]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    kind: str = "adam"  # "adam" | "adamw" | "sgd"

    def build(self, params) -> torch.optim.Optimizer:
        params = list(params)
        # torch's fused Adam kernel: 3.2x faster steps than its CPU default (the for-loop) on CycleGAN's
        # 28 M parameters, weights within 1.5e-8 of it (benchmarks/bench_optimizer.py); CPU and CUDA only
        fused = {"fused": True} if params and all(p.device.type in ("cpu", "cuda") for p in params) else {}
        if self.kind == "adam":
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay, **fused)
        if self.kind == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay, **fused)
        if self.kind == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.betas[0], weight_decay=self.weight_decay)
        raise ValueError(f"unknown optimizer kind {self.kind!r}")


@dataclass(frozen=True)
class Phase:
    """A stretch of the schedule.

    ``epochs`` counts epochs (passes over domain A, or what the method's ``epoch_images`` says;
    fractions allowed); ``iters``, when set, gives the length in iterations instead (papers that count
    ``--total_iter``, e.g. White-box cartoonization); ``steps`` names the optimizers stepped each
    iteration, in order (e.g. ``("d", "g")``; ``"g:local"`` steps optimizer ``g`` on the terms
    ``losses(phase, "g:local", batch)`` returns, logged as ``g_local_<term>``); ``decay_from`` in [0, 1)
    starts a linear lr decay to zero at that fraction of the phase, ``None`` keeps lr constant.
    ``decay_per_epoch``: the lr changes once per epoch as in the official CycleGAN code: epoch ``e``
    (1-based) of a phase whose decay starts after ``n`` of its ``E`` epochs runs at
    ``1 - max(0, e - n) / (E - n + 1)`` of the base lr.
    """

    name: str
    epochs: float
    steps: tuple[str, ...]
    decay_from: float | None = None
    iters: int | None = None
    decay_per_epoch: bool = False
    round_up: bool = False  # whole batches: a fraction of an iteration counts as one (a pass leaves no image out)
    batch: int | None = None
    """Images per iteration in this phase when not the run's ``batch`` (a landmark regressor trained
    inside a batch-1 method learns at the batch its own recipe uses)."""
    drops: tuple[float, ...] = ()
    """Step decay (torch's ``MultiStepLR``, gamma 0.1): the lr is multiplied by 0.1 from each of these
    fractions of the phase on (the CartoonGAN reproduction: ``(0.5, 0.75)``)."""

    def lr_factor(self, progress: float) -> float:
        """The lr multiplier at ``progress`` in [0, 1) through the phase."""
        step = 0.1 ** sum(progress >= d for d in self.drops)
        return step * self._decay(progress)

    def _decay(self, progress: float) -> float:
        if self.decay_from is None or progress < self.decay_from:
            return 1.0
        if self.decay_per_epoch:
            n = self.decay_from * self.epochs
            e = math.floor(progress * self.epochs) + 1
            return max(0.0, 1.0 - max(0.0, e - n) / (self.epochs - n + 1))
        return max(0.0, 1.0 - (progress - self.decay_from) / (1.0 - self.decay_from))


@dataclass(frozen=True)
class NoHparams:
    """The hyper-parameters of a method that has none: its ``method:`` section must be empty."""


@dataclass
class Batch:
    """What ``losses`` receives: a dict of tensors plus the ids of its images."""

    tensors: dict[str, torch.Tensor]
    ids: dict[str, list[str]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def get(self, key: str, default=None):
        return self.tensors.get(key, default)


class Method:
    """Base class of every translation method (see the module docstring for the contract)."""

    name: str = ""
    #: what ``translate`` does, domain A -> domain B (recorded in ``translate.json``)
    direction: str = "photo -> cartoon"
    #: ``translate_reverse`` translates domain B -> A (``cfkit translate --reverse``)
    reversible: bool = False
    #: the trainer also supplies ``b_smooth`` (CartoonGAN's edge-smoothed cartoons)
    needs_edge_smoothed_b: bool = False
    #: the trainer also supplies landmarks: ``a_lm``/``b_lm`` (N x 5 x 2, relative (x, y) after resize,
    #: crop and flip), ``a_lm_ok``/``b_lm_ok`` (N, 1 where the image has landmarks) and ``a_heat``/``b_heat``
    #: (N x 5 x H x W Gaussians of peak 1, zero without landmarks); see :mod:`cfkit.geometry.scheme`.
    #: An instance may set it in ``__init__`` from its recipe (cpgan: ``local: landmarks``)
    needs_landmarks: bool = False
    #: trained on one domain (``--data``): batches carry ``a`` (and its extras) only
    one_domain: bool = False
    #: networks whose exponential moving average the trainer keeps when the recipe sets ``ema``
    ema_nets: tuple[str, ...] = ()
    #: logged term (``<opt>_<term>``) whose running mean picks ``best.pt`` (lower is better)
    monitor: str | None = None
    #: images per epoch: ``"a"`` (|A|), ``"b"`` (|B|) or ``"max"`` (max(|A|, |B|), the official CycleGAN loader)
    epoch_images: str = "a"
    #: bf16 autocast is its CPU default (``amp: auto``) on CPUs with native bf16: set
    #: where ``benchmarks/bench_precision.py`` showed its loss curves stay as close to fp32's as rounding allows
    cpu_bf16: bool = False
    #: the dataclass of its recipe's ``method:`` section; ``self.hp`` is an instance of it
    hparams: type = NoHparams

    def __init__(self, options: TrainOptions | dict[str, Any], device: torch.device | str):
        from cfkit.train.config import TrainOptions

        saved = not isinstance(options, TrainOptions)
        if saved:  # a saved run's config (checkpoint, config.yaml)
            options = TrainOptions.from_saved(options)
        self.options = options
        self.hp = self.hyper_parameters(options.method, saved)
        self.device = torch.device(device)
        if options.size == "auto":
            raise CfkitError("size 'auto' is resolved from the data by the trainer; give a method a size in px")
        self.size: int = options.size
        self.width: float = options.width
        self.nets: dict[str, nn.Module] = {}
        #: facts worth saving in run.json (e.g. which VGG layer the content loss used)
        self.provenance: dict[str, Any] = {}

    # --- declared by subclasses -------------------------------------------------------------
    def build_networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def build_optimizers(self) -> dict[str, OptimSpec]:
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def losses(self, phase: str, opt: str, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def visuals(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"a": batch["a"], "fake_b": self.translate(batch["a"])}

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def translate_reverse(self, x: torch.Tensor) -> torch.Tensor:
        """B images -> A images; only methods that set ``reversible`` implement it."""
        raise NotImplementedError

    @classmethod
    def reverse_direction(cls) -> str:
        """What ``translate_reverse`` does: ``direction`` read backwards (``"cartoon -> photo"``)."""
        return " -> ".join(reversed(cls.direction.split(" -> ")))

    def load_size(self) -> int:
        """Side at which training images are held; above ``self.size`` the trainer takes random
        ``size`` crops of them (centre crops for sample grids)."""
        return self.size

    # --- helpers ------------------------------------------------------------------------------
    @classmethod
    def hyper_parameters(cls, section: dict[str, Any], saved: bool = False) -> Any:
        """``section`` (a ``method:`` mapping) as ``hparams``: types checked, unknown keys refused,
        or ignored when ``saved`` (a saved run's config, maybe of another cfkit version)."""
        if saved:
            known = {f.name for f in dataclasses.fields(cls.hparams)}
            section = {k: v for k, v in section.items() if k in known}
        return build(cls.hparams, dict(section), where=f"{cls.name} options.method")

    def net(self, name: str) -> nn.Module:
        """The network ``name`` without its DDP or ``torch.compile`` wrapper (for state dicts and inference)."""
        m = self.nets[name]
        m = m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m
        return getattr(m, "_orig_mod", m)  # a torch.compile OptimizedModule's network

    def require_assets(self) -> None:
        """Build the frozen pretrained networks training needs (the trainer calls it first; inference never
        does): a paper network that is not installed stops the run before any work with
        :class:`~cfkit.errors.AssetMissingError`, and a stand-in the options ask for (``substitute``) is
        announced and in :attr:`provenance` from ``run.json``'s first write. Nothing by default."""

    def check_landmarks(self, labelled: dict[str, int]) -> None:
        """Refuse data the method cannot use: ``labelled`` counts the images with landmarks per domain key
        (``"a"``, ``"b"``); called once the data is loaded, for methods that set ``needs_landmarks``."""

    def end_phase(self, phase: str, batch: Batch) -> None:
        """Called when training leaves ``phase`` (not after the last one); ``batch``: up to 64 unaugmented
        training images of each domain, e.g. to check a regressor trained in that phase."""

    def setup(self) -> None:
        """Build the networks (called once by the trainer before moving them to the device)."""
        self.nets = dict(self.build_networks())


METHODS: Registry[type[Method]] = Registry("method", modules=("cfkit.methods",))
"""Method classes by name: ``METHODS.get("cartoongan")``."""
