"""Decoded training images on disk: one uint8 file per domain, built once, read a batch at a time.

A :class:`UInt8Store` is ``N`` arrays of one shape (``3 x S x S`` images, ``1 x S x S`` masks) back to
back in a file under ``$CFKIT_HOME/cache/train/``. Reading a batch is one ``pread`` per item into a
fresh array, so a training process holds only its batches whatever the dataset size, and DDP ranks
on one machine share the file (through the page cache) instead of each decoding a copy.

The file name is a hash of what its bytes depend on (each source file's path, size and mtime, the
item shape, the producer's version); it is written atomically (``cfkit.fsutil.atomic_open``), so an
interrupted build is redone and concurrent builders never see a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

CHUNK = 256
"""Items decoded per round while building: bounds the builder's memory."""


class UInt8Store:
    """``N x *item_shape`` uint8 in one file; ``store[indices]`` -> a new ``torch.uint8`` tensor."""

    def __init__(self, path: Path, n: int, item_shape: tuple[int, ...]):
        self.path, self.n, self.item_shape = Path(path), n, tuple(item_shape)
        self.item_bytes = int(np.prod(item_shape))
        self._fd: int | None = None
        self._pid = -1

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n, *self.item_shape)

    def __len__(self) -> int:
        return self.n

    def _handle(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked worker opens its own
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __getitem__(self, idx: int | slice | Sequence[int]) -> torch.Tensor:
        if isinstance(idx, slice):
            idx = range(*idx.indices(self.n))
        single = isinstance(idx, int | np.integer)
        items = [int(idx)] if single else [int(i) for i in idx]
        out = np.empty((len(items), *self.item_shape), np.uint8)
        fd, flat = self._handle(), out.reshape(len(items), -1)
        for row, i in enumerate(items):
            if not 0 <= i < self.n:
                raise IndexError(f"index {i} out of range for {self.n} items")
            flat[row] = np.frombuffer(os.pread(fd, self.item_bytes, i * self.item_bytes), np.uint8)
        t = torch.from_numpy(out)
        return t[0] if single else t

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


def source_key(paths: Sequence[Path], **params) -> str:
    """Hash of the files' paths, sizes and mtimes plus ``params``: names a store built from them."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{Path(p).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def build_store(
    key: str,
    n: int,
    item_shape: tuple[int, ...],
    produce: Callable[[int], np.ndarray],
    label: str,
    threads: int = 4,
) -> UInt8Store:
    """The store named ``key``, produced item by item (``produce(i)`` -> uint8 ``item_shape``) if absent."""
    from cfkit.console import track
    from cfkit.fsutil import atomic_open
    from cfkit.resources import cache_dir

    path = cache_dir("train") / f"{key}.u8"
    if path.is_file() and path.stat().st_size == n * int(np.prod(item_shape)):
        return UInt8Store(path, n, item_shape)

    def produced():
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for start in range(0, n, CHUNK):
                yield from pool.map(produce, range(start, min(n, start + CHUNK)))

    with atomic_open(path, "wb") as fh:
        for arr in track(produced(), label, n, "img"):
            if arr.shape != item_shape or arr.dtype != np.uint8:
                raise ValueError(f"{label}: item of shape {arr.shape} {arr.dtype}, expected {item_shape}")
            fh.write(np.ascontiguousarray(arr).tobytes())
    return UInt8Store(path, n, item_shape)
