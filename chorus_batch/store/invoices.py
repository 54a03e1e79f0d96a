"""Invoices and credit notes (one row per document received, duplicates included), their
lifecycle statuses, and the sums of SPEC §8 an engagement's invoices add up to.

``counted_sums`` writes the domain's counting rule (``domain.invoices``, and an invoice's
``excluded`` reason from ``domain.matching``) in SQL once, for one engagement
(``invoiced_totals``: ``orders show``, ``close_when_paid``) and for all of them at once (the
reconciliation report, ``store.reports``).

Money is summed exactly at any size the validation admits. A document amount is below 10^12
with at most 6 decimals, so its raw BIGINT millionths (``Micros``) fit 64 bits but ten of them
may not: each sum is taken in two parts, the whole units (``micros / 10^6``) and the millionth
remainders (``micros % 10^6``), which both databases compute in integers truncated toward zero
(so ``units * 10^6 + rest`` is the amount again, sign included). Neither part can overflow;
``exact`` puts them back together as a Python ``int`` of millionths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from ..domain import invoices as lifecycle
from . import schema as s
from ._fast import TRANSACTION_KEYS, Statement, among, json_values

_i = s.invoices
_UNMATCHED = Statement(
    select(_i.c.id).where(_i.c.engagement_ref == bindparam("ref"), _i.c.engagement_id.is_(None)).limit(1)
)
_UNMATCHED_AMONG = Statement(  # SQLite
    select(_i.c.engagement_ref)
    .where(_i.c.engagement_ref.in_(json_values("refs")), _i.c.engagement_id.is_(None))
    .distinct()
)
_AHEAD = "chorus_batch.invoices"  # in ``conn.info``: the references ``expect_unmatched`` asked, those unmatched
TRANSACTION_KEYS.append(_AHEAD)  # forgotten when the next transaction begins


def expect_unmatched(conn: Connection, references: Iterable[str]) -> None:
    """Ask in one query which of these engagement numbers (a batch's orders) invoices named
    before their engagement existed. On SQLite (its write transaction holds the only write
    lock) ``unmatched`` then answers for a number that none named without a query of its own,
    until the transaction ends or writes an invoice (``add``, ``change``); on PostgreSQL,
    where another worker may write one meanwhile, nothing is done."""
    wanted = set(references)
    found = among(conn, _UNMATCHED_AMONG, "refs", wanted)
    if found is not None:
        conn.info[_AHEAD] = (wanted, {ref for (ref,) in found})


def add(conn: Connection, **values: Any) -> int:
    conn.info.pop(_AHEAD, None)  # what was asked ahead may no longer hold
    return int(conn.execute(insert(_i).values(**values)).inserted_primary_key[0])  # type: ignore[index]  # one key


def first_with(conn: Connection, seller_id: str | None, number: str) -> Row[Any] | None:
    """The first invoice received with this seller and number (duplicates point to it)."""
    seller = _i.c.seller_id.is_(None) if seller_id is None else _i.c.seller_id == seller_id
    q = select(_i).where(seller, _i.c.number == number, _i.c.duplicate_of.is_(None)).order_by(_i.c.id).limit(1)
    return conn.execute(q).first()


def by_number(conn: Connection, number: str) -> list[Row[Any]]:
    return list(conn.execute(select(_i).where(_i.c.number == number, _i.c.duplicate_of.is_(None)).order_by(_i.c.id)))


def unmatched(conn: Connection, engagement_ref: str) -> list[Row[Any]]:
    """The invoices that name ``engagement_ref`` and no engagement, in the order received."""
    ahead = conn.info.get(_AHEAD)
    if ahead is not None and engagement_ref in ahead[0] and engagement_ref not in ahead[1]:
        return []  # none, as ``expect_unmatched`` found
    if _UNMATCHED.first(conn, {"ref": engagement_ref}) is None:  # the usual answer, cheaply
        return []
    q = select(_i).where(_i.c.engagement_ref == engagement_ref, _i.c.engagement_id.is_(None)).order_by(_i.c.id)
    return list(conn.execute(q))


def change(conn: Connection, invoice_id: int, **values: Any) -> None:
    conn.info.pop(_AHEAD, None)  # what was asked ahead may no longer hold
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


_SCALE = literal_column(str(s.SCALE), BigInteger)  # written into the SQL: an integer on both databases
MONEY_SUMS = ("invoiced", "credit_notes", "paid")


def units(value: Any) -> Any:
    """The whole units of an expression in millionths, truncated toward zero (SQL integer ``/``)."""
    return type_coerce(value.self_group().op("/")(_SCALE), BigInteger)  # (a - b) / scale, not a - b / scale


def rest(value: Any) -> Any:
    """The millionths left over by ``units`` (SQL ``%``: the sign of ``value``)."""
    return type_coerce(value.op("%")(_SCALE), BigInteger)


def exact(units_sum: Any, rest_sum: Any) -> int | None:
    """A sum in millionths from its two parts (``None`` when no row added to it): a Python int,
    exact at any size (PostgreSQL gives its sums as NUMERIC, SQLite as integers)."""
    if units_sum is None and rest_sum is None:
        return None
    return int(units_sum or 0) * s.SCALE + int(rest_sum or 0)


def as_decimal(millionths: int) -> Decimal:
    """Millionths as an exact ``Decimal`` (made from text: no context rounding at any size)."""
    return Decimal(f"{millionths}E-6")


def counted() -> ColumnElement[bool]:
    """Whether an invoice row counts toward its engagement's totals: not a duplicate, not
    ``REJETEE``, and fitting the engagement (no ``excluded`` reason)."""
    return and_(_i.c.duplicate_of.is_(None), _i.c.status != lifecycle.NOT_COUNTED.value, _i.c.excluded.is_(None))


def counted_sums() -> dict[str, ColumnElement[Any]]:
    """The aggregates of SPEC §8 over a set of invoice rows: for each of ``MONEY_SUMS``
    (``invoiced`` net of credit notes, ``credit_notes``, ``paid``) its two parts
    ``<name>_units`` and ``<name>_rest`` (``NULL`` when no row adds to them; ``exact`` joins
    them), and ``invoice_count``. Counted, signed and paid as ``domain.invoices`` says."""
    is_counted = counted()
    ttc = micros(_i.c.amount_ttc)
    signed = case((_i.c.type == lifecycle.CREDIT_NOTE, -ttc), else_=ttc)
    parts = {
        "invoiced": case((is_counted, signed), else_=None),
        "credit_notes": case((and_(is_counted, _i.c.type == lifecycle.CREDIT_NOTE), ttc), else_=None),
        "paid": case((and_(is_counted, _i.c.status == lifecycle.PAID.value), signed), else_=None),
    }
    sums: dict[str, ColumnElement[Any]] = {}
    for name, value in parts.items():
        sums[f"{name}_units"] = func.sum(units(value))
        sums[f"{name}_rest"] = func.sum(rest(value))
    sums["invoice_count"] = func.sum(case((is_counted, 1), else_=0))
    return sums


@dataclass(frozen=True)
class InvoicedTotals:
    invoiced_ttc: Decimal  # invoices minus credit notes, REJETEE, duplicates and misfits excluded
    credit_notes_ttc: Decimal
    paid_ttc: Decimal  # invoices minus credit notes in MISE_EN_PAIEMENT
    invoice_count: int  # the invoices and credit notes counted


def invoiced_totals(conn: Connection, engagement_id: int) -> InvoicedTotals:
    """The sums of SPEC §8 for one engagement, exact (``Decimal``) at any size."""
    sums = counted_sums()
    row = conn.execute(select(*sums.values()).where(_i.c.engagement_id == engagement_id)).one()
    found = dict(zip(sums, row, strict=True))
    invoiced, credit_notes, paid = (as_decimal(exact(found[f"{n}_units"], found[f"{n}_rest"]) or 0) for n in MONEY_SUMS)
    return InvoicedTotals(invoiced, credit_notes, paid, int(found["invoice_count"] or 0))


def kept_totals(conn: Connection) -> dict[int, tuple[int, ...]]:
    """What ``engagement_totals`` holds (migration 10: kept by triggers as invoices are written):
    engagement id → the two parts of each of ``MONEY_SUMS`` and the count; engagements at zero
    left out. ``recounted_totals`` is what it must hold."""
    t = s.engagement_totals
    parts = [t.c[f"{name}_{part}"] for name in MONEY_SUMS for part in ("units", "rest")]
    found = conn.execute(select(t.c.engagement_id, *parts, t.c.invoice_count))
    return {int(r[0]): tuple(int(v) for v in r[1:]) for r in found if any(r[1:])}


def recounted_totals(conn: Connection) -> dict[int, tuple[int, ...]]:
    """``kept_totals`` counted again from the invoices themselves (``counted_sums``)."""
    sums = counted_sums()
    q = select(_i.c.engagement_id, *sums.values()).where(_i.c.engagement_id.is_not(None)).group_by(_i.c.engagement_id)
    found = conn.execute(q)
    return {int(r[0]): tuple(int(v or 0) for v in r[1:]) for r in found if any(r[1:])}
