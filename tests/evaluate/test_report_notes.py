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
