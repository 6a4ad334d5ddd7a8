"""Detector and alignment against the reference implementations (insightface, the FFHQ script)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cfkit.geometry.align import align_face, arcface_points, ffhq_quad, template_eyes
from cfkit.imageio import load_rgb


@pytest.fixture(scope="module")
def detector(models):
    from cfkit.faces.detector import FaceDetector

    return FaceDetector(threads=1)


@pytest.fixture(scope="module")
def reference_app(models, tmp_path_factory):
    """A plain insightface FaceAnalysis on the unmodified SCRFD graph (640x640)."""
    import shutil

    from insightface.app import FaceAnalysis

    d = tmp_path_factory.mktemp("scrfd")
    shutil.copy(models["scrfd"], d / "scrfd.onnx")
    app = FaceAnalysis(name=str(d), allowed_modules=["detection"], providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    return app


def test_dynamic_graph_matches_the_original(models):
    import onnxruntime as ort

    from cfkit.faces.detector import dynamic_model_dir

    path = models["scrfd"]
    dyn = ort.InferenceSession(str(dynamic_model_dir(path) / path.name), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(2, 3, 640, 640)).astype(np.float32)
    got = dyn.run(None, {"input.1": x})
    want = ref.run(None, {"input.1": x[1:]})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.reshape(2, -1, g.shape[-1])[1], w[0], atol=1e-4)
    small = dyn.run(None, {"input.1": x[:, :, :160, :128]})
    assert small[0].shape[1] == 2 * 2 * (20 * 16)  # batch 2, 2 anchors, stride-8 grid of 160x128


def test_detector_agrees_with_insightface(detector, reference_app, t1_path, solvay):
    for path, n in ((t1_path, 6), (solvay, 29)):
        rgb = load_rgb(path)
        ours = detector.detect(rgb)
        ref = reference_app.get(np.ascontiguousarray(rgb[:, :, ::-1]))
        assert len(ours) == len(ref) == n
        for r in ref:  # every reference face has a twin within a few pixels
            d = min(np.abs(o.kps - r.kps).max() for o in ours)
            assert d < 0.02 * max(rgb.shape)


def test_batch_equals_single(detector, astronaut, t1_path):
    imgs = [astronaut, load_rgb(t1_path), astronaut[::2, ::2].copy()]
    batch = detector.detect_batch(imgs)
    for img, dets in zip(imgs, batch, strict=True):
        single = detector.detect(img)
        assert len(single) == len(dets) >= 1
        np.testing.assert_allclose(single[0].kps, dets[0].kps, atol=1e-3)


def test_arcface_template_equals_insightface_norm_crop(detector, astronaut):
    from insightface.utils.face_align import estimate_norm, norm_crop

    kps = detector.detect(astronaut)[0].kps
    for size in (112, 128, 224, 256):  # both of insightface's template rules
        aligned = align_face(astronaut, kps, size, "arcface")
        np.testing.assert_allclose(aligned.matrix, estimate_norm(kps, image_size=size), rtol=0, atol=1e-12)
        assert np.array_equal(aligned.image, norm_crop(astronaut, kps, image_size=size))
    np.testing.assert_allclose(template_eyes("arcface", 112), arcface_points(112)[:2], atol=1e-4)


def test_ffhq_quad_matches_the_ffhq_script(detector, astronaut):
    """Same crop as the FFHQ script's PIL QUAD transform of (quad + 0.5)."""
    kps = detector.detect(astronaut)[0].kps
    size = 256
    ours = align_face(astronaut, kps, size, "ffhq").image.astype(float)
    quad = ffhq_quad(kps) + 0.5
    ref = np.asarray(
        Image.fromarray(astronaut).transform((size, size), Image.Transform.QUAD, quad.flatten(), Image.BILINEAR)
    ).astype(float)
    inner = slice(16, -16)
    assert np.abs(ours[inner, inner] - ref[inner, inner]).mean() < 4.0
    eyes = align_face(astronaut, kps, size, "ffhq").kps[:2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 2.0  # eye line horizontal after alignment


def test_unknown_template_is_a_clear_error(astronaut):
    with pytest.raises(ValueError, match="unknown template"):
        align_face(astronaut, np.zeros((5, 2)), 128, "nope")
