"""Per-image features of evaluation's one pass over decoded images, one module each, registered by name.

A metric names the features it reads in ``Metric.needs``. Adding a feature = writing
``cfkit/evaluate/features/<name>.py`` with ``@FEATURES.register("<name>")`` on a
:class:`~cfkit.evaluate.features._base.Feature`; modules here are discovered on first lookup.
"""

from __future__ import annotations

import pkgutil

from cfkit.evaluate.features._base import OUTPUT, REFERENCE, SOURCE, TARGET, Feature, process_model
from cfkit.registry import Registry

FEATURES: Registry[type[Feature]] = Registry(
    "feature", modules=[f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
)

__all__ = ["FEATURES", "OUTPUT", "REFERENCE", "SOURCE", "TARGET", "Feature", "process_model"]
