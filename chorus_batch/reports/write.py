"""Report frames → files: CSV (one file per report), one XLSX workbook, or one HTML page.

Every file is written through a temporary dot-name and an atomic rename
(``workspace.write_bytes``): a reader never sees half a report. Output is deterministic — the
same frames give the same bytes:

* CSV: ``<name>.csv``, UTF-8, comma, header row, ``\\n`` line ends (SPEC §10), column names in
  English. A text cell a spreadsheet would run as a formula (leading ``= + - @``, tab, CR) gets
  a leading ``'`` (``reports.neutral_cell``); money and counts are never touched, so ``-127.20``
  stays a number. ``raw``: text cells as they are, for programs (``--raw``,
  ``CHORUS_BATCH_CSV_RAW=1``).
* ``excel_fr``: ``<name>.excel-fr.csv`` (never the plain file): ``;`` separator, decimal comma
  in the money columns (``727,20``), UTF-8 with a BOM so French Excel opens it right, formulas
  neutralised as above, and each identifier (SIRET, engagement and invoice numbers) written as
  Excel's text formula ``="22360001600172"`` so that Excel keeps it as text (no ``2,236E+13``,
  no leading zero lost); quotes inside it are doubled, so it stays one string.
* XLSX: ``reports.xlsx``, a sheet per report; money as numeric cells (the exact decimal text
  of the amount) with a two-decimal format, dates and times as date cells, counts as numbers,
  every other value as text (identifiers, and a name starting with ``=``, stay text, never a
  formula). The workbook's created/modified properties are fixed (``as_of`` at midnight UTC,
  else 2000-01-01) and the zip entries get a fixed timestamp, so the same frames give the same
  bytes.
* HTML: ``reports.html``, one self-contained page in French (headings, column labels, values,
  anomaly texts in full): inline CSS, inline SVG charts (``charts``), no script, no external
  resource (its Content-Security-Policy forbids any). It opens with the charts: engagements
  per status; ageing by ``days_in_status`` (0–7, 8–30, 31–90, > 90 days); ordered, invoiced and
  paid per month, one chart per currency; the most frequent anomalies. Then a table per report.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..domain.matching import ANOMALY_CODES
from ..domain.reconciliation import MatchStatus
from ..domain.states import LABELS, State
from ..store.reports import UNIT
from ..workspace import write_bytes, write_chunks
from . import FORMULA_START, csv_name, neutral_cell
from .build import (
    COLUMNS,
    DATE_COLUMNS,
    EXCEL_TEXT_MAX,
    IDENTIFIER_COLUMNS,
    INTEGER_COLUMNS,
    MONEY_COLUMNS,
    Chunk,
    Joined,
)
from .charts import Series, bar_chart, plain

FORMATS = ("csv", "xlsx", "html")
WORKBOOK = "reports.xlsx"
PAGE = "reports.html"
_FIXED_DAY = date(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say


def write(
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    fmt: str = "csv",
    excel_fr: bool = False,
    as_of: date | None = None,
    raw: bool = False,
) -> list[Path]:
    """Write ``frames`` (report name → frame from ``build``) into ``out_dir``; return the paths.

    ``csv`` writes ``<name>.csv`` per frame (``<name>.excel-fr.csv`` with ``excel_fr``); ``xlsx``
    and ``html`` write one file holding every frame given. ``excel_fr`` and ``raw`` apply to CSV
    only (XLSX cells are typed, the HTML page is for people). ``as_of`` is the report day shown
    in the page and used as the workbook's date.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    if excel_fr and raw:
        raise ValueError("raw text cells are for programs and excel_fr for French Excel: choose one")
    if fmt == "csv":
        return [write_csv(name, [df], out_dir / csv_name(name, excel_fr), excel_fr, raw) for name, df in frames.items()]
    target, data = (
        (out_dir / WORKBOOK, to_xlsx(frames, as_of)) if fmt == "xlsx" else (out_dir / PAGE, to_html(frames, as_of))
    )
    write_bytes(target, data)  # temporary dot-name, then atomic rename
    return [target]


# -- CSV -----------------------------------------------------------------------------------------


