"""``cfkit prepare`` end to end on real photos: bad inputs, EXIF, policies, dedupe, resume, shards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cfkit.curate import merge, prepare
from cfkit.curate.split import split_of
from cfkit.imageio import load_rgb

DECODE_REASONS = {"empty", "not_image", "corrupt", "too_large", "unreadable"}


def journal(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((out / "journal").rglob("*.parquet"))], ignore_index=True)


def face_crops(solvay: Path, n: int) -> list[np.ndarray]:
    """``n`` distinct single-face photos cut from the Solvay conference picture."""
    from cfkit.faces.detector import FaceDetector

    rgb = load_rgb(solvay)
    dets = sorted(FaceDetector(threads=1).detect(rgb), key=lambda d: -d.area)[:n]
    crops = []
    for d in dets:
        cx, cy = (d.box[:2] + d.box[2:]) / 2
        r = int(max(d.box[2] - d.box[0], d.box[3] - d.box[1]) * 1.3)
        crops.append(rgb[max(0, int(cy) - r) : int(cy) + r, max(0, int(cx) - r) : int(cx) + r].copy())
    return crops


def test_bad_inputs_are_skipped_with_reasons(models, solvay, tmp_path, save):
    src = tmp_path / "src"
    faces = face_crops(solvay, 6)
    save(src / "rgb.png", faces[0])
    Image.fromarray(faces[1]).convert("CMYK").save(src / "cmyk.jpg")
    grey16 = (np.asarray(Image.fromarray(faces[2]).convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(src / "grey16.png")
    assert Image.open(src / "grey16.png").mode.startswith("I")
    Image.fromarray(faces[3]).convert("P", palette=Image.Palette.ADAPTIVE).save(src / "palette.png")
    rgba = np.dstack([faces[4], np.full(faces[4].shape[:2], 255, np.uint8)])
    rgba[:8, :, 3] = 0
    save(src / "alpha.png", rgba)
    Image.fromarray(faces[5]).convert("L").save(src / "grey.jpg")
    full = (src / "rgb.png").read_bytes()
    (src / "bad").mkdir()
    (src / "bad" / "truncated.png").write_bytes(full[: len(full) // 3])
    (src / "bad" / "page.jpg").write_text("<html><body>not an image</body></html>")
    (src / "bad" / "zero.png").write_bytes(b"")
    Image.new("1", (9000, 9000)).save(src / "bad" / "bomb.png")  # 81 MP
    res = prepare("folder", src, tmp_path / "out", workers=1)
    rows = journal(tmp_path / "out").set_index("origin")
    reason = {Path(o).name: r for o, r in rows["reason"].items()}
    assert reason["truncated.png"] == "corrupt"
    assert reason["page.jpg"] == "not_image"
    assert reason["zero.png"] == "empty"
    assert reason["bomb.png"] == "too_large"
    for name in ("rgb.png", "cmyk.jpg", "grey16.png", "palette.png", "alpha.png", "grey.jpg"):
        assert reason[name] not in DECODE_REASONS, name  # decoded: kept or judged on the face itself
    assert res.kept >= 4
    card = (tmp_path / "out" / "card.md").read_text()
    for r in ("corrupt", "not_image", "empty", "too_large"):
        assert f"| {r} | 1 |" in card
    manifest = pd.read_parquet(res.manifest)
    assert sorted(p.stem for p in (tmp_path / "out" / "images").glob("*.png")) == sorted(manifest["id"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_unreadable_folder_is_a_clear_error(tmp_path, run_cli):
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        rc, _, err = run_cli("prepare", "folder", "--src", d, "--out", tmp_path / "o")
    finally:
        d.chmod(0o755)
    assert rc != 0 and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1


def test_whole_input_unusable_is_one_line_and_nonzero(models, tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_text("hello")
    (src / "b.png").write_bytes(b"")
    rc, _, err = run_cli("prepare", "folder", "--src", src, "--out", tmp_path / "o", "--workers", "1")
    assert rc != 0
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: no usable face in 2 inputs (empty 1, not_image 1)")
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "missing", "--out", tmp_path / "o2")
    assert rc != 0 and "not found" in err and "Traceback" not in err


def test_exif_rotated_photo_is_upright_after_alignment(models, astronaut, tmp_path, save):
    src = tmp_path / "src"
    save(src / "upright.png", astronaut)
    rotated = np.ascontiguousarray(np.rot90(astronaut, k=1))  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... and tagged "rotate 90 CW to display"
    Image.fromarray(rotated).save(src / "sideways.jpg", exif=exif, quality=95)
    for tag, k in ((6, 1), (8, -1)):  # 6: stored turned 90° counter-clockwise; 8: turned 90° clockwise
        exif = Image.Exif()
        exif[0x0112] = tag
        Image.fromarray(np.ascontiguousarray(np.rot90(astronaut, k=k))).save(
            tmp_path / f"o{tag}.jpg", exif=exif, quality=95
        )
        got = load_rgb(tmp_path / f"o{tag}.jpg").astype(float)
        assert np.abs(got - astronaut).mean() < 8.0, tag  # upright pixel for pixel (JPEG noise aside) ...
        assert np.abs(got - astronaut[::-1, ::-1]).mean() > 30.0, tag  # ... not upside down (90 vs 270 mixed up)
    for name in ("upright.png", "sideways.jpg"):
        out = tmp_path / name
        sub = tmp_path / f"in-{name}"
        sub.mkdir()
        shutil.copy(src / name, sub / name)
        prepare("folder", sub, out, workers=1)
    a = load_rgb(next((tmp_path / "upright.png" / "images").glob("*.png"))).astype(float)
    b = load_rgb(next((tmp_path / "sideways.jpg" / "images").glob("*.png"))).astype(float)
    assert np.abs(a - b).mean() < 8.0  # the same upright face (JPEG noise aside)
    lm = np.asarray(pd.read_parquet(tmp_path / "sideways.jpg" / "manifest.parquet")["landmarks68"][0]).reshape(68, 2)
    assert lm[36:48, 1].mean() < lm[48:68, 1].mean()  # eyes above the mouth


def test_face_policies(models, t1_path, tmp_path, save):
    from skimage import data

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(t1_path, src / "t1.jpg")
    save(src / "coffee.png", data.coffee())  # no face
    got = {}
    for policy in ("largest", "all", "skip"):
        out = tmp_path / policy
        if policy == "skip":
            with pytest.raises(Exception, match="no usable face"):
                prepare("folder", src, out, policy=policy, workers=1)
        else:
            prepare("folder", src, out, policy=policy, workers=1)
        rows = journal(out)
        got[policy] = rows
        assert set(rows.loc[rows["origin"].str.endswith("coffee.png"), "reason"]) == {"no_face"}
    assert (got["largest"]["status"] == "kept").sum() == 1
    all_rows = got["all"][got["all"]["origin"].str.endswith("t1.jpg")]
    assert len(all_rows) == 6 and set(all_rows["n_faces"]) == {6}
    assert set(got["skip"].loc[got["skip"]["origin"].str.endswith("t1.jpg"), "reason"]) == {"multiple_faces"}
    manifest = pd.read_parquet(tmp_path / "all" / "manifest.parquet")
    assert set(manifest["policy"]) == {"all"} and manifest["id"].is_unique


def test_exact_and_near_duplicates_are_dropped_before_splitting(models, astronaut, t1_path, tmp_path, save):
    src = tmp_path / "src"
    save(src / "a.png", astronaut)
    shutil.copy(src / "a.png", src / "a_copy.png")
    small = Image.fromarray(astronaut).resize((400, 400), Image.LANCZOS)
    small.save(src / "a_small.jpg", quality=85)
    shutil.copy(t1_path, src / "t1.jpg")
    res = prepare("folder", src, tmp_path / "out", workers=1)
    assert res.kept == 2
    assert res.rejected.get("duplicate_sha256") == 1 and res.rejected.get("near_duplicate") == 1
    manifest = pd.read_parquet(res.manifest)
    assert manifest["phash"].is_unique and manifest["sha256"].is_unique
    card = (tmp_path / "out" / "card.md").read_text()
    assert "near_duplicate" in card and "duplicate_sha256" in card


def test_splits_are_deterministic():
    splits = (("train", 0.8), ("val", 0.1), ("test", 0.1))
    ids = [f"{i:016x}" for i in range(2000)]
    a = [split_of(i, 0, splits) for i in ids]
    assert a == [split_of(i, 0, splits) for i in ids]
    b = [split_of(i, 1, splits) for i in ids]
    assert a != b
    assert 0.75 < a.count("train") / len(a) < 0.85 and a.count("test") > 100


@pytest.fixture(scope="module")
def celeba_src(models, solvay, shared_faces, tmp_path_factory):
    """72 CelebA faces (128 px) from ../shared/data, else 24 faces cut from the Solvay photo."""
    d = tmp_path_factory.mktemp("faces")
    if shared_faces:
        for f in sorted(shared_faces.rglob("*.jpg"))[:72]:
            (d / f.name).symlink_to(f)
    else:
        for i, crop in enumerate(face_crops(solvay, 24)):
            Image.fromarray(crop).save(d / f"solvay_{i:02d}.png")
    return d


@pytest.fixture(scope="module")
def celeba_full(models, celeba_src, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    prepare("folder", celeba_src, out, workers=1)
    return out


def test_rerun_is_idempotent(celeba_src, celeba_full):
    before = pd.read_parquet(celeba_full / "manifest.parquet")
    card = (celeba_full / "card.md").read_text()
    prepare("folder", celeba_src, celeba_full, workers=1)
    after = pd.read_parquet(celeba_full / "manifest.parquet")
    pd.testing.assert_frame_equal(before, after)
    assert (celeba_full / "card.md").read_text() == card


def test_killed_run_resumes_without_duplicates_or_loss(celeba_src, celeba_full, tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "cfkit",
        "-q",
        "prepare",
        "folder",
        "--src",
        str(celeba_src),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "journal").rglob("part-*.parquet")):
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    parts = list((out / "journal").rglob("part-*.parquet"))
    assert 1 <= len(parts) < 5, "the kill should land mid-run"
    assert not (out / "manifest.parquet").exists()
    res = prepare("folder", celeba_src, out, workers=1)
    resumed = pd.read_parquet(res.manifest)
    full = pd.read_parquet(celeba_full / "manifest.parquet")
    assert resumed["id"].is_unique and list(resumed["id"]) == list(full["id"])
    assert list(resumed["split"]) == list(full["split"])
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == sorted(resumed["id"])
    assert not list((out / "images").glob(".*"))  # no partial files left behind


def test_shards_merge_into_the_single_run_manifest(celeba_src, celeba_full, tmp_path):
    out = tmp_path / "sharded"
    r0 = prepare("folder", celeba_src, out, shard="0/2", workers=1)
    assert r0.manifest is None and (out / "shards" / "shard-0-of-2.parquet").is_file()
    with pytest.raises(Exception, match="shard.s. 1/2 not prepared"):
        merge(out)
    other = tmp_path / "elsewhere"  # e.g. another machine's output, copied back
    prepare("folder", celeba_src, other, shard="1/2", workers=1)
    merged = pd.read_parquet(merge(out, [other]).manifest)
    full = pd.read_parquet(celeba_full / "manifest.parquet")
    assert list(merged["id"]) == list(full["id"]) and list(merged["split"]) == list(full["split"])
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == sorted(merged["id"])
    assert "rejections by reason" in (out / "card.md").read_text().lower()


@pytest.fixture(scope="module")
def apdrawing(models, shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("apdrawing")
    src = shared_data / "photos" / "apdrawing_testsingle512" / "data" / "test_single"
    res = prepare("folder", src, out, mask=True, workers=2)
    return out, res


def test_eye_alignment_on_real_photos(apdrawing):
    out, res = apdrawing
    assert res.kept >= 35
    assert res.eye_within_tolerance >= 0.95
    card = (out / "card.md").read_text()
    assert f"{res.eye_within_tolerance * 100:.1f}% of faces" in card
    manifest = pd.read_parquet(out / "manifest.parquet")
    for col in (
        "id",
        "source",
        "origin",
        "sha256",
        "phash",
        "landmarks5",
        "landmarks68",
        "lm5",
        "lm_source",
        "det_score",
        "blur",
        "yaw",
        "split",
        "license",
        "policy",
        "template",
        "size",
    ):
        assert col in manifest, col
    assert sorted(p.stem for p in (out / "masks").glob("*.png")) == sorted(manifest["id"])
    assert set(manifest["lm_source"]) == {"dlib68"}  # photos: the 5-point scheme from dlib's 68 points


def test_mask_command(apdrawing, run_cli):
    out, _ = apdrawing
    first = next((out / "masks").glob("*.png"))
    first.unlink()
    rc, _, err = run_cli("mask", out, "--method", "landmarks")
    assert rc == 0 and first.is_file()
    m = np.asarray(Image.open(first))
    assert 0.2 < (m > 0).mean() < 0.8
    rc, _, err = run_cli("mask", out, "--method", "unet")
    assert rc != 0 and "--checkpoint" in err and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1
    rc, _, err = run_cli("mask", out, "--method", "nope")
    assert rc != 0 and "unknown mask method" in err


def test_anime_source_falls_back_to_centre_crop(models, shared_data, monkeypatch):
    # prepare's workers run FaceAligner with the anime profile's detectors; an unusable animeface install
    # (blocked here, in this process) must give centre crops whose note keeps the first reason, also past
    # the probe's first images
    from cfkit.curate.profiles import ANIME
    from cfkit.faces.aligner import FaceAligner

    monkeypatch.setitem(sys.modules, "animeface", None)
    files = sorted((shared_data / "cartoons" / "anime_getchu64").rglob("*.jpg"))[:10]
    aligner = FaceAligner(size=64, detectors=ANIME.detectors, refine=False, measure=False)
    found = aligner._detections([load_rgb(f) for f in files])
    assert [name for name, _, _ in found] == ["centre"] * len(files)
    assert all("animeface not importable" in note for _, _, note in found), found


def test_align_command(models, t1_path, tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(t1_path, src / "t1.jpg")
    rc, out, err = run_cli(
        "align",
        src,
        "--out",
        tmp_path / "al",
        "--size",
        "112",
        "--template",
        "arcface",
        "--policy",
        "all",
        "--workers",
        "1",
    )
    assert rc == 0, err
    files = sorted((tmp_path / "al").glob("*.png"))
    assert len(files) == 6 and load_rgb(files[0]).shape == (112, 112, 3)
    table = pd.read_csv(tmp_path / "al" / "alignment.csv")
    assert (table["status"] == "kept").sum() == 6


def test_changed_options_on_the_same_output_are_refused(models, astronaut, tmp_path, save):
    src = tmp_path / "src"
    save(src / "a.png", astronaut)
    prepare("folder", src, tmp_path / "out", workers=1)
    with pytest.raises(Exception, match="other options"):
        prepare("folder", src, tmp_path / "out", size=64, workers=1)


def test_unreadable_file_is_skipped_with_its_reason(models, astronaut, tmp_path, save, monkeypatch):
    """A path that cannot be opened (here a folder named like an image) is a rejection, not a crash."""
    from cfkit.curate import pipeline
    from cfkit.curate.sources import RawImage

    good = save(tmp_path / "a.png", astronaut)
    (tmp_path / "dir.jpg").mkdir()
    raws = [RawImage(good, str(good), "folder"), RawImage(tmp_path / "dir.jpg", str(tmp_path / "dir.jpg"), "folder")]
    monkeypatch.setattr(pipeline, "_raw_images", lambda *a: (raws, [], None))
    res = pipeline.prepare("folder", tmp_path / "in", tmp_path / "out", workers=1)  # inputs patched above
    assert res.kept == 1 and res.rejected == {"unreadable": 1}
    assert "| unreadable | 1 |" in (tmp_path / "out" / "card.md").read_text()


def test_wild_photos_face_counts(models, shared_data, tmp_path):
    """Multi-face and no-face photos of ../shared/data/wild (counts from WILD_NOTES.tsv)."""
    wild = shared_data / "wild"
    expect = {
        "face_alignment/test/assets/grass.jpg": 0,
        "insightface/cpp-package/inspireface/test_res/data/bulk/view.jpg": 0,
        "insightface/cpp-package/inspireface/test_res/data/crop/no_face.png": 0,
        "deepface/tests/unit/dataset/couple.jpg": 2,
        "face_recognition/examples/two_people.jpg": 2,
        "insightface/python-package/insightface/data/images/t1.jpg": 6,
    }
    src = tmp_path / "src"
    src.mkdir()
    for i, rel in enumerate(expect):
        (src / f"{i}_{Path(rel).name}").symlink_to(wild / rel)
    prepare("folder", src, tmp_path / "out", policy="all", workers=1)
    rows = journal(tmp_path / "out")
    for i, (rel, n) in enumerate(expect.items()):
        got = rows[rows["origin"].str.endswith(f"{i}_{Path(rel).name}")]
        if n == 0:
            assert list(got["reason"]) == ["no_face"], rel
        else:
            assert len(got) == n and set(got["n_faces"]) == {n}, rel


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--template", "nope"), "unknown template 'nope'"),
        (("--policy", "nope"), "unknown face policy 'nope'"),
        (("--shard", "3/2"), "need 0 <= i < n"),
        (("--mask", "--mask-method", "unet"), "--checkpoint"),
        (("--set", "quality.min_blurr=3"), "--set.quality: unknown option(s) min_blurr"),
        (("--set", "size=big"), "size must be an integer (got 'big')"),
        (("--set", "splits=[[train,0],[val,0]]"), "split sizes must be >= 0 and add up to more than 0"),
        (("--set", "splits=[[train,-0.5],[val,1.5]]"), "split sizes must be >= 0"),
        (("--set", "splits=[[train,1],[train,1]]"), "splits must name distinct non-empty splits"),
        (("-o", "max_memberz=5"), "folder: unknown source option(s) max_memberz (known: allow_hosts,"),
        (("-o", "max_members=many"), "max_members must be an integer (got 'many')"),
    ],
)
def test_bad_options_are_one_line_errors_before_any_work(models, astronaut, tmp_path, save, run_cli, args, message):
    save(tmp_path / "src" / "a.png", astronaut)
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "src", "--out", tmp_path / "out", *args)
    assert rc != 0 and err.strip().startswith("error:") and message in err
    assert not (tmp_path / "out").exists()


def test_mask_command_with_unet_uses_the_trained_model(apdrawing, run_cli, tmp_path, asset):
    """``--method unet`` runs the checkpoint's own U-Net: a briefly trained one gives the masks its network
    computes, and editing the checkpoint's weights (head forced to "all face" / "no face") changes them."""
    import torch

    from cfkit.methods.cartoongan_mask import predict_masks
    from cfkit.runs.checkpoint import latest
    from cfkit.train import train

    asset("vgg16")
    prepared, res = apdrawing
    data = tmp_path / "data"
    shutil.copytree(prepared, data)  # the module's dataset stays as it was
    hp = {"method": {"init_epochs": 1, "unet_epochs": 2, "epochs": 3, "unet_width": 0.25}}
    run = train(
        "cartoongan-mask",
        data,
        data,
        out=str(tmp_path / "run"),
        size=32,
        width=0.125,
        batch=2,
        iters=3,
        set=hp,
        substitute={"vgg19": "vgg16"},
    )
    ids = list(pd.read_parquet(data / "manifest.parquet")["id"])
    images = [load_rgb(data / "images" / f"{i}.png") for i in ids]

    def masks_written(checkpoint) -> list[np.ndarray]:
        rc, _, err = run_cli("mask", data, "--method", "unet", "--checkpoint", checkpoint)
        assert rc == 0, err
        assert set(pd.read_parquet(data / "manifest.parquet")["mask"]) == {"unet"}
        return [np.asarray(Image.open(data / "masks" / f"{i}.png")) for i in ids]

    got = masks_written(run)
    assert len(got) == res.kept
    assert all(np.array_equal(a, b) for a, b in zip(got, predict_masks(run, images), strict=True))
    state = torch.load(latest(run), weights_only=True)
    for bias, expect in ((8.0, 255), (-8.0, 0)):
        for nets in (state["nets"], state.get("ema", {})):
            if "U" in nets:
                nets["U"]["head.weight"].zero_()
                nets["U"]["head.bias"].fill_(bias)
        edited = tmp_path / f"edited{bias:+.0f}.pt"
        torch.save(state, edited)
        assert all((m == expect).all() for m in masks_written(edited))


