"""The store through the command line, when it is not simply there: a workspace whose path holds
characters that mean something in a URL, another writer holding SQLite's lock, and every way the
store can fail (unreachable server, driver missing, not a database, disk full), in-process.

Each failure is one line naming the store (its URL with the password masked, or its file), with
a ``STORE_*`` code and exit 2, never "internal error"; a ``run`` that meets it puts the files it
had taken back in the inbox. The waits are on conditions (the run entering its write
transaction), never on elapsed time alone. Real processes are in ``test_store_patience.py``.
"""

from __future__ import annotations

import json
import random
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from chorus_batch import apply
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, random_lines, ubl_order
from chorus_batch.store import engine
from chorus_batch.store.engine import Store

BUSY = "store busy (another process is writing); try again"


def _order(number: str) -> bytes:
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(number), 2), date(2026, 3, 1))


def _drop(ws: Path, count: int, first: int = 1) -> list[str]:
    names = []
    for i in range(first, first + count):
        name = f"order-{i:03d}.xml"
        (ws / "inbox" / name).write_bytes(_order(f"EJ2026-61{i:04d}"))
        names.append(name)
    return names


def _inbox(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "inbox").iterdir() if p.is_file())


def _claimed(ws: Path) -> list[Path]:
    return [p for p in (ws / "var" / "processing").rglob("*") if p.is_file()]


def _acks(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "outbox" / "acks").iterdir())


def _one_clean_line(stderr: str, code: str) -> str:
    """The error line of a failed command: one line, its code, no traceback, no internal error."""
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].endswith(f"[{code}]"), stderr
    return lines[0]


def _free_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Writer:
    """Another writer of the store: a connection of its own holding SQLite's write lock
    (``BEGIN IMMEDIATE``) from its creation until ``release``."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")

        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.conn.execute("COMMIT")
            self.conn.close()


@pytest.fixture
def writer(workspace: Path) -> Iterator[Writer]:
    held = Writer(workspace / "var" / "store.sqlite")
    try:
        yield held
    finally:
        held.release()


@pytest.fixture
def entering(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when a command enters a write transaction of the store (``Store.begin``)."""
    entered = threading.Event()
    real = Store.begin

    @contextmanager
    def begin(self: Store) -> Iterator[Any]:
        entered.set()
        with real(self) as conn:
            yield conn

    monkeypatch.setattr(Store, "begin", begin)
    return entered


# -- URLs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["orders%41", "a?x=1#frag", "with spaces é"])
def test_a_workspace_path_is_never_read_as_a_url(tmp_path: Path, run_cli: Any, name: str) -> None:
    """Before: ``sqlite:///{path}`` made ``orders%41`` write the store of ``ordersA`` and ``a?x=1``
    create its store outside the workspace. The store is ``<workspace>/var/store.sqlite``, and
    nothing appears anywhere else."""
    parent = tmp_path / "parent"
    parent.mkdir()
    ws = parent / name
    others = [parent / name.replace("%41", "A")] if "%41" in name else []
    for root in [*others, ws]:
        assert run_cli("--workspace", root, "init").exit_code == 0
    _drop(ws, 2)
    result = run_cli("--workspace", ws, "run")
    assert result.exit_code == 0, result.output + result.stderr
    assert (ws / "var" / "store.sqlite").is_file()
    listed = json.loads(run_cli("--workspace", ws, "files", "list", "--format", "json").output)
    assert sorted(f["file"] for f in listed) == ["order-001.xml", "order-002.xml"]
    assert sorted(p.name for p in parent.iterdir()) == sorted([name] + [o.name for o in others])
    for other in others:  # the workspace its escaped name spells is untouched
        assert json.loads(run_cli("--workspace", other, "files", "list", "--format", "json").output) == []


# -- another writer ----------------------------------------------------------------------------------


def test_run_waits_for_another_writer(wcli: Any, workspace: Path, writer: Writer, entering: threading.Event) -> None:
    """A writer holds the lock when the run enters its write transaction and lets go half a
    second later: the run waits for it (the busy timeout is 30 s) and integrates every file. Before,
    a deferred BEGIN failed at once (``database is locked``) and the run said "internal error"."""
    _drop(workspace, 3)

    def let_go() -> None:
        entering.wait(120)
        time.sleep(0.5)  # the run is inside BEGIN IMMEDIATE, waiting
        writer.release()

    releaser = threading.Thread(target=let_go)
    releaser.start()
    try:
        result = wcli("run")
    finally:
        entering.set()
        releaser.join()
    assert result.exit_code == 0, result.output + result.stderr
    assert "3 file(s): 3 IN_INTEGRE" in result.output


