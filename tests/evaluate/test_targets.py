"""Paired evaluation (``--targets``): L1 and LPIPS to the known answers, the copy-the-input baseline, bad targets."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cfkit.errors import InputError
from cfkit.evaluate.known_answer import stylise
from cfkit.imageio import list_images, load_rgb, save_png


@pytest.fixture(scope="module")
def paired(package_sets, tmp_path_factory, asset):
    """Stylised targets of the 12 package photos, less two ids, one at twice the size; an ``oracle`` method
    whose outputs are the targets themselves; ``cfkit eval`` run on them."""
    from cfkit.cli import main

    asset("alexnet")
    root = tmp_path_factory.mktemp("paired")
    sources = list_images(package_sets["source"])
    targets, oracle = root / "targets", root / "oracle"
    for i, p in enumerate(sources[:-2]):
        t = stylise(load_rgb(p))
        if i == 1:
            t = np.asarray(Image.fromarray(t).resize((128, 128), Image.LANCZOS))
        save_png(targets / p.name, t)
        save_png(oracle / p.name, t)
    out = root / "out"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "eval",
                "--methods",
                f"blur={package_sets['blur']},jpeg={package_sets['jpeg']},oracle={oracle}",
                "--source",
                str(package_sets["source"]),
                "--targets",
                str(targets),
                "--metrics",
                "l1_target,lpips_target",
                "--workers",
                "1",
                "--out",
                str(out),
            ]
        )
    assert int(exc.value.code or 0) == 0
    rows = {(r["method"], r["id"]): r for r in csv.DictReader((out / "per_image.csv").open())}
    doc = json.loads((out / "metrics.json").read_text())
    return {"sources": sources, "targets": targets, "out": out, "rows": rows, "doc": doc}


@pytest.fixture(scope="module")
def lpips_direct(paired):
    """lpips' own image conversion and model (on cfkit's AlexNet weights, as the ``lpips`` metric uses)."""
    import lpips

    from cfkit.nets.pretrained import lpips_model

    model = lpips_model("alex")

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        with torch.no_grad():
            return float(model(lpips.im2tensor(a), lpips.im2tensor(b)))

    return distance


def _l1_direct(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a / 255.0 - b / 255.0).mean())


def test_target_metrics_equal_direct_computation(paired, package_sets, lpips_direct):
    rows, doc = paired["rows"], paired["doc"]
    for method in ("blur", "jpeg"):
        values = []
        for p in paired["sources"][2:-2]:  # same-size targets
            out, tgt = load_rgb(package_sets[method] / p.name), load_rgb(paired["targets"] / p.name)
            row = rows[(method, p.stem)]
            assert float(row["l1_target"]) == pytest.approx(_l1_direct(out, tgt), rel=1e-5)
            assert float(row["lpips_target"]) == pytest.approx(lpips_direct(out, tgt), rel=1e-4, abs=1e-6)
            values.append(float(row["l1_target"]))
        assert 0.02 < min(values)  # a blur is not the stylised photo
    # the 128 px target is resized to the 64 px output (as PIL's antialiased bilinear, up to its uint8 rounding)
    big = paired["sources"][1]
    tgt = load_rgb(paired["targets"] / big.name)
    assert tgt.shape[:2] == (128, 128)
    small = np.asarray(Image.fromarray(tgt).resize((64, 64), Image.BILINEAR))
    out = load_rgb(package_sets["blur"] / big.name)
    assert float(rows[("blur", big.stem)]["l1_target"]) == pytest.approx(_l1_direct(out, small), abs=2e-3)
    r = doc["metrics"]["blur"]
    assert r["l1_target"]["resized_pairs"] == r["lpips_target"]["resized_pairs"] == 3  # blur, jpeg, copy
    assert doc["metrics"]["oracle"]["l1_target"]["resized_pairs"] == 3  # per feature; the 128 px oracle needs none
    for name in ("l1_target", "lpips_target"):
        assert r[name]["n"] == 10 and r[name]["ci"][0] <= r[name]["value"] <= r[name]["ci"][1]
        assert doc["metric_info"][name]["higher_is_better"] is False
        assert doc["metrics"]["oracle"][name]["value"] == pytest.approx(0, abs=1e-6)


def test_copy_baseline_is_source_vs_target(paired, lpips_direct):
    rows, doc = paired["rows"], paired["doc"]
    direct = []
    for p in paired["sources"][2:-2]:
        src, tgt = load_rgb(p), load_rgb(paired["targets"] / p.name)
        row = rows[("copy_input", p.stem)]
        direct.append(_l1_direct(src, tgt))
        assert float(row["l1_target"]) == pytest.approx(direct[-1], rel=1e-5)
        assert float(row["lpips_target"]) == pytest.approx(lpips_direct(src, tgt), rel=1e-4, abs=1e-6)
    copy = doc["copy_input"]
    assert copy["l1_target"]["n"] == 10 and copy["lpips_target"]["n"] == 10
    assert len(copy["l1_target"]["ci"]) == 2
    with_big = [float(rows[("copy_input", p.stem)]["l1_target"]) for p in paired["sources"][:-2]]
    assert copy["l1_target"]["value"] == pytest.approx(np.mean(with_big), rel=1e-9)
    md = (paired["out"] / "report.md").read_text()
    assert "| *copy the input (baseline)* |" in md
    assert "copy the input scores" in md and "below it: oracle (significant, p_holm " in md
    html = (paired["out"] / "report.html").read_text()
    assert 'class="baseline"' in html and "copy the input (baseline)" in html


def test_ids_without_target_are_counted(paired):
    doc, rows = paired["doc"], paired["rows"]
    missing = [p.stem for p in paired["sources"][-2:]]
    assert doc["targets"]["missing"] == missing and doc["targets"]["n"] == 10
    assert ("blur", missing[0]) not in rows  # counted, not measured
    assert ("copy_input", missing[0]) not in rows
    md = (paired["out"] / "report.md").read_text()
    assert "10 matched, 2 source id(s) without a target" in md
    assert f"2 source id(s) without a target (not in the target metrics): {missing[0]}, {missing[1]}" in md


def test_without_targets_the_metrics_are_unavailable(package_sets, tmp_path):
    from cfkit.evaluate import run_eval
    from cfkit.evaluate.metrics import default_metrics

    assert {"l1_target", "lpips_target"} <= set(default_metrics())
    doc = run_eval(
        methods=[f"blur={package_sets['blur']}"],
        source=str(package_sets["source"]),
        metrics=["l1_target", "lpips_target"],
        out=str(tmp_path / "o"),
        workers=0,
    )
    for name in ("l1_target", "lpips_target"):
        r = doc["metrics"]["blur"][name]
        assert r["value"] is None and "no targets given (--targets DIR" in r["unavailable"]
    assert doc["copy_input"] == {} and doc["targets"] == {}
    assert "copy the input" not in (tmp_path / "o" / "report.md").read_text()


def test_targets_matching_no_source_id_is_one_line(package_sets, tmp_path, run_cli):
    other = tmp_path / "other"
    save_png(other / "zzz.png", np.zeros((8, 8, 3), np.uint8))
    args = ["eval", "--methods", f"b={package_sets['blur']}", "--source", package_sets["source"], "--out", tmp_path]
    rc, _, err = run_cli(*args, "--targets", other)
    assert rc == 2 and "none of its 1 image ids match a source id" in err and "'zzz'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    rc, _, err = run_cli(*args, "--targets", tmp_path / "nope")
    assert rc == 2 and "folder not found" in err
    rc, _, err = run_cli("eval", "--methods", f"target={package_sets['blur']}", "--source", package_sets["source"])
    assert rc == 2 and "'target'" in err and "reserved" in err


def test_eval_equals_known_answer_score(package_sets, tmp_path, asset):
    """On a known-answer task, ``cfkit eval --targets`` gives ``known_answer.score``'s four numbers."""
    from cfkit.evaluate import run_eval
    from cfkit.evaluate.known_answer import build_task, score
    from cfkit.train.data import to_float, to_uint8

    asset("alexnet")
    task = build_task(package_sets["source"], tmp_path / "task", size=64, n_test=4)
    translate = lambda x: 0.8 * x.flip(-1)  # noqa: E731 - a fixed "method": mirrored, darker
    ids, photos, _ = task.test_pairs()
    for i, y in zip(ids, to_uint8(translate(to_float(photos))), strict=True):
        save_png(tmp_path / "m" / f"{i}.png", y.permute(1, 2, 0).numpy())
    doc = run_eval(
        methods=[f"m={tmp_path / 'm'}"],
        source=str(task.a / "images"),
        targets=str(task.targets),
        metrics=["l1_target", "lpips_target"],
        out=str(tmp_path / "o"),
        workers=0,
    )
    s = score(translate, task)
    m, copy = doc["metrics"]["m"], doc["copy_input"]
    assert m["l1_target"]["n"] == copy["l1_target"]["n"] == s.n == 4
    assert doc["targets"]["n"] == 4 and len(doc["targets"]["missing"]) == 8  # the training photos
    assert m["l1_target"]["value"] == pytest.approx(s.l1, rel=1e-5)
    assert m["lpips_target"]["value"] == pytest.approx(s.lpips, rel=1e-4)
    assert copy["l1_target"]["value"] == pytest.approx(s.copy_l1, rel=1e-5)
    assert copy["lpips_target"]["value"] == pytest.approx(s.copy_lpips, rel=1e-4)
    assert [(e["metric"], e["a"], e["b"]) for e in doc["vs_copy"]] == [
        ("l1_target", "m", "copy_input"),
        ("lpips_target", "m", "copy_input"),
    ]
    l1 = doc["vs_copy"][0]  # four pairs are too few for a Wilcoxon p below 0.05: the difference, untested
    assert l1["diff"] == pytest.approx(s.l1 - s.copy_l1, rel=1e-4) and l1["p"] is None and not l1["significant"]


