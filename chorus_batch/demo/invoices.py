"""Generators of invoices and credit notes against the demo engagements (SPEC §5).

Used by the ``demo`` command (third wave) and by the tests, like ``generate`` and
``lifecycle``. String templates, every value escaped, element order of the XSDs; pure and
deterministic except ``facturx_pdf`` (factur-x stamps the PDF's XMP metadata with the clock).

* ``ubl_invoice``: a UBL 2.1 ``Invoice`` (type 380) or ``CreditNote`` (381) in the EN 16931 /
  Peppol BIS Billing 3 shape, valid against factur-x's UBL 2.1 Invoice / CreditNote XSD. BT-13
  (the engagement number) is ``cac:OrderReference/cbc:ID``; each line refers to the order line
  it invoices (``cac:OrderLineReference/cbc:LineID``). Parties are the order generator's
  (``generate._ubl_party``): SIRET under scheme 0009 in ``cbc:EndpointID`` and
  ``cac:PartyIdentification``, SIREN under 0002 in ``cac:PartyLegalEntity``, VAT number.
* ``cii_invoice``: the same invoice as CII D16B in the Factur-X EN16931 profile (guideline
  ``urn:cen.eu:en16931:2017``), valid against factur-x's EN16931 XSD. BT-13 is
  ``ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID``; parties are the Order-X ones
  (``generate._ox_party``: the template is prefix-based and the ``ram`` prefix here names the
  CII :100 namespace).
Both carry the BR-FR mentions: the billing framework BT-23 (``billing_mode``, ``BILLING_MODE``
by default), the legal notes ``LEGAL_NOTES`` (UBL ``cbc:Note`` as ``#CODE#text``, CII
``ram:IncludedNote`` with ``ram:SubjectCode``) and, on a credit note, the corrected invoice's
date (BT-26, ``billing_reference_date``). The CII seller and buyer carry their SIREN under
scheme 0002 in ``ram:SpecifiedLegalOrganization`` (BR-FR-10) and their SIRET under 0009 in
``ram:GlobalID`` and ``ram:URIUniversalCommunication``.
* ``facturx_pdf``: a PDF/A-3 embedding a CII invoice as ``factur-x.xml`` (factur-x library).
* ``demo_invoices``: the third demo wave (see its docstring).

``negative_380`` writes a 380 invoice whose quantities and amounts are all negative: how French
issuers often send a credit note. Unit prices stay positive (EN 16931 BR-27).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import cast

from lxml import etree

from . import generate, lifecycle
from .generate import (
    ISSUERS,
    PAYMENT_TERMS,
    SUPPLIERS,
    Line,
    Org,
    _a,
    _fmt,
    _num,
    _ox_party,
    _rate,
    _tiny_pdf,
    _totals,
    _ubl_party,
    _x,
)

__all__ = [
    "BILLING_MODE",
    "CII_GUIDELINE",
    "LEGAL_NOTES",
    "NO_SERVICE",
    "UBL_CUSTOMIZATION_ID",
    "cii_invoice",
    "demo_invoices",
    "facturx_pdf",
    "iban",
    "order_lines",
    "ubl_invoice",
]

UBL_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
# BT-23, the French billing framework ("cadre de facturation", BR-FR-08): B1 = goods, S1 =
# services, M1 = both, invoice deposited by the seller. UBL ``cbc:ProfileID``, CII
# ``ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID``.
BILLING_MODE = "B1"
# The mentions French law requires on every invoice (BR-FR-05, BT-21 subject code / BT-22 text).
LEGAL_NOTES = (
    ("PMT", "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €."),
    ("PMD", "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le lendemain de l'échéance."),
    ("AAB", "Pas d'escompte pour paiement anticipé."),
)
CII_GUIDELINE = "urn:cen.eu:en16931:2017"
# BT-10 when the public structure has no service code (Chorus Pro accepts any value then).
NO_SERVICE = "SERVICE"

_CII_ROOT_OPEN = (
    "<rsm:CrossIndustryInvoice"
    ' xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"'
    ' xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100"'
    ' xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"'
    ' xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">\n'
)


# --------------------------------------------------------------------------- helpers
def iban(org: Org) -> str:
    """A French IBAN for ``org`` (invented: bank 30004, branch = the SIRET's NIC, account from
    the SIREN), with a correct RIB key and IBAN check digits."""
    bank, branch, account = "30004", org.siret[9:14], "00" + org.siret[:9]
    rib_key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank}{branch}{account}{rib_key:02d}"
    check = 98 - int(bban + "152700") % 97  # "FR00" moved to the end, F=15 R=27
    return f"FR{check:02d}{bban}"


def _signed(lines: Sequence[Line], negative: bool) -> list[Line]:
    return [replace(ln, quantity=-ln.quantity) for ln in lines] if negative else list(lines)


def _check(lines: Sequence[Line], credit: bool, negative_380: bool) -> None:
    if not lines:
        raise ValueError("an invoice needs at least one line")
    if credit and negative_380:
        raise ValueError("negative_380 writes an invoice (380); it cannot be combined with credit")


# --------------------------------------------------------------------------- UBL 2.1
def ubl_invoice(
    number: str,
    supplier: Org,
    issuer: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    engagement: str | None,
    credit: bool = False,
    negative_380: bool = False,
    currency: str = "EUR",
    billing_reference: str | None = None,
    billing_reference_date: date | None = None,
    note: str | None = None,
    billing_mode: str = BILLING_MODE,
    due_date: date | None = None,
) -> bytes:
    """A UBL 2.1 Invoice (380) from ``supplier`` to ``issuer``, or a CreditNote (381) when
    ``credit``. ``engagement`` is BT-13 (``cac:OrderReference/cbc:ID``, written as given, so
    ``"NA"`` works); ``None`` writes no order reference and no line references.
    ``billing_reference`` (BT-25) is the invoice a credit note corrects, issued on
    ``billing_reference_date`` (BT-26).
    """
    _check(lines, credit, negative_380)
    root = "CreditNote" if credit else "Invoice"
    line_tag, qty_tag = ("CreditNoteLine", "CreditedQuantity") if credit else ("InvoiceLine", "InvoicedQuantity")
    signed = _signed(lines, negative_380)
    t = _totals(signed)
    cur = _a(currency)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"'
        ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
        f"  <cbc:CustomizationID>{UBL_CUSTOMIZATION_ID}</cbc:CustomizationID>\n"
        f"  <cbc:ProfileID>{_x(billing_mode)}</cbc:ProfileID>\n"
        f"  <cbc:ID>{_x(number)}</cbc:ID>\n"
        f"  <cbc:IssueDate>{issue_date.isoformat()}</cbc:IssueDate>\n",
        f"  <cbc:DueDate>{due_date.isoformat()}</cbc:DueDate>\n" if due_date and not credit else "",
        f"  <cbc:{root}TypeCode>{'381' if credit else '380'}</cbc:{root}TypeCode>\n",
        f"  <cbc:Note>{_x(note)}</cbc:Note>\n" if note else "",
        "".join(f"  <cbc:Note>#{code}#{_x(text)}</cbc:Note>\n" for code, text in LEGAL_NOTES),
        f"  <cbc:DocumentCurrencyCode>{_x(currency)}</cbc:DocumentCurrencyCode>\n",
        f"  <cbc:BuyerReference>{_x(issuer.service or NO_SERVICE)}</cbc:BuyerReference>\n",
        f"  <cac:OrderReference><cbc:ID>{_x(engagement)}</cbc:ID></cac:OrderReference>\n"
        if engagement is not None
        else "",
        (
            "  <cac:BillingReference><cac:InvoiceDocumentReference>"
            f"<cbc:ID>{_x(billing_reference)}</cbc:ID>"
            + (f"<cbc:IssueDate>{billing_reference_date.isoformat()}</cbc:IssueDate>" if billing_reference_date else "")
            + "</cac:InvoiceDocumentReference></cac:BillingReference>\n"
        )
        if billing_reference
        else "",
        _ubl_party(supplier, "AccountingSupplierParty"),
        _ubl_party(issuer, "AccountingCustomerParty"),
        "  <cac:PaymentMeans>\n"
        "    <cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>\n"
        f"    <cbc:PaymentID>{_x(number)}</cbc:PaymentID>\n"
        f"    <cac:PayeeFinancialAccount><cbc:ID>{iban(supplier)}</cbc:ID></cac:PayeeFinancialAccount>\n"
        "  </cac:PaymentMeans>\n"
        f"  <cac:PaymentTerms><cbc:Note>{_x(PAYMENT_TERMS)}</cbc:Note></cac:PaymentTerms>\n"
        "  <cac:TaxTotal>\n"
        f'    <cbc:TaxAmount currencyID="{cur}">{_fmt(t.vat)}</cbc:TaxAmount>\n',
    ]
    for rate, basis, vat in t.by_rate:
        parts.append(
            "    <cac:TaxSubtotal>\n"
            f'      <cbc:TaxableAmount currencyID="{cur}">{_fmt(basis)}</cbc:TaxableAmount>\n'
            f'      <cbc:TaxAmount currencyID="{cur}">{_fmt(vat)}</cbc:TaxAmount>\n'
            "      <cac:TaxCategory>\n"
            "        <cbc:ID>S</cbc:ID>\n"
            f"        <cbc:Percent>{_rate(rate)}</cbc:Percent>\n"
            "        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>\n"
            "      </cac:TaxCategory>\n"
            "    </cac:TaxSubtotal>\n"
        )
    parts.append(
        "  </cac:TaxTotal>\n"
        "  <cac:LegalMonetaryTotal>\n"
        f'    <cbc:LineExtensionAmount currencyID="{cur}">{_fmt(t.ht)}</cbc:LineExtensionAmount>\n'
        f'    <cbc:TaxExclusiveAmount currencyID="{cur}">{_fmt(t.ht)}</cbc:TaxExclusiveAmount>\n'
        f'    <cbc:TaxInclusiveAmount currencyID="{cur}">{_fmt(t.ttc)}</cbc:TaxInclusiveAmount>\n'
        f'    <cbc:PayableAmount currencyID="{cur}">{_fmt(t.ttc)}</cbc:PayableAmount>\n'
        "  </cac:LegalMonetaryTotal>\n"
    )
    for ln, amount in zip(signed, t.line_amounts, strict=True):
        seller_id = (
            f"      <cac:SellersItemIdentification><cbc:ID>{_x(ln.seller_item_id)}</cbc:ID>"
            "</cac:SellersItemIdentification>\n"
            if ln.seller_item_id
            else ""
        )
        reference = (
            f"    <cac:OrderLineReference><cbc:LineID>{_x(ln.line_id)}</cbc:LineID></cac:OrderLineReference>\n"
            if engagement is not None
            else ""
        )
        parts.append(
            f"  <cac:{line_tag}>\n"
            f"    <cbc:ID>{_x(ln.line_id)}</cbc:ID>\n"
            f'    <cbc:{qty_tag} unitCode="{_a(ln.unit)}">{_num(ln.quantity)}</cbc:{qty_tag}>\n'
            f'    <cbc:LineExtensionAmount currencyID="{cur}">{amount:.2f}</cbc:LineExtensionAmount>\n'
            f"{reference}"
            "    <cac:Item>\n"
            f"      <cbc:Name>{_x(ln.name)}</cbc:Name>\n"
            f"{seller_id}"
            "      <cac:ClassifiedTaxCategory>\n"
            "        <cbc:ID>S</cbc:ID>\n"
            f"        <cbc:Percent>{_rate(ln.vat_rate)}</cbc:Percent>\n"
            "        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>\n"
            "      </cac:ClassifiedTaxCategory>\n"
            "    </cac:Item>\n"
            f'    <cac:Price><cbc:PriceAmount currencyID="{cur}">{_num(ln.unit_price)}</cbc:PriceAmount></cac:Price>\n'
            f"  </cac:{line_tag}>\n"
        )
    parts.append(f"</{root}>\n")
    return "".join(parts).encode("utf-8")


# --------------------------------------------------------------------------- CII / Factur-X
def cii_invoice(
    number: str,
    supplier: Org,
    issuer: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    engagement: str | None,
    credit: bool = False,
    negative_380: bool = False,
    currency: str = "EUR",
    billing_reference: str | None = None,
    billing_reference_date: date | None = None,
    note: str | None = None,
    billing_mode: str = BILLING_MODE,
    due_date: date | None = None,
) -> bytes:
    """The same invoice as ``ubl_invoice`` in CII D16B, Factur-X EN16931 profile (type code 381
    when ``credit``: CII has one root for both)."""
    _check(lines, credit, negative_380)
    signed = _signed(lines, negative_380)
    t = _totals(signed)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        _CII_ROOT_OPEN,
        "  <rsm:ExchangedDocumentContext>\n"
        "    <ram:BusinessProcessSpecifiedDocumentContextParameter>\n"
        f"      <ram:ID>{_x(billing_mode)}</ram:ID>\n"
        "    </ram:BusinessProcessSpecifiedDocumentContextParameter>\n"
        "    <ram:GuidelineSpecifiedDocumentContextParameter>\n"
        f"      <ram:ID>{CII_GUIDELINE}</ram:ID>\n"
        "    </ram:GuidelineSpecifiedDocumentContextParameter>\n"
        "  </rsm:ExchangedDocumentContext>\n"
        "  <rsm:ExchangedDocument>\n"
        f"    <ram:ID>{_x(number)}</ram:ID>\n"
        f"    <ram:TypeCode>{'381' if credit else '380'}</ram:TypeCode>\n"
        "    <ram:IssueDateTime>\n"
        f'      <udt:DateTimeString format="102">{issue_date:%Y%m%d}</udt:DateTimeString>\n'
        "    </ram:IssueDateTime>\n",
        f"    <ram:IncludedNote><ram:Content>{_x(note)}</ram:Content></ram:IncludedNote>\n" if note else "",
        "".join(
            f"    <ram:IncludedNote><ram:Content>{_x(text)}</ram:Content>"
            f"<ram:SubjectCode>{code}</ram:SubjectCode></ram:IncludedNote>\n"
            for code, text in LEGAL_NOTES
        ),
        "  </rsm:ExchangedDocument>\n  <rsm:SupplyChainTradeTransaction>\n",
    ]
    for ln, amount in zip(signed, t.line_amounts, strict=True):
        seller_id = (
            f"        <ram:SellerAssignedID>{_x(ln.seller_item_id)}</ram:SellerAssignedID>\n"
            if ln.seller_item_id
            else ""
        )
        reference = (
            f"        <ram:BuyerOrderReferencedDocument><ram:LineID>{_x(ln.line_id)}</ram:LineID>"
            "</ram:BuyerOrderReferencedDocument>\n"
            if engagement is not None
            else ""
        )
        parts.append(
            "    <ram:IncludedSupplyChainTradeLineItem>\n"
            "      <ram:AssociatedDocumentLineDocument>\n"
            f"        <ram:LineID>{_x(ln.line_id)}</ram:LineID>\n"
            "      </ram:AssociatedDocumentLineDocument>\n"
            "      <ram:SpecifiedTradeProduct>\n"
            f"{seller_id}"
            f"        <ram:Name>{_x(ln.name)}</ram:Name>\n"
            "      </ram:SpecifiedTradeProduct>\n"
            "      <ram:SpecifiedLineTradeAgreement>\n"
            f"{reference}"
            "        <ram:NetPriceProductTradePrice>\n"
            f"          <ram:ChargeAmount>{_num(ln.unit_price)}</ram:ChargeAmount>\n"
            "        </ram:NetPriceProductTradePrice>\n"
            "      </ram:SpecifiedLineTradeAgreement>\n"
            "      <ram:SpecifiedLineTradeDelivery>\n"
            f'        <ram:BilledQuantity unitCode="{_a(ln.unit)}">{_num(ln.quantity)}</ram:BilledQuantity>\n'
            "      </ram:SpecifiedLineTradeDelivery>\n"
            "      <ram:SpecifiedLineTradeSettlement>\n"
            "        <ram:ApplicableTradeTax>\n"
            "          <ram:TypeCode>VAT</ram:TypeCode>\n"
            "          <ram:CategoryCode>S</ram:CategoryCode>\n"
            f"          <ram:RateApplicablePercent>{_rate(ln.vat_rate)}</ram:RateApplicablePercent>\n"
            "        </ram:ApplicableTradeTax>\n"
            "        <ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
            f"          <ram:LineTotalAmount>{amount:.2f}</ram:LineTotalAmount>\n"
            "        </ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
            "      </ram:SpecifiedLineTradeSettlement>\n"
            "    </ram:IncludedSupplyChainTradeLineItem>\n"
        )
    parts.append("    <ram:ApplicableHeaderTradeAgreement>\n")
    parts.append(f"      <ram:BuyerReference>{_x(issuer.service or NO_SERVICE)}</ram:BuyerReference>\n")
    parts.append(_cii_party(supplier, "SellerTradeParty"))
    parts.append(_cii_party(issuer, "BuyerTradeParty"))
    if engagement is not None:
        parts.append(
            "      <ram:BuyerOrderReferencedDocument>\n"
            f"        <ram:IssuerAssignedID>{_x(engagement)}</ram:IssuerAssignedID>\n"
            "      </ram:BuyerOrderReferencedDocument>\n"
        )
    parts.append(
        "    </ram:ApplicableHeaderTradeAgreement>\n"
        "    <ram:ApplicableHeaderTradeDelivery>\n"
        "      <ram:ActualDeliverySupplyChainEvent>\n"
        "        <ram:OccurrenceDateTime>\n"
        f'          <udt:DateTimeString format="102">{issue_date:%Y%m%d}</udt:DateTimeString>\n'
        "        </ram:OccurrenceDateTime>\n"
        "      </ram:ActualDeliverySupplyChainEvent>\n"
        "    </ram:ApplicableHeaderTradeDelivery>\n"
        "    <ram:ApplicableHeaderTradeSettlement>\n"
        f"      <ram:PaymentReference>{_x(number)}</ram:PaymentReference>\n"
        f"      <ram:InvoiceCurrencyCode>{_x(currency)}</ram:InvoiceCurrencyCode>\n"
        "      <ram:SpecifiedTradeSettlementPaymentMeans>\n"
        "        <ram:TypeCode>30</ram:TypeCode>\n"
        "        <ram:PayeePartyCreditorFinancialAccount>\n"
        f"          <ram:IBANID>{iban(supplier)}</ram:IBANID>\n"
        "        </ram:PayeePartyCreditorFinancialAccount>\n"
        "      </ram:SpecifiedTradeSettlementPaymentMeans>\n"
    )
    for rate, basis, vat in t.by_rate:
        parts.append(
            "      <ram:ApplicableTradeTax>\n"
            f"        <ram:CalculatedAmount>{_fmt(vat)}</ram:CalculatedAmount>\n"
            "        <ram:TypeCode>VAT</ram:TypeCode>\n"
            f"        <ram:BasisAmount>{_fmt(basis)}</ram:BasisAmount>\n"
            "        <ram:CategoryCode>S</ram:CategoryCode>\n"
            f"        <ram:RateApplicablePercent>{_rate(rate)}</ram:RateApplicablePercent>\n"
            "      </ram:ApplicableTradeTax>\n"
        )
    parts.append(
        "      <ram:SpecifiedTradePaymentTerms>\n"
        f"        <ram:Description>{_x(PAYMENT_TERMS)}</ram:Description>\n"
        + (
            f'        <ram:DueDateDateTime><udt:DateTimeString format="102">{due_date:%Y%m%d}</udt:DateTimeString>'
            "</ram:DueDateDateTime>\n"
            if due_date
            else ""
        )
        + "      </ram:SpecifiedTradePaymentTerms>\n"
        "      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
        f"        <ram:LineTotalAmount>{_fmt(t.ht)}</ram:LineTotalAmount>\n"
        f"        <ram:TaxBasisTotalAmount>{_fmt(t.ht)}</ram:TaxBasisTotalAmount>\n"
        f'        <ram:TaxTotalAmount currencyID="{_a(currency)}">{_fmt(t.vat)}</ram:TaxTotalAmount>\n'
        f"        <ram:GrandTotalAmount>{_fmt(t.ttc)}</ram:GrandTotalAmount>\n"
        f"        <ram:DuePayableAmount>{_fmt(t.ttc)}</ram:DuePayableAmount>\n"
        "      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
    )
    if billing_reference:
        parts.append(
            "      <ram:InvoiceReferencedDocument>\n"
            f"        <ram:IssuerAssignedID>{_x(billing_reference)}</ram:IssuerAssignedID>\n"
            + (
                "        <ram:FormattedIssueDateTime>\n"
                f'          <qdt:DateTimeString format="102">{billing_reference_date:%Y%m%d}</qdt:DateTimeString>\n'
                "        </ram:FormattedIssueDateTime>\n"
                if billing_reference_date
                else ""
            )
            + "      </ram:InvoiceReferencedDocument>\n"
        )
    parts.append(
        "    </ram:ApplicableHeaderTradeSettlement>\n  </rsm:SupplyChainTradeTransaction>\n"
        "</rsm:CrossIndustryInvoice>\n"
    )
    return "".join(parts).encode("utf-8")


def _cii_party(org: Org, tag: str) -> str:
    """A CII TradePartyType as an invoice wants it: the order generator's (``_ox_party``) with
    the SIRET also in ``ram:GlobalID`` (scheme 0009) and the SIREN, not the SIRET, under scheme
    0002 in ``ram:SpecifiedLegalOrganization`` (BT-30 / BT-47, BR-FR-10)."""
    block = _ox_party(org, tag)
    siret = _x(org.siret)
    old = f'        <ram:SpecifiedLegalOrganization>\n          <ram:ID schemeID="0009">{siret}</ram:ID>\n'
    new = f'        <ram:SpecifiedLegalOrganization>\n          <ram:ID schemeID="0002">{_x(org.siret[:9])}</ram:ID>\n'
    name = f"        <ram:Name>{_x(org.name)}</ram:Name>\n"
    if old not in block or name not in block:
        raise AssertionError("generate._ox_party changed shape")
    return block.replace(old, new).replace(
        name, f'        <ram:GlobalID schemeID="0009">{siret}</ram:GlobalID>\n{name}'
    )


def facturx_pdf(xml: bytes, *, title: str | None = None) -> bytes:
    """A Factur-X PDF/A-3: a one-page PDF with ``xml`` (a CII invoice) embedded as
    ``factur-x.xml`` by the factur-x library (which checks it against its XSD first)."""
    import facturx  # imported lazily: it pulls in pypdf

    number = etree.fromstring(xml).findtext(
        "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}ExchangedDocument/"
        "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}ID"
    )
    text = title or f"Facture {number or ''}"
    metadata = {"author": "chorus-batch demo", "keywords": "Factur-X, Facture", "title": text, "subject": text}
    return bytes(
        facturx.generate_from_binary(
            _tiny_pdf(text), xml, flavor="factur-x", level="en16931", pdf_metadata=metadata, lang="fr-FR"
        )
    )


# --------------------------------------------------------------------------- demo order lines
_ANY = "*[local-name()='{}']"
_CATALOGUE_RATES = {name: Decimal(rate) for _cat, name, _unit, _lo, _hi, rate, _item, _frac in generate._CATALOGUE}


def _elements(node: etree._Element, path: str) -> list[etree._Element]:
    """What ``path`` selects under ``node``: elements, for the paths of ``order_lines``."""
    return cast("list[etree._Element]", node.xpath(path))  # lxml-stubs type any XPath result


def order_lines(order: bytes) -> list[Line]:
    """The lines of an order written by ``generate`` (UBL Order or Order-X, any profile), read
    back so invoices follow their order whatever its random content. A line without a VAT rate
    (Order-X BASIC) gets the catalogue's rate for its item."""
    root = etree.fromstring(order, etree.XMLParser(resolve_entities=False, no_network=True))

    def first(node: etree._Element, *names: str) -> etree._Element | None:
        found = _elements(node, "/".join(_ANY.format(n) for n in names))
        return found[0] if found else None

    def value(node: etree._Element, *names: str) -> str | None:
        el = first(node, *names)
        return el.text.strip() if el is not None and el.text else None

    lines = []
    if etree.QName(root).localname == "Order":
        for item in _elements(root, "*[local-name()='OrderLine']/*[local-name()='LineItem']"):
            qty = first(item, "Quantity")
            rate = value(item, "Item", "ClassifiedTaxCategory", "Percent")
            name = value(item, "Item", "Name") or ""
            lines.append(
                Line(
                    line_id=value(item, "ID") or "",
                    name=name,
                    quantity=Decimal(qty.text.strip()),  # type: ignore[union-attr]  # generate writes every quantity
                    unit=qty.get("unitCode") or "C62",  # type: ignore[union-attr]  # generate writes every quantity
                    unit_price=Decimal(value(item, "Price", "PriceAmount") or "0"),
                    vat_rate=Decimal(rate) if rate else _CATALOGUE_RATES.get(name, Decimal(20)),
                    seller_item_id=value(item, "Item", "SellersItemIdentification", "ID"),
                )
            )
        return lines
    for item in _elements(root, "//*[local-name()='IncludedSupplyChainTradeLineItem']"):
        qty = first(item, "SpecifiedLineTradeDelivery", "RequestedQuantity")
        rate = value(item, "SpecifiedLineTradeSettlement", "ApplicableTradeTax", "RateApplicablePercent")
        name = value(item, "SpecifiedTradeProduct", "Name") or ""
        lines.append(
            Line(
                line_id=value(item, "AssociatedDocumentLineDocument", "LineID") or "",
                name=name,
                quantity=Decimal(qty.text.strip()),  # type: ignore[union-attr]  # generate writes every quantity
                unit=qty.get("unitCode") or "C62",  # type: ignore[union-attr]  # generate writes every quantity
                unit_price=Decimal(
                    value(item, "SpecifiedLineTradeAgreement", "NetPriceProductTradePrice", "ChargeAmount") or "0"
                ),
                vat_rate=Decimal(rate) if rate else _CATALOGUE_RATES.get(name, Decimal(20)),
                seller_item_id=value(item, "SpecifiedTradeProduct", "SellerAssignedID"),
            )
        )
    return lines


