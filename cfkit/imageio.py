"""Safe image decoding and atomic image writing.

Every image cfkit reads goes through :func:`load_rgb`: it returns an upright ``H x W x 3``
``uint8`` RGB array whatever the file holds (CMYK, 16-bit, palette, alpha, grayscale,
EXIF-rotated), or raises :class:`ImageDecodeError` with a short machine-readable reason.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cfkit.errors import InputError
from cfkit.fsutil import atomic_open

MAX_PIXELS = 80_000_000
"""Images larger than this (80 MP) are refused as possible decompression bombs."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


class ImageDecodeError(InputError):
    """An image that cannot be used; ``reason`` is one of REASONS."""

    REASONS = ("empty", "not_image", "corrupt", "too_large", "unreadable")

    def __init__(self, path: str | os.PathLike | None, reason: str, detail: str = ""):
        assert reason in self.REASONS, reason
        self.path = str(path) if path is not None else "<bytes>"
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}{': ' + detail if detail else ''}")


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden files skipped)."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise InputError(f"folder is not readable: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p) and not p.name.startswith("."))


def _scaled_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``arr`` mapped from [lo, hi] to uint8, in blocks of rows: temporaries stay a few MB at any image size."""
    out = np.empty(arr.shape, np.uint8)
    scale = np.float32(255.0 / max(hi - lo, 1e-12))
    for r in range(0, arr.shape[0], 256):
        blk = np.clip(arr[r : r + 256].astype(np.float32) - np.float32(lo), 0, hi - lo)
        out[r : r + 256] = (blk * scale + np.float32(0.5)).astype(np.uint8)
    return out


STRIP_PIXELS = 1 << 20
"""Pixels converted at a time: decoding holds the decoded file and the RGB result, plus strips of this size."""

DECODE_BYTES_PER_PIXEL = 8
"""Peak bytes per pixel while decoding: the decoded file (Pillow keeps RGB, RGBA, CMYK and 32-bit pixels in 4
bytes), the 3-byte RGB result, and strips. Measured on 80 MP PNGs: 6.8 (RGB and RGBA alike)."""


def _strip_converter(im: Image.Image, background: tuple[int, int, int]):
    """A function turning a strip (crop) of ``im`` into ``h x w x 3`` uint8, as a whole-image conversion would."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        lo, hi = im.getextrema()
        if im.mode == "F":
            lo, hi = min(float(lo), 0.0), max(float(hi), 1.0)
        else:
            lo, hi = 0.0, 65535.0 if hi > 255 else 255.0
        return lambda strip: np.repeat(_scaled_uint8(np.asarray(strip), lo, hi)[..., None], 3, axis=2)
    alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)

    def convert(strip: Image.Image) -> np.ndarray:
        if alpha:
            strip = strip.convert("RGBA")
            strip = Image.alpha_composite(Image.new("RGBA", strip.size, (*background, 255)), strip)
        return np.asarray(strip if strip.mode == "RGB" else strip.convert("RGB"))

    return convert


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """``im`` as ``H x W x 3`` uint8 RGB (alpha composited on ``background``), converted a strip of rows at a
    time so no full-size temporary is made beside the result."""
    convert = _strip_converter(im, background)
    w, h = im.size
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, STRIP_PIXELS // max(w, 1))
    for top in range(0, h, rows):
        out[top : top + rows] = convert(im.crop((0, top, w, min(h, top + rows))))
    return out


def _open(fp, path, max_pixels: int, background) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own max_pixels decides
        try:
            with Image.open(fp) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageDecodeError(path, "too_large", f"{w}x{h} exceeds {max_pixels / 1e6:.0f} MP")
                im.load()
                ImageOps.exif_transpose(im, in_place=True)  # not a copy: a transposed image replaces the data
                return _to_rgb(im, background)
        except ImageDecodeError:
            raise
        except Image.DecompressionBombError as e:  # beyond Pillow's hard cap (2x its limit)
            raise ImageDecodeError(path, "too_large", str(e).split(".")[0]) from None
        except UnidentifiedImageError:
            raise ImageDecodeError(path, "not_image", "not a recognised image format") from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageDecodeError(
                path, "corrupt", str(e).splitlines()[0][:120] if str(e) else type(e).__name__
            ) from None


def load_rgb(path: str | os.PathLike, max_pixels: int = MAX_PIXELS, background=(255, 255, 255)) -> np.ndarray:
    """Decode ``path`` into an upright RGB ``uint8`` array (alpha composited on ``background``)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except PermissionError:
        raise ImageDecodeError(path, "unreadable", "permission denied") from None
    except OSError as e:
        raise ImageDecodeError(path, "unreadable", e.strerror or str(e)) from None
    if size == 0:
        raise ImageDecodeError(path, "empty", "zero-byte file")
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise ImageDecodeError(path, "unreadable", e.strerror or str(e)) from None
    with fh:
        return _open(fh, path, max_pixels, background)


def decode_rgb(
    data: bytes, max_pixels: int = MAX_PIXELS, background=(255, 255, 255), name: str | None = None
) -> np.ndarray:
    """Like :func:`load_rgb` for bytes already in memory (downloads)."""
    if not data:
        raise ImageDecodeError(name, "empty", "zero bytes")
    return _open(io.BytesIO(data), name, max_pixels, background)


def save_png(path: str | os.PathLike, rgb: np.ndarray, compress_level: int = 1) -> None:
    """Write an RGB/L ``uint8`` array as PNG atomically."""
    im = Image.fromarray(np.ascontiguousarray(rgb))
    with atomic_open(path, "wb") as fh:
        im.save(fh, format="PNG", compress_level=compress_level)
