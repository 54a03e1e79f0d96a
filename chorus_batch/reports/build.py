"""Store → pandas DataFrames for the accountants' reports (SPEC §8).

Every amount is added up by the database: money columns are ``Micros`` (BIGINT millionths), so
``SUM`` over them is exact on SQLite and PostgreSQL, and SQLAlchemy hands the totals back as
``Decimal``. ``pd.read_sql(..., coerce_float=False)`` keeps them ``Decimal`` (never float) until
they become two-decimal strings, rounded half-up (``views.money``). There is no Python loop over
store rows: one aggregate query per report, then column-wise pandas operations.

Frames hold the values exactly as the CSV shows them: money as ``"727.20"`` strings (empty when
unknown), dates as the store's ISO 8601 strings, ``days_in_status`` / ``invoice_count`` as
integers, ``matched`` as ``"true"`` / ``"false"``. Rows are sorted in Python code-point order
(``engagement_number, issuer_id`` / ``seller_id, invoice_number, id``) so that SQLite and
PostgreSQL (whose collation may differ) give the same bytes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Connection, String, and_, case, cast, func, literal, select, true, type_coerce, union
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select

from ..config import Settings
from ..domain.matching import ANOMALIES
from ..store import schema as s
from ..views import money

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


def _not_accepted(conn: Connection, ids: pd.Series, statuses: pd.Series) -> pd.Series:
    """Engagements an invoice should not be on: not PRIS_EN_COMPTE, except those closed by
    ``close_when_paid`` (CLOTURE after a ``paid`` transition), which were accepted and are settled."""
    paid = select(s.transitions.c.engagement_id).where(s.transitions.c.event == "paid").distinct()
    closed_paid = set(conn.execute(paid).scalars())
    return (statuses != ACCEPTED) & ~ids.isin(closed_paid)


def _read(conn: Connection, query: Select[Any]) -> pd.DataFrame:
    """Run ``query``; ``Micros`` columns arrive as ``Decimal`` and stay so (no float coercion)."""
    return pd.read_sql(query, conn, coerce_float=False)


def _micros(column: Any) -> Any:
    """A money column as its raw BIGINT millionths, for exact arithmetic inside SQL."""
    return type_coerce(column, BigInteger)


def _as_money(expr: Any) -> Any:
    """BIGINT millionths back to a ``Micros`` value (SQLAlchemy returns a ``Decimal``)."""
    return type_coerce(expr, s.Micros)


def _money_text(series: pd.Series) -> pd.Series:
    """``Decimal`` → ``"727.20"`` (half-up), ``None`` → ``""``. Refuses floats outright."""

    def one(value: object) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, float):  # a float here would be a bug: amounts are exact decimals
            raise TypeError(f"float amount {value!r} reached a report")
        return money(value) or ""  # type: ignore[arg-type]

    return series.astype(object).map(one).astype(object)


def _text(series: pd.Series) -> pd.Series:
    """A nullable text column as plain strings (``None`` → ``""``)."""
    return series.astype(object).where(series.notna(), "").astype(str).astype(object)


def _cells(anomalies: pd.DataFrame, key: str) -> pd.Series:
    """Long ``(key, code, reason)`` rows → one ``"CODE: reason; CODE: reason"`` cell per key,
    codes sorted, each code once (the first row of a code wins: callers put stored rows first)."""
    if anomalies.empty:
        return pd.Series(dtype=object)
    long = anomalies.drop_duplicates([key, "code"], keep="first").sort_values([key, "code"], kind="stable")
    text = long["code"].astype(str) + ": " + long["reason"].astype(str)
    return text.groupby(long[key], sort=True).agg("; ".join)


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


def status(conn: Connection, today: date) -> pd.DataFrame:
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
        _e.c.amount_ht,
        _e.c.amount_ttc,
        _e.c.currency,
    ).order_by(_e.c.number, _e.c.issuer_id)
    df = _read(conn, q)
    since = pd.to_datetime(df["last_transition_at"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
    df["days_in_status"] = (pd.Timestamp(today) - since).dt.days.clip(lower=0).astype("int64")
    for col in ("issuer_name", "supplier_name", "currency"):
        df[col] = _text(df[col])
    for col in MONEY_COLUMNS["status"]:
        df[col] = _money_text(df[col])
    return _finish(df, STATUS_COLUMNS, ["engagement_number", "issuer_id"])


# -- reconciliation.csv --------------------------------------------------------------------------


def _totals_query() -> Select[Any]:
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
    invoiced = func.coalesce(per_engagement.c.invoiced, 0)
    return (
        select(
            _e.c.id.label("engagement_id"),
            _e.c.number.label("engagement_number"),
            _e.c.issuer_id,
            _e.c.supplier_id,
            _e.c.status,
            _e.c.amount_ht.label("ordered_ht"),
            _e.c.amount_ttc.label("ordered_ttc"),
            _as_money(invoiced).label("invoiced_ttc"),
            _as_money(func.coalesce(per_engagement.c.credit_notes, 0)).label("credit_notes_ttc"),
            _as_money(func.coalesce(per_engagement.c.paid, 0)).label("paid_ttc"),
            _as_money(_micros(_e.c.amount_ttc) - invoiced).label("remaining_ttc"),  # NULL when the ordered amount is unknown
            func.coalesce(per_engagement.c.invoice_count, 0).label("invoice_count"),
        )
        .select_from(_e.outerjoin(per_engagement, per_engagement.c.engagement_id == _e.c.id))
        .order_by(_e.c.number, _e.c.issuer_id)
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


def totals(conn: Connection, settings: Settings) -> pd.DataFrame:
    """The reconciliation of every engagement, with ``Decimal`` amounts (not yet text) and the
    internal ``engagement_id``: shared by ``reconciliation`` and ``invoices``."""
    df = _read(conn, _totals_query())
    df["invoice_count"] = df["invoice_count"].astype("int64")
    ordered = df["ordered_ttc"].astype(object).where(df["ordered_ttc"].notna(), Decimal(0))  # unknown ordered amount: 0
    invoiced = df["invoiced_ttc"].astype(object)
    gap = invoiced - ordered
    tolerance = ordered.map(settings.tolerance)  # the configured rule, on exact Decimals
    over = (df["invoice_count"] > 0) & (gap > tolerance)
    full = (df["invoice_count"] > 0) & (gap.map(abs) <= tolerance)
    df["match_status"] = np.select(
        [df["invoice_count"] == 0, over, full], ["NOT_INVOICED", "OVER_INVOICED", "FULLY_INVOICED"], "PARTIALLY_INVOICED"
    )
    df["match_status"] = df["match_status"].astype(object)
    # the anomalies: from the store (stored on invoices, duplicates) and from the totals above
    found = _read(conn, _engagement_anomalies_query(conn))
    computed = [
        pd.DataFrame({"engagement_id": df.loc[over, "engagement_id"], "code": "OVER_INVOICED", "reason": ""}),
        pd.DataFrame(
            {
                "engagement_id": df.loc[(df["invoice_count"] > 0) & _not_accepted(conn, df["engagement_id"], df["status"]), "engagement_id"],
                "code": "ENGAGEMENT_NOT_ACCEPTED",
                "reason": "",
            }
        ),
    ]
    long = pd.concat([found.astype(object), *(c.astype(object) for c in computed)], ignore_index=True)
    long["reason"] = _reason(long["code"], long["reason"])
    cells = _cells(long, "engagement_id")
    df["anomalies"] = _lookup(df["engagement_id"], cells)
    df["over_invoiced"] = over
    return df


def reconciliation(conn: Connection, settings: Settings, totals_: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per engagement: ordered, invoiced (net of credit notes, REJETEE and duplicates
    excluded), credit notes, paid (MISE_EN_PAIEMENT), remaining, count, match status (within
    ``settings.tolerance``), anomalies."""
    df = (totals(conn, settings) if totals_ is None else totals_).copy()
    for col in MONEY_COLUMNS["reconciliation"]:
        df[col] = _money_text(df[col])
    return _finish(df, RECONCILIATION_COLUMNS, ["engagement_number", "issuer_id"])


