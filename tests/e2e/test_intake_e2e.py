"""End-to-end intake of order files through the real CLI (the issue's acceptance scenario).

20 valid UBL orders from two issuers are dropped in ``inbox/`` and ``run`` once; then the
integration reports, the archive, ``orders search`` / ``show`` / ``export``, ``files list`` /
``show``, re-delivery of the same bytes (DUPLICATE), a conflicting new order with an existing
number (ORDER_ALREADY_EXISTS), the ``demo`` command and Order-X intake are checked against
SPEC §1, §2, §6, §7 and §10. Expected amounts and identifiers are read back from the generated
XML with lxml, independently of the product's parsers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import shutil
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from chorus_batch.cli import cli
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, orderx_order, random_lines, ubl_order
from chorus_batch.workspace import HOST, readable_json

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128",
}
ACK_KEYS = {"file", "sha256", "status", "received_at", "processed_at", "documents", "errors"}
ACK_OPTIONAL = {"warnings"}
DOC_KEYS = {"kind", "number", "outcome", "errors"}
ERROR_KEYS = {"code", "message", "line", "xpath"}
ERROR_OPTIONAL = {"document"}  # SPEC §7 lists it; §10 does not
SEARCH_KEYS = [
    "number",
    "issuer_id",
    "issuer_name",
    "supplier_id",
    "supplier_name",
    "status",
    "amount_ht",
    "amount_ttc",
    "currency",
    "created_at",
]
STATUS_CSV_COLUMNS = [
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
]
UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")
ATTACHMENT = ("CCTP annexe technique.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n")
WIDE = {"COLUMNS": "250"}  # rich tables: wide enough that no cell is wrapped or truncated


# -- building the 20 orders ----------------------------------------------------------------------


def twenty_orders() -> list[tuple[str, bytes]]:
    """20 UBL orders, issuers ISSUERS[0] / ISSUERS[1] alternately, every supplier, seeded lines.
    Order 0 embeds an attachment."""
    rng = random.Random(20260105)
    out = []
    for i in range(20):
        number = engagement_number(1000 + i)
        data = ubl_order(
            number,
            ISSUERS[i % 2],
            SUPPLIERS[i % len(SUPPLIERS)],
            random_lines(rng, rng.randint(1, 6)),
            date(2026, 1, 5) + timedelta(days=i),
            delivery_date=date(2026, 2, 5) + timedelta(days=i),
            attachment=ATTACHMENT if i == 0 else None,
        )
        out.append((f"commande-{number}.xml", data))
    return out


def expected_ubl(data: bytes) -> dict[str, Any]:
    """What the store must say about a UBL order, read with lxml."""
    root = etree.fromstring(data)

    def one(path: str) -> str:
        (value,) = root.xpath(path, namespaces=NS)
        return value.strip()

    return {
        "number": one("cbc:ID/text()"),
        "issuer_id": one("cac:BuyerCustomerParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='0009']/text()"),
        "supplier_id": one("cac:SellerSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='0009']/text()"),
        "issuer_name": one("cac:BuyerCustomerParty/cac:Party/cac:PartyName/cbc:Name/text()"),
        "supplier_name": one("cac:SellerSupplierParty/cac:Party/cac:PartyName/cbc:Name/text()"),
        "amount_ht": f"{Decimal(one('cac:AnticipatedMonetaryTotal/cbc:TaxExclusiveAmount/text()')):.2f}",
        "amount_ttc": f"{Decimal(one('cac:AnticipatedMonetaryTotal/cbc:TaxInclusiveAmount/text()')):.2f}",
        "currency": one("cbc:DocumentCurrencyCode/text()"),
        "lines": [
            (
                line.findtext("cbc:ID", namespaces=NS),
                f"{Decimal(line.findtext('cbc:LineExtensionAmount', namespaces=NS)):.2f}",
            )
            for line in root.findall("cac:OrderLine/cac:LineItem", NS)
        ],
    }


def expected_orderx(data: bytes) -> dict[str, Any]:
    root = etree.fromstring(data.removeprefix(b"\xef\xbb\xbf"))
    summ = (
        "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
        "/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    )
    agree = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"

    def one(path: str) -> str:
        (value,) = root.xpath(path, namespaces=NS)
        return value.strip()

    return {
        "number": one("rsm:ExchangedDocument/ram:ID/text()"),
        "issuer_id": one(f"{agree}/ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()"),
        "supplier_id": one(f"{agree}/ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()"),
        "amount_ht": f"{Decimal(one(f'{summ}/ram:TaxBasisTotalAmount/text()')):.2f}",
        "amount_ttc": f"{Decimal(one(f'{summ}/ram:GrandTotalAmount/text()')):.2f}",
    }


# -- helpers -------------------------------------------------------------------------------------


def invoke(*args: object, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def drop(ws: Path, files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        (ws / "inbox" / name).write_bytes(data)


def acks(ws: Path) -> dict[str, dict[str, Any]]:
    """Every integration report, by its file name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((ws / "outbox" / "acks").iterdir())}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def search(ws: Path, *criteria: object) -> list[dict[str, Any]]:
    result = invoke("--workspace", ws, "orders", "search", "--format", "json", *criteria)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def numbers(rows: list[dict[str, Any]]) -> set[str]:
    return {r["number"] for r in rows}


