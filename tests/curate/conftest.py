"""Fixtures of the curate tests: models fetched once, real photos from installed packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def shared_faces() -> Path | None:
    """CelebA 128 px faces in ../shared/data, or None where the workspace data is absent."""
    d = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos" / "celeba_face2bitmoji128"
    return d if d.is_dir() else None


@pytest.fixture(scope="session")
def models(asset):
    """SCRFD + dlib 68-point assets (fetched offline from registry packages once)."""
    return {"scrfd": asset("scrfd"), "lm68": asset("dlib-landmarks68")}


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def t1_path() -> Path:
    import insightface

    return Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"


@pytest.fixture(scope="session")
def solvay(asset) -> Path:
    return asset("sample-solvay")


@pytest.fixture(scope="session")
def save():
    """``save(path, rgb, **pil_kwargs)``: write an image, creating its folder."""
    from PIL import Image

    def run(path: Path, rgb: np.ndarray, **kw) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(path, **kw)
        return path

    return run