def write_csv(
    name: str, chunks: Iterable[pd.DataFrame], target: Path, excel_fr: bool = False, raw: bool = False
) -> Path:
    """One report as a CSV file written chunk by chunk (memory stays flat however many rows),
    through a temporary dot-name renamed at the end: the same bytes as ``to_csv`` of them all."""
    write_chunks(target, (to_csv(name, chunk, excel_fr, first=i == 0, raw=raw) for i, chunk in enumerate(chunks)))
    return target


def write_lines(name: str, chunks: Iterable[Chunk], target: Path, excel_fr: bool = False, raw: bool = False) -> Path:
    """``write_csv`` for the chunks of ``build.stream_rows``: the same bytes, no frame made."""
    write_chunks(target, (_chunk_bytes(name, chunk, excel_fr, i == 0, raw) for i, chunk in enumerate(chunks)))
    return target


_RECORD = "\x1e"  # between the rows of a chunk checked at once (the ASCII record separator)


def _formula_like(text: str) -> bool:
    """Whether a cell of rows joined by ``_RECORD``, of cells joined by ``UNIT``, starts like a
    formula (a character looked for alone first: much quicker, and most are never there)."""
    return text.startswith(FORMULA_START) or any(
        start in text and (UNIT + start in text or _RECORD + start in text) for start in FORMULA_START
    )


def _chunk_bytes(name: str, chunk: Chunk, excel_fr: bool, first: bool, raw: bool) -> bytes:
    """A chunk of a report as CSV bytes. The cells the database joined (``Joined``) are written
    as they came, a chunk at a time, when none of them needs a quote, a ``'`` (``neutral_cell``;
    a number starting with ``-`` is looked at too) or the French form, and the cells computed
    here after them, one by one; other chunks by ``csv_bytes``."""
    columns = COLUMNS[name]
    if not isinstance(chunk, Joined):
        return csv_bytes(name, columns, chunk, excel_fr, first, raw)
    width = len(columns) - len(chunk.tails[0]) if chunk.tails else len(columns)
    text = _RECORD.join(chunk.lines)
    if (
        not excel_fr
        and "," not in text
        and '"' not in text
        and "\n" not in text
        and "\r" not in text
        and text.count(UNIT) == (width - 1) * len(chunk.lines)
        and text.count(_RECORD) == len(chunk.lines) - 1
        and (raw or not _formula_like(text))
    ):
        header = ",".join(columns) + "\n" if first else ""
        text = text.replace(UNIT, ",")
        if width < len(columns):  # the cells computed here, a column at a time, after the others
            tails = _tail_cells(name, width, raw, chunk.tails)
            text = "\n".join(map(",".join, zip(text.split(_RECORD), *tails, strict=True)))
        else:
            text = text.replace(_RECORD, "\n")
        return (header + text + ("\n" if chunk.lines else "")).encode("utf-8")
    heads: list[Sequence[Any]] = [line.split(UNIT) for line in chunk.lines]
    unsplit = [i for i, cells in zip(chunk.ids, heads, strict=True) if len(cells) != width]
    if unsplit:  # a cell holds UNIT: those rows' first cells read again, one value each
        again = chunk.heads(unsplit)
        heads = [again[i] if len(cells) != width else cells for i, cells in zip(chunk.ids, heads, strict=True)]
    values = [(*head, *tail) for head, tail in zip(heads, chunk.tails, strict=True)]
    return csv_bytes(name, columns, values, excel_fr, first, raw)


def _tail_cells(name: str, width: int, raw: bool, tails: list[tuple[Any, ...]]) -> list[list[str]]:
    """The cells after the first ``width`` of a report's rows, a column at a time, in the plain
    CSV form: numbers as they are, text neutralised (unless ``raw``) and quoted when it must be
    (the same text gives the same cell: worked out once)."""
    numbers = {*MONEY_COLUMNS[name], *INTEGER_COLUMNS[name]}
    made: dict[str, str] = {}

    def text(value: str) -> str:
        cell = value if raw else str(neutral_cell(value))
        if len(made) > 10_000:  # bounded, whatever the texts
            made.clear()
        made[value] = _quoted(cell, ",") if "\r" not in value else '"' + cell.replace('"', '""') + '"'
        return made[value]

    cells = []
    for j, column in enumerate(COLUMNS[name][width:]):
        if column in numbers:
            cells.append([str(values[j]) for values in tails])
        else:
            cells.append([c if (c := made.get(values[j])) is not None else text(values[j]) for values in tails])
    return cells


