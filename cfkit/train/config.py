"""Training options: one typed dataclass, the one source of defaults, loaded by :mod:`cfkit.options`.

Precedence (later wins): :class:`TrainOptions` defaults < recipe YAML (``pipelines/train/<method>.yaml``
unless another is given) < explicit CLI flags / Python keyword arguments < ``--set key=value`` items.
The trainer reads the typed fields; the method builds its typed ``self.hp`` (its ``hparams`` dataclass)
from the ``method:`` section, which stays the raw mapping given (see :mod:`cfkit.train.method`);
``RUN/config.yaml`` and every checkpoint keep :meth:`TrainOptions.to_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cfkit.errors import InputError
from cfkit.options import command_options, load_options, read_mapping

RECIPE_NOTES = ("cite",)
"""Recipe keys that document the recipe (sources of its numbers) and are not options."""


@dataclass
class TrainOptions:
    """Everything a training run depends on; saved as ``RUN/config.yaml`` and in every checkpoint."""

    name: str = ""
    """Method name (registry key)."""
    data_a: str | None = None
    """Domain A, the input (photos; cartoons for cpgan): prepared dataset or image folder."""
    data_b: str | None = None
    """Domain B, the target (cartoons; photos for cpgan)."""
    split: str = "train"
    """Manifest split used for training ("all": every row)."""
    out: str | None = None
    """Run folder; default runs/<name>."""
    size: int | Literal["auto"] = 128
    """px; "auto": the data's own size (its shortest image side, rounded down to 16)."""
    batch: int = 8
    iters: int | None = None
    """Total iterations: scales the recipe's phase lengths to this sum."""
    epochs: float | None = None
    """Total epochs of domain A: scales the recipe's phase lengths to this sum."""
    width: float = 1.0
    """Channel multiplier of the method's networks (tests use 0.25)."""
    seed: int = 0
    device: str = "auto"
    """auto | cpu | cuda | cuda:N | mps."""
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    """auto (bf16, else fp16, on CUDA; on CPU bf16 for methods shown to train the same in it,
    ``Method.cpu_bf16``, where the CPU has native bf16; off elsewhere) | off | bf16 (also CPU) | fp16."""
    channels_last: bool | Literal["auto"] = "auto"
    """auto: on CUDA."""
    compile: bool = False
    """torch.compile (inductor) the trained networks; pays off only where measured so (docs/train.md, Speed)."""
    accum: int = 1
    """Gradient accumulation: micro-batches per optimizer step."""
    ema: float | None = None
    """EMA decay for the method's ema_nets (e.g. 0.999); None: off."""
    flip: bool = True
    """Random horizontal flips of both domains."""
    log_every: int = 10
    sample_every: int = 200
    ckpt_every: int = 500
    keep: int = 3
    """Step checkpoints kept besides best.pt."""
    resume: bool = False
    override: bool = False
    """--resume with changed data_a/data_b/iters/epochs/split re-plans instead of refusing."""
    stop_at: int | None = None
    """End this invocation at this iteration (checkpointed; continue with resume)."""
    substitute: dict[str, str] = field(default_factory=dict)
    """Stand-ins for paper networks, asked for explicitly: ``{vgg19: vgg16}`` (``--substitute vgg19=vgg16``;
    known pairs: :data:`cfkit.nets.standins.STANDINS`). Without one a paper network must be installed."""
    method: dict[str, Any] = field(default_factory=dict)
    """The method's hyper-parameters as given (recipe ``method:`` + ``--set method.KEY``); ``Method.hp`` types them."""
    recipe: str | None = None
    """The recipe file read (recorded)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> TrainOptions:
        """The options of a saved run (``config.yaml``/checkpoint); keys of other cfkit versions are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return load_options(cls, {k: v for k, v in saved.items() if k in known}, where="saved run config")


def recipe_path(name: str) -> Path:
    from cfkit.resources import resource_dir

    return resource_dir("pipelines") / "train" / f"{name}.yaml"


def load_train_recipe(path: str | Path) -> dict[str, Any]:
    """A training recipe's options (its documentation keys dropped)."""
    data = read_mapping(path, "recipe")
    return {k: v for k, v in data.items() if k not in RECIPE_NOTES}


def resolve(
    name: str,
    recipe: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | dict[str, Any] | None = None,
) -> TrainOptions:
    """Options of a run of method ``name``: defaults < recipe < ``overrides`` (None = unset) < ``sets``.

    ``recipe``: a YAML file, or the name of a bundled recipe (``whitebox-seed003``); default: ``name``'s.
    """
    path = Path(recipe) if recipe else recipe_path(name)
    if recipe and not path.is_file() and path.suffix == "" and recipe_path(str(recipe)).is_file():
        path = recipe_path(str(recipe))
    rec = (str(path), load_train_recipe(path)) if (recipe or path.is_file()) else None
    opts = command_options(TrainOptions, rec, flags=overrides, sets=sets)
    opts.name = name
    opts.recipe = str(path) if path.is_file() else None
    if opts.out is None:
        opts.out = str(Path("runs") / name)
    sizes = ("size",) if opts.size != "auto" else ()
    for key in (*sizes, "batch", "accum", "log_every", "sample_every", "ckpt_every", "keep"):
        if getattr(opts, key) < 1:
            raise InputError(f"{key} must be >= 1 (got {getattr(opts, key)})")
    from cfkit.nets.standins import check_substitutes

    check_substitutes(opts.substitute)
    if sizes and opts.size % 16:
        raise InputError(f"size must be a multiple of 16 (got {opts.size})")
    return opts
