"""Dataset recipes: ``pipelines/datasets/NAME.yaml`` (official locations, licence, prepare options)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cfkit.curate.defaults import PrepareOptions
from cfkit.errors import InputError
from cfkit.options import Layer, check_layer, read_mapping
from cfkit.resources import resource_dir

RECIPE_KEYS = ("name", "description", "homepage", "licence", "official", "prepare")
"""What a dataset recipe holds; ``prepare`` is a layer of :class:`PrepareOptions` (over their defaults)."""


def dataset_recipe_path(name: str) -> Path:
    return resource_dir("pipelines") / "datasets" / f"{name}.yaml"


@functools.cache
def load_dataset_recipe(name: str) -> dict[str, Any]:
    """The parsed recipe of source ``name`` (``{}`` where none is shipped); unknown keys are one-line errors."""
    path = dataset_recipe_path(name)
    if not path.is_file():
        return {}
    data = read_mapping(path, "recipe")
    unknown = sorted(set(data) - set(RECIPE_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(RECIPE_KEYS)})")
    prepare = data.get("prepare") or {}
    if not isinstance(prepare, dict):
        raise InputError(f"{path}: prepare is a mapping of prepare options")
    check_layer(PrepareOptions, prepare, f"{path}: prepare")
    return data


def prepare_layer(name: str) -> Layer | None:
    """The ``prepare:`` options of source ``name``'s recipe, named by the recipe file."""
    prepare = load_dataset_recipe(name).get("prepare")
    return (f"{dataset_recipe_path(name)}: prepare", prepare) if prepare else None