def to_csv(name: str, df: pd.DataFrame, excel_fr: bool = False, first: bool = True, raw: bool = False) -> bytes:
    """One report as CSV bytes (see the module docstring for the two dialects); ``first=False``:
    a later chunk of it, without the header row and the BOM."""
    columns = list(df.columns)
    rows = list(zip(*(df[col].tolist() for col in columns), strict=True))
    return csv_bytes(name, columns, rows, excel_fr, first, raw)


# a text cell that starts like a formula, among cells joined by NUL (``neutral_cell``)
_FORMULA = re.compile("\\x00[" + re.escape("".join(FORMULA_START)) + "]")


def _joined(values: Sequence[Any]) -> str | None:
    """The cells of a column joined by NUL, ``None`` when one is not text."""
    try:
        return "\x00".join(values)
    except TypeError:
        return None


def _has_formula(joined: str | None) -> bool:
    """Whether a column (``_joined``) may hold a cell for ``neutral_cell`` (a quick look at them
    all at once; a cell that is not text, or holds a NUL, says yes: the cells are then looked at
    one by one)."""
    return joined is None or joined.startswith(FORMULA_START) or _FORMULA.search(joined) is not None


def _quoted(value: str, sep: str) -> str:
    """A cell as the csv module writes it (minimal quoting, ``\n`` line ends)."""
    if sep in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _lines(cells: list[Sequence[Any]], joins: list[str | None], sep: str) -> str | None:
    """The rows of ``cells`` (text columns; ``joins``: each column ``_joined``, or ``None``)
    as the csv module writes them with ``\n`` line ends, a column at a time: only a column
    holding a separator, a quote or a line end is looked at cell by cell. ``None`` when a cell
    is not text (the csv module then writes them)."""
    columns = []
    for column, known in zip(cells, joins, strict=True):
        joined = known if known is not None else _joined(column)
        if joined is None:
            return None
        if sep in joined or '"' in joined or "\n" in joined:
            column = [_quoted(v, sep) for v in column]
        columns.append(column)
    if not columns or not columns[0]:
        return ""
    return "\n".join(map(sep.join, zip(*columns, strict=True))) + "\n"


def csv_bytes(
    name: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    excel_fr: bool = False,
    first: bool = True,
    raw: bool = False,
) -> bytes:
    """Rows of a report (values as the frames hold them) as CSV bytes: ``to_csv``'s work, done
    a column at a time."""
    money = MONEY_COLUMNS.get(name, ())
    numbers = (*money, *INTEGER_COLUMNS.get(name, ()))
    identifiers = IDENTIFIER_COLUMNS.get(name, ())
    cells: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    joins: list[str | None] = [None] * len(columns)  # a column's cells joined, when still as they are
    for j, col in enumerate(columns):
        if col in numbers:
            if excel_fr and col in money:
                cells[j] = [str(v).replace(".", ",") for v in cells[j]]
        elif excel_fr and col in identifiers:
            cells[j] = [excel_text(v) for v in cells[j]]
        elif not raw:
            joins[j] = _joined(cells[j])
            if _has_formula(joins[j]):
                cells[j], joins[j] = [neutral_cell(v) for v in cells[j]], None
    sep = ";" if excel_fr else ","
    buf = io.StringIO(newline="")
    if first:
        csv.writer(buf, delimiter=sep, lineterminator="\n").writerow(columns)
    start = buf.tell()
    integers = INTEGER_COLUMNS.get(name, ())
    texts = [[str(v) for v in c] if col in integers else c for col, c in zip(columns, cells, strict=True)]
    lines = _lines(texts, joins, sep)
    if lines is None:
        csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(zip(*cells, strict=True))
    else:
        buf.write(lines)
    text = buf.getvalue()
    if "\r" in text[start:]:
        # the csv module quotes a field holding the line terminator's characters only: with "\n" a
        # lone CR would stay bare and split the row for readers. Rows one by one, ended "\r\n" (so
        # every CR is quoted), then "\n" again.
        buf.seek(start)
        buf.truncate()
        one = io.StringIO(newline="")
        crlf = csv.writer(one, delimiter=sep, lineterminator="\r\n")
        for row in zip(*cells, strict=True):
            one.seek(0)
            one.truncate()
            crlf.writerow(row)
            buf.write(one.getvalue()[:-2] + "\n")
        text = buf.getvalue()
    return ("\ufeff" + text).encode("utf-8") if excel_fr and first else text.encode("utf-8")


