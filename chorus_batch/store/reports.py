"""The queries of the accountants' reports (SPEC §8), streamed in chunks of rows.

A stored amount is written by the database as two-decimal text, rounded half-up
(``money_text``). A sum is added up by the database in its two parts, whole units and millionth
remainders (``invoices.counted_sums``: exact at any size, where one BIGINT would overflow), and
written by ``reports.build`` from the exact Python integer they make: no amount is ever a float.
Rows leave the database in Unicode code-point order (SQLite compares UTF-8 bytes; PostgreSQL
is given ``COLLATE "C"`` and ``NULLS FIRST``), so each report's chunks come in their final order
and SQLite and PostgreSQL give the same bytes. Rows are read straight from a DBAPI cursor (a
server-side one on PostgreSQL, so they stream): every column selected here is text or a whole
number, which needs no conversion.

Each query is built for the connection's database (``status``, ``totals``, ``invoices``,
``invoice_anomalies``, ``engagement_anomalies``); ``rows`` streams one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, func, literal, select, true, type_coerce, union
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement, Select

from ..domain.states import Event
from . import schema as s
from .invoices import MONEY_SUMS, counted, micros

CHUNK_ROWS = 50_000  # rows read at a time: memory stays flat with the store's size
Chunk = tuple[list[str], Sequence[Any]]  # column names, rows (as the DBAPI cursor gives them: tuples)

_e, _i = s.engagements, s.invoices
_CURSORS = itertools.count()


def money_text(conn: Connection, column: Any) -> Any:
    """A money column or expression (raw millionths) as the reports write it, computed by the
    database in integer arithmetic: ``"727.20"``, half-up to the cent away from zero (``-0.004``
    gives ``"-0.00"``), ``""`` when unknown."""
    raw = micros(column)
    cents = (func.abs(raw) + 5_000) // 10_000  # floor division of integers
    units, rest = cents // 100, cents % 100
    sign = case((raw < 0, "-"), else_="")
    if conn.dialect.name == "postgresql":
        text = sign + cast(units, String) + "." + func.lpad(cast(rest, String), 2, "0")
    else:
        text = func.printf("%s%d.%02d", sign, units, rest)
    return type_coerce(case((raw.is_(None), ""), else_=text), String)


def _text(column: Any, name: str | None = None) -> Any:
    """A nullable text column as the reports write it: ``""`` for none."""
    return type_coerce(func.coalesce(column, ""), String).label(name or column.name)


def _code_points(conn: Connection, *columns: Any) -> list[Any]:
    """ORDER BY in Unicode code-point order on both databases."""
    return [column.collate("C") for column in columns] if conn.dialect.name == "postgresql" else list(columns)


def _invoice_order(conn: Connection) -> list[Any]:
    """seller (none first), number, id. SQLite puts NULL first and can then walk the
    (seller_id, number) index instead of sorting millions of rows; PostgreSQL is told."""
    if conn.dialect.name == "postgresql":
        return [_i.c.seller_id.collate("C").nulls_first(), _i.c.number.collate("C"), _i.c.id]
    return [_i.c.seller_id, _i.c.number, _i.c.id]


def status(conn: Connection) -> Select[Any]:
    """One row per engagement: parties, status, dates, ordered amounts as text."""
    q = select(
        _e.c.number.label("engagement_number"),
        _e.c.issuer_id,
        _text(_e.c.issuer_name),
        _e.c.supplier_id,
        _text(_e.c.supplier_name),
        _e.c.status,
        _e.c.created_at,
        _e.c.last_transition_at,
        money_text(conn, _e.c.amount_ht).label("amount_ht"),
        money_text(conn, _e.c.amount_ttc).label("amount_ttc"),
        _text(_e.c.currency),
    ).order_by(*_code_points(conn, _e.c.number, _e.c.issuer_id))
    return q


def totals(conn: Connection) -> Select[Any]:
    """Per engagement (with its parties' ids and names), its totals as the database keeps them
    (``engagement_totals``, migration 10: ``invoices.counted_sums`` added up as invoices are
    written): the two parts (``_units``, ``_rest``) of invoiced (net of credit notes), credit
    notes and paid, the number of counted documents, the currency, the raw millionths ordered
    and the ordered amounts as text. ``reports.build`` makes the sums, the remaining amount and
    the match status."""
    t = s.engagement_totals
    ordered_ttc = micros(_e.c.amount_ttc)
    parts = [t.c[f"{name}_{part}"] for name in MONEY_SUMS for part in ("units", "rest")]
    q = (
        select(
            _e.c.id.label("engagement_id"),
            _e.c.number.label("engagement_number"),
            _e.c.issuer_id,
            _text(_e.c.issuer_name),
            _e.c.supplier_id,
            _text(_e.c.supplier_name),
            _e.c.status,
            _text(_e.c.currency),
            ordered_ttc.label("ordered_micros"),
            money_text(conn, _e.c.amount_ht).label("ordered_ht"),
            money_text(conn, ordered_ttc).label("ordered_ttc"),
            *parts,
            func.coalesce(t.c.invoice_count, 0).label("invoice_count"),
        )
        .select_from(_e.outerjoin(t, t.c.engagement_id == _e.c.id))
        .order_by(*_code_points(conn, _e.c.number, _e.c.issuer_id))
    )
    return q


def invoice_anomalies(conn: Connection) -> Select[Any]:
    """One row per anomaly stored in ``invoices.anomalies`` (a JSON list of ``{code, reason}``),
    exploded by the database itself: ``json_each`` on SQLite, ``jsonb_array_elements`` on
    PostgreSQL. Columns: ``invoice_id, engagement_id, code, reason``."""
    code: ColumnElement[Any]
    reason: ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        items = (
            func.jsonb_array_elements(cast(_i.c.anomalies, JSONB))
            .table_valued("value", joins_implicitly=True)
            .alias("item")
        )
        code, reason = items.c.value.op("->>")("code"), items.c.value.op("->>")("reason")
    else:  # SQLite (the embedded default)
        # a cell that is not valid JSON is read as no anomaly rather than failing the report
        checked = case((func.json_valid(_i.c.anomalies) == 1, _i.c.anomalies), else_="[]")
        items = func.json_each(checked).table_valued("value", joins_implicitly=True).alias("item")
        code, reason = func.json_extract(items.c.value, "$.code"), func.json_extract(items.c.value, "$.reason")
    return (
        select(
            _i.c.id.label("invoice_id"),
            func.coalesce(_i.c.engagement_id, 0).label("engagement_id"),
            type_coerce(code, String).label("code"),
            type_coerce(func.coalesce(reason, ""), String).label("reason"),
        )
        .select_from(_i)
        .join(items, true())
        .where(_i.c.anomalies != "[]", code.is_not(None))
    )


def engagement_anomalies(conn: Connection) -> Select[Any]:
    """``(engagement_id, code, reason)``, distinct: the anomalies stored on the engagement's
    invoices, and DUPLICATE_INVOICE for each duplicate that belongs to it (its own
    engagement, else its original's)."""
    stored = invoice_anomalies(conn).subquery("stored")
    original = _i.alias("original")
    duplicates = select(
        func.coalesce(_i.c.engagement_id, original.c.engagement_id).label("engagement_id"),
        literal("DUPLICATE_INVOICE", String).label("code"),
        literal("", String).label("reason"),
    ).select_from(_i.join(original, _i.c.duplicate_of == original.c.id))
    on_engagements = select(stored.c.engagement_id, stored.c.code, stored.c.reason).where(stored.c.engagement_id != 0)
    both = union(on_engagements, duplicates).subquery("found")
    q = (
        select(both.c.engagement_id, both.c.code, func.min(both.c.reason).label("reason"))
        .where(both.c.engagement_id.is_not(None))
        .group_by(both.c.engagement_id, both.c.code)
    )
    return q


def closed_by_payment(conn: Connection) -> set[int]:
    """The engagements ``close_when_paid`` closed (a ``paid`` transition)."""
    paid = select(s.transitions.c.engagement_id).where(s.transitions.c.event == Event.PAID.value).distinct()
    return set(conn.execute(paid).scalars())


def invoices(conn: Connection) -> Select[Any]:
    """One row per invoice or credit note (duplicates and REJETEE included), with its issue and
    due dates, its engagement's number and status; amounts as stored (positive), as text, with the invoice's
    currency and whether it counts toward its engagement's totals (``counted``): the columns of
    ``invoices.csv`` but its anomalies, in its order, then what they are computed from
    (``invoice_id``, ``engagement_id``, ``engagement_status``, ``is_duplicate``)."""
    matched = _i.c.engagement_id.is_not(None)
    q = (
        select(
            _i.c.number.label("invoice_number"),
            _i.c.type,
            _text(_i.c.issue_date),
            _text(_i.c.due_date),
            _text(_i.c.seller_id),
            _text(_i.c.buyer_id),
            _text(func.coalesce(_e.c.number, _i.c.engagement_ref), "engagement_number"),
            case((matched, "true"), else_="false").label("matched"),
            money_text(conn, _i.c.amount_ht).label("amount_ht"),
            money_text(conn, _i.c.amount_ttc).label("amount_ttc"),
            _text(_i.c.currency),
            case((and_(matched, counted()), "true"), else_="false").label("counted"),
            _i.c.status,
            _i.c.status_at,
            _i.c.id.label("invoice_id"),
            func.coalesce(_i.c.engagement_id, 0).label("engagement_id"),
            func.coalesce(_e.c.status, "").label("engagement_status"),
            case((_i.c.duplicate_of.is_not(None), 1), else_=0).label("is_duplicate"),
        )
        .select_from(_i.outerjoin(_e, _e.c.id == _i.c.engagement_id))
        .order_by(*_invoice_order(conn))
    )
    return q


def rows(conn: Connection, query: Select[Any]) -> Iterator[Chunk]:
    """``query``'s rows, ``CHUNK_ROWS`` at a time; always at least one (maybe empty) chunk."""
    compiled = query.compile(dialect=conn.dialect)
    raw = conn.connection.dbapi_connection
    assert raw is not None  # None only once the connection is closed or invalidated
    named = conn.dialect.name == "postgresql"  # a server-side cursor, named apart from one still open
    cursor = raw.cursor(name=f"chorus_report_{next(_CURSORS)}") if named else raw.cursor()
    try:
        cursor.execute(compiled.string, dict(compiled.params))
        columns = [d[0] for d in cursor.description]
        empty = True
        while rows := cursor.fetchmany(CHUNK_ROWS):
            empty = False
            yield columns, rows
        if empty:
            yield list(query.selected_columns.keys()), []
    finally:
        cursor.close()
