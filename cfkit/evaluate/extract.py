"""One pass over the images: each file is decoded once, in a worker process, and feeds every feature.

A metric names the per-image features it reads in ``needs``; each feature is a registered
:class:`~cfkit.evaluate.features.Feature` (``cfkit/evaluate/features/``). Workers decode
(:func:`cfkit.imageio.load_rgb`) and run each feature's per-image step; the main process gathers
the values (and batches networks such as Inception and LPIPS), so decoding overlaps the networks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cfkit.allocator import pin_mmap_threshold
from cfkit.console import track, warn
from cfkit.errors import CfkitError
from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.features import FEATURES, OUTPUT, REFERENCE, SOURCE, TARGET, Feature

GRID_HEIGHT = 128


@dataclass
class Item:
    key: str
    paths: dict[str, Path]
    """role -> file; roles are ``source``, method names and ``target``, or ``reference`` alone."""


@dataclass
class Extracted:
    """Per-image features of every role, in id order."""

    features: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """feature name -> role -> id -> value."""
    reference_stats: dict | None = None
    decode_errors: list[dict] = field(default_factory=list)
    grid: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    """feature -> reason (e.g. missing weights, with the fetch command)."""
    provenance: dict = field(default_factory=dict)
    """feature -> what computed it (weights' hashes, backend)."""
    images: int = 0

    def feature(self, name: str, role: str) -> dict[str, Any]:
        """id -> value of feature ``name`` for ``role`` (empty when not computed)."""
        return self.features.get(name, {}).get(role, {})


def kind_of(role: str) -> str:
    """``source``, ``reference``, ``target``, or ``output`` (any method's role)."""
    return role if role in (SOURCE, REFERENCE, TARGET) else OUTPUT


class _Dataset:
    """Decodes one :class:`Item` and runs each feature's per-image step (in workers)."""

    def __init__(self, items: list[Item], features: dict[str, Feature], cfg: EvalConfig):
        self.items, self.features, self.cfg = items, features, cfg

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        from cfkit.imageio import ImageDecodeError, load_rgb

        item = self.items[i]
        out = {"key": item.key, "decoded": 0, "rgb": {}, "errors": {}, "values": {n: {} for n in self.features}}
        for role, path in item.paths.items():
            kind = kind_of(role)
            users = [n for n, f in self.features.items() if kind in f.kinds]
            for_grid = self.cfg.grid_rows > 0 and kind != REFERENCE
            if not users and not for_grid:
                continue
            try:
                rgb = load_rgb(path)
            except ImageDecodeError as e:
                out["errors"][role] = {"role": role, "id": item.key, "file": str(path), "reason": e.reason}
                continue
            out["decoded"] += 1
            for n in users:
                out["values"][n][role] = self.features[n].per_image(rgb, self.cfg)
            if for_grid:
                out["rgb"][role] = rgb
        return out


def _first(batch: list) -> dict:
    return batch[0]


def _device(cfg: EvalConfig) -> str:
    import torch

    if cfg.device != "auto":
        return cfg.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return min(4, cpus)


def _thumb(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * GRID_HEIGHT / h)), GRID_HEIGHT), Image.LANCZOS))


def open_features(needs: set[str], cfg: EvalConfig, res: Extracted, roles: list[str]) -> dict[str, Feature]:
    """Instances of the needed features that could load; the others are recorded in ``res.unavailable``."""
    device = _device(cfg)
    active = {}
    for name in sorted(needs):
        feature = FEATURES.get(name)()
        res.features.setdefault(name, {}).update({r: {} for r in roles})
        try:
            provenance = feature.open(cfg, device)
        except CfkitError as e:
            res.unavailable[name] = str(e)
            warn(f"{name} features unavailable: {e}")
            continue
        if provenance:
            res.provenance[name] = provenance
        active[name] = feature
    return active


def extract(
    items: list[Item], roles: list[str], needs: set[str], cfg: EvalConfig, res: Extracted | None = None
) -> Extracted:
    """Run the pass over ``items``; features land in ``res.features`` keyed by feature, role, then id."""
    import torch

    res = res or Extracted()
    features = open_features(needs, cfg, res, roles)
    workers = default_workers() if cfg.workers is None else cfg.workers
    loader = torch.utils.data.DataLoader(
        _Dataset(items, features, cfg),
        batch_size=1,
        collate_fn=_first,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    pin_mmap_threshold()  # memory flat in the number of images (cfkit.allocator)
    for out in track(loader, "evaluating", total=len(items), unit="ids"):
        res.decode_errors.extend(out["errors"].values())
        res.images += out["decoded"]
        for name, feature in features.items():
            if out["values"][name]:
                feature.add(out["key"], out["values"][name], res.features[name])
        rgb = out["rgb"]
        if len(res.grid) < cfg.grid_rows and SOURCE in rgb and len(rgb) > 1:
            res.grid.append((out["key"], {r: _thumb(v) for r, v in rgb.items()}))
    for name, feature in features.items():
        feature.flush(res.features[name])
    for e in res.decode_errors:
        warn(f"skipped {e['file']}: {e['reason']}")
    return res