def test_options_file_and_set_reach_the_run(models, astronaut, tmp_path, save, run_cli):
    """Defaults < --options FILE < flags < --set: the file's size and policy, a flag's template, --set's blur."""
    import json

    save(tmp_path / "src" / "a.png", astronaut)
    opts = tmp_path / "opts.yaml"
    opts.write_text("size: 64\npolicy: all\ntemplate: ffhq\nquality: {min_blur: 99999}\n")
    out = tmp_path / "out"
    args = ("--options", opts, "--template", "arcface", "--set", "quality.min_blur=0", "--workers", "1")
    rc, _, err = run_cli("prepare", "folder", "--src", tmp_path / "src", "--out", out, *args)
    assert rc == 0, err
    recorded = json.loads((out / "journal" / "all" / "options.json").read_text())
    assert (recorded["size"], recorded["policy"], recorded["template"]) == (64, "all", "arcface")
    assert recorded["quality"]["min_blur"] == 0  # the file's 99999 would have rejected the face as blurry
    assert len(list((out / "images").glob("*.png"))) == 1


def test_prepare_records_where_its_workers_time_goes(celeba_full):
    import json

    (path,) = (celeba_full / "journal").glob("*/seconds.json")
    seconds = json.loads(path.read_text())
    # photos without masks: every stage but "mask", each timed
    assert set(seconds) == {"decode", "detect", "align", "landmarks", "quality", "write"}
    assert all(v > 0 for v in seconds.values())
    line = next(s for s in (celeba_full / "card.md").read_text().splitlines() if s.startswith("- worker time"))
    stages = [part.split()[0] for part in line.split(": ", 1)[1].split(", ")]
    assert stages == ["decode", "detect", "align", "landmarks", "quality", "write"]  # pipeline order