def excel_text(value: object) -> object:
    """An identifier as Excel's text formula ``="…"`` (quotes doubled inside): Excel shows the
    text, never a number; empty stays empty; one too long for a formula is neutralised instead."""
    if not isinstance(value, str) or not value:
        return value
    if len(value) > EXCEL_TEXT_MAX:
        return neutral_cell(value)
    return '="' + value.replace('"', '""') + '"'


# -- XLSX ----------------------------------------------------------------------------------------


def to_xlsx(frames: Mapping[str, pd.DataFrame], as_of: date | None = None) -> bytes:
    """One workbook, a sheet per report (header row bold and frozen, auto-filter)."""
    day = as_of or _FIXED_DAY
    stamp = datetime(day.year, day.month, day.day)
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]  # a new workbook has its one sheet active
    wb.properties.creator = "chorus-batch"
    wb.properties.title = "chorus-batch reports"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    bold = Font(bold=True)
    for name, df in frames.items():
        ws = wb.create_sheet(name)
        money = set(MONEY_COLUMNS.get(name, ()))
        integers = set(INTEGER_COLUMNS.get(name, ()))
        dates = set(DATE_COLUMNS.get(name, ()))
        columns = list(df.columns)
        widths = [len(c) for c in columns]
        for j, col in enumerate(columns, 1):
            ws.cell(row=1, column=j, value=col).font = bold
        # a presentation loop over the finished frame (not over the store)
        for i, row in enumerate(df.itertuples(index=False, name=None), 2):
            for j, (col, value) in enumerate(zip(columns, row, strict=True), 1):
                text = "" if value is None else str(value)
                widths[j - 1] = max(widths[j - 1], len(text))
                if col in money:
                    if text:
                        # given as the exact Decimal; a spreadsheet's number is a binary double (15
                        # significant digits: to the cent below 10^13), which only the cell holds
                        cell = ws.cell(row=i, column=j, value=Decimal(text))
                        cell.number_format = "#,##0.00"
                elif col in integers:
                    ws.cell(row=i, column=j, value=int(value))
                elif col in dates and (when := _when(text)) is not None:
                    cell = ws.cell(row=i, column=j, value=when)
                    cell.number_format = "yyyy-mm-dd hh:mm:ss" if isinstance(when, datetime) else "yyyy-mm-dd"
                elif text:
                    cell = ws.cell(row=i, column=j, value=text)
                    cell.data_type = "s"  # text stays text, even "=..." (never a formula)
        for j, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(j)].width = min(width + 2, 60)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(df) + 1}"
    raw = io.BytesIO()
    wb.save(raw)
    return _stable_zip(raw.getvalue(), stamp)