def count_rows(ws: Path, table: str) -> int:
    with sqlite3.connect(ws / "var" / "store.sqlite") as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def assert_error_shape(err: dict[str, Any]) -> None:
    assert ERROR_KEYS <= set(err) <= ERROR_KEYS | ERROR_OPTIONAL, err
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", err["code"]), err
    assert isinstance(err["message"], str) and err["message"]
    assert err["line"] is None or isinstance(err["line"], int)
    assert err["xpath"] is None or isinstance(err["xpath"], str)


def assert_ack_shape(ack: dict[str, Any]) -> None:
    """SPEC §10: the integration report's keys and value domains."""
    assert ACK_KEYS <= set(ack) <= ACK_KEYS | ACK_OPTIONAL, sorted(ack)
    assert ack["status"] in {"IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE", "DUPLICATE", "PARKED"}
    assert re.fullmatch(r"[0-9a-f]{64}", ack["sha256"])
    assert UTC_STAMP.match(ack["received_at"]) and UTC_STAMP.match(ack["processed_at"]), ack
    assert isinstance(ack["documents"], list) and isinstance(ack["errors"], list)
    for doc in ack["documents"]:
        assert set(doc) == DOC_KEYS, doc
        assert doc["kind"] in {
            "order",
            "order_change",
            "order_cancellation",
            "order_response",
            "invoice",
            "credit_note",
            "invoice_status",
        }
        assert doc["outcome"] in {"INTEGRE", "REJETE", "PARKED", "DUPLICATE"}
        for err in doc["errors"]:
            assert_error_shape(err)
    for err in ack["errors"]:
        assert_error_shape(err)


# -- the shared intake workspace -----------------------------------------------------------------


@pytest.fixture(scope="module")
def orders20() -> list[tuple[str, bytes]]:
    return twenty_orders()


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory, orders20: list[tuple[str, bytes]]) -> dict[str, Any]:
    """A workspace into which the 20 orders were run once (read-only for the tests below)."""
    ws = tmp_path_factory.mktemp("intake") / "ws"
    assert invoke("--workspace", ws, "init").exit_code == 0
    drop(ws, orders20)
    result = invoke("--workspace", ws, "run")
    return {"ws": ws, "run": result, "files": dict(orders20)}


def test_run_integrates_all_twenty(intake: dict[str, Any]) -> None:
    result = intake["run"]
    assert result.exit_code == 0, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert "20" in result.stdout


