"""Database connection: a SQLite file (WAL, busy timeout, immediate write transactions) or PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cfkit.errors import InputError
from cfkit.study.schema import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000


_PASSWORD = re.compile(r"(://[^:/@]*:).*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def masked(url: str | Path) -> str:
    """``url`` with its password (``user:pw@`` or ``?password=pw``) shown as ``***``: the form every message
    uses (never the password)."""
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1***@", str(url)))


def to_url(db: str | Path) -> str:
    """``postgresql://`` / ``postgres://`` / ``sqlite:///`` URLs (the first two get a driver); anything else is
    a SQLite file path."""
    s = str(db)
    if "://" in s:
        scheme = s.split("://", 1)[0]
        if scheme in ("postgresql", "postgres"):
            return "postgresql+" + _pg_driver() + "://" + s.split("://", 1)[1]
        if not scheme.startswith(("sqlite", "postgresql+")):
            raise InputError(f"unsupported database URL '{scheme}://' (use a SQLite path or postgresql://)")
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL; None for an in-memory SQLite database or another database."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    return Path(path) if path and path != ":memory:" else None


def _pg_driver() -> str:
    """psycopg (3) where installed, else psycopg2 (the ``postgres`` extra)."""
    import importlib.util

    for mod, name in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(mod):
            return name
    raise InputError("PostgreSQL needs a driver: pip install 'cfkit[postgres]'")


def _create_private(path: Path) -> None:
    """Create a missing SQLite file owner-only (0600; a missing folder 0700): it holds participant codes and
    which image came from which method. SQLite gives its -wal and -shm files the database's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")  # WAL + FULL: a commit (an acknowledged rating) survives power loss
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # Writers take the lock up front: no read->write upgrade that fails with SQLITE_BUSY under load.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("cfkit_write") else "BEGIN")


class Database:
    """Engine + sessions. ``read()`` for queries, ``write()`` for one atomic write transaction."""

    def __init__(self, db: str | Path, create: bool = True):
        self.url = to_url(db)
        self.shown_url = masked(self.url)  # for messages
        self.is_sqlite = self.url.startswith("sqlite")
        #: the SQLite database file (None: in memory, or PostgreSQL)
        self.file = sqlite_file(self.url)
        if self.is_sqlite:
            if self.file:
                if not create and not self.file.is_file():
                    raise InputError(f"study database not found: {self.file}")
                _create_private(self.file)
            self.engine = create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=20
            )
            _sqlite_setup(self.engine)
        else:
            try:
                self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=20, max_overflow=20)
            except (ArgumentError, ValueError):
                raise InputError(f"not a valid database URL: {self.shown_url}") from None
        self._writer = self.engine.execution_options(cfkit_write=True)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self._writer, expire_on_commit=False)
        # SQLite has one writer at a time: queue this process's writers on a lock instead of in SQLite's
        # busy handler (which sleeps in steps of up to 100 ms); other processes still wait via busy_timeout.
        self._wlock = threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as e:
            reason = masked(str(e.orig).strip().splitlines()[0]) if e.orig else "connection failed"
            raise InputError(f"cannot open the study database {self.shown_url}: {reason}") from None

    def __repr__(self) -> str:
        return f"Database({self.shown_url!r})"

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as s, s.begin():
            yield s

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        with self._wlock, self._write() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


_CACHE: dict[str, Database] = {}


def open_db(db: str | Path, create: bool = True) -> Database:
    """A process-wide :class:`Database` per URL (engines are pools: share them)."""
    url = to_url(db)
    if url not in _CACHE:
        _CACHE[url] = Database(url, create=create)
    return _CACHE[url]
