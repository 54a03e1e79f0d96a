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
``invoice_anomalies``, ``engagement_anomalies``); ``rows`` streams one. ``joined``, ``status``,
``totals`` and ``invoices`` give the cells that come straight from the store as one string
(``_head``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import date
from functools import reduce
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    union,
)
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.elements import Label

from ..domain.states import Event
from . import schema as s
from .invoices import MONEY_SUMS, counted, micros, units

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


UNIT = "\x1f"  # between the cells of a ``line`` (the ASCII unit separator)


def _head(cells: Sequence[Any], joined: bool) -> list[Any]:
    """The cells a report takes straight from the store: as they are (labelled columns), or,
    ``joined``, as text joined by the database with ``UNIT`` into one column ``line`` (``""`` for
    a NULL: a nullable column, or one that is not text, is given ``coalesce``; an expression of
    text must never be NULL): a million rows then cross into Python as a million strings
    instead of ten million values, and ``reports.build`` writes them as CSV lines a chunk at a
    time."""
    if not joined:
        return list(cells)
    texts: list[Any] = []
    for cell in cells:
        value = cell.element if isinstance(cell, Label) else cell
        if not isinstance(value.type, String):
            value = func.coalesce(cast(value, String), "")
        elif isinstance(value, Column) and value.nullable:
            value = func.coalesce(value, "")
        texts.append(value)
    return [type_coerce(reduce(lambda a, b: a + UNIT + b, texts), String).label("line")]


def _only(query: Select[Any], id_column: Any, ids: Sequence[int]) -> Select[Any]:
    return query.where(id_column.in_(list(ids))) if ids else query


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


def days_in_status(conn: Connection, today: date) -> Any:
    """Whole days from the day of the last transition to ``today``, never negative."""
    day = func.substr(_e.c.last_transition_at, 1, 10)
    if conn.dialect.name == "postgresql":
        return func.greatest(cast(literal(today.isoformat()), Date) - cast(day, Date), 0)
    difference: Any = func.julianday(today.isoformat()) - func.julianday(day)  # whole days, as a REAL
    return func.max(cast(difference, BigInteger), 0)


def _engagement_cells() -> list[Any]:
    """The first cells of ``status.csv`` and ``reconciliation.csv``: the engagement's number,
    its parties' ids and names, its status."""
    return [
        _e.c.number.label("engagement_number"),
        _e.c.issuer_id,
        _text(_e.c.issuer_name),
        _e.c.supplier_id,
        _text(_e.c.supplier_name),
        _e.c.status,
    ]


def status(conn: Connection, today: date, joined: bool = False, only: Sequence[int] = ()) -> Select[Any]:
    """One row per engagement: parties, status, dates, days in status, ordered amounts as text
    (``joined``: the whole row as one ``line``), then the engagement's id. ``only``: the
    engagements of these ids alone."""
    cells = [
        *_engagement_cells(),
        _e.c.created_at,
        _e.c.last_transition_at,
        type_coerce(days_in_status(conn, today), BigInteger).label("days_in_status"),
        money_text(conn, _e.c.amount_ht).label("amount_ht"),
        money_text(conn, _e.c.amount_ttc).label("amount_ttc"),
        _text(_e.c.currency),
    ]
    q = select(*_head(cells, joined), _e.c.id.label("engagement_id"))
    return _only(q, _e.c.id, only).order_by(*_code_points(conn, _e.c.number, _e.c.issuer_id))


def totals(conn: Connection, joined: bool = False, only: Sequence[int] = ()) -> Select[Any]:
    """Per engagement, the reconciliation's first cells (number, parties' ids and names,
    status, currency, ordered amounts as text; ``joined``: as one ``line``), then what
    ``reports.build`` computes the others from (``_match_columns``). ``only``: the engagements
    of these ids alone."""
    cells = [
        *_engagement_cells(),
        _text(_e.c.currency),
        money_text(conn, _e.c.amount_ht).label("ordered_ht"),
        money_text(conn, _e.c.amount_ttc).label("ordered_ttc"),
    ]
    t = s.engagement_totals
    q = (
        select(*_head(cells, joined), *_match_columns())
        .select_from(_e.outerjoin(t, t.c.engagement_id == _e.c.id))
        .order_by(*_code_points(conn, _e.c.number, _e.c.issuer_id))
    )
    return _only(q, _e.c.id, only)


def over_candidates() -> Select[Any]:
    """The engagements that may be over-invoiced, for the invoices report alone: those whose
    invoiced total (its two parts) passes what they ordered, give or take a unit, or that
    ordered nothing known; with the id, the raw millionths ordered, the two parts of invoiced
    and the count. Bounded by the parts, never their product: no overflow."""
    t = s.engagement_totals
    ordered = micros(_e.c.amount_ttc)
    return (
        select(_e.c.id, ordered.label("ordered_micros"), t.c.invoiced_units, t.c.invoiced_rest, t.c.invoice_count)
        .select_from(t.join(_e, _e.c.id == t.c.engagement_id))
        .where(or_(ordered.is_(None), t.c.invoiced_units >= units(ordered - t.c.invoiced_rest) - 1))
    )


