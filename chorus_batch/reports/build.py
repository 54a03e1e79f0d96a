"""Store → pandas DataFrames for the accountants' reports (SPEC §8), streamed in chunks.

Every amount is added up by the database on the raw BIGINT millionths of ``Micros``, so ``SUM``
is exact on SQLite and PostgreSQL, and the database also writes it as two-decimal text, rounded
half-up (``_money_sql``, as ``views.money``): no amount is ever a float or a per-cell
``Decimal``. One aggregate query per report, read ``CHUNK_ROWS`` rows at a time from a DBAPI
cursor, then column-wise pandas operations on each chunk.

Frames hold the values exactly as the CSV shows them: money as ``"727.20"`` strings (empty when
unknown), dates as the store's ISO 8601 strings, ``days_in_status`` / ``invoice_count`` as
integers, ``matched`` as ``"true"`` / ``"false"``. Rows leave the database in code-point order
(``engagement_number, issuer_id`` / ``seller_id, invoice_number, id``; ``COLLATE "C"`` on
PostgreSQL), so SQLite and PostgreSQL give the same bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Connection, String, and_, case, cast, func, literal, select, true, type_coerce, union
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select

from ..config import Settings
from ..domain.matching import ANOMALIES
from ..store import schema as s

STATUS_COLUMNS = (
    "engagement_number",
    "issuer_id",
    "issuer_name",
    "supplier_id",
    "supplier_name",
    "status",
    "created_at",
    "last_transition_at",
    "days_in_status",
    "amount_ht",
    "amount_ttc",
    "currency",
)
RECONCILIATION_COLUMNS = (
    "engagement_number",
    "issuer_id",
    "supplier_id",
    "status",
    "ordered_ht",
    "ordered_ttc",
    "invoiced_ttc",
    "credit_notes_ttc",
    "paid_ttc",
    "remaining_ttc",
    "invoice_count",
    "match_status",
    "anomalies",
)
INVOICE_COLUMNS = (
    "invoice_number",
    "type",
    "seller_id",
    "buyer_id",
    "engagement_number",
    "matched",
    "amount_ht",
    "amount_ttc",
    "status",
    "anomaly",
)
COLUMNS: dict[str, tuple[str, ...]] = {"status": STATUS_COLUMNS, "reconciliation": RECONCILIATION_COLUMNS, "invoices": INVOICE_COLUMNS}
MONEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("amount_ht", "amount_ttc"),
    "reconciliation": ("ordered_ht", "ordered_ttc", "invoiced_ttc", "credit_notes_ttc", "paid_ttc", "remaining_ttc"),
    "invoices": ("amount_ht", "amount_ttc"),
}
INTEGER_COLUMNS: dict[str, tuple[str, ...]] = {"status": ("days_in_status",), "reconciliation": ("invoice_count",), "invoices": ()}

ACCEPTED = "PRIS_EN_COMPTE"
REJECTED = "REJETEE"  # invoice status: never counted
PAID = "MISE_EN_PAIEMENT"
CREDIT_NOTE = "credit_note"
MATCH_STATUSES = ("NOT_INVOICED", "PARTIALLY_INVOICED", "FULLY_INVOICED", "OVER_INVOICED")

_e, _i = s.engagements, s.invoices


# -- helpers -------------------------------------------------------------------------------------


def _micros(column: Any) -> Any:
    """A money column as its raw BIGINT millionths, for exact arithmetic inside SQL."""
    return type_coerce(column, BigInteger)


def _invoice_order(conn: Connection) -> list[Any]:
    """seller (none first), number, id. SQLite puts NULL first and can then walk the
    (seller_id, number) index instead of sorting millions of rows; PostgreSQL is told."""
    if conn.dialect.name == "postgresql":
        return [_i.c.seller_id.collate("C").nulls_first(), _i.c.number.collate("C"), _i.c.id]
    return [_i.c.seller_id, _i.c.number, _i.c.id]


def _code_points(conn: Connection, *columns: Any) -> list[Any]:
    """ORDER BY in Unicode code-point order on both databases: SQLite compares text bytewise
    (UTF-8, so by code point); PostgreSQL needs the "C" collation for it. Rows then stream out in
    their final order."""
    return [column.collate("C") for column in columns] if conn.dialect.name == "postgresql" else list(columns)


def _money_sql(conn: Connection, column: Any) -> Any:
    """A money column or expression (raw millionths) → the report's text, computed by the
    database in integer arithmetic: ``"727.20"``, half-up to the cent away from zero as
    ``views.money`` does (``-0.004`` gives ``"-0.00"``), ``""`` when unknown. No float ever, no
    ``Decimal`` per cell, and millions of cells cost the database little."""
    micros = _micros(column)
    cents = (func.abs(micros) + 5_000) // 10_000  # floor division of integers
    units, rest = cents // 100, cents % 100
    sign = case((micros < 0, "-"), else_="")
    if conn.dialect.name == "postgresql":
        text = sign + cast(units, String) + "." + func.lpad(cast(rest, String), 2, "0")
    else:
        text = func.printf("%s%d.%02d", sign, units, rest)
    return type_coerce(case((micros.is_(None), ""), else_=text), String)


def _text(series: pd.Series) -> pd.Series:
    """A nullable text column as plain strings (``None`` → ``""``), kept as Python objects."""
    values = series.astype(object)
    return values.where(values.notna(), "")


def _cells(anomalies: pd.DataFrame, key: str) -> pd.Series:
    """Long ``(key, code, reason)`` rows → one ``"CODE: reason; CODE: reason"`` cell per key,
    codes sorted, each code once (the first row of a code wins: callers put stored rows first)."""
    if anomalies.empty:
        return pd.Series(dtype=object)
    long = anomalies.drop_duplicates([key, "code"], keep="first").sort_values([key, "code"], kind="stable")
    cells: dict[Any, str] = {}
    for k, text in zip(long[key].tolist(), (long["code"].astype(str) + ": " + long["reason"].astype(str)).tolist(), strict=True):
        cells[k] = f"{cells[k]}; {text}" if k in cells else text  # a plain loop: groupby's join is 20 times slower
    return pd.Series(cells, dtype=object)


def _lookup(keys: pd.Series, cells: pd.Series) -> pd.Series:
    """The anomaly cell of each key, ``""`` when it has none."""
    found = keys.map(cells).astype(object)
    return found.where(found.notna(), "").astype(object)


def _reason(codes: pd.Series, stored: pd.Series | None = None) -> pd.Series:
    """The reason an accountant reads: the catalogue's (``matching.ANOMALIES``), else the stored one."""
    catalogue = codes.map(ANOMALIES)
    if stored is None:
        return catalogue.fillna("").astype(object)
    return catalogue.where(catalogue.notna(), stored).fillna("").astype(object)