def test_run_busy_beyond_the_timeout_exits_2_with_its_files_back(wcli: Any, workspace: Path, writer: Writer) -> None:
    (workspace / "chorus-batch.toml").write_text("busy_timeout_seconds = 1\n", encoding="utf-8")
    dropped = _drop(workspace, 3)
    result = wcli("run")
    assert result.exit_code == 2, result.output + result.stderr
    line = _one_clean_line(result.stderr, "STORE_BUSY")
    assert BUSY in line and str(workspace / "var" / "store.sqlite") in line, line
    assert _inbox(workspace) == dropped and not _claimed(workspace) and not _acks(workspace)
    writer.release()
    again = wcli("run")  # nothing was lost, nothing half-done
    assert again.exit_code == 0 and "3 file(s): 3 IN_INTEGRE" in again.output, again.output + again.stderr


def test_an_answer_busy_beyond_the_timeout_changes_nothing(wcli: Any, workspace: Path) -> None:
    _drop(workspace, 1)
    assert wcli("run").exit_code == 0
    (workspace / "chorus-batch.toml").write_text("busy_timeout_seconds = 1\n", encoding="utf-8")
    held = Writer(workspace / "var" / "store.sqlite")
    try:
        result = wcli("orders", "accept", "EJ2026-610001", "--yes")
    finally:
        held.release()
    assert result.exit_code == 2, result.output + result.stderr
    assert BUSY in _one_clean_line(result.stderr, "STORE_BUSY")
    assert json.loads(wcli("orders", "show", "EJ2026-610001", "--format", "json").output)["status"] == "A_TRAITER"
    assert not list((workspace / "outbox" / "responses").iterdir())
    accepted = wcli("orders", "accept", "EJ2026-610001", "--yes")
    assert accepted.exit_code == 0, accepted.output + accepted.stderr
    history = json.loads(wcli("orders", "show", "EJ2026-610001", "--format", "json").output)["history"]
    assert [h["event"] for h in history] == ["received", "accept"]


# -- a store that cannot be used ----------------------------------------------------------------------


def test_unreachable_postgresql_names_the_store_without_its_password(wcli: Any, workspace: Path) -> None:
    url = f"postgresql+psycopg://edi:s3cr3t@127.0.0.1:{_free_port()}/chorus"
    masked = url.replace("s3cr3t", "***")
    dropped = _drop(workspace, 2)
    for command in (("orders", "search"), ("run",), ("watch",), ("report", "all")):
        result = wcli("--db", url, *command)
        assert result.exit_code == 2, (command, result.output, result.stderr)
        line = _one_clean_line(result.stderr, "STORE_UNREACHABLE")
        assert masked in line and "s3cr3t" not in result.stderr + result.output, line
        assert "check that the database server runs" in line, line
    assert _inbox(workspace) == dropped and not _claimed(workspace)


