"""Evaluation outputs: ``metrics.json``, ``per_image.csv``, ``report.md`` and ``report.html`` (plots inline)."""

from __future__ import annotations

import base64
import copy
import io
import math
from pathlib import Path

import numpy as np

from cfkit.evaluate.compare import better_matrix, compared_metrics, matrix_markdown
from cfkit.evaluate.features import SOURCE, TARGET
from cfkit.evaluate.inputs import COPY_INPUT
from cfkit.fsutil import atomic_write_json, atomic_write_text

COPY_LABEL = "copy the input (baseline)"


def fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{v:.3g}"
    return f"{v:.4f}" if a < 1 else f"{v:.3f}" if a < 100 else f"{v:.1f}"


def best_for_metric(doc: dict, metric: str) -> set[str]:
    info = doc["metric_info"][metric]
    vals = {m: r[metric]["value"] for m, r in doc["metrics"].items() if r[metric].get("value") is not None}
    if len(vals) < 2:
        return set()
    target = (max if info["higher_is_better"] else min)(vals.values())
    return {m for m, v in vals.items() if v == target}


def _cell(r: dict | None, best: bool = False) -> dict:
    """One table cell of a metric result (None: no value for this row, e.g. the baseline's other metrics)."""
    if r is None:
        return {"empty": True, "value": "", "ci": "", "n": "", "best": False, "note": "", "failure_rate": None}
    ci = r.get("ci")
    return {
        "empty": False,
        "value": fmt(r.get("value")),
        "ci": f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "",
        "n": r.get("n", 0),
        "best": best,
        "note": r.get("unavailable", ""),
        "failure_rate": r.get("failure_rate"),
    }


def table_rows(doc: dict) -> tuple[list[str], list[dict]]:
    """Header and rows of the methods x metrics table (value, CI, n, bold flag), then the copy-the-input row."""
    metric_names = list(doc["metric_info"])
    header = [
        f"{doc['metric_info'][k]['label']} {'↑' if doc['metric_info'][k]['higher_is_better'] else '↓'}"
        for k in metric_names
    ]
    best = {k: best_for_metric(doc, k) for k in metric_names}
    rows = [
        {"method": method, "baseline": False, "cells": [_cell(res[k], method in best[k]) for k in metric_names]}
        for method, res in doc["metrics"].items()
    ]
    if copy := doc.get("copy_input"):
        rows.append({"method": COPY_LABEL, "baseline": True, "cells": [_cell(copy.get(k)) for k in metric_names]})
    return header, rows


def per_image_table(doc: dict) -> tuple[list[str], list[list]]:
    names = [k for k, i in doc["metric_info"].items() if i["per_image"]]
    rows = []
    for method, res in [*doc["metrics"].items(), (COPY_INPUT, doc.get("copy_input", {}))]:
        per_image = {n: res.get(n, {}).get("per_image", {}) for n in names}
        for k in sorted({k for v in per_image.values() for k in v}):
            rows.append([method, k, *[per_image[n].get(k, float("nan")) for n in names]])
    return ["method", "id", *names], rows


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if isinstance(v, float) and not math.isfinite(v) else v for v in r])
    atomic_write_text(path, buf.getvalue())


def markdown(doc: dict) -> str:
    header, rows = table_rows(doc)
    lines = [
        "# Evaluation report",
        "",
        f"Source: `{doc['source']['folder']}` ({doc['source']['n']} images); "
        f"reference: `{doc['reference'].get('path', '–')}`; {_targets_line(doc)}seed {doc['seed']}. "
        "Cells: value [95% CI]; best per metric in **bold**; ↑/↓ = higher/lower is better.",
        "",
        "| method | " + " | ".join(header) + " |",
        "|---|" + "---|" * len(header),
    ]
    for row in rows:
        cells = []
        for c in row["cells"]:
            v = f"**{c['value']}**" if c["best"] else c["value"]
            extra = f" {c['ci']}" if c["ci"] else ""
            fr = f" (fail {c['failure_rate']:.0%})" if c["failure_rate"] else ""
            cells.append(f"{v}{extra}{fr}")
        name = f"*{row['method']}*" if row["baseline"] else row["method"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "n per cell:", ""]
    lines.append("| method | " + " | ".join(header) + " |")
    lines.append("|---|" + "---|" * len(header))
    for row in rows:
        lines.append(f"| {row['method']} | " + " | ".join(str(c["n"]) for c in row["cells"]) + " |")
    lines += matrix_markdown(doc)
    notes = notes_list(doc)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _targets_line(doc: dict) -> str:
    t = doc.get("targets")
    if not t:
        return ""
    missing = f", {len(t['missing'])} source id(s) without a target" if t["missing"] else ""
    return f"targets: `{t['folder']}` ({t['n']} matched{missing}); "