def _stored_anomalies(conn: Connection) -> Select[Any]:
    """One row per anomaly stored in ``invoices.anomalies`` (a JSON list of ``{code, reason}``),
    exploded by the database itself: ``json_each`` on SQLite, ``jsonb_array_elements`` on
    PostgreSQL. Columns: ``invoice_id, engagement_id, code, reason``."""
    if conn.dialect.name == "postgresql":
        items = func.jsonb_array_elements(cast(_i.c.anomalies, JSONB)).table_valued("value", joins_implicitly=True).alias("item")
        code, reason = items.c.value.op("->>")("code"), items.c.value.op("->>")("reason")
        valid = true()
    else:  # SQLite (the embedded default)
        # a cell that is not valid JSON is read as no anomaly rather than failing the report
        checked = case((func.json_valid(_i.c.anomalies) == 1, _i.c.anomalies), else_="[]")
        items = func.json_each(checked).table_valued("value", joins_implicitly=True).alias("item")
        code, reason = func.json_extract(items.c.value, "$.code"), func.json_extract(items.c.value, "$.reason")
        valid = true()
    return (
        select(
            _i.c.id.label("invoice_id"),
            func.coalesce(_i.c.engagement_id, 0).label("engagement_id"),
            type_coerce(code, String).label("code"),
            type_coerce(func.coalesce(reason, ""), String).label("reason"),
        )
        .select_from(_i)
        .join(items, true())
        .where(_i.c.anomalies != "[]", valid, code.is_not(None))
    )


