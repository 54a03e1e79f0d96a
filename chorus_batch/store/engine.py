"""The store's entry: an engine on the store URL, migrated on open, what differs between the
databases as far as the rest of the package is concerned (how many files a transaction holds,
whether one process holds the store, row locks), and what a failure of the store means.

**URLs are objects.** The workspace's own store is ``Store.for_file(path)``: its URL is built
with ``URL.create``, never pasted into text, so a folder named ``orders%41``, ``a?x=1``,
``a#b`` or with spaces and accents is the file it names. ``--db`` gives a URL as text; the
peers of a run get the URL object itself (it pickles) and open the same store.

**Patience.** Every connection waits for a busy store up to ``busy_timeout`` seconds
(``busy_timeout_seconds``, 30 by default). On SQLite a write transaction (``begin``) starts
with ``BEGIN IMMEDIATE``: it takes the write lock first, waiting for it, instead of reading then
asking for the lock, which SQLite refuses at once once another writer went first (``database is
locked`` without any wait); a read (``read``, the migration check) starts a plain ``BEGIN``, and
readers never wait in WAL mode. On PostgreSQL the same timeout bounds the connection
(``connect_timeout``) and each wait for a lock (``lock_timeout``).

**Failures** of the store, at open or at use, become a ``StoreError`` naming it (the URL with its
password masked, or the file), with the cause and the fix (``failure``): busy beyond the
timeout, unreachable, driver missing, not writable, full, damaged, URL unreadable. What is the
store's fault is told apart from what one file's data did (a value too long, a concurrent
worker's row: ``failure`` is ``None``), so that the intake's per-file boundary still holds.

SQLite (the embedded default) runs in WAL mode with ``synchronous=NORMAL`` and foreign keys on;
PostgreSQL is shared by several workers, which the database arbitrates.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from ..domain.model import record
from ..errors import StoreError
from . import migrations, parties
from ._fast import Savepoint, forget_transaction

_SNAPSHOT = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")  # what pg_export_snapshot() gives
DEFAULT_BUSY_TIMEOUT = 30.0  # seconds; the configuration's ``busy_timeout_seconds``

# Files per transaction (their reports are written and their moves made after its commit). On
# PostgreSQL, where several workers share the store, each file commits on its own: a long
# transaction would hold the rows other workers need (parties, engagements) and deadlock them.
_BATCH_FILES = {"sqlite": 400, "postgresql": 1}

_WRITE = "chorus_write"  # the execution option of a write transaction's connection
_POSTGRES_HINT = "pip install 'chorus-batch[postgres]' and name the store postgresql+psycopg://USER@HOST/DATABASE"
_BACKUP_HINT = "check it with 'chorus-batch store check' and restore it from a backup (docs/operations.md#the-store)"


@record
class Source:
    """Where a change comes from: the received file, its stored bytes, and when."""

    file_id: int | None
    blob_sha256: str | None
    now: str


def sqlite_url(path: Path) -> URL:
    """The URL of the SQLite file at ``path``, whatever characters its name holds."""
    return URL.create("sqlite", database=str(path))


class Store:
    """An engine on the store URL (text, as ``--db`` gives it, or a ``URL``), migrated to the
    latest schema on open; ``busy_timeout``: how long each connection waits for a busy store.

    Raises:
        StoreError: the store cannot be opened (at open), or used (``begin``, ``read``).
    """

    def __init__(self, url: str | URL, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.url = parse_url(url)
        self.busy_timeout = busy_timeout
        self.name = describe(self.url)
        self.path = sqlite_file(self.url)
        try:
            self.engine: Engine = create_engine(self.url, **_engine_options(self.url, busy_timeout))
        except (ImportError, NoSuchModuleError) as exc:
            raise driver_missing(self.url, exc) from None
        except ArgumentError as exc:
            raise _bad_url(str(url), exc) from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", partial(_sqlite_pragmas, busy_timeout=busy_timeout))
            event.listen(self.engine, "begin", _sqlite_begin)
        # what a transaction remembers (``_fast.TRANSACTION_KEYS``: the parties it wrote, what its
        # batch asked ahead) is forgotten when the next one begins (another process may change
        # it in between); the parties also on any rollback (a savepoint's too)
        event.listen(self.engine, "begin", forget_transaction)
        event.listen(self.engine, "rollback", parties.forget)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        try:
            with self._failures():
                if self._pending_migrations():
                    migrations.migrate(self._writer)
        except BaseException:
            self.engine.dispose()
            raise

    @classmethod
    def for_file(cls, path: Path, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        """The SQLite store in the file ``path`` (a workspace's ``var/store.sqlite``)."""
        return cls(sqlite_url(path), busy_timeout)

    @property
    def exclusive(self) -> bool:
        """Whether one process at a time works on this store (SQLite: the workspace lock);
        PostgreSQL is shared by several workers."""
        return self.engine.dialect.name == "sqlite"

    @property
    def batch_files(self) -> int:
        """How many files one intake transaction holds."""
        return _BATCH_FILES.get(self.engine.dialect.name, 1)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction, committed at the end of the block, rolled back on an exception.
        On SQLite it takes the write lock at once, waiting up to the busy timeout. A failure of
        the store becomes a ``StoreError`` (``uncertain`` when a server failed during the commit:
        it may have committed)."""
        committing = False
        server = self.engine.dialect.name != "sqlite"  # a lost server may have committed; SQLite says
        with self._failures(lambda: committing and server), self._writer.connect() as conn, conn.begin():
            yield conn
            committing = True

    @contextmanager
    def read(self, snapshot: str | None = None) -> Iterator[Connection]:
        """A read-only connection (its writes, if any, are rolled back), one snapshot of the
        store (PostgreSQL: ``REPEATABLE READ``). ``snapshot``: the one a ``shared_read`` of
        another process exported (PostgreSQL; on SQLite that read begins at once, the writers
        held off meanwhile)."""
        with self._failures(), self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                if snapshot is not None:
                    if not _SNAPSHOT.fullmatch(snapshot):
                        raise ValueError(f"not a snapshot of PostgreSQL: {snapshot!r}")
                    conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # no parameter there
            elif snapshot is not None:
                conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1")  # its snapshot taken now
            yield conn

    @contextmanager
    def shared_read(self, share: Callable[[str], None]) -> Iterator[Connection]:
        """``read``, whose snapshot another process's read shares: ``share(snapshot)`` hands
        it to that process and returns once it has opened ``read(snapshot)``. On SQLite the
        write lock is held meanwhile (waiting up to the busy timeout for a writer), so that no
        commit can come between the two reads' beginnings; PostgreSQL exports its snapshot."""
        with self.read() as conn:
            if self.engine.dialect.name == "postgresql":
                share(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
            else:
                with self._failures(), self._writer.connect() as hold, hold.begin():
                    conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1")
                    share("sqlite")
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # -- failures ---------------------------------------------------------------------------------

    @contextmanager
    def _failures(self, uncertain: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Failures of the store inside the block raised as ``StoreError``; anything else as it is."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            found = self.failure(exc, uncertain())
            if found is None:
                raise
            raise found from exc

    def failure(self, exc: BaseException, uncertain: bool = False) -> StoreError | None:
        """What ``exc`` means for this store (``failure``)."""
        return failure(self.url, exc, self.engine.dialect.loaded_dbapi, self.busy_timeout, uncertain)

    def _pending_migrations(self) -> bool:
        """Whether a migration is to apply, found by reading (a write would wait for writers)."""
        return not {version for version, _name, _step in migrations.MIGRATIONS} <= set(migrations.applied(self.engine))


# -- what a failure means ---------------------------------------------------------------------------


def parse_url(url: str | URL) -> URL:
    """The store's URL as an object (``STORE_URL_INVALID`` when text is not a URL)."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise _bad_url(url, exc) from None


def failure(
    url: URL, exc: BaseException, dbapi: Any, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, uncertain: bool = False
) -> StoreError | None:
    """What ``exc``, raised by the driver ``dbapi`` (or SQLAlchemy over it) while using the store
    at ``url``, means: a ``StoreError`` naming that store when the store itself failed (busy
    beyond ``busy_timeout``, unreachable, not writable, full, damaged), ``None`` when it is the
    work's own (a constraint, a value too long, a deadlock or a concurrent worker's row to try
    again, a bug). Usable without a ``Store``: by whatever looks at a store before opening it."""
    if isinstance(exc, StoreError):
        return exc
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if isinstance(orig, sqlite3.Error):
        kind = _sqlite_kind(orig)
    elif dbapi is not None and isinstance(orig, dbapi.Error):
        kind = _server_kind(orig, invalidated)
    else:
        return None
    if kind is None:
        return None
    code, message = _explain(url, kind, _cause(orig), busy_timeout)
    return StoreError(message, code=code, store=describe(url), uncertain=uncertain)


def driver_missing(url: URL, exc: BaseException) -> StoreError:
    """``STORE_DRIVER_MISSING`` for the store at ``url``, whose driver could not be imported
    (``ImportError``) or is unknown to SQLAlchemy (``NoSuchModuleError``)."""
    backend = url.get_backend_name()
    driver = url.get_driver_name() if "+" in url.drivername else ""
    if isinstance(exc, NoSuchModuleError):
        cause = f"no driver {driver!r} is known for {backend}" if driver else f"no database {backend!r} is known"
    else:
        cause = f"its driver is not installed: {exc}"
    fix = _POSTGRES_HINT if backend == "postgresql" else "install the Python driver the URL names"
    return StoreError(f"the store {describe(url)} cannot be opened: {cause}; {fix}", code="STORE_DRIVER_MISSING")


def _explain(url: URL, kind: str, cause: str, busy_timeout: float) -> tuple[str, str]:
    """The code and the line an operator reads: which store, the cause, the fix."""
    name, path = describe(url), sqlite_file(url)
    if kind == "busy":
        locked = "stayed locked" if path is not None else "kept a row or table locked"
        return "STORE_BUSY", (
            f"store busy (another process is writing); try again: {name} {locked} longer than "
            f"busy_timeout_seconds ({busy_timeout:g} s; {cause})"
        )
    if kind == "unwritable":
        where = _unwritable_path(path)
        fix = f"give chorus-batch's user write access to {where}" if where else "grant the database user the rights"
        return "STORE_UNWRITABLE", f"the store {name} cannot be written ({cause}); {fix}"
    if kind == "full":
        disk = f"the file system of {path.parent}" if path is not None else "the database server's disk"
        return (
            "STORE_FULL",
            f"the store {name} cannot grow: the disk is full ({cause}); free space on {disk}, then try again",
        )
    if kind == "corrupt":
        return "STORE_CORRUPT", f"the store {name} is not a database or is damaged ({cause}); {_BACKUP_HINT}"
    if path is not None:
        folder = path.parent
        if not folder.is_dir():
            return "STORE_UNREACHABLE", f"cannot open the store {name}: the folder {folder} does not exist"
        if kind == "cantopen":
            where = _unwritable_path(path) or folder
            return "STORE_UNWRITABLE", (
                f"cannot open the store {name} ({cause}); give chorus-batch's user read and write access to {where}"
            )
        return (
            "STORE_UNREACHABLE",
            f"the store {name} cannot be used ({cause}); check the disk and the file system of {folder}",
        )
    return "STORE_UNREACHABLE", (
        f"cannot reach the store {name} ({cause}); check that the database server runs and that the "
        "store URL (--db) names the right host, port, user and database"
    )


def _unwritable_path(path: Path | None) -> Path | None:
    """The first of a SQLite store's folder, file and companions that its user cannot write
    (``None`` on a server; the folder when each looks writable)."""
    if path is None:
        return None
    effective = os.access in os.supports_effective_ids
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=effective):
        return folder
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and not os.access(candidate, os.W_OK, effective_ids=effective):
            return candidate
    return folder


def savepoint(conn: Connection) -> Savepoint:
    """A savepoint inside the caller's transaction (a file, a document of a file); its rollback
    forgets the parties the transaction remembered."""
    return Savepoint(conn, parties.forget)


def _bad_url(text: str, exc: Exception) -> StoreError:
    shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", text)
    return StoreError(
        f"{shown!r} is not a store URL ({exc}); give sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE",
        code="STORE_URL_INVALID",
    )


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite store, absolute (``None``: another database, or SQLite in memory)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).absolute()


def describe(url: str | URL) -> str:
    """The store as an operator reads it: the SQLite file, or the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        return str(path) if path is not None else "(an in-memory SQLite store)"
    return parsed.render_as_string(hide_password=True)


def _engine_options(url: URL, busy_timeout: float) -> dict[str, Any]:
    """The engine's arguments: how long a connection waits, and the parameter style."""
    if url.get_backend_name() == "sqlite":
        # named parameters (``:name``), so that a statement run on a DBAPI cursor (the reports'
        # ``rows``) passes the same dictionary to both databases (psycopg takes ``%(name)s``;
        # ``_fast`` compiles its own for SQLite with ``?``, bound faster); the sqlite3 module's own
        # wait (its ``timeout``, 5 s by default) is the busy timeout too, from the first statement
        return {"paramstyle": "named", "connect_args": {"timeout": busy_timeout}}
    if url.get_backend_name() == "postgresql":
        args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            args["connect_timeout"] = max(2, round(busy_timeout))
        if "options" not in url.query:
            args["options"] = f"-c lock_timeout={round(busy_timeout * 1000)}"
        return {"connect_args": args}
    return {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_timeout: float) -> None:
    # Let SQLAlchemy, not the sqlite3 module, open transactions (so SAVEPOINTs work).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")  # first: the others may wait
    dbapi_conn.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v, deterministic=True)
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # A batch's savepoints keep their journal in memory, not in files under /var/tmp, and its
    # pages in a 16 MiB cache rather than spilling them to the WAL before the commit.
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-16384")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """A write transaction takes the write lock at its start (waiting for it), a read does not."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


# SQLite's primary result codes (https://sqlite.org/rescode.html) that are the store's own failure
_SQLITE_KINDS = {
    5: "busy",  # SQLITE_BUSY
    6: "busy",  # SQLITE_LOCKED
    15: "busy",  # SQLITE_PROTOCOL
    3: "unwritable",  # SQLITE_PERM
    8: "unwritable",  # SQLITE_READONLY
    23: "unwritable",  # SQLITE_AUTH
    14: "cantopen",  # SQLITE_CANTOPEN
    13: "full",  # SQLITE_FULL
    11: "corrupt",  # SQLITE_CORRUPT
    26: "corrupt",  # SQLITE_NOTADB
    7: "unavailable",  # SQLITE_NOMEM
    10: "unavailable",  # SQLITE_IOERR
    22: "unavailable",  # SQLITE_NOLFS
}


def _sqlite_kind(exc: sqlite3.Error) -> str | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return _SQLITE_KINDS.get(code & 0xFF) if isinstance(code, int) else None


# PostgreSQL's SQLSTATE (classes and codes) that are the store's own failure; the others (data,
# constraints, serialization failures and deadlocks to retry, syntax) are the work's
_SERVER_CODES = {
    "55P03": "busy",  # lock_not_available: lock_timeout reached
    "53100": "full",  # disk_full
    "42501": "unwritable",  # insufficient_privilege
    "25006": "unwritable",  # read_only_sql_transaction (a standby)
    "XX001": "corrupt",  # data_corrupted
    "XX002": "corrupt",  # index_corrupted
    "57P01": "unavailable",  # admin_shutdown
    "57P02": "unavailable",  # crash_shutdown
    "57P03": "unavailable",  # cannot_connect_now
    "3D000": "unavailable",  # invalid_catalog_name: no such database
}
_SERVER_CLASSES = {"08": "unavailable", "28": "unavailable", "53": "unavailable", "58": "unavailable"}


def _server_kind(exc: BaseException, invalidated: bool) -> str | None:
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state:
        if state in _SERVER_CODES:
            return _SERVER_CODES[state]
        if state[:2] in _SERVER_CLASSES:
            return _SERVER_CLASSES[state[:2]]
        return "unavailable" if invalidated else None
    # no SQLSTATE: the driver's own failure to reach or keep the server (refused, timeout, closed)
    kind = type(exc).__name__
    return "unavailable" if invalidated or kind in ("OperationalError", "InterfaceError") else None


def _cause(exc: BaseException) -> str:
    """The driver's reason in one line."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
