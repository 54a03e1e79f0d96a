"""Store rows → the accountants' reports (SPEC §8), streamed in chunks of rows (``stream_rows``),
or whole pandas DataFrames (``build``) for the workbook and the page.

The store gives each report's rows in their final order, amounts already written as
two-decimal text and days in status counted by the database (``store.reports``); this module
computes the sums' text, the match status within the tolerance (``domain.reconciliation``) and
the anomalies computed now. For the CSV files the stored cells of a row may come as one string
(``Joined``), which ``write`` writes as it came when it can.

Rows and frames hold the values exactly as the CSV shows them: money as ``"727.20"`` strings (empty when
unknown), dates as the store's ISO 8601 strings, ``days_in_status`` / ``invoice_count`` as
integers, ``matched`` and ``counted`` as ``"true"`` / ``"false"``. Sums of invoices come from
the database in two parts (``store.invoices.counted_sums``) and are joined here into Python
integers of millionths, kept in object columns: exact at any size, never int64 nor float.
Every money row carries its currency: nothing is ever summed across currencies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from .. import store as db
from ..config import Settings
from ..domain.matching import ANOMALIES
from ..domain.reconciliation import ACCEPTED, MatchStatus
from ..store import reports as queries
from ..store.reports import UNIT
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

# a chunk of a report, its rows in order, each a tuple of its values as the CSV shows them
# (text, and integers for the counts)
Rows = list[tuple[Any, ...]]
EXCEL_TEXT_MAX = 255  # the longest string literal an Excel formula takes


@dataclass
class Joined:
    """A chunk of a report whose first cells the database gave as one string per row
    (``store.reports._head``: text joined by ``UNIT``): each row's ``line``, the values computed
    here for its last cells (``tails``) and its id; ``heads(ids)`` reads the first cells of
    those rows again, one value each, for a line that cannot be split (a cell holding
    ``UNIT``). ``write.write_lines`` writes it."""

    lines: list[str]
    tails: list[tuple[Any, ...]]
    ids: list[int]
    heads: Callable[[list[int]], dict[int, tuple[Any, ...]]]


Chunk = Rows | Joined


def _chunks(conn: db.Connection, query: db.Query[Any]) -> Iterator[Rows]:
    """A report query's rows, a chunk at a time, as the DBAPI cursor gives them (tuples)."""
    for _columns, rows in queries.rows(conn, query):
        yield list(rows)


def _cell(items: list[tuple[Any, Any]]) -> str:
    """``(code, reason)`` items → one ``"CODE: reason; CODE: reason"`` cell: codes sorted, each
    code once (its first item wins: callers put stored items first)."""
    first: dict[Any, Any] = {}
    for code, reason in items:
        if code not in first:
            first[code] = reason
    return "; ".join(f"{code}: {first[code]}" for code in sorted(first))


# -- status.csv ----------------------------------------------------------------------------------


def _status_chunks(conn: db.Connection, today: date, joined: bool) -> Iterator[Chunk]:
    """One row per engagement: parties, status, dates, ``days_in_status`` (whole days from the
    day of the last transition to ``today``, never negative), ordered amounts. All computed by
    the database."""
    for rows in _chunks(conn, queries.status(conn, today, joined)):
        if joined:
            yield Joined([r[0] for r in rows], [()] * len(rows), [r[1] for r in rows], _heads(conn, "status", today))
        else:
            yield [r[:-1] for r in rows]


def _heads(
    conn: db.Connection, name: str, today: date | None = None
) -> Callable[[list[int]], dict[int, tuple[Any, ...]]]:
    """For ``Joined.heads``: the first cells of a report's rows of these ids, by id."""
    width = _HEAD.get(name, len(COLUMNS[name]))

    def heads(ids: list[int]) -> dict[int, tuple[Any, ...]]:
        query = {
            "status": lambda: queries.status(conn, today or date.min, only=ids),
            "reconciliation": lambda: queries.totals(conn, only=ids),
            "invoices": lambda: queries.invoices(conn, only=ids),
        }[name]()
        return {r[width]: tuple(r[:width]) for rows in _chunks(conn, query) for r in rows}

    return heads


