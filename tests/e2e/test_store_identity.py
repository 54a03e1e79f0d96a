"""The store's identity, through the command line (``wcli``, in-process): a store that is missing,
empty or another workspace's is refused (exit 2) and nothing is touched; ``init --new-store``
starts again on purpose; a workspace from before the identity adopts one; ``store check`` and
``store backup`` (and a restore from the backup); on SQLite and, where it applies, PostgreSQL.
``watch`` losing its store under it runs a real process: ``test_watch_stops_when_its_store_is_deleted``
(slow).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import create_engine, inspect, text

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, ubl_order
from chorus_batch.demo.generate import ubl_order_response as response
from chorus_batch.errors import StoreError
from chorus_batch.identity import Guard, Opened
from chorus_batch.store import Store, describe
from chorus_batch.store.migrations import MIGRATIONS
from chorus_batch.workspace import Workspace

RunCli = Callable[..., Result]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

LATEST = MIGRATIONS[-1][0]  # the newest migration


def order(i: int) -> bytes:
    rng = random.Random(i)
    return ubl_order(
        engagement_number(90_000 + i), ISSUERS[i % 4], SUPPLIERS[i % 4], random_lines(rng, 2), date(2026, 3, 2)
    )


def drop(ws: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (ws / "inbox" / name).write_bytes(data)


def inbox(ws: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((ws / "inbox").iterdir()) if p.is_file()}


def acks(ws: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ws / "outbox" / "acks").iterdir())
        if not p.name.startswith(".")
    }


def ran(cli: RunCli, *args: object, code: int = 0) -> str:
    result = cli(*args)
    assert result.exit_code == code, result.output + result.stderr
    return result.stdout


def refused(cli: RunCli, *args: object, code: str) -> str:
    """The command exits 2 with the one-line message of ``code``."""
    result = cli(*args)
    assert result.exit_code == 2, result.output + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.rstrip().endswith(f"[{code}]"), result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def sql(path: Path, statement: str, *rows: tuple[Any, ...]) -> list[Any]:
    """``statement`` on the SQLite file ``path`` (once per row of ``rows`` when given), committed
    and closed (the last connection closed: the WAL is in the file)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        if rows:
            conn.executemany(statement, rows)
            return []
        return conn.execute(statement).fetchall()


def store_id(path: Path) -> str | None:
    found = sql(path, "SELECT value FROM store_meta WHERE key = 'workspace_id'")
    return found[0][0] if found else None


def workspace_id(ws: Path) -> str:
    return (ws / "var" / "workspace.id").read_text(encoding="utf-8").strip()


def store_files(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "var").iterdir() if p.name.startswith("store.sqlite"))


# -- SQLite: missing, another workspace's -----------------------------------------------------------


def test_init_gives_the_workspace_an_id_recorded_in_both(workspace: Path, wcli: RunCli) -> None:
    wid = workspace_id(workspace)
    assert UUID.match(wid)
    assert store_id(workspace / "var" / "store.sqlite") == wid
    ran(wcli, "init")  # idempotent: the same id
    assert workspace_id(workspace) == wid
    assert not [p for p in (workspace / "var").iterdir() if p.name.startswith(".")]  # no temporary name left


def test_deleted_store_is_refused_and_nothing_is_touched(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1), "b.xml": order(2)})
    ran(wcli, "run")
    (workspace / "var" / "store.sqlite").unlink()
    assert store_files(workspace) == []
    waiting = {"c.xml": order(3), "a-again.xml": order(1)}
    drop(workspace, waiting)
    reports = acks(workspace)
    message = refused(wcli, "run", code="STORE_MISSING")
    assert "var/store.sqlite is missing" in message
    assert "backup" in message and "init --new-store" in message
    assert inbox(workspace) == waiting  # the inbox untouched
    assert store_files(workspace) == []  # no new store (nor -wal, -shm)
    assert acks(workspace) == reports
    assert not any((workspace / "var" / "processing").rglob("*.xml"))
    for command in (("orders", "search"), ("files", "list"), ("report", "all"), ("init",)):
        refused(wcli, *command, code="STORE_MISSING")
    assert store_files(workspace) == []
    refused(wcli, "store", "check", code="STORE_MISSING")


