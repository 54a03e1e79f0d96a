"""Supplier answers (every answer received, what it did, and the order response it made) and
the order responses waiting to be written to ``outbox/responses/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.engine import Row

from . import schema as s
from .engagements import with_source

_a = s.answers


def record(conn: Connection, **values: Any) -> int:
    return int(conn.execute(insert(_a).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # one key


def unwritten_responses(conn: Connection) -> list[Row[Any]]:
    """Order responses committed but not yet confirmed written to outbox/responses/ (a crash in between)."""
    q = select(_a.c.response_file, _a.c.response_sha256).where(
        _a.c.response_written == 0, _a.c.response_file.is_not(None)
    )
    return list(conn.execute(q))


def mark_responses_written(conn: Connection, names: Sequence[str]) -> None:
    if names:
        conn.execute(update(_a).where(_a.c.response_file.in_(list(names))).values(response_written=1))


def of_engagement(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    return with_source(conn, _a, engagement_id)


def count(conn: Connection, engagement_id: int, outcome: str) -> int:
    q = select(func.count()).select_from(_a).where(_a.c.engagement_id == engagement_id, _a.c.outcome == outcome)
    return int(conn.execute(q).scalar_one())
