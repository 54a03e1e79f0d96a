"""The main end-to-end scenarios with the store on PostgreSQL (``--db postgresql+psycopg://...``).

Each scenario goes through the real CLI (click's ``CliRunner``) on a throw-away database made by
``_postgres.postgres_url`` (skipped without a server, failed when ``CHORUS_REQUIRE_POSTGRES=1``),
and most are also run on SQLite in the same test: what the two stores answer must be the same,
timestamps aside. Documents come from ``chorus_batch.demo.generate`` / ``demo.invoices``;
expected identifiers and amounts are read back from the generated XML with lxml.

* intake: 20 UBL orders (acks IN_INTEGRE, ``orders search --format json`` exact), the same bytes
  again (DUPLICATE, store unchanged), hostile XML (rejected UNSAFE_XML, store unchanged);
* lifecycle: accept by UBL AP and by CSV, refuse with / without a reason (REASON_REQUIRED), a CA
  that makes a new version, an answer parked before its order and applied when it arrives, the
  CLI's accept / refuse;
* invoices: the invoice scenario's reconciliation and invoices CSVs byte for byte equal to SQLite's,
  and ``report all --format xlsx / html``;
* money: quantities and prices with 6 decimals come back exactly (and are stored as integers of
  millionths).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from lxml import etree
from openpyxl import load_workbook
from sqlalchemy import create_engine, text
from test_invoices_e2e import ANSWERS, E1, E2, E3, INVOICES, ORDERS, STATUSES

from _postgres import drop_database, postgres_url
from chorus_batch.demo import generate as gen
from chorus_batch.demo.generate import (
    ISSUERS,
    SUPPLIERS,
    Line,
    engagement_number,
    random_lines,
    responses_csv,
    ubl_order,
)

# long scenarios (a throw-away database each): the full suite runs them, the fast loop does not
pytestmark = pytest.mark.slow

MAIRIE, DEPARTEMENT, CHU, LYCEE = ISSUERS
PAPETERIES, NUMERIQUE, RESTAURATION, MOBILIER = SUPPLIERS
D = Decimal
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
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
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)")
STORE_TABLES = (
    "engagements",
    "engagement_versions",
    "engagement_lines",
    "attachments",
    "transitions",
    "parties",
    "blobs",
    "answers",
)


# -- a workspace on one store, driven through the CLI ---------------------------------------------


@dataclass
class Bench:
    """A workspace whose store is ``db`` (a PostgreSQL URL) or, when ``db`` is None, its SQLite."""

    root: Path
    db: str | None
    run_cli: Any

    @property
    def kind(self) -> str:
        return "sqlite" if self.db is None else "postgresql"

    def __call__(self, *args: object) -> Result:
        store = ("--db", self.db) if self.db else ()
        return self.run_cli("--workspace", self.root, *store, *args)

    def init(self) -> Bench:
        result = self("init")
        assert result.exit_code == 0, result.output + result.stderr
        return self

    def drop(self, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (self.root / "inbox" / name).write_bytes(data)

    def run(self, *codes: int) -> Result:
        result = self("run")
        assert result.exit_code in (codes or (0,)), f"{self.kind}: {result.output}{result.stderr}"
        assert "Traceback" not in result.output + result.stderr
        return result

    def ack(self, name: str) -> dict[str, Any]:
        return json.loads((self.root / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))

    def acks(self) -> dict[str, dict[str, Any]]:
        return {
            p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((self.root / "outbox" / "acks").iterdir())
        }

    def search(self, *criteria: object) -> list[dict[str, Any]]:
        result = self("orders", "search", "--format", "json", *criteria)
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)

    def show(self, number: str) -> dict[str, Any]:
        result = self("orders", "show", number, "--format", "json")
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)

    def responses(self) -> Counter[tuple[str, str]]:
        """(engagement number, response code) of every order response in outbox/responses/."""
        found: Counter[tuple[str, str]] = Counter()
        for path in (self.root / "outbox" / "responses").iterdir():
            if path.is_file() and not path.name.startswith("."):
                root = etree.fromstring(path.read_bytes())
                number = root.findtext("cac:OrderReference/cbc:ID", namespaces=NS)
                code = root.findtext("cbc:OrderResponseCode", namespaces=NS)
                found[(number, code)] += 1
        return found

    def counts(self) -> dict[str, int]:
        """Row counts of the store's tables (read directly, outside the product)."""
        if self.db is None:
            with sqlite3.connect(self.root / "var" / "store.sqlite") as conn:
                return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in STORE_TABLES}
        engine = create_engine(self.db)
        try:
            with engine.connect() as conn:
                return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in STORE_TABLES}
        finally:
            engine.dispose()

    def report(self, out: Path, *args: object) -> Path:
        result = self("report", "all", "-o", out, *args)
        assert result.exit_code == 0, f"{self.kind}: {result.output}{result.stderr}"
        return out


