"""Study design, blind trials, balanced assignment, attention checks, idempotent submits, CLI."""

import json
from collections import Counter
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import func, select

from cfkit.errors import InputError
from cfkit.study import volunteer as v
from cfkit.study.assignment import pick_items, plan_trials
from cfkit.study.db import open_db
from cfkit.study.design import create_study, select_sources
from cfkit.study.export import attention_results, ratings_frame
from cfkit.study.schema import Response
from cfkit.study.stimuli import trial_pngs


def _mk(folders, tmp_path, db=None, **kw):
    src, out = folders
    kw = {"name": "s", "n_sources": 6, "ratings_per_item": 3, **kw}
    create_study(
        db=db or tmp_path / "study.db",
        out=tmp_path / "study",
        methods={k: str(p) for k, p in out.items()},
        source=src,
        **kw,
    )
    return open_db(db or tmp_path / "study.db")


def _answer(trial, fmt, rng, bias=None):
    """Random valid answers; ``bias`` (token -> score) makes them deterministic."""
    out = {}
    for c in trial.criteria:
        if fmt == "pairwise":
            out[c] = trial.outputs[int(rng.integers(len(trial.outputs)))]
        elif fmt == "rank":
            out[c] = dict(zip(trial.outputs, (rng.permutation(len(trial.outputs)) + 1).tolist(), strict=True))
        else:
            out[c] = {o: (bias or {}).get(o, int(rng.integers(1, 6))) for o in trial.outputs}
    return out


def _complete(db, name, code, fmt="likert", seed=0):
    rng = np.random.default_rng(seed)
    n = 0
    while (t := v.current_trial(db, name, code)) is not None:
        assert v.submit(db, name, code, t.trial_id, _answer(t, fmt, rng))
        n += 1
    return n


def test_select_sources_seeded_and_stratified():
    ids = [f"i{k:02d}" for k in range(20)]
    strata = {i: ("f" if k < 15 else "m") for k, i in enumerate(ids)}
    a = select_sources(ids, 8, seed=1, strata=strata)
    assert a == select_sources(ids, 8, seed=1, strata=strata) and len(set(a)) == 8
    assert Counter(strata[i] for i in a) == {"f": 6, "m": 2}  # 15:5 -> 6:2
    assert select_sources(ids, 8, seed=1) != select_sources(ids, 8, seed=2)


def test_create_writes_db_and_yaml(folders, tmp_path):
    db = _mk(folders, tmp_path)
    d = yaml.safe_load((tmp_path / "study" / "study.yaml").read_text())
    assert d["config"]["criteria"] == ["identity", "realism", "overall"] and len(d["items"]) == 6
    assert set(d["methods"]) == {"blurry", "poster", "sharp"} and all(len(it["methods"]) == 3 for it in d["items"])
    with pytest.raises(InputError, match="already exists"):
        _mk(folders, tmp_path, db=tmp_path / "study.db")
    assert db.is_sqlite


def test_create_from_eval_folder_and_errors(folders, tmp_path, write_eval):
    src, out = folders
    ev = write_eval(tmp_path / "eval", src, out, {"blurry": {"fid": 1.0}})
    create_study(
        db=tmp_path / "e.db",
        out=tmp_path / "es",
        from_eval=ev,
        name="e",
        n_sources=4,
        response_format="pairwise",
        criteria=["overall"],
    )
    d = yaml.safe_load((tmp_path / "es" / "study.yaml").read_text())
    assert len(d["items"]) == 4 * 3 and all(len(it["methods"]) == 2 for it in d["items"])  # 3 pairs per source
    with pytest.raises(InputError, match="source"):
        create_study(db=tmp_path / "x.db", out=tmp_path / "x", methods={"a": str(out["blurry"])}, name="x")
    with pytest.raises(InputError, match="two methods"):
        create_study(
            db=tmp_path / "y.db",
            out=tmp_path / "y",
            methods={"a": str(out["blurry"])},
            source=src,
            name="y",
            response_format="rank",
        )
    with pytest.raises(InputError, match="format"):
        create_study(
            db=tmp_path / "z.db",
            out=tmp_path / "z",
            source=src,
            methods={"a": str(out["blurry"])},
            response_format="stars",
        )