@pytest.mark.parametrize("url", ["postgresql+psycopg://edi:s3cr3t@db.invalid/chorus", "postgresql+nosuchdriver://db/x"])
def test_a_missing_driver_says_how_to_install_it(
    wcli: Any, workspace: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    for command in (("files", "list"), ("run",)):
        result = wcli("--db", url, *command)
        assert result.exit_code == 2, result.output + result.stderr
        line = _one_clean_line(result.stderr, "STORE_DRIVER_MISSING")
        assert "pip install 'chorus-batch[postgres]'" in line and "s3cr3t" not in line, line


def test_a_url_that_is_not_one(wcli: Any) -> None:
    result = wcli("--db", "no-such-thing", "files", "list")
    assert result.exit_code == 2
    assert "'no-such-thing' is not a store URL" in _one_clean_line(result.stderr, "STORE_URL_INVALID")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_store_that_is_not_a_database_is_named(wcli: Any, workspace: Path, damage: str) -> None:
    store = workspace / "var" / "store.sqlite"
    if damage == "garbage":
        store.write_bytes(random.Random(7).randbytes(20_000))
    else:
        _drop(workspace, 3, first=50)
        assert wcli("run").exit_code == 0
        with sqlite3.connect(store) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(store, "r+b") as f:
            f.truncate(store.stat().st_size // 3)
    dropped = _drop(workspace, 2)
    for command in (("files", "list"), ("orders", "search"), ("run",)):
        result = wcli(*command)
        assert result.exit_code == 2, (command, result.output, result.stderr)
        line = _one_clean_line(result.stderr, "STORE_CORRUPT")
        assert str(store) in line and "store check" in line and "operations.md#the-store" in line, line
    assert set(dropped) <= set(_inbox(workspace)) and not _claimed(workspace)


def test_a_full_disk_stops_the_batch_not_one_file(wcli: Any, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite cannot grow the store (SQLITE_FULL, from ``max_page_count`` here, as from a full
    disk) inside the first file's savepoint: the store's failure, not that file's. The batch
    rolls back, the run exits 2 naming the store, every file is back in the inbox, no report
    says INTERNAL_ERROR."""
    store = workspace / "var" / "store.sqlite"
    with sqlite3.connect(store) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    real = engine._sqlite_pragmas

    def small_disk(dbapi_conn: Any, record: Any, busy_timeout: float) -> None:
        real(dbapi_conn, record, busy_timeout)
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 1}")

    monkeypatch.setattr(engine, "_sqlite_pragmas", small_disk)
    dropped = _drop(workspace, 3)
    result = wcli("run")
    assert result.exit_code == 2, result.output + result.stderr
    line = _one_clean_line(result.stderr, "STORE_FULL")
    assert str(store) in line and f"free space on the file system of {store.parent}" in line, line
    assert _inbox(workspace) == dropped and not _claimed(workspace) and not _acks(workspace)


# -- PostgreSQL: the store's failure or the file's own ----------------------------------------------


def _failing_on(number: str, statement: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document ``number`` runs ``statement`` in its file's savepoint before being applied."""
    real = apply.apply

    def apply_with(ctx: Any, doc: Any) -> Any:
        if getattr(doc, "number", None) == number:
            ctx.conn.exec_driver_sql(statement)
        return real(ctx, doc)

    monkeypatch.setattr(apply, "apply", apply_with)


@pytest.fixture
def pg_workspace(tmp_path: Path, run_cli: Any, pg_url: str) -> Path:
    """A workspace set up with its store on PostgreSQL (``pg_url``)."""
    root = tmp_path / "pg-ws"
    result = run_cli("--workspace", root, "--db", pg_url, "init")
    assert result.exit_code == 0, result.output + result.stderr
    return root


def test_postgresql_a_files_own_data_error_rejects_that_file_only(
    run_cli: Any, pg_workspace: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_on("EJ2026-610002", "SELECT 1 / 0", monkeypatch)  # DataError (22012): the file's own
    _drop(pg_workspace, 3)
    result = run_cli("--workspace", pg_workspace, "--db", pg_url, "run")
    assert result.exit_code == 1, result.output + result.stderr
    assert "2 IN_INTEGRE" in result.output and "rejected order-002.xml: INTERNAL_ERROR" in result.output


def test_postgresql_a_lost_connection_stops_the_run(
    run_cli: Any, pg_workspace: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends the connection while the second file is applied: a failure of the
    store, not of that file. The first file (its own transaction on PostgreSQL) stays
    integrated, the others go back to the inbox, the run exits 2 naming the store."""
    _failing_on("EJ2026-610002", "SELECT pg_terminate_backend(pg_backend_pid())", monkeypatch)
    ws = pg_workspace
    _drop(ws, 3)
    result = run_cli("--workspace", ws, "--db", pg_url, "run")
    assert result.exit_code == 2, result.output + result.stderr
    line = _one_clean_line(result.stderr, "STORE_UNREACHABLE")
    assert pg_url in line, line
    assert _inbox(ws) == ["order-002.xml", "order-003.xml"] and not _claimed(ws)
    assert _acks(ws) == ["order-001.xml.json"]
    monkeypatch.undo()
    again = run_cli("--workspace", ws, "--db", pg_url, "run")
    assert again.exit_code == 0 and "2 file(s): 2 IN_INTEGRE" in again.output, again.output + again.stderr