def masked(value: Any) -> Any:
    """``value`` with every UTC timestamp replaced by ``<ts>`` (the two stores ran at other times)."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return STAMP.sub("<ts>", value)
    return value


def codes(ack: dict[str, Any]) -> set[str]:
    found = {e["code"] for e in ack["errors"]}
    for doc in ack["documents"]:
        found |= {e["code"] for e in doc["errors"]}
    return found


@pytest.fixture(scope="module")
def pg_module_url() -> Any:
    """One PostgreSQL database for a module's scenario (dropped after the module)."""
    url = postgres_url()
    yield url
    drop_database(url)


# -- the generated documents --------------------------------------------------------------------------


def twenty_orders() -> dict[str, bytes]:
    """20 UBL orders, two issuers alternately, every supplier; order 0 carries an attachment."""
    rng = random.Random(20260105)
    attachment = ("CCTP annexe technique.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n")
    out = {}
    for i in range(20):
        number = engagement_number(1000 + i)
        out[f"commande-{number}.xml"] = ubl_order(
            number,
            ISSUERS[i % 2],
            SUPPLIERS[i % len(SUPPLIERS)],
            random_lines(rng, rng.randint(1, 6)),
            date(2026, 1, 5) + timedelta(days=i),
            delivery_date=date(2026, 2, 5) + timedelta(days=i),
            attachment=attachment if i == 0 else None,
        )
    return out


def expected_row(data: bytes) -> dict[str, str]:
    """What ``orders search`` must say of a generated UBL order (created_at aside), read with lxml."""
    root = etree.fromstring(data)

    def one(path: str) -> str:
        (value,) = root.xpath(path, namespaces=NS)
        return value.strip()

    party = "cac:{}/cac:Party/"
    return {
        "number": one("cbc:ID/text()"),
        "issuer_id": one(
            party.format("BuyerCustomerParty") + "cac:PartyIdentification/cbc:ID[@schemeID='0009']/text()"
        ),
        "issuer_name": one(party.format("BuyerCustomerParty") + "cac:PartyName/cbc:Name/text()"),
        "supplier_id": one(
            party.format("SellerSupplierParty") + "cac:PartyIdentification/cbc:ID[@schemeID='0009']/text()"
        ),
        "supplier_name": one(party.format("SellerSupplierParty") + "cac:PartyName/cbc:Name/text()"),
        "status": "A_TRAITER",
        "amount_ht": f"{D(one('cac:AnticipatedMonetaryTotal/cbc:TaxExclusiveAmount/text()')):.2f}",
        "amount_ttc": f"{D(one('cac:AnticipatedMonetaryTotal/cbc:TaxInclusiveAmount/text()')):.2f}",
        "currency": one("cbc:DocumentCurrencyCode/text()"),
    }


HOSTILE = {
    "xxe.xml": (
        b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"><Note>&e;</Note></Order>\n'
    ),
    "billion-laughs.xml": (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        + b"".join(
            f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
            for i in range(1, 10)
        )
        + b"]>\n"
        b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"><Note>&lol9;</Note></Order>\n'
    ),
}


# =====================================================================================================
# 1. Intake: 20 orders, duplicates, hostile files
# =====================================================================================================


@dataclass
class Intake:
    bench: Bench
    twin: Bench  # the same files on SQLite
    files: dict[str, bytes]
    first_run: Result
    first_acks: dict[str, dict[str, Any]]
    search: list[dict[str, Any]]
    counts: dict[str, int]
    dup_run: Result
    dup_names: list[str]
    search_after_dups: list[dict[str, Any]]
    counts_after_dups: dict[str, int]
    hostile_run: Result
    search_after_hostile: list[dict[str, Any]]
    counts_after_hostile: dict[str, int]


