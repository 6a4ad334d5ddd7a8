"""What a per-image feature is: computed once per decoded image in the evaluation pass, read by metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SOURCE, OUTPUT, REFERENCE, TARGET = "source", "output", "reference", "target"
"""Kinds of image in an evaluation: a method's input, a method's output, a real target-domain image, and
the known correct translation of a source (``--targets``, paired by id)."""

_PROCESS_MODELS: dict = {}


def process_model(key: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` once per process (main and each decode worker), cached under ``key``."""
    if key not in _PROCESS_MODELS:
        _PROCESS_MODELS[key] = build()
    return _PROCESS_MODELS[key]


class Feature:
    """Subclass, set ``name`` and ``kinds``, override what you need, register with ``@FEATURES.register``.

    Values land in ``Extracted.features[name][role][id]`` (role = ``source``, a method name,
    ``reference`` or ``target``). The default pipeline passes each decoded image through :meth:`per_image` in a
    decode worker and stores the result in :meth:`add`; a feature that runs a network in batches on the
    main process returns a network input from :meth:`per_image` and batches it in :meth:`add`/:meth:`flush`.
    Instances are pickled to worker processes without their state: build models with :func:`process_model`.
    """

    name = ""
    kinds: tuple[str, ...] = (SOURCE, OUTPUT)
    """Which kinds of image the feature is computed for."""

    def open(self, cfg, device: str) -> dict:
        """Main process, before the pass: load models, return provenance (recorded in metrics.json).

        Raise :class:`cfkit.errors.CfkitError` (e.g. a missing asset) to mark the feature unavailable.
        """
        return {}

    def per_image(self, rgb: np.ndarray, cfg) -> Any:
        """In a decode worker: a picklable value for one decoded ``uint8 HxWx3`` image (default: the image)."""
        return rgb

    def add(self, key: str, values: dict[str, Any], store: dict[str, dict]) -> None:
        """Main process: one id's :meth:`per_image` values by role into ``store[role][key]``."""
        for role, v in values.items():
            store[role][key] = v

    def flush(self, store: dict[str, dict]) -> None:
        """Main process, after the last image: finish pending batches."""

    def __getstate__(self) -> dict:
        return {}