# EN 16931 (BR-CL-23) wants UN/ECE Rec 20 unit codes with the Rec 21 extension: a package
# code of Rec 21 is written with an X prefix on an invoice.


_DEMO_ORDER = re.compile(r"(?:ubl-order|orderx-220)-(.+)\.xml")


def _demo_order_lines() -> dict[str, list[Line]]:
    """The lines of every valid demo order by engagement number."""
    found = {}
    for name, data in generate.demo_files():
        match = _DEMO_ORDER.fullmatch(name)
        if match:
            found[match.group(1)] = order_lines(data)
    return found


# --------------------------------------------------------------------------- the demo wave
INVOICE_DATE = date(2026, 2, 16)
PAID_AT = "2026-03-16T09:00:00"
SERVICE_DONE_AT = "2026-03-10T14:30:00"
REJECTED_ON = "2026-03-02"


@dataclass(frozen=True)
class _Planned:
    file: str
    number: str
    supplier: Org
    issuer: Org
    engagement: str | None  # BT-13 as written
    lines: tuple[Line, ...]
    credit: bool = False
    billing_reference: str | None = None
    note: str | None = None
    billing_mode: str = BILLING_MODE  # BT-23: B1 goods, S1 services


def _eng(i: int) -> str:
    return generate.engagement_number(100 + i)


