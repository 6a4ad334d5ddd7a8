"""Evaluation metrics, one module each, registered by name.

Adding a metric = writing ``cfkit/metrics/<name>.py`` with ``@METRICS.register("<name>")`` on a
:class:`~cfkit.metrics._base.Metric` subclass; modules here are discovered on first lookup.
"""

from __future__ import annotations

import pkgutil

from cfkit.metrics._base import Metric, MetricContext, unavailable
from cfkit.registry import Registry

METRICS: Registry[type[Metric]] = Registry(
    "metric", modules=[f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
)


def default_metrics() -> list[str]:
    """Registered metrics computed when none are named (``Metric.default``)."""
    return [name for name in METRICS.names() if METRICS.get(name).default]


__all__ = ["METRICS", "default_metrics", "Metric", "MetricContext", "unavailable"]
