"""CII D16B invoices (``rsm:CrossIndustryInvoice``: EN 16931 CII, Factur-X, ZUGFeRD 2, XRechnung)
→ ``InvoiceDocument``.

Owns: the CII invoice XPaths (reference/standards.md §4) and the choice of XSD from the
guideline id (``schema_for``). Registers ``CrossIndustryInvoices`` (syntax ``cii``). Trade
parties and dates have the Order-X shape under the :100 namespaces; they, the amounts, the
credit-note rule and the tax total in the invoice currency are read with the helpers every
reader shares (``common.trade_party``, ``common.udt_date``, ``common.amount``,
``common.is_credit``, ``common.tax_total_in``).

Schema choice (``guidelines.cii_schema``; checked on every CII sample of ../shared, see
tests/unit/test_invoice_formats.py): each Factur-X profile, and the ZUGFeRD 2 id of the same
level, has its own XSD in factur-x; the French CTC EXTENDED guideline has the
D22B ``cii-extended-ctc-fr`` XSD. Any other guideline (EN 16931 CIUS such as XRechnung,
ZUGFeRD 1 "comfort" ids reused in CII, unknown ids) is validated with ``cii-extended-ctc-fr``:
it is the only shipped CII XSD that accepts every sample the official UN/CEFACT D16B schema
accepts (the Factur-X EXTENDED XSD, the next widest, refuses a MINIMUM invoice).
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from ..domain.model import Document, InvoiceDocument, InvoiceLine, Party, Totals
from ..errors import DocumentRejected
from .common import (
    amount,
    amount_currencies,
    credit_type,
    is_credit,
    number,
    tax_total_in,
    totals,
    trade_line_adjustments,
    trade_party,
    udt_date,
    unit,
)
from .guidelines import DEFAULT_SCHEMA as DEFAULT_SCHEMA  # re-exported: the widest XSD
from .guidelines import cii_schema
from .registry import REGISTRY, Recognised, read_root
from .xml import text

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS = {"rsm": RSM, "ram": RAM, "udt": UDT}
ROOT = f"{{{RSM}}}CrossIndustryInvoice"

_T = "rsm:SupplyChainTradeTransaction"
_AGREEMENT = f"{_T}/ram:ApplicableHeaderTradeAgreement"
_SETTLEMENT = f"{_T}/ram:ApplicableHeaderTradeSettlement"
_GUIDELINE = "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"

# Sub-lines of the EXTENDED profiles (EXT-FR-FE-162/163): a DETAIL line has a parent whose amount
# already includes it, an INFORMATION line is not invoiced. Neither is a line of the invoice total.
_NOT_INVOICED = {"DETAIL", "INFORMATION"}
# Totals field -> its element in the header monetary summation (the VAT total is chosen apart)
_TOTAL_NAMES = {
    "line_total": "LineTotalAmount",
    "allowances": "AllowanceTotalAmount",
    "charges": "ChargeTotalAmount",
    "tax_exclusive": "TaxBasisTotalAmount",
    "tax_inclusive": "GrandTotalAmount",
    "prepaid": "TotalPrepaidAmount",
    "rounding": "RoundingAmount",
    "payable": "DuePayableAmount",
}


def _find(node: etree._Element | None, path: str) -> etree._Element | None:
    return None if node is None else node.find(path, NS)


def _text(node: etree._Element | None, path: str) -> str | None:
    return text(_find(node, path))


def guideline(root: etree._Element) -> str | None:
    return _text(root, _GUIDELINE)


def schema_for(root: etree._Element) -> str:
    """The schema name for a CII invoice, from its guideline id (``guidelines.cii_schema``)."""
    return cii_schema(guideline(root))


def type_code(root: etree._Element) -> str | None:
    return _text(root, "rsm:ExchangedDocument/ram:TypeCode")


def _counts(item: etree._Element) -> bool:
    """Whether a line item is a line of the invoice (not an EXTENDED sub-line or information line)."""
    doc = _find(item, "ram:AssociatedDocumentLineDocument")
    if doc is None:
        return True
    return (
        _text(doc, "ram:ParentLineID") is None
        and (_text(doc, "ram:LineStatusReasonCode") or "").upper() not in _NOT_INVOICED
    )


def _lines(root: etree._Element) -> tuple[InvoiceLine, ...]:
    """The invoice's lines; EXTENDED sub-lines (DETAIL, INFORMATION) are left out: their parent
    line carries their amount."""
    lines = []
    for item in root.findall(f"{_T}/ram:IncludedSupplyChainTradeLineItem", NS):
        if not _counts(item):
            continue
        agreement = _find(item, "ram:SpecifiedLineTradeAgreement")
        qty = _find(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
        lines.append(
            InvoiceLine(
                line_id=_text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or "",
                name=_text(item, "ram:SpecifiedTradeProduct/ram:Name"),
                quantity=amount(qty),
                unit=unit(qty),
                unit_price=amount(_find(agreement, "ram:NetPriceProductTradePrice/ram:ChargeAmount")),
                net_amount=amount(
                    _find(
                        item,
                        "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
                    )
                ),
                order_line_ref=_text(agreement, "ram:BuyerOrderReferencedDocument/ram:LineID"),
                base_quantity=amount(_find(agreement, "ram:NetPriceProductTradePrice/ram:BasisQuantity")),
                adjustments=trade_line_adjustments(item, NS),
            )
        )
    return tuple(lines)


def _totals(summary: etree._Element | None, tax_total: Decimal | None) -> Totals:
    return totals(lambda name: _find(summary, f"ram:{name}"), _TOTAL_NAMES, tax_total=tax_total)


def parse_invoice(root: etree._Element) -> InvoiceDocument:
    """Map a schema-valid CII invoice or credit note to the domain (BT-13 kept as written)."""
    written, number_xpath = number(_find(root, "rsm:ExchangedDocument/ram:ID"))
    agreement = _find(root, _AGREEMENT)
    settlement = _find(root, _SETTLEMENT)
    currency = _text(settlement, "ram:InvoiceCurrencyCode")
    summary = _find(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    tax_amounts = summary.findall("ram:TaxTotalAmount", NS) if summary is not None else []
    tax_total, accounting = tax_total_in(tax_amounts, currency, _text(settlement, "ram:TaxCurrencyCode"))
    totals = _totals(summary, tax_total)
    code = type_code(root)
    return InvoiceDocument(
        syntax="cii",
        profile=guideline(root),
        number=written.strip(),
        type_code=code,
        credit=is_credit(code, totals),
        issue_date=udt_date(_find(root, "rsm:ExchangedDocument/ram:IssueDateTime"), NS),
        due_date=udt_date(_find(settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime"), NS),  # BT-9
        currency=currency,
        seller=trade_party(_find(agreement, "ram:SellerTradeParty"), NS) or Party(None),
        buyer=trade_party(_find(agreement, "ram:BuyerTradeParty"), NS) or Party(None),
        order_reference=_text(agreement, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        buyer_reference=_text(agreement, "ram:BuyerReference"),
        totals=totals,
        lines=_lines(root),
        amount_currencies=amount_currencies(root, accounting),
        number_xpath=number_xpath,
    )


class CrossIndustryInvoices:
    """CII invoices and credit notes (``cii``), Factur-X's XML among them."""

    name = "cii"
    markers = ((b"CrossIndustryInvoice", "invoice"),)
    roots = (ROOT,)

    def schema(self, root: etree._Element) -> str:
        return schema_for(root)

    def identify(self, root: etree._Element) -> Recognised:
        kind = "credit_note" if credit_type(type_code(root)) else "invoice"
        return Recognised(kind, self.name, schema_for(root), _text(root, "rsm:ExchangedDocument/ram:ID"), root)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        return read_root({"invoice": parse_invoice, "credit_note": parse_invoice}, doc)


REGISTRY.register(CrossIndustryInvoices())
