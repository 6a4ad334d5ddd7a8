"""Study statistics against published worked examples, hand computations and scipy's reference functions."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cfkit.stats import bootstrap_ci, holm
from cfkit.study.analysis import block_matrix, metric_agreement, significance, summarize, table_markdown
from cfkit.study.stats import bradley_terry, friedman, krippendorff_alpha

nan = np.nan
# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", 4 coders x 12 units with missing values
KRIPP = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


@pytest.mark.parametrize("level,expected", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_published_example(level, expected):
    assert krippendorff_alpha(KRIPP, level) == pytest.approx(expected, abs=5e-4)


def test_krippendorff_perfect_agreement_is_one():
    assert krippendorff_alpha(np.array([[1, 2, 3, 4], [1, 2, 3, 4]]), "interval") == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_friedman_matches_scipy_with_ties(seed):
    m = np.random.default_rng(seed).integers(1, 6, (15, 4)).astype(float)  # many ties
    ref = stats.friedmanchisquare(*m.T)
    q, p = friedman(m)
    assert q == pytest.approx(ref.statistic, rel=1e-12) and p == pytest.approx(ref.pvalue, rel=1e-12)


def test_holm_hand_computed():
    # sorted p: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> monotone max .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5*2 = 1.0, then monotone


def test_bradley_terry_two_methods_and_mle_condition():
    lp = bradley_terry([[0, 3], [1, 0]])
    assert np.exp(lp[0] - lp[1]) == pytest.approx(3.0, rel=1e-6)  # MLE: p1/p2 = wins ratio
    w = np.array([[0, 7, 4], [3, 0, 6], [6, 4, 0]], float)
    p = np.exp(bradley_terry(w))
    n = w + w.T
    expected_wins = (n * p[:, None] / (p[:, None] + p[None, :])).sum(axis=1)
    assert expected_wins == pytest.approx(w.sum(axis=1), rel=1e-6)  # score equations hold at the optimum


def test_bootstrap_ci_close_to_scipy_percentile():
    x = np.random.default_rng(3).normal(3, 1, 80)
    lo, hi = bootstrap_ci(x, 4000, seed=0)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", rng=0).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.05) and hi == pytest.approx(ref.high, abs=0.05)
    assert lo < x.mean() < hi


def _ratings(fmt="likert"):
    """3 raters x 4 sources x 3 methods, one criterion; method c always best, a worst (with noise for b)."""
    rng = np.random.default_rng(0)
    rows = []
    for p in range(3):
        for s in range(4):
            base = {"a": 1, "b": 2 + int(rng.integers(0, 2)), "c": 4}
            for m, v in base.items():
                val = {"a": 3, "b": 2, "c": 1}[m] if fmt == "rank" else v
                rows.append(
                    {
                        "participant": f"p{p}",
                        "trial": s,
                        "item": f"s{s}",
                        "source": f"s{s}",
                        "criterion": "overall",
                        "method": m,
                        "value": float(val),
                    }
                )
    return pd.DataFrame(rows)


def test_summary_hand_computed_means_and_ranks():
    df = _ratings()
    s = summarize(df, "likert", n_boot=500).set_index("method")
    assert s.loc["a", "mean"] == 1.0 and s.loc["c", "mean"] == 4.0
    assert s.loc["c", "mean_rank"] == 1.0 and s.loc["a", "mean_rank"] == 3.0
    assert s.loc["b", "mean"] == pytest.approx(df[df.method == "b"].value.mean())
    assert "**4.00" in table_markdown(s.reset_index(), "likert", ["overall"])  # best marked
    r = summarize(_ratings("rank"), "rank", n_boot=200).set_index("method")
    assert r.loc["c", "mean_rank"] == 1.0 and r.loc["c", "bt"] > r.loc["b", "bt"] > r.loc["a", "bt"]


def test_significance_matches_scipy_on_block_matrix():
    df = _ratings()
    t = significance(df, "likert")["overall"]
    m = block_matrix(df, "overall", "likert")
    ref = stats.friedmanchisquare(*m.to_numpy().T)
    assert t["friedman_chi2"] == pytest.approx(ref.statistic) and t["n_blocks"] == 4
    ab = next(p for p in t["pairwise"] if {p["a"], p["b"]} == {"a", "b"})
    assert ab["p"] == pytest.approx(stats.wilcoxon(m["a"], m["b"]).pvalue)
    assert ab["p_holm"] == pytest.approx(holm([p["p"] for p in t["pairwise"]])[t["pairwise"].index(ab)])


def test_metric_agreement_orients_lower_is_better():
    summary = pd.DataFrame({"criterion": ["overall"] * 3, "method": ["a", "b", "c"], "mean": [1.0, 2.0, 3.0]})
    metrics = pd.DataFrame(
        {
            "method": ["a", "b", "c"] * 2,
            "metric": ["fid"] * 3 + ["ssim"] * 3,
            "value": [90.0, 50.0, 10.0, 0.2, 0.5, 0.9],
            "higher_is_better": [False] * 3 + [True] * 3,
        }
    )
    agree = metric_agreement(metrics, summary, "likert").set_index("metric")
    assert agree.loc["fid", "spearman"] == pytest.approx(1.0) and agree.loc["ssim", "kendall"] == pytest.approx(1.0)


def test_best_marks_ties_and_nothing_when_all_tie():
    from cfkit.study.analysis import best_by_criterion

    s = pd.DataFrame(
        {"criterion": ["x"] * 3 + ["y"] * 3, "method": list("abc") * 2, "mean": [2.0, 3.0, 3.0, 1.0, 1.0, 1.0]}
    )
    assert best_by_criterion(s, "likert") == {"x": ["b", "c"], "y": []}
    assert best_by_criterion(s, "rank") == {"x": ["a"], "y": []}  # rank: lower is better
