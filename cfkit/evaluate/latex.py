"""``report.tex``: a booktabs table of methods x metrics for a paper, compiling with plain pdflatex.

Each cell is the value and its 95 % CI; the best value per metric (by its direction) is bold, with a
dagger where the paired comparison says it is significantly better than the runner-up.
"""

from __future__ import annotations

from pathlib import Path

from cfkit.evaluate.report import COPY_LABEL, best_for_metric, fmt
from cfkit.fsutil import atomic_write_text

SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "↔": r"$\leftrightarrow$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
}


def escape(text: str) -> str:
    """``text`` with LaTeX's special characters (and the arrows of metric labels) written as commands."""
    return "".join(SPECIALS.get(ch, ch) for ch in str(text))


def runner_up_beaten(doc: dict, metric: str, best: str) -> bool:
    """Whether ``best`` is significantly better than the method with the next best value."""
    info = doc["metric_info"][metric]
    vals = {m: r[metric]["value"] for m, r in doc["metrics"].items() if r[metric].get("value") is not None}
    rest = sorted((v, m) for m, v in vals.items() if m != best)
    if not rest:
        return False
    runner = (rest[-1] if info["higher_is_better"] else rest[0])[1]
    return any(
        e["metric"] == metric and e["significant"] and e["better"] == best and runner in (e["a"], e["b"])
        for e in doc.get("comparisons", [])
    )


def _cell(r: dict | None, bold: bool, dagger: bool) -> str:
    if not r or r.get("value") is None:
        return "--"
    v = escape(fmt(r["value"]))
    v = (rf"\textbf{{{v}}}" if bold else v) + (r"$^\dagger$" if dagger else "")
    ci = r.get("ci")
    return v + (rf" {{\scriptsize [{escape(fmt(ci[0]))}, {escape(fmt(ci[1]))}]}}" if ci else "")


def latex_table(doc: dict) -> str:
    """A standalone LaTeX document holding the table (copy the ``table`` environment into a paper)."""
    metrics = [k for k in doc["metric_info"] if any(r[k].get("value") is not None for r in doc["metrics"].values())]
    head = [
        escape(f"{doc['metric_info'][k]['label']} {'↑' if doc['metric_info'][k]['higher_is_better'] else '↓'}")
        for k in metrics
    ]
    best = {k: best_for_metric(doc, k) for k in metrics}
    dagger = {k: next(iter(best[k])) for k in metrics if len(best[k]) == 1 and runner_up_beaten(doc, k, *best[k])}
    rows = [
        " & ".join([escape(m), *(_cell(res[k], m in best[k], dagger.get(k) == m) for k in metrics)]) + r" \\"
        for m, res in doc["metrics"].items()
    ]
    if copy := doc.get("copy_input"):
        cells = [_cell(copy.get(k), False, False) for k in metrics]
        rows += [r"\midrule", " & ".join([rf"\emph{{{escape(COPY_LABEL)}}}", *cells]) + r" \\"]
    n = doc["source"]["n"]
    caption = (
        f"Mean over {n} source images with its 95\\% bootstrap CI; best per metric in bold; "
        r"$\uparrow$/$\downarrow$: higher/lower is better; $^\dagger$: significantly better than the runner-up "
        r"(per-image metrics: Wilcoxon signed-rank, Holm-corrected, $p<0.05$; FID/KID: 95\% bootstrap CI of "
        r"the difference excludes 0)."
    )
    return "\n".join(
        [
            "% Written by cfkit eval; compiles with pdflatex. Copy the table environment into a paper",
            "% (needs \\usepackage{booktabs} and \\usepackage{graphicx}).",
            r"\documentclass{article}",
            r"\usepackage[T1]{fontenc}",
            r"\usepackage[utf8]{inputenc}",
            r"\usepackage{booktabs}",
            r"\usepackage{graphicx}",
            r"\begin{document}",
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{caption}}}",
            r"\label{tab:cfkit-eval}",
            r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            rf"\begin{{tabular}}{{l{'c' * len(metrics)}}}",
            r"\toprule",
            " & ".join(["Method", *head]) + r" \\",
            r"\midrule",
            *rows,
            r"\bottomrule",
            r"\end{tabular}}",
            r"\end{table}",
            r"\end{document}",
            "",
        ]
    )


def write_latex(path: Path, doc: dict) -> None:
    atomic_write_text(path, latex_table(doc))
