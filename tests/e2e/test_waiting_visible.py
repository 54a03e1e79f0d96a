"""Waiting documents are visible, and ``run`` says what happened (issue 17): a CSV row for an
unknown engagement is parked, its file listed under ``files list --status PARKED``, ``files show``
and the integration report say what it waits for and until when, ``run`` prints a line for it,
``files waiting`` lists everything that waits; ``run`` prints one line per rejected row of a
partly integrated file and per invoice anomaly, ``-v`` adds the messages, ``-q`` silences all."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, responses_csv, ubl_order, ubl_order_response
from chorus_batch.demo.invoices import ubl_invoice

RunCli = Callable[..., Result]
LINES = [Line("1", "Ramettes A4", Decimal("2"), "C62", Decimal("10"), Decimal("20"))]
PARK_DAYS = 12


@pytest.fixture
def ordered(workspace: Path, wcli: RunCli) -> Path:
    """A workspace with ``park_days = 12`` and the order EJ1 of ISSUERS[0] integrated."""
    config = workspace / "chorus-batch.toml"
    config.write_text(f"park_days = {PARK_DAYS}\n", encoding="utf-8")
    (workspace / "inbox" / "order.xml").write_bytes(ubl_order("EJ1", ISSUERS[0], SUPPLIERS[0], LINES, date(2026, 1, 5)))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    return workspace


def ack(ws: Path, name: str) -> dict[str, object]:
    found: dict[str, object] = json.loads((ws / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))
    return found


def deadline(processed_at: str) -> str:
    parked = datetime.fromisoformat(processed_at.replace("Z", "+00:00")).astimezone(UTC)
    return (parked + timedelta(days=PARK_DAYS)).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def test_a_parked_row_is_listed_shown_reported_and_printed(ordered: Path, wcli: RunCli) -> None:
    (ordered / "inbox" / "answers.csv").write_bytes(responses_csv([("EJ1", "accept", ""), ("EJ9", "accept", "")]))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    report = ack(ordered, "answers.csv")
    until = deadline(str(report["processed_at"]))
    assert result.stdout.splitlines() == [
        "1 file(s): 1 IN_INTEGRE",
        f"  parked answers.csv document 2: order_response waits for order EJ9 until {until}",
    ]
    # the report: the parked row says what it waits for and until when; the other keys as before
    assert report["status"] == "IN_INTEGRE"
    documents = report["documents"]
    assert isinstance(documents, list)
    assert documents[0] == {"kind": "order_response", "number": "EJ1", "outcome": "INTEGRE", "errors": []}
    assert documents[1] == {
        "kind": "order_response",
        "number": "EJ9",
        "outcome": "PARKED",
        "errors": [],
        "waiting": {"for": "order", "number": "EJ9", "issuer": None, "issuer_name": None, "until": until},
    }
    # files list --status PARKED: the IN_INTEGRE file that holds a waiting row
    listed = json.loads(wcli("files", "list", "--status", "PARKED", "--format", "json").stdout)
    assert [(f["file"], f["status"], f["waiting"]) for f in listed] == [("answers.csv", "IN_INTEGRE", 1)]
    everything = json.loads(wcli("files", "list", "--format", "json").stdout)
    assert [(f["file"], f["waiting"]) for f in everything] == [("order.xml", 0), ("answers.csv", 1)]
    # files show, text and JSON
    shown = wcli("files", "show", "answers.csv")
    assert shown.exit_code == 0, shown.output + shown.stderr
    assert f"  waiting: document 2 (order_response) waits for order EJ9 until {until}" in shown.stdout.splitlines()
    detail = json.loads(wcli("files", "show", "answers.csv", "--format", "json").stdout)
    assert detail[0]["waiting_documents"] == [
        {
            "file": "answers.csv",
            "document": 2,
            "kind": "order_response",
            "waits_for": "order",
            "number": "EJ9",
            "issuer": None,
            "issuer_name": None,
            "parked_at": report["processed_at"],
            "until": until,
        }
    ]


def test_files_waiting_lists_everything_that_waits_and_forgets_what_was_concluded(ordered: Path, wcli: RunCli) -> None:
    issuer = ISSUERS[1]
    inbox = ordered / "inbox"
    (inbox / "answers.csv").write_bytes(responses_csv([("EJ1", "accept", ""), ("EJ9", "accept", "")]))
    (inbox / "reponse-EJ8.xml").write_bytes(ubl_order_response("EJ8", issuer, SUPPLIERS[0], "AP"))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "1 file(s)" not in result.stdout and "2 file(s): 1 IN_INTEGRE, 1 PARKED" in result.stdout
    assert (
        f"  parked reponse-EJ8.xml: order_response waits for order EJ8 of issuer {issuer.siret} ({issuer.name})"
        in result.stdout
    )

    as_json = json.loads(wcli("files", "waiting", "--format", "json").stdout)
    assert [(d["file"], d["document"], d["waits_for"], d["number"], d["issuer"]) for d in as_json] == [
        ("answers.csv", 2, "order", "EJ9", None),
        ("reponse-EJ8.xml", 1, "order", "EJ8", issuer.siret),
    ]
    assert as_json[1]["issuer_name"] == issuer.name
    assert all(d["until"] == deadline(d["parked_at"]) for d in as_json)
    as_csv = list(csv.DictReader(io.StringIO(wcli("files", "waiting", "--format", "csv").stdout)))
    assert [{k: v or None for k, v in row.items()} for row in as_csv] == [
        {k: None if v is None else str(v) for k, v in d.items()} for d in as_json
    ]
    table = wcli("files", "waiting", env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "2 document(s) waiting" in table.stdout and "reponse-EJ8.xml" in table.stdout

    # the order EJ8 arrives: its answer is applied, it waits no more, its file is no longer PARKED
    (inbox / "order-EJ8.xml").write_bytes(ubl_order("EJ8", issuer, SUPPLIERS[0], LINES, date(2026, 1, 6)))
    assert wcli("run").exit_code == 0
    assert [d["number"] for d in json.loads(wcli("files", "waiting", "--format", "json").stdout)] == ["EJ9"]
    listed = json.loads(wcli("files", "list", "--status", "PARKED", "--format", "json").stdout)
    assert [f["file"] for f in listed] == ["answers.csv"]
    shown = json.loads(wcli("files", "show", "reponse-EJ8.xml", "--format", "json").stdout)
    assert shown[0]["status"] == "IN_INTEGRE" and shown[0]["waiting_documents"] == []


def test_files_waiting_with_nothing_waiting(ordered: Path, wcli: RunCli) -> None:
    assert json.loads(wcli("files", "waiting", "--format", "json").stdout) == []
    assert wcli("files", "waiting", "--format", "csv").stdout.splitlines() == [
        "file,document,kind,waits_for,number,issuer,issuer_name,parked_at,until"
    ]
    assert "0 document(s) waiting" in wcli("files", "waiting").stdout


def test_a_name_with_markup_is_shown_as_it_is(ordered: Path, wcli: RunCli) -> None:
    name = "[red]x[bogus]y.csv"
    (ordered / "inbox" / name).write_bytes(responses_csv([("EJ9", "accept", "")]))
    assert wcli("run").exit_code == 0
    table = wcli("files", "waiting", env={"COLUMNS": "250"})
    assert table.exit_code == 0 and name in table.stdout, table.stdout + table.stderr
    listed = wcli("files", "list", "--status", "PARKED", env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and name in listed.stdout, listed.stdout + listed.stderr


def test_run_prints_rejected_rows_and_invoice_anomalies(ordered: Path, wcli: RunCli) -> None:
    inbox = ordered / "inbox"
    (inbox / "answers.csv").write_bytes(responses_csv([("EJ1", "refuse", ""), ("EJ1", "accept", "")]))
    # from another supplier than the order's: SELLER_MISMATCH
    invoice = ubl_invoice("FA-1", SUPPLIERS[1], ISSUERS[0], LINES, date(2026, 2, 2), engagement="EJ1")
    (inbox / "facture.xml").write_bytes(invoice)
    (inbox / "broken.xml").write_bytes(b"<Order><unclosed>")
    result = wcli("run")
    assert result.exit_code == 1, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "3 file(s): 1 IN_INTEGRE, 1 IN_INTEGRE_PARTIEL, 1 IN_REJETE"
    assert sorted(lines[1:]) == [  # in the order the files were processed
        "  anomaly facture.xml: SELLER_MISMATCH (invoice FA-1, engagement EJ1)",
        "  rejected answers.csv document 1: REASON_REQUIRED (engagement EJ1)",
        "  rejected broken.xml: XML_MALFORMED",
    ]
    assert result.stderr == ""


def test_v_adds_the_messages_and_q_silences(ordered: Path, wcli: RunCli) -> None:
    inbox = ordered / "inbox"
    (inbox / "answers.csv").write_bytes(responses_csv([("EJ1", "refuse", ""), ("EJ1", "accept", "")]))
    verbose = wcli("-v", "run")
    assert verbose.exit_code == 1
    lines = verbose.stdout.splitlines()
    at = lines.index("  rejected answers.csv document 1: REASON_REQUIRED (engagement EJ1)")
    assert lines[at + 1].startswith("      REASON_REQUIRED: refusal of engagement EJ1 without a reason")
    assert "  warning answers.csv: ALREADY_IN_STATE: engagement EJ1 is already PRIS_EN_COMPTE" not in lines
    (inbox / "again.csv").write_bytes(responses_csv([("EJ1", "accept", "")]))
    again = wcli("-v", "run")
    assert again.exit_code == 0
    assert "  warning again.csv: ALREADY_IN_STATE: engagement EJ1 is already PRIS_EN_COMPTE; nothing changed" in (
        again.stdout.splitlines()
    )
    (inbox / "again2.csv").write_bytes(responses_csv([("EJ1", "accept", "")]) + b"\n")
    plain = wcli("run")
    assert plain.exit_code == 0 and plain.stdout.splitlines() == ["1 file(s): 1 IN_INTEGRE"]  # without -v: none

    (inbox / "later.csv").write_bytes(responses_csv([("EJ1", "refuse", ""), ("EJ7", "accept", "")]))
    (inbox / "facture.xml").write_bytes(
        ubl_invoice("FA-2", SUPPLIERS[1], ISSUERS[0], LINES, date(2026, 2, 2), engagement="EJ1")
    )
    quiet = wcli("-q", "run")
    assert quiet.exit_code == 1
    assert quiet.stdout == "" and quiet.stderr == ""
    assert ack(ordered, "later.csv")["status"] == "IN_INTEGRE_PARTIEL"  # processed all the same


@pytest.mark.parametrize("stored", [None, "not json", '{"documents": "no list"}', '{"documents": []}'])
def test_a_report_that_says_nothing_leaves_the_issuer_unknown(ordered: Path, wcli: RunCli, stored: str | None) -> None:
    """The issuer a waiting document names is read from its file's stored report: a report
    missing, unreadable or without that document (a store older than the ``waiting`` key) gives
    ``null``, never an error."""
    (ordered / "inbox" / "reponse-EJ8.xml").write_bytes(ubl_order_response("EJ8", ISSUERS[1], SUPPLIERS[0], "AP"))
    assert wcli("run").exit_code == 0
    with sqlite3.connect(ordered / "var" / "store.sqlite") as conn:
        conn.execute("UPDATE received_files SET report = ? WHERE name = 'reponse-EJ8.xml'", (stored,))
    result = wcli("files", "waiting", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    [found] = json.loads(result.stdout)
    assert (found["number"], found["issuer"], found["issuer_name"]) == ("EJ8", None, None)
    shown = wcli("files", "show", "reponse-EJ8.xml")
    assert shown.exit_code == 0 and "waits for order EJ8 until " in shown.stdout, shown.output + shown.stderr


def test_an_invoice_status_waits_for_its_invoice(ordered: Path, wcli: RunCli) -> None:
    text = "invoice_number;supplier_id;status;date\nFA-404;;MISE_EN_PAIEMENT;2026-03-01\n"
    (ordered / "inbox" / "statuts.csv").write_text(text, encoding="utf-8")
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    until = deadline(str(ack(ordered, "statuts.csv")["processed_at"]))
    assert f"  parked statuts.csv: invoice_status waits for invoice FA-404 until {until}" in result.stdout
    documents = ack(ordered, "statuts.csv")["documents"]
    assert isinstance(documents, list)
    assert documents[0]["waiting"] == {
        "for": "invoice",
        "number": "FA-404",
        "issuer": None,
        "issuer_name": None,
        "until": until,
    }
    [found] = json.loads(wcli("files", "waiting", "--format", "json").stdout)
    assert (found["kind"], found["waits_for"], found["number"], found["until"]) == (
        "invoice_status",
        "invoice",
        "FA-404",
        until,
    )
    listed = json.loads(wcli("files", "list", "--status", "PARKED", "--format", "json").stdout)
    assert [(f["file"], f["status"]) for f in listed] == [("statuts.csv", "PARKED")]


def test_the_store_keeps_each_file_s_report_as_written(ordered: Path, wcli: RunCli) -> None:
    """A file's record is written with the report it gets when its documents are integrated as
    read, and written again when it ends otherwise (a row parked or refused, an anomaly): the
    store's report (which recovery writes again after a crash) is the file's, whatever its end."""
    inbox = ordered / "inbox"
    (inbox / "order2.xml").write_bytes(ubl_order("EJ2", ISSUERS[0], SUPPLIERS[0], LINES, date(2026, 1, 6)))
    (inbox / "answers.csv").write_bytes(responses_csv([("EJ1", "refuse", ""), ("EJ9", "accept", "")]))
    invoice = ubl_invoice("FA-1", SUPPLIERS[1], ISSUERS[0], LINES, date(2026, 2, 2), engagement="EJ1")
    (inbox / "facture.xml").write_bytes(invoice)
    assert wcli("run").exit_code == 1
    with sqlite3.connect(ordered / "var" / "store.sqlite") as conn:
        stored = dict(conn.execute("select name, report from received_files"))
    assert set(stored) == {"order.xml", "order2.xml", "answers.csv", "facture.xml"}
    for name, text in stored.items():
        assert json.loads(text) == ack(ordered, name), name
    answers = json.loads(stored["answers.csv"])
    assert answers["status"] == "IN_INTEGRE_PARTIEL"
    assert [d["outcome"] for d in answers["documents"]] == ["REJETE", "PARKED"]
    assert ack(ordered, "facture.xml")["warnings"]
