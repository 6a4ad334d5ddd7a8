"""Paired significance between methods (``comparisons``), ``report.tex`` and the comparison figure."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from scipy import stats

from cfkit.errors import InputError
from cfkit.evaluate.compare import compare_methods, compare_to_copy, min_pairs, paired_test
from cfkit.evaluate.extract import Extracted
from cfkit.evaluate.features.inception import statistics
from cfkit.evaluate.latex import escape, latex_table
from cfkit.evaluate.metrics.fid import fid_lowrank, frechet_distance, sigma_factor
from cfkit.evaluate.metrics.kid import polynomial_mmd2
from cfkit.evaluate.set_bootstrap import SetLevelBootstrap, weighted_fid
from cfkit.fsutil import recorded_outputs
from cfkit.stats import bootstrap_ci


def _doc(per_image: dict[str, dict[str, float]], higher_is_better: bool = False, metric: str = "lpips") -> dict:
    """A run_eval-shaped result of one per-image metric (``method -> id -> value``)."""
    return {
        "metric_info": {metric: {"label": metric, "higher_is_better": higher_is_better, "per_image": True}},
        "metrics": {
            m: {metric: {"value": float(np.nanmean(list(v.values()))), "ci": [0.0, 1.0], "n": len(v), "per_image": v}}
            for m, v in per_image.items()
        },
        "source": {"n": max(len(v) for v in per_image.values())},
    }


def test_paired_test_equals_scipy_and_the_shared_bootstrap():
    rng = np.random.default_rng(3)
    a = rng.normal(0.5, 0.1, 25)
    b = a + rng.normal(0.03, 0.05, 25)
    ids = [f"i{k}" for k in range(25)]
    r = paired_test(dict(zip(ids, a, strict=True)), {**dict(zip(ids, b, strict=True)), "extra": 9.0}, 500, 7)
    d = a - b
    assert r["n"] == 25 and r["diff"] == pytest.approx(d.mean(), abs=1e-15)
    assert r["p"] == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    assert r["ci"] == pytest.approx(list(bootstrap_ci(d, 500, 7)))


def test_each_method_is_tested_against_copying_the_input_with_holm_across_methods():
    rng = np.random.default_rng(1)
    ids = [f"i{k}" for k in range(20)]
    copy = rng.uniform(0.3, 0.5, 20)
    per = {"good": copy - 0.05 + rng.normal(0, 0.01, 20), "same": copy + rng.normal(0, 0.02, 20)}
    doc = _doc({m: dict(zip(ids, v, strict=True)) for m, v in per.items()})
    doc["copy_input"] = {"lpips": {"value": float(copy.mean()), "per_image": dict(zip(ids, copy, strict=True))}}
    good, same = compare_to_copy(doc, n_boot=100)
    assert (good["a"], good["b"], same["a"]) == ("good", "copy_input", "same")
    p = [stats.wilcoxon(per[m], copy).pvalue for m in ("good", "same")]
    low, high = sorted(p)  # Holm with two tests: the smaller p doubled, the larger at least that
    by_hand = {min(p): 2 * low, max(p): max(2 * low, high)}
    assert [good["p_holm"], same["p_holm"]] == pytest.approx([min(1.0, by_hand[q]) for q in p], rel=1e-12)
    assert good["significant"] and good["better"] == "good" and good["diff"] == pytest.approx(-0.05, abs=0.01)
    assert not same["significant"]
    doc["copy_input"]["lpips"].pop("per_image")  # a baseline without per-image values: nothing to test
    assert compare_to_copy(doc) == []


def test_holm_across_pairs_of_a_metric_by_hand():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.4, 20)
    ids = [f"i{k}" for k in range(20)]
    shifts = {"x": 0.0, "y": 0.01, "z": 0.05}
    per = {m: dict(zip(ids, base + s + rng.normal(0, 0.02, 20), strict=True)) for m, s in shifts.items()}
    doc = _doc(per)
    comps = compare_methods(doc, None, n_boot=100)
    assert [(e["a"], e["b"]) for e in comps] == [("x", "y"), ("x", "z"), ("y", "z")]
    p = [stats.wilcoxon(list(per[e["a"]].values()), list(per[e["b"]].values())).pvalue for e in comps]
    order = np.argsort(p)  # Holm: sorted p times 3, 2, 1, running maximum, capped at 1
    by_hand, running = [0.0] * 3, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[i]))
        by_hand[i] = running
    assert [e["p"] for e in comps] == pytest.approx(p)
    assert [e["p_holm"] for e in comps] == pytest.approx(by_hand)
    xz = comps[1]
    assert xz["better"] == "x" and xz["significant"] and xz["diff"] < 0  # lower is better


def test_too_few_pairs_give_no_p_value():
    assert min_pairs() == 6 and 2 / 2**5 >= 0.05 > 2 / 2**6  # the exact test cannot reach 0.05 below 6 pairs
    ids = [f"i{k}" for k in range(5)]
    comps = compare_methods(_doc({"a": dict.fromkeys(ids, 0.1), "b": dict.fromkeys(ids, 0.5)}), None)
    (e,) = comps
    assert e["n"] == 5 and e["diff"] == pytest.approx(-0.4) and e["p"] is None and e["p_holm"] is None
    assert "too few for a Wilcoxon test" in e["note"] and not e["significant"] and e["better"] == "a"


def _set_level(metric: str, xa: np.ndarray, xb: np.ndarray, ref: dict, n_boot: int) -> dict:
    res = Extracted(reference_stats=ref)
    res.features["inception"] = {m: {f"i{k}": row for k, row in enumerate(x)} for m, x in (("a", xa), ("b", xb))}
    return SetLevelBootstrap(metric, res, n_boot, seed=0).diff("a", "b")


def test_set_level_difference_equals_fid_and_kid_of_each_side():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, (40, 16))
    xa = rng.normal(0.1, 1, (40, 16))
    xb = xa + 0.6  # the same images, shifted away from the reference
    mu, sigma = statistics(y)
    ref = {"mu": mu, "sigma": sigma, "features": y}
    fid = _set_level("fid", xa, xb, ref, 200)
    expect = [frechet_distance(*statistics(x), mu, sigma) for x in (xa, xb)]
    assert fid["diff"] == pytest.approx(expect[0] - expect[1], rel=1e-8) and fid["n"] == 40
    assert fid["ci"][0] <= fid["diff"] <= fid["ci"][1] < 0  # a is closer to the reference, on every resample
    kid = _set_level("kid", xa, xb, ref, 200)
    assert kid["diff"] == pytest.approx(polynomial_mmd2(xa, y) - polynomial_mmd2(xb, y), rel=1e-9)
    assert kid["ci"][1] < 0
    idx = np.random.default_rng(5).integers(0, 40, 40)  # a resample as counts = the drawn rows themselves
    b = sigma_factor(sigma, y)
    w = np.bincount(idx, minlength=40).astype(float)
    assert weighted_fid(xa, xa @ b.T, w, mu, float(np.trace(sigma))) == pytest.approx(
        fid_lowrank(xa[idx], mu, float(np.trace(sigma)), b), rel=1e-9
    )
    same = _set_level("fid", xa, xa.copy(), ref, 50)  # same resamples for both: exactly no difference
    assert same["diff"] == 0 and same["ci"] == [0, 0]
    assert _set_level("kid", xa, xb, {"mu": mu, "sigma": sigma, "features": None}, 50)["diff"] is None


def test_latex_escapes_bolds_by_direction_and_daggers():
    ids = [f"i{k}" for k in range(12)]
    rng = np.random.default_rng(2)
    base = rng.uniform(0.2, 0.3, 12)
    per = {"ours_v2 & 50%": dict(zip(ids, base, strict=True)), "cycle#gan": dict(zip(ids, base + 0.1, strict=True))}
    doc = _doc(per)
    doc["comparisons"] = compare_methods(doc, None, n_boot=100)
    tex = latex_table(doc)
    assert r"ours\_v2 \& 50\% & \textbf{" in tex and r"$^\dagger$" in tex and r"cycle\#gan & 0." in tex
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and "booktabs" in tex
    assert escape(r"a\b{c}~^") == r"a\textbackslash{}b\{c\}\textasciitilde{}\textasciicircum{}"
    # higher is better: the other method is bold; no dagger where the best is not significantly better
    doc = _doc(per, higher_is_better=True)
    doc["comparisons"] = [{**e, "significant": False} for e in compare_methods(doc, None, n_boot=100)]
    tex = latex_table(doc)
    assert r"cycle\#gan & \textbf{" in tex and r"$^\dagger$" not in tex.split(r"\midrule")[1]


def test_figure_picks_disagreement_and_each_methods_worst():
    from cfkit.evaluate.figure import pick_ids

    values = {
        "a": {"i0": 0.1, "i1": 0.2, "i2": 0.9, "i3": 0.5, "i4": 0.3},
        "b": {"i0": 0.8, "i1": 0.25, "i2": 0.1, "i3": 0.5, "i4": 0.35},
    }
    assert pick_ids(values, ["a", "b"], "disagree", 3, False) == ["i2", "i0", "i1"]  # spreads .8, .7, .05
    assert pick_ids(values, ["a", "b"], "worst", 3, False) == ["i2", "i0", "i3"]  # a's worst, b's worst, a's next
    assert pick_ids(values, ["a", "b"], "worst", 2, True) == ["i0", "i2"]  # higher is better: lowest first


@pytest.fixture(scope="module")
def copy_blur_eval(package_sets, tmp_path_factory, asset):
    """``cfkit eval --figure`` of a copy of the sources and a blurred copy (LPIPS to the input only)."""
    from cfkit.cli import main

    asset("alexnet")
    root = tmp_path_factory.mktemp("copy_blur")
    shutil.copytree(package_sets["source"], root / "copy")
    out = root / "out"
    args = ["eval", "--methods", f"copy={root / 'copy'},blur={package_sets['blur']}", "--source"]
    args += [str(package_sets["source"]), "--metrics", "lpips", "--out", str(out), "--workers", "1", "--figure"]
    import contextlib
    import io

    o = io.StringIO()
    with contextlib.redirect_stdout(o), pytest.raises(SystemExit) as exc:
        main(args)
    assert not exc.value.code
    return out, o.getvalue()


def test_blurred_copy_is_significantly_worse_on_lpips(copy_blur_eval):
    out, stdout = copy_blur_eval
    doc = json.loads((out / "metrics.json").read_text())
    (e,) = doc["comparisons"]
    assert {k for k in e if k != "test"} >= {"metric", "a", "b", "n", "diff", "ci", "p", "p_holm", "better"}
    assert (e["metric"], e["a"], e["b"], e["n"]) == ("lpips", "copy", "blur", 12)
    assert e["better"] == "copy" and e["significant"] and e["diff"] < 0 and e["ci"][1] < 0
    assert e["p"] == pytest.approx(2 / 2**12)  # exact test, all 12 differences one way
    assert "lpips: copy > blur (p_holm 0.00049)" in stdout
    md = (out / "report.md").read_text()
    assert "## Significantly better than" in md and "| copy | — | ✓ p=0.00049 |" in md
    assert "Significantly better than" in (out / "report.html").read_text()


def test_report_tex_compiles(copy_blur_eval, tmp_path):
    out, _ = copy_blur_eval
    tex = (out / "report.tex").read_text()
    assert r"\textbf{0.0000}$^\dagger$" in tex  # the copy has LPIPS 0 and beats the blurred copy
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (structure checked above)")
    shutil.copy(out / "report.tex", tmp_path)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_figure_rows_picked_or_given(copy_blur_eval, run_cli, tmp_path):
    from cfkit.evaluate.figure import write_figure

    out, _ = copy_blur_eval
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG" and (out / "figure.pdf").read_bytes()[:5] == b"%PDF-"
    rc, _, err = run_cli("figure", out, "--ids", "img003,img000", "--name", "mine")
    assert rc == 0, err
    import matplotlib.image as mpimg

    h, w = mpimg.imread(out / "mine.png").shape[:2]
    assert h < w  # two rows, three columns (source | copy | blur)
    rc, _, err = run_cli("figure", out, "--ids", "nope")
    assert rc != 0 and "not among the sources" in err
    rc, _, _ = run_cli("figure", out, "--ids", "img001", "--name", "mine")  # cfkit wrote mine.png: replaced
    assert rc == 0 and {"figure.png", "figure.pdf", "mine.png", "mine.pdf"} <= recorded_outputs(out, "eval")
    (out / "theirs.png").write_bytes(b"not cfkit's")
    rc, _, err = run_cli("figure", out, "--name", "theirs")
    assert rc != 0 and "no record of writing it" in err and (out / "theirs.png").read_bytes() == b"not cfkit's"
    rc, _, err = run_cli("figure", tmp_path)
    assert rc != 0 and "is not a cfkit eval folder" in err and "Traceback" not in err
    with pytest.raises(InputError, match="no per-image values of 'fid'"):
        write_figure(out, metric="fid")