def _significance(entry: dict) -> str:
    """How a method's lead over the copy baseline held up in its paired test (:func:`compare_to_copy`)."""
    if entry["significant"]:
        return f" (significant, p_holm {entry['p_holm']:.2g})"
    return " (not significant" + (f", p_holm {entry['p_holm']:.2g})" if entry["p_holm"] is not None else ": untested)")


def notes_list(doc: dict) -> list[str]:
    notes = []
    if (t := doc.get("targets")) and t["missing"]:
        more = f" (+{len(t['missing']) - 10} more)" if len(t["missing"]) > 10 else ""
        notes.append(
            f"{len(t['missing'])} source id(s) without a target (not in the target metrics): "
            f"{', '.join(t['missing'][:10])}{more}"
        )
    for k, base in doc.get("copy_input", {}).items():
        if base.get("value") is None:
            continue
        vals = {m: r[k].get("value") for m, r in doc["metrics"].items()}
        higher = doc["metric_info"][k]["higher_is_better"]
        side = "above" if higher else "below"
        better = [m for m, v in vals.items() if v is not None and (v > base["value"] if higher else v < base["value"])]
        rest = [m for m in vals if m not in better]
        tests = {e["a"]: e for e in doc.get("vs_copy", []) if e["metric"] == k}
        marked = [m + _significance(tests[m]) if m in tests else m for m in better]
        notes.append(
            f"{doc['metric_info'][k]['label']}: copy the input scores {fmt(base['value'])}; "
            f"{side} it: {', '.join(marked) or 'none'}; not {side}: {', '.join(rest) or 'none'}"
        )
    unavailable: dict[str, dict[str, list[str]]] = {}  # reason -> metric -> methods (one note per reason)
    for method, res in doc["metrics"].items():
        for k, r in res.items():
            if r.get("unavailable"):
                unavailable.setdefault(r["unavailable"], {}).setdefault(k, []).append(method)
    for reason, by_metric in unavailable.items():
        every = all(len(ms) == len(doc["metrics"]) for ms in by_metric.values())
        what = ", ".join(k if every else f"{k} ({', '.join(ms)})" for k, ms in by_metric.items())
        notes.append(f"{what} unavailable{' for every method' if every else ''}: {reason}")
    for m, info in doc["methods"].items():
        if info["missing"]:
            notes.append(f"{m}: {len(info['missing'])} source id(s) without output: {', '.join(info['missing'][:10])}")
        if info["extra"]:
            notes.append(f"{m}: {len(info['extra'])} output id(s) without source: {', '.join(info['extra'][:10])}")
    for e in doc["decode_errors"]:
        notes.append(f"skipped {e['file']}: {e['reason']}")
    prov = doc["provenance"]
    if "identity" in prov:
        notes.append(f"identity backend: {prov['identity'].get('backend')}")
    if "inception" in prov:
        inc = prov["inception"]
        tag = "official" if inc.get("official") else "NOT the official pytorch-fid weights"
        notes.append(f"FID Inception weights sha256 {inc.get('sha256', '')[:16]} ({tag})")
    return notes


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _panels(n: int, max_cols: int, panel_w: float, panel_h: float = 2.8):
    """A figure with ``n`` panels in rows of at most ``max_cols``."""
    import matplotlib.pyplot as plt

    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    return plt.subplots(rows, cols, figsize=(panel_w * cols, panel_h * rows), squeeze=False)


