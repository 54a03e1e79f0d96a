"""The store's entry: an engine on the store URL, migrated on open, and what differs between
the databases as far as the rest of the package is concerned (how many files a transaction
holds, whether one process holds the store, row locks).

SQLite (the embedded default) runs in WAL mode with ``synchronous=NORMAL``, foreign keys on and
a 30-second busy timeout; PostgreSQL is shared by several workers, which the database arbitrates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from . import migrations, parties
from ._fast import Savepoint

# Files per transaction (their reports are written and their moves made after its commit). On
# PostgreSQL, where several workers share the store, each file commits on its own: a long
# transaction would hold the rows other workers need (parties, engagements) and deadlock them.
_BATCH_FILES = {"sqlite": 400, "postgresql": 1}


@dataclass(frozen=True)
class Source:
    """Where a change comes from: the received file, its stored bytes, and when."""

    file_id: int | None
    blob_sha256: str | None
    now: str


class Store:
    """An engine on the store URL, migrated to the latest schema on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        # SQLite takes named parameters (``:name``) so that the fast statements (``_fast``) pass
        # the same dictionaries to both databases (psycopg takes ``%(name)s``).
        named = {"paramstyle": "named"} if make_url(url).get_backend_name() == "sqlite" else {}
        self.engine: Engine = create_engine(url, **named)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        # what a transaction remembers of the parties it wrote is forgotten when the next one begins
        # (another process may change them in between) and on any rollback (a savepoint's too)
        event.listen(self.engine, "begin", parties.forget)
        event.listen(self.engine, "rollback", parties.forget)
        migrations.migrate(self.engine)

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
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def savepoint(conn: Connection) -> Savepoint:
    """A savepoint inside the caller's transaction (a file, a document of a file); its rollback
    forgets the parties the transaction remembered."""
    return Savepoint(conn, parties.forget)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, open transactions (so SAVEPOINTs work).
    dbapi_conn.isolation_level = None
    dbapi_conn.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v, deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # A batch's savepoints keep their journal in memory, not in files under /var/tmp, and its
    # pages in a 16 MiB cache rather than spilling them to the WAL before the commit.
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-16384")
    cur.close()
