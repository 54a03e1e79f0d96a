"""Operator CSV files (SPEC §6): UTF-8 (a BOM is allowed), a header row, ``;`` or ``,``
detected from the header. Each data row is one document in the integration report. Registers
``OperatorCsv`` (syntax ``csv``), which tells the two files apart by their header row
(``header_kind``).

Responses: ``engagement_number, action, reason`` (+ optional ``issuer_id``), ``action`` one of
``accept`` / ``refuse`` / ``modify``. A ``modify`` row may name one changed line with the
optional columns ``line_id``, ``quantity``, ``unit_price``.

Invoice statuses: ``invoice_number, supplier_id, status, date`` (``invoice_number`` and ``status``
required; ``supplier_id``, ``date`` and an optional ``comment`` may be absent or blank).
``status`` is an invoice status name (``MISE_EN_PAIEMENT``; case, accents, spaces and hyphens
are forgiven: ``Mise en paiement``) or its CPPStatut code ``01``-``12`` (``1``-``12`` too).
``supplier_id`` is written as SPEC §10 writes party ids: a 14-digit SIRET (spaces removed; a
``0009:`` or ``SIRET:`` prefix is dropped), anything else as given without spaces. ``date`` is
``YYYY-MM-DD``, ``DD/MM/YYYY`` or an ISO date-time, normalised to ISO 8601. Rows whose every
cell is blank are skipped. Row errors: STATUS_UNKNOWN, CSV_INVALID (no invoice number),
DATE_INVALID; the other rows are kept.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from ..domain.invoices import InvoiceStatus
from ..domain.model import Document, InvoiceStatusUpdate, LineChange, Party, PartyId, ResponseDocument
from ..errors import DocumentRejected, Issue
from .common import compact, cpp_status, each
from .registry import REGISTRY, Recognised, not_supported

ACTIONS = {"accept": "AP", "refuse": "RE", "modify": "CA"}
RESPONSE_COLUMNS = ("engagement_number", "action")
STATUS_COLUMNS = ("invoice_number", "status")


def header_kind(data: bytes) -> str | None:
    """What the CSV in ``data`` holds, from its header row: ``order_response`` (columns
    ``engagement_number`` and ``action``), ``invoice_status`` (``invoice_number`` and ``status``),
    else ``None``."""
    # the first line only is decoded (this runs on the head of every file a run sorts)
    first = data[:4096].split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").splitlines()[:1]
    if not first:
        return None
    names = {c.strip().strip('"').strip().lower() for c in first[0].replace(";", ",").split(",")}
    if set(RESPONSE_COLUMNS) <= names:
        return "order_response"
    if set(STATUS_COLUMNS) <= names:
        return "invoice_status"
    return None


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


_Doc = TypeVar("_Doc")


def _documents(
    data: bytes, columns: tuple[str, ...], read: Callable[[dict[str, str], int], _Doc], *, skip_blank: bool
) -> list[_Doc | DocumentRejected]:
    """``read`` of every row (with its line number), a ``DocumentRejected`` for a row it refuses."""
    fields, rows = read_rows(data)
    missing = [c for c in columns if c not in fields]
    if missing:
        raise DocumentRejected.one("CSV_INVALID", f"missing column(s): {', '.join(missing)}")
    numbered = [(row, line_no) for line_no, row in enumerate(rows, start=2) if not skip_blank or any(row.values())]
    result = each(numbered, lambda item: read(*item))
    if not result:
        raise DocumentRejected.one("CSV_INVALID", "the CSV has a header but no rows")
    return result


def parse_responses(data: bytes) -> list[ResponseDocument | DocumentRejected]:
    """One ``ResponseDocument`` per row, or a ``DocumentRejected`` for a row that cannot be read."""
    return _documents(data, RESPONSE_COLUMNS, _row, skip_blank=False)


def _row(row: dict[str, str], line_no: int) -> ResponseDocument:
    action = row.get("action", "").lower()
    if action not in ACTIONS:
        raise DocumentRejected(
            [
                Issue(
                    "RESPONSE_CODE_INVALID",
                    f"row {line_no}: action {action!r} is not accept, refuse or modify",
                    line_no,
                )
            ]
        )
    issuer = Party(None, (PartyId("", row["issuer_id"].replace(" ", ""), "id@csv"),)) if row.get("issuer_id") else None
    lines: tuple[LineChange, ...] = ()
    if action == "modify" and row.get("line_id"):
        lines = (
            LineChange(
                row["line_id"],
                "3",
                quantity=_decimal(row.get("quantity"), line_no),
                unit_price=_decimal(row.get("unit_price"), line_no),
            ),
        )
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
        raise DocumentRejected(
            [Issue("AMOUNT_INVALID", f"row {line_no}: {value[:30]!r} is not a number", line_no)]
        ) from None


# -- invoice statuses


def parse_statuses(data: bytes) -> list[InvoiceStatusUpdate | DocumentRejected]:
    """One ``InvoiceStatusUpdate`` per row, or a ``DocumentRejected`` for a row that cannot be read.

    Raises:
        DocumentRejected: CSV_INVALID for the whole file (not UTF-8, a required column missing,
        no data row).
    """
    return _documents(data, STATUS_COLUMNS, _status_row, skip_blank=True)


def _status_row(row: dict[str, str], line_no: int) -> InvoiceStatusUpdate:
    number = row.get("invoice_number", "")
    if not number:
        raise DocumentRejected([Issue("CSV_INVALID", f"row {line_no}: invoice_number is empty", line_no)])
    raw_status = row.get("status", "")
    status = invoice_status(raw_status)
    if status is None:
        raise DocumentRejected(
            [
                Issue(
                    "STATUS_UNKNOWN",
                    f"row {line_no}: status {raw_status[:40]!r} is not an invoice status or a code 01-12",
                    line_no,
                )
            ]
        )
    raw_date = row.get("date", "")
    at = None
    if raw_date:
        at = iso_date(raw_date)
        if at is None:
            raise DocumentRejected(
                [
                    Issue(
                        "DATE_INVALID",
                        f"row {line_no}: date {raw_date[:40]!r} is not YYYY-MM-DD, DD/MM/YYYY or an ISO date-time",
                        line_no,
                    )
                ]
            )
    return InvoiceStatusUpdate(
        syntax="csv",
        invoice_number=number,
        supplier_id=supplier_id(row.get("supplier_id", "")),
        status=status,
        at=at,
        comment=row.get("comment") or None,
    )


_CODE = re.compile(r"[0-9]{1,2}")


def invoice_status(value: str) -> str | None:
    """The ``InvoiceStatus`` ``value`` stands for (a name in any case, with or without
    accents, spaces or hyphens for underscores; or a CPPStatut code 01-12, the zero optional),
    else ``None``.

    >>> invoice_status("mise en paiement"), invoice_status("7"), invoice_status("13")
    ('MISE_EN_PAIEMENT', 'SERVICE_FAIT', None)
    """
    value = value.strip()
    if _CODE.fullmatch(value):
        return cpp_status(int(value))
    folded = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    name = re.sub(r"[\s\-]+", "_", folded).upper()
    return name if name in InvoiceStatus.__members__ else None


_SIRET = re.compile(r"(?:0009:|SIRET:)?([0-9]{14})", re.IGNORECASE)


def supplier_id(value: str) -> str | None:
    """``value`` as SPEC §10 writes a party id: the bare SIRET for 14 digits, else as given
    (spaces removed); ``None`` when blank."""
    written = compact(value)
    if not written:
        return None
    found = _SIRET.fullmatch(written)
    return found.group(1) if found else written


_DMY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_YMD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YMD_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*")


def iso_date(value: str) -> str | None:
    """``value`` (``YYYY-MM-DD``, ``DD/MM/YYYY`` or an ISO 8601 date-time) in ISO 8601, or
    ``None`` when it is not a real date in one of those forms.

    >>> iso_date("05/03/2026"), iso_date("2026-03-05T10:30:00Z"), iso_date("31/02/2026")
    ('2026-03-05', '2026-03-05T10:30:00+00:00', None)
    """
    value = value.strip()
    try:
        dmy = _DMY.fullmatch(value)
        if dmy:
            return date(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1))).isoformat()
        if _YMD.fullmatch(value):
            return date.fromisoformat(value).isoformat()
        if _YMD_TIME.fullmatch(value):
            return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None
    return None


class OperatorCsv:
    """Both operator CSVs (``csv``), told apart by their header row."""

    name = "csv"
    markers = ()

    def claim(self, data: bytes) -> str | None:
        return header_kind(data)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        if doc.kind == "invoice_status":
            return list(parse_statuses(doc.data))
        if doc.kind == "order_response":
            return list(parse_responses(doc.data))
        raise not_supported(doc)


REGISTRY.register(OperatorCsv())