def bars_plot(doc: dict) -> str | None:
    import matplotlib.pyplot as plt

    names = [k for k in doc["metric_info"] if any(r[k].get("value") is not None for r in doc["metrics"].values())]
    if not names:
        return None
    methods = list(doc["metrics"])
    fig, axes = _panels(len(names), max_cols=4, panel_w=3.2)
    colors = plt.cm.tab10.colors
    for ax, k in zip(axes.flat, names, strict=False):
        vals, errs = [], [[], []]
        for m in methods:
            r = doc["metrics"][m][k]
            v = r.get("value")
            vals.append(np.nan if v is None else v)
            ci = r.get("ci") or [v, v]
            lo, hi = (np.nan, np.nan) if v is None else (max(v - ci[0], 0), max(ci[1] - v, 0))
            errs[0].append(lo)
            errs[1].append(hi)
        x = np.arange(len(methods))
        ax.bar(x, vals, yerr=errs, capsize=4, color=[colors[i % 10] for i in range(len(methods))])
        if (base := doc.get("copy_input", {}).get(k, {}).get("value")) is not None:
            ax.axhline(base, color="0.3", ls="--", lw=1, label="copy the input")
            ax.legend(fontsize=7)
        info = doc["metric_info"][k]
        ax.set_title(f"{info['label']} {'↑' if info['higher_is_better'] else '↓'}", fontsize=10)
        ax.set_xticks(x, methods, rotation=20, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def distributions_plot(doc: dict) -> str | None:

    names = [k for k, i in doc["metric_info"].items() if i["per_image"]]
    data = {
        k: [
            [v for v in doc["metrics"][m][k].get("per_image", {}).values() if v is not None and math.isfinite(v)]
            for m in doc["metrics"]
        ]
        for k in names
    }
    # binary per-image values (retrieval hits) say nothing as a distribution; their mean and CI are in the table
    names = [k for k in names if any(len(v) for v in data[k]) and not set(sum(data[k], [])) <= {0.0, 1.0}]
    if not names:
        return None
    methods = list(doc["metrics"])
    fig, axes = _panels(len(names), max_cols=3, panel_w=3.6)
    for ax, k in zip(axes.flat, names, strict=False):
        series = [v if len(v) else [np.nan] for v in data[k]]
        ax.boxplot(series, showfliers=False, widths=0.5)
        for i, v in enumerate(series):
            jitter = np.random.default_rng(i).uniform(-0.15, 0.15, len(v))
            ax.scatter(np.full(len(v), i + 1) + jitter, v, s=6, alpha=0.5)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=20, ha="right", fontsize=8)
        ax.set_title(doc["metric_info"][k]["label"] + " (per image)", fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def grid_plot(grid: list, methods: list[str]) -> str | None:
    import matplotlib.pyplot as plt

    if not grid:
        return None
    cols = [SOURCE, *([TARGET] if any(TARGET in imgs for _, imgs in grid) else []), *methods]
    fig, axes = plt.subplots(len(grid), len(cols), figsize=(1.6 * len(cols), 1.6 * len(grid)), squeeze=False)
    for r, (key, imgs) in enumerate(grid):
        for c, role in enumerate(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if role in imgs:
                ax.imshow(imgs[role])
            if r == 0:
                ax.set_title(role, fontsize=9)
            if c == 0:
                ax.set_ylabel(key if len(key) <= 14 else key[:12] + "…", fontsize=7)
    fig.subplots_adjust(wspace=0.04, hspace=0.04)
    return _png(fig)


def html(doc: dict, res, methods: list[str]) -> str:
    import jinja2

    header, rows = table_rows(doc)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=True)
    return env.get_template("report.html.j2").render(
        doc=doc,
        header=header,
        rows=rows,
        notes=notes_list(doc),
        bars=bars_plot(doc),
        dists=distributions_plot(doc),
        grid=grid_plot(res.grid, methods),
        matrices={doc["metric_info"][k]["label"]: better_matrix(doc, k) for k in compared_metrics(doc)},
    )


def write_report(out: Path, doc: dict, res, methods: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    header, rows = per_image_table(doc)
    write_csv(out / "per_image.csv", header, rows)
    slim = copy.deepcopy(doc)
    for r in [*slim["metrics"].values(), slim.get("copy_input", {})]:
        for m in r.values():
            m.pop("per_image", None)
    atomic_write_json(out / "metrics.json", slim)
    atomic_write_text(out / "report.md", markdown(doc))
    atomic_write_text(out / "report.html", html(doc, res, methods))
