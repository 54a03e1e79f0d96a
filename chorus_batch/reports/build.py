"""Store rows → pandas DataFrames for the accountants' reports (SPEC §8), streamed in chunks.

The store gives each report's rows in their final order, amounts already written as
two-decimal text by the database (``store.reports``); this module computes what depends on
the configuration or the day, column-wise on each chunk: days in status, the match status
within the tolerance (``domain.reconciliation``), and the anomalies computed now.

Frames hold the values exactly as the CSV shows them: money as ``"727.20"`` strings (empty when
unknown), dates as the store's ISO 8601 strings, ``days_in_status`` / ``invoice_count`` as
integers, ``matched`` and ``counted`` as ``"true"`` / ``"false"``. Sums of invoices come from
the database in two parts (``store.invoices.counted_sums``) and are joined here into Python
integers of millionths, kept in object columns: exact at any size, never int64 nor float.
Every money row carries its currency: nothing is ever summed across currencies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .. import store as db
from ..config import Settings
from ..domain.matching import ANOMALIES
from ..domain.reconciliation import ACCEPTED, MatchStatus, match_conditions
from ..store import reports as queries
from ..store.schema import SCALE

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
    "issuer_name",
    "supplier_id",
    "supplier_name",
    "status",
    "currency",
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
    "issue_date",
    "due_date",
    "seller_id",
    "buyer_id",
    "engagement_number",
    "matched",
    "amount_ht",
    "amount_ttc",
    "currency",
    "counted",
    "status",
    "status_at",
    "anomaly",
)
TOTALS_COLUMNS = (
    "currency",
    "engagement_count",
    "ordered_ttc",
    "invoiced_ttc",
    "credit_notes_ttc",
    "paid_ttc",
    "remaining_ttc",
    "invoice_count",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "status": STATUS_COLUMNS,
    "reconciliation": RECONCILIATION_COLUMNS,
    "invoices": INVOICE_COLUMNS,
    "totals": TOTALS_COLUMNS,
}
MONEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("amount_ht", "amount_ttc"),
    "reconciliation": ("ordered_ht", "ordered_ttc", "invoiced_ttc", "credit_notes_ttc", "paid_ttc", "remaining_ttc"),
    "invoices": ("amount_ht", "amount_ttc"),
    "totals": ("ordered_ttc", "invoiced_ttc", "credit_notes_ttc", "paid_ttc", "remaining_ttc"),
}
INTEGER_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("days_in_status",),
    "reconciliation": ("invoice_count",),
    "invoices": (),
    "totals": ("engagement_count", "invoice_count"),
}
# identifiers: text that a spreadsheet must not turn into a number (a SIRET, an engagement number)
IDENTIFIER_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("engagement_number", "issuer_id", "supplier_id"),
    "reconciliation": ("engagement_number", "issuer_id", "supplier_id"),
    "invoices": ("invoice_number", "seller_id", "buyer_id", "engagement_number"),
    "totals": (),
}
# dates (``YYYY-MM-DD``) and instants (``YYYY-MM-DDTHH:MM:SSZ``, UTC), as the store writes them
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "status": ("created_at", "last_transition_at"),
    "reconciliation": (),
    "invoices": ("issue_date", "due_date", "status_at"),
    "totals": (),
}
# what totals.csv adds up per currency, from the reconciliation's exact integers
_TOTALLED = ("ordered_micros", "invoiced_micros", "credit_notes_micros", "paid_micros", "invoice_count")


# -- helpers -------------------------------------------------------------------------------------


def _frames(conn: db.Connection, query: db.Query[Any]) -> Iterator[pd.DataFrame]:
    """A report query's rows, a chunk at a time, as frames of plain Python values."""
    for columns, rows in queries.rows(conn, query):
        yield pd.DataFrame(rows, columns=columns, dtype=object)


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
    for k, text in zip(
        long[key].tolist(), (long["code"].astype(str) + ": " + long["reason"].astype(str)).tolist(), strict=True
    ):
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


# -- status.csv ----------------------------------------------------------------------------------


