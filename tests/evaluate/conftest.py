"""Evaluation fixtures: random-init FID weights where pytorch-fid looks, small image folders with matching ids."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from cfkit.imageio import list_images, load_rgb, save_png


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory) -> Path:
    """``$TORCH_HOME/hub/checkpoints/pt_inception-...pth`` with seeded weights; TORCH_HOME set for the session."""
    from cfkit.evaluate.testing import write_random_fid_weights

    home = tmp_path_factory.mktemp("torch_home")
    path = write_random_fid_weights(home, seed=0)
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(home)
    yield path
    if old is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old


def _package_images(size: int) -> list[np.ndarray]:
    """Real photos shipped with scikit-image, as square crops (plus mirrored copies)."""
    out = []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina"):
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        sq = img[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2]
        sq = cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA)
        out += [sq, np.ascontiguousarray(sq[:, ::-1])]
    return out


def degrade(rgb: np.ndarray, kind: str) -> np.ndarray:
    if kind == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), 1.5)
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 8])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def write_set(root: Path, images: list[np.ndarray], prefix: str = "img") -> dict[str, Path]:
    """source/, blur/, jpeg/ with matching ids."""
    dirs = {k: root / k for k in ("source", "blur", "jpeg")}
    for i, img in enumerate(images):
        stem = f"{prefix}{i:03d}"
        save_png(dirs["source"] / f"{stem}.png", img)
        save_png(dirs["blur"] / f"{stem}.png", degrade(img, "blur"))
        save_png(dirs["jpeg"] / f"{stem}.png", degrade(img, "jpeg"))
    return dirs


@pytest.fixture(scope="session")
def package_sets(tmp_path_factory) -> dict[str, Path]:
    """12 package photos at 64 px: source/blur/jpeg, and a reference/ of their colour-inverted upside-down copies."""
    root = tmp_path_factory.mktemp("pkg_sets")
    imgs = _package_images(64)
    dirs = write_set(root, imgs)
    dirs["reference"] = root / "reference"
    for i, img in enumerate(imgs):
        save_png(dirs["reference"] / f"ref{i:03d}.png", np.ascontiguousarray(255 - img[::-1]))
    return dirs


@pytest.fixture(scope="session")
def face_sets(tmp_path_factory, shared_data) -> dict[str, Path]:
    """10 FFHQ faces (128 px) + astronaut as source, degraded copies as methods, 12 anime faces as reference."""
    root = tmp_path_factory.mktemp("face_sets")
    files = list_images(shared_data / "photos" / "ffhq_thumbs128")[:9]
    imgs = [load_rgb(p) for p in files]
    imgs.append(cv2.resize(data.astronaut()[0:300, 100:400], (128, 128), interpolation=cv2.INTER_AREA))
    dirs = write_set(root, imgs, prefix="face")
    dirs["reference"] = root / "reference"
    dirs["reference"].mkdir()
    for p in list_images(shared_data / "cartoons" / "anime_getchu64")[:12]:
        (dirs["reference"] / p.name).write_bytes(p.read_bytes())
    return dirs
