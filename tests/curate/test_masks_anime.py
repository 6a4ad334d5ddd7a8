"""Mask methods and the drawing detector's probe/fallback."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from cfkit.curate.maskers import MASK_METHODS, make_masker
from cfkit.errors import CfkitError
from cfkit.faces.masks import landmark_mask


@pytest.fixture(scope="module")
def aligned_face(models, astronaut):
    from cfkit.faces.aligner import FaceAligner

    faces, reason, _ = FaceAligner(size=128, threads=1).process([astronaut])[0]
    assert reason is None
    return faces[0]


def test_landmark_mask_covers_face_and_forehead(aligned_face):
    lm = aligned_face.lm68
    mask = landmark_mask(aligned_face.image.shape, lm)
    for x, y in np.round(lm[[30, 36, 45, 48, 54, 8]]).astype(int):  # nose, eye corners, mouth, chin
        assert mask[min(y, 127), x] == 255
    brow_top = int(lm[17:27, 1].min())
    cx = int(lm[27, 0])
    assert mask[max(0, brow_top - 10), cx] == 255  # forehead above the brows
    assert mask[0, 0] == mask[127, 127] == mask[127, 0] == 0  # background corners
    assert np.array_equal(make_masker("landmarks")([aligned_face.image], [lm])[0], mask)


def test_mask_registry_and_unet_needs_a_checkpoint(tmp_path):
    assert {"landmarks", "unet"} <= set(MASK_METHODS.names())
    with pytest.raises(CfkitError, match="--checkpoint"):
        make_masker("unet")
    with pytest.raises(CfkitError, match="not found"):
        make_masker("unet", tmp_path / "missing.pt")
    assert make_masker("landmarks")([np.zeros((64, 64, 3), np.uint8)], [None])[0].any()  # ellipse fallback


def test_animeface_returning_nothing_is_detected_as_unusable(monkeypatch):
    fake = types.ModuleType("animeface")
    fake.detect = lambda im: []  # what animeface 2.0.3 does under Pillow >= 12
    monkeypatch.setitem(sys.modules, "animeface", fake)
    from cfkit.faces.anime import AnimeFaceDetector

    det = AnimeFaceDetector()
    img = np.zeros((64, 64, 3), np.uint8)
    for _ in range(AnimeFaceDetector.PROBE_IMAGES):
        assert det.detect(img) == []
    assert det.unusable and "found no face" in det.unusable


def test_broken_animeface_does_not_break_anything(monkeypatch):
    fake = types.ModuleType("animeface")

    def boom(im):
        raise RuntimeError("native crash")

    fake.detect = boom
    monkeypatch.setitem(sys.modules, "animeface", fake)
    from cfkit.faces.anime import AnimeFaceDetector

    det = AnimeFaceDetector()
    assert det.detect(np.zeros((32, 32, 3), np.uint8)) == []
    assert "RuntimeError" in det.unusable
