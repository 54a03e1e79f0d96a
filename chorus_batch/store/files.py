"""Received files (one row per processing of an input file) and blobs (the original bytes of
every integrated or parked file, attachment and emitted order response, stored once under
their SHA-256)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.engine import Row

from ..domain.outcomes import STORED, FileStatus
from . import parking
from . import schema as s
from ._fast import Statement, among, conflict_insert, json_values

_f = s.received_files
_STORED = or_(*(_f.c.status == v.value for v in STORED))
_STORED_FILE = Statement(
    select(_f.c.id, _f.c.name, _f.c.processed_at, _f.c.kinds)
    .where(_f.c.sha256 == bindparam("sha"), _STORED)
    .order_by(_f.c.id)
    .limit(1)
)
_STORED_AMONG = Statement(select(_f.c.sha256).where(_f.c.sha256.in_(json_values("shas")), _STORED))  # SQLite
_INSERT_FILE = Statement(insert(_f), _f)
_UPDATE_FILE = Statement(update(_f).where(_f.c.id == bindparam("_file_id")), _f)
# INSERT ... ON CONFLICT DO NOTHING: written the same way by both dialects, built per dialect
_INSERT_BLOB = Statement(
    lambda dialect: conflict_insert(dialect)(s.blobs).on_conflict_do_nothing(index_elements=["sha256"]), s.blobs
)


def stored_file(conn: Connection, sha256: str) -> Any:
    """The first file with these bytes that is in the store (integrated, partly or parked), if
    any: the same bytes again are a duplicate."""
    return _STORED_FILE.first(conn, {"sha": sha256})


class StoredFiles:
    """``stored_file`` for the files of one batch, inside its transaction. On SQLite, whose write
    transaction holds the store's only write lock from its start, which of the batch's SHA-256
    are in the store is asked once, in one query: a file whose bytes are neither among those nor
    among the bytes of a file of the batch asked about before it is then known to be new without
    a query of its own. On PostgreSQL, where another worker may commit the same bytes while the
    batch is stored, each file is asked about when its turn comes."""

    def __init__(self, conn: Connection, shas: Iterable[str]) -> None:
        self.conn = conn
        found = among(conn, _STORED_AMONG, "shas", shas)
        self.maybe = None if found is None else {sha for (sha,) in found}

    def first(self, sha256: str) -> Any:
        """What ``stored_file`` gives for these bytes now."""
        if self.maybe is not None and sha256 not in self.maybe:
            self.maybe.add(sha256)  # the file asked about is recorded next: a later one may meet it
            return None
        return stored_file(self.conn, sha256)


def add(conn: Connection, **values: Any) -> int:
    return _INSERT_FILE.insert(conn, values)


def change(conn: Connection, file_id: int, **values: Any) -> None:
    _UPDATE_FILE.run(conn, {"_file_id": file_id, **values})


def put_blob(conn: Connection, data: bytes, sha: str | None = None) -> str:
    """Store ``data`` once under its SHA-256 (``sha`` when the caller has it) and return the hash."""
    sha = sha or hashlib.sha256(data).hexdigest()
    _INSERT_BLOB.run(conn, {"sha256": sha, "size": len(data), "content": data})
    return sha


def get_blob(conn: Connection, sha256: str) -> bytes | None:
    content: bytes | None = conn.execute(select(s.blobs.c.content).where(s.blobs.c.sha256 == sha256)).scalar()
    return content


def listed(conn: Connection, status: str | None = None) -> list[Row[Any]]:
    """Every received file (with this status), in the order they were processed. ``PARKED``
    also gives the files of another status that hold a document still waiting (a parked row
    of an integrated CSV)."""
    q = select(_f).order_by(_f.c.id)
    if status == FileStatus.PARKED:
        q = q.where(or_(_f.c.status == status, parking.holds_waiting()))
    elif status:
        q = q.where(_f.c.status == status)
    return list(conn.execute(q))


def by_claim(conn: Connection, claimed_as: str) -> Row[Any] | None:
    """The latest file record of a claim path in var/processing/ (its processing committed)."""
    return conn.execute(select(_f).where(_f.c.claimed_as == claimed_as).order_by(_f.c.id.desc()).limit(1)).first()


def by_name(conn: Connection, name: str) -> list[Row[Any]]:
    """Every processing of a file with this name (a name can be received several times)."""
    return list(conn.execute(select(_f).where(_f.c.name == name).order_by(_f.c.id)))


def by_id(conn: Connection, file_id: int) -> Row[Any]:
    return conn.execute(select(_f).where(_f.c.id == file_id)).one()
