"""``cfkit eval`` end to end on real faces (degraded copies as methods), protocols and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cfkit.evaluate.known_answer import stylise
from cfkit.imageio import list_images, load_rgb, save_png


@pytest.fixture(scope="module")
def e2e(face_sets, fid_weights, tmp_path_factory, asset, run_cli_module):
    for name in ("alexnet", "dlib-landmarks68", "dlib-identity"):
        asset(name)
    root = tmp_path_factory.mktemp("e2e")
    jpeg = root / "jpeg"  # one id missing, one extra, one output of another size
    jpeg.mkdir()
    files = list_images(face_sets["jpeg"])
    for p in files[1:]:
        (jpeg / p.name).write_bytes(p.read_bytes())
    save_png(jpeg / "stray.png", load_rgb(files[0]))
    big = load_rgb(files[2])
    save_png(jpeg / files[2].name, np.repeat(np.repeat(big, 2, 0), 2, 1))
    targets = root / "targets"  # the known answers: the stylised sources
    for p in list_images(face_sets["source"]):
        save_png(targets / p.name, stylise(load_rgb(p)))
    out = root / "out"
    rc, stdout, err = run_cli_module(
        "eval",
        "--methods",
        f"blur={face_sets['blur']},jpeg={jpeg}",
        "--source",
        face_sets["source"],
        "--reference",
        face_sets["reference"],
        "--targets",
        targets,
        "--out",
        out,
        "--fid-dims",
        "64",
        "--workers",
        "2",
        "--identity-backend",
        "dlib",
        "--no-cache",
    )
    assert rc == 0, err
    doc = json.loads((out / "metrics.json").read_text())
    return {"out": out, "stdout": stdout, "err": err, "doc": doc, "targets": targets}


@pytest.fixture(scope="module")
def run_cli_module():
    from cfkit.cli import main

    def run(*args):
        import contextlib
        import io

        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e), pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        return int(exc.value.code or 0), o.getvalue(), e.getvalue()

    return run


@pytest.mark.shared_data
def test_writes_every_output(e2e):
    out, doc = e2e["out"], e2e["doc"]
    for f in ("metrics.json", "per_image.csv", "report.md", "report.html"):
        assert (out / f).stat().st_size > 0
    for method in ("blur", "jpeg"):
        for name, r in doc["metrics"][method].items():
            assert r["value"] is not None and np.isfinite(r["value"]), (method, name, r)
            assert r["n"] >= 2 and len(r["ci"]) == 2
    assert doc["provenance"]["identity"]["backend"] == "dlib-resnet128"
    assert len(doc["provenance"]["inception"]["sha256"]) == 64 and doc["versions"]["torch"]
    assert doc["seed"] == 0
    assert doc["copy_input"]["l1_target"]["n"] == 10 and doc["targets"]["missing"] == []
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    md = (out / "report.md").read_text()
    assert "| blur |" in md and "**" in md
    # JPEG q=8 keeps less content than a sigma-1.5 blur? Either way LPIPS must rank the two differently
    assert doc["metrics"]["blur"]["lpips"]["value"] != doc["metrics"]["jpeg"]["lpips"]["value"]


@pytest.mark.shared_data
def test_unmatched_and_resized_reported(e2e, face_sets):
    doc = e2e["doc"]
    first = list_images(face_sets["source"])[0].stem
    assert doc["methods"]["jpeg"]["missing"] == [first] and doc["methods"]["jpeg"]["extra"] == ["stray"]
    assert "without output" in e2e["err"] and first in e2e["err"]
    assert doc["metrics"]["jpeg"]["lpips"]["n"] == 9 and doc["metrics"]["jpeg"]["lpips"]["resized_pairs"] >= 1


@pytest.mark.shared_data
def test_per_image_values_match_reference_libraries(e2e, face_sets):
    """per_image.csv LPIPS = lpips package on the same pair; identity = backend cosine on the same pair."""
    from cfkit.faces.identity import get_identity_backend
    from cfkit.nets.pretrained import lpips_model

    rows = list(csv.DictReader((e2e["out"] / "per_image.csv").open()))
    assert {r["method"] for r in rows} == {"blur", "jpeg", "copy_input"} and len(rows) == 29
    row = next(r for r in rows if r["method"] == "blur" and r["identity"])
    src = load_rgb(face_sets["source"] / f"{row['id']}.png")
    out = load_rgb(face_sets["blur"] / f"{row['id']}.png")
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
    with torch.no_grad():
        ref_lpips = float(lpips_model("alex")(t(src), t(out)))
    assert float(row["lpips"]) == pytest.approx(ref_lpips, rel=1e-5)
    backend = get_identity_backend("dlib")
    assert float(row["identity"]) == pytest.approx(float(backend.embed(src) @ backend.embed(out)), abs=1e-5)
    row = next(r for r in rows if r["method"] == "blur" and r["identity_target"])  # with --targets
    target, out = (load_rgb(p) for p in (e2e["targets"] / f"{row['id']}.png", face_sets["blur"] / f"{row['id']}.png"))
    assert float(row["identity_target"]) == pytest.approx(float(backend.embed(target) @ backend.embed(out)), abs=1e-5)


@pytest.mark.shared_data
def test_comparisons_cover_every_metric(e2e):
    """blur vs jpeg: a paired entry per metric; per-image diffs on the ids both translated, FID/KID by bootstrap."""
    doc = e2e["doc"]
    comps = {e["metric"]: e for e in doc["comparisons"]}
    assert set(comps) == set(doc["metric_info"]) and len(doc["comparisons"]) == len(comps)
    rows = list(csv.DictReader((e2e["out"] / "per_image.csv").open()))
    by = {m: {r["id"]: float(r["lpips"]) for r in rows if r["method"] == m} for m in ("blur", "jpeg")}
    common = sorted(set(by["blur"]) & set(by["jpeg"]))
    e = comps["lpips"]
    assert len(common) == 9 and (e["a"], e["b"], e["n"]) == ("blur", "jpeg", 9)
    assert e["diff"] == pytest.approx(np.mean([by["blur"][k] - by["jpeg"][k] for k in common]), rel=1e-5)
    assert e["p"] is not None and e["p_holm"] == e["p"]  # one pair: Holm changes nothing
    for k in ("fid", "kid"):
        s = comps[k]
        assert s["set_level"] and s["p"] is None and s["n"] == 9 and s["ci"][0] <= s["diff"] <= s["ci"][1]
    assert "significantly better" in e2e["stdout"]
    assert (e2e["out"] / "report.tex").read_text().count(r"\\") >= 3


def test_protocols_parse():
    from cfkit.evaluate.config import EvalConfig, protocol_layer
    from cfkit.options import command_options
    from cfkit.resources import resource_dir

    protocols = sorted(resource_dir("eval").glob("*.yaml"))
    assert protocols
    for p in protocols:
        cfg = command_options(EvalConfig, protocol_layer(p), flags={"out": "x"})
        assert cfg.metrics and cfg.out == "x"
    assert command_options(EvalConfig, protocol_layer("smoke")).fid_dims == 64  # bundled protocol by name
    for p in protocols:  # data under the working directory, never beside the project
        cfg = command_options(EvalConfig, protocol_layer(p))
        for path in filter(None, (cfg.source, cfg.reference, cfg.targets)):
            assert not Path(path).is_absolute() and ".." not in Path(path).parts, (p.name, path)


def test_protocol_run_and_unknown_key(package_sets, tmp_path, run_cli, asset):
    asset("alexnet")
    proto = tmp_path / "p.yaml"
    proto.write_text(f"source: {package_sets['source']}\nmetrics: [lpips]\nmax_images: 4\nbootstrap: 50\n")
    rc, out, err = run_cli(
        "eval", "--protocol", proto, "--methods", f"blur={package_sets['blur']}", "--out", tmp_path / "o"
    )
    assert rc == 0, err
    doc = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert doc["metrics"]["blur"]["lpips"]["n"] == 4 and "blur: lpips=" in out
    proto.write_text("sauce: x\n")
    rc, out, err = run_cli("eval", "--protocol", proto, "--methods", "a=.")
    assert rc == 2 and "unknown option(s) sauce" in err


def test_bad_input_is_one_clear_line(package_sets, tmp_path, run_cli):
    rc, _, err = run_cli("eval", "--methods", "x=/nonexistent", "--source", package_sets["source"])
    assert rc == 2 and "folder not found: /nonexistent" in err
    rc, _, err = run_cli("eval", "--methods", "ghost", "--source", package_sets["source"], "--out", tmp_path)
    assert rc == 2 and "results/ghost" in err and "cfkit translate" in err
    other = tmp_path / "other"
    other.mkdir()
    save_png(other / "zzz.png", np.zeros((8, 8, 3), np.uint8))
    rc, _, err = run_cli("eval", "--methods", f"o={other}", "--source", package_sets["source"])
    assert rc == 2 and "none of its 1 image ids match" in err and "zzz" in err
    rc, _, err = run_cli("eval", "--methods", "a=.", "--source", tmp_path / "nope")
    assert rc == 2 and "folder not found" in err
    assert "Traceback" not in err


def test_corrupt_output_is_skipped_with_reason(package_sets, tmp_path, asset):
    from cfkit.evaluate import run_eval

    asset("alexnet")
    m = tmp_path / "m"
    m.mkdir()
    for p in list_images(package_sets["blur"])[:3]:
        (m / p.name).write_bytes(p.read_bytes())
    bad = sorted(m.iterdir())[0]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    doc = run_eval(
        methods=[f"m={m}"], source=str(package_sets["source"]), metrics=["lpips"], out=str(tmp_path / "o"), workers=0
    )
    assert doc["decode_errors"][0]["file"] == str(bad) and doc["decode_errors"][0]["reason"] in ("corrupt", "not_image")
    assert doc["metrics"]["m"]["lpips"]["n"] == 2
    assert Path(tmp_path / "o" / "report.md").read_text().count("\n- skipped ") == 1


def test_landmark_error_ignores_output_resolution(e2e, face_sets):
    """The jpeg method's output for the third id is the source upscaled 2x: same face, so a small NME."""
    big_id = list_images(face_sets["jpeg"])[2].stem
    rows = {(r["method"], r["id"]): r for r in csv.DictReader((e2e["out"] / "per_image.csv").open())}
    nme = rows[("jpeg", big_id)]["landmark_nme"]
    assert nme not in ("", "nan") and float(nme) < 0.1


