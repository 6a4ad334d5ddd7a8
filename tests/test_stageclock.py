"""The stage clock of ``prepare``: nested stages pause the outer one; a resumed run's seconds add up."""

from __future__ import annotations

import pytest

from cfkit import stageclock
from cfkit.stageclock import StageClock, stage_summary


def test_nested_stages_are_not_counted_twice(monkeypatch):
    now = iter([0.0, 1.0, 3.0, 6.0, 10.0, 11.0, 12.0])  # perf_counter at each enter and exit
    monkeypatch.setattr(stageclock, "perf_counter", lambda: next(now))
    clock = StageClock()
    with clock("align"):  # 0
        with clock("landmarks"):  # 1 .. 3
            pass
        with clock("landmarks"):  # 6 .. 10
            pass
    # align closes at 11
    assert clock.seconds == {"align": 1.0 + 3.0 + 1.0, "landmarks": 2.0 + 4.0}
    with clock("write"):  # 12 .. 12.5
        monkeypatch.setattr(stageclock, "perf_counter", lambda: 12.5)
    assert clock.take() == {"align": 5.0, "landmarks": 6.0, "write": 0.5}
    assert clock.seconds == {}


def test_a_stage_that_raises_is_still_charged(monkeypatch):
    now = iter([0.0, 2.0])
    monkeypatch.setattr(stageclock, "perf_counter", lambda: next(now))
    clock = StageClock()
    with pytest.raises(ValueError), clock("decode"):
        raise ValueError("corrupt")
    assert clock.seconds == {"decode": 2.0}


def test_summary_is_per_image_in_pipeline_order():
    line = stage_summary({"write": 1.0, "decode": 0.5, "detect": 2.5}, images=500)
    assert line == "decode 1.0 ms (12%), detect 5.0 ms (62%), write 2.0 ms (25%)"


def test_a_resumed_journal_adds_its_seconds(tmp_path):
    from cfkit.curate.journal import Journal

    journal = Journal(tmp_path / "journal" / "all")
    assert journal.record_seconds({}) == {} and not (tmp_path / "journal").exists()  # nothing ran: nothing written
    journal.record_seconds({"decode": 1.0, "detect": 2.0})
    total = Journal(tmp_path / "journal" / "all").record_seconds({"detect": 1.0, "mask": 0.5})
    assert total == {"decode": 1.0, "detect": 3.0, "mask": 0.5} == journal.seconds()
