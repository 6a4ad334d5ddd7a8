"""Paired significance between methods: is one method's score really better than another's?

Per-image metrics: on the ids both methods measured, the mean paired difference ``a - b``, its 95 %
paired bootstrap CI (:func:`cfkit.stats.bootstrap_ci` of the differences) and the Wilcoxon signed-rank
p-value (``scipy.stats.wilcoxon``, zero differences dropped), Holm-corrected across the pairs of that
metric. Set-level metrics (FID, KID): the difference on the common images and its percentile bootstrap
CI (:mod:`cfkit.evaluate.set_bootstrap`); no p-value. With targets, each method is also tested against
the copy-the-input baseline the same way (:func:`compare_to_copy`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from cfkit.evaluate.inputs import COPY_INPUT
from cfkit.evaluate.set_bootstrap import ALPHA, SetLevelBootstrap
from cfkit.stats import bootstrap_ci, holm

SET_LEVEL = ("fid", "kid")
"""Set-level metrics with a bootstrap of their difference."""


def min_pairs(alpha: float = ALPHA) -> int:
    """Fewest nonzero paired differences whose exact two-sided Wilcoxon p can fall below ``alpha`` (2 / 2^n)."""
    return next(n for n in itertools.count(1) if 2.0 / 2**n < alpha)


def paired_test(a: dict[str, float], b: dict[str, float], n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of ``a - b`` over the ids with a finite value in both, its paired bootstrap CI and Wilcoxon p.

    ``p`` is None with a ``note`` when fewer than :func:`min_pairs` differences are nonzero.
    """
    from scipy.stats import wilcoxon

    ids = [k for k in a if k in b and math.isfinite(a[k]) and math.isfinite(b[k])]
    d = np.array([a[k] - b[k] for k in ids], dtype=np.float64)
    out = {"n": len(ids), "diff": float(d.mean()) if len(d) else None, "ci": None, "p": None}
    if len(d) >= 2:
        out["ci"] = list(ci) if (ci := bootstrap_ci(d, n_boot, seed)) else None
    nonzero = int(np.count_nonzero(d))
    if nonzero < min_pairs():
        out["note"] = (
            f"{nonzero} paired image(s) with a nonzero difference: too few for a Wilcoxon test "
            f"(needs >= {min_pairs()} to reach p < {ALPHA})"
        )
    else:
        out["p"] = float(wilcoxon(d).pvalue)
        out["test"] = "wilcoxon signed-rank (zero differences dropped)"
    return out


def _better(entry: dict, higher_is_better: bool) -> None:
    """Set ``better`` (by the mean difference) and ``significant`` (Holm p, or a CI that excludes 0)."""
    diff, ci = entry["diff"], entry.get("ci")
    entry["better"] = None if not diff else (entry["a"] if (diff > 0) == higher_is_better else entry["b"])
    if entry.get("set_level"):
        significant = bool(ci) and ci[0] * ci[1] > 0
    else:
        significant = entry["p_holm"] is not None and entry["p_holm"] < ALPHA
    entry["significant"] = significant and entry["better"] is not None


def compare_methods(doc: dict, res, n_boot: int = 1000, set_boot: int = 200, seed: int = 0) -> list[dict]:
    """One entry per metric and pair of methods (``a`` before ``b`` in the order given, ``diff = a - b``).

    ``doc`` is :func:`cfkit.evaluate.run_eval`'s result with per-image values; ``res`` the
    :class:`~cfkit.evaluate.extract.Extracted` features (Inception rows for FID/KID).
    """
    methods = list(doc["metrics"])
    out = []
    for metric, info in doc["metric_info"].items():
        sets = SetLevelBootstrap(metric, res, set_boot, seed) if metric in SET_LEVEL and res is not None else None
        entries = []
        for a, b in itertools.combinations(methods, 2):
            ra, rb = doc["metrics"][a][metric], doc["metrics"][b][metric]
            entry = {"metric": metric, "a": a, "b": b}
            if ra.get("value") is None or rb.get("value") is None:
                entry.update(n=0, diff=None, ci=None, p=None, note="unavailable for one of the two methods")
            elif info["per_image"]:
                entry.update(paired_test(ra["per_image"], rb["per_image"], n_boot, seed))
            elif sets is not None:
                entry.update(sets.diff(a, b))
            else:
                entry.update(n=0, diff=None, ci=None, p=None, note="no per-image values and no bootstrap")
            entries.append(entry)
        out += _decide(entries, info["higher_is_better"])
    return out


