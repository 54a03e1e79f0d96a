"""Operator CSVs exactly as a spreadsheet saves them are read, through ``run``: Excel's "CSV UTF-8"
(a byte-order mark, ``;``, CRLF), its default "CSV (séparateur: point-virgule)" in Windows-1252
(read with the warning CSV_ENCODING_GUESSED in the acknowledgement), comma- and tab-separated
files, quoted fields holding separators, quotes and line breaks, for the answers CSV and the
invoice-status CSV alike; a file that is neither UTF-8 nor Windows-1252 is still refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order
from chorus_batch.demo.invoices import ubl_invoice

RunCli = Callable[..., Result]
BOM = b"\xef\xbb\xbf"
ISSUER, SUPPLIER = ISSUERS[0], SUPPLIERS[0]
LINES = [
    Line("1", "Ramettes A4", Decimal("2"), "C62", Decimal("10"), Decimal("20")),
    Line("2", "Classeurs", Decimal("2"), "C62", Decimal("10"), Decimal("20")),
]


@pytest.fixture
def ordered(workspace: Path, wcli: RunCli) -> Path:
    for number in ("EJ1", "EJ2"):
        order = ubl_order(number, ISSUER, SUPPLIER, LINES, date(2026, 1, 5))
        (workspace / "inbox" / f"{number}.xml").write_bytes(order)
    assert wcli("run").exit_code == 0
    return workspace


def ack(workspace: Path, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((workspace / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))
    return found


def shown(wcli: RunCli, number: str) -> dict[str, Any]:
    result = wcli("orders", "show", number, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def warning_codes(report: dict[str, Any]) -> list[str]:
    return [w["code"] for w in report.get("warnings", [])]


REASON = 'Prix révisé; délai "dépassé", voir courrier'
QUOTED = '"Prix révisé; délai ""dépassé"", voir courrier"'  # as a spreadsheet quotes REASON


def answers(sep: str) -> str:
    """The answers as a spreadsheet writes them: CRLF, quotes only where a field needs them."""
    rows = [("engagement_number", "action", "reason"), ("EJ1", "accept", ""), ("EJ2", "refuse", QUOTED)]
    return "".join(sep.join(row) + "\r\n" for row in rows)


ANSWERS = {
    # Excel "CSV UTF-8 (délimité par des virgules)" in a French Excel: BOM, ';', CRLF
    "excel-utf8.csv": BOM + answers(";").encode(),
    # Excel "CSV (séparateur: point-virgule)": Windows-1252, no BOM, ';', CRLF
    "excel-cp1252.csv": answers(";").encode("cp1252"),
    # LibreOffice or an English Excel: ',' and a quoted field holding commas
    "comma.csv": answers(",").encode(),
    # "Texte (séparateur: tabulation)" saved as UTF-8
    "tab.csv": answers("\t").encode(),
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_an_answers_csv_as_a_spreadsheet_saves_it_is_applied(ordered: Path, wcli: RunCli, name: str) -> None:
    (ordered / "inbox" / name).write_bytes(ANSWERS[name])
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    report = ack(ordered, name)
    assert report["status"] == "IN_INTEGRE", report
    assert [d["outcome"] for d in report["documents"]] == ["INTEGRE", "INTEGRE"]
    assert warning_codes(report) == (["CSV_ENCODING_GUESSED"] if "cp1252" in name else [])
    assert shown(wcli, "EJ1")["status"] == "PRIS_EN_COMPTE"
    refused = shown(wcli, "EJ2")
    assert refused["status"] == "REFUSE"
    assert [a["reason"] for a in refused["answers"]] == [REASON]


def test_a_field_quoted_over_two_lines_is_one_field(ordered: Path, wcli: RunCli) -> None:
    data = BOM + 'engagement_number;action;reason\r\nEJ2;refuse;"Prix révisé\r\nvoir courrier"\r\n'.encode()
    (ordered / "inbox" / "multiline.csv").write_bytes(data)
    assert wcli("run").exit_code == 0
    assert [a["reason"] for a in shown(wcli, "EJ2")["answers"]] == ["Prix révisé\r\nvoir courrier"]


def test_the_encoding_warning_shows_in_validate_too(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(ANSWERS["excel-cp1252.csv"])
    result = run_cli("--workspace", tmp_path, "validate", path, "--format", "json")
    assert "CSV_ENCODING_GUESSED" in result.stdout, result.output + result.stderr
    assert "internal error" not in result.stderr


def test_a_csv_that_is_neither_utf8_nor_windows_1252_is_refused(ordered: Path, wcli: RunCli) -> None:
    (ordered / "inbox" / "garbled.csv").write_bytes(b"engagement_number;action;reason\r\nEJ1;refuse;\x81\x8d\r\n")
    result = wcli("run")
    assert result.exit_code == 1
    report = ack(ordered, "garbled.csv")
    assert report["status"] == "IN_REJETE"
    assert [e["code"] for e in report["errors"]] == ["CSV_INVALID"]
    assert shown(wcli, "EJ1")["status"] == "A_TRAITER"


# -- the invoice-status CSV --------------------------------------------------------------------------


@pytest.fixture
def invoiced(ordered: Path, wcli: RunCli) -> Path:
    (ordered / "inbox" / "answers.csv").write_bytes(b"engagement_number;action;reason\nEJ1;accept;\n")
    assert wcli("run").exit_code == 0
    invoice = ubl_invoice("FA-1", SUPPLIER, ISSUER, LINES, date(2026, 2, 2), engagement="EJ1")
    (ordered / "inbox" / "FA-1.xml").write_bytes(invoice)
    assert wcli("run").exit_code == 0
    return ordered


STATUS_ROW = ("FA-1", SUPPLIER.siret, "Mise en paiement", "16/03/2026", "Réglé; virement n° 12")
STATUSES = {
    "statuts-utf8.csv": BOM
    + 'invoice_number;supplier_id;status;date;comment\r\n{};{};{};{};"{}"\r\n'.format(*STATUS_ROW).encode("utf-8"),
    "statuts-cp1252.csv": 'invoice_number;supplier_id;status;date;comment\r\n{};{};{};{};"{}"\r\n'.format(
        *STATUS_ROW
    ).encode("cp1252"),
    "statuts-comma.csv": 'invoice_number,supplier_id,status,date,comment\r\n{},{},{},{},"{}"\r\n'.format(
        *STATUS_ROW
    ).encode("utf-8"),
    "statuts-tab.csv": 'invoice_number\tsupplier_id\tstatus\tdate\tcomment\r\n{}\t{}\t{}\t{}\t"{}"\r\n'.format(
        *STATUS_ROW
    ).encode("utf-8"),
}


@pytest.mark.parametrize("name", sorted(STATUSES))
def test_a_status_csv_as_a_spreadsheet_saves_it_is_applied(invoiced: Path, wcli: RunCli, name: str) -> None:
    (invoiced / "inbox" / name).write_bytes(STATUSES[name])
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    report = ack(invoiced, name)
    assert report["status"] == "IN_INTEGRE", report
    assert warning_codes(report) == (["CSV_ENCODING_GUESSED"] if "cp1252" in name else [])
    assert [(i["number"], i["status"]) for i in shown(wcli, "EJ1")["invoices"]] == [("FA-1", "MISE_EN_PAIEMENT")]