@pytest.fixture(scope="module")
def intake(pg_module_url: str, run_cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Intake:
    base = tmp_path_factory.mktemp("pg-intake")
    bench = Bench(base / "ws", pg_module_url, run_cli).init()
    twin = Bench(base / "twin", None, run_cli).init()
    files = twenty_orders()
    for b in (bench, twin):
        b.drop(files)
    first = bench.run(0)
    twin.run(0)
    first_acks, search, counts = bench.acks(), bench.search(), bench.counts()

    dup_names = sorted(files)[:5]
    bench.drop({f"renvoi-{name}": files[name] for name in dup_names})
    dup_run = bench.run(0)
    search_dups, counts_dups = bench.search(), bench.counts()

    bench.drop(HOSTILE)
    hostile_run = bench.run(1)
    return Intake(
        bench,
        twin,
        files,
        first,
        first_acks,
        search,
        counts,
        dup_run,
        dup_names,
        search_dups,
        counts_dups,
        hostile_run,
        bench.search(),
        bench.counts(),
    )


def test_twenty_orders_are_integrated(intake: Intake) -> None:
    assert "20 file(s): 20 IN_INTEGRE" in intake.first_run.output
    acks = intake.first_acks
    assert sorted(acks) == sorted(f"{name}.json" for name in intake.files)
    for name, data in intake.files.items():
        ack = acks[f"{name}.json"]
        number = expected_row(data)["number"]
        assert (ack["status"], ack["errors"]) == ("IN_INTEGRE", []), ack
        assert [(d["kind"], d["number"], d["outcome"]) for d in ack["documents"]] == [("order", number, "INTEGRE")]
    archived = sorted(p.name for p in (intake.bench.root / "var" / "archive").rglob("*") if p.is_file())
    assert set(intake.files) <= set(archived)
    assert not any((intake.bench.root / "inbox").iterdir())


def test_search_json_is_exact(intake: Intake) -> None:
    rows = intake.search
    assert len(rows) == 20
    assert all(list(row) == SEARCH_KEYS for row in rows)
    assert all(STAMP.fullmatch(row["created_at"]) for row in rows)
    expected = {row["number"]: row for row in map(expected_row, intake.files.values())}
    assert {row["number"]: {k: v for k, v in row.items() if k != "created_at"} for row in rows} == expected
    # same rows in the same order as SQLite gives for the same files
    assert masked(rows) == masked(intake.twin.search())


def test_search_criteria_agree_with_sqlite(intake: Intake) -> None:
    for criteria in (
        ("--issuer", MAIRIE.siret),
        ("--issuer", "départemental"),
        ("--supplier", "Papeteries"),
        ("--number", "EJ2026-0010*"),
        ("--status", "A_TRAITER"),
        ("--created-from", intake.search[0]["created_at"][:10]),
    ):
        pg = [r["number"] for r in intake.bench.search(*criteria)]
        assert pg == [r["number"] for r in intake.twin.search(*criteria)], criteria
        assert pg, criteria


def test_show_agrees_with_sqlite(intake: Intake) -> None:
    for data in list(intake.files.values())[:4]:
        number = expected_row(data)["number"]
        assert masked(intake.bench.show(number)) == masked(intake.twin.show(number))


def test_same_bytes_again_are_duplicates_and_change_nothing(intake: Intake) -> None:
    assert "5 file(s): 5 DUPLICATE" in intake.dup_run.output
    for name in intake.dup_names:
        ack = intake.bench.ack(f"renvoi-{name}")
        assert ack["status"] == "DUPLICATE", ack
        assert codes(ack) == {"DUPLICATE_DOCUMENT"}
        assert [d["outcome"] for d in ack["documents"]] == ["DUPLICATE"]
    assert intake.search_after_dups == intake.search
    assert intake.counts_after_dups == intake.counts


def test_hostile_files_are_rejected_and_change_nothing(intake: Intake) -> None:
    assert "2 file(s): 2 IN_REJETE" in intake.hostile_run.output
    rejected = intake.bench.root / "var" / "rejected"
    for name, data in HOSTILE.items():
        ack = intake.bench.ack(name)
        assert ack["status"] == "IN_REJETE" and "UNSAFE_XML" in codes(ack), ack
        assert (rejected / name).read_bytes() == data
        assert (rejected / f"{name}.errors.json").is_file()
        assert "root:" not in json.dumps(ack)
    assert intake.search_after_hostile == intake.search
    assert intake.counts_after_hostile == intake.counts


def test_files_list_on_postgresql(intake: Intake) -> None:
    result = intake.bench("files", "list", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    statuses = Counter(row["status"] for row in json.loads(result.stdout))
    assert statuses == Counter({"IN_INTEGRE": 20, "DUPLICATE": 5, "IN_REJETE": 2})


# =====================================================================================================
# 2. Lifecycle: answers by UBL, CSV and CLI; a CA; a parked answer
# =====================================================================================================

ROLES = (
    "ubl_ap",
    "csv_ap",
    "ubl_re",
    "ubl_re_blank",
    "csv_re",
    "csv_re_blank",
    "cli_accept",
    "cli_refuse",
    "cli_blank",
    "parked",
)
REFUSAL = "Article retiré du catalogue du fournisseur"


def lifecycle(bench: Bench) -> dict[str, Any]:
    """Drive the lifecycle scenario on ``bench``; return what the tests look at."""
    n = {role: engagement_number(600 + i) for i, role in enumerate(ROLES)}
    lines = {role: random_lines(random.Random(100 + i), 3) for i, role in enumerate(ROLES)}
    orders = {
        role: ubl_order(n[role], MAIRIE, PAPETERIES, lines[role], date(2026, 1, 5) + timedelta(days=i))
        for i, role in enumerate(ROLES)
    }
    out: dict[str, Any] = {"numbers": n, "lines": lines}
    # 1st run: every order but the parked one, whose answer arrives first
    bench.drop({f"commande-{n[r]}.xml": orders[r] for r in ROLES if r != "parked"})
    bench.drop({"reponse-en-avance.xml": gen.ubl_order_response(n["parked"], MAIRIE, PAPETERIES, "AP")})
    out["run1"] = bench.run(0)
    out["parked_ack"] = bench.ack("reponse-en-avance.xml")
    # 2nd run: answers (UBL, CSV), and the parked answer's order
    bench.drop(
        {
            "reponse-ap.xml": gen.ubl_order_response(n["ubl_ap"], MAIRIE, PAPETERIES, "AP"),
            "reponse-re-motif.xml": gen.ubl_order_response(n["ubl_re"], MAIRIE, PAPETERIES, "RE", reason=REFUSAL),
            "reponse-re-sans-motif.xml": gen.ubl_order_response(n["ubl_re_blank"], MAIRIE, PAPETERIES, "RE"),
            "reponses.csv": responses_csv([(n["csv_ap"], "accept", ""), (n["csv_re"], "refuse", "Hors marché")]),
            "refus-sans-motif.csv": responses_csv([(n["csv_re_blank"], "refuse", "")]),
            f"commande-{n['parked']}.xml": orders["parked"],
        }
    )
    out["run2"] = bench.run(1)  # the two answers without a reason are rejected
    # 3rd run: a CA on the accepted order makes a new version
    first = lines["ubl_ap"][0]
    out["ca_quantity"] = first.quantity + 7
    bench.drop(
        {
            "reponse-ca.xml": gen.ubl_order_response(
                n["ubl_ap"],
                MAIRIE,
                PAPETERIES,
                "CA",
                lines=[(first.line_id, "3", first.quantity + 7, None)],
                reason="Quantité complétée",
            )
        }
    )
    out["run3"] = bench.run(0)
    out["cli"] = {
        "accept": bench("orders", "accept", n["cli_accept"], "--yes"),
        "refuse": bench("orders", "refuse", n["cli_refuse"], "--reason", "Hors du périmètre du marché", "--yes"),
        "blank": bench("orders", "refuse", n["cli_blank"], "--yes"),
    }
    out["show"] = {role: bench.show(n[role]) for role in ROLES}
    out["acks"] = bench.acks()
    out["responses"] = bench.responses()
    return out


@pytest.fixture(scope="module")
def life(run_cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("pg-lifecycle")
    # its own database: the intake module fixture uses the shared one
    url = postgres_url()
    try:
        pg = lifecycle(Bench(base / "ws", url, run_cli).init())
    finally:
        drop_database(url)
    sqlite = lifecycle(Bench(base / "twin", None, run_cli).init())
    return {"pg": pg, "sqlite": sqlite}


def test_lifecycle_accept_by_ubl_and_csv(life: dict[str, Any]) -> None:
    pg = life["pg"]
    assert pg["acks"]["reponse-ap.xml.json"]["status"] == "IN_INTEGRE"
    assert pg["show"]["csv_ap"]["status"] == "PRIS_EN_COMPTE"
    last = pg["show"]["ubl_ap"]["history"][1]
    assert (last["from"], last["to"], last["actor"], last["source"]) == (
        "A_TRAITER",
        "PRIS_EN_COMPTE",
        "supplier",
        "reponse-ap.xml",
    )
    csv_ack = pg["acks"]["reponses.csv.json"]
    assert csv_ack["status"] == "IN_INTEGRE"
    assert [(d["number"], d["outcome"]) for d in csv_ack["documents"]] == [
        (pg["numbers"]["csv_ap"], "INTEGRE"),
        (pg["numbers"]["csv_re"], "INTEGRE"),
    ]


def test_lifecycle_refuse_with_and_without_reason(life: dict[str, Any]) -> None:
    pg = life["pg"]
    assert pg["show"]["ubl_re"]["status"] == pg["show"]["csv_re"]["status"] == "REFUSE"
    for name, role in (("reponse-re-sans-motif.xml", "ubl_re_blank"), ("refus-sans-motif.csv", "csv_re_blank")):
        ack = pg["acks"][f"{name}.json"]
        assert ack["status"] == "IN_REJETE" and "REASON_REQUIRED" in codes(ack), ack
        assert pg["show"][role]["status"] == "A_TRAITER"
        assert [(h["from"], h["to"]) for h in pg["show"][role]["history"]] == [(None, "A_TRAITER")]


def test_lifecycle_ca_makes_a_new_version(life: dict[str, Any]) -> None:
    pg = life["pg"]
    assert pg["acks"]["reponse-ca.xml.json"]["status"] == "IN_INTEGRE"
    detail = pg["show"]["ubl_ap"]
    assert detail["status"] == "PRIS_EN_COMPTE"
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    first = pg["lines"]["ubl_ap"][0]
    (shown,) = [ln for ln in detail["lines"] if ln["line_id"] == first.line_id]
    assert D(shown["quantity"]) == pg["ca_quantity"]
    assert (
        shown["net_amount"]
        == f"{(pg['ca_quantity'] * first.unit_price).quantize(D('0.01'), rounding=ROUND_HALF_UP):.2f}"
    )


def test_lifecycle_parked_answer_is_applied_when_its_order_arrives(life: dict[str, Any]) -> None:
    pg = life["pg"]
    parked = pg["parked_ack"]
    assert parked["status"] == "PARKED", parked
    assert [(d["kind"], d["outcome"]) for d in parked["documents"]] == [("order_response", "PARKED")]
    assert pg["acks"]["reponse-en-avance.xml.1.json"]["status"] == "IN_INTEGRE"
    assert pg["show"]["parked"]["status"] == "PRIS_EN_COMPTE"


def test_lifecycle_cli_accept_and_refuse(life: dict[str, Any]) -> None:
    pg = life["pg"]
    assert pg["cli"]["accept"].exit_code == 0, pg["cli"]["accept"].output
    assert pg["cli"]["refuse"].exit_code == 0, pg["cli"]["refuse"].output
    assert pg["cli"]["blank"].exit_code != 0 and "REASON_REQUIRED" in pg["cli"]["blank"].output
    assert (
        pg["show"]["cli_accept"]["status"],
        pg["show"]["cli_refuse"]["status"],
        pg["show"]["cli_blank"]["status"],
    ) == ("PRIS_EN_COMPTE", "REFUSE", "A_TRAITER")


def test_lifecycle_one_order_response_per_applied_answer(life: dict[str, Any]) -> None:
    n = life["pg"]["numbers"]
    assert life["pg"]["responses"] == Counter(
        {
            (n["ubl_ap"], "AP"): 1,
            (n["csv_ap"], "AP"): 1,
            (n["ubl_re"], "RE"): 1,
            (n["csv_re"], "RE"): 1,
            (n["ubl_ap"], "CA"): 1,
            (n["parked"], "AP"): 1,
            (n["cli_accept"], "AP"): 1,
            (n["cli_refuse"], "RE"): 1,
        }
    )


def test_lifecycle_postgresql_and_sqlite_agree(life: dict[str, Any]) -> None:
    pg, sqlite = life["pg"], life["sqlite"]
    for role in ROLES:
        assert masked(pg["show"][role]) == masked(sqlite["show"][role]), role
    assert masked(pg["acks"]) == masked(sqlite["acks"])
    assert pg["responses"] == sqlite["responses"]
    for key in ("run1", "run2", "run3"):  # (a parked document's line says until when: a timestamp)
        assert masked(pg[key].output) == masked(sqlite[key].output), key


# =====================================================================================================
# 3. Invoices and reconciliation: the same bytes as on SQLite; xlsx and html reports
# =====================================================================================================


def invoice_scenario() -> dict[str, bytes]:
    """The invoice scenario of ``test_invoices_e2e`` (its documents, dropped at once): three
    engagements (two accepted, one refused), invoices in UBL and CII, a credit note,
    over-invoicing, unknown / no engagement, a re-sent invoice, and a statuses CSV."""
    orders = {f"commande-{number}.xml": data for number, data in ORDERS.items()}
    return {**orders, "reponses.csv": ANSWERS, **INVOICES, "statuts-factures.csv": STATUSES}


@pytest.fixture(scope="module")
def invoiced(run_cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bench]:
    base = tmp_path_factory.mktemp("pg-invoices")
    url = postgres_url()
    benches = {"pg": Bench(base / "ws", url, run_cli).init(), "sqlite": Bench(base / "twin", None, run_cli).init()}
    for bench in benches.values():
        bench.drop(invoice_scenario())
        bench.run(0)  # one run: orders, answers, invoices, then statuses
    yield benches
    drop_database(url)


def test_invoice_scenario_integrates_every_file(invoiced: dict[str, Bench]) -> None:
    pg = invoiced["pg"]
    assert {name: ack["status"] for name, ack in pg.acks().items()} == {
        f"{name}.json": "IN_INTEGRE" for name in invoice_scenario()
    }
    assert masked(pg.acks()) == masked(invoiced["sqlite"].acks())


def test_reconciliation_csv_equals_sqlite_byte_for_byte(invoiced: dict[str, Bench], tmp_path: Path) -> None:
    pg = invoiced["pg"].report(tmp_path / "pg")
    sqlite = invoiced["sqlite"].report(tmp_path / "sqlite")
    for name in ("reconciliation.csv", "invoices.csv"):
        assert (pg / name).read_bytes() == (sqlite / name).read_bytes(), name
    recon = {
        line.split(",")[0]: line for line in (pg / "reconciliation.csv").read_text(encoding="utf-8").splitlines()[1:]
    }
    assert set(recon) == {E1, E2, E3}
    assert ",1597.34," in recon[E1] and "PARTIALLY_INVOICED" in recon[E1]  # ordered TTC, to the cent
    assert "OVER_INVOICED" in recon[E2] and "ENGAGEMENT_NOT_ACCEPTED" in recon[E3]
    # status.csv differs only by the moments the two stores ran
    assert STAMP.sub("<ts>", (pg / "status.csv").read_text(encoding="utf-8")) == STAMP.sub(
        "<ts>", (sqlite / "status.csv").read_text(encoding="utf-8")
    )


def test_xlsx_report_on_postgresql(invoiced: dict[str, Bench], tmp_path: Path) -> None:
    books = {}
    for kind, bench in invoiced.items():
        out = bench.report(tmp_path / kind, "--format", "xlsx")
        assert sorted(p.name for p in out.iterdir()) == ["reports.xlsx"]
        books[kind] = load_workbook(out / "reports.xlsx")
    assert books["pg"].sheetnames == ["status", "reconciliation", "invoices", "totals"]
    for sheet in ("reconciliation", "invoices", "totals"):
        pg = list(books["pg"][sheet].iter_rows(values_only=True))
        assert pg == list(books["sqlite"][sheet].iter_rows(values_only=True)), sheet
    assert books["pg"]["invoices"].max_row == 1 + 8
    header, *rows = books["pg"]["reconciliation"].iter_rows(values_only=True)
    recon = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert D(str(recon[E1]["ordered_ttc"])).quantize(D("0.01")) == D("1597.34")
    assert recon[E1]["currency"] == "EUR"


def test_html_report_on_postgresql(invoiced: dict[str, Bench], tmp_path: Path) -> None:
    pages = {}
    for kind, bench in invoiced.items():
        out = bench.report(tmp_path / kind, "--format", "html")
        assert sorted(p.name for p in out.iterdir()) == ["reports.html"]
        pages[kind] = (out / "reports.html").read_text(encoding="utf-8")
    page = pages["pg"]
    assert page.lstrip().lower().startswith("<!doctype html")
    assert all(n in page for n in (E1, E2, E3)) and "<svg" in page
    assert re.search(r"1\D{0,8}597,34", page)
    assert STAMP.sub("<ts>", page) == STAMP.sub("<ts>", pages["sqlite"])


# =====================================================================================================
# 4. Money: 6 decimals round-trip exactly
# =====================================================================================================

PRECISE_LINES = [
    Line("1", "Vis inox A2 M6x20", D("3.5"), "C62", D("1.234567"), D("20"), "VIS-M6"),
    Line("2", "Gazole non routier", D("1234.567891"), "LTR", D("0.987654"), D("5.5"), "GNR"),
    Line("3", "Fourniture au long cours", D("12345.678901"), "C62", D("98765.432109"), D("20"), "LONG"),
    Line("4", "Échantillon", D("0.000001"), "KGM", D("0.000001"), D("10"), "ECH"),
]


def test_six_decimal_amounts_round_trip(pg_url: str, run_cli: Any, tmp_path: Path) -> None:
    number = "EJ2026-777001"
    data = ubl_order(number, MAIRIE, PAPETERIES, PRECISE_LINES, date(2026, 3, 1))
    shown = {}
    for kind, db in (("pg", pg_url), ("sqlite", None)):
        bench = Bench(tmp_path / kind, db, run_cli).init()
        bench.drop({"precise.xml": data})
        bench.run(0)
        modified = bench("orders", "modify", number, "--line", "1=2.123456@3.654321", "--yes")
        assert modified.exit_code == 0, modified.output + modified.stderr
        shown[kind] = bench.show(number)
    detail = shown["pg"]
    root = etree.fromstring(data)
    sent = {
        ln.findtext("cbc:ID", namespaces=NS): (
            ln.findtext("cbc:Quantity", namespaces=NS),
            ln.findtext("cac:Price/cbc:PriceAmount", namespaces=NS),
        )
        for ln in root.findall("cac:OrderLine/cac:LineItem", NS)
    }
    got = {ln["line_id"]: (D(ln["quantity"]), D(ln["unit_price"])) for ln in detail["lines"]}
    assert got["1"] == (D("2.123456"), D("3.654321"))  # the modification, exactly
    for line_id in ("2", "3", "4"):
        assert got[line_id] == (D(sent[line_id][0]), D(sent[line_id][1])), line_id
    assert got["3"] == (D("12345.678901"), D("98765.432109"))
    assert got["4"] == (D("0.000001"), D("0.000001"))
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    first = detail["versions"][0]
    assert (first["amount_ht"], first["amount_ttc"]) == (
        root.findtext("cac:AnticipatedMonetaryTotal/cbc:TaxExclusiveAmount", namespaces=NS),
        root.findtext("cac:AnticipatedMonetaryTotal/cbc:TaxInclusiveAmount", namespaces=NS),
    )
    assert masked(detail) == masked(shown["sqlite"])
    # stored as integers of millionths, not as floats
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text(
                    "SELECT l.line_id, l.quantity, l.unit_price, pg_typeof(l.unit_price)::text FROM engagement_lines l "
                    "JOIN engagement_versions v ON v.id = l.version_id WHERE v.version = 1 ORDER BY l.position"
                )
            ).all()
    finally:
        engine.dispose()
    assert [(r[0], r[1], r[2]) for r in stored] == [
        ("1", 3_500_000, 1_234_567),
        ("2", 1_234_567_891, 987_654),
        ("3", 12_345_678_901, 98_765_432_109),
        ("4", 1, 1),
    ]
    assert {r[3] for r in stored} == {"bigint"}
