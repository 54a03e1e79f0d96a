"""``report``: the accountants' reports (status, reconciliation, invoices, totals)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from chorus_batch import RAW_CSV_ENV, REPORT_FORMATS, REPORTS

from .output import raw_csv_wanted
from .root import Context, cli, fail, guarded


@cli.group()
def report() -> None:
    """Reports for accountants, written to outbox/reports/ (or -o DIR): status, reconciliation,
    invoices and totals per currency. CSV by default (UTF-8, comma, one file per report, text
    cells a spreadsheet would run as a formula prefixed with '; --raw for programs; --excel-fr
    writes NAME.excel-fr.csv for French Excel); --format xlsx writes ONE workbook reports.xlsx
    and --format html ONE page reports.html (in French, with charts), each always holding all
    the reports."""


_REPORT_OPTIONS = [
    click.option(
        "-o",
        "--output",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder (default outbox/reports).",
    ),
    click.option(
        "--excel-fr",
        is_flag=True,
        help="CSV for French Excel, in NAME.excel-fr.csv (the plain files are left alone): ';' separator, "
        "decimal comma, UTF-8 with BOM, identifiers kept as text (CSV only).",
    ),
    click.option(
        "--raw",
        is_flag=True,
        help="For programs: CSV text cells as they are, without the ' put before a cell starting with "
        f"= + - @, tab or CR (also {RAW_CSV_ENV}=1). Not with --excel-fr.",
    ),
    click.option(
        "--format",
        "fmt",
        type=click.Choice(REPORT_FORMATS),
        default="csv",
        show_default=True,
        help="csv: one file per report; xlsx / html: one workbook (reports.xlsx) / one page (reports.html) "
        "with ALL the reports.",
    ),
]


def _report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_REPORT_OPTIONS):
        fn = option(fn)
    return fn


def _report(ctx: Context, names: tuple[str, ...], out_dir: Path | None, fmt: str, excel_fr: bool, raw: bool) -> None:
    raw = raw or (not excel_fr and raw_csv_wanted())
    if excel_fr and raw:
        fail("--raw is for programs and --excel-fr for French Excel: choose one", 2)
    if (excel_fr or raw) and fmt != "csv":
        option = "--excel-fr" if excel_fr else "--raw"
        click.echo(f"note: {option} applies to CSV only; the {fmt} file is the same either way", err=True)
    for path in ctx.session.write_reports(names, out_dir, fmt, excel_fr, raw=raw):
        click.echo(str(path))


@report.command("status")
@_report_options
@click.pass_obj
@guarded
def report_status(ctx: Context, out_dir: Path | None, excel_fr: bool, raw: bool, fmt: str) -> None:
    """One row per engagement with its status, days in that status and amounts (status.csv).

    Example:

        chorus-batch report status -o /tmp/reports
    """
    _report(ctx, ("status",), out_dir, fmt, excel_fr, raw)


@report.command("reconciliation")
@_report_options
@click.pass_obj
@guarded
def report_reconciliation(ctx: Context, out_dir: Path | None, excel_fr: bool, raw: bool, fmt: str) -> None:
    """One row per engagement: ordered, invoiced net of credit notes, paid, remaining, match
    status within the configured tolerance, anomalies (reconciliation.csv).

    Example:

        chorus-batch report reconciliation --excel-fr
    """
    _report(ctx, ("reconciliation",), out_dir, fmt, excel_fr, raw)


@report.command("invoices")
@_report_options
@click.pass_obj
@guarded
def report_invoices(ctx: Context, out_dir: Path | None, excel_fr: bool, raw: bool, fmt: str) -> None:
    """One row per invoice or credit note received, with its engagement and anomalies
    (invoices.csv).

    Example:

        chorus-batch report invoices -o /tmp/reports
    """
    _report(ctx, ("invoices",), out_dir, fmt, excel_fr, raw)


@report.command("totals")
@_report_options
@click.pass_obj
@guarded
def report_totals(ctx: Context, out_dir: Path | None, excel_fr: bool, raw: bool, fmt: str) -> None:
    """One row per currency: engagements, ordered, invoiced net of credit notes, credit notes,
    paid and remaining, added up over the engagements in that currency only (totals.csv).

    Example:

        chorus-batch report totals -o /tmp/reports
    """
    _report(ctx, ("totals",), out_dir, fmt, excel_fr, raw)


@report.command("all")
@_report_options
@click.pass_obj
@guarded
def report_all(ctx: Context, out_dir: Path | None, excel_fr: bool, raw: bool, fmt: str) -> None:
    """All the reports: status.csv, reconciliation.csv, invoices.csv, totals.csv (or the one
    workbook / page with --format xlsx / html).

    Example:

        chorus-batch report all --format html
    """
    _report(ctx, REPORTS, out_dir, fmt, excel_fr, raw)