# -- reconciliation.csv --------------------------------------------------------------------------


class _Shared:
    """What several chunks (and reports) need, read once: the engagements closed by
    ``close_when_paid``, the anomalies stored on invoices, and, once the reconciliation has
    run, the engagements that are over-invoiced."""

    def __init__(self, conn: db.Connection, settings: Settings) -> None:
        self.conn = conn
        self.tolerance = settings.tolerance
        self.closed_paid = queries.closed_by_payment(conn)
        self._by_engagement: dict[Any, tuple[tuple[Any, Any], ...]] | None = None
        self._by_invoice: dict[Any, tuple[tuple[Any, Any], ...]] | None = None
        self.over: set[int] | None = None
        self.by_currency: dict[str, list[int]] | None = None  # currency → [engagements, *_TOTALLED]

    def engagement_anomalies(self) -> dict[Any, tuple[tuple[Any, Any], ...]]:
        """The stored anomalies by engagement (``code, reason``)."""
        if self._by_engagement is None:
            self._by_engagement = _grouped(self.conn, queries.engagement_anomalies(self.conn), "engagement_id")
        return self._by_engagement

    def invoice_anomalies(self) -> dict[Any, tuple[tuple[Any, Any], ...]]:
        """The anomalies stored on invoices, by invoice (``code, reason``)."""
        if self._by_invoice is None:
            self._by_invoice = _grouped(self.conn, queries.invoice_anomalies(self.conn), "invoice_id")
        return self._by_invoice

    def over_invoiced(self) -> set[int]:
        if self.over is None:  # the invoices report alone: one narrow pass for it
            status_of, over = self.tolerance.matcher(SCALE), MatchStatus.OVER_INVOICED
            exact = db.invoices.exact
            self.over = {
                int(eid)
                for rows in _chunks(self.conn, queries.over_candidates())
                for eid, ordered, inv_u, inv_r, count in rows
                if status_of(int(count), exact(inv_u, inv_r) or 0, 0 if ordered is None else int(ordered)) == over
            }
        return self.over

    def currency_totals(self) -> dict[str, list[int]]:
        if self.by_currency is None:  # totals.csv without the reconciliation: one pass for it
            for _chunk in _reconciliation_chunks(self, False):
                pass
        return self.by_currency or {}


def _grouped(conn: db.Connection, query: db.Query[Any], key: str) -> dict[Any, tuple[tuple[Any, Any], ...]]:
    """Anomaly rows (``key``, ``code``, ``reason``) by their key, in their order (read once)."""
    grouped: dict[Any, list[tuple[Any, Any]]] = {}
    for columns, rows in queries.rows(conn, query):
        k, c, r = columns.index(key), columns.index("code"), columns.index("reason")
        for row in rows:
            grouped.setdefault(row[k], []).append((row[c], row[r]))
    return {k: tuple(items) for k, items in grouped.items()}


def money_text(millionths: int | None) -> str:
    """Millionths as the reports write money, as the database's ``store.reports.money_text``
    does: ``"727.20"``, half-up to the cent away from zero (``-4000`` gives ``"-0.00"``), ``""``
    when unknown; in integers, at any size."""
    if millionths is None:
        return ""
    cents = (abs(millionths) + 5_000) // 10_000
    return f"{'-' if millionths < 0 else ''}{cents // 100}.{cents % 100:02d}"


_NOT_ACCEPTED = ("ENGAGEMENT_NOT_ACCEPTED", ANOMALIES["ENGAGEMENT_NOT_ACCEPTED"])
_OVER = ("OVER_INVOICED", ANOMALIES["OVER_INVOICED"])
_DUPLICATE = ("DUPLICATE_INVOICE", ANOMALIES["DUPLICATE_INVOICE"])
_HEAD = {"reconciliation": 9, "invoices": 14}  # the first columns, as the store gives them


def _chunk(
    conn: db.Connection, name: str, joined: bool, heads: list[Any], tails: list[tuple[Any, ...]], ids: list[int]
) -> Chunk:
    """A chunk made of its rows' first cells as the store gives them (values, or ``line``
    strings when ``joined``) and the values computed here for the others."""
    if joined:
        return Joined(heads, tails, ids, _heads(conn, name))
    return [(*head, *tail) for head, tail in zip(heads, tails, strict=True)]


