"""Evaluation metrics, one module each, registered by name.

Adding a metric = writing ``cfkit/evaluate/metrics/<name>.py`` with ``@METRICS.register("<name>")`` on a
:class:`~cfkit.evaluate.metrics._base.Metric` subclass; modules here are discovered on first lookup.
This module holds only the registry (the base class reads the evaluation's types, whose defaults read
the registry).
"""

from __future__ import annotations

import pkgutil

from cfkit.registry import Registry

METRICS: Registry[type] = Registry(
    "metric", modules=[f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
)
"""Name -> :class:`~cfkit.evaluate.metrics._base.Metric` subclass."""


def default_metrics() -> list[str]:
    """Registered metrics computed when none are named (``Metric.default``)."""
    return [name for name in METRICS.names() if METRICS.get(name).default]


__all__ = ["METRICS", "default_metrics"]