# -- invoices.csv --------------------------------------------------------------------------------


def invoices(conn: Connection, settings: Settings, totals_: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per invoice or credit note (duplicates and REJETEE included: this is the list of
    what was received). Amounts as stored (positive; ``type`` says which is a credit note)."""
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
            _i.c.amount_ht,
            _i.c.amount_ttc,
            _i.c.status,
            case((_i.c.duplicate_of.is_not(None), 1), else_=0).label("is_duplicate"),
        )
        .select_from(_i.outerjoin(_e, _e.c.id == _i.c.engagement_id))
        .order_by(_i.c.seller_id, _i.c.number, _i.c.id)
    )
    df = _read(conn, q)
    tot = totals(conn, settings) if totals_ is None else totals_
    over_ids = tot.loc[tot["over_invoiced"], "engagement_id"]
    stored = _read(conn, _stored_anomalies(conn))[["invoice_id", "code", "reason"]]
    computed = [
        pd.DataFrame({"invoice_id": df.loc[df["is_duplicate"] == 1, "invoice_id"], "code": "DUPLICATE_INVOICE"}),
        pd.DataFrame(
            {
                "invoice_id": df.loc[
                    (df["matched"] == "true") & _not_accepted(conn, df["engagement_id"], df["engagement_status"]), "invoice_id"
                ],
                "code": "ENGAGEMENT_NOT_ACCEPTED",
            }
        ),
        pd.DataFrame({"invoice_id": df.loc[df["engagement_id"].isin(over_ids) & (df["engagement_id"] != 0), "invoice_id"], "code": "OVER_INVOICED"}),
    ]
    extra = pd.concat([c.astype(object) for c in computed], ignore_index=True)
    extra["reason"] = _reason(extra["code"])
    long = pd.concat([stored.astype(object), extra], ignore_index=True)  # stored first: its own reason wins
    long["reason"] = long["reason"].where(long["reason"].astype(str) != "", _reason(long["code"]))
    df["anomaly"] = _lookup(df["invoice_id"], _cells(long, "invoice_id"))
    for col in ("seller_id", "buyer_id", "engagement_number"):
        df[col] = _text(df[col])
    for col in MONEY_COLUMNS["invoices"]:
        df[col] = _money_text(df[col])
    return _finish(df, INVOICE_COLUMNS, ["seller_id", "invoice_number", "invoice_id"])


# -- all -----------------------------------------------------------------------------------------


def _finish(df: pd.DataFrame, columns: tuple[str, ...], order: list[str]) -> pd.DataFrame:
    """Sort in code-point order (stable), keep the report's columns, reset the index."""
    df = df.sort_values(order, kind="stable").reset_index(drop=True)
    out = df.loc[:, list(columns)].copy()
    for col in columns:
        if out[col].dtype != "int64":
            out[col] = out[col].astype(object)
    return out


def build(conn: Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)) -> dict[str, pd.DataFrame]:
    """The requested reports (``status``, ``reconciliation``, ``invoices``), in that order, read
    on one connection (one transaction: the three agree with each other)."""
    frames: dict[str, pd.DataFrame] = {}
    shared = totals(conn, settings) if {"reconciliation", "invoices"} & set(names) else None
    for name in COLUMNS:
        if name not in names:
            continue
        if name == "status":
            frames[name] = status(conn, today)
        elif name == "reconciliation":
            frames[name] = reconciliation(conn, settings, shared)
        else:
            frames[name] = invoices(conn, settings, shared)
    return frames