def test_reverse_task_swaps_the_domains_and_keeps_ids_masks_and_answers(package_sets, tmp_path, asset):
    """``reverse_task``: A = the stylised photos (train and held out), B = the training photos, targets = the
    held-out photos; scoring it forward is scoring the forward task in reverse."""
    import pandas as pd

    from cfkit.evaluate.known_answer import build_task, reverse_task, score

    asset("alexnet")
    task = build_task(package_sets["source"], tmp_path / "task", size=32, n_test=4)
    rev = reverse_task(task)
    assert rev.a.parent == task.a.parent / "reverse" and rev.size == 32
    rows = pd.read_parquet(task.a / "manifest.parquet")
    assert pd.read_parquet(rev.a / "manifest.parquet").equals(rows)
    held = set(rows.loc[rows["split"] == "test", "id"])
    assert set(pd.read_parquet(rev.b / "manifest.parquet")["id"]) == set(rows["id"]) - held
    assert {p.stem for p in rev.targets.glob("*.png")} == held
    same = lambda x, y: x.read_bytes() == y.read_bytes()  # noqa: E731
    for i in rows["id"]:
        name = f"{i}.png"
        assert same(rev.a / "images" / name, (task.targets if i in held else task.b / "images") / name)
        assert same(rev.targets / name if i in held else rev.b / "images" / name, task.a / "images" / name)
        assert same(rev.a / "masks" / name, task.a / "masks" / name)
    darker = lambda x: 0.5 * x  # noqa: E731
    assert score(darker, rev) == score(darker, task, reverse=True)
    assert reverse_task(task) == rev  # written once, then reused


