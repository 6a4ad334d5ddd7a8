"""Training data: a domain's decoded images in an on-disk uint8 store, and deterministic index streams.

A domain folder is either a prepared dataset (``images/<id>.png``, optional ``masks/<id>.png``,
``manifest.parquet`` with ``id`` and ``split``) or a plain folder of images (ids = file stems).
Images that are not ``size x size`` are resized (shorter side, area filter) and centre-cropped.
Each domain is decoded once into a :class:`~cfkit.train.store.UInt8Store` (reused by later runs
while the files are unchanged) and read a batch at a time, so memory does not grow with its size.

Index streams walk ``DistributedSampler`` permutations epoch after epoch, so each DDP rank gets
its own shard and the position (epoch, offset) is all a checkpoint needs to resume exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cfkit.errors import InputError
from cfkit.fsutil import safe_id, safe_ids
from cfkit.imageio import list_images, load_rgb
from cfkit.train.store import UInt8Store, build_store, source_key

STORE_VERSION = 1
"""Bump when decoding or :func:`fit_square` changes: stores built before are not reused."""


@dataclass
class Domain:
    """Images ``N x 3 x S x S`` uint8, optional masks ``N x 1 x S x S`` uint8 (255 = face).

    ``images[indices]`` / ``masks[indices]`` read those items into a new tensor.
    """

    root: Path
    ids: list[str]
    images: UInt8Store
    masks: UInt8Store | None = None

    def __len__(self) -> int:
        return len(self.ids)


def fit_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (area filter when shrinking) and centre-crop."""
    import cv2

    h, w = rgb.shape[:2]
    if (h, w) != (size, size):
        s = size / min(h, w)
        nh, nw = max(size, round(h * s)), max(size, round(w * s))
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        y, x = (nh - size) // 2, (nw - size) // 2
        rgb = rgb[y : y + size, x : x + size]
    return np.ascontiguousarray(rgb)


def list_domain(root: str | Path, split: str = "train") -> tuple[list[str], list[Path], Path | None]:
    """(ids, image paths, masks folder or None) of a prepared dataset or plain image folder."""
    root = Path(root)
    images_dir = root / "images"
    if images_dir.is_dir():
        manifest = root / "manifest.parquet"
        if manifest.is_file():
            import pandas as pd

            df = pd.read_parquet(manifest)
            if "id" not in df.columns:
                raise InputError(f"{manifest}: no 'id' column")
            df["id"] = safe_ids(df["id"], str(manifest))
            if split != "all" and "split" in df.columns:
                df = df[df["split"] == split]
            ids = list(df["id"])
            if not ids:
                raise InputError(f"{manifest}: no rows with split '{split}' (use --set split=all)")
            paths = [images_dir / f"{i}.png" for i in ids]
            missing = [p.name for p in paths if not p.is_file()]
            if missing:
                raise InputError(f"{images_dir}: {len(missing)} manifest ids have no image (e.g. {missing[0]})")
        else:
            paths = list_images(images_dir)
            ids = [safe_id(p.stem, str(p)) for p in paths]
        masks_dir = root / "masks"
        return ids, paths, masks_dir if masks_dir.is_dir() else None
    paths = list_images(root)
    return [safe_id(p.stem, str(p)) for p in paths], paths, None


def native_side(root: str | Path, split: str = "train") -> int:
    """The shortest image side in a domain (read from the file headers): the largest training size
    that needs no upsampling."""
    from PIL import Image

    sides = []
    for p in list_domain(root, split)[1]:
        with Image.open(p) as im:
            sides.append(min(im.size))
    if not sides:
        raise InputError(f"no images found in {root}")
    return min(sides)


def training_size(size: int | str, data: dict[str, str | Path], split: str = "train") -> int:
    """The size to train at: ``"auto"`` follows the data (its shortest image side over all domains,
    rounded down to a multiple of 16); a number larger than that is refused, since upsampling blurs the
    crisp edges that cartoon styles are made of."""
    sides = {name: native_side(root, split) for name, root in data.items()}
    name, side = min(sides.items(), key=lambda kv: kv[1])
    if size == "auto":
        if side < 16:
            raise InputError(f"{name} images are {side} px: too small to train on")
        return side // 16 * 16
    if int(size) > side:
        raise InputError(
            f"training size {size} px is larger than the {name} images ({side} px): they would be upsampled; "
            f"pass --size {max(16, side // 16 * 16)} (or --size auto), or prepare the data at {size} px"
        )
    return int(size)


def _check_ids(root: Path, ids: list[str]) -> None:
    if not ids:
        raise InputError(f"no images found in {root}")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"{root}: two images share the id '{dup}' (ids are file stems)")


def _decoded_store(paths: list[Path], size: int, channels: int, label: str) -> UInt8Store:
    """``paths`` decoded, fitted to ``size`` and laid out ``C x S x S`` in a store (built once)."""

    def produce(i: int) -> np.ndarray:
        rgb = fit_square(load_rgb(paths[i]), size)
        return np.ascontiguousarray(rgb.transpose(2, 0, 1)[:channels])

    key = source_key(paths, size=size, channels=channels, version=STORE_VERSION)
    return build_store(key, len(paths), (channels, size, size), produce, label)


def load_domain(root: str | Path, size: int, split: str = "train", masks: bool = True) -> Domain:
    """The domain's images (and masks when ``masks`` and ``masks/`` has all of them), decoded into stores."""
    root = Path(root)
    ids, paths, masks_dir = list_domain(root, split)
    _check_ids(root, ids)
    images = _decoded_store(paths, size, 3, f"decoding {root.name}")
    mask_store = None
    if masks and masks_dir is not None:
        mpaths = [masks_dir / f"{i}.png" for i in ids]
        have = [p.is_file() for p in mpaths]
        if all(have):
            mask_store = _decoded_store(mpaths, size, 1, f"decoding {root.name} masks")
        elif any(have):
            raise InputError(f"{masks_dir}: masks for {sum(have)} of {len(ids)} images; mask all or none")
    return Domain(root, ids, images, mask_store)


class IndexStream:
    """Endless sample indices for one rank: ``DistributedSampler`` epochs, one after another."""

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1):
        from torch.utils.data import DistributedSampler

        self.sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.epoch, self.offset = 0, 0
        self._order: list[int] | None = None

    def _current(self) -> list[int]:
        if self._order is None:
            self.sampler.set_epoch(self.epoch)
            self._order = list(iter(self.sampler))
        return self._order

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            order = self._current()
            grab = order[self.offset : self.offset + k - len(out)]
            out += grab
            self.offset += len(grab)
            if self.offset >= len(order):
                self.epoch, self.offset, self._order = self.epoch + 1, 0, None
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.offset, self._order = int(state["epoch"]), int(state["offset"]), None


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> [-1, 1] in torch's default dtype (float32 unless set otherwise)."""
    return x.to(torch.get_default_dtype()).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