def _when(text: str) -> date | datetime | None:
    """A store date (``2026-11-30``) as a date, a store instant (``2026-11-01T08:00:00Z``, UTC)
    as a naive datetime in UTC (a spreadsheet has no time zones); anything else ``None`` (kept
    as text)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        if text.endswith("Z"):
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=None)
    except ValueError:
        return None
    return None


def _stable_zip(data: bytes, stamp: datetime) -> bytes:
    """Re-pack the workbook with fixed entry timestamps and a fixed ``dcterms:modified`` (openpyxl
    stamps both with the current time), entries in the same order: same content, same bytes."""
    fixed = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + fixed.encode() + rb"\g<2>",
                    content,
                )
                content = re.sub(
                    rb"(<dcterms:created[^>]*>)[^<]*(</dcterms:created>)",
                    rb"\g<1>" + fixed.encode() + rb"\g<2>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, content)
    return out.getvalue()


# -- HTML ----------------------------------------------------------------------------------------

TITLES = {
    "status": ("Statut des engagements", "Un engagement par ligne, son statut et ses montants (status.csv)."),
    "reconciliation": (
        "Rapprochement commandes / factures",
        "Par engagement : le commandé, le facturé net des avoirs (hors factures rejetées et doublons), "
        "le mis en paiement, le reste à facturer et les anomalies (reconciliation.csv).",
    ),
    "invoices": (
        "Factures et avoirs",
        "Une ligne par facture ou avoir reçu, doublons et rejets compris (invoices.csv).",
    ),
    "totals": (
        "Totaux par devise",
        "Une ligne par devise ; les montants de deux devises ne sont jamais additionnés (totals.csv).",
    ),
}
LABELS_FR = {
    "engagement_number": "N° d'engagement",
    "issuer_id": "Émetteur (identifiant)",
    "issuer_name": "Émetteur",
    "supplier_id": "Fournisseur (identifiant)",
    "supplier_name": "Fournisseur",
    "status": "Statut",
    "created_at": "Créé le",
    "last_transition_at": "Dernier changement de statut",
    "days_in_status": "Jours dans le statut",
    "amount_ht": "Montant HT",
    "amount_ttc": "Montant TTC",
    "currency": "Devise",
    "ordered_ht": "Commandé HT",
    "ordered_ttc": "Commandé TTC",
    "invoiced_ttc": "Facturé TTC (net)",
    "credit_notes_ttc": "Avoirs TTC",
    "paid_ttc": "Mis en paiement TTC",
    "remaining_ttc": "Reste à facturer TTC",
    "invoice_count": "Nb de documents",
    "match_status": "Rapprochement",
    "anomalies": "Anomalies",
    "invoice_number": "N° de facture",
    "type": "Type",
    "issue_date": "Date d'émission",
    "due_date": "Date d'échéance",
    "seller_id": "Vendeur (identifiant)",
    "buyer_id": "Acheteur (identifiant)",
    "matched": "Rapprochée",
    "counted": "Comptée",
    "status_at": "Date du statut",
    "engagement_count": "Nb d'engagements",
    "anomaly": "Anomalies",
}
# the values of code columns, in French (a value not listed is shown as it is)
VALUES_FR: dict[str, str] = {
    **{state.value: label for state, label in LABELS.items()},
    "DEPOSEE": "Déposée",
    "EN_COURS_ACHEMINEMENT": "En cours d'acheminement",
    "MISE_A_DISPOSITION": "Mise à disposition",
    "REJETEE": "Rejetée",
    "SUSPENDUE": "Suspendue",
    "SERVICE_FAIT": "Service fait",
    "MANDATEE": "Mandatée",
    "MISE_A_DISPOSITION_COMPTABLE": "Mise à disposition comptable",
    "COMPTABILISEE": "Comptabilisée",
    "MISE_EN_PAIEMENT": "Mise en paiement",
    "COMPLETEE": "Complétée",
    MatchStatus.NOT_INVOICED.value: "Non facturé",
    MatchStatus.PARTIALLY_INVOICED.value: "Partiellement facturé",
    MatchStatus.FULLY_INVOICED.value: "Entièrement facturé",
    MatchStatus.OVER_INVOICED.value: "Surfacturé",
    "invoice": "Facture",
    "credit_note": "Avoir",
    "true": "oui",
    "false": "non",
}
_TRANSLATED = ("status", "match_status", "type", "matched", "counted")
# what each anomaly means, in French, in full (the CSV and the workbook give the English reason)
ANOMALIES_FR = {
    "NO_ENGAGEMENT": "la facture ne donne aucun numéro d'engagement (BT-13 absent, vide ou valeur de "
    "remplacement comme NA)",
    "UNKNOWN_ENGAGEMENT": "aucun engagement ne porte ce numéro (pour l'instant) ; la facture sera rapprochée "
    "automatiquement si la commande arrive plus tard",
    "AMBIGUOUS_ENGAGEMENT": "plusieurs émetteurs ont un engagement de ce numéro et l'acheteur de la facture ne "
    "permet pas de les distinguer",
    "ENGAGEMENT_NOT_ACCEPTED": "l'engagement n'est pas « Pris en compte » (il est à traiter, refusé, à recycler, "
    "ou clôturé autrement qu'après paiement)",
    "SELLER_MISMATCH": "le vendeur de la facture n'est pas le fournisseur de l'engagement (ou n'est pas "
    "identifié) ; la facture n'est pas comptée",
    "BUYER_MISMATCH": "l'acheteur de la facture n'est pas l'émetteur de l'engagement (ou n'est pas identifié) ; "
    "la facture n'est pas comptée",
    "CURRENCY_MISMATCH": "la devise de la facture n'est pas celle de l'engagement ; la facture n'est pas comptée",
    "DUPLICATE_INVOICE": "une facture du même vendeur et de même numéro a déjà été reçue ; celle-ci est "
    "conservée mais jamais comptée deux fois",
    "OVER_INVOICED": "le facturé net des avoirs dépasse le commandé au-delà de la tolérance ([reconciliation])",
}
AGEING = (("0 à 7 j", 0, 7), ("8 à 30 j", 8, 30), ("31 à 90 j", 31, 90), ("plus de 90 j", 91, None))
MONTHS_SHOWN = 12  # the per-month charts show the latest months that have data
TOP_ANOMALIES = 8
_PAID = "MISE_EN_PAIEMENT"
_NNBSP = "\u202f"  # narrow no-break space: the French thousands separator
_CSP = "default-src 'none'; style-src 'unsafe-inline'"  # nothing may be fetched, nothing run

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 1.5rem; color: #161616; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #000091; padding-bottom: .2rem; }
p.lead { margin: 0 0 1rem; color: #3a3a3a; }
nav ul { list-style: none; padding: 0; display: flex; gap: 1.25rem; flex-wrap: wrap; }
a { color: #000091; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; border: 1px solid #ddd; padding: .5rem; background: #fafafa; flex: 0 1 560px; min-width: 0; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #3a3a3a; margin-top: .25rem; }
svg text { font-family: inherit; font-size: 12px; fill: #161616; }
svg .chart-title { font-size: 14px; font-weight: 600; }
svg .axis-label { font-size: 12px; fill: #3a3a3a; }
svg .s0 { fill: #000091; }
svg .s1 { fill: #b34000; }
svg .s2 { fill: #18753c; }
svg .s3 { fill: #6a6af4; }
svg .grid { stroke: #ddd; stroke-width: 1; }
svg .axis { stroke: #666; stroke-width: 1; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .8rem; margin-bottom: .5rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; caption-side: top; }
th, td { border: 1px solid #ccc; padding: .2rem .35rem; vertical-align: top; }
thead th { background: #e3e3fd; position: sticky; top: 0; text-align: left; }
tbody tr:nth-child(even) { background: #f6f6f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.anomaly { min-width: 20rem; color: #8a1c00; white-space: normal; overflow-wrap: anywhere; }
td.anomaly ul { margin: 0; padding-left: 1rem; }
td.empty { color: #777; font-style: italic; }
@media print { thead th { position: static; } .scroll { overflow: visible; } }
""".strip()  # the page's CSS, byte for byte as the golden page has it