def _plan() -> list[_Planned]:
    """The invoices of the third wave, against the engagements of ``demo_files`` as
    ``demo_answers`` leaves them (101, 103 and 107 PRIS_EN_COMPTE, 105 REFUSE), with the lines
    of their orders."""
    mairie, departement, chu, lycee = ISSUERS
    papeteries, numerique, restauration, mobilier = SUPPLIERS
    orders = _demo_order_lines()
    e101, e103, e105, e107 = (orders[_eng(i)] for i in (1, 3, 5, 7))
    returned = replace(e101[0], quantity=min(e101[0].quantity, Decimal(1)).quantize(Decimal("0.01")))
    doubled = [replace(e103[0], quantity=e103[0].quantity * 2), *e103[1:]]
    meals = Line("1", "Plateau-repas réunion", Decimal(12), "C62", Decimal("16.50"), Decimal(10), "RES-PLAT-REU")
    room = Line(
        "1", "Mise à disposition d'une salle de réunion", Decimal(1), "C62", Decimal("180.00"), Decimal(20), "MOB-SALLE"
    )
    first = "FA-PRC-2026-0041"
    return [
        # 101: two partial invoices and a credit note (goods returned on line 1)
        _Planned(f"facture-{first}.xml", first, papeteries, mairie, _eng(1), tuple(e101[:2])),
        _Planned("facture-FA-PRC-2026-0042.xml", "FA-PRC-2026-0042", papeteries, mairie, _eng(1), tuple(e101[2:3])),
        _Planned(
            "avoir-AV-PRC-2026-0007.xml",
            "AV-PRC-2026-0007",
            papeteries,
            mairie,
            _eng(1),
            (returned,),
            credit=True,
            billing_reference=first,
        ),
        # 103: line 1 invoiced twice over: above the ordered amount
        _Planned("facture-RCAV-2026-1187.xml", "RCAV-2026-1187", restauration, chu, _eng(3), tuple(doubled)),
        # 107: the whole order, as a Factur-X PDF
        _Planned("facture-NSP-2026-000318.pdf", "NSP-2026-000318", numerique, mairie, _eng(7), tuple(e107)),
        # an engagement number nobody issued; no engagement at all (BT-13 "NA"); the refused 105
        _Planned(
            "facture-RCAV-2026-1190.xml",
            "RCAV-2026-1190",
            restauration,
            chu,
            generate.engagement_number(199),
            (meals,),
            billing_mode="S1",
        ),
        _Planned("facture-MBO-F-2026-077.xml", "MBO-F-2026-077", mobilier, lycee, "NA", (room,), billing_mode="S1"),
        _Planned("facture-FA-PRC-2026-0043.xml", "FA-PRC-2026-0043", papeteries, departement, _eng(5), tuple(e105)),
        # the first invoice sent again: same seller and number, other bytes (named to sort after it)
        _Planned(
            f"facture-renvoi-{first}.xml",
            first,
            papeteries,
            mairie,
            _eng(1),
            tuple(e101[:2]),
            note=f"Renvoi de la facture {first}",
        ),
    ]