def test_an_empty_store_file_is_refused(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    (workspace / "var" / "store.sqlite").write_bytes(b"")  # a store emptied by a restore gone wrong
    assert "holds no received file" in refused(wcli, "files", "list", code="STORE_EMPTY")
    assert (workspace / "var" / "store.sqlite").read_bytes() == b""  # not migrated either


def test_store_of_another_workspace_is_refused(tmp_path: Path, workspace: Path, run_cli: RunCli) -> None:
    other = tmp_path / "other"
    ran(run_cli, "--workspace", other, "init")
    drop(other, {"x.xml": order(7)})
    ran(run_cli, "--workspace", other, "run")
    drop(workspace, {"y.xml": order(8)})
    theirs = f"sqlite:///{other / 'var' / 'store.sqlite'}"
    for command in (("run",), ("orders", "search"), ("store", "check"), ("store", "backup", tmp_path / "b")):
        message = refused(run_cli, "--workspace", workspace, "--db", theirs, *command, code="STORE_FOREIGN")
        assert workspace_id(other) in message and workspace_id(workspace) in message
    assert inbox(workspace) == {"y.xml": order(8)}
    assert not (tmp_path / "b").exists()
    assert sql(other / "var" / "store.sqlite", "SELECT count(*) FROM received_files") == [(1,)]
    # outside any workspace (no var/), a store is read as it is and nothing is written
    bare = tmp_path / "elsewhere"
    assert "x.xml" in ran(run_cli, "--workspace", bare, "--db", theirs, "files", "list", "--format", "json")
    assert not bare.exists()


# -- init --new-store ---------------------------------------------------------------------------------


def test_new_store_keeps_the_old_one_aside(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    old_id = workspace_id(workspace)
    (workspace / "var" / "store.sqlite-shm").write_bytes(b"")  # a companion left by a killed process
    out = ran(wcli, "init", "--new-store")
    kept = re.findall(r"kept the old store aside as (\S+)", out)
    assert len(kept) == 2 and kept[1] == kept[0] + "-shm", out
    assert re.fullmatch(r"store\.sqlite\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.old", Path(kept[0]).name)
    assert store_id(Path(kept[0])) == old_id  # the old store, whole
    new_id = workspace_id(workspace)
    assert UUID.match(new_id) and new_id != old_id
    assert store_id(workspace / "var" / "store.sqlite") == new_id
    assert f"workspace id {new_id}" in out
    # a new store on purpose: the same bytes are new to it
    drop(workspace, {"a-again.xml": order(1)})
    ran(wcli, "run")
    assert acks(workspace)["a-again.xml.json"]["status"] == "IN_INTEGRE"


def test_new_store_waits_for_the_workspace_lock(workspace: Path, wcli: RunCli) -> None:
    with Workspace(workspace).locked("2026-12-06T23:40:00Z"):
        result = wcli("init", "--new-store")
    assert result.exit_code == 3, result.output + result.stderr
    assert store_files(workspace) == ["store.sqlite"]


def test_a_missing_store_can_be_started_again_on_purpose(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    (workspace / "var" / "store.sqlite").unlink()
    refused(wcli, "run", code="STORE_MISSING")
    out = ran(wcli, "init", "--new-store")
    assert "kept the old store aside" not in out and "new store" in out
    ran(wcli, "run")


# -- adoption: workspaces made before the identity ---------------------------------------------------


def forget_identity(ws: Path) -> None:
    """What a workspace of an earlier version looks like: no id file, no id in the store."""
    (ws / "var" / "workspace.id").unlink()
    sql(ws / "var" / "store.sqlite", "DELETE FROM store_meta")


def test_a_workspace_without_id_adopts_one(workspace: Path, wcli: RunCli) -> None:
    """Orders, an answer parked before its order (its later report is not its file's ``ack``),
    a rejected file; then the ids forgotten: the next command records a new one in both."""
    answer = response(engagement_number(90_005), ISSUERS[1], SUPPLIERS[1], "AP")
    drop(workspace, {"answer.xml": answer, "bad.xml": b"<not-a-document/>"})
    ran(wcli, "run", code=1)
    drop(workspace, {"order.xml": order(5), "a.xml": order(1)})
    ran(wcli, "run")
    assert "answer.xml.1.json" in acks(workspace)  # the parked answer's second report
    old = workspace_id(workspace)
    forget_identity(workspace)
    assert "agrees with the workspace" in ran(wcli, "store", "check")
    assert not (workspace / "var" / "workspace.id").exists()  # store check writes nothing
    ran(wcli, "files", "list")
    adopted = workspace_id(workspace)
    assert UUID.match(adopted) and adopted != old
    assert store_id(workspace / "var" / "store.sqlite") == adopted
    drop(workspace, {"a-again.xml": order(1)})
    ran(wcli, "run")
    assert acks(workspace)["a-again.xml.json"]["status"] == "DUPLICATE"


def test_a_store_from_before_the_upgrade_is_migrated_and_adopted(workspace: Path, wcli: RunCli) -> None:
    """A store at migration 4 (no ``store_meta``) and no id file: ``store check`` says the next
    command migrates and adopts it; the next command does."""
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    (workspace / "var" / "workspace.id").unlink()
    store = workspace / "var" / "store.sqlite"
    sql(store, "DROP TABLE store_meta")
    sql(store, "DELETE FROM schema_migrations WHERE version >= 5")
    out = ran(wcli, "store", "check")
    assert f"migration 4 of {LATEST} (the next command that opens the store brings it up to date)" in out
    assert "agrees with the workspace" in out
    assert sql(store, "SELECT max(version) FROM schema_migrations") == [(4,)]  # store check changed nothing
    ran(wcli, "orders", "search")
    assert sql(store, "SELECT max(version) FROM schema_migrations") == [(LATEST,)]
    assert store_id(store) == workspace_id(workspace)


def test_adoption_without_reports_compares_the_archive(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1), "bad.xml": b"<not-a-document/>"})
    ran(wcli, "run", code=1)
    forget_identity(workspace)
    shutil.rmtree(workspace / "outbox" / "acks")  # taken away by a transfer tool
    (workspace / "outbox" / "acks").mkdir()
    ran(wcli, "orders", "search")
    assert store_id(workspace / "var" / "store.sqlite") == workspace_id(workspace)


def test_adoption_is_refused_when_the_store_disagrees(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    older = workspace.parent / "older.sqlite"
    shutil.copyfile(workspace / "var" / "store.sqlite", older)  # a copy made before the next run
    drop(workspace, {"b.xml": order(2)})
    ran(wcli, "run")
    forget_identity(workspace)
    shutil.copyfile(older, workspace / "var" / "store.sqlite")
    sql(workspace / "var" / "store.sqlite", "DELETE FROM store_meta")
    message = refused(wcli, "run", code="STORE_FOREIGN")
    assert "does not know 1 of the 2 newest reports in outbox/acks/" in message
    assert not (workspace / "var" / "workspace.id").exists()
    (workspace / "var" / "store.sqlite").unlink()
    refused(wcli, "run", code="STORE_MISSING")  # no id file, but reports: the store is missed


# -- store check --------------------------------------------------------------------------------------


def test_store_check_on_a_good_store(workspace: Path, wcli: RunCli) -> None:
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    out = ran(wcli, "store", "check")
    assert "integrity:" in out and "ok (PRAGMA quick_check)" in out
    assert f"{workspace_id(workspace)} (the store and var/workspace.id agree)" in out
    assert f"migration {LATEST} of {LATEST}" in out and "1 of the 1 newest reports in outbox/acks/ known" in out
    assert out.rstrip().endswith("store check: ok")


def test_store_check_finds_a_damaged_page(workspace: Path, wcli: RunCli) -> None:
    store = workspace / "var" / "store.sqlite"
    filler = [(f"{i:064x}", 3000, os.urandom(3000)) for i in range(400)]  # a store of many pages
    sql(store, "INSERT INTO blobs (sha256, size, content) VALUES (?, ?, ?)", *filler)
    copy = workspace / "var" / "copy.sqlite"
    shutil.copyfile(store, copy)
    page = 4096
    pages = copy.stat().st_size // page
    assert pages > 100
    with open(copy, "r+b") as fh:  # three whole pages in the middle overwritten
        fh.seek(page * (pages // 2))
        fh.write(b"\xa5" * page * 3)
    message = refused(wcli, "--db", f"sqlite:///{copy}", "store", "check", code="STORE_CORRUPT")
    assert str(copy) in message
    ran(wcli, "store", "check")  # the store itself is sound
    (workspace / "var" / "junk.sqlite").write_bytes(b"this is not a database, " * 200)
    refused(wcli, "--db", f"sqlite:///{workspace / 'var' / 'junk.sqlite'}", "store", "check", code="STORE_CORRUPT")


# -- store backup, and a restore ----------------------------------------------------------------------


def test_backup_then_restore(workspace: Path, wcli: RunCli, tmp_path: Path) -> None:
    first = {f"o{i}.xml": order(i) for i in range(3)}
    drop(workspace, first)
    ran(wcli, "run")
    backup = tmp_path / "backups" / "store.sqlite"
    assert "does not exist" in refused(wcli, "store", "backup", backup, code="BACKUP_FOLDER_INVALID")
    backup.parent.mkdir()
    assert str(backup) in ran(wcli, "store", "backup", backup)
    assert store_id(backup) == workspace_id(workspace)
    assert refused(wcli, "store", "backup", backup, code="BACKUP_EXISTS")
    ran(wcli, "store", "backup", "--force", backup)
    assert [p.name for p in backup.parent.iterdir()] == ["store.sqlite"]  # no temporary file left
    refused(wcli, "store", "backup", "--force", workspace / "var" / "store.sqlite", code="BACKUP_EXISTS")
    # the store is lost; the backup is put back
    for path in (workspace / "var").glob("store.sqlite*"):
        path.unlink()
    refused(wcli, "run", code="STORE_MISSING")
    shutil.copyfile(backup, workspace / "var" / "store.sqlite")
    assert "store check: ok" in ran(wcli, "store", "check")
    drop(workspace, {"new.xml": order(10), "o1-again.xml": first["o1.xml"]})
    ran(wcli, "run")
    reports = acks(workspace)
    assert reports["new.xml.json"]["status"] == "IN_INTEGRE"
    assert reports["o1-again.xml.json"]["status"] == "DUPLICATE"


def test_backup_refused_on_postgresql(workspace: Path, wcli: RunCli) -> None:
    url = "postgresql+psycopg://edi:secret@db.example:5433/chorus"
    message = refused(wcli, "--db", url, "store", "backup", "/tmp/x.dump", code="BACKUP_NOT_SQLITE")
    assert "pg_dump --format=custom --file=/tmp/x.dump 'postgresql://edi:***@db.example:5433/chorus'" in message
    assert "secret" not in message


def test_guard_sees_a_replaced_file(workspace: Path) -> None:
    """``watch``'s guard (the slow test below runs the real process): a file deleted, or put back
    (another inode), stops it; a sound store passes."""
    path = workspace / "var" / "store.sqlite"
    store = Store(f"sqlite:///{path}")
    try:
        st = path.stat()
        guard = Guard(store, Opened(workspace_id(workspace), path, (st.st_dev, st.st_ino)))
        guard(True)
        copy = path.with_name("copy")
        shutil.copyfile(path, copy)
        os.replace(copy, path)
        with pytest.raises(StoreError, match="was replaced while watch ran") as replaced:
            guard(False)
        assert replaced.value.code == "STORE_MISSING"
        path.unlink()
        with pytest.raises(StoreError, match="was deleted while watch ran"):
            guard(False)
    finally:
        store.close()


# -- PostgreSQL -----------------------------------------------------------------------------------------


def pg_tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def pg_sql(url: str, statement: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def test_empty_postgresql_database_with_a_workspace_with_history(workspace: Path, wcli: RunCli, pg_url: str) -> None:
    drop(workspace, {"a.xml": order(1)})
    ran(wcli, "run")
    drop(workspace, {"b.xml": order(2)})
    message = refused(wcli, "--db", pg_url, "run", code="STORE_EMPTY")
    assert "holds no received file" in message and "new database" in message
    assert pg_tables(pg_url) == []  # nothing made in it
    assert inbox(workspace) == {"b.xml": order(2)}
    # the move to the new database, on purpose
    old = workspace_id(workspace)
    out = ran(wcli, "--db", pg_url, "init", "--new-store")
    assert "kept the old store aside" not in out and store_files(workspace) == ["store.sqlite"]
    new = workspace_id(workspace)
    assert new != old and pg_sql(pg_url, "SELECT value FROM store_meta") == [(new,)]
    ran(wcli, "--db", pg_url, "run")
    assert acks(workspace)["b.xml.json"]["status"] == "IN_INTEGRE"
    out = ran(wcli, "--db", pg_url, "store", "check")
    assert "server:" in out and "reachable" in out and f"migration {LATEST} of {LATEST}" in out and new in out
    # a database that holds chorus-batch's tables is never taken for a new store
    assert "create a new database" in refused(wcli, "--db", pg_url, "init", "--new-store", code="STORE_NOT_EMPTY")
    # the old SQLite store is now another workspace's
    refused(wcli, "run", code="STORE_FOREIGN")


def test_postgresql_store_of_another_workspace_and_adoption(tmp_path: Path, run_cli: RunCli, pg_url: str) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    for ws in (mine, other):
        ran(run_cli, "--workspace", ws, "init")
    ran(run_cli, "--workspace", mine, "--db", pg_url, "init", "--new-store")
    drop(mine, {"a.xml": order(1)})
    ran(run_cli, "--workspace", mine, "--db", pg_url, "run")
    refused(run_cli, "--workspace", other, "--db", pg_url, "files", "list", code="STORE_FOREIGN")
    # mine, as an earlier version left it: adopted at the next command
    (mine / "var" / "workspace.id").unlink()
    pg_sql(pg_url, "DELETE FROM store_meta")
    ran(run_cli, "--workspace", mine, "--db", pg_url, "files", "list")
    assert pg_sql(pg_url, "SELECT value FROM store_meta") == [(workspace_id(mine),)]
    drop(mine, {"a-again.xml": order(1)})
    ran(run_cli, "--workspace", mine, "--db", pg_url, "run")
    assert acks(mine)["a-again.xml.json"]["status"] == "DUPLICATE"


def test_guard_on_postgresql(workspace: Path, wcli: RunCli, pg_url: str) -> None:
    """At a rescan, ``watch`` checks that its PostgreSQL store still records the workspace."""
    ran(wcli, "--db", pg_url, "init", "--new-store")
    store = Store(pg_url)
    try:
        guard = Guard(store, Opened(workspace_id(workspace), None, None))
        guard(True)
        pg_sql(pg_url, "DELETE FROM store_meta")
        guard(False)  # a quick look does not query
        with pytest.raises(StoreError, match="no longer records this workspace") as lost:
            guard(True)
        assert lost.value.code == "STORE_EMPTY"
    finally:
        store.close()


def test_postgresql_unreachable(workspace: Path, wcli: RunCli) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/none"
    pytest.importorskip("psycopg")
    message = refused(wcli, "--db", url, "store", "check", code="STORE_UNREACHABLE")
    assert describe(url) in message


# -- watch (a real process) -----------------------------------------------------------------------------


@pytest.mark.slow
def test_watch_stops_when_its_store_is_deleted(tmp_path: Path, run_cli: RunCli) -> None:
    """A store deleted under a running ``watch`` is not made again: watch stops with exit 2 and
    the message; a backup taken while it ran is sound."""
    ws = tmp_path / "ws"
    ran(run_cli, "--workspace", ws, "init")
    (ws / "chorus-batch.toml").write_text("[watch]\nrescan_seconds = 86400\n", encoding="utf-8")
    err = tmp_path / "watch.stderr"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chorus_batch", "--workspace", str(ws), "-v", "watch"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            drop(ws, {"a.xml": order(1)})
            deadline = time.monotonic() + 120
            while not (ws / "outbox" / "acks" / "a.xml.json").exists() and proc.poll() is None:
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.1)
            backup = tmp_path / "backup.sqlite"
            ran(run_cli, "--workspace", ws, "store", "backup", backup)  # while watch runs
            (ws / "var" / "store.sqlite").unlink()
            rc = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    message = err.read_text()
    assert rc == 2, message
    assert "was deleted while watch ran" in message and "[STORE_MISSING]" in message
    assert not (ws / "var" / "store.sqlite").exists()
    assert sql(backup, "PRAGMA quick_check") == [("ok",)]
    assert sql(backup, "SELECT name, status FROM received_files") == [("a.xml", "IN_INTEGRE")]