def test_an_extra_test_set_pairs_new_photos_with_the_task_filter_and_refuses_the_task_photos(package_sets, tmp_path):
    from cfkit.evaluate.known_answer import build_task, extra_test_set, stylise
    from cfkit.train.data import fit_square

    task = build_task(package_sets["source"], tmp_path / "task", size=32, n_test=4)
    photos, targets = extra_test_set(task, package_sets["jpeg"], "jpeg")
    assert photos == tmp_path / "task" / "tests" / "jpeg" / "photos" and targets.parent == photos.parent
    new = sorted(package_sets["jpeg"].glob("*.png"))
    assert sorted(p.name for p in targets.glob("*.png")) == [p.name for p in new]
    for p in new[:3]:
        rgb = load_rgb(p)
        assert np.array_equal(load_rgb(targets / p.name), fit_square(stylise(rgb), 32))
        assert np.array_equal(load_rgb(photos / p.name), fit_square(rgb, 32))
    stamp = (targets / new[0].name).stat().st_mtime_ns
    assert extra_test_set(task, package_sets["jpeg"], "jpeg") == (photos, targets)  # written once, reused
    assert (targets / new[0].name).stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="holds a test set of other photos"):
        extra_test_set(task, package_sets["blur"], "jpeg")
    with pytest.raises(InputError, match=r"12 photo\(s\) belong to the task itself"):
        extra_test_set(task, package_sets["source"], "own")
    with pytest.raises(InputError, match="plain folder name"):
        extra_test_set(task, package_sets["blur"], "../escape")


def test_filter_version_2_keeps_near_white_and_version_1_rebuilds_the_tasks_measured_before(package_sets, tmp_path):
    import cv2

    from cfkit.evaluate.known_answer import KnownAnswerTask, build_task, extra_test_set

    rgb = np.full((64, 64, 3), 255, np.uint8)
    rgb[24:40, 24:40] = 60  # a dark square: edges around it, flat white elsewhere
    smooth = cv2.stylization(rgb, sigma_s=40, sigma_r=0.35)
    v1, v2 = stylise(rgb, version=1), stylise(rgb)
    assert np.array_equal(v1[:4, :4], np.full((4, 4, 3), 17, np.uint8))  # white wrapped to near-black
    assert np.array_equal(v2[:4, :4], np.full((4, 4, 3), 255, np.uint8))
    below = smooth < 252  # elsewhere the versions agree
    assert np.array_equal(v1[below.all(-1)], v2[below.all(-1)])
    with pytest.raises(InputError, match="stylise version 3"):
        stylise(rgb, version=3)

    new = build_task(package_sets["source"], tmp_path / "new", size=32, n_test=4)
    assert json.loads((tmp_path / "new" / "task.json").read_text())["filter"] == 2 and new.filter == 2
    old = build_task(package_sets["source"], tmp_path / "old", size=32, n_test=4, filter=1)
    assert "filter" not in json.loads((tmp_path / "old" / "task.json").read_text())  # as tasks were written
    assert KnownAnswerTask.at(tmp_path / "old").filter == 1
    with pytest.raises(InputError, match="other photos or options"):
        build_task(package_sets["source"], tmp_path / "old", size=32, n_test=4)
    held = next(old.targets.glob("*.png"))
    photo = load_rgb(package_sets["source"] / held.name)
    from cfkit.train.data import fit_square

    assert np.array_equal(load_rgb(held), fit_square(stylise(photo, version=1), 32))
    _, targets = extra_test_set(old, package_sets["jpeg"], "jpeg")  # the task's own filter version
    p = sorted(package_sets["jpeg"].glob("*.png"))[0]
    assert np.array_equal(load_rgb(targets / p.name), fit_square(stylise(load_rgb(p), version=1), 32))