def to_html(frames: Mapping[str, pd.DataFrame], as_of: date | None = None) -> bytes:
    """The page: a heading, a table of contents, the charts and one table per report."""
    esc = html.escape
    day = f" au {as_of.isoformat()}" if as_of else ""
    figures = _charts(frames)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="chorus-batch">',
        f"<title>Rapports chorus-batch{esc(day)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>Engagements et factures{esc(day)}</h1>",
        '<p class="lead">Rapports pour la comptabilité : montants dans la devise de leur ligne (colonne Devise), '
        "jamais additionnés d'une devise à l'autre, avec deux décimales "
        "(arrondi au plus proche, demi vers le haut), dates ISO 8601 (UTC).</p>",
        '<nav aria-label="Sommaire"><ul>',
    ]
    if figures:
        parts.append('<li><a href="#graphiques">Graphiques</a></li>')
    for name in frames:
        parts.append(f'<li><a href="#{esc(name)}">{esc(TITLES.get(name, (name, ""))[0])}</a></li>')
    parts += ["</ul></nav>", "</header>", "<main>"]
    if figures:
        parts += [
            '<section id="graphiques" aria-labelledby="graphiques-titre">',
            '<h2 id="graphiques-titre">Graphiques</h2>',
            '<div class="charts">',
            *figures,
            "</div>",
            "</section>",
        ]
    for name, df in frames.items():
        parts += _table(name, df)
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts).encode("utf-8")