def test_one_ack_per_file_with_spec_shape(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    reports = acks(ws)
    assert sorted(reports) == sorted(f"{name}.json" for name in files)
    for ack_name, ack in reports.items():
        assert_ack_shape(ack)
        name = ack_name.removesuffix(".json")
        assert ack["file"] == name
        assert ack["status"] == "IN_INTEGRE", ack
        assert ack["errors"] == []
        assert ack["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert ack["processed_at"] >= ack["received_at"]
        want = expected_ubl(files[name])
        assert [(d["kind"], d["number"], d["outcome"], d["errors"]) for d in ack["documents"]] == [
            ("order", want["number"], "INTEGRE", [])
        ]


def test_files_archived_by_day_and_inbox_empty(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    assert files_under(ws / "inbox") == []
    assert files_under(ws / "var" / "processing") == []
    assert files_under(ws / "var" / "rejected") == []
    archived = files_under(ws / "var" / "archive")
    assert len(archived) == 20
    reports = acks(ws)
    for path in archived:
        rel = path.relative_to(ws / "var" / "archive").parts
        assert (
            len(rel) == 4
            and re.fullmatch(r"\d{4}", rel[0])
            and re.fullmatch(r"\d{2}", rel[1])
            and re.fullmatch(r"\d{2}", rel[2])
        ), rel
        assert path.read_bytes() == files[path.name], "archived file changed"
        day = reports[f"{path.name}.json"]["processed_at"][:10]
        assert "-".join(rel[:3]) == day, "archived under another day than its processing"


def test_search_json_returns_the_twenty(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    rows = search(ws)
    assert len(rows) == 20
    by_number = {r["number"]: r for r in rows}
    assert len(by_number) == 20
    for data in files.values():
        want = expected_ubl(data)
        row = by_number[want["number"]]
        assert list(row) == SEARCH_KEYS, list(row)
        assert row["status"] == "A_TRAITER"
        for key in ("issuer_id", "supplier_id", "issuer_name", "supplier_name", "amount_ht", "amount_ttc", "currency"):
            assert row[key] == want[key], (key, row)
        assert MONEY.match(row["amount_ht"]) and MONEY.match(row["amount_ttc"])
        assert isinstance(row["amount_ht"], str) and isinstance(row["amount_ttc"], str)
        assert UTC_STAMP.match(row["created_at"]), row["created_at"]
    assert {r["issuer_id"] for r in rows} == {ISSUERS[0].siret, ISSUERS[1].siret}


def test_search_filters(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    wants = [expected_ubl(d) for d in files.values()]
    everything = {w["number"] for w in wants}
    of_issuer0 = {w["number"] for w in wants if w["issuer_id"] == ISSUERS[0].siret}
    of_supplier2 = {w["number"] for w in wants if w["supplier_id"] == SUPPLIERS[2].siret}
    assert len(of_issuer0) == 10 and len(of_supplier2) == 5

    assert numbers(search(ws, "--status", "A_TRAITER")) == everything
    for status in ("PRIS_EN_COMPTE", "REFUSE", "A_RECYCLER", "CLOTURE"):
        assert search(ws, "--status", status) == []

    assert numbers(search(ws, "--issuer", ISSUERS[0].siret)) == of_issuer0
    assert numbers(search(ws, "--issuer", ISSUERS[1].siret)) == everything - of_issuer0
    spaced = " ".join((ISSUERS[0].siret[:3], ISSUERS[0].siret[3:6], ISSUERS[0].siret[6:9], ISSUERS[0].siret[9:]))
    assert numbers(search(ws, "--issuer", spaced)) == of_issuer0
    assert numbers(search(ws, "--issuer", "Saint-Aubin")) == of_issuer0
    assert numbers(search(ws, "--issuer", "saint-aubin")) == of_issuer0, "name search is case-insensitive"
    assert numbers(search(ws, "--issuer", "départemental")) == everything - of_issuer0
    assert search(ws, "--issuer", "Préfecture inconnue") == []
    assert search(ws, "--issuer", SUPPLIERS[0].siret) == [], "a supplier is not an issuer"

    assert numbers(search(ws, "--supplier", SUPPLIERS[2].siret)) == of_supplier2
    assert numbers(search(ws, "--supplier", "Assiette Verte")) == of_supplier2
    assert (
        numbers(search(ws, "--issuer", ISSUERS[0].siret, "--supplier", SUPPLIERS[2].siret)) == of_issuer0 & of_supplier2
    )

    target = wants[7]["number"]
    assert numbers(search(ws, "--number", target)) == {target}
    assert search(ws, "--number", "EJ-DOES-NOT-EXIST") == []
    assert numbers(search(ws, "--number", "EJ2026-*")) == {n for n in everything if n.startswith("EJ2026-")}
    assert numbers(search(ws, "--number", "13*")) == {n for n in everything if n.startswith("13")}

    created = {r["created_at"][:10] for r in search(ws)}
    assert len(created) == 1, "one run, one day"
    (day,) = created
    before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    assert numbers(search(ws, "--created-from", day, "--created-to", day)) == everything
    assert numbers(search(ws, "--created-from", before)) == everything
    assert search(ws, "--created-to", before) == []
    assert search(ws, "--created-from", after) == []


def test_search_created_range_on_distinct_days(intake: dict[str, Any], tmp_path: Path) -> None:
    """Spread the creation dates (in a copy of the store) and check the inclusive date range."""
    ws = tmp_path / "copy"
    shutil.copytree(intake["ws"], ws)
    rows = sorted(search(ws), key=lambda r: r["number"])
    with sqlite3.connect(ws / "var" / "store.sqlite") as conn:
        for k, row in enumerate(rows):
            stamp = f"2026-03-{1 + k:02d}T23:59:59Z"
            conn.execute("UPDATE engagements SET created_at = ? WHERE number = ?", (stamp, row["number"]))
    by_day = {f"2026-03-{1 + k:02d}": row["number"] for k, row in enumerate(rows)}
    assert numbers(search(ws, "--created-from", "2026-03-05", "--created-to", "2026-03-07")) == {
        by_day["2026-03-05"],
        by_day["2026-03-06"],
        by_day["2026-03-07"],
    }
    assert numbers(search(ws, "--created-to", "2026-03-01")) == {by_day["2026-03-01"]}
    assert numbers(search(ws, "--created-from", "2026-03-20")) == {by_day["2026-03-20"]}
    bad = invoke("--workspace", ws, "orders", "search", "--created-from", "2026-13-45")
    assert bad.exit_code == 2 and "Traceback" not in bad.output + bad.stderr


def test_search_csv_and_table(intake: dict[str, Any]) -> None:
    ws = intake["ws"]
    as_json = {r["number"]: r for r in search(ws)}
    result = invoke("--workspace", ws, "orders", "search", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == SEARCH_KEYS
    assert len(rows) == 21
    for row in rows[1:]:
        record = dict(zip(SEARCH_KEYS, row, strict=True))
        assert record == {k: ("" if v is None else str(v)) for k, v in as_json[record["number"]].items()}

    table = invoke("--workspace", ws, "orders", "search", env=WIDE)
    assert table.exit_code == 0, table.output + table.stderr
    assert "20 engagement(s)" in table.stdout
    for number, row in as_json.items():
        assert number in table.stdout
        assert row["amount_ttc"] in table.stdout


def test_orders_show_json(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    name, data = next(iter(files.items()))
    want = expected_ubl(data)
    result = invoke("--workspace", ws, "orders", "show", want["number"], "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    detail = json.loads(result.stdout)
    assert set(SEARCH_KEYS) | {"lines", "versions", "history", "invoices", "totals"} <= set(detail)
    summary = next(r for r in search(ws) if r["number"] == want["number"])
    assert {k: detail[k] for k in SEARCH_KEYS} == summary
    assert [(ln["line_id"], ln["net_amount"]) for ln in detail["lines"]] == want["lines"]
    assert len(detail["versions"]) == 1 and detail["versions"][0]["version"] == 1
    assert detail["versions"][0]["amount_ttc"] == want["amount_ttc"]
    assert len(detail["history"]) == 1
    step = detail["history"][0]
    assert {"at", "from", "to", "event", "actor", "source"} <= set(step)
    assert (step["from"], step["to"], step["actor"], step["source"]) == (None, "A_TRAITER", "issuer", name)
    assert UTC_STAMP.match(step["at"])
    assert detail["invoices"] == []
    assert set(detail["totals"]) == {
        "currency",
        "invoiced_ttc",
        "credit_notes_ttc",
        "paid_ttc",
        "remaining_ttc",
        "match_status",
    }
    assert detail["totals"].pop("currency") == detail["currency"]
    assert detail["totals"]["remaining_ttc"] == want["amount_ttc"]
    assert detail["totals"].pop("match_status") == "NOT_INVOICED"
    assert all(MONEY.match(v) for v in detail["totals"].values())
    embedded = [a for a in detail.get("attachments", []) if a.get("embedded")]
    assert [a["filename"] for a in embedded] == [ATTACHMENT[0]]


def test_orders_show_table_and_unknown(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    want = expected_ubl(next(iter(files.values())))
    result = invoke("--workspace", ws, "orders", "show", want["number"], env=WIDE)
    assert result.exit_code == 0, result.output + result.stderr
    for text in (want["number"], "A_TRAITER", want["amount_ttc"], ISSUERS[0].name):
        assert text in result.stdout, text

    missing = invoke("--workspace", ws, "orders", "show", "EJ-NOPE-404")
    assert missing.exit_code == 1
    assert "ORDER_NOT_FOUND" in missing.output + missing.stderr
    assert "Traceback" not in missing.output + missing.stderr
    missing_json = invoke("--workspace", ws, "orders", "show", "EJ-NOPE-404", "--format", "json")
    assert missing_json.exit_code == 1 and "ORDER_NOT_FOUND" in missing_json.stderr


def test_orders_export_original_and_attachment(intake: dict[str, Any], tmp_path: Path) -> None:
    ws, files = intake["ws"], intake["files"]
    _name, data = next(iter(files.items()))
    number = expected_ubl(data)["number"]
    out = tmp_path / "export"
    result = invoke("--workspace", ws, "orders", "export", number, "-o", out)
    assert result.exit_code == 0, result.output + result.stderr
    written = sorted(p for p in out.iterdir() if p.is_file())
    assert len(written) == 2, written
    originals = [p for p in written if p.read_bytes() == data]
    attachments = [p for p in written if p.read_bytes() == ATTACHMENT[2]]
    assert len(originals) == 1 and originals[0].suffix == ".xml"
    assert len(attachments) == 1 and attachments[0].name.endswith(".pdf")
    for path in written:
        assert str(path) in result.stdout

    missing = invoke("--workspace", ws, "orders", "export", "EJ-NOPE-404", "-o", tmp_path / "none")
    assert missing.exit_code == 1 and "ORDER_NOT_FOUND" in missing.stderr


def test_export_attachment_name_cannot_escape(wcli: Any, workspace: Path, tmp_path: Path) -> None:
    """An attachment named ``../../x`` by the sender is written inside the -o folder."""
    content = b"hostile attachment \x00\x01"
    data = ubl_order(
        "EJ-ATT-1",
        ISSUERS[0],
        SUPPLIERS[0],
        random_lines(random.Random(3), 1),
        date(2026, 1, 5),
        attachment=("../../../escaped.txt", "text/plain", content),
    )
    drop(workspace, [("att.xml", data)])
    assert wcli("run").exit_code == 0
    out = tmp_path / "deep" / "out"
    result = wcli("orders", "export", "EJ-ATT-1", "-o", out)
    assert result.exit_code == 0, result.output + result.stderr
    inside = [p for p in out.iterdir() if p.read_bytes() == content]
    assert len(inside) == 1
    for line in result.stdout.splitlines():
        assert Path(line).resolve().parent == out.resolve(), line
    for up in range(1, 5):
        assert not (out / ("../" * up + "escaped.txt")).resolve().exists()


def test_files_list_and_show(intake: dict[str, Any]) -> None:
    ws, files = intake["ws"], intake["files"]
    result = invoke("--workspace", ws, "files", "list", "--format", "json")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert len(listed) == 20
    for row in listed:
        assert set(row) == {"file", "status", "kinds", "errors", "waiting"}, row
        assert row["status"] == "IN_INTEGRE" and row["kinds"] == ["order"] and row["errors"] == []
    assert {r["file"] for r in listed} == set(files)

    table = invoke("--workspace", ws, "files", "list", env=WIDE)
    assert table.exit_code == 0 and "20 file(s)" in table.stdout

    name = sorted(files)[3]
    shown = invoke("--workspace", ws, "files", "show", name)
    assert shown.exit_code == 0, shown.output + shown.stderr
    assert name in shown.stdout and "IN_INTEGRE" in shown.stdout
    assert hashlib.sha256(files[name]).hexdigest() in shown.stdout
    shown_json = json.loads(invoke("--workspace", ws, "files", "show", name, "--format", "json").stdout)
    assert len(shown_json) == 1 and shown_json[0]["file"] == name and shown_json[0]["status"] == "IN_INTEGRE"
    assert shown_json[0]["sha256"] == hashlib.sha256(files[name]).hexdigest()
    assert shown_json[0]["stored_as"].startswith("var/archive/")

    missing = invoke("--workspace", ws, "files", "show", "never-received.xml")
    assert missing.exit_code == 1 and "FILE_NOT_FOUND" in missing.stderr
    assert "Traceback" not in missing.output + missing.stderr


# -- re-delivery and conflicts (own workspaces) --------------------------------------------------


def test_same_files_again_are_duplicates(wcli: Any, workspace: Path, orders20: list[tuple[str, bytes]]) -> None:
    drop(workspace, orders20)
    assert wcli("run").exit_code == 0
    before = search(workspace)
    counts = {
        t: count_rows(workspace, t)
        for t in ("engagements", "transitions", "engagement_versions", "engagement_lines", "blobs")
    }
    assert counts["engagements"] == 20 and counts["transitions"] == 20 and counts["engagement_versions"] == 20

    drop(workspace, orders20)
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    reports = acks(workspace)
    assert len(reports) == 40
    for name, data in orders20:
        assert reports[f"{name}.json"]["status"] == "IN_INTEGRE"
        dup = reports[f"{name}.1.json"]
        assert_ack_shape(dup)
        assert dup["file"] == name and dup["status"] == "DUPLICATE"
        assert dup["sha256"] == hashlib.sha256(data).hexdigest()
        assert [e["code"] for e in dup["errors"]] == ["DUPLICATE_DOCUMENT"]
        assert all(d["outcome"] == "DUPLICATE" for d in dup["documents"])
    assert search(workspace) == before
    assert {t: count_rows(workspace, t) for t in counts} == counts
    assert files_under(workspace / "inbox") == [] and files_under(workspace / "var" / "processing") == []
    assert files_under(workspace / "var" / "rejected") == []
    assert len(files_under(workspace / "var" / "archive")) == 40, "a duplicate is archived, never lost"
    listed = json.loads(wcli("files", "list", "--format", "json").stdout)
    assert sorted(r["status"] for r in listed) == ["DUPLICATE"] * 20 + ["IN_INTEGRE"] * 20


def test_same_number_other_content_is_rejected(wcli: Any, workspace: Path) -> None:
    rng = random.Random(7)
    first = ubl_order("EJ2026-777777", ISSUERS[0], SUPPLIERS[1], random_lines(rng, 2), date(2026, 1, 5))
    drop(workspace, [("first.xml", first)])
    assert wcli("run").exit_code == 0
    before = search(workspace)
    show_before = json.loads(wcli("orders", "show", "EJ2026-777777", "--format", "json").stdout)
    counts = {t: count_rows(workspace, t) for t in ("transitions", "engagement_versions", "engagement_lines", "blobs")}

    other = ubl_order("EJ2026-777777", ISSUERS[0], SUPPLIERS[1], random_lines(rng, 4), date(2026, 1, 6))
    assert other != first
    drop(workspace, [("second.xml", other)])
    result = wcli("run")
    assert result.exit_code == 1
    ack = acks(workspace)["second.xml.json"]
    assert_ack_shape(ack)
    assert ack["status"] == "IN_REJETE"
    assert [e["code"] for e in ack["errors"]] == ["ORDER_ALREADY_EXISTS"]
    assert [(d["number"], d["outcome"]) for d in ack["documents"]] == [("EJ2026-777777", "REJETE")]
    assert (workspace / "var" / "rejected" / "second.xml").read_bytes() == other
    assert (workspace / "var" / "rejected" / "second.xml.errors.json").is_file()
    # the report's layout (docs/operations.md): a key per line, each finding on one line of its own
    text = (workspace / "outbox" / "acks" / "second.xml.json").read_text(encoding="utf-8")
    finding = next(line for line in text.splitlines() if "ORDER_ALREADY_EXISTS" in line and '"document"' in line)
    assert json.loads(finding.strip().rstrip(",")) == ack["errors"][0]
    assert '\n  "status": "IN_REJETE",\n' in text and text.endswith("}\n")
    assert search(workspace) == before
    assert json.loads(wcli("orders", "show", "EJ2026-777777", "--format", "json").stdout) == show_before
    assert {t: count_rows(workspace, t) for t in counts} == counts

    # the same number from ANOTHER issuer is another engagement
    third = ubl_order("EJ2026-777777", ISSUERS[1], SUPPLIERS[1], random_lines(rng, 1), date(2026, 1, 7))
    drop(workspace, [("third.xml", third)])
    assert wcli("run").exit_code == 0
    assert len(search(workspace, "--number", "EJ2026-777777")) == 2
    ambiguous = wcli("orders", "show", "EJ2026-777777")
    assert ambiguous.exit_code == 1 and "ORDER_AMBIGUOUS" in ambiguous.stderr
    picked = wcli("orders", "show", "EJ2026-777777", "--issuer", ISSUERS[1].siret, "--format", "json")
    assert picked.exit_code == 0 and json.loads(picked.stdout)["issuer_id"] == ISSUERS[1].siret


# -- demo and Order-X ----------------------------------------------------------------------------


def test_demo_on_fresh_workspace(run_cli: Any, tmp_path: Path) -> None:
    ws = tmp_path / "demo"
    result = run_cli("--workspace", ws, "demo")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    reports = acks(ws)
    assert reports, "no integration reports"
    for ack in reports.values():
        assert_ack_shape(ack)
    integrated = [a for a in reports.values() if a["status"] == "IN_INTEGRE"]
    orders = [a for a in integrated if [d["kind"] for d in a["documents"]] == ["order"]]
    assert orders
    status_csv = ws / "outbox" / "reports" / "status.csv"
    raw = status_csv.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    assert rows[0] == STATUS_CSV_COLUMNS
    body = [dict(zip(STATUS_CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert len(body) == len(orders)
    assert [r["engagement_number"] for r in body] == sorted(r["engagement_number"] for r in body)
    for r in body:
        assert MONEY.match(r["amount_ht"]) and MONEY.match(r["amount_ttc"]), r
        assert r["days_in_status"] == "0"
    # the second wave answered, changed and cancelled some of the orders
    assert {r["status"] for r in body} == {"A_TRAITER", "PRIS_EN_COMPTE", "REFUSE", "CLOTURE"}
    assert len(list((ws / "outbox" / "responses").iterdir())) == 4
    assert files_under(ws / "inbox") == []


def _bom_comment_no_declaration(doc: bytes) -> bytes:
    decl, _, rest = doc.partition(b"?>\n")
    assert decl.startswith(b"<?xml")
    return b"\xef\xbb\xbf<!-- Order-X saved like the official samples -->\n" + rest


def test_orderx_profiles_and_bom_variant(wcli: Any, workspace: Path) -> None:
    rng = random.Random(42)
    files = []
    for k, profile in enumerate(("basic", "comfort", "extended")):
        number = f"OX-{profile.upper()}-{k}"
        files.append(
            (
                f"ox-{profile}.xml",
                orderx_order(number, ISSUERS[2], SUPPLIERS[k], random_lines(rng, 3), date(2026, 2, 1), profile=profile),
            )
        )
    bom = orderx_order(
        "OX-BOM-9",
        ISSUERS[3],
        SUPPLIERS[3],
        random_lines(rng, 2),
        date(2026, 2, 2),
        profile="comfort",
        note="Commande « spéciale »",
    )
    files.append(("ox-bom.xml", _bom_comment_no_declaration(bom)))
    drop(workspace, files)
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    reports = acks(workspace)
    rows = {r["number"]: r for r in search(workspace)}
    for name, data in files:
        ack = reports[f"{name}.json"]
        assert ack["status"] == "IN_INTEGRE", ack
        want = expected_orderx(data)
        assert [d["number"] for d in ack["documents"]] == [want["number"]]
        row = rows[want["number"]]
        assert (row["issuer_id"], row["supplier_id"], row["amount_ht"], row["amount_ttc"], row["status"]) == (
            want["issuer_id"],
            want["supplier_id"],
            want["amount_ht"],
            want["amount_ttc"],
            "A_TRAITER",
        )
    export = wcli("orders", "export", "OX-BOM-9", "-o", workspace.parent / "ox-export")
    assert export.exit_code == 0
    (written,) = [p for p in (workspace.parent / "ox-export").iterdir()]
    assert written.read_bytes() == files[-1][1], "the original bytes (BOM and comment included) are kept"


def test_unrouted_structure_goes_to_a_recycler(workspace: Path, wcli: Any) -> None:
    """SPEC §3/§4: an order to a recipient the workspace does not serve is stored as A_RECYCLER."""
    (workspace / "chorus-batch.toml").write_text(f'[routing]\nserved = ["{SUPPLIERS[0].siret}"]\n', encoding="utf-8")
    rng = random.Random(5)
    served = ubl_order("EJ-SERVED", ISSUERS[0], SUPPLIERS[0], random_lines(rng, 1), date(2026, 1, 5))
    unserved = ubl_order("EJ-UNSERVED", ISSUERS[0], SUPPLIERS[1], random_lines(rng, 1), date(2026, 1, 5))
    drop(workspace, [("served.xml", served), ("unserved.xml", unserved)])
    assert wcli("run").exit_code == 0
    status = {r["number"]: r["status"] for r in search(workspace)}
    assert status == {"EJ-SERVED": "A_TRAITER", "EJ-UNSERVED": "A_RECYCLER"}


def test_number_wildcard_treats_other_characters_literally(wcli: Any, workspace: Path) -> None:
    """``--number`` has one wildcard, ``*``. Engagement numbers may contain ``_`` or ``%``
    (``EJ_2026_1``): those must match themselves, not any character (SQL LIKE semantics)."""
    rng = random.Random(11)
    made = ["EJ_1", "EJX1", "EJ%2", "EJ-LONG-2"]
    drop(
        workspace,
        [
            (f"o{k}.xml", ubl_order(n, ISSUERS[0], SUPPLIERS[0], random_lines(rng, 1), date(2026, 1, 5)))
            for k, n in enumerate(made)
        ],
    )
    assert wcli("run").exit_code == 0
    assert numbers(search(workspace)) == set(made)
    assert numbers(search(workspace, "--number", "EJ*")) == set(made)
    assert numbers(search(workspace, "--number", "EJ_*")) == {"EJ_1"}
    assert numbers(search(workspace, "--number", "EJ%*")) == {"EJ%2"}
    assert numbers(search(workspace, "--number", "EJ_1")) == {"EJ_1"}


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16", "windows-1252"])
def test_declared_non_utf8_encodings_are_integrated(wcli: Any, workspace: Path, encoding: str) -> None:
    """A document in another encoding that it declares correctly is well-formed XML (SPEC §7 only
    rejects bytes that do not match their encoding); names come out right in the store."""
    data = ubl_order("EJ-ENC-1", ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(1), 2), date(2026, 1, 5))
    text = data.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)
    drop(workspace, [("enc.xml", text.encode(encoding))])
    result = wcli("run")
    assert result.exit_code == 0, acks(workspace)
    (row,) = search(workspace)
    assert (row["number"], row["issuer_name"], row["supplier_name"]) == ("EJ-ENC-1", ISSUERS[0].name, SUPPLIERS[0].name)


def test_same_name_twice_keeps_both_files(wcli: Any, workspace: Path) -> None:
    """Two different files delivered under the same name: both archived, two reports, no overwrite."""
    rng = random.Random(12)
    first = ubl_order("EJ-NAME-1", ISSUERS[0], SUPPLIERS[0], random_lines(rng, 1), date(2026, 1, 5))
    second = ubl_order("EJ-NAME-2", ISSUERS[0], SUPPLIERS[0], random_lines(rng, 1), date(2026, 1, 5))
    drop(workspace, [("order.xml", first)])
    assert wcli("run").exit_code == 0
    drop(workspace, [("order.xml", second)])
    assert wcli("run").exit_code == 0
    reports = acks(workspace)
    assert set(reports) == {"order.xml.json", "order.xml.1.json"}
    assert [d["number"] for d in reports["order.xml.json"]["documents"]] == ["EJ-NAME-1"]
    assert [d["number"] for d in reports["order.xml.1.json"]["documents"]] == ["EJ-NAME-2"]
    archived = sorted(p.read_bytes() for p in files_under(workspace / "var" / "archive"))
    assert archived == sorted([first, second])
    assert numbers(search(workspace)) == {"EJ-NAME-1", "EJ-NAME-2"}
    shown = json.loads(wcli("files", "show", "order.xml", "--format", "json").stdout)
    assert [r["status"] for r in shown] == ["IN_INTEGRE", "IN_INTEGRE"]
    assert len({r["stored_as"] for r in shown}) == 2


def test_name_search_treats_percent_and_underscore_literally(intake: dict[str, Any]) -> None:
    """``--issuer`` / ``--supplier`` match a part of the name; ``%`` and ``_`` are not in any
    name here, so they must match nothing (not act as SQL LIKE wildcards)."""
    ws = intake["ws"]
    for option in ("--issuer", "--supplier"):
        for text in ("%", "_", "Saint_Aubin", "Conseil%Indre"):
            assert search(ws, option, text) == [], (option, text)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_report_layout_reads_back_as_the_same_json(value: Any) -> None:
    text = readable_json(value)
    assert json.loads(text) == value
    for line in text.split("\n"):  # a line opens or closes a container, or is a whole member
        member = line.strip().rstrip(",")
        if member in ("}", "]") or (member.endswith(("{", "[")) and not member.endswith(('"{', '"['))):
            continue
        assert _parses(member) or _parses("{" + member + "}"), line


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_nothing_empty_is_left_in_var_processing(workspace: Path, wcli: Any) -> None:
    # a dead worker's empty folders (a killed run of another PID) go too; a live one's stay
    dead = workspace / "var" / "processing" / f"{HOST}.999999999" / "_"  # no such PID
    dead.mkdir(parents=True)
    rng = random.Random(3)
    inbox = workspace / "inbox"
    (inbox / "partner-a").mkdir()
    for i, folder in enumerate((inbox, inbox / "partner-a")):
        lines = random_lines(rng, 2)
        (folder / f"o{i}.xml").write_bytes(
            ubl_order(engagement_number(i), ISSUERS[0], SUPPLIERS[0], lines, date(2026, 1, 5))
        )
    assert wcli("run").exit_code == 0
    assert list((workspace / "var" / "processing").iterdir()) == []


def test_run_help_names_every_exit_code(run_cli: Any) -> None:
    text = " ".join(run_cli("run", "--help").stdout.split())
    for said in ("Exit code 0", "1 when", "2 on", "3 when another process holds the workspace", "128 +"):
        assert said in text, text
