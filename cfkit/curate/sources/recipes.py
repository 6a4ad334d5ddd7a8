"""Dataset recipes: ``pipelines/datasets/NAME.yaml`` (official locations, licence, prepare defaults)."""

from __future__ import annotations

import functools
from typing import Any

from cfkit.options import read_mapping
from cfkit.resources import resource_dir


@functools.cache
def load_dataset_recipe(name: str) -> dict[str, Any]:
    """The parsed recipe of source ``name`` (``{}`` where none is shipped)."""
    path = resource_dir("pipelines") / "datasets" / f"{name}.yaml"
    return read_mapping(path, "recipe") if path.is_file() else {}