def test_out_with_other_files_or_an_earlier_evaluation_is_refused_unless_forced(package_sets, tmp_path, run_cli):
    src = package_sets["source"]
    args = ["eval", "--methods", f"b={package_sets['blur']}", "--source", src, "--targets", src]
    args += ["--metrics", "l1_target", "--max-images", "3", "--out"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("the user's notes")
    rc, _, err = run_cli(*args, mine)
    assert rc == 2 and "no record of writing" in err and "report.md" in err and "--force" in err
    assert [p.name for p in mine.iterdir()] == ["report.md"]
    out = tmp_path / "ev"
    assert run_cli(*args, out)[0] == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, _, err = run_cli(*args, out)  # a second run into the same folder
    assert rc == 2 and "earlier `cfkit eval`" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    rc, _, err = run_cli(*args, out, "--force")
    assert rc == 0, err
    from cfkit.fsutil import OUTPUTS_RECORD

    record = json.loads((out / OUTPUTS_RECORD).read_text())
    assert record["complete"] and sorted(record["files"]) == sorted(
        p.name for p in out.iterdir() if p.name != OUTPUTS_RECORD
    )
    assert {"metrics.json", "per_image.csv", "report.md", "report.html"} <= set(record["files"])


@pytest.mark.shared_data
def test_identity_of_small_aligned_faces_with_assume_aligned(face_sets, tmp_path, asset):
    """dlib's detector misses aligned 36 px faces; ``identity_assume_aligned`` embeds them from the face box."""
    import cv2

    from cfkit.evaluate import run_eval

    for name in ("dlib-landmarks68", "dlib-identity"):
        asset(name)
    small = tmp_path / "small"
    for p in list_images(face_sets["source"])[:4]:
        save_png(small / p.name, cv2.resize(load_rgb(p), (36, 36), interpolation=cv2.INTER_AREA))
    kw = {"methods": [f"same={small}"], "source": str(small), "metrics": ["identity"], "workers": 0}
    missed = run_eval(out=str(tmp_path / "a"), identity_backend="dlib", **kw)["metrics"]["same"]["identity"]
    doc = run_eval(out=str(tmp_path / "b"), identity_backend="dlib", identity_assume_aligned=True, **kw)
    found = doc["metrics"]["same"]["identity"]
    assert missed["failures"] >= 3 and found["n"] == 4 and found["failures"] == 0
    assert found["value"] == pytest.approx(1.0, abs=1e-5)  # the outputs are the sources
    assert doc["provenance"]["identity"]["assume_aligned"] is True
