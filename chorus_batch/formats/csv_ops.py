"""Operator CSV files (SPEC §6): UTF-8 (a BOM is allowed), a header row, ``;`` or ``,``
detected from the header. Each data row is one document in the integration report.

Responses: ``engagement_number, action, reason`` (+ optional ``issuer_id``), ``action`` one of
``accept`` / ``refuse`` / ``modify``. A ``modify`` row may name one changed line with the
optional columns ``line_id``, ``quantity``, ``unit_price``.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

from ..domain.model import LineChange, Party, PartyId, ResponseDocument
from ..errors import DocumentRejected, Issue

ACTIONS = {"accept": "AP", "refuse": "RE", "modify": "CA"}
RESPONSE_COLUMNS = ("engagement_number", "action")


def header_kind(data: bytes) -> str | None:
    """``order_response`` when ``data`` starts like a responses CSV, else ``None``."""
    first = data[:4096].decode("utf-8-sig", errors="replace").splitlines()[:1]
    if not first:
        return None
    names = {c.strip().lower() for c in first[0].replace(";", ",").split(",")}
    return "order_response" if set(RESPONSE_COLUMNS) <= names else None


def read_rows(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentRejected.one("CSV_INVALID", "an operator CSV must be UTF-8") from None
    header = text.splitlines()[0] if text else ""
    delimiter = ";" if header.count(";") >= header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    reader.fieldnames = fields
    try:
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        raise DocumentRejected.one("CSV_INVALID", f"unreadable CSV: {exc}") from None
    return fields, rows


def parse_responses(data: bytes) -> list[ResponseDocument | DocumentRejected]:
    """One ``ResponseDocument`` per row, or a ``DocumentRejected`` for a row that cannot be read."""
    fields, rows = read_rows(data)
    missing = [c for c in RESPONSE_COLUMNS if c not in fields]
    if missing:
        raise DocumentRejected.one("CSV_INVALID", f"missing column(s): {', '.join(missing)}")
    result: list[ResponseDocument | DocumentRejected] = []
    for line_no, row in enumerate(rows, start=2):
        try:
            result.append(_row(row, line_no))
        except DocumentRejected as exc:
            result.append(exc)
    if not result:
        raise DocumentRejected.one("CSV_INVALID", "the CSV has a header but no rows")
    return result


def _row(row: dict[str, str], line_no: int) -> ResponseDocument:
    action = row.get("action", "").lower()
    if action not in ACTIONS:
        raise DocumentRejected([Issue("RESPONSE_CODE_INVALID", f"row {line_no}: action {action!r} is not accept, refuse or modify", line_no)])
    issuer = Party(None, (PartyId("", row["issuer_id"].replace(" ", ""), "id@csv"),)) if row.get("issuer_id") else None
    lines: tuple[LineChange, ...] = ()
    if action == "modify" and row.get("line_id"):
        lines = (LineChange(row["line_id"], "3", quantity=_decimal(row.get("quantity"), line_no), unit_price=_decimal(row.get("unit_price"), line_no)),)
    return ResponseDocument(
        syntax="csv",
        number=f"row {line_no}",
        order_number=row.get("engagement_number", ""),
        code=ACTIONS[action],
        reason=row.get("reason") or None,
        issuer=issuer,
        lines=lines,
    )


def _decimal(value: str | None, line_no: int) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value.replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise DocumentRejected([Issue("AMOUNT_INVALID", f"row {line_no}: {value[:30]!r} is not a number", line_no)]) from None
