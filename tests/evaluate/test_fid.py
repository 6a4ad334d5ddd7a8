"""Our FID against pytorch-fid (CLI and API) on identical random-init weights; cache, bad input, missing weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cfkit.evaluate.api import fid_folders
from cfkit.evaluate.config import EvalConfig
from cfkit.evaluate.extract import Item, extract
from cfkit.evaluate.features import REFERENCE
from cfkit.imageio import list_images


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def test_fid_equals_pytorch_fid_any_batch_size(fid_weights, package_sets):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    method, ref = str(package_sets["jpeg"]), str(package_sets["reference"])
    cli = subprocess.run(
        [sys.executable, "-m", "pytorch_fid", method, ref, "--dims", "64", "--device", "cpu", "--batch-size", "5"],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs_cli = float(cli.stdout.strip().split()[-1])
    theirs_api = calculate_fid_given_paths([method, ref], 7, "cpu", 64, num_workers=0)
    fast = [
        fid_folders(method, ref, fid_dims=64, batch_size=bs, workers=w, cache=False)["fid"]
        for bs, w in ((1, 0), (5, 2), (64, 0))
    ]
    exact = [
        fid_folders(method, ref, fid_dims=64, batch_size=bs, workers=0, cache=False, fid_exact=True)["fid"]
        for bs in (1, 64)
    ]
    assert theirs_cli > 1e-3 and np.isfinite(theirs_cli)  # non-trivial on random weights
    for v in fast:  # folded BatchNorm, channels_last, eigenvalue trace
        assert _rel(v, theirs_cli) < 1e-5 and _rel(v, theirs_api) < 1e-5
    for v in exact:  # pytorch-fid's network and sqrtm
        assert _rel(v, theirs_cli) < 1e-8 and _rel(v, theirs_api) < 1e-8


@pytest.mark.parametrize("exact", [False, True])
def test_pool3_features_equal_pytorch_fid_activations(fid_weights, package_sets, exact):
    """2048-d pool features (the standard FID layer) match pytorch-fid's get_activations and vary across images."""
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    files = list_images(package_sets["source"])[:4]
    res = extract(
        [Item(p.stem, {REFERENCE: p}) for p in files],
        [REFERENCE],
        {"inception"},
        EvalConfig(fid_dims=2048, batch_size=4, workers=0, device="cpu", fid_exact=exact),
    )
    ours = np.stack([res.feature("inception", REFERENCE)[p.stem] for p in files])
    theirs = get_activations(files, InceptionV3([3]).eval(), batch_size=3, dims=2048, device="cpu", num_workers=0)
    assert ours.shape == (4, 2048) and np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if exact else 1e-4, atol=1e-6)
    assert (ours.std(axis=0) > 1e-4).mean() > 0.5  # random-init features are not degenerate


def test_reference_cache_is_a_pytorch_fid_npz(fid_weights, package_sets, tmp_path, monkeypatch):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    monkeypatch.setenv("CFKIT_HOME", str(tmp_path / "home"))
    method, ref = str(package_sets["blur"]), str(package_sets["reference"])
    first = fid_folders(method, ref, fid_dims=64, workers=0)
    second = fid_folders(method, ref, fid_dims=64, workers=0)
    assert first["reference"]["cached"] is False and second["reference"]["cached"] is True
    assert second["images_decoded"] == first["n"]  # the reference was not decoded again
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-12)
    npz = second["reference"]["cache_file"]
    theirs = calculate_fid_given_paths([method, npz], 50, "cpu", 64, num_workers=0)
    assert _rel(second["fid"], theirs) < 1e-6
    with_npz = fid_folders(method, npz, fid_dims=64, workers=0)
    assert with_npz["fid"] == pytest.approx(first["fid"], rel=1e-12)


