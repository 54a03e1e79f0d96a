"""Parked documents: answers, changes and cancellations waiting for their order, invoice
statuses waiting for their invoice. The file's bytes are in ``blobs``; a parked document is
read again from there when what it waits for arrives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.engine import Row

from ..domain.outcomes import ParkState
from . import schema as s

_p, _f = s.parked, s.received_files


def park(conn: Connection, file_id: int, position: int, kind: str, order_number: str, now: str) -> None:
    conn.execute(
        insert(_p).values(
            file_id=file_id,
            position=position,
            kind=kind,
            order_number=order_number,
            parked_at=now,
            state=ParkState.WAITING,
        )
    )


def _waiting(*where: Any) -> Any:
    return (
        select(_p, _f.c.name, _f.c.partner, _f.c.sha256, _f.c.received_at, _f.c.stored_as, _f.c.ack)
        .select_from(_p.join(_f, _p.c.file_id == _f.c.id))
        .where(_p.c.state == ParkState.WAITING, *where)
        .order_by(_p.c.id)
    )


_ANY_WAITING = select(_p.c.id).where(_p.c.state == ParkState.WAITING).limit(1)


def waiting_for(conn: Connection, order_numbers: Sequence[str]) -> list[Row[Any]]:
    """The documents parked for any of these numbers, oldest first. Most often none waits at
    all: one short query says so before a lot's numbers are looked for."""
    found: list[Row[Any]] = []
    if not order_numbers or conn.execute(_ANY_WAITING).first() is None:
        return found
    wanted = sorted(set(order_numbers))
    for start in range(0, len(wanted), 500):  # a bounded IN list per query
        found += conn.execute(_waiting(_p.c.order_number.in_(wanted[start : start + 500])))
    return sorted(found, key=lambda row: row.id)


def expired(conn: Connection, before: str) -> list[Row[Any]]:
    return list(conn.execute(_waiting(_p.c.parked_at <= before)))


def now_resolvable(conn: Connection) -> list[str]:
    """References of waiting parked documents that an engagement or an invoice now carries."""
    known = or_(
        select(s.engagements.c.id).where(s.engagements.c.number == _p.c.order_number).exists(),
        select(s.invoices.c.id).where(s.invoices.c.number == _p.c.order_number).exists(),
    )
    return list(
        conn.execute(select(_p.c.order_number).where(_p.c.state == ParkState.WAITING, known).distinct()).scalars()
    )


def take(conn: Connection, parked_id: int) -> bool:
    """Lock a parked document for this transaction if it is still waiting (another worker may
    be taking it up at the same moment on PostgreSQL: it skips it then)."""
    q = select(_p.c.id).where(_p.c.id == parked_id, _p.c.state == ParkState.WAITING)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return conn.execute(q).first() is not None


def conclude(conn: Connection, parked_id: int, state: ParkState, now: str) -> None:
    conn.execute(update(_p).where(_p.c.id == parked_id).values(state=state, resolved_at=now))


def states_of_file(conn: Connection, file_id: int) -> list[ParkState]:
    q = select(_p.c.state).where(_p.c.file_id == file_id).order_by(_p.c.position)
    return [ParkState(state) for state in conn.execute(q).scalars()]


def waiting(conn: Connection, file_id: int | None = None) -> list[Row[Any]]:
    """Every document still waiting (of one file), oldest first, with its file's name, partner
    folder and integration report (which says what each parked document waits for)."""
    q = (
        select(_p, _f.c.name, _f.c.partner, _f.c.report)
        .select_from(_p.join(_f, _p.c.file_id == _f.c.id))
        .where(_p.c.state == ParkState.WAITING)
        .order_by(_p.c.id)
    )
    if file_id is not None:
        q = q.where(_p.c.file_id == file_id)
    return list(conn.execute(q))


def holds_waiting() -> Any:
    """A condition on ``received_files``: the file holds a document still waiting."""
    return select(_p.c.id).where(_p.c.file_id == _f.c.id, _p.c.state == ParkState.WAITING).exists()


def waiting_counts(conn: Connection) -> dict[int, int]:
    """How many documents still wait, by file id (files with none are left out)."""
    q = select(_p.c.file_id, func.count()).where(_p.c.state == ParkState.WAITING).group_by(_p.c.file_id)
    return {row[0]: int(row[1]) for row in conn.execute(q)}