def demo_invoices() -> list[tuple[str, bytes]]:
    """The third demo wave, dropped once the answers of ``demo_answers`` are applied; every
    file must integrate (anomalies are findings on integrated invoices, not rejections):

    * EJ2026-000101 (accepted): two invoices and a credit note → PARTIALLY_INVOICED; the first
      invoice is then MISE_EN_PAIEMENT (paid);
    * EJ2026-000103 (accepted): one invoice above the ordered amount → OVER_INVOICED;
    * EJ2026-000107 (accepted): a Factur-X PDF invoice for the whole order → FULLY_INVOICED,
      then SERVICE_FAIT;
    * an invoice on an unknown engagement number (then REJETEE by the public entity), one with
      BT-13 ``NA`` (no engagement), one on the refused engagement 1300000105;
    * the first invoice sent again with other bytes (DUPLICATE_INVOICE, never counted);
    * a CPPStatut flow (MISE_EN_PAIEMENT, SERVICE_FAIT) and an operator statuses CSV (REJETEE).
    """
    files: list[tuple[str, bytes]] = []
    issued_on: dict[str, date] = {}
    for k, inv in enumerate(_plan()):
        issued = INVOICE_DATE + timedelta(days=k)
        issued_on.setdefault(inv.number, issued)
        if inv.file.endswith(".pdf"):
            xml = cii_invoice(
                inv.number,
                inv.supplier,
                inv.issuer,
                inv.lines,
                issued,
                engagement=inv.engagement,
                billing_mode=inv.billing_mode,
            )
            files.append((inv.file, facturx_pdf(xml)))
            continue
        data = ubl_invoice(
            inv.number,
            inv.supplier,
            inv.issuer,
            inv.lines,
            issued,
            engagement=inv.engagement,
            credit=inv.credit,
            billing_reference=inv.billing_reference,
            note=inv.note,
            billing_reference_date=issued_on.get(inv.billing_reference) if inv.billing_reference else None,
            billing_mode=inv.billing_mode,
        )
        files.append((inv.file, data))
    papeteries, numerique, restauration, _mobilier = SUPPLIERS
    flow = lifecycle.cppstatut_document(
        [
            ("FA-PRC-2026-0041", papeteries.siret, "11", PAID_AT),
            ("NSP-2026-000318", numerique.siret, "07", SERVICE_DONE_AT),
        ],
        flow_id="CPP-DEMO-0001",
        debtor=ISSUERS[0].siret,
    )
    files.append(("cppstatut-CPP-DEMO-0001.xml", flow))
    files.append(
        (
            "statuts-factures.csv",
            lifecycle.statuses_csv([("RCAV-2026-1190", restauration.siret, "REJETEE", REJECTED_ON)]),
        )
    )
    return files
