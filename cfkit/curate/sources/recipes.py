"""Dataset recipes: ``pipelines/datasets/NAME.yaml`` (official locations, licence, prepare defaults)."""

from __future__ import annotations

import functools
from typing import Any

from cfkit.errors import CfkitError
from cfkit.resources import resource_dir


@functools.cache
def load_dataset_recipe(name: str) -> dict[str, Any]:
    """The parsed recipe of source ``name`` (``{}`` where none is shipped)."""
    import yaml

    path = resource_dir("pipelines") / "datasets" / f"{name}.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise CfkitError(f"recipe {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise CfkitError(f"recipe {path} must be a mapping")
    return data
