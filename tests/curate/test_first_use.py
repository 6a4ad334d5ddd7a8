"""First use: ``cfkit prepare folder`` on an empty asset cache fetches the models it needs, no other command.

The official locations are replaced by a 127.0.0.1 mirror serving the real files (taken from the test
cache), so the download path -- progress, checksum, licence line, install record -- runs for real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import pandas as pd

from cfkit.assets import ASSETS, UrlSource


def _mirror(server, monkeypatch, files: dict) -> None:
    for name, path in files.items():
        data = path.read_bytes()
        url = server.add(f"/{name}/{path.name}", data, ctype="application/octet-stream")
        src = UrlSource(url, hashlib.sha256(data).hexdigest(), path.name)
        monkeypatch.setitem(ASSETS._entries, name, dataclasses.replace(ASSETS.get(name), sources=(src,)))


def test_prepare_on_an_empty_cache_fetches_its_models(
    models, astronaut, t1_path, tmp_path, save, server, monkeypatch, run_cli
):
    _mirror(server, monkeypatch, {"scrfd": models["scrfd"], "dlib-landmarks68": models["lm68"]})
    monkeypatch.setenv("CFKIT_HOME", str(tmp_path / "fresh-home"))
    src = tmp_path / "src"
    save(src / "astronaut.png", astronaut)
    shutil.copyfile(t1_path, src / "t1.jpg")

    monkeypatch.setenv("CFKIT_OFFLINE", "0")  # restored after the test (--offline sets it in-process)
    rc, _, err = run_cli("--offline", "prepare", "folder", "--src", src, "--out", tmp_path / "off", "--workers", "1")
    assert rc == 2 and "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        "error: model asset 'scrfd' is not available (offline: CFKIT_OFFLINE is set); run: cfkit models fetch scrfd"
    ]
    assert server.log == []

    monkeypatch.setenv("CFKIT_OFFLINE", "0")
    rc, out, err = run_cli("prepare", "folder", "--src", src, "--out", tmp_path / "out", "--workers", "1")
    assert rc == 0, err
    assert "scrfd: licence: Apache-2.0" in err and "dlib-landmarks68: licence: CC0" in err
    assert len(pd.read_parquet(tmp_path / "out" / "manifest.parquet")) == 2  # astronaut + t1's largest face
    assert [h.path for h in server.log] == ["/scrfd/scrfd.onnx", f"/dlib-landmarks68/{models['lm68'].name}"]

    rc, _, err = run_cli("prepare", "folder", "--src", src, "--out", tmp_path / "again", "--workers", "1")
    assert rc == 0 and len(server.log) == 2  # installed once, used from then on
