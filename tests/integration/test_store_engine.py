"""``store.engine``: URLs built as objects, the busy timeout on every connection, write
transactions that take SQLite's lock first, and what each failure of a driver means
(``Store.failure``): the store's own (a ``StoreError`` with its code) or the work's (``None``:
a value too long, a deadlock to retry...)."""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from _postgres import drop_database, postgres_url
from chorus_batch.errors import StoreError
from chorus_batch.store.engine import Store, savepoint, sqlite_url

ODD_NAMES = ["orders%41", "a?x=1", "a#frag", "with spaces", "é", "%2F..%3F#?&=+;@:"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_a_file_url_names_that_file_and_survives_pickling_and_text(name: str) -> None:
    path = Path("/srv") / name / "var" / "store.sqlite"
    url = sqlite_url(path)
    assert url.database == str(path)
    assert pickle.loads(pickle.dumps(url)) == url  # what a run's peers receive
    assert make_url(url.render_as_string(hide_password=False)).database == str(path)


def test_a_store_opens_from_a_path_a_url_or_text(tmp_path: Path) -> None:
    folder = tmp_path / "a?x=1#b %41"
    folder.mkdir()
    path = folder / "store.sqlite"
    for store in (
        Store.for_file(path),
        Store(sqlite_url(path)),
        Store(sqlite_url(path).render_as_string(hide_password=False)),
    ):
        try:
            with store.begin() as conn:
                conn.execute(text("SELECT 1"))
            assert store.name == str(path) and store.path == path
        finally:
            store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert sorted(p.name for p in folder.iterdir()) == ["store.sqlite"]


def test_every_sqlite_connection_waits_the_busy_timeout(tmp_path: Path) -> None:
    store = Store.for_file(tmp_path / "s.sqlite", busy_timeout=12.5)
    try:
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12500
    finally:
        store.close()


def test_a_write_takes_the_lock_first_a_read_never_waits(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store.for_file(path, busy_timeout=0.2)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        with store.read() as conn:  # WAL: a reader is never blocked by a writer
            assert conn.execute(text("SELECT count(*) FROM received_files")).scalar() == 0
        with pytest.raises(StoreError) as caught, store.begin():
            pass  # BEGIN IMMEDIATE itself waits for the lock, then gives up
        assert caught.value.code == "STORE_BUSY" and not caught.value.uncertain
        assert "store busy (another process is writing); try again" in caught.value.message
        assert str(path) in caught.value.message and "0.2 s" in caught.value.message
        writer.execute("COMMIT")
        with store.begin() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        writer.close()
        store.close()


def _sqlite_error(kind: type[sqlite3.Error], message: str, code: int) -> sqlite3.Error:
    exc = kind(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]  # set by the sqlite3 module on real ones
    return exc


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (_sqlite_error(sqlite3.OperationalError, "database is locked", 5), "STORE_BUSY"),
        (_sqlite_error(sqlite3.OperationalError, "database table is locked", 6), "STORE_BUSY"),
        (_sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database", 8), "STORE_UNWRITABLE"),
        (
            _sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database", 8 | 3 << 8),
            "STORE_UNWRITABLE",
        ),
        (_sqlite_error(sqlite3.OperationalError, "database or disk is full", 13), "STORE_FULL"),
        (_sqlite_error(sqlite3.DatabaseError, "file is not a database", 26), "STORE_CORRUPT"),
        (_sqlite_error(sqlite3.DatabaseError, "database disk image is malformed", 11), "STORE_CORRUPT"),
        (_sqlite_error(sqlite3.OperationalError, "disk I/O error", 10), "STORE_UNREACHABLE"),
        (_sqlite_error(sqlite3.OperationalError, "unable to open database file", 14), "STORE_UNWRITABLE"),
        (_sqlite_error(sqlite3.OperationalError, "no such table: nope", 1), None),  # a bug, not the store
        (_sqlite_error(sqlite3.IntegrityError, "UNIQUE constraint failed", 19), None),  # a concurrent row
        (ValueError("not a driver's"), None),
    ],
    ids=lambda v: getattr(v, "args", [v])[0] if isinstance(v, Exception) else str(v),
)
def test_what_a_sqlite_failure_means(tmp_path: Path, exc: Exception, code: str | None) -> None:
    store = Store.for_file(tmp_path / "s.sqlite")
    try:
        for raised in (exc, _wrapped(exc, sqlite3.Error)):
            found = store.failure(raised)
            assert (found.code if found else None) == code, raised
            if found is not None:
                assert str(tmp_path / "s.sqlite") in found.message and str(exc) in found.message
    finally:
        store.close()


def _wrapped(exc: BaseException, base: type[Exception]) -> Any:
    """``exc`` as SQLAlchemy raises it (what ``_fast`` and the engine give the callers)."""
    if not isinstance(exc, base):
        return exc
    return DBAPIError.instance("SELECT 1", {}, exc, base)  # type: ignore[arg-type]  # a DBAPI error


def _psycopg_failures() -> list[tuple[str, str, str | None]]:
    """(psycopg error class, message, code): the class's SQLSTATE decides."""
    return [
        ("StringDataRightTruncation", "value too long for type character varying(16)", None),  # the file's
        ("DivisionByZero", "division by zero", None),
        ("UniqueViolation", "duplicate key value", None),  # a concurrent worker's row: retried
        ("DeadlockDetected", "deadlock detected", None),  # retried
        ("SerializationFailure", "could not serialize access", None),
        ("LockNotAvailable", "canceling statement due to lock timeout", "STORE_BUSY"),
        ("AdminShutdown", "terminating connection due to administrator command", "STORE_UNREACHABLE"),
        ("CannotConnectNow", "the database system is starting up", "STORE_UNREACHABLE"),
        ("ConnectionFailure", "connection failure", "STORE_UNREACHABLE"),
        ("InvalidPassword", "password authentication failed", "STORE_UNREACHABLE"),
        ("TooManyConnections", "too many clients already", "STORE_UNREACHABLE"),
        ("DiskFull", "could not extend file: No space left on device", "STORE_FULL"),
        ("InsufficientPrivilege", "permission denied for table engagements", "STORE_UNWRITABLE"),
        ("ReadOnlySqlTransaction", "cannot execute INSERT in a read-only transaction", "STORE_UNWRITABLE"),
        ("DataCorrupted", "invalid page in block 7", "STORE_CORRUPT"),
        ("OperationalError", "connection failed: Connection refused", "STORE_UNREACHABLE"),  # no SQLSTATE
    ]


@pytest.fixture(scope="module")
def pg_store() -> Iterator[Store]:
    """One PostgreSQL store for the module (its URL given a password, which trust ignores)."""
    url = postgres_url()
    store = Store(make_url(url).set(password="pw"))
    try:
        yield store
    finally:
        store.close()
        drop_database(url)


@pytest.mark.parametrize(("name", "message", "code"), _psycopg_failures(), ids=[f[0] for f in _psycopg_failures()])
def test_what_a_postgresql_failure_means(pg_store: Store, name: str, message: str, code: str | None) -> None:
    import psycopg

    kind = getattr(psycopg.errors, name, None) or getattr(psycopg, name)
    exc = kind(message)
    for raised in (exc, _wrapped(exc, psycopg.Error)):
        found = pg_store.failure(raised)
        assert (found.code if found else None) == code, raised
        if found is not None:
            assert "postgres:***@" in found.message and ":pw@" not in found.message


def test_postgresql_connections_wait_the_busy_timeout_for_a_lock(pg_store: Store) -> None:
    store = Store(pg_store.url, busy_timeout=7)
    try:
        with store.read() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "7s"
    finally:
        store.close()


def test_a_failure_says_whether_waiting_heals_it() -> None:
    assert not StoreError("x", code="STORE_BUSY").lasting
    assert not StoreError("x", code="STORE_UNREACHABLE").lasting
    assert StoreError("x", code="STORE_DRIVER_MISSING").lasting
    assert not StoreError("x", code="STORE_FULL").lasting
    assert not StoreError("x", code="STORE_UNWRITABLE").lasting
    assert StoreError("x", code="STORE_CORRUPT").lasting
    assert StoreError("x", code="STORE_URL_INVALID").lasting
    assert StoreError("x").code == "STORE_UNREACHABLE"


def test_savepoints_take_the_same_names_and_each_name_means_one(tmp_path: Path) -> None:
    """A file's savepoint and a document's within it are named by their depth, so the driver
    prepares the same statements again and again; one left open by an error (its enclosing
    savepoint rolled back) never makes a later name mean two savepoints."""
    store = Store.for_file(tmp_path / "s.sqlite")
    try:
        with store.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))

            def put(x: int) -> None:
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})

            names = []
            for x in range(3):
                outer, inner = savepoint(conn), savepoint(conn)
                names.append((outer.name, inner.name))
                put(x)
                inner.commit()
                outer.commit()
            assert names == [("chorus_0", "chorus_1")] * 3
            outer = savepoint(conn)
            put(10)
            savepoint(conn)  # left open, as by a document whose apply raised
            put(11)
            outer.rollback()
            outer, inner = savepoint(conn), savepoint(conn)
            put(3)
            deeper = savepoint(conn)
            put(12)
            deeper.rollback()  # only what it covers
            inner.commit()
            outer.commit()
            assert [row.x for row in conn.execute(text("SELECT x FROM t ORDER BY x"))] == [0, 1, 2, 3]
            savepoint(conn)  # left open when the transaction ends
        with store.begin() as conn:
            assert savepoint(conn).name == "chorus_0"  # a transaction begins with none
    finally:
        store.close()


