"""Study analysis: per method x criterion means with bootstrap CIs and mean ranks, Friedman + Holm-corrected
Wilcoxon, Bradley-Terry, Krippendorff's alpha, a seed-002-style table, plots, and agreement with ``cfkit eval``."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from cfkit.fsutil import atomic_write_json, atomic_write_text
from cfkit.stats import bootstrap_ci, holm
from cfkit.study.stats import bradley_terry, friedman, krippendorff_alpha

ANALYSIS_FILES = ("ratings.csv", "summary.csv", "table.md", "summary.png", "stats.json")
"""What ``analyze`` writes into its ``out`` folder."""


def _criteria(df: pd.DataFrame) -> list[str]:
    """Criteria in the study's order when ``df.attrs["criteria"]`` is set, else as they appear."""
    present = list(dict.fromkeys(df["criterion"]))
    return [c for c in df.attrs.get("criteria", present) if c in present]


def _scored(df: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Add ``score`` (higher = better) and ``rank`` (1 = best within the trial and criterion)."""
    df = df.copy()
    df["score"] = -df["value"] if fmt == "rank" else df["value"]
    df["rank"] = df.groupby(["participant", "trial", "criterion"])["score"].rank(ascending=False, method="average")
    return df


def wins_matrix(df: pd.DataFrame, methods: list[str]) -> np.ndarray:
    """Pairwise wins from each trial's scores (ties give nothing): W[i, j] = times i beat j."""
    idx = {m: i for i, m in enumerate(methods)}
    w = np.zeros((len(methods), len(methods)))
    for _, g in df.groupby(["participant", "trial", "criterion"]):
        ms, sc = g["method"].map(idx).to_numpy(), g["score"].to_numpy()
        for a, b in itertools.combinations(range(len(ms)), 2):
            if sc[a] > sc[b]:
                w[ms[a], ms[b]] += 1
            elif sc[b] > sc[a]:
                w[ms[b], ms[a]] += 1
    return w


def summarize(df: pd.DataFrame, fmt: str, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per method x criterion: mean (Likert score / rank / win rate) with bootstrap CI, mean rank, n, BT score."""
    df = _scored(df, fmt)
    methods = sorted(df["method"].unique())
    rows = []
    for crit in _criteria(df):
        g = df[df["criterion"] == crit]
        bt = (
            dict(zip(methods, bradley_terry(wins_matrix(g, methods), prior=0.1), strict=True))
            if fmt != "likert"
            else {}
        )
        for m, gm in g.groupby("method"):
            lo, hi = bootstrap_ci(gm["value"].to_numpy(), n_boot, seed=seed) or (float("nan"), float("nan"))
            rows.append(
                {
                    "criterion": crit,
                    "method": m,
                    "mean": gm["value"].mean(),
                    "ci_low": lo,
                    "ci_high": hi,
                    "mean_rank": gm["rank"].mean(),
                    "n": len(gm),
                    **({"bt": bt[m]} if bt else {}),
                }
            )
    return pd.DataFrame(rows)


def block_matrix(df: pd.DataFrame, criterion: str, fmt: str) -> pd.DataFrame:
    """Sources x methods: each method's mean score per source image over raters (the Friedman blocks)."""
    g = _scored(df[df["criterion"] == criterion], fmt)
    return g.pivot_table(index="source", columns="method", values="score", aggfunc="mean").dropna()


def significance(df: pd.DataFrame, fmt: str) -> dict:
    """Per criterion: Friedman across methods (blocks = source images) and Holm-corrected pairwise Wilcoxon."""
    out = {}
    for crit in _criteria(df):
        m = block_matrix(df, crit, fmt)
        chi2, p = friedman(m.to_numpy())
        pairs = []
        for a, b in itertools.combinations(m.columns, 2):
            d = m[a] - m[b]
            w, pw = sps.wilcoxon(m[a], m[b]) if (d != 0).sum() >= 1 and len(d) >= 2 else (float("nan"), float("nan"))
            pairs.append({"a": a, "b": b, "median_diff": float(d.median()), "W": float(w), "p": float(pw)})
        ps = [q["p"] for q in pairs]
        finite = [i for i, q in enumerate(ps) if np.isfinite(q)]
        adj = holm([ps[i] for i in finite]) if finite else []
        for i, q in zip(finite, adj, strict=True):
            pairs[i]["p_holm"] = float(q)
        out[crit] = {"n_blocks": int(m.shape[0]), "friedman_chi2": chi2, "friedman_p": p, "pairwise": pairs}
    return out


def agreement(df: pd.DataFrame, fmt: str) -> dict:
    """Krippendorff's alpha per criterion: units = (item, method), raters = participants.

    Likert: ordinal and interval; rank: ordinal; pairwise: nominal (chosen or not).
    """
    levels = {"likert": ("ordinal", "interval"), "rank": ("ordinal",), "pairwise": ("nominal",)}[fmt]
    out = {}
    for crit in _criteria(df):
        g = df[df["criterion"] == crit]
        mat = g.pivot_table(index="participant", columns=["item", "method"], values="value", aggfunc="first")
        out[crit] = {f"alpha_{lv}": krippendorff_alpha(mat.to_numpy(dtype=float), lv) for lv in levels}
    return out


def best_by_criterion(summary: pd.DataFrame, fmt: str) -> dict[str, list[str]]:
    """Best method(s) per criterion: highest mean score / lowest mean rank / highest win rate.

    Ties share the mark; when every method ties, no method is best.
    """
    out = {}
    for c, g in summary.groupby("criterion", sort=False):
        top = g["mean"].min() if fmt == "rank" else g["mean"].max()
        winners = sorted(g.loc[np.isclose(g["mean"], top), "method"])
        out[c] = winners if len(winners) < len(g) else []
    return out


def table_markdown(summary: pd.DataFrame, fmt: str, criteria: list[str]) -> str:
    """Methods x criteria, ``mean [CI]``, best per criterion in bold (like the seed-002 user-study table)."""
    best = best_by_criterion(summary, fmt)
    unit = {
        "likert": "mean score 1-5 (higher is better)",
        "rank": "mean rank (lower is better)",
        "pairwise": "win rate (higher is better)",
    }[fmt]
    lines = [f"| method | {' | '.join(criteria)} |", "|---|" + "---|" * len(criteria)]
    for m in sorted(summary["method"].unique()):
        cells = []
        for c in criteria:
            r = summary[(summary["method"] == m) & (summary["criterion"] == c)]
            if r.empty:
                cells.append("-")
                continue
            r = r.iloc[0]
            txt = f"{r['mean']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
            cells.append(f"**{txt}**" if m in best.get(c, []) else txt)
        lines.append(f"| {m} | {' | '.join(cells)} |")
    return "\n".join(lines) + f"\n\nValues: {unit}, 95% bootstrap CI; best per criterion in bold.\n"


def plot_summary(summary: pd.DataFrame, fmt: str, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cfkit.fsutil import atomic_open

    crits = list(dict.fromkeys(summary["criterion"]))
    methods = sorted(summary["method"].unique())
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(crits) * max(1, len(methods) / 3), 3.2))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        s = summary[summary["method"] == m].set_index("criterion").reindex(crits)
        x = np.arange(len(crits)) + j * width
        err = np.vstack([s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]]).clip(min=0)
        ax.bar(x, s["mean"], width, yerr=err, capsize=3, label=m)
    ax.set_xticks(np.arange(len(crits)) + 0.4 - width / 2, crits)
    ax.set_ylabel({"likert": "mean score", "rank": "mean rank (lower better)", "pairwise": "win rate"}[fmt])
    ax.legend(fontsize=8, frameon=False, ncols=min(len(methods), 4))
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)
    return Path(path)


