"""Study database URLs: postgres:// accepted, the password never shown; SQLite durability of acknowledged ratings."""

from __future__ import annotations

import pytest


def test_postgres_scheme_is_accepted_and_the_password_masked():
    from cfkit.study.db import masked, to_url

    url = to_url("postgres://alice:s3cr@t:pw@db.example.org:5432/study")
    assert url.startswith("postgresql+psycopg") and url.endswith("alice:s3cr@t:pw@db.example.org:5432/study")
    assert masked(url).endswith("://alice:***@db.example.org:5432/study")
    assert masked("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_unreachable_database_is_one_line_without_the_password(scheme, tmp_path, run_cli):
    url = f"{scheme}://alice:s3cret@127.0.0.1:9/nope"  # port 9 (discard): nothing listens
    rc, out, err = run_cli("study", "export", "--study", "s", "--db", url, "--out", tmp_path / "r.csv")
    assert rc != 0 and "s3cret" not in out + err
    assert err.startswith("error: cannot open the study database") and "alice:***@127.0.0.1:9/nope" in err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1


def test_a_password_in_the_query_string_is_masked_too(tmp_path, run_cli):
    url = "postgresql://alice@127.0.0.1:9/nope?sslmode=disable&password=s3cret"
    rc, out, err = run_cli("study", "export", "--study", "s", "--db", url, "--out", tmp_path / "r.csv")
    assert rc != 0 and "s3cret" not in out + err
    assert "alice@127.0.0.1:9/nope?sslmode=disable&password=***" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_messages_on_postgresql_mask_the_password(db_url, folders, tmp_path, run_cli):
    """On a live PostgreSQL (CI): the create hint and the 'already exists' error show no password."""
    password = db_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    src, out = folders
    methods = ",".join(f"{k}={p}" for k, p in out.items())
    args = ("study", "create", "--methods", methods, "--source", src, "--n", "2", "--name", "m", "--db", db_url)
    rc, o, e = run_cli(*args, "--out", tmp_path / "m")
    assert rc == 0, e
    assert f":{password}@" not in o + e and ":***@" in o
    rc, o, e = run_cli(*args, "--out", tmp_path / "m2")
    assert rc != 0 and "already exists" in e and f":{password}@" not in o + e


def test_sqlite_commits_are_durable(tmp_path):
    """Every connection runs WAL with synchronous=FULL: the WAL is fsynced at each commit, so a rating the
    volunteer saw accepted survives a power failure (NORMAL may lose the last commits)."""
    import threading

    from sqlalchemy import text

    from cfkit.study.db import Database

    db = Database(tmp_path / "d.db")
    seen, barrier = [], threading.Barrier(4)

    def probe():
        with db.read() as s:
            barrier.wait()  # four connections open at once: none is a reused, already-checked one
            seen.append(
                (s.execute(text("PRAGMA journal_mode")).scalar(), s.execute(text("PRAGMA synchronous")).scalar())
            )

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [("wal", 2)] * 4  # 2 = FULL


def test_new_sqlite_study_database_is_private(folders, tmp_path):
    """study.db holds participant codes and which image came from which method: owner-only, with its WAL."""
    import os
    import stat

    from cfkit.study import volunteer as v
    from cfkit.study.design import create_study

    src, out = folders
    old = os.umask(0o022)  # the usual umask, under which files are world-readable
    try:
        create_study(out=tmp_path / "new" / "s", source=src, methods={k: str(p) for k, p in out.items()}, n_sources=2)
    finally:
        os.umask(old)
    db = tmp_path / "new" / "s" / "study.db"
    from cfkit.study.db import open_db

    v.start_participant(open_db(db), "study")  # a write: the -wal and -shm files exist now
    for f in (db, db.with_name("study.db-wal"), db.with_name("study.db-shm")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700  # the study folder cfkit created
