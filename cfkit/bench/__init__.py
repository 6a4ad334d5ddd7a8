"""Leaderboards: ``cfkit bench`` trains named methods under one budget, translates the test split,
evaluates them with CIs and paired tests, and creates the study, in one resumable folder.

    from cfkit.bench import run_bench
    run_bench(data_a="data/photos", data_b="data/anime", methods=["cyclegan", "nst"], iters=2000)

Imported lazily so that ``cfkit --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["BenchOptions", "run_bench"]


def __getattr__(name: str):
    if name == "run_bench":
        from cfkit.bench.api import run_bench

        return run_bench
    if name == "BenchOptions":
        from cfkit.bench.config import BenchOptions

        return BenchOptions
    raise AttributeError(name)
