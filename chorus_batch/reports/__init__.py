"""Accountants' reports (SPEC §8): ``status``, ``reconciliation``, ``invoices``, ``totals`` (per
currency: amounts of two currencies are never added together).

``build`` turns the store into pandas DataFrames with SQL aggregates (exact ``Micros`` sums);
``write`` turns frames into CSV files, one XLSX workbook or one HTML page. pandas and openpyxl
are imported only inside this package, and only when a report is built: importing
``chorus_batch.reports`` (as the CLI does at start-up) stays cheap.

Deterministic: the same store and the same ``today`` give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .. import store as db
from ..config import Settings

if TYPE_CHECKING:  # pragma: no cover
    from pandas import DataFrame

REPORTS = ("status", "reconciliation", "invoices", "totals")
FORMATS = ("csv", "xlsx", "html")

# -- CSV cells a spreadsheet would run as a formula ------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# set to 1 (or true / yes): every CSV (reports and ``--format csv``) writes text cells as they are
RAW_CSV_ENV = "CHORUS_BATCH_CSV_RAW"


def neutral_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
    carriage return) with a ``'`` before it, so that it is shown as text; anything else as it is.
    Only for text columns: money and counts are never given to it (``-127.20`` stays a number)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def csv_name(name: str, excel_fr: bool = False) -> str:
    """The file of a report: ``status.csv``, or ``status.excel-fr.csv`` in the French Excel
    form, so that one never replaces the other."""
    return f"{name}.excel-fr.csv" if excel_fr else f"{name}.csv"


def report_all(conn: db.Connection, settings: Settings, today: date) -> dict[str, DataFrame]:
    """Every report as frames, in ``REPORTS`` order, read on one connection."""
    from .build import build

    return build(conn, settings, today, REPORTS)


def report(conn: db.Connection, settings: Settings, today: date, names: Iterable[str]) -> dict[str, DataFrame]:
    """Only the named reports (``REPORTS`` order kept)."""
    from .build import build

    return build(conn, settings, today, _known(names))


def _known(names: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(names)
    unknown = sorted(set(wanted) - set(REPORTS))
    if unknown:
        raise ValueError(f"unknown report(s) {', '.join(unknown)} (one of {', '.join(REPORTS)})")
    return wanted


def checked(names: Iterable[str], excel_fr: bool, raw: bool) -> tuple[str, ...]:
    """The names of the reports asked for, known; the CSV forms asked for, compatible."""
    if excel_fr and raw:
        raise ValueError("--raw is for programs and --excel-fr for French Excel: choose one")
    return _known(names)


def write_frames(
    frames: Mapping[str, DataFrame],
    out_dir: Path,
    fmt: str = "csv",
    excel_fr: bool = False,
    as_of: date | None = None,
    raw: bool = False,
) -> list[Path]:
    """Write frames as ``<name>.csv`` files, ``reports.xlsx`` or ``reports.html``: ``write.write``.
    (Not named ``write``: that is the submodule's name in this package.)"""
    from .write import write

    return write(frames, out_dir, fmt, excel_fr, as_of, raw)


def write_reports(
    conn: db.Connection,
    settings: Settings,
    out_dir: Path,
    today: date,
    names: Iterable[str] = REPORTS,
    fmt: str = "csv",
    excel_fr: bool = False,
    raw: bool = False,
) -> list[Path]:
    """Build and write in one go. ``xlsx`` and ``html`` always hold every report (one
    workbook, one page, built in memory); ``csv`` writes the named ones, streamed: rows are read,
    computed and written a chunk at a time, so a store of millions of rows needs little memory.
    ``excel_fr`` writes ``<name>.excel-fr.csv`` (never the plain files); ``raw`` leaves text
    cells as they are (``write.to_csv``)."""
    names = checked(names, excel_fr, raw)
    if fmt != "csv":
        return write_frames(report_all(conn, settings, today), out_dir, fmt, excel_fr, as_of=today)
    from itertools import groupby

    from .build import stream_rows
    from .write import write_lines

    chunks = stream_rows(conn, settings, today, tuple(names), joined=True)
    return [
        write_lines(name, (chunk for _name, chunk in group), out_dir / csv_name(name, excel_fr), excel_fr, raw)
        for name, group in groupby(chunks, key=lambda item: item[0])
    ]
