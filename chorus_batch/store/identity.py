"""The store's side of its identity (``chorus_batch.identity`` decides what it means): what a
store holds, seen without creating or migrating it (``looking``); the id of the workspace it
belongs to, in ``store_meta`` (``claim``, ``recorded``); SQLite's integrity check and online
backup; the ``pg_dump`` command for a server database.

A SQLite store is looked at only when its file exists, and then opened read-write but never
created (``mode=rw``): a store that is missing stays missing. A server database is reached on a
connection of its own, without a pool.
"""

from __future__ import annotations

import functools
import os
import shlex
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from sqlalchemy import URL, Connection, Engine, create_engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from ..errors import StoreError
from . import migrations
from . import schema as s
from ._fast import conflict_insert
from .engine import Store, describe, driver_missing, failure, parse_url, sqlite_file

Address = str | URL  # a store's URL, as text or as SQLAlchemy's object
ID_KEY = "workspace_id"
LATEST = migrations.MIGRATIONS[-1][0]
TABLES = frozenset(s.metadata.tables)  # every table of chorus-batch
_f = s.received_files


class Trace(NamedTuple):
    """A file of the workspace that its store should know: a report of ``outbox/acks/`` (``path``
    is the store's ``ack``) or an archived or rejected file (its ``stored_as``), as the
    workspace-relative text the store keeps; for a report, the file and SHA-256 it names."""

    path: str
    name: str | None = None
    sha256: str | None = None


def is_sqlite(url: Address) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def pg_dump(url: Address, target: Path) -> str:
    """The ``pg_dump`` command line that backs up the database of ``url`` into ``target``
    (libpq's URL, the password masked)."""
    libpq = make_url(url).set(drivername=make_url(url).get_backend_name())
    return shlex.join(["pg_dump", "--format=custom", f"--file={target}", libpq.render_as_string(hide_password=True)])


@dataclass
class Look:
    """What a store holds, as found by ``looking``."""

    where: str  # ``describe``
    backend: str  # sqlite, postgresql...
    file: Path | None  # the SQLite file
    exists: bool = False  # the SQLite file is there (a server database that answered: always)
    tables: frozenset[str] = frozenset()  # chorus-batch's tables in it
    id: str | None = None  # the workspace it belongs to (``store_meta``)
    files: bool = False  # it has received at least one file
    level: int = 0  # the last migration applied (0: none)
    conn: Connection | None = field(default=None, repr=False)

    def received(self) -> int:
        """How many files the store has received."""
        if self.conn is None or "received_files" not in self.tables:
            return 0
        return int(self.conn.execute(select(func.count()).select_from(_f)).scalar_one())

    def unknown(self, traces: Sequence[Trace]) -> list[Trace]:
        """The traces the store does not know: a report whose path is no file's ``ack`` (nor, for
        the later reports of a parked document, a file of the same name and SHA-256), an archived
        or rejected file whose path is no file's ``stored_as``."""
        if not traces:
            return []
        if self.conn is None or "received_files" not in self.tables:
            return list(traces)
        paths = [t.path for t in traces]
        known = set(self.conn.execute(select(_f.c.ack).where(_f.c.ack.in_(paths))).scalars())
        known |= set(self.conn.execute(select(_f.c.stored_as).where(_f.c.stored_as.in_(paths))).scalars())
        missing = []
        for trace in traces:
            if trace.path in known:
                continue
            if trace.name is not None and trace.sha256 is not None:
                same = select(_f.c.id).where(_f.c.sha256 == trace.sha256, _f.c.name == trace.name).limit(1)
                if self.conn.execute(same).first() is not None:
                    continue
            missing.append(trace)
        return missing

    def quick_check(self) -> list[str]:
        """SQLite's ``PRAGMA quick_check``: the faults it finds (none: the store is sound)."""
        if self.conn is None:
            return []
        try:
            found = [str(row[0]) for row in self.conn.exec_driver_sql("PRAGMA quick_check").all()]
        except DBAPIError as exc:
            return [str(exc.orig)]
        return [] if found == ["ok"] else found