# -- status.csv ----------------------------------------------------------------------------------


def _status_chunks(conn: Connection, today: date) -> Iterator[pd.DataFrame]:
    """One row per engagement: parties, status, dates, ``days_in_status`` (whole days from the
    day of the last transition to ``today``, never negative), ordered amounts."""
    q = select(
        _e.c.number.label("engagement_number"),
        _e.c.issuer_id,
        _e.c.issuer_name,
        _e.c.supplier_id,
        _e.c.supplier_name,
        _e.c.status,
        _e.c.created_at,
        _e.c.last_transition_at,
        _money_sql(conn, _e.c.amount_ht).label("amount_ht"),
        _money_sql(conn, _e.c.amount_ttc).label("amount_ttc"),
        _e.c.currency,
    ).order_by(*_code_points(conn, _e.c.number, _e.c.issuer_id))
    for df in _chunks(conn, q):
        since = pd.to_datetime(df["last_transition_at"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
        df["days_in_status"] = (pd.Timestamp(today) - since).dt.days.clip(lower=0).astype("int64")
        for col in ("issuer_name", "supplier_name", "currency"):
            df[col] = _text(df[col])
        yield _finish(df, STATUS_COLUMNS)


# -- reconciliation.csv --------------------------------------------------------------------------


def _totals_query(conn: Connection) -> Select[Any]:
    """Per engagement, summed by the database: invoiced (net of credit notes), credit notes,
    paid, remaining, and the number of counted documents. Counted = not a duplicate, not
    REJETEE; credit notes (stored positive) count negative."""
    counted = and_(_i.c.duplicate_of.is_(None), _i.c.status != REJECTED)
    ttc = _micros(_i.c.amount_ttc)
    signed = case((_i.c.type == CREDIT_NOTE, -ttc), else_=ttc)
    per_engagement = (
        select(
            _i.c.engagement_id,
            func.sum(case((counted, signed), else_=None)).label("invoiced"),
            func.sum(case((and_(counted, _i.c.type == CREDIT_NOTE), ttc), else_=None)).label("credit_notes"),
            func.sum(case((and_(counted, _i.c.status == PAID), signed), else_=None)).label("paid"),
            func.sum(case((counted, 1), else_=0)).label("invoice_count"),
        )
        .where(_i.c.engagement_id.is_not(None))
        .group_by(_i.c.engagement_id)
        .subquery("per_engagement")
    )
    # CAST: PostgreSQL's SUM of BIGINT is a NUMERIC
    invoiced = cast(func.coalesce(per_engagement.c.invoiced, 0), BigInteger)
    ordered_ttc = _micros(_e.c.amount_ttc)
    return (
        select(
            _e.c.id.label("engagement_id"),
            _e.c.number.label("engagement_number"),
            _e.c.issuer_id,
            _e.c.supplier_id,
            _e.c.status,
            ordered_ttc.label("ordered_micros"),  # the raw millionths the match status is computed on
            invoiced.label("invoiced_micros"),
            _money_sql(conn, _e.c.amount_ht).label("ordered_ht"),
            _money_sql(conn, ordered_ttc).label("ordered_ttc"),
            _money_sql(conn, invoiced).label("invoiced_ttc"),
            _money_sql(conn, cast(func.coalesce(per_engagement.c.credit_notes, 0), BigInteger)).label("credit_notes_ttc"),
            _money_sql(conn, cast(func.coalesce(per_engagement.c.paid, 0), BigInteger)).label("paid_ttc"),
            _money_sql(conn, cast(ordered_ttc - invoiced, BigInteger)).label("remaining_ttc"),  # "" when the ordered amount is unknown
            func.coalesce(per_engagement.c.invoice_count, 0).label("invoice_count"),
        )
        .select_from(_e.outerjoin(per_engagement, per_engagement.c.engagement_id == _e.c.id))
        .order_by(*_code_points(conn, _e.c.number, _e.c.issuer_id))
    )


def _engagement_anomalies_query(conn: Connection) -> Select[Any]:
    """``(engagement_id, code, reason)``, distinct, from the database: the anomalies stored on
    the engagement's invoices, and DUPLICATE_INVOICE for each duplicate that belongs to it
    (its own engagement, else its original's)."""
    stored = _stored_anomalies(conn).subquery("stored")
    original = _i.alias("original")
    duplicates = (
        select(
            func.coalesce(_i.c.engagement_id, original.c.engagement_id).label("engagement_id"),
            literal("DUPLICATE_INVOICE", String).label("code"),
            literal("", String).label("reason"),
        )
        .select_from(_i.join(original, _i.c.duplicate_of == original.c.id))
    )
    on_engagements = select(stored.c.engagement_id, stored.c.code, stored.c.reason).where(stored.c.engagement_id != 0)
    both = union(on_engagements, duplicates).subquery("found")
    return (
        select(both.c.engagement_id, both.c.code, func.min(both.c.reason).label("reason"))
        .where(both.c.engagement_id.is_not(None))
        .group_by(both.c.engagement_id, both.c.code)
    )


class _Shared:
    """What several chunks (and reports) need, read once: the engagements closed by
    ``close_when_paid``, the anomalies stored on invoices, and, once the reconciliation has
    run, the engagements that are over-invoiced."""

    def __init__(self, conn: Connection, settings: Settings) -> None:
        self.conn, self.settings = conn, settings
        paid = select(s.transitions.c.engagement_id).where(s.transitions.c.event == "paid").distinct()
        self.closed_paid = set(conn.execute(paid).scalars())
        self._by_engagement: dict[Any, list[tuple[Any, Any]]] | None = None
        self._by_invoice: dict[Any, list[tuple[Any, Any]]] | None = None
        self.over: set[int] | None = None

    def not_accepted(self, ids: pd.Series, statuses: pd.Series) -> pd.Series:
        """Engagements an invoice should not be on: not PRIS_EN_COMPTE, except those closed by
        ``close_when_paid`` (CLOTURE after a ``paid`` transition), accepted and settled."""
        return (statuses != ACCEPTED) & ~ids.isin(self.closed_paid)

    def engagement_anomalies(self, ids: pd.Series) -> pd.DataFrame:
        """The stored anomalies of these engagements (``engagement_id, code, reason``)."""
        if self._by_engagement is None:
            self._by_engagement = _grouped(self.conn, _engagement_anomalies_query(self.conn), "engagement_id")
        return _rows_of(self._by_engagement, ids, "engagement_id")

    def invoice_anomalies(self, ids: pd.Series) -> pd.DataFrame:
        """The anomalies stored on these invoices (``invoice_id, code, reason``)."""
        if self._by_invoice is None:
            self._by_invoice = _grouped(self.conn, _stored_anomalies(self.conn), "invoice_id")
        return _rows_of(self._by_invoice, ids, "invoice_id")

    def over_invoiced(self) -> set[int]:
        if self.over is None:  # the invoices report alone: one pass over the totals for it
            for _chunk in _totals_chunks(self):
                pass
        return self.over or set()


def _grouped(conn: Connection, query: Select[Any], key: str) -> dict[Any, list[tuple[Any, Any]]]:
    """Anomaly rows by their key, in their order (read once; a chunk then takes its own)."""
    grouped: dict[Any, list[tuple[Any, Any]]] = {}
    for frame in _chunks(conn, query):
        for k, code, reason in zip(frame[key].tolist(), frame["code"].tolist(), frame["reason"].tolist(), strict=True):
            grouped.setdefault(k, []).append((code, reason))
    return grouped


def _rows_of(grouped: dict[Any, list[tuple[Any, Any]]], keys: pd.Series, key: str) -> pd.DataFrame:
    rows = [(k, code, reason) for k in keys.tolist() if k in grouped for code, reason in grouped[k]]
    return pd.DataFrame(rows, columns=[key, "code", "reason"], dtype=object)


def _within(gap: pd.Series, ordered: pd.Series, settings: Settings) -> pd.Series:
    """|gap| within the tolerance of ``ordered`` (all millionths, Python ints): the larger of
    ``tolerance_amount`` and ``tolerance_percent`` % of |ordered|, compared exactly."""
    amount = int(settings.tolerance_amount * 10**6)
    num, den = settings.tolerance_percent.as_integer_ratio()
    size = gap.abs()
    return (size <= amount) | (size * 100 * den <= ordered.abs() * num)


def _totals_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """The reconciliation of every engagement in row order, amounts still raw millionths, with
    the internal ``engagement_id``; collects the over-invoiced engagements for ``invoices``."""
    over_ids: set[int] = set()
    for df in _chunks(shared.conn, _totals_query(shared.conn)):
        df["invoice_count"] = df["invoice_count"].astype("int64")
        ordered = df["ordered_micros"].where(df["ordered_micros"].notna(), 0).map(int)  # unknown ordered amount: 0
        gap = df["invoiced_micros"].map(int) - ordered
        invoiced = df["invoice_count"] > 0
        within = _within(gap, ordered, shared.settings)
        over = invoiced & (gap > 0) & ~within
        full = invoiced & within
        df["match_status"] = np.select(
            [~invoiced, over, full], ["NOT_INVOICED", "OVER_INVOICED", "FULLY_INVOICED"], "PARTIALLY_INVOICED"
        )
        df["match_status"] = df["match_status"].astype(object)
        over_ids.update(int(i) for i in df.loc[over, "engagement_id"])
        # the anomalies: stored (on invoices, duplicates) and computed from the totals above
        computed = [
            pd.DataFrame({"engagement_id": df.loc[over, "engagement_id"], "code": "OVER_INVOICED", "reason": ""}),
            pd.DataFrame(
                {
                    "engagement_id": df.loc[invoiced & shared.not_accepted(df["engagement_id"], df["status"]), "engagement_id"],
                    "code": "ENGAGEMENT_NOT_ACCEPTED",
                    "reason": "",
                }
            ),
        ]
        mine = shared.engagement_anomalies(df["engagement_id"])
        long = pd.concat([mine, *(c.astype(object) for c in computed)], ignore_index=True)
        long["reason"] = _reason(long["code"], long["reason"])
        df["anomalies"] = _lookup(df["engagement_id"], _cells(long, "engagement_id"))
        yield df
    shared.over = over_ids


def _reconciliation_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """One row per engagement: ordered, invoiced (net of credit notes, REJETEE and duplicates
    excluded), credit notes, paid (MISE_EN_PAIEMENT), remaining, count, match status (within
    the configured tolerance), anomalies."""
    for df in _totals_chunks(shared):
        yield _finish(df, RECONCILIATION_COLUMNS)


# -- invoices.csv --------------------------------------------------------------------------------


def _invoice_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """One row per invoice or credit note (duplicates and REJETEE included: this is the list of
    what was received). Amounts as stored (positive; ``type`` says which is a credit note)."""
    conn = shared.conn
    over_ids = shared.over_invoiced()
    matched = _i.c.engagement_id.is_not(None)
    q = (
        select(
            _i.c.id.label("invoice_id"),
            _i.c.number.label("invoice_number"),
            _i.c.type,
            _i.c.seller_id,
            _i.c.buyer_id,
            func.coalesce(_e.c.number, _i.c.engagement_ref).label("engagement_number"),
            case((matched, "true"), else_="false").label("matched"),
            func.coalesce(_i.c.engagement_id, 0).label("engagement_id"),
            func.coalesce(_e.c.status, "").label("engagement_status"),
            _money_sql(conn, _i.c.amount_ht).label("amount_ht"),
            _money_sql(conn, _i.c.amount_ttc).label("amount_ttc"),
            _i.c.status,
            case((_i.c.duplicate_of.is_not(None), 1), else_=0).label("is_duplicate"),
        )
        .select_from(_i.outerjoin(_e, _e.c.id == _i.c.engagement_id))
        .order_by(*_invoice_order(conn))
    )
    for df in _chunks(conn, q):
        computed = [
            pd.DataFrame({"invoice_id": df.loc[df["is_duplicate"] == 1, "invoice_id"], "code": "DUPLICATE_INVOICE"}),
            pd.DataFrame(
                {
                    "invoice_id": df.loc[
                        (df["matched"] == "true") & shared.not_accepted(df["engagement_id"], df["engagement_status"]), "invoice_id"
                    ],
                    "code": "ENGAGEMENT_NOT_ACCEPTED",
                }
            ),
            pd.DataFrame({"invoice_id": df.loc[df["engagement_id"].isin(over_ids) & (df["engagement_id"] != 0), "invoice_id"], "code": "OVER_INVOICED"}),
        ]
        extra = pd.concat([c.astype(object) for c in computed], ignore_index=True)
        extra["reason"] = _reason(extra["code"])
        mine = shared.invoice_anomalies(df["invoice_id"])
        long = pd.concat([mine, extra], ignore_index=True)  # stored first: its own reason wins
        long["reason"] = long["reason"].where(long["reason"].astype(str) != "", _reason(long["code"]))
        df["anomaly"] = _lookup(df["invoice_id"], _cells(long, "invoice_id"))
        for col in ("seller_id", "buyer_id", "engagement_number"):
            df[col] = _text(df[col])
        yield _finish(df, INVOICE_COLUMNS)


# -- all -----------------------------------------------------------------------------------------

_CURSORS = itertools.count()
CHUNK_ROWS = 50_000  # rows read, computed and written at a time: memory stays flat with the store's size


def _chunks(conn: Connection, query: Select[Any]) -> Iterator[pd.DataFrame]:
    """``query``'s rows, ``CHUNK_ROWS`` at a time, as frames of plain Python values; always at
    least one (maybe empty) frame, with the columns. SQLAlchemy compiles the query; its rows
    are read straight from a DBAPI cursor (a server-side one on PostgreSQL, so rows stream):
    every column these reports select is text or a whole number (money as raw millionths),
    which needs no conversion, and skipping SQLAlchemy's row handling halves the time."""
    compiled = query.compile(dialect=conn.dialect)
    raw = conn.connection.dbapi_connection
    named = conn.dialect.name == "postgresql"  # a server-side cursor, named apart from one still open
    cursor = raw.cursor(name=f"chorus_report_{next(_CURSORS)}") if named else raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, dict(compiled.params))
        columns = [d[0] for d in cursor.description]
        empty = True
        while rows := cursor.fetchmany(CHUNK_ROWS):
            empty = False
            yield pd.DataFrame(rows, columns=columns, dtype=object)
        if empty:
            yield pd.DataFrame(columns=list(query.selected_columns.keys()), dtype=object)
    finally:
        cursor.close()


def _finish(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Keep the report's columns (rows are already in their order), as objects but integers."""
    out = df.loc[:, list(columns)].reset_index(drop=True)
    for col in columns:
        if out[col].dtype != "int64":
            out[col] = out[col].astype(object)
    return out


def stream(conn: Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)) -> Iterator[tuple[str, pd.DataFrame]]:
    """The requested reports (``status``, ``reconciliation``, ``invoices``, in that order) as
    ``(name, chunk)``, each report's chunks in row order; read on one connection (one
    transaction: the three agree with each other)."""
    shared = _Shared(conn, settings)
    makers = {"status": lambda: _status_chunks(conn, today), "reconciliation": lambda: _reconciliation_chunks(shared), "invoices": lambda: _invoice_chunks(shared)}
    for name in COLUMNS:
        if name in names:
            for chunk in makers[name]():
                yield name, chunk


def build(conn: Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)) -> dict[str, pd.DataFrame]:
    """The requested reports as whole frames (for the workbook and the page, and for tests)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for name, chunk in stream(conn, settings, today, names):
        parts.setdefault(name, []).append(chunk)
    return {name: _finish(pd.concat(chunks, ignore_index=True), COLUMNS[name]) for name, chunks in parts.items()}
