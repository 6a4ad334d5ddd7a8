"""Rating-submit latency with N simultaneous volunteers (default 100), PostgreSQL and SQLite side by side.

Each volunteer completes its plan; every trial is submitted twice at the same moment (a double click).
After each run the database is checked: every trial answered, every rating stored exactly once.
Goal (issue 25): p95 submit latency under 200 ms with 100 volunteers on PostgreSQL.
Peer baseline, same concurrency and same rows: a bare driver transaction (sqlite3 / psycopg2) inserting
the answer rows with ON CONFLICT DO NOTHING, i.e. the floor cost of durable, idempotent storage.

    python benchmarks/bench_study_submit.py [--volunteers 100] [--sources 8] [--postgres URL]

PostgreSQL URL defaults to $CFKIT_TEST_POSTGRES_URL (see scripts/ci_services.sh); skipped when unset.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(_TESTS / "study"), str(_TESTS)]  # the study fixtures, and the services helper they import
from conftest import make_folders, skimage_photos  # noqa: E402

from cfkit.console import set_verbosity  # noqa: E402
from cfkit.study.db import Database, open_db, to_url  # noqa: E402
from cfkit.study.design import create_study  # noqa: E402
from cfkit.study.export import ratings_frame  # noqa: E402
from cfkit.study.simulate import SimResult, simulate  # noqa: E402

GOAL_P95_MS = 200.0


def stored_exactly_once(db: Database, study: str, res: SimResult, rows_per_trial: int) -> bool:
    """Every trial answered, one row per (trial, criterion, image), none missing, none twice."""
    from sqlalchemy import func, select

    from cfkit.study.schema import Participant, Study, Trial

    df = ratings_frame(db, study)
    with db.read() as s:
        unanswered = s.scalar(
            select(func.count())
            .select_from(Trial)
            .join(Participant, Participant.id == Trial.participant_id)
            .join(Study, Study.id == Participant.study_id)
            .where(Study.name == study, Trial.answered_at.is_(None))
        )
    once = not df.duplicated(["participant", "trial", "criterion", "method"]).any()
    return once and unanswered == 0 and len(df) == res.trials * rows_per_trial and res.accepted == res.trials


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def raw_baseline(url: str, volunteers: int, trials: int, rows_per_trial: int, pool: int = 40) -> list[float]:
    """Same concurrency and row count through the bare driver (one transaction per submit), the volunteers
    sharing ``pool`` connections as cfkit's engine does (pool_size 20 + max_overflow 20; PostgreSQL's
    default max_connections is 100)."""
    if url.startswith("sqlite"):
        import sqlite3

        path = url.removeprefix("sqlite:///")
        connect = lambda: sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)  # noqa: E731
        ins, begin = "INSERT INTO raw VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", "BEGIN IMMEDIATE"
    else:
        import psycopg2

        dsn = "postgresql://" + url.split("://", 1)[1]
        connect = lambda: psycopg2.connect(dsn)  # noqa: E731
        ins, begin = "INSERT INTO raw VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", None
    c0 = connect()
    c0.cursor().execute("DROP TABLE IF EXISTS raw")
    c0.cursor().execute("CREATE TABLE raw (t INTEGER, c INTEGER, i INTEGER, v REAL, UNIQUE (t, c, i))")
    if not url.startswith("sqlite"):
        c0.commit()
    c0.close()
    conns: queue.Queue = queue.Queue()
    for _ in range(min(pool, volunteers)):
        conn = connect()
        if url.startswith("sqlite"):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # as cfkit: an acknowledged answer survives a power cut
        conns.put(conn)
    lat, lock, barrier = [], threading.Lock(), threading.Barrier(volunteers)

    def run(k: int) -> None:
        barrier.wait()
        for t in range(trials):
            rows = [(k * 1000 + t, r % 3, r, 3.0) for r in range(rows_per_trial)]
            t0 = time.perf_counter()
            conn = conns.get()
            cur = conn.cursor()
            if begin:
                cur.execute(begin)
            cur.executemany(ins, rows)
            if begin:
                cur.execute("COMMIT")
            else:
                conn.commit()
            conns.put(conn)
            with lock:
                lat.append(time.perf_counter() - t0)

    with ThreadPoolExecutor(volunteers) as pool_:
        list(pool_.map(run, range(volunteers)))
    while not conns.empty():
        conns.get().close()
    return lat


def fresh_pg(url: str) -> str:
    import sqlalchemy as sa

    admin = sa.create_engine(to_url(url), isolation_level="AUTOCOMMIT")
    name = f"cfkit_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def drop_pg(url: str, db_url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(to_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--volunteers", type=int, default=100)
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument(
        "--think", type=float, default=5.0, help="mean think time (s) per screen of the paced run (people: 10-30 s)"
    )
    ap.add_argument("--postgres", default=os.environ.get("CFKIT_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    set_verbosity(quiet=True)
    tmp = Path(tempfile.mkdtemp(prefix="cfkit-bench-study-"))
    src, out = make_folders(skimage_photos(args.sources), tmp / "run")
    targets = [("sqlite", str(tmp / "bench.db"))]
    if args.postgres:
        targets.append(("postgresql", fresh_pg(args.postgres)))
    else:
        print("postgresql: skipped (no --postgres / CFKIT_TEST_POSTGRES_URL)")
    print(
        f"{args.volunteers} simultaneous volunteers, {args.sources} sources x 3 methods x 3 criteria (Likert), "
        "every trial double-submitted"
    )
    print(f"machine: {load_line()}")
    print(
        f"{'backend':<11} {'mode':<12} {'trials':>6} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'raw p50':>8} {'raw p95':>8} {'p50 ratio':>9} {'p95<200':>7} {'once':>4}"
    )
    for name, db_url in targets[::-1]:  # PostgreSQL (the goal) first, SQLite beside it
        db = open_db(db_url)
        for mode, think in (("burst", 0.0), (f"paced {args.think:g}s", args.think)):
            study = f"bench-{mode.split()[0]}"
            create_study(
                db=db,
                out=tmp / name / study,
                methods={k: str(p) for k, p in out.items()},
                source=src,
                name=study,
                n_sources=args.sources,
                ratings_per_item=10 * args.volunteers,
            )
            t0 = time.perf_counter()
            res = simulate(db, study, volunteers=args.volunteers, double_submit=True, think_s=think)
            wall = time.perf_counter() - t0
            once = stored_exactly_once(db, study, res, 9)
            db.engine.dispose()  # free the pool's connections for the baseline (PostgreSQL allows 100)
            raw = raw_baseline(db.url, args.volunteers, res.trials // args.volunteers, 9)
            p50, p95 = res.percentile(50) * 1e3, res.percentile(95) * 1e3
            r50, r95 = np.percentile(raw, 50) * 1e3, np.percentile(raw, 95) * 1e3
            ratio = f"{p50 / r50:.1f}x" if r50 >= 0.1 else "-"  # sub-0.1 ms floors make ratios meaningless
            goal = "yes" if p95 < GOAL_P95_MS else "NO"
            print(
                f"{name:<11} {mode:<12} {res.trials:>6} {p50:>8.1f} {p95:>8.1f} {r50:>8.1f} {r95:>8.1f} "
                f"{ratio:>9} {goal:>7} {'yes' if once else 'NO':>4}   ({res.trials / wall:.0f} trials/s)"
            )
            if not once:
                sys.exit(f"{name} {mode}: a rating was lost or stored twice")
        db.dispose()
        print(f"  after {name}: {load_line()}")
        if name == "postgresql":
            drop_pg(args.postgres, db_url)


if __name__ == "__main__":
    main()
