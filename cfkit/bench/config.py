"""The options of a leaderboard run (``cfkit bench``): one typed dataclass, loaded by :mod:`cfkit.options`.

Precedence (later wins): :class:`BenchOptions` defaults < protocol file (``pipelines/bench/NAME.yaml`` or
any YAML) < flags < ``--set KEY=VALUE`` (dotted keys reach ``train``, ``methods_set``, ``eval``, ``study``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cfkit.evaluate.config import EvalConfig
from cfkit.options import Layer, read_mapping
from cfkit.study.config import StudyConfig

PROTOCOL_NOTES = ("name", "description")
"""Protocol keys that document it and are not options."""


@dataclass
class BenchOptions:
    """Everything a leaderboard depends on; recorded in ``BENCH/bench.json``."""

    data_a: str = ""
    """Domain A, the methods' input (photos): a prepared dataset with ``train`` and ``test`` rows."""
    data_b: str = ""
    """Domain B, the target (cartoons): a prepared dataset or image folder."""
    methods: list[str] = field(default_factory=list)
    """Registered training methods (``cfkit train --help``), each trained with its own recipe."""
    direction: Literal["photo -> cartoon", "cartoon -> photo"] = "photo -> cartoon"
    """What the bench ranks, domain A -> B: methods built for this direction, and the two-way (reversible)
    ones, trained with A as their input (cpgan's direction: ``cartoon -> photo``)."""
    iters: int | None = None
    """The budget: total iterations of every method (its phases keep their proportions)."""
    epochs: float | None = None
    """The budget as epochs of domain A instead of iterations (the same for every method)."""
    seconds: float | None = None
    """The budget as training wall seconds: each method gets the iterations its schedule takes in that time,
    from a timed probe of each of its phases (:mod:`cfkit.bench.budget`)."""
    size: int | Literal["auto"] = "auto"
    """Training size in px for every method (auto: the data's own size)."""
    width: float = 1.0
    """Channel multiplier of every method's networks (tests use 0.25)."""
    seed: int = 0
    device: str = "auto"
    test_split: str = "test"
    """Manifest split of ``data_a`` that is translated and evaluated (and of ``data_b``, where it has one, the
    FID/KID reference unless ``eval.reference`` names one)."""
    train: dict[str, Any] = field(default_factory=dict)
    """Further training options for every method (keys of ``TrainOptions``: ``ckpt_every``, ``batch``...)."""
    methods_set: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per method, training options over ``train`` (``{nst: {method: {steps: 50}}}``)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation options (metrics, bootstrap, targets...); ``source``, ``methods`` and ``out`` are set by the bench."""
    study: StudyConfig = field(default_factory=StudyConfig)
    """The study created from the evaluation (name, n_sources, criteria, format...)."""
    out: str = "bench/out"
    """The bench folder: runs/, results/, eval/, study/, bench.json."""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["study"] = self.study.to_dict()
        return d


def protocol_layer(protocol: str | Path | None) -> Layer | None:
    """The options of a bench protocol: a YAML file, or a bundled ``pipelines/bench/NAME.yaml`` by name."""
    if protocol is None:
        return None
    path = Path(protocol)
    if not path.is_file() and not path.suffix:
        from cfkit.resources import resource_dir

        path = resource_dir("pipelines") / "bench" / f"{path}.yaml"
    raw = read_mapping(path, "bench protocol")
    return str(path), {k: v for k, v in raw.items() if k not in PROTOCOL_NOTES}
