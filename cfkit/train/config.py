"""The one source of training defaults, and how recipes and overrides combine.

Precedence (later wins): :data:`DEFAULTS` < recipe YAML (``pipelines/train/<method>.yaml`` unless
another is given) < explicit CLI flags / Python keyword arguments < ``--set key=value`` items.
The resolved dict is what the trainer, the method (``cfg["method"]``) and ``config.yaml`` see.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from cfkit.errors import InputError

DEFAULTS: dict[str, Any] = {
    "name": None,  # method name (registry key)
    "data_a": None,  # domain A, the input (photos; cartoons for cpgan): prepared dataset or image folder
    "data_b": None,  # domain B, the target (cartoons; photos for cpgan)
    "split": "train",  # manifest split used for training ("all": every row)
    "out": None,  # run folder; default runs/<name>
    "size": 128,  # px; "auto": the data's own size (its shortest image side, rounded down to 16)
    "batch": 8,
    "iters": None,  # total iterations: scales the recipe's phase lengths to this sum
    "epochs": None,  # total epochs of domain A: scales the recipe's phase lengths to this sum
    "width": 1.0,  # channel multiplier of the method's networks (tests use 0.25)
    "seed": 0,
    "device": "auto",  # auto | cpu | cuda | cuda:N | mps
    "amp": "auto",  # auto (bf16, else fp16, on CUDA; off elsewhere) | off | bf16 (also CPU) | fp16
    "channels_last": "auto",  # auto (on CUDA) | true | false
    "accum": 1,  # gradient accumulation: micro-batches per optimizer step
    "ema": None,  # EMA decay for the method's ema_nets (e.g. 0.999); None: off
    "flip": True,  # random horizontal flips of both domains
    "log_every": 10,
    "sample_every": 200,
    "ckpt_every": 500,
    "keep": 3,  # step checkpoints kept besides best.pt
    "resume": False,
    "override": False,  # --resume with changed data_a/data_b/iters/epochs/split re-plans instead of refusing
    "stop_at": None,  # end this invocation at this iteration (checkpointed; continue with resume)
    "method": {},  # the method's hyper-parameters (recipe section)
}


def recipe_path(name: str) -> Path:
    from cfkit.resources import resource_dir

    return resource_dir("pipelines") / "train" / f"{name}.yaml"


def load_train_recipe(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"recipe not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a recipe is a mapping of keys to values")
    unknown = set(data) - set(DEFAULTS) - {"recipe", "cite"}
    if unknown:
        raise InputError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return data


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["method.w_content=10", "ema=0.999"]`` -> nested dict (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def resolve(
    name: str,
    recipe: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    sets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Resolved config for method ``name``: defaults < recipe < ``overrides`` (None = unset) < ``sets``."""
    path = Path(recipe) if recipe else recipe_path(name)
    rec = load_train_recipe(path) if (recipe or path.is_file()) else {}
    cfg = merge(DEFAULTS, rec)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise InputError(f"unknown training options {sorted(unknown)}")
    cfg = merge(cfg, given)
    if sets:
        unknown = set(sets) - set(DEFAULTS)
        if unknown:
            raise InputError(f"--set: unknown keys {sorted(unknown)}")
        cfg = merge(cfg, sets)
    cfg["name"] = name
    cfg["recipe"] = str(path) if path.is_file() else None
    if cfg["out"] is None:
        cfg["out"] = str(Path("runs") / name)
    sizes = ("size",) if cfg["size"] != "auto" else ()
    for key in (*sizes, "batch", "accum", "log_every", "sample_every", "ckpt_every", "keep"):
        if int(cfg[key]) < 1:
            raise InputError(f"{key} must be >= 1 (got {cfg[key]})")
    if cfg["amp"] not in ("auto", "off", "bf16", "fp16"):
        raise InputError(f"amp must be auto, off, bf16 or fp16 (got {cfg['amp']!r})")
    if sizes and int(cfg["size"]) % 16:
        raise InputError(f"size must be a multiple of 16 (got {cfg['size']})")
    return cfg