def _charts(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    """The figures the frames given allow: status and ageing (status), per month per currency
    (status and invoices), the most frequent anomalies (invoices)."""
    out: list[str] = []
    status, invoices = frames.get("status"), frames.get("invoices")
    if status is not None:
        out += [_status_chart(status), _ageing_chart(status)]
    if status is not None and invoices is not None:
        out += _monthly_charts(status, invoices)
    if invoices is not None:
        out.append(_anomaly_chart(invoices))
    return out


def _status_chart(df: pd.DataFrame) -> str:
    statuses = [s.value for s in State]
    present = sorted(set(df["status"].astype(str)) - set(statuses))
    counts = df["status"].astype(str).value_counts()
    order = statuses + present
    return bar_chart(
        "chart-status",
        "Engagements par statut",
        "Nombre d'engagements dans chaque statut.",
        [VALUES_FR.get(st, st) for st in order],
        [Series("Engagements", tuple(int(counts.get(st, 0)) for st in order))],
        x_label="Statut",
        y_label="Nombre d'engagements",
    )


def _ageing_chart(df: pd.DataFrame) -> str:
    days = df["days_in_status"].astype("int64")
    counts = tuple(
        int(((days >= low) & (days <= high if high is not None else True)).sum()) for _label, low, high in AGEING
    )
    return bar_chart(
        "chart-ageing",
        "Ancienneté dans le statut",
        "Nombre d'engagements selon le nombre de jours passés dans leur statut actuel.",
        [label for label, _low, _high in AGEING],
        [Series("Engagements", counts)],
        x_label="Jours dans le statut actuel",
        y_label="Nombre d'engagements",
    )


def _money(text: object) -> Decimal:
    return Decimal(str(text)) if text not in (None, "") else Decimal(0)


def monthly(status: pd.DataFrame, invoices: pd.DataFrame) -> dict[str, dict[str, list[Decimal]]]:
    """Currency → month (``YYYY-MM``) → [ordered, invoiced, paid] TTC, exact: ordered by the
    month the engagement was created; invoiced (net of credit notes, the documents the
    reconciliation counts) by issue month; paid (those of them ``MISE_EN_PAIEMENT``) by the month
    of that status. Never two currencies together."""
    found: dict[str, dict[str, list[Decimal]]] = {}

    def add(currency: object, month: str, k: int, amount: Decimal) -> None:
        if len(month) == 7:
            found.setdefault(str(currency or ""), {}).setdefault(month, [Decimal(0)] * 3)[k] += amount

    for created, amount, currency in zip(
        status["created_at"].tolist(), status["amount_ttc"].tolist(), status["currency"].tolist(), strict=True
    ):
        add(currency, str(created)[:7], 0, _money(amount))
    columns = ("counted", "type", "issue_date", "status_at", "status", "amount_ttc", "currency")
    for counted, kind, issued, status_at, state, amount, currency in zip(
        *(invoices[c].tolist() for c in columns), strict=True
    ):
        if counted != "true":
            continue
        signed = -_money(amount) if kind == "credit_note" else _money(amount)
        add(currency, str(issued or status_at)[:7], 1, signed)
        if state == _PAID:
            add(currency, str(status_at)[:7], 2, signed)
    return found


def _monthly_charts(status: pd.DataFrame, invoices: pd.DataFrame) -> list[str]:
    out = []
    for currency, months in sorted(monthly(status, invoices).items()):
        shown = sorted(months)[-MONTHS_SHOWN:]
        unit = currency or "sans devise"
        slug = re.sub(r"[^A-Za-z0-9]", "", currency) or "aucune"
        out.append(
            bar_chart(
                f"chart-month-{slug}",
                f"Commandé, facturé et mis en paiement par mois ({unit})",
                f"Montants TTC en {unit} : commandé selon le mois de création de l'engagement, facturé net des "
                "avoirs selon le mois d'émission, mis en paiement selon le mois de ce statut"
                f" ({MONTHS_SHOWN} derniers mois au plus).",
                shown,
                [
                    Series(name, tuple(months[m][k] for m in shown))
                    for k, name in enumerate(("Commandé", "Facturé (net)", "Mis en paiement"))
                ],
                x_label="Mois",
                y_label=f"Montant TTC ({unit})",
            )
        )
    return out


def anomaly_counts(invoices: pd.DataFrame) -> list[tuple[str, int]]:
    """(code, number of invoices and credit notes that have it), most frequent first, then by code."""
    counts: dict[str, int] = {}
    for cell in invoices["anomaly"].tolist():
        for code in _codes(str(cell or "")):
            counts[code] = counts.get(code, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _anomaly_chart(invoices: pd.DataFrame) -> str:
    top = anomaly_counts(invoices)[:TOP_ANOMALIES]
    return bar_chart(
        "chart-anomalies",
        "Anomalies les plus fréquentes",
        f"Nombre de factures et d'avoirs portant chaque anomalie ({TOP_ANOMALIES} plus fréquentes au plus) ; "
        "le sens de chaque code est dans le tableau des factures.",
        [code for code, _count in top],
        [Series("Factures et avoirs", tuple(count for _code, count in top))],
        x_label="Anomalie",
        y_label="Nombre de documents",
        hints=[ANOMALIES_FR.get(code, code) for code, _count in top],
    )


def _codes(cell: str) -> list[str]:
    """The anomaly codes of a ``CODE: reason; CODE: reason`` cell, in their order: the known
    codes found at the start of an item (a reason may contain anything else)."""
    found = []
    for code in ANOMALY_CODES:
        at = cell.find(f"{code}: ") if cell.startswith(f"{code}: ") else cell.find(f"; {code}: ")
        if at >= 0:
            found.append((at, code))
    return [code for _at, code in sorted(found)]


def anomaly_items(cell: str) -> list[str]:
    """An anomaly cell in French, in full: ``CODE : what it means`` for each code (the English
    reason of the CSV is not repeated); a cell with no known code is shown as it is."""
    codes = _codes(cell)
    if not codes:
        return [cell] if cell else []
    return [f"{code} : {ANOMALIES_FR.get(code, code)}" for code in codes]


def _table(name: str, df: pd.DataFrame) -> list[str]:
    esc = html.escape
    title, caption = TITLES.get(name, (name, ""))
    money = set(MONEY_COLUMNS.get(name, ()))
    numbers = money | set(INTEGER_COLUMNS.get(name, ()))
    columns = list(df.columns)
    out = [
        f'<section id="{esc(name)}" aria-labelledby="{esc(name)}-titre">',
        f'<h2 id="{esc(name)}-titre">{esc(title)}</h2>',
        '<div class="scroll">',
        "<table>",
        f"<caption>{esc(caption)} {len(df)} ligne{'s' if len(df) != 1 else ''}.</caption>",
        "<thead><tr>" + "".join(f'<th scope="col">{esc(LABELS_FR.get(c, c))}</th>' for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    if df.empty:
        out.append(f'<tr><td class="empty" colspan="{len(columns)}">Aucune ligne.</td></tr>')
    for row in df.itertuples(index=False, name=None):  # presentation of the finished frame
        cells = []
        for col, value in zip(columns, row, strict=True):
            text = "" if value is None else str(value)
            if col in money:
                cells.append(f'<td class="num">{esc(_french_money(text))}</td>')
            elif col in numbers:
                cells.append(f'<td class="num">{esc(text)}</td>')
            elif col in ("anomalies", "anomaly"):
                items = anomaly_items(text)
                cells.append(
                    '<td class="anomaly"><ul>' + "".join(f"<li>{esc(a)}</li>" for a in items) + "</ul></td>"
                    if items
                    else "<td></td>"
                )
            elif col in _TRANSLATED:
                cells.append(f"<td>{esc(VALUES_FR.get(text, text))}</td>")
            else:
                cells.append(f"<td>{esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>", "</div>", "</section>"]
    return out


def _french_money(text: str) -> str:
    """``"-1234567.20"`` → ``"-1 234 567,20"`` (narrow no-break spaces); ``""`` stays empty."""
    return plain(Decimal(text)) if text else ""