@pytest.mark.parametrize("n1,n2", [(40, 300), (300, 250), (30, 25)])
def test_eigenvalue_frechet_distance_equals_pytorch_fid_sqrtm(n1, n2):
    """Fewer images than dimensions on one side, both, or neither: every factorisation path agrees with sqrtm."""
    from cfkit.evaluate.features.inception import statistics
    from cfkit.evaluate.metrics.fid import frechet_distance, pytorch_fid_distance

    rng = np.random.default_rng(n1)
    mix = rng.normal(size=(16, 64))
    x = rng.random((n1, 64)) + rng.normal(size=(n1, 16)) @ mix * 0.3
    y = rng.random((n2, 64)) * 1.2 + rng.normal(size=(n2, 16)) @ mix * 0.1
    (m1, s1), (m2, s2) = statistics(x), statistics(y)
    theirs = pytorch_fid_distance(m1, s1, m2, s2)
    assert frechet_distance(m1, s1, m2, s2, exact=True) == theirs
    for f1, f2 in ((None, None), (x, None), (None, y), (x, y)):
        assert _rel(frechet_distance(m1, s1, m2, s2, f1, f2), theirs) < 1e-7


def test_lowrank_bootstrap_formula_equals_frechet_distance():
    from cfkit.evaluate.features.inception import statistics
    from cfkit.evaluate.metrics.fid import fid_lowrank, frechet_distance, sigma_factor

    rng = np.random.default_rng(0)
    x, y = rng.random((80, 12)), rng.random((90, 12)) + 0.05
    (m1, s1), (m2, s2) = statistics(x), statistics(y)
    exact = frechet_distance(m1, s1, m2, s2, exact=True)
    for feats in (y, None):
        b = sigma_factor(s2, feats)
        assert fid_lowrank(x, m2, float(np.trace(s2)), b) == pytest.approx(exact, rel=1e-9)


def test_singular_covariances_handled_as_pytorch_fid():
    """Two images in 64-d: singular covariances; pytorch-fid's eps retry gives a finite real value."""
    from cfkit.evaluate.features.inception import statistics
    from cfkit.evaluate.metrics.fid import frechet_distance

    rng = np.random.default_rng(1)
    (m1, s1), (m2, s2) = statistics(rng.random((2, 64))), statistics(rng.random((3, 64)))
    exact, fast = frechet_distance(m1, s1, m2, s2, exact=True), frechet_distance(m1, s1, m2, s2)
    assert np.isfinite(exact) and isinstance(exact, float)
    assert _rel(fast, exact) < 1e-5


def test_missing_weights_fid_unavailable_others_run(package_sets, tmp_path, monkeypatch, asset):
    from cfkit.evaluate import run_eval

    asset("alexnet")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    doc = run_eval(
        methods=[f"blur={package_sets['blur']}"],
        source=str(package_sets["source"]),
        reference=str(package_sets["reference"]),
        metrics=["fid", "kid", "lpips"],
        out=str(tmp_path / "out"),
        workers=0,
        bootstrap=50,
    )
    res = doc["metrics"]["blur"]
    for k in ("fid", "kid"):
        assert res[k]["value"] is None and "cfkit models fetch fid-inception" in res[k]["unavailable"]
    assert res["lpips"]["value"] > 0 and res["lpips"]["n"] == 12
    assert "unavailable" in (tmp_path / "out" / "report.md").read_text()


def test_too_few_images_is_reported_not_a_crash(fid_weights, package_sets, tmp_path):
    from cfkit.evaluate import run_eval

    one = tmp_path / "one"
    one.mkdir()
    src = list_images(package_sets["jpeg"])[0]
    (one / src.name).write_bytes(src.read_bytes())
    doc = run_eval(
        methods=[f"one={one}"],
        source=str(package_sets["source"]),
        reference=str(package_sets["reference"]),
        metrics=["fid", "kid", "lpips_diversity"],
        fid_dims=64,
        out=str(tmp_path / "out"),
        workers=0,
        cache=False,
    )
    res = doc["metrics"]["one"]
    assert "FID needs >= 2 images (got 1)" in res["fid"]["unavailable"]
    assert "KID needs >= 2 images" in res["kid"]["unavailable"]
    assert "needs >= 2 outputs" in res["lpips_diversity"]["unavailable"]
    assert len(doc["methods"]["one"]["missing"]) == 11