def load_eval_metrics(eval_dir: str | Path) -> pd.DataFrame:
    """Rows (method, metric, value, ..., higher_is_better) of a ``cfkit eval`` folder; empty without one."""
    from cfkit.evaluate.results import COLUMNS, load_eval

    if not (Path(eval_dir) / "metrics.json").is_file():
        return pd.DataFrame(columns=COLUMNS)
    return load_eval(eval_dir).metrics


def metric_agreement(metrics: pd.DataFrame, summary: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Does an automatic metric order the methods like people do? Spearman/Kendall per metric and criterion.

    ``human`` is oriented higher = better; ``agree`` is the correlation after orienting the metric the
    same way (metrics whose ``higher_is_better`` is false, such as FID, are negated), so +1 means
    identical orderings.
    """
    rows = []
    human = summary.assign(h=-summary["mean"] if fmt == "rank" else summary["mean"])
    for metric, crit in itertools.product(metrics["metric"].unique(), human["criterion"].unique()):
        a = metrics[metrics["metric"] == metric].set_index("method")["value"]
        b = human[human["criterion"] == crit].set_index("method")["h"]
        common = sorted(set(a.index) & set(b.index))
        if len(common) < 2 or a[common].nunique() < 2 or b[common].nunique() < 2:
            continue  # a constant ordering has no rank correlation
        higher = metrics.loc[metrics["metric"] == metric, "higher_is_better"].iloc[0]
        sign = 1.0 if higher is None or pd.isna(higher) or bool(higher) else -1.0
        rho = sps.spearmanr(sign * a[common], b[common]).statistic
        tau = sps.kendalltau(sign * a[common], b[common]).statistic
        rows.append({"metric": metric, "criterion": crit, "n_methods": len(common), "spearman": rho, "kendall": tau})
    return pd.DataFrame(rows, columns=["metric", "criterion", "n_methods", "spearman", "kendall"])


def analyze(
    db,
    study_name: str,
    out: str | Path | None = None,
    eval_dir: str | Path | None = None,
    exclude_failed: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Everything for one study; with ``out``: ratings.csv, summary.csv, stats.json, table.md, summary.png.

    ``out`` must be new, empty or an earlier analysis (replaced); ``force`` writes beside others' files.
    """
    from cfkit.errors import InputError
    from cfkit.fsutil import OutputFolder
    from cfkit.study.config import StudyConfig
    from cfkit.study.export import attention_results, main_ratings, ratings_frame
    from cfkit.study.volunteer import load_study

    folder = OutputFolder(out, "study analyze", force=force, replace=True) if out else None  # before any work

    with db.read() as s:
        _, cfg = load_study(s, study_name)
    fmt, criteria = cfg.response_format, list(cfg.criteria)
    raw = ratings_frame(db, study_name)
    if raw.empty:
        raise InputError(f"study '{study_name}' has no ratings yet")
    att = attention_results(raw, fmt)
    df = main_ratings(raw)
    if exclude_failed and len(att):
        df = df[~df["participant"].isin(att.loc[~att["passed"], "participant"])]
    df.attrs["criteria"] = criteria
    summary = summarize(df, fmt, n_boot, seed)
    result = {
        "study": study_name,
        "config": StudyConfig.to_dict(cfg),
        "n_participants": int(df["participant"].nunique()),
        "n_ratings": int(len(df)),
        "attention": {"checks": int(len(att)), "failed": int((~att["passed"]).sum())},
        "best": best_by_criterion(summary, fmt),
        "tests": significance(df, fmt),
        "agreement": agreement(df, fmt),
        "summary": summary,
        "table": table_markdown(summary, fmt, criteria),
    }
    if eval_dir:
        result["metric_agreement"] = metric_agreement(load_eval_metrics(eval_dir), summary, fmt)
    if folder is not None:
        from cfkit.study.export import write_table

        out = folder.path
        folder.begin(ANALYSIS_FILES)
        write_table(raw, out / "ratings.csv")
        write_table(summary, out / "summary.csv")
        atomic_write_text(out / "table.md", result["table"])
        plot_summary(summary, fmt, out / "summary.png")
        plain = {k: v for k, v in result.items() if k not in ("summary", "metric_agreement", "table")}
        if "metric_agreement" in result:
            plain["metric_agreement"] = result["metric_agreement"].to_dict(orient="records")
        atomic_write_json(out / "stats.json", plain)
        folder.finish()
    return result
