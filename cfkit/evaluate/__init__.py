"""Side-by-side evaluation of translation methods: ``run_eval`` and the ``cfkit eval`` command.

Imported lazily so that ``cfkit --help`` (which imports ``cfkit.evaluate.cli``) stays fast.
"""

from __future__ import annotations

__all__ = ["EvalConfig", "run_eval"]


def __getattr__(name: str):
    if name == "run_eval":
        from cfkit.evaluate.api import run_eval

        return run_eval
    if name == "EvalConfig":
        from cfkit.evaluate.config import EvalConfig

        return EvalConfig
    raise AttributeError(name)
