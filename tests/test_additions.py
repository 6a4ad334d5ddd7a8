"""docs/design.md's "What an addition touches", one test per row: each adds a method, a feature and metric,
a dataset source or a model asset from this module (what its own module would hold) and uses it through the
public path (``cfkit train``/``translate``, ``eval``, ``prepare``, ``models``).

Entries are registered as ``@REGISTRY.register(name)`` does and removed after the test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage import data

from cfkit.imageio import list_images, load_rgb, save_png


def register(monkeypatch, registry, name: str, entry) -> None:
    """``@registry.register(name)`` on ``entry``, undone when the test ends (modules discovered first)."""
    registry.names()
    monkeypatch.setitem(registry._entries, name, entry)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Six 64 px crops of scikit-image's astronaut photo."""
    root = tmp_path_factory.mktemp("photos")
    img = data.astronaut()
    for k in range(6):
        y, x = 20 + 37 * k, 40 + 45 * k
        save_png(root / f"p{k}.png", img[y : y + 160 : 2, x : x + 160 : 2].copy())
    return root


def test_adding_a_method(photos, tmp_path, monkeypatch, run_cli):
    """A Method subclass registered in METHODS trains with ``cfkit train`` and translates with ``cfkit translate``."""
    from cfkit.methods.template import TemplateMethod
    from cfkit.train.method import METHODS

    class Added(TemplateMethod):
        name = "added-method"

    register(monkeypatch, METHODS, "added-method", Added)
    run, out = tmp_path / "run", tmp_path / "out"
    common = ("--device", "cpu")
    rc, _, err = run_cli(
        "train", "added-method", "--data-a", photos, "--data-b", photos, "--out", run, "--size", "32",
        "--batch", "2", "--iters", "2", "--width", "0.25", *common,
    )  # fmt: skip
    assert rc == 0, err
    run_json = json.loads((run / "run.json").read_text())
    assert run_json["method"] == "added-method" and run_json["status"] == "finished"
    rc, _, err = run_cli("translate", run, "--input", photos, "--out", out, *common)
    assert rc == 0, err
    assert [p.stem for p in list_images(out)] == [p.stem for p in list_images(photos)]
    assert load_rgb(out / "p0.png").shape == (32, 32, 3)


def test_adding_a_feature_and_a_metric(photos, tmp_path, monkeypatch, run_cli):
    """A per-image feature of outputs and reference images, and a metric comparing the two sets (as FID does
    with Inception features): in ``--list-metrics``, ``metrics.json``, ``per_image.csv`` and the report, with
    the values computed by hand."""
    from cfkit.evaluate.features import FEATURES, OUTPUT, REFERENCE, Feature
    from cfkit.evaluate.metrics import METRICS, default_metrics
    from cfkit.evaluate.metrics._base import Metric, mean_result

    class Brightness(Feature):
        name = "brightness"
        kinds = (OUTPUT, REFERENCE)

        def per_image(self, rgb, cfg):
            return float(rgb.mean() / 255)

    class BrightnessGap(Metric):
        """Per output: |its brightness - the reference set's mean brightness|."""

        name = "brightness_gap"
        label = "Brightness gap"
        needs = ("brightness",)
        default = False

        def compute(self, ctx):
            ref = np.mean(list(ctx.feature("brightness", REFERENCE).values()))
            out = ctx.feature("brightness")
            return mean_result({k: abs(out[k] - ref) for k in ctx.ids if k in out}, ctx)

    register(monkeypatch, FEATURES, "brightness", Brightness)
    register(monkeypatch, METRICS, "brightness_gap", BrightnessGap)
    assert "brightness_gap" not in default_metrics()
    rc, listed, _ = run_cli("eval", "--list-metrics")
    assert rc == 0 and "brightness_gap" in listed

    dark = tmp_path / "dark"
    for p in list_images(photos):
        save_png(dark / p.name, load_rgb(p) // 2)
    out = tmp_path / "eval"
    rc, _, err = run_cli(
        "eval", "--methods", f"dark={dark}", "--source", photos, "--reference", photos,
        "--metrics", "brightness_gap", "--out", out, "--workers", "0", "--device", "cpu",
    )  # fmt: skip
    assert rc == 0, err
    brightness = lambda folder: {p.stem: float(load_rgb(p).mean() / 255) for p in list_images(folder)}  # noqa: E731
    ref = np.mean(list(brightness(photos).values()))
    by_hand = {k: abs(v - ref) for k, v in brightness(dark).items()}
    result = json.loads((out / "metrics.json").read_text())["metrics"]["dark"]["brightness_gap"]
    assert result["value"] == pytest.approx(np.mean(list(by_hand.values())), rel=1e-12) and result["n"] == 6
    assert result["value"] > 0.1  # the halved images are darker than the reference
    per_image = pd.read_csv(out / "per_image.csv")
    assert "brightness_gap" in " ".join(per_image.columns)
    assert "Brightness gap" in (out / "report.md").read_text()


def test_adding_a_dataset_source(photos, tmp_path, monkeypatch, run_cli):
    """A Source subclass with its own profile: in ``cfkit prepare --help``, and ``cfkit prepare NAME`` builds it."""
    from cfkit.curate.cli import sources_help
    from cfkit.curate.profiles import Profile
    from cfkit.curate.sources import SOURCES, RawImage, Resolved, Source

    class Added(Source):
        name = "added-source"
        profile = Profile("flat", detectors=("centre",), photo=False)
        help = "scikit-image's astronaut, six crops (a test source)"

        def official(self, workdir, limit, options):
            files = list_images(photos)[:limit]
            return Resolved(self.name, [RawImage(p, str(p), self.name) for p in files], licence="public domain")

    register(monkeypatch, SOURCES, "added-source", Added)
    lines = sources_help()  # the source list of ``cfkit prepare --help`` (built with the CLI)
    assert any(ln.split()[:2] == ["added-source", "flat"] for ln in lines)
    out = tmp_path / "prepared"
    rc, _, err = run_cli("prepare", "added-source", "--out", out, "--size", "32", "--limit", "4", "--workers", "1")
    assert rc == 0, err
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) == 4 and set(manifest["source"]) == {"added-source"}
    assert all(load_rgb(out / "images" / f"{i}.png").shape == (32, 32, 3) for i in manifest["id"])


def test_adding_a_model_asset(tmp_path, monkeypatch, server, run_cli):
    """An Asset entry: listed by ``cfkit models list``, installed by ``models fetch`` and checked by ``verify``."""
    from cfkit.assets import ASSETS, Asset, UrlSource, asset_path

    monkeypatch.setenv("CFKIT_HOME", str(tmp_path / "home"))
    payload = bytes(range(256)) * 16
    sha = hashlib.sha256(payload).hexdigest()
    asset = Asset(
        name="added-asset",
        purpose="a test asset",
        licence="CC0",
        sources=(UrlSource(server.add("/a.bin", payload), sha, "a.bin"),),
    )
    register(monkeypatch, ASSETS, "added-asset", asset)
    rc, listed, _ = run_cli("models", "list")
    assert rc == 0 and any(ln.startswith("added-asset") and "not installed" in ln for ln in listed.splitlines())
    rc, _, err = run_cli("models", "fetch", "added-asset")
    assert rc == 0, err
    assert asset_path("added-asset").read_bytes() == payload
    rc, checked, _ = run_cli("models", "verify", "added-asset")
    assert rc == 0 and checked.startswith("ok ")