def _match_columns() -> list[Any]:
    """What the match status of an engagement is computed from: its id, status and currency,
    the raw millionths ordered, and its totals as the database keeps them
    (``engagement_totals``, migration 10: ``invoices.counted_sums`` added up as invoices are
    written): the two parts (``_units``, ``_rest``) of invoiced (net of credit notes), credit
    notes and paid, and the number of counted documents."""
    t = s.engagement_totals
    return [
        _e.c.id.label("engagement_id"),
        _e.c.status.label("engagement_status"),
        _text(_e.c.currency, "engagement_currency"),
        micros(_e.c.amount_ttc).label("ordered_micros"),
        *(t.c[f"{name}_{part}"] for name in MONEY_SUMS for part in ("units", "rest")),
        func.coalesce(t.c.invoice_count, 0).label("invoice_count"),
    ]


def invoices_at_most(conn: Connection) -> int:
    """A bound on the number of invoices (the largest id: no count of every row)."""
    return int(conn.execute(select(func.max(_i.c.id))).scalar() or 0)


def invoice_anomalies(conn: Connection) -> Select[Any]:
    """One row per anomaly stored in ``invoices.anomalies`` (a JSON list of ``{code, reason}``),
    exploded by the database itself: ``json_each`` on SQLite, ``jsonb_array_elements`` on
    PostgreSQL. Columns: ``invoice_id, engagement_id, code, reason``."""
    code: ColumnElement[Any]
    reason: ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB  # here: a run on SQLite never loads PostgreSQL's dialect

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


def invoices(conn: Connection, joined: bool = False, only: Sequence[int] = ()) -> Select[Any]:
    """One row per invoice or credit note (duplicates and REJETEE included): the columns of
    ``invoices.csv`` but its anomalies, in its order: issue and due dates, its engagement's
    number, amounts as stored (positive), as text, with the invoice's currency and whether it
    counts toward its engagement's totals (``counted``); then what the anomalies are computed
    from (``invoice_id``, ``engagement_id``, 0 when not matched, ``engagement_status``,
    ``is_duplicate``). ``only``: the invoices of these ids alone.

    ``joined``: the cells before the engagement's number as one ``line``, the number the
    invoice gives (``engagement_ref``), the cells after it as one ``line``, then
    ``invoice_id``, ``engagement_id``, ``is_duplicate``: ``reports.build`` puts in the number
    and status of the engagement from ``engagement_numbers`` (looking two million invoices'
    engagements up in a dictionary costs a third of what the join costs SQLite)."""
    matched = _i.c.engagement_id.is_not(None)
    before = [
        _i.c.number.label("invoice_number"),
        _i.c.type,
        _text(_i.c.issue_date),
        _text(_i.c.due_date),
        _text(_i.c.seller_id),
        _text(_i.c.buyer_id),
    ]
    after = [
        case((matched, "true"), else_="false").label("matched"),
        money_text(conn, _i.c.amount_ht).label("amount_ht"),
        money_text(conn, _i.c.amount_ttc).label("amount_ttc"),
        _text(_i.c.currency),
        case((and_(matched, counted()), "true"), else_="false").label("counted"),
        _i.c.status,
        _i.c.status_at,
    ]
    invoice_id = _i.c.id.label("invoice_id")
    engagement_id = func.coalesce(_i.c.engagement_id, 0).label("engagement_id")
    duplicate = case((_i.c.duplicate_of.is_not(None), 1), else_=0).label("is_duplicate")
    if joined:
        cells = [*_head(before, True), _text(_i.c.engagement_ref), *_head(after, True), invoice_id, engagement_id]
        q = select(*cells, duplicate).select_from(_i)
    else:
        number = _text(func.coalesce(_e.c.number, _i.c.engagement_ref), "engagement_number")
        status = func.coalesce(_e.c.status, "").label("engagement_status")
        cells = [*before, number, *after, invoice_id, engagement_id, status, duplicate]
        q = select(*cells).select_from(_i.outerjoin(_e, _e.c.id == _i.c.engagement_id))
    return _only(q.order_by(*_invoice_order(conn)), _i.c.id, only)


def engagement_numbers(conn: Connection) -> Iterator[tuple[int, str, str]]:
    """Every engagement's id, number and status."""
    for _columns, found in rows(conn, select(_e.c.id, _e.c.number, _e.c.status)):
        yield from found


def rows(conn: Connection, query: Select[Any]) -> Iterator[Chunk]:
    """``query``'s rows, ``CHUNK_ROWS`` at a time; always at least one (maybe empty) chunk."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
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