@contextmanager
def looking(url: Address) -> Iterator[Look]:
    """What the store of ``url`` holds, on a connection open for the time of the block; nothing
    is created (a missing SQLite file stays missing: ``exists`` is false) and nothing migrated.

    Raises:
        StoreError: STORE_UNREACHABLE when a server database cannot be reached, STORE_CORRUPT when
        the SQLite file is not a database.
    """
    parsed = parse_url(url)  # STORE_URL_INVALID
    found = Look(describe(parsed), parsed.get_backend_name(), sqlite_file(parsed))
    if found.file is not None and not found.file.exists():
        yield found
        return
    try:
        engine = _engine(parsed.render_as_string(hide_password=False), found.file)
    except (ImportError, NoSuchModuleError) as exc:
        raise driver_missing(parsed, exc) from None
    conn = _connect(engine, found, parsed)
    if conn is None:  # the SQLite file went away meanwhile
        yield found
        return
    try:
        with conn:
            try:
                _read(conn, found)
            except DBAPIError as exc:
                known = failure(parsed, exc, engine.dialect.loaded_dbapi)  # the engine's words for it
                if known is not None:
                    raise known from None
                if found.file is None:
                    raise
                raise StoreError(
                    f"the store {found.where} cannot be read ({exc.orig}): it is damaged or not an SQLite store",
                    code="STORE_CORRUPT",
                ) from None
            found.conn = conn
            yield found
    finally:
        found.conn = None


@functools.lru_cache(maxsize=8)
def _engine(url: str, file: Path | None) -> Engine:
    """An engine without a pool (it holds no connection between two looks), kept for the
    process: its compiled statements serve every look at the same store."""
    if file is None:
        return create_engine(url, poolclass=NullPool)
    uri = f"file:{quote(str(file))}?mode=rw"  # read-write, never created

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


def _connect(engine: Engine, found: Look, url: URL) -> Connection | None:
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        if found.file is not None and not found.file.exists():
            return None
        known = failure(url, exc, engine.dialect.loaded_dbapi)  # the engine's words: cause and fix
        if known is not None:
            raise known from None
        if found.file is not None:
            raise StoreError(f"the store {found.where} cannot be opened ({exc.orig})", code="STORE_CORRUPT") from None
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise StoreError(f"cannot reach the store {found.where}: {reason}", code="STORE_UNREACHABLE") from None
    found.exists = True
    return conn


def _read(conn: Connection, found: Look) -> None:
    names: list[str]
    if conn.dialect.name == "sqlite":  # what the inspector asks, without its cost (every command looks)
        names = list(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())
    else:
        names = inspect(conn).get_table_names()
    found.tables = frozenset(names) & TABLES
    if "schema_migrations" in found.tables:
        found.level = int(conn.execute(select(func.max(s.schema_migrations.c.version))).scalar() or 0)
    if "store_meta" in found.tables:
        found.id = _id(conn)
    if "received_files" in found.tables:
        found.files = conn.execute(select(_f.c.id).limit(1)).first() is not None
    conn.rollback()  # nothing held between the looks of the caller


def _id(conn: Connection) -> str | None:
    value: str | None = conn.execute(
        select(s.store_meta.c.value).where(s.store_meta.c.key == ID_KEY)
    ).scalar_one_or_none()
    return value


def recorded(store: Store) -> str | None:
    """The id of the workspace the open store belongs to (``None``: none recorded, or the
    store lost its tables)."""
    with store.read() as conn:
        if not inspect(conn).has_table("store_meta"):
            return None
        return _id(conn)


def claim(store: Store, candidate: str) -> str:
    """Record ``candidate`` as the id of the store's workspace unless an id is recorded already
    (several workers may start together on a new database); return the id recorded now."""
    values = {"key": ID_KEY, "value": candidate}
    with store.begin() as conn:
        if conn.dialect.name in ("sqlite", "postgresql"):
            conn.execute(
                conflict_insert(conn.dialect.name)(s.store_meta)
                .values(values)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        elif _id(conn) is None:
            try:
                with conn.begin_nested():
                    conn.execute(s.store_meta.insert().values(values))
            except IntegrityError:
                pass
        found = _id(conn)
    assert found is not None
    return found


def backup(store: Store, target: Path) -> None:
    """Copy the SQLite store into ``target`` with SQLite's online backup (a consistent copy,
    while ``watch`` or ``run`` keep writing), through a temporary name beside it, checked
    (``PRAGMA quick_check``) and flushed to the disk before the rename. The copy is a single
    file (rollback journal); the store goes back to WAL when it is opened as a store.

    Raises:
        StoreError: BACKUP_EXISTS when ``target`` is the store itself, STORE_CORRUPT when the
        copy fails its check.
    """
    source = sqlite_file(store.engine.url)
    if source is not None and target.absolute() in {source, source.with_name(source.name + "-wal")}:
        raise StoreError(f"{target} is the store itself; give another file", code="BACKUP_EXISTS")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with store.engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            copy = sqlite3.connect(tmp)
            try:
                raw.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
                faults = [str(row[0]) for row in copy.execute("PRAGMA quick_check").fetchall()]
            finally:
                copy.close()
        if faults != ["ok"]:
            raise StoreError(
                f"the copy of {describe(store.engine.url)} fails its check ({'; '.join(faults[:3])}): "
                "the store is damaged; nothing was written",
                code="STORE_CORRUPT",
            )
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
