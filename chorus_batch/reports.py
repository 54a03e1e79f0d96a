"""Accountants' reports (SPEC §8). Deterministic: same store and same day → same bytes
(rows sorted, fixed columns, ``\\n`` line ends, money with two decimals, ISO 8601 dates).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, select

from .store import schema as s
from .views import money

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


def status_rows(conn: Connection, today: date) -> Iterable[tuple[object, ...]]:
    e = s.engagements
    q = select(e).order_by(e.c.number, e.c.issuer_id)
    for row in conn.execute(q):
        since = date.fromisoformat(row.last_transition_at[:10])
        yield (
            row.number,
            row.issuer_id,
            row.issuer_name or "",
            row.supplier_id,
            row.supplier_name or "",
            row.status,
            row.created_at,
            row.last_transition_at,
            max((today - since).days, 0),
            money(row.amount_ht) or "",
            money(row.amount_ttc) or "",
            row.currency or "",
        )


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_status(conn: Connection, folder: Path, today: date) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "status.csv"
    tmp = folder / ".status.csv.tmp"
    tmp.write_bytes(to_csv(STATUS_COLUMNS, status_rows(conn, today)))
    tmp.replace(target)
    return target
