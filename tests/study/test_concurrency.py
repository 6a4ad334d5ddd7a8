"""20+ volunteers submitting at once (with simultaneous double submits): every rating stored exactly once,
on SQLite and on PostgreSQL (CFKIT_TEST_POSTGRES_URL, see scripts/ci_services.sh)."""

from sqlalchemy import func, select

from cfkit.study.db import open_db
from cfkit.study.design import create_study
from cfkit.study.export import ratings_frame
from cfkit.study.schema import Response, Trial
from cfkit.study.simulate import simulate


def test_concurrent_volunteers_store_every_rating_once(folders, tmp_path, db_url):
    src, out = folders
    create_study(
        db=db_url,
        out=tmp_path / "s",
        methods={k: str(p) for k, p in out.items()},
        source=src,
        name="load",
        n_sources=4,
        ratings_per_item=30,
        attention_duplicates=1,
        attention_broken=1,
    )
    db = open_db(db_url)
    res = simulate(db, "load", volunteers=20, double_submit=True)
    assert res.accepted == res.trials == 20 * (4 + 2)  # each double click stored once, none lost
    with db.read() as s:
        n_resp = s.scalar(select(func.count()).select_from(Response))
        unanswered = s.scalar(select(func.count()).select_from(Trial).where(Trial.answered_at.is_(None)))
    assert n_resp == res.trials * 3 * 3 and unanswered == 0  # 3 criteria x 3 outputs per trial
    df = ratings_frame(db, "load")
    assert not df.duplicated(["participant", "trial", "criterion", "method"]).any()
    assert df.groupby("participant")["trial"].nunique().eq(6).all() and df["participant"].nunique() == 20


def test_two_processes_share_one_sqlite_file(folders, tmp_path):
    """Two server processes on one SQLite file: cross-process locking (BEGIN IMMEDIATE + busy_timeout)."""
    import subprocess
    import sys

    src, out = folders
    db = str(tmp_path / "mp.db")
    create_study(
        db=db,
        out=tmp_path / "s",
        methods={k: str(p) for k, p in out.items()},
        source=src,
        name="mp",
        n_sources=3,
        ratings_per_item=30,
        attention_duplicates=0,
        attention_broken=0,
    )
    procs = [  # separate interpreters (not multiprocessing: AppTest leaves its script as __main__)
        subprocess.Popen(
            [sys.executable, "-m", "cfkit.study.simulate", db, "mp", "10", str(seed)], stdout=subprocess.PIPE, text=True
        )
        for seed in (0, 100)
    ]
    results = [tuple(map(int, p.communicate(timeout=300)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert results == [(30, 30), (30, 30)]  # 10 volunteers x 3 trials each, every one stored once
    df = ratings_frame(open_db(db), "mp")
    assert df["participant"].nunique() == 20 and len(df) == 20 * 3 * 3 * 3
    assert not df.duplicated(["participant", "trial", "criterion", "method"]).any()
