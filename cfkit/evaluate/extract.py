"""One pass over the images: each file is decoded once, in a worker process, and feeds every metric.

Workers decode (:func:`cfkit.imageio.load_rgb`), resize for Inception and run the per-image face
models (landmarks, identity); the main process batches the Inception forward and LPIPS pairs, so
decoding overlaps the network. What a metric needs is named by its ``needs``:
``inception`` (outputs + reference), ``landmarks``/``identity`` (source + outputs),
``lpips`` (source vs output) and ``lpips_diversity`` (consecutive outputs of one method).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cfkit.console import track, warn
from cfkit.errors import CfkitError
from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.inputs import SOURCE
from cfkit.imageio import ImageDecodeError, load_rgb

REFERENCE = "reference"
SOURCE_NEEDS = {"landmarks", "identity", "lpips", "lpips_diversity"}
"""Features that need the source image decoded (Inception runs on outputs and reference only)."""
GRID_HEIGHT = 128

_WORKER_MODELS: dict = {}
"""Face models built once per process (each decode worker has its own)."""


@dataclass
class Item:
    key: str
    paths: dict[str, Path]
    """role -> file; roles are ``source``, method names, or ``reference`` alone."""


@dataclass
class Extracted:
    """Per-image features of every role, in id order."""

    inception: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    landmarks: dict[str, dict[str, np.ndarray | None]] = field(default_factory=dict)
    identity: dict[str, dict[str, np.ndarray | None]] = field(default_factory=dict)
    lpips: dict[str, dict[str, float]] = field(default_factory=dict)
    lpips_diversity: dict[str, dict[str, float]] = field(default_factory=dict)
    reference_stats: dict | None = None
    decode_errors: list[dict] = field(default_factory=list)
    resized_pairs: int = 0
    grid: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    """feature -> reason (e.g. missing weights, with the fetch command)."""
    provenance: dict = field(default_factory=dict)
    images: int = 0


def _face_model(kind: str, cfg_backend: str):
    key = (kind, cfg_backend)
    if key not in _WORKER_MODELS:
        if kind == "landmarks":
            from cfkit.faces.landmarks import Landmarks68

            _WORKER_MODELS[key] = Landmarks68()
        else:
            from cfkit.faces.identity import get_identity_backend

            _WORKER_MODELS[key] = get_identity_backend(cfg_backend)
    return _WORKER_MODELS[key]


class _Dataset:
    """Decodes one :class:`Item` and computes its per-image features (runs in workers)."""

    def __init__(self, items: list[Item], needs: set[str], cfg: EvalConfig):
        self.items, self.needs, self.cfg = items, needs, cfg

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        from cfkit.nets.inception import to_inception_input

        item = self.items[i]
        out = {"key": item.key, "decoded": 0, "rgb": {}, "errors": {}, "inception": {}, "landmarks": {}, "identity": {}}
        for role, path in item.paths.items():
            if role == SOURCE and not self.needs & SOURCE_NEEDS and not self.cfg.grid_rows:
                continue
            try:
                rgb = load_rgb(path)
            except ImageDecodeError as e:
                out["errors"][role] = {"role": role, "id": item.key, "file": str(path), "reason": e.reason}
                continue
            if "inception" in self.needs and role != SOURCE:
                out["inception"][role] = to_inception_input(rgb)
            out["decoded"] += 1
            if role == REFERENCE or not (self.needs & SOURCE_NEEDS or self.cfg.grid_rows):
                continue
            out["rgb"][role] = rgb
            if "landmarks" in self.needs:
                lm = _face_model("landmarks", "")
                pts = lm.detect(rgb, assume_aligned=self.cfg.landmarks_assume_aligned)
                # in units of the image's width/height, so outputs at another resolution compare with sources
                out["landmarks"][role] = None if pts is None else pts / np.array(rgb.shape[1::-1], np.float32)
            if "identity" in self.needs:
                out["identity"][role] = _face_model("identity", self.cfg.identity_backend).embed(rgb)
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


def _lpips_input(rgb: np.ndarray, size: tuple[int, int] | None = None):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x


def _thumb(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((max(1, round(w * GRID_HEIGHT / h)), GRID_HEIGHT), Image.LANCZOS))


class _Runner:
    """Main-process side: batched Inception forward and LPIPS pairs."""

    def __init__(self, cfg: EvalConfig, needs: set[str], res: Extracted, roles: list[str]):
        self.cfg, self.needs, self.res = cfg, needs, res
        self.device = _device(cfg)
        self.inception = None
        self.pending: list[tuple[str, str, object]] = []
        self.prev: dict[str, tuple[str, np.ndarray]] = {}
        self.lpips = None
        if "inception" in needs:
            from cfkit.nets.inception import load_inception

            try:
                self.inception, res.provenance["inception"] = load_inception(cfg.fid_dims, self.device)
            except CfkitError as e:
                self._drop("inception", str(e))
        if needs & {"lpips", "lpips_diversity"}:
            from cfkit.nets.pretrained import lpips_model

            try:
                self.lpips = lpips_model(cfg.lpips_net).to(self.device)
                res.provenance["lpips"] = {"net": cfg.lpips_net, **self.lpips.provenance}
            except CfkitError as e:
                self._drop("lpips", str(e))
                self._drop("lpips_diversity", str(e))
        for role in roles:
            for feat in ("inception", "landmarks", "identity", "lpips", "lpips_diversity"):
                getattr(res, feat)[role] = {}

    def _drop(self, feature: str, reason: str) -> None:
        self.needs.discard(feature)
        self.res.unavailable[feature] = reason

    def add(self, out: dict) -> None:
        key = out["key"]
        self.res.decode_errors.extend(out["errors"].values())
        self.res.images += out["decoded"]
        if self.inception is not None:
            for role, x in out["inception"].items():
                self.pending.append((role, key, x))
            if len(self.pending) >= self.cfg.batch_size:
                self.flush()
        for feat in ("landmarks", "identity"):
            for role, v in out[feat].items():
                getattr(self.res, feat)[role][key] = v
        rgb = out["rgb"]
        if self.lpips is not None and rgb:
            self._lpips(key, rgb)
        if len(self.res.grid) < self.cfg.grid_rows and SOURCE in rgb and len(rgb) > 1:
            self.res.grid.append((key, {r: _thumb(v) for r, v in rgb.items()}))

    def _lpips(self, key: str, rgb: dict[str, np.ndarray]) -> None:
        import torch

        a, b, tags = [], [], []
        src = rgb.get(SOURCE)
        for role, img in rgb.items():
            if role == SOURCE:
                continue
            if src is not None and "lpips" in self.needs:
                size = tuple(src.shape[:2])
                self.res.resized_pairs += size != img.shape[:2]
                a.append(_lpips_input(src))
                b.append(_lpips_input(img, size))
                tags.append(("lpips", role, key))
            if "lpips_diversity" in self.needs and role in self.prev:
                pkey, prev = self.prev[role]
                a.append(_lpips_input(prev))
                b.append(_lpips_input(img, tuple(prev.shape[:2])))
                tags.append(("lpips_diversity", role, pkey))
            self.prev[role] = (key, img)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(a):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        for idx in by_shape.values():
            with torch.no_grad():
                d = self.lpips(
                    torch.cat([a[i] for i in idx]).to(self.device), torch.cat([b[i] for i in idx]).to(self.device)
                )
            for i, v in zip(idx, d.flatten().cpu().numpy().astype(float), strict=True):
                feat, role, k = tags[i]
                getattr(self.res, feat)[role][k] = float(v)

    def flush(self) -> None:
        import torch

        from cfkit.nets.inception import forward_features

        if not self.pending:
            return
        batch = torch.stack([x for _, _, x in self.pending]).to(self.device)
        feats = forward_features(self.inception, batch)
        for (role, key, _), f in zip(self.pending, feats, strict=True):
            self.res.inception[role][key] = f
        self.pending = []


def extract(
    items: list[Item], roles: list[str], needs: set[str], cfg: EvalConfig, res: Extracted | None = None
) -> Extracted:
    """Run the pass over ``items``; features land in ``res`` keyed by role then id."""
    import torch

    res = res or Extracted()
    needs = set(needs)
    for kind in ("landmarks", "identity"):
        if kind in needs:
            try:
                model = _face_model(kind, cfg.identity_backend if kind == "identity" else "")
            except CfkitError as e:
                needs.discard(kind)
                res.unavailable[kind] = str(e)
                warn(f"{kind} metrics unavailable: {e}")
                continue
            if kind == "identity":
                res.provenance["identity"] = {"backend": model.name, **getattr(model, "provenance", {})}
    runner = _Runner(cfg, needs, res, roles)
    workers = default_workers() if cfg.workers is None else cfg.workers
    loader = torch.utils.data.DataLoader(
        _Dataset(items, runner.needs, cfg),
        batch_size=1,
        collate_fn=_first,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    for out in track(loader, "evaluating", total=len(items), unit="ids"):
        runner.add(out)
    runner.flush()
    for e in res.decode_errors:
        warn(f"skipped {e['file']}: {e['reason']}")
    return res