def _status_chunks(conn: db.Connection, today: date) -> Iterator[pd.DataFrame]:
    """One row per engagement: parties, status, dates, ``days_in_status`` (whole days from the
    day of the last transition to ``today``, never negative), ordered amounts."""
    for df in _frames(conn, queries.status(conn)):
        since = pd.to_datetime(df["last_transition_at"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
        df["days_in_status"] = (pd.Timestamp(today) - since).dt.days.clip(lower=0).astype("int64")
        for col in ("issuer_name", "supplier_name", "currency"):
            df[col] = _text(df[col])
        yield _finish(df, STATUS_COLUMNS)


# -- reconciliation.csv --------------------------------------------------------------------------


class _Shared:
    """What several chunks (and reports) need, read once: the engagements closed by
    ``close_when_paid``, the anomalies stored on invoices, and, once the reconciliation has
    run, the engagements that are over-invoiced."""

    def __init__(self, conn: db.Connection, settings: Settings) -> None:
        self.conn = conn
        self.tolerance = settings.tolerance
        self.closed_paid = queries.closed_by_payment(conn)
        self._by_engagement: dict[Any, list[tuple[Any, Any]]] | None = None
        self._by_invoice: dict[Any, list[tuple[Any, Any]]] | None = None
        self.over: set[int] | None = None
        self.by_currency: dict[str, list[int]] | None = None  # currency → [engagements, *_TOTALLED]

    def not_accepted(self, ids: pd.Series, statuses: pd.Series) -> pd.Series:
        """Engagements an invoice should not be on: not PRIS_EN_COMPTE, except those closed by
        ``close_when_paid`` (CLOTURE after a ``paid`` transition), accepted and settled."""
        return (statuses != ACCEPTED) & ~ids.isin(self.closed_paid)

    def engagement_anomalies(self, ids: pd.Series) -> pd.DataFrame:
        """The stored anomalies of these engagements (``engagement_id, code, reason``)."""
        if self._by_engagement is None:
            self._by_engagement = _grouped(self.conn, queries.engagement_anomalies(self.conn), "engagement_id")
        return _rows_of(self._by_engagement, ids, "engagement_id")

    def invoice_anomalies(self, ids: pd.Series) -> pd.DataFrame:
        """The anomalies stored on these invoices (``invoice_id, code, reason``)."""
        if self._by_invoice is None:
            self._by_invoice = _grouped(self.conn, queries.invoice_anomalies(self.conn), "invoice_id")
        return _rows_of(self._by_invoice, ids, "invoice_id")

    def over_invoiced(self) -> set[int]:
        if self.over is None:  # the invoices report alone: one pass over the totals for it
            for _chunk in _totals_chunks(self):
                pass
        return self.over or set()

    def currency_totals(self) -> dict[str, list[int]]:
        if self.by_currency is None:  # totals.csv without the reconciliation: one pass for it
            for _chunk in _totals_chunks(self):
                pass
        return self.by_currency or {}


def _grouped(conn: db.Connection, query: db.Query[Any], key: str) -> dict[Any, list[tuple[Any, Any]]]:
    """Anomaly rows by their key, in their order (read once; a chunk then takes its own)."""
    grouped: dict[Any, list[tuple[Any, Any]]] = {}
    for frame in _frames(conn, query):
        for k, code, reason in zip(frame[key].tolist(), frame["code"].tolist(), frame["reason"].tolist(), strict=True):
            grouped.setdefault(k, []).append((code, reason))
    return grouped


def _rows_of(grouped: dict[Any, list[tuple[Any, Any]]], keys: pd.Series, key: str) -> pd.DataFrame:
    rows = [(k, code, reason) for k in keys.tolist() if k in grouped for code, reason in grouped[k]]
    return pd.DataFrame(rows, columns=[key, "code", "reason"], dtype=object)


def money_text(millionths: int | None) -> str:
    """Millionths as the reports write money, as the database's ``store.reports.money_text``
    does: ``"727.20"``, half-up to the cent away from zero (``-4000`` gives ``"-0.00"``), ``""``
    when unknown; in integers, at any size."""
    if millionths is None:
        return ""
    cents = (abs(millionths) + 5_000) // 10_000
    return f"{'-' if millionths < 0 else ''}{cents // 100}.{cents % 100:02d}"


def _sums(df: pd.DataFrame) -> None:
    """The sums of each row from their two parts, as Python ints (``invoiced_micros``, ...) and
    as text, with ``remaining_ttc`` (``""`` when the ordered amount is unknown)."""
    for name in db.invoices.MONEY_SUMS:
        found = [
            db.invoices.exact(u, r) or 0
            for u, r in zip(df[f"{name}_units"].tolist(), df[f"{name}_rest"].tolist(), strict=True)
        ]
        df[f"{name}_micros"] = pd.Series(found, index=df.index, dtype=object)
        df[f"{name}_ttc"] = pd.Series([money_text(v) for v in found], index=df.index, dtype=object)
    remaining = [
        None if o is None else int(o) - i
        for o, i in zip(df["ordered_micros"].tolist(), df["invoiced_micros"].tolist(), strict=True)
    ]
    df["remaining_ttc"] = pd.Series([money_text(v) for v in remaining], index=df.index, dtype=object)


def _totals_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """The reconciliation of every engagement in row order, amounts still raw millionths, with
    the internal ``engagement_id``; collects the over-invoiced engagements for ``invoices``."""
    over_ids: set[int] = set()
    by_currency: dict[str, list[int]] = {}
    for df in _frames(shared.conn, queries.totals(shared.conn)):
        df["invoice_count"] = df["invoice_count"].map(int).astype("int64")
        _sums(df)
        ordered = pd.Series(  # unknown ordered amount: 0
            [0 if o is None else int(o) for o in df["ordered_micros"].tolist()], index=df.index, dtype=object
        )
        df["ordered_micros"] = ordered
        columns = [df["currency"].tolist(), *(df[name].tolist() for name in _TOTALLED)]
        for currency, *values in zip(*columns, strict=True):  # Python ints: exact at any size
            found = by_currency.setdefault(currency or "", [0] * (1 + len(_TOTALLED)))
            found[0] += 1
            for i, value in enumerate(values, 1):
                found[i] += int(value)
        gap = df["invoiced_micros"] - ordered
        conditions = match_conditions(df["invoice_count"], gap, shared.tolerance.within(gap, ordered, SCALE))
        df["match_status"] = np.select(
            [holds for holds, _status in conditions],
            [status.value for _holds, status in conditions],
            MatchStatus.PARTIALLY_INVOICED.value,
        )
        df["match_status"] = df["match_status"].astype(object)
        over = df["match_status"] == MatchStatus.OVER_INVOICED.value
        invoiced = df["invoice_count"] > 0
        over_ids.update(int(i) for i in df.loc[over, "engagement_id"])
        # the anomalies: stored (on invoices, duplicates) and computed from the totals above
        computed = [
            pd.DataFrame({"engagement_id": df.loc[over, "engagement_id"], "code": "OVER_INVOICED", "reason": ""}),
            pd.DataFrame(
                {
                    "engagement_id": df.loc[
                        invoiced & shared.not_accepted(df["engagement_id"], df["status"]), "engagement_id"
                    ],
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
    shared.by_currency = by_currency


def _reconciliation_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """One row per engagement: ordered, invoiced (net of credit notes, REJETEE and duplicates
    excluded), credit notes, paid (MISE_EN_PAIEMENT), remaining, count, match status (within
    the configured tolerance), anomalies."""
    for df in _totals_chunks(shared):
        for col in ("issuer_name", "supplier_name", "currency"):
            df[col] = _text(df[col])
        yield _finish(df, RECONCILIATION_COLUMNS)


# -- invoices.csv --------------------------------------------------------------------------------


def _invoice_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """One row per invoice or credit note (duplicates and REJETEE included: this is the list of
    what was received). Amounts as stored (positive; ``type`` says which is a credit note)."""
    over_ids = shared.over_invoiced()
    for df in _frames(shared.conn, queries.invoices(shared.conn)):
        computed = [
            pd.DataFrame({"invoice_id": df.loc[df["is_duplicate"] == 1, "invoice_id"], "code": "DUPLICATE_INVOICE"}),
            pd.DataFrame(
                {
                    "invoice_id": df.loc[
                        (df["matched"] == "true") & shared.not_accepted(df["engagement_id"], df["engagement_status"]),
                        "invoice_id",
                    ],
                    "code": "ENGAGEMENT_NOT_ACCEPTED",
                }
            ),
            pd.DataFrame(
                {
                    "invoice_id": df.loc[df["engagement_id"].isin(over_ids) & (df["engagement_id"] != 0), "invoice_id"],
                    "code": "OVER_INVOICED",
                }
            ),
        ]
        extra = pd.concat([c.astype(object) for c in computed], ignore_index=True)
        extra["reason"] = _reason(extra["code"])
        mine = shared.invoice_anomalies(df["invoice_id"])
        long = pd.concat([mine, extra], ignore_index=True)  # stored first: its own reason wins
        long["reason"] = long["reason"].where(long["reason"].astype(str) != "", _reason(long["code"]))
        df["anomaly"] = _lookup(df["invoice_id"], _cells(long, "invoice_id"))
        for col in ("issue_date", "due_date", "seller_id", "buyer_id", "engagement_number", "currency"):
            df[col] = _text(df[col])
        yield _finish(df, INVOICE_COLUMNS)


# -- totals.csv ----------------------------------------------------------------------------------


def _currency_chunks(shared: _Shared) -> Iterator[pd.DataFrame]:
    """One row per currency (engagements without one under ``""``), in code-point order: the
    number of engagements, what they ordered (unknown amounts as 0), invoiced net of credit
    notes, credit notes, paid, remaining (ordered - invoiced), as the reconciliation counts them.
    Amounts of two currencies are never added together."""
    rows = []
    for currency, (engagements, ordered, invoiced, credit_notes, paid, count) in sorted(
        shared.currency_totals().items()
    ):
        rows.append(
            (
                currency,
                engagements,
                *(money_text(v) for v in (ordered, invoiced, credit_notes, paid, ordered - invoiced)),
                count,
            )
        )
    df = pd.DataFrame(rows, columns=list(TOTALS_COLUMNS), dtype=object)
    for col in INTEGER_COLUMNS["totals"]:
        df[col] = df[col].astype("int64")
    yield _finish(df, TOTALS_COLUMNS)


# -- all -----------------------------------------------------------------------------------------


def _finish(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Keep the report's columns (rows are already in their order), as objects but integers."""
    out = df.loc[:, list(columns)].reset_index(drop=True)
    for col in columns:
        if out[col].dtype != "int64":
            out[col] = out[col].astype(object)
    return out


def stream(
    conn: db.Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)
) -> Iterator[tuple[str, pd.DataFrame]]:
    """The requested reports (``status``, ``reconciliation``, ``invoices``, ``totals``, in that order) as
    ``(name, chunk)``, each report's chunks in row order; read on one connection (one
    transaction: the three agree with each other)."""
    shared = _Shared(conn, settings)
    makers: dict[str, Callable[[], Iterator[pd.DataFrame]]] = {
        "status": lambda: _status_chunks(conn, today),
        "reconciliation": lambda: _reconciliation_chunks(shared),
        "invoices": lambda: _invoice_chunks(shared),
        "totals": lambda: _currency_chunks(shared),
    }
    for name in COLUMNS:
        if name in names:
            for chunk in makers[name]():
                yield name, chunk


def build(
    conn: db.Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)
) -> dict[str, pd.DataFrame]:
    """The requested reports as whole frames (for the workbook and the page, and for tests)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for name, chunk in stream(conn, settings, today, names):
        parts.setdefault(name, []).append(chunk)
    return {name: _finish(pd.concat(chunks, ignore_index=True), COLUMNS[name]) for name, chunks in parts.items()}
