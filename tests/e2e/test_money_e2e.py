"""Money that adds up, through the real CLI (issue 16): currency, parties, exact sums.

* An invoice in another currency than its engagement's is kept and flagged, left out of the
  engagement's totals, and its payment never closes it with ``close_when_paid`` (a status by
  CPPStatut or by the operator CSV).
* An invoice whose seller is not the engagement's supplier, or whose buyer is not its issuer,
  is flagged and not counted.
* Ten invoices of 999,999,999,999.60 (each under the per-document limit) add up exactly in
  ``report all`` and ``orders show``, on SQLite and on PostgreSQL.
* A party identified as ``0088:…`` in an order and as ``GLN:…`` in its cancellation is the same
  party: the cancellation applies, it is not parked.

Expected sums are computed here with ``Decimal`` from the figures written into the documents.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, responses_csv, ubl_order, ubl_order_cancellation
from chorus_batch.demo.invoices import ubl_invoice
from chorus_batch.demo.lifecycle import cppstatut_document, statuses_csv

MAIRIE, DEPARTEMENT, CHU, LYCEE = ISSUERS
PAPETERIES, NUMERIQUE, RESTAURATION, MOBILIER = SUPPLIERS
D = Decimal
LINES = [
    Line("1", "Clé USB 64 Go", D("20"), "C62", D("9.90"), D("20"), "REF-1"),
    Line("2", "Écran 24 pouces Full HD", D("2"), "C62", D("159.00"), D("20"), "REF-2"),
]
TTC = D("619.20")  # (20 × 9.90 + 2 × 159.00) × 1.20


@dataclass
class Lab:
    root: Path
    cli: Any
    db: tuple[str, ...] = ()

    def __call__(self, *args: object) -> Any:
        return self.cli("--workspace", self.root, *self.db, *args)

    def drop(self, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (self.root / "inbox" / name).write_bytes(data)

    def run(self) -> Any:
        result = self("run")
        assert result.exit_code == 0, result.output + result.stderr
        assert "Traceback" not in result.output + result.stderr
        return result

    def ack(self, name: str) -> dict[str, Any]:
        return json.loads((self.root / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))

    def report(self, name: str) -> list[dict[str, str]]:
        folder = self.root / "reports"
        result = self("report", "all", "-o", folder)
        assert result.exit_code == 0, result.output + result.stderr
        return list(csv.DictReader(io.StringIO((folder / f"{name}.csv").read_text(encoding="utf-8"))))

    def show(self, number: str) -> dict[str, Any]:
        result = self("orders", "show", number, "--format", "json")
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.output)


def new_lab(cli: Any, root: Path, config: str | None = None, db: tuple[str, ...] = ()) -> Lab:
    lab = Lab(root, cli, db)
    result = lab("init")
    assert result.exit_code == 0, result.output + result.stderr
    if config is not None:
        (root / "chorus-batch.toml").write_text(config, encoding="utf-8")
    return lab


def accepted(lab: Lab, number: str, issuer: Any = MAIRIE, supplier: Any = NUMERIQUE, lines: list[Line] = LINES) -> None:
    lab.drop(
        {
            f"commande-{number}.xml": ubl_order(number, issuer, supplier, lines, date(2026, 1, 20)),
            f"reponses-{number}.csv": responses_csv([(number, "accept", "")]),
        }
    )
    lab.run()


# -- currency -------------------------------------------------------------------------------------


def paid(channel: str, number: str, supplier: Any = NUMERIQUE) -> dict[str, bytes]:
    """The file putting invoice ``number`` in MISE_EN_PAIEMENT, by CPPStatut or the operator CSV."""
    if channel == "cppstatut":
        return {f"statut-{number}.xml": cppstatut_document([(number, supplier.siret, "11", "2026-03-01T10:00:00")])}
    return {f"statuts-{number}.csv": statuses_csv([(number, supplier.siret, "MISE_EN_PAIEMENT", "2026-03-01")])}


@pytest.mark.parametrize("channel", ["cppstatut", "csv"])
def test_an_invoice_in_another_currency_is_not_counted_and_never_closes(
    run_cli: Any, tmp_path: Path, channel: str
) -> None:
    number = "EJ2026-CUR-001"
    lab = new_lab(run_cli, tmp_path / "ws", "close_when_paid = true\n")
    accepted(lab, number)
    # the same lines, the same figure, in dollars, and paid: it would have closed the engagement
    lab.drop(
        {
            "facture-usd.xml": ubl_invoice(
                "USD-1", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number, currency="USD"
            )
        }
    )
    lab.run()
    assert lab.ack("facture-usd.xml")["status"] == "IN_INTEGRE"  # kept
    lab.drop(paid(channel, "USD-1"))
    lab.run()

    detail = lab.show(number)
    assert (detail["status"], detail["currency"]) == ("PRIS_EN_COMPTE", "EUR")  # not closed
    assert all(h["event"] != "paid" for h in detail["history"])
    assert detail["totals"]["currency"] == "EUR"
    assert (detail["totals"]["invoiced_ttc"], detail["totals"]["paid_ttc"]) == ("0.00", "0.00")
    assert detail["totals"]["match_status"] == "NOT_INVOICED"
    (invoice,) = detail["invoices"]
    assert (invoice["currency"], invoice["amount_ttc"], invoice["status"]) == ("USD", f"{TTC}", "MISE_EN_PAIEMENT")
    assert (invoice["counted"], invoice["excluded"]) == (False, "CURRENCY_MISMATCH")
    assert "CURRENCY_MISMATCH" in invoice["anomalies"]

    (row,) = lab.report("reconciliation")
    assert (row["currency"], row["invoiced_ttc"], row["paid_ttc"], row["remaining_ttc"]) == (
        "EUR",
        "0.00",
        "0.00",
        f"{TTC}",
    )
    assert row["invoice_count"] == "0" and "CURRENCY_MISMATCH" in row["anomalies"]
    (inv,) = lab.report("invoices")
    assert (inv["currency"], inv["counted"], inv["amount_ttc"]) == ("USD", "false", f"{TTC}")
    assert inv["anomaly"].startswith("CURRENCY_MISMATCH: invoice in USD, engagement EJ2026-CUR-001 in EUR")

    # the same invoice in euros, paid, closes it: only what is in its currency counts
    lab.drop({"facture-eur.xml": ubl_invoice("EUR-1", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 3), engagement=number)})
    lab.run()
    lab.drop(paid(channel, "EUR-1"))
    lab.run()
    detail = lab.show(number)
    assert detail["status"] == "CLOTURE" and detail["history"][-1]["event"] == "paid"
    assert (detail["totals"]["invoiced_ttc"], detail["totals"]["paid_ttc"]) == (f"{TTC}", f"{TTC}")


def test_an_invoice_in_another_currency_before_its_order_is_left_out_once_matched(run_cli: Any, tmp_path: Path) -> None:
    number = "EJ2026-CUR-003"
    lab = new_lab(run_cli, tmp_path / "ws")
    usd = ubl_invoice("USD-3", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number, currency="USD")
    eur = ubl_invoice("EUR-3", NUMERIQUE, MAIRIE, LINES[:1], date(2026, 2, 2), engagement=number)
    lab.drop({"usd.xml": usd, "eur.xml": eur})
    lab.run()
    assert {r["invoice_number"]: r["matched"] for r in lab.report("invoices")} == {"USD-3": "false", "EUR-3": "false"}
    accepted(lab, number)  # the order arrives: both are matched again
    detail = lab.show(number)
    assert {i["number"]: (i["counted"], i["excluded"]) for i in detail["invoices"]} == {
        "USD-3": (False, "CURRENCY_MISMATCH"),
        "EUR-3": (True, None),
    }
    assert detail["totals"]["invoiced_ttc"] == "237.60"  # the euro invoice alone


def test_every_money_report_carries_the_currency_and_totals_are_per_currency(run_cli: Any, tmp_path: Path) -> None:
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop(
        {
            "eur.xml": ubl_order("EJ2026-EUR", MAIRIE, NUMERIQUE, LINES, date(2026, 1, 20)),
            "eur2.xml": ubl_order("EJ2026-EUR2", CHU, NUMERIQUE, LINES[:1], date(2026, 1, 20)),
            "chf.xml": ubl_order("EJ2026-CHF", MAIRIE, NUMERIQUE, LINES, date(2026, 1, 20), currency="CHF"),
            "reponses.csv": responses_csv([(n, "accept", "") for n in ("EJ2026-EUR", "EJ2026-EUR2", "EJ2026-CHF")]),
        }
    )
    lab.run()
    lab.drop(
        {
            "f-eur.xml": ubl_invoice("F-EUR", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement="EJ2026-EUR"),
            "f-chf.xml": ubl_invoice(
                "F-CHF", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement="EJ2026-CHF", currency="CHF"
            ),
        }
    )
    lab.run()
    both = {"EJ2026-EUR": "EUR", "EJ2026-EUR2": "EUR", "EJ2026-CHF": "CHF"}
    assert {r["engagement_number"]: r["currency"] for r in lab.report("status")} == both
    assert {r["engagement_number"]: r["currency"] for r in lab.report("reconciliation")} == both
    assert {r["invoice_number"]: r["currency"] for r in lab.report("invoices")} == {"F-EUR": "EUR", "F-CHF": "CHF"}
    assert lab.show("EJ2026-CHF")["totals"] == {
        "currency": "CHF",
        "invoiced_ttc": f"{TTC}",
        "credit_notes_ttc": "0.00",
        "paid_ttc": "0.00",
        "remaining_ttc": "0.00",
        "match_status": "FULLY_INVOICED",
    }
    # one total row per currency: 619.20 CHF are never added to euros
    ttc_one = D("237.60")
    assert lab.report("totals") == [
        {
            "currency": "CHF",
            "engagement_count": "1",
            "ordered_ttc": f"{TTC}",
            "invoiced_ttc": f"{TTC}",
            "credit_notes_ttc": "0.00",
            "paid_ttc": "0.00",
            "remaining_ttc": "0.00",
            "invoice_count": "1",
        },
        {
            "currency": "EUR",
            "engagement_count": "2",
            "ordered_ttc": f"{TTC + ttc_one}",
            "invoiced_ttc": f"{TTC}",
            "credit_notes_ttc": "0.00",
            "paid_ttc": "0.00",
            "remaining_ttc": f"{ttc_one}",
            "invoice_count": "1",
        },
    ]
    result = lab("report", "totals", "-o", tmp_path / "only")
    assert result.exit_code == 0 and sorted(p.name for p in (tmp_path / "only").iterdir()) == ["totals.csv"]


# -- parties --------------------------------------------------------------------------------------


def test_an_invoice_from_other_parties_is_not_counted(run_cli: Any, tmp_path: Path) -> None:
    number = "EJ2026-PTY-001"
    lab = new_lab(run_cli, tmp_path / "ws")
    accepted(lab, number)  # MAIRIE orders from NUMERIQUE
    one = [LINES[0]]
    ttc_one = D("237.60")  # 20 × 9.90 × 1.20
    lab.drop(
        {
            "right.xml": ubl_invoice("OK-1", NUMERIQUE, MAIRIE, one, date(2026, 2, 2), engagement=number),
            "seller.xml": ubl_invoice("S-1", PAPETERIES, MAIRIE, one, date(2026, 2, 2), engagement=number),
            "buyer.xml": ubl_invoice("B-1", NUMERIQUE, DEPARTEMENT, one, date(2026, 2, 2), engagement=number),
            "both.xml": ubl_invoice("X-1", PAPETERIES, DEPARTEMENT, one, date(2026, 2, 2), engagement=number),
        }
    )
    lab.run()
    detail = lab.show(number)
    excluded = {i["number"]: (i["counted"], i["excluded"]) for i in detail["invoices"]}
    assert excluded == {
        "OK-1": (True, None),
        "S-1": (False, "SELLER_MISMATCH"),
        "B-1": (False, "BUYER_MISMATCH"),
        "X-1": (False, "SELLER_MISMATCH"),
    }
    assert detail["totals"]["invoiced_ttc"] == f"{ttc_one}"  # OK-1 alone
    (row,) = lab.report("reconciliation")
    assert (row["invoiced_ttc"], row["invoice_count"]) == (f"{ttc_one}", "1")
    assert {"SELLER_MISMATCH", "BUYER_MISMATCH"} <= {a.split(":")[0] for a in row["anomalies"].split("; ")}
    counted = {r["invoice_number"]: r["counted"] for r in lab.report("invoices")}
    assert counted == {"OK-1": "true", "S-1": "false", "B-1": "false", "X-1": "false"}
    both = next(r for r in lab.report("invoices") if r["invoice_number"] == "X-1")
    assert "SELLER_MISMATCH" in both["anomaly"] and "BUYER_MISMATCH" in both["anomaly"]


GLN = "3014531200003"  # a GS1 GLN (check digit 3)


def _by_gln(data: bytes, scheme: str, org: Any = MAIRIE, gln: str = GLN) -> bytes:
    """The document with ``org`` (the Mairie) identified by a GLN only, under ``scheme``."""
    siret, siren = org.siret.encode(), org.siret[:9].encode()
    for old in (b'schemeID="0009">' + siret + b"<", b'schemeID="0002">' + siren + b"<"):
        data = data.replace(old, f'schemeID="{scheme}">{gln}<'.encode())
    if org.vat:  # a VAT number of another country: no SIREN in it
        data = data.replace(f">{org.vat}<".encode(), b">DE811907980<")
    assert not any(f">{value}<".encode() in data for value in (org.siret, org.siret[:9], org.vat))
    return data


@pytest.mark.parametrize(("ordered", "cancelled"), [("0088", "GLN"), ("GLN", "0088")])
def test_an_order_by_0088_is_cancelled_by_gln(run_cli: Any, tmp_path: Path, ordered: str, cancelled: str) -> None:
    number = "EJ2026-GLN-001"
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop({"commande.xml": _by_gln(ubl_order(number, MAIRIE, NUMERIQUE, LINES, date(2026, 1, 20)), ordered)})
    lab.run()
    assert lab.show(number)["issuer_id"] == f"0088:{GLN}"  # one spelling, whatever the document's
    lab.drop({"annulation.xml": _by_gln(ubl_order_cancellation(number, MAIRIE, NUMERIQUE), cancelled)})
    lab.run()
    ack = lab.ack("annulation.xml")
    assert ack["status"] == "IN_INTEGRE"
    assert [d["outcome"] for d in ack["documents"]] == ["INTEGRE"], ack
    detail = lab.show(number)
    assert detail["status"] == "CLOTURE" and detail["history"][-1]["event"] == "cancel", detail["history"]


def test_an_invoice_naming_the_buyer_by_gln_counts_for_an_order_by_0088(run_cli: Any, tmp_path: Path) -> None:
    number = "EJ2026-GLN-002"
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop({"commande.xml": _by_gln(ubl_order(number, MAIRIE, NUMERIQUE, LINES, date(2026, 1, 20)), "0088")})
    lab.drop({"reponses.csv": responses_csv([(number, "accept", "")])})
    lab.run()
    invoice = ubl_invoice("GLN-1", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number)
    lab.drop({"facture.xml": _by_gln(invoice, "GLN")})
    lab.run()
    detail = lab.show(number)
    assert [(i["number"], i["counted"]) for i in detail["invoices"]] == [("GLN-1", True)]
    assert detail["totals"]["invoiced_ttc"] == f"{TTC}"
    # the issuer looked up in any spelling
    for spelling in (f"GLN:{GLN}", f"0088:{GLN}"):
        found = lab("orders", "search", "--issuer", spelling, "--format", "json")
        assert [o["number"] for o in json.loads(found.output)] == [number], spelling
        assert lab("orders", "show", number, "--issuer", spelling).exit_code == 0


SUPPLIER_GLN = "3020000000005"  # a GS1 GLN (check digit 5)


def test_a_status_naming_the_seller_by_gln_finds_an_invoice_by_0088(run_cli: Any, tmp_path: Path) -> None:
    number = "EJ2026-GLN-003"
    lab = new_lab(run_cli, tmp_path / "ws", "close_when_paid = true\n")
    order = ubl_order(number, MAIRIE, NUMERIQUE, LINES, date(2026, 1, 20))
    lab.drop({"commande.xml": _by_gln(order, "0088", NUMERIQUE, SUPPLIER_GLN)})
    lab.drop({"reponses.csv": responses_csv([(number, "accept", "")])})
    lab.run()
    invoice = ubl_invoice("GLN-S-1", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number)
    lab.drop({"facture.xml": _by_gln(invoice, "0088", NUMERIQUE, SUPPLIER_GLN)})
    lab.run()
    lab.drop({"statuts.csv": statuses_csv([("GLN-S-1", f"GLN:{SUPPLIER_GLN}", "MISE_EN_PAIEMENT", "")])})
    lab.run()
    assert lab.ack("statuts.csv")["documents"][0]["outcome"] == "INTEGRE"  # not parked
    detail = lab.show(number)
    assert detail["invoices"][0]["status"] == "MISE_EN_PAIEMENT"
    assert detail["status"] == "CLOTURE"


def test_the_status_of_an_invoice_left_out_never_closes_its_engagement(run_cli: Any, tmp_path: Path) -> None:
    """Fully invoiced and paid in euros while ``close_when_paid`` was off; then the option is on.
    The next status of one of its invoices closes it (operations.md): not one of an invoice
    left out of its totals (here in dollars), only one of an invoice that counts."""
    number = "EJ2026-CUR-002"
    lab = new_lab(run_cli, tmp_path / "ws")
    accepted(lab, number)
    lab.drop(
        {
            "eur.xml": ubl_invoice("EUR-2", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number),
            "usd.xml": ubl_invoice(
                "USD-2", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number, currency="USD"
            ),
        }
    )
    lab.run()
    lab.drop(paid("csv", "EUR-2"))
    lab.run()
    assert lab.show(number)["status"] == "PRIS_EN_COMPTE"  # the option is off
    (lab.root / "chorus-batch.toml").write_text("close_when_paid = true\n", encoding="utf-8")
    lab.drop(paid("csv", "USD-2"))
    lab.run()
    assert lab.show(number)["status"] == "PRIS_EN_COMPTE"  # a dollar invoice's status closes nothing
    credit = ubl_invoice(
        "AV-USD-2", NUMERIQUE, MAIRIE, LINES[:1], date(2026, 2, 3), engagement=number, currency="USD", credit=True
    )
    lab.drop({"avoir-usd.xml": credit})
    lab.run()
    assert lab.show(number)["status"] == "PRIS_EN_COMPTE"  # nor does a dollar credit note's arrival
    lab.drop(paid("cppstatut", "EUR-2"))  # the next status of an invoice that counts: closed
    lab.run()
    assert lab.show(number)["status"] == "CLOTURE"


# -- exact sums at any size -----------------------------------------------------------------------

BIG = [Line("1", "Ouvrage d'art", D("1"), "C62", D("833333333333.00"), D("20"), "REF-OA")]
BIG_TTC = D("999999999999.60")  # 833,333,333,333.00 + 20 % VAT, under the 10^12 limit


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])  # a database each
def test_ten_invoices_near_the_limit_add_up_exactly(run_cli: Any, tmp_path: Path, backend: str, request: Any) -> None:
    db: tuple[str, ...] = ("--db", request.getfixturevalue("pg_url")) if backend == "postgresql" else ()
    number = "EJ2026-BIG-001"
    lab = new_lab(run_cli, tmp_path / "ws", db=db)
    accepted(lab, number, lines=BIG)
    lab.drop(
        {
            f"facture-{i}.xml": ubl_invoice(f"BIG-{i:02d}", NUMERIQUE, MAIRIE, BIG, date(2026, 2, 2), engagement=number)
            for i in range(10)
        }
    )
    lab.run()
    lab.drop(
        {"statuts.csv": statuses_csv([(f"BIG-{i:02d}", NUMERIQUE.siret, "MISE_EN_PAIEMENT", "") for i in range(3)])}
    )
    lab.run()
    total = BIG_TTC * 10
    assert total == D("9999999999996.00") and total * 10**6 > 2**63  # beyond a 64-bit sum of millionths

    detail = lab.show(number)
    assert detail["amount_ttc"] == f"{BIG_TTC}"
    assert detail["totals"] == {
        "currency": "EUR",
        "invoiced_ttc": f"{total}",
        "credit_notes_ttc": "0.00",
        "paid_ttc": f"{BIG_TTC * 3}",
        "remaining_ttc": f"{BIG_TTC - total}",
        "match_status": "OVER_INVOICED",
    }
    (row,) = lab.report("reconciliation")
    assert (row["invoiced_ttc"], row["paid_ttc"], row["remaining_ttc"], row["invoice_count"]) == (
        f"{total}",
        f"{BIG_TTC * 3}",
        f"{BIG_TTC - total}",
        "10",
    )
    assert row["match_status"] == "OVER_INVOICED"
    assert [r["amount_ttc"] for r in lab.report("invoices")] == [f"{BIG_TTC}"] * 10
    (eur,) = lab.report("totals")
    assert (eur["currency"], eur["invoiced_ttc"], eur["remaining_ttc"]) == ("EUR", f"{total}", f"{BIG_TTC - total}")
    for fmt in ("xlsx", "html"):
        result = lab("report", "all", "--format", fmt, "-o", tmp_path / fmt)
        assert result.exit_code == 0, result.output + result.stderr
    assert "9\u202f999\u202f999\u202f999\u202f996,00" in (tmp_path / "html" / "reports.html").read_text(
        encoding="utf-8"
    )
    text = lab("orders", "show", number)
    assert text.exit_code == 0 and "9999999999996.00" in text.output


# -- a store from before: migration 8 -------------------------------------------------------------


def _sql(path: Path, statement: str) -> list[Any]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement).fetchall()


def test_a_store_from_before_gets_canonical_keys_and_its_misfits_left_out(run_cli: Any, tmp_path: Path) -> None:
    """A store written before migration 8: its GLN issuer key in the old spelling, no
    ``excluded`` column, a USD invoice counted on an EUR engagement and a payment that closed
    nothing yet. Migration 8 rewrites the key, leaves the invoice out, and a cancellation by
    0088 then finds its order."""
    number = "EJ2026-OLD-001"
    lab = new_lab(run_cli, tmp_path / "ws")
    lab.drop({"commande.xml": _by_gln(ubl_order(number, MAIRIE, NUMERIQUE, LINES, date(2026, 1, 20)), "GLN")})
    lab.drop({"reponses.csv": responses_csv([(number, "accept", "")])})
    lab.run()
    invoice = ubl_invoice("USD-9", NUMERIQUE, MAIRIE, LINES, date(2026, 2, 2), engagement=number, currency="USD")
    lab.drop({"f.xml": _by_gln(invoice, "GLN")})
    lab.run()
    store = lab.root / "var" / "store.sqlite"
    # as an earlier version left it
    _sql(store, f"UPDATE engagements SET issuer_id = 'GLN:{GLN}'")
    _sql(store, f"UPDATE parties SET party_id = 'GLN:{GLN}' WHERE party_id = '0088:{GLN}'")
    _sql(store, "UPDATE invoices SET anomalies = '[]', identities = replace(identities, '0088:', 'GLN:')")
    _sql(store, f"UPDATE invoices SET buyer_id = 'GLN:{GLN}'")
    for trigger in ("inserted", "deleted", "left", "joined"):  # migration 10's, which read the column
        _sql(store, f"DROP TRIGGER invoice_totals_{trigger}")
    _sql(store, "DELETE FROM schema_migrations WHERE version = 10")
    _sql(store, "ALTER TABLE invoices DROP COLUMN excluded")
    _sql(store, "DELETE FROM schema_migrations WHERE version = 8")

    detail = lab.show(number)  # the first command migrates
    assert _sql(store, "SELECT version FROM schema_migrations WHERE version = 8") == [(8,)]
    assert detail["issuer_id"] == f"0088:{GLN}"
    assert _sql(store, "SELECT party_id FROM parties WHERE party_id LIKE '%" + GLN + "'") == [(f"0088:{GLN}",)]
    (invoice,) = detail["invoices"]
    assert (invoice["counted"], invoice["excluded"], invoice["anomalies"]) == (
        False,
        "CURRENCY_MISMATCH",
        ["CURRENCY_MISMATCH"],
    )
    assert detail["totals"]["invoiced_ttc"] == "0.00"
    assert _sql(store, "SELECT buyer_id FROM invoices") == [(f"0088:{GLN}",)]
    lab.drop({"annulation.xml": _by_gln(ubl_order_cancellation(number, MAIRIE, NUMERIQUE), "0088")})
    lab.run()
    assert lab.ack("annulation.xml")["documents"][0]["outcome"] == "INTEGRE"
    assert lab.show(number)["status"] == "CLOTURE"
