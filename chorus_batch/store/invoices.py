"""Invoices and credit notes (one row per document received, duplicates included), their
lifecycle statuses, and the sums of SPEC §8 an engagement's invoices add up to.

``counted_sums`` writes the domain's counting rule (``domain.invoices``) in SQL once, for one
engagement (``invoiced_totals``: ``orders show``, ``close_when_paid``) and for all of them at
once (the reconciliation report, ``store.reports``). Money is summed by the database on the raw
BIGINT millionths of ``Micros``, so it is exact on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, bindparam, case, func, insert, select, type_coerce, update
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from ..domain import invoices as lifecycle
from . import schema as s
from ._fast import Statement

_i = s.invoices
_UNMATCHED = Statement(
    select(_i.c.id).where(_i.c.engagement_ref == bindparam("ref"), _i.c.engagement_id.is_(None)).limit(1)
)


def add(conn: Connection, **values: Any) -> int:
    return int(conn.execute(insert(_i).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # one key


def first_with(conn: Connection, seller_id: str | None, number: str) -> Row[Any] | None:
    """The first invoice received with this seller and number (duplicates point to it)."""
    seller = _i.c.seller_id.is_(None) if seller_id is None else _i.c.seller_id == seller_id
    q = select(_i).where(seller, _i.c.number == number, _i.c.duplicate_of.is_(None)).order_by(_i.c.id).limit(1)
    return conn.execute(q).first()


def by_number(conn: Connection, number: str) -> list[Row[Any]]:
    return list(conn.execute(select(_i).where(_i.c.number == number, _i.c.duplicate_of.is_(None)).order_by(_i.c.id)))


def unmatched(conn: Connection, engagement_ref: str) -> list[Row[Any]]:
    if _UNMATCHED.first(conn, {"ref": engagement_ref}) is None:  # the usual answer, cheaply
        return []
    q = select(_i).where(_i.c.engagement_ref == engagement_ref, _i.c.engagement_id.is_(None)).order_by(_i.c.id)
    return list(conn.execute(q))


def change(conn: Connection, invoice_id: int, **values: Any) -> None:
    conn.execute(update(_i).where(_i.c.id == invoice_id).values(**values))


def add_status(
    conn: Connection, invoice_id: int, status: str, at: str, comment: str | None, file_id: int | None, now: str
) -> None:
    """Record a lifecycle status; the invoice's current status is the one with the latest date."""
    t = s.invoice_statuses
    conn.execute(
        insert(t).values(
            invoice_id=invoice_id, status=status, at=at, comment=comment, source_file_id=file_id, recorded_at=now
        )
    )
    latest = conn.execute(
        select(t.c.status, t.c.at).where(t.c.invoice_id == invoice_id).order_by(t.c.at.desc(), t.c.id.desc()).limit(1)
    ).one()
    change(conn, invoice_id, status=latest.status, status_at=latest.at)


def of_engagement(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(_i).where(_i.c.engagement_id == engagement_id).order_by(_i.c.issue_date, _i.c.id)))


def anomalies(row: Row[Any]) -> list[dict[str, str]]:
    """The anomalies matching stored on an invoice (``{code, reason}``)."""
    found: list[dict[str, str]] = json.loads(row.anomalies)
    return found


def identities(row: Row[Any]) -> dict[str, list[str]]:
    """Every identifier of the invoice's seller and buyer, as matching saw them."""
    known: dict[str, list[str]] = json.loads(row.identities or "{}")
    return known


def encode(value: Iterable[Any] | dict[str, Any]) -> str:
    """The JSON of an invoice's anomalies or identities."""
    return json.dumps(value, ensure_ascii=False)


def micros(column: Any) -> Any:
    """A money column as its raw BIGINT millionths, for exact arithmetic inside SQL."""
    return type_coerce(column, BigInteger)


def counted_sums() -> dict[str, ColumnElement[Any]]:
    """The aggregates of SPEC §8 over a set of invoice rows, as raw millionths (``NULL`` when
    no row adds to them): ``invoiced`` (net of credit notes), ``credit_notes``, ``paid``, and
    ``invoice_count``. Counted, signed and paid as ``domain.invoices`` says."""
    counted = and_(_i.c.duplicate_of.is_(None), _i.c.status != lifecycle.NOT_COUNTED.value)
    ttc = micros(_i.c.amount_ttc)
    signed = case((_i.c.type == lifecycle.CREDIT_NOTE, -ttc), else_=ttc)
    return {
        "invoiced": func.sum(case((counted, signed), else_=None)),
        "credit_notes": func.sum(case((and_(counted, _i.c.type == lifecycle.CREDIT_NOTE), ttc), else_=None)),
        "paid": func.sum(case((and_(counted, _i.c.status == lifecycle.PAID.value), signed), else_=None)),
        "invoice_count": func.sum(case((counted, 1), else_=0)),
    }


@dataclass(frozen=True)
class InvoicedTotals:
    invoiced_ttc: Decimal  # invoices minus credit notes, REJETEE and duplicates excluded
    credit_notes_ttc: Decimal
    paid_ttc: Decimal  # invoices minus credit notes in MISE_EN_PAIEMENT
    invoice_count: int  # the invoices and credit notes counted


def invoiced_totals(conn: Connection, engagement_id: int) -> InvoicedTotals:
    """The sums of SPEC §8 for one engagement."""
    sums = counted_sums()
    # the raw millionths, summed exactly by the database, then one conversion to Decimal
    row = conn.execute(
        select(*(type_coerce(func.coalesce(x, 0), BigInteger) for x in sums.values())).where(
            _i.c.engagement_id == engagement_id
        )
    ).one()
    invoiced, credit_notes, paid, count = (int(v) for v in row)
    return InvoicedTotals(Decimal(invoiced) / s.SCALE, Decimal(credit_notes) / s.SCALE, Decimal(paid) / s.SCALE, count)