def test_trials_are_blind_and_randomised(folders, tmp_path):
    db = _mk(folders, tmp_path, ratings_per_item=10)
    code = v.start_participant(db, "s")
    t = v.current_trial(db, "s", code)
    text = repr(t)
    for secret in ("blurry", "poster", "sharp", str(tmp_path), "face0"):
        assert secret not in text  # no method name, path or source id reaches the page
    layouts = set()
    for _ in range(6):
        c = v.start_participant(db, "s")
        layouts.add(v.current_trial(db, "s", c).outputs)
    assert len(layouts) > 1  # output order differs between volunteers
    png = trial_pngs(db, [t.outputs[0]])[0]
    assert png.startswith(b"\x89PNG") and b"blurry" not in png and b"tEXt" not in png


def test_submit_validates_and_is_idempotent(folders, tmp_path):
    db = _mk(folders, tmp_path)
    a, b = v.start_participant(db, "s"), v.start_participant(db, "s")
    t = v.current_trial(db, "s", a)
    good = {c: {o: 4 for o in t.outputs} for c in t.criteria}
    with pytest.raises(InputError, match="belong"):
        v.submit(db, "s", b, t.trial_id, good)  # another volunteer's trial
    with pytest.raises(InputError, match="overall"):
        v.submit(db, "s", a, t.trial_id, {k: x for k, x in good.items() if k != "overall"})
    with pytest.raises(InputError, match="1-5"):
        v.submit(db, "s", a, t.trial_id, {c: {o: 9 for o in t.outputs} for c in t.criteria})
    assert v.submit(db, "s", a, t.trial_id, good) is True
    assert v.submit(db, "s", a, t.trial_id, {c: {o: 1 for o in t.outputs} for c in t.criteria}) is False
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 9  # 3 criteria x 3 outputs, once
    assert set(ratings_frame(db, "s")["value"]) == {4.0}  # the first answer stands
    assert v.current_trial(db, "s", a).trial_id != t.trial_id  # resumes at the next trial


def test_balanced_assignment_fills_every_quota(folders, tmp_path):
    db = _mk(
        folders, tmp_path, trials_per_participant=4, ratings_per_item=2, attention_duplicates=0, attention_broken=0
    )
    codes = []
    for _ in range(3):  # 3 x 4 = 12 = 6 items x quota 2
        codes.append(v.start_participant(db, "s"))
        _complete(db, "s", codes[-1])
    df = ratings_frame(db, "s")
    per_item = df.groupby("item")["participant"].nunique()
    assert len(per_item) == 6 and set(per_item) == {2}
    with pytest.raises(v.StudyFull):
        v.start_participant(db, "s")
    assert v.completion_code(db, "s", codes[0]) and v.completion_code(db, "s", "NOPE-NOPE") is None


def test_pick_items_and_plan_trials():
    rng = np.random.default_rng(0)
    assert pick_items({1: 0, 2: 5, 3: 1, 4: 2}, quota=2, k=3, rng=rng) == [1, 3]
    items = {i: [10 * i, 10 * i + 1, 10 * i + 2] for i in range(1, 6)}
    plan = plan_trials(items, list(items), rng, duplicates=2, broken={1: [99]}, n_broken=1)
    kinds = Counter(t.kind for t in plan)
    assert kinds == {"main": 5, "duplicate": 2, "broken": 1}
    for n, t in enumerate(plan):
        if t.kind == "duplicate":
            ref = plan[t.ref_seq]
            assert ref.kind == "main" and ref.item_id == t.item_id and t.ref_seq < n - 1
            assert sorted(ref.layout) == sorted(t.layout)
        if t.kind == "broken":
            assert 99 in t.layout and t.item_id == 1


@pytest.mark.parametrize("fmt", ["likert", "rank", "pairwise"])
def test_attention_checks_recorded_and_scored(folders, tmp_path, fmt):
    db = _mk(folders, tmp_path, response_format=fmt, n_sources=3, attention_duplicates=1, attention_broken=1)
    code = v.start_participant(db, "s")
    _complete(db, "s", code, fmt)
    df = ratings_frame(db, "s")
    assert {"main", "duplicate", "broken"} <= set(df["trial_kind"])
    assert "<broken>" in set(df["method"])
    att = attention_results(df, fmt)
    assert list(att["kind"].value_counts().sort_index()) == [1, 1]


def test_broken_check_passes_when_broken_rated_worst(folders, tmp_path):
    db = _mk(folders, tmp_path, n_sources=3)
    code = v.start_participant(db, "s")
    with db.read() as s:
        from cfkit.study.schema import Image

        broken = set(s.scalars(select(Image.token).where(Image.kind == "broken")))
    while (t := v.current_trial(db, "s", code)) is not None:  # careful volunteer: broken = 1, others 4
        v.submit(db, "s", code, t.trial_id, {c: {o: 1 if o in broken else 4 for o in t.outputs} for c in t.criteria})
    att = attention_results(ratings_frame(db, "s"), "likert")
    assert att["passed"].all() and len(att) == 2