def _reconciliation_chunks(shared: _Shared, joined: bool) -> Iterator[Chunk]:
    """One row per engagement: ordered, invoiced (net of credit notes, REJETEE and duplicates
    excluded), credit notes, paid (MISE_EN_PAIEMENT), remaining, count, match status (within
    the configured tolerance), anomalies. Collects the over-invoiced engagements for
    ``invoices`` and the sums per currency for ``totals``."""
    over_ids: set[int] = set()
    by_currency: dict[str, list[int]] = {}
    status_of = shared.tolerance.matcher(SCALE)
    stored = shared.engagement_anomalies()
    closed, accepted, over_status = shared.closed_paid, ACCEPTED.value, MatchStatus.OVER_INVOICED.value
    exact = db.invoices.exact
    width = 1 if joined else _HEAD["reconciliation"]
    for rows in _chunks(shared.conn, queries.totals(shared.conn, joined)):
        tails, ids = [], []
        for row in rows:
            eid, status, currency, ordered_micros, inv_u, inv_r, cn_u, cn_r, paid_u, paid_r, raw_count = row[width:]
            count = int(raw_count)
            invoiced, credit_notes, paid = exact(inv_u, inv_r) or 0, exact(cn_u, cn_r) or 0, exact(paid_u, paid_r) or 0
            ordered = 0 if ordered_micros is None else int(ordered_micros)  # unknown ordered amount: 0
            found = by_currency.get(currency)
            if found is None:
                found = by_currency[currency] = [0] * (1 + len(_TOTALLED))
            found[0] += 1
            found[1] += ordered
            found[2] += invoiced
            found[3] += credit_notes
            found[4] += paid
            found[5] += count
            match = status_of(count, invoiced, ordered).value
            # the anomalies: stored (on invoices, duplicates) and computed from the totals above
            items = [(code, ANOMALIES.get(code, reason)) for code, reason in stored.get(eid, ())]
            if match == over_status:
                over_ids.add(int(eid))
                items.append(_OVER)
            if count > 0 and status != accepted and eid not in closed:
                items.append(_NOT_ACCEPTED)
            remaining = "" if ordered_micros is None else money_text(int(ordered_micros) - invoiced)
            ids.append(eid)
            tails.append(
                (
                    money_text(invoiced),
                    money_text(credit_notes),
                    money_text(paid),
                    remaining,
                    count,
                    match,
                    _cell(items) if items else "",
                )
            )
        yield _chunk(shared.conn, "reconciliation", joined, [r[0] if joined else r[:width] for r in rows], tails, ids)
    shared.over = over_ids
    shared.by_currency = by_currency


# -- invoices.csv --------------------------------------------------------------------------------


