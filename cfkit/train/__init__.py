"""cfkit.train: the trainer shared by every method, and batched inference.

    from cfkit.train import train, translate
    run = train("cartoongan-mask", data_a="data/celeba", data_b="data/handpainted", size=64, iters=200)
    translate(run, input="data/selfies", out="results/mask", mask_composite=True)

Options and their defaults: :class:`cfkit.train.config.TrainOptions` (recipe values override them,
keyword arguments override the recipe). Methods: :data:`cfkit.train.method.METHODS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train(
    method: str,
    data_a: str | Path | None,
    data_b: str | Path | None = None,
    recipe: str | Path | None = None,
    set: list[str] | dict[str, Any] | None = None,  # noqa: A002 - the CLI's --set items (or their mapping)
    **options: Any,
) -> Path:
    """Train ``method`` from domain A to B (one-domain methods: ``data_a`` only); returns the run folder.

    ``options``: fields of :class:`~cfkit.train.config.TrainOptions`.
    """
    from cfkit.errors import InputError
    from cfkit.train.config import resolve
    from cfkit.train.method import METHODS
    from cfkit.train.trainer import Trainer

    cls = METHODS.get(method)
    one = cls.one_domain
    if data_a is None or (data_b is None) != one:
        need = "--data DIR" if one else "--data-a DIR and --data-b DIR"
        raise InputError(f"{method} trains on {'one domain' if one else 'two domains'}: give {need}")
    cfg = resolve(method, recipe, {**options, "data_a": data_a, "data_b": data_b}, set)
    cls.hyper_parameters(cfg.method)  # a misspelt or mistyped method key fails before any data is read
    trainer = Trainer(cfg)
    run = trainer.fit()
    trainer.close()  # on success only: a rank that raised must not wait for its peers at a barrier
    return run


def translate(run: str | Path, input: str | Path, out: str | Path, **options: Any) -> list[Path]:  # noqa: A002
    """Translate every image of ``input`` with a run folder or checkpoint; returns the written PNGs."""
    from cfkit.train.inference import translate as _translate

    return _translate(run, input, out, **options)


__all__ = ["train", "translate"]