def test_cli_create_export_analyze(folders, tmp_path, run_cli, write_eval):
    src, out = folders
    methods = ",".join(f"{k}={p}" for k, p in out.items())
    db = tmp_path / "c.db"
    create = ["study", "create", "--methods", methods, "--source", src, "--n", "4", "--db", db, "--out", tmp_path / "c"]
    rc, o, e = run_cli(*create, "--name", "c", "--ratings-per-item", "5")
    assert rc == 0, e
    assert "cfkit study serve --study c" in o
    dbo = open_db(db)
    for seed in range(3):
        _complete(dbo, "c", v.start_participant(dbo, "c"), seed=seed)
    rc, o, e = run_cli("study", "export", "--study", "c", "--db", db, "--out", tmp_path / "r.parquet")
    assert rc == 0, e
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == len(ratings_frame(dbo, "c"))
    ev = write_eval(
        tmp_path / "ev", *folders, {m: {"fid": v} for m, v in [("blurry", 30.0), ("poster", 20.0), ("sharp", 10.0)]}
    )
    rc, o, e = run_cli(
        "study", "analyze", "--study", "c", "--db", db, "--out", tmp_path / "an", "--n-boot", "200", "--eval", ev
    )
    assert rc == 0, e
    assert "Friedman" in o and "| blurry |" in o and "fid ~ overall" in o
    stats = json.loads((tmp_path / "an" / "stats.json").read_text())
    assert stats["n_participants"] == 3 and set(stats["best"]) == {"identity", "realism", "overall"}
    assert (tmp_path / "an" / "summary.png").stat().st_size > 1000
    # an earlier analysis is replaced; a folder of others' files is refused (and kept), or written beside (--force)
    analyze = ["study", "analyze", "--study", "c", "--db", db, "--n-boot", "50", "--out"]
    rc, o, e = run_cli(*analyze, tmp_path / "an")
    assert rc == 0, e
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    rc, o, e = run_cli(*analyze, mine)
    assert rc != 0 and "has no record of writing there (e.g. notes.txt)" in e and len(e.strip().splitlines()) == 1
    assert not (mine / "stats.json").exists()
    rc, o, e = run_cli(*analyze, mine, "--force")
    assert rc == 0, e
    assert (mine / "notes.txt").read_text() == "mine" and (mine / "stats.json").is_file()
    # a second study is not created into the first one's folder (its study.yaml stays)
    before = (tmp_path / "c" / "study.yaml").read_text()
    rc, o, e = run_cli(*create, "--name", "c2")
    assert rc != 0 and "study.yaml exists; give study 'c2' its own --out folder" in e
    assert (tmp_path / "c" / "study.yaml").read_text() == before
    rc, o, e = run_cli("study", "analyze", "--study", "nope", "--db", db)
    assert rc != 0 and "no study named 'nope'" in e
    rc, o, e = run_cli("study", "serve", "--help")
    assert rc == 0 and "http://127.0.0.1:8501/" in o


def _held_per_item(db) -> Counter:
    """Main trials answered or shown (places taken in the quotas), per item."""
    from cfkit.study.schema import Trial

    with db.read() as s:
        rows = s.execute(select(Trial.item_id).where(Trial.kind == "main", Trial.shown_at.is_not(None))).all()
    return Counter(i for (i,) in rows)


def test_scripted_starts_do_not_lock_the_study(folders, tmp_path):
    """59 scripted Starts (the old whole-plan reservation locked this quota-2 study after 2) leave every place
    free; trials shown and then abandoned give their place back after ``stale_after_s``."""
    from cfkit.study.schema import Trial

    db = _mk(folders, tmp_path, n_sources=2, ratings_per_item=2, attention_duplicates=0, attention_broken=0)
    for _ in range(59):
        v.start_participant(db, "s")
    assert _complete(db, "s", v.start_participant(db, "s")) == 2  # a real volunteer still rates both items
    idle = [v.start_participant(db, "s") for _ in range(3)]
    shown = [v.current_trial(db, "s", c) for c in idle[:2]]  # each holds a place while its screen is open
    assert _held_per_item(db) == Counter(dict.fromkeys(_held_per_item(db), 2))  # 2 items x quota 2: all held
    assert v.current_trial(db, "s", idle[2]) is None  # nothing free for now: its screens are skipped
    with db.write() as s:  # the two idle volunteers walked away 11 minutes ago (stale_after_s = 10 min)
        for t in s.scalars(select(Trial).where(Trial.id.in_([t.trial_id for t in shown]))):
            t.shown_at -= timedelta(minutes=11)
    late = v.start_participant(db, "s")
    assert _complete(db, "s", late) == 2  # their places went back to the quota
    assert v.current_trial(db, "s", idle[0]) is None  # back too late: the item is full, nothing over quota
    assert set(ratings_frame(db, "s").groupby("item")["participant"].nunique()) == {2}