def _invoice_chunks(shared: _Shared, joined: bool) -> Iterator[Chunk]:
    """One row per invoice or credit note (duplicates and REJETEE included: this is the list of
    what was received). Amounts as stored (positive; ``type`` says which is a credit note)."""
    over_ids = shared.over_invoiced()
    stored = shared.invoice_anomalies()
    closed, accepted = shared.closed_paid, ACCEPTED.value
    made: dict[tuple[Any, ...], str] = {}  # the same anomalies give the same cell

    def cell(mine: tuple[tuple[Any, Any], ...], duplicate: bool, not_accepted: bool, over: bool) -> str:
        key = (mine, duplicate, not_accepted, over)
        found = made.get(key)
        if found is None:
            items = [(code, reason if str(reason) != "" else ANOMALIES.get(code, "")) for code, reason in mine]
            if duplicate:
                items.append(_DUPLICATE)
            if not_accepted:
                items.append(_NOT_ACCEPTED)
            if over:
                items.append(_OVER)
            found = made[key] = _cell(items)
        return found

    def flags(eid: Any, engagement_status: str) -> tuple[bool, bool]:
        """What an invoice's engagement adds to its anomalies: not accepted, over-invoiced
        (``eid``: the engagement's id, 0 when the invoice matched none)."""
        return eid != 0 and engagement_status != accepted and eid not in closed, eid != 0 and eid in over_ids

    def anomaly(iid: Any, duplicate: int, not_accepted: bool, over: bool) -> str:
        if not (not_accepted or over or duplicate or iid in stored):
            return ""
        return cell(stored.get(iid, ()), bool(duplicate), not_accepted, over)

    width = 1 if joined else _HEAD["invoices"]
    if not joined:
        for rows in _chunks(shared.conn, queries.invoices(shared.conn)):
            tails = [(anomaly(r[width], r[width + 3], *flags(r[width + 1], r[width + 2])),) for r in rows]
            yield _chunk(shared.conn, "invoices", False, [r[:width] for r in rows], tails, [r[width] for r in rows])
        return
    # each engagement's number and flags, worked out once for all its invoices
    engagements = {
        eid: (number, *flags(eid, status)) for eid, number, status in queries.engagement_numbers(shared.conn)
    }
    for rows in _chunks(shared.conn, queries.invoices(shared.conn, joined=True)):
        lines, tails = [], []
        for before, ref, after, iid, eid, duplicate in rows:
            number, not_accepted, over = engagements.get(eid) or (ref, False, False)  # else the invoice's number
            lines.append(f"{before}{UNIT}{number}{UNIT}{after}")
            tails.append((anomaly(iid, duplicate, not_accepted, over),))
        yield _chunk(shared.conn, "invoices", True, lines, tails, [r[3] for r in rows])


# -- totals.csv ----------------------------------------------------------------------------------


def _currency_chunks(shared: _Shared) -> Iterator[Chunk]:
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
    yield rows


# -- all -----------------------------------------------------------------------------------------


def _finish(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Keep the report's columns (rows are already in their order), as objects but integers."""
    out = df.loc[:, list(columns)].reset_index(drop=True)
    for col in columns:
        if out[col].dtype != "int64":
            out[col] = out[col].astype(object)
    return out


def stream_rows(
    conn: db.Connection,
    settings: Settings,
    today: date,
    names: tuple[str, ...] = tuple(COLUMNS),
    joined: bool = False,
) -> Iterator[tuple[str, Chunk]]:
    """The requested reports (``status``, ``reconciliation``, ``invoices``, ``totals``, in that
    order) as ``(name, rows)``, each report's chunks in row order, each row a tuple of its
    ``COLUMNS`` as the CSV shows them (text, and integers for the counts); ``joined``, the
    first cells of the rows of ``status``, ``reconciliation`` and ``invoices`` come joined
    (``Joined``). Always at least one (maybe empty) chunk per report. Read on one connection
    (one transaction: the reports agree with each other)."""
    shared = _Shared(conn, settings)
    makers: dict[str, Callable[[], Iterator[Chunk]]] = {
        "status": lambda: _status_chunks(conn, today, joined),
        "reconciliation": lambda: _reconciliation_chunks(shared, joined),
        "invoices": lambda: _invoice_chunks(shared, joined),
        "totals": lambda: _currency_chunks(shared),
    }
    for name in COLUMNS:
        if name in names:
            for chunk in makers[name]():
                yield name, chunk


def frame(name: str, rows: Rows) -> pd.DataFrame:
    """A chunk of rows as a frame of the report's columns: objects, integers as int64."""
    df = pd.DataFrame(rows, columns=list(COLUMNS[name]), dtype=object)
    for col in INTEGER_COLUMNS[name]:
        df[col] = df[col].astype("int64")
    return df


def stream(
    conn: db.Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``stream_rows`` as frames (``frame``)."""
    for name, rows in stream_rows(conn, settings, today, names):
        assert not isinstance(rows, Joined)  # not asked for
        yield name, frame(name, rows)


def build(
    conn: db.Connection, settings: Settings, today: date, names: tuple[str, ...] = tuple(COLUMNS)
) -> dict[str, pd.DataFrame]:
    """The requested reports as whole frames (for the workbook and the page, and for tests)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for name, chunk in stream(conn, settings, today, names):
        parts.setdefault(name, []).append(chunk)
    return {name: _finish(pd.concat(chunks, ignore_index=True), COLUMNS[name]) for name, chunks in parts.items()}
