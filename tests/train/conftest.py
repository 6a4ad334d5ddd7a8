"""Small real-image domains for trainer tests.

* ``tiny_domains``: crops of scikit-image's astronaut (A, with box masks) and chelsea (B): run anywhere.
* ``face_domains``: prepared datasets (images/, masks/, manifest.parquet) from ../shared/data:
  CelebA faces (A) and bitmoji faces (B), both on white backgrounds; the masks are the
  non-background region (near-white pixels connected to the border are background).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cfkit.imageio import list_images, load_rgb, save_png


def foreground_mask(rgb: np.ndarray, white: int = 235) -> np.ndarray:
    """255 where the subject is: everything but near-white regions touching the image border."""
    import cv2

    near_white = (rgb.min(axis=2) >= white).astype(np.uint8)
    _, labels = cv2.connectedComponents(near_white)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    bg = np.isin(labels, border[border > 0])  # label 0 = not near-white
    return np.where(bg, 0, 255).astype(np.uint8)


def make_dataset(root: Path, images: dict[str, np.ndarray], masks: bool, split_every: int = 0) -> Path:
    """A prepared dataset folder as curation writes it."""
    import pandas as pd

    for i, rgb in images.items():
        save_png(root / "images" / f"{i}.png", rgb)
        if masks:
            save_png(root / "masks" / f"{i}.png", foreground_mask(rgb))
    ids = list(images)
    split = ["test" if split_every and k % split_every == 0 else "train" for k in range(len(ids))]
    pd.DataFrame({"id": ids, "split": split, "source": "test"}).to_parquet(root / "manifest.parquet")
    return root


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Training tests run single-threaded: on a shared 2-core machine, 2 OpenMP threads that spin
    while another process holds a core made steps 10-50x slower (measured); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_domains(tmp_path_factory) -> tuple[Path, Path]:
    """(A, B): 6 crops of astronaut with masks/, 6 of chelsea as a plain folder (160 px)."""
    from skimage import data

    root = tmp_path_factory.mktemp("tiny")
    crops = {}
    img = data.astronaut()
    for k in range(6):
        y, x = 20 + 37 * k, 40 + 45 * k
        crops[f"astro{k}"] = img[y : y + 160, x : x + 160]
    a = root / "A"
    for i, rgb in crops.items():
        save_png(a / "images" / f"{i}.png", rgb)
        m = np.zeros((160, 160), np.uint8)
        m[30:130, 40:120] = 255
        save_png(a / "masks" / f"{i}.png", m)
    cat = data.chelsea()
    for k in range(6):
        save_png(root / "B" / f"cat{k}.png", cat[10 * k : 10 * k + 160, 30 * k : 30 * k + 160])
    return a, root / "B"


@pytest.fixture(scope="session")
def face_domains(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """(A, B) prepared datasets at 64 px: 24 CelebA photos and 24 bitmoji faces, with masks."""
    import cv2

    root = tmp_path_factory.mktemp("faces")

    def take(folder: Path, n: int) -> dict[str, np.ndarray]:
        return {
            p.stem: cv2.resize(load_rgb(p), (64, 64), interpolation=cv2.INTER_AREA) for p in list_images(folder)[:n]
        }

    a = make_dataset(root / "A", take(shared_data / "photos/celeba_face2bitmoji128", 24), masks=True)
    b = make_dataset(root / "B", take(shared_data / "cartoons/bitmoji_kaggle384", 24), masks=True)
    return a, b


@pytest.fixture(scope="session")
def cartoon_photo_domains(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """(A, B) plain folders for cartoon -> photo methods: 8 anime faces (64 px) and 6 FFHQ photos (128 px)."""
    root = tmp_path_factory.mktemp("cartoon-photo")
    sources = {
        "A": shared_data / "cartoons" / "anime_getchu64" / "images",
        "B": shared_data / "photos" / "ffhq_thumbs128" / "sample_images" / "00000",
    }
    for (name, src), n in zip(sources.items(), (8, 6), strict=True):
        (root / name).mkdir()
        for p in list_images(src)[:n]:
            (root / name / p.name).symlink_to(p.resolve())
    return root / "A", root / "B"
