"""Operator CSV files (SPEC §6) as spreadsheets write them: UTF-8 (with or without a byte-order
mark), else Windows-1252 (read with the warning CSV_ENCODING_GUESSED); a header row; ``;``,
``,`` or tab between fields, detected from the header; CRLF or LF; quoted fields. Each data row
is one document in the integration report. Registers ``OperatorCsv`` (syntax ``csv``), which
tells the two files apart by their header row (``header_kind``).

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


SEPARATORS = (";", ",", "\t")
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_UTF16_BOMS = tuple(bom for bom, codec in _BOMS if codec.startswith("utf-16"))
GUESSED = "cp1252"  # what a CSV that is not UTF-8 is read as: Excel's "CSV (séparateur: point-virgule)"


def decode(data: bytes, *, head: bool = False) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was read in: after a byte-order mark, the one
    it names (the mark removed); else UTF-8; else Windows-1252 (``GUESSED``), which a spreadsheet
    writes by default. ``head``: ``data`` is the first bytes of a file only (a character cut at
    the end is not held against it).

    Raises:
        DocumentRejected: CSV_INVALID when ``data`` is none of them.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return _decoded(data[len(bom) :], codec, head), codec
            except UnicodeDecodeError:
                raise DocumentRejected.one(
                    "CSV_INVALID", f"the CSV starts with a {codec.upper()} byte-order mark but is not {codec.upper()}"
                ) from None
    try:
        return _decoded(data, "utf-8", head), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(GUESSED), GUESSED
    except UnicodeDecodeError:
        raise DocumentRejected.one(
            "CSV_INVALID", "an operator CSV must be UTF-8 or Windows-1252; this one is neither"
        ) from None


def _decoded(data: bytes, codec: str, head: bool) -> str:
    if not head:
        return data.decode(codec)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:  # not a character cut at the end of the head
            raise
        return data[: exc.start].decode(codec)


def _first_record(text: str, separator: str) -> list[str]:
    """The header row as the csv module reads it with ``separator`` (names trimmed, lower case)."""
    try:
        row = next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
    except csv.Error:
        return []
    return [c.strip().lower() for c in row]


def separator_of(text: str) -> str:
    """The separator of the CSV ``text`` among ``;``, ``,`` and tab: the one that splits its
    header row into the columns of an operator CSV (``RESPONSE_COLUMNS`` or ``STATUS_COLUMNS``);
    when none does, the one that splits it into the most columns."""
    best, most = SEPARATORS[0], 0
    for separator in SEPARATORS:
        names = set(_first_record(text, separator))
        if set(RESPONSE_COLUMNS) <= names or set(STATUS_COLUMNS) <= names:
            return separator
        if len(names) > most:
            best, most = separator, len(names)
    return best


def header_kind(data: bytes) -> str | None:
    """What the CSV in ``data`` holds, from its header row: ``order_response`` (columns
    ``engagement_number`` and ``action``), ``invoice_status`` (``invoice_number`` and ``status``),
    else ``None``. The first 4 KB are enough (this runs on the head of every file a run sorts)."""
    head = data[:4096]
    ascii_kept = not head.startswith(_UTF16_BOMS)  # UTF-8 or Windows-1252: ASCII as its own bytes
    if ascii_kept and not _may_name(head):  # told apart before decoding (every XML file a run sorts)
        return None
    try:
        text, _codec = decode(head, head=True)
    except DocumentRejected:
        return None
    if "\x00" in text:  # binary data, never a spreadsheet's CSV
        return None
    if not ascii_kept and not _may_name(text.encode("utf-8")):
        return None
    return _kind_of_header(text)


def _kind_of_header(text: str) -> str | None:
    """``header_kind`` of a decoded head, by the csv module."""
    names = set(_first_record(text, separator_of(text)))
    if set(RESPONSE_COLUMNS) <= names:
        return "order_response"
    if set(STATUS_COLUMNS) <= names:
        return "invoice_status"
    return None


_COLUMN_BYTES = tuple(tuple(c.encode() for c in columns) for columns in (RESPONSE_COLUMNS, STATUS_COLUMNS))


def _may_name(head: bytes) -> bool:
    """Whether ``head`` (in an encoding ASCII characters keep their bytes in) could hold the
    header row of an operator CSV: every column of one of them is in it, once its quotes are
    taken out (what the csv module makes of a quoted name), in ASCII lower case (a name that
    lower-cases to a column is ASCII: no column has a ``k``, the one ASCII letter a non-ASCII
    character lower-cases to alone, the Kelvin sign). Most files a run sorts are XML: they are
    told apart here, on their bytes, without a CSV reader."""
    low = head.replace(b'"', b"").lower()
    return any(all(column in low for column in columns) for columns in _COLUMN_BYTES)


def notes(data: bytes) -> list[Issue]:
    """The warnings of reading the CSV ``data``: CSV_ENCODING_GUESSED when it is not UTF-8 (nor
    marked as UTF-16) and was read as Windows-1252."""
    try:
        _text, codec = decode(data)
    except DocumentRejected:
        return []  # the reading itself says so
    if codec != GUESSED:
        return []
    return [
        Issue(
            "CSV_ENCODING_GUESSED",
            "the CSV is not UTF-8; it was read as Windows-1252 (a spreadsheet's default CSV): check its accented "
            'letters, or save it as "CSV UTF-8"',
            severity="warning",
        )
    ]


def read_rows(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The header (trimmed, lower case) and the rows of an operator CSV as a spreadsheet writes
    it: any encoding ``decode`` reads, ``;``, ``,`` or tab between fields (``separator_of``),
    CRLF or LF line ends, fields quoted with ``"`` (holding separators, line breaks or doubled
    quotes)."""
    text, _codec = decode(data)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=separator_of(text))
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        reader.fieldnames = fields
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
        return Decimal(re.sub(r"[\s\u00a0\u202f]", "", value).replace(",", "."))
    except InvalidOperation:
        raise DocumentRejected(
            [Issue("AMOUNT_INVALID", f"row {line_no}: {value[:30]!r} is not a number", line_no)]
        ) from None


# -- invoice statuses


def parse_statuses(data: bytes) -> list[InvoiceStatusUpdate | DocumentRejected]:
    """One ``InvoiceStatusUpdate`` per row, or a ``DocumentRejected`` for a row that cannot be read.

    Raises:
        DocumentRejected: CSV_INVALID for the whole file (neither UTF-8 nor Windows-1252, a required column missing,
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
