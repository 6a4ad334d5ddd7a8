"""Report notes: one line per reason a metric is unavailable, not one per method and metric."""

from __future__ import annotations

from cfkit.evaluate.report import notes_list


def _doc(metrics: dict) -> dict:
    methods = {m: {"missing": [], "extra": []} for m in metrics}
    return {"metrics": metrics, "methods": methods, "decode_errors": [], "provenance": {}}


def test_unavailable_metrics_are_grouped_by_reason():
    offline = "model asset 'fid-inception' is not available"
    gone = {"value": None, "unavailable": offline}
    ok = {"value": 0.5}
    doc = _doc(
        {
            "a": {"fid": gone, "kid": gone, "identity": ok},
            "b": {"fid": gone, "kid": gone, "identity": {"value": None, "unavailable": "no face found"}},
        }
    )
    notes = notes_list(doc)
    assert f"fid, kid unavailable for every method: {offline}" in notes
    assert "identity (b) unavailable: no face found" in notes
    assert sum(offline in n for n in notes) == 1


def test_the_copy_baseline_note_follows_each_metric_direction():
    doc = _doc(
        {
            "a": {"l1_target": {"value": 0.1}, "identity_target": {"value": 0.95}},
            "b": {"l1_target": {"value": 0.3}, "identity_target": {"value": 0.80}},
        }
    )
    doc["metric_info"] = {
        "l1_target": {"label": "L1", "higher_is_better": False},
        "identity_target": {"label": "ID", "higher_is_better": True},
    }
    doc["copy_input"] = {"l1_target": {"value": 0.2}, "identity_target": {"value": 0.9}}
    notes = notes_list(doc)
    assert "L1: copy the input scores 0.2000; below it: a; not below: b" in notes
    assert "ID: copy the input scores 0.9000; above it: a; not above: b" in notes


def test_the_copy_baseline_note_says_whether_each_lead_is_significant():
    doc = _doc({m: {"l1_target": {"value": v}} for m, v in {"a": 0.1, "b": 0.15, "c": 0.19, "d": 0.3}.items()})
    doc["metric_info"] = {"l1_target": {"label": "L1", "higher_is_better": False}}
    doc["copy_input"] = {"l1_target": {"value": 0.2}}
    doc["vs_copy"] = [
        {"metric": "l1_target", "a": "a", "significant": True, "p_holm": 0.0031},
        {"metric": "l1_target", "a": "b", "significant": False, "p_holm": 0.2},
        {"metric": "l1_target", "a": "c", "significant": False, "p_holm": None},
    ]
    assert (
        "L1: copy the input scores 0.2000; below it: a (significant, p_holm 0.0031), b (not significant, "
        "p_holm 0.2), c (not significant: untested); not below: d"
    ) in notes_list(doc)