def compare_to_copy(doc: dict, n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Each method against the copy-the-input baseline (``b``: :data:`COPY_INPUT`) on every per-image metric
    that scores it: the paired test of :func:`paired_test`, Holm-corrected across the methods of the metric.
    Does a method beat returning its input unchanged, beyond chance on these images?"""
    out = []
    for metric, base in doc.get("copy_input", {}).items():
        if base.get("per_image") is None:
            continue
        copied = base["per_image"]
        entries = [
            {"metric": metric, "a": m, "b": COPY_INPUT, **paired_test(r[metric]["per_image"], copied, n_boot, seed)}
            for m, r in doc["metrics"].items()
            if r[metric].get("per_image") is not None
        ]
        out += _decide(entries, doc["metric_info"][metric]["higher_is_better"])
    return out


def _decide(entries: list[dict], higher_is_better: bool) -> list[dict]:
    """Holm-correct the p-values of one metric's ``entries`` and set who is better and whether significantly."""
    tested = [e for e in entries if e.get("p") is not None]
    for e, q in zip(tested, holm([e["p"] for e in tested]) if tested else [], strict=True):
        e["p_holm"] = float(q)
    for e in entries:
        e.setdefault("p_holm", None)
        if e["diff"] is not None:
            _better(e, higher_is_better)
        else:
            e.update(better=None, significant=False)
    return entries


def compared_metrics(doc: dict) -> list[str]:
    """Metrics with at least one measured difference (two or more methods with values)."""
    measured = {e["metric"] for e in doc.get("comparisons", []) if e["diff"] is not None}
    return [k for k in doc["metric_info"] if k in measured]


def better_matrix(doc: dict, metric: str) -> list[tuple[str, list[str]]]:
    """Rows of the "significantly better than" matrix of ``metric``: ``(row method, cells by column method)``;
    a cell says how the row beats the column (Holm p, or "CI" for set-level metrics), else is empty."""
    methods = list(doc["metrics"])
    cells = {(m, o): ("—" if m == o else "") for m in methods for o in methods}
    for e in doc.get("comparisons", []):
        if e["metric"] == metric and e["significant"]:
            worse = e["b"] if e["better"] == e["a"] else e["a"]
            cells[e["better"], worse] = f"✓ p={e['p_holm']:.2g}" if e["p_holm"] is not None else "✓ CI"
    return [(m, [cells[m, o] for o in methods]) for m in methods]


def matrix_markdown(doc: dict) -> list[str]:
    """``report.md`` section: one "significantly better than" matrix per metric with comparisons."""
    metrics = compared_metrics(doc)
    if not metrics:
        return []
    methods = list(doc["metrics"])
    lines = [
        "",
        "## Significantly better than",
        "",
        f"Row beats column: per-image metrics by a Wilcoxon signed-rank test on the ids both translated, "
        f"Holm-corrected across the pairs of the metric (p_holm < {ALPHA}); FID/KID when the 95% bootstrap CI "
        "of the difference excludes 0. Differences and CIs: `comparisons` in metrics.json.",
    ]
    for k in metrics:
        lines += ["", f"**{doc['metric_info'][k]['label']}**", "", "| better than → | " + " | ".join(methods) + " |"]
        lines.append("|---|" + "---|" * len(methods))
        lines += [f"| {m} | " + " | ".join(cells) + " |" for m, cells in better_matrix(doc, k)]
    return lines


def summary_lines(doc: dict) -> list[str]:
    """One line per metric: which method is significantly better than which (for the command's output)."""
    lines = []
    for metric in compared_metrics(doc):
        entries = [e for e in doc["comparisons"] if e["metric"] == metric]
        wins = [
            f"{e['better']} > {e['b'] if e['better'] == e['a'] else e['a']}"
            + (f" (p_holm {e['p_holm']:.2g})" if e["p_holm"] is not None else " (CI)")
            for e in entries
            if e["significant"]
        ]
        untested = sum(1 for e in entries if e["p"] is None and e["diff"] is not None and not e.get("set_level"))
        tail = f"; {untested} pair(s) without a test (too few nonzero differences)" if untested else ""
        lines.append(f"{metric}: " + (", ".join(wins) if wins else "no significant difference") + tail)
    for metric in dict.fromkeys(e["metric"] for e in doc.get("vs_copy", [])):
        beat = [
            f"{e['a']} (p_holm {e['p_holm']:.2g})"
            for e in doc["vs_copy"]
            if e["metric"] == metric and e["significant"] and e["better"] == e["a"]
        ]
        lines.append(f"{metric}: significantly better than copying the input: {', '.join(beat) or 'none'}")
    return lines