def test_the_fast_path_runs_on_one_cursor_a_connection_and_a_new_one_after_invalidation(tmp_path: Path) -> None:
    """Statements of ``store._fast`` share one DBAPI cursor per connection (a new cursor cost
    more than a small statement), each reading its rows before the next runs; a connection the
    pool replaced (invalidated) gets a cursor of its own."""
    from sqlalchemy import Column, Integer, MetaData, Table, insert, select

    from chorus_batch.store import _fast

    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("x", Integer))
    put, get = _fast.Statement(insert(t), t), _fast.Statement(select(t.c.x).where(t.c.id == 1))
    store = Store.for_file(tmp_path / "s.sqlite")

    def cursor() -> Any:
        return conn.info["chorus_batch.cursor"]

    try:
        with store.begin() as conn:
            t.create(conn)
            assert get.first(conn, {}) is None
            first = cursor()
            assert [put.insert(conn, {"x": x}) for x in (7, 8)] == [1, 2]
            assert get.first(conn, {}).x == 7 and cursor() is first
        with store.begin() as conn:
            assert put.insert(conn, {"x": 9}) == 3 and cursor() is first
        with store.engine.connect() as conn:
            conn.invalidate()  # as after a lost connection
        with store.begin() as conn:
            assert get.first(conn, {}).x == 7 and cursor() is not first
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fast_statements_bind_each_value_to_its_column(tmp_path: Path, backend: str) -> None:
    """On SQLite the fast statements bind their values by position (``?``, faster than names):
    whatever the order of the caller's keys, each value (a default, a processed amount, a
    LIMIT) reaches its own column, as through SQLAlchemy on both databases."""
    from decimal import Decimal

    from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select

    from chorus_batch.store import _fast
    from chorus_batch.store.schema import Micros

    t = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("a", Integer),
        Column("b", String(10), default="kept"),
        Column("m", Micros),
        Column("z", String(10)),
    )
    put = _fast.Statement(insert(t), t)
    get = _fast.Statement(select(t.c.id, t.c.a, t.c.z).where(t.c.z == bindparam("z")).order_by(t.c.id).limit(1))
    if backend == "sqlite":
        store = Store.for_file(tmp_path / "s.sqlite")
    else:
        url = postgres_url()
        store = Store(url)
    try:
        with store.begin() as conn:
            t.create(conn)
            put.insert(conn, {"z": "last", "m": Decimal("1.5"), "a": 1})
            put.insert(conn, {"a": 2, "z": "first", "b": "given"})
            compiled, *_ = put._prepare(conn, ("z", "m", "a"))
            values = compiled.split("VALUES")[1]
            assert values.count("?") == 4 and ":" not in values if backend == "sqlite" else "%(m)s" in values
            assert get.first(conn, {"z": "first"}).a == 2
            rows = conn.execute(select(t.c.a, t.c.b, t.c.m, t.c.z).order_by(t.c.id)).all()
            assert [tuple(r) for r in rows] == [(1, "kept", Decimal("1.5"), "last"), (2, "given", None, "first")]
    finally:
        store.close()
        if backend == "postgresql":
            drop_database(url)


@pytest.mark.slow  # a process of its own: the test process may have loaded the dialect already
def test_a_store_on_sqlite_never_loads_postgresql_s_dialect(tmp_path: Path) -> None:
    """The start of a run is shorter by what PostgreSQL's dialect module costs to import (with
    asyncpg's), which a store on SQLite never needs: the command line, the intake and a store
    that writes its blobs and its id load none of it."""
    import subprocess
    import sys

    script = f"""
import sys
import chorus_batch.cli.root, chorus_batch.intake.lots
from chorus_batch.store import Store, files, identity
store = Store.for_file({str(tmp_path / "s.sqlite")!r})
identity.claim(store, "ws-1")
with store.begin() as conn:
    files.put_blob(conn, b"x")
store.close()
loaded = [m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql")]
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