def test_places_are_taken_when_shown_and_never_exceed_the_quota(folders, tmp_path):
    """Ten volunteers who all started before anyone answered: each item gets exactly its quota."""
    db = _mk(folders, tmp_path, n_sources=2, ratings_per_item=3, attention_duplicates=0, attention_broken=0)
    codes = [v.start_participant(db, "s") for _ in range(10)]  # the old code: StudyFull from the 4th on
    rng = np.random.default_rng(0)
    for _ in range(2):  # round robin: everyone looks at a screen, then everyone answers it
        shown = [(c, v.current_trial(db, "s", c)) for c in codes]
        for c, t in shown:
            if t is not None:
                assert v.submit(db, "s", c, t.trial_id, _answer(t, "likert", rng))
    assert all(v.current_trial(db, "s", c) is None for c in codes)
    per_item = ratings_frame(db, "s").groupby("item")["participant"].nunique()
    assert len(per_item) == 2 and set(per_item) == {3}


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (3.9, "whole numbers"),
        (True, "whole numbers"),
        ("5", "whole numbers"),
        (float("nan"), "whole numbers"),
        (0, "whole numbers 1-5"),
        (None, "for every image"),
        ("x", "whole numbers"),
    ],
)
def test_rating_values_are_validated_not_truncated(folders, tmp_path, bad, why):
    db = _mk(folders, tmp_path)
    code = v.start_participant(db, "s")
    t = v.current_trial(db, "s", code)
    answers = {c: {o: 4 for o in t.outputs} for c in t.criteria}
    answers["realism"] = {**answers["realism"], t.outputs[1]: bad}
    if bad is None:
        answers["realism"].pop(t.outputs[1])
    with pytest.raises(InputError, match=why):
        v.submit(db, "s", code, t.trial_id, answers)
    for junk in (["not", "a", "dict"], "text"):
        with pytest.raises(InputError):
            v.submit(db, "s", code, t.trial_id, junk)
    with pytest.raises(InputError, match="belong"):
        v.submit(db, "s", code, "abc", answers)
    assert ratings_frame(db, "s").empty
    answers["realism"][t.outputs[1]] = 5.0  # a whole float (e.g. from JSON) is accepted as 5
    assert v.submit(db, "s", code, t.trial_id, answers)
    assert sorted(set(ratings_frame(db, "s")["value"])) == [4.0, 5.0]


def test_misspelt_or_mistyped_study_options_are_one_line_errors(folders, tmp_path, run_cli):
    """StudyConfig goes through the typed loader: a misspelt key is refused (it used to be dropped silently)."""
    src, out = folders
    with pytest.raises(InputError, match=r"unknown option\(s\) n_soruces \(known: .*n_sources"):
        create_study(db=tmp_path / "x.db", out=tmp_path / "x", source=src, methods=out, n_soruces=5)
    with pytest.raises(InputError, match="seed must be an integer"):
        create_study(db=tmp_path / "x.db", out=tmp_path / "x", source=src, methods=out, seed="zero")
    methods = ",".join(f"{k}={p}" for k, p in out.items())
    opts = tmp_path / "study-options.yaml"
    opts.write_text("n_sources: 3\nratings_per_item: 2\n")
    base = ("study", "create", "--methods", methods, "--source", src, "--out", tmp_path / "c")
    rc, _, err = run_cli(*base, "--set", "n_soruces=5")
    assert rc == 2 and "--set: unknown option(s) n_soruces" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run_cli(*base, "--options", opts, "--n", "4", "--set", "ratings_per_item=3", "--name", "c")
    assert rc == 0, err
    cfg = yaml.safe_load((tmp_path / "c" / "study.yaml").read_text())["config"]
    assert (cfg["n_sources"], cfg["ratings_per_item"]) == (4, 3)  # file < flags < --set
    assert not (tmp_path / "x").exists()
