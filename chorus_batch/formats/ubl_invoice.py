"""UBL 2.1 Invoice and CreditNote (EN 16931, Peppol BIS Billing 3) → ``InvoiceDocument``.

Owns: the UBL invoice XPaths (reference/standards.md §3) and the recognition of both roots
(an Invoice with a credit type code is a credit note). Parties, amounts, dates, the credit-note
rule and the tax total in the document currency are read with the helpers every reader shares
(``common``), so that orders and both invoice syntaxes judge them alike. Registers ``Invoices``
(syntax ``ubl``, like the orders).
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from ..domain.model import Document, InvoiceDocument, InvoiceLine, Party, Totals
from ..errors import DocumentRejected
from . import ubl
from .common import (
    UBL,
    UBL_NS,
    amount,
    amount_currencies,
    credit_type,
    is_credit,
    number,
    tax_total_in,
    ubl_date,
    ubl_party,
    ubl_roots,
    unit,
)
from .registry import REGISTRY, Recognised, read_root

NS = UBL_NS
SCHEMAS = {"Invoice": "ubl-invoice", "CreditNote": "ubl-creditnote"}
_MARKERS = ((b"Invoice-2", "invoice"), (b"CreditNote-2", "credit_note"))
_find, _text, _all = UBL.first, UBL.text, UBL.all

_LINES = {
    "Invoice": ("cac:InvoiceLine", "cbc:InvoicedQuantity"),
    "CreditNote": ("cac:CreditNoteLine", "cbc:CreditedQuantity"),
}


def _lines(root: etree._Element, line_path: str, qty_path: str) -> tuple[InvoiceLine, ...]:
    lines = []
    for line in _all(root, line_path):
        qty = _find(line, qty_path)
        lines.append(
            InvoiceLine(
                line_id=_text(line, "cbc:ID") or "",
                name=_text(line, "cac:Item/cbc:Name") or _text(line, "cac:Item/cbc:Description"),
                quantity=amount(qty),
                unit=unit(qty),
                unit_price=amount(_find(line, "cac:Price/cbc:PriceAmount")),
                net_amount=amount(_find(line, "cbc:LineExtensionAmount")),
                order_line_ref=_text(line, "cac:OrderLineReference/cbc:LineID"),
                base_quantity=amount(_find(line, "cac:Price/cbc:BaseQuantity")),
                adjustments=ubl.line_adjustments(line),
            )
        )
    return tuple(lines)


def _totals(root: etree._Element, tax_total: Decimal | None) -> Totals:
    return ubl.monetary_totals(_find(root, "cac:LegalMonetaryTotal"), tax_total)


def parse_invoice(root: etree._Element) -> InvoiceDocument:
    """Map a schema-valid UBL 2.1 Invoice or CreditNote to the domain (BT-13 kept as written)."""
    name = etree.QName(root).localname
    credit_root = name == "CreditNote"
    line_path, qty_path = _LINES["CreditNote" if credit_root else "Invoice"]
    written, number_xpath = number(_find(root, "cbc:ID"))
    currency = _text(root, "cbc:DocumentCurrencyCode")
    tax_amounts = _all(root, "cac:TaxTotal/cbc:TaxAmount")
    tax_total, accounting = tax_total_in(tax_amounts, currency, _text(root, "cbc:TaxCurrencyCode"))
    totals = _totals(root, tax_total)
    type_code = _text(root, "cbc:CreditNoteTypeCode" if credit_root else "cbc:InvoiceTypeCode")
    return InvoiceDocument(
        syntax="ubl",
        profile=_text(root, "cbc:CustomizationID"),
        number=written.strip(),
        type_code=type_code,
        credit=is_credit(type_code, totals, credit_root),
        issue_date=ubl_date(_find(root, "cbc:IssueDate")),
        due_date=ubl_date(_find(root, "cbc:DueDate")),  # BT-9 (a CreditNote has none at its root)
        currency=currency,
        seller=ubl_party(_find(root, "cac:AccountingSupplierParty")) or Party(None),
        buyer=ubl_party(_find(root, "cac:AccountingCustomerParty")) or Party(None),
        order_reference=_text(root, "cac:OrderReference/cbc:ID"),
        buyer_reference=_text(root, "cbc:BuyerReference"),
        totals=totals,
        lines=_lines(root, line_path, qty_path),
        amount_currencies=amount_currencies(root, accounting),
        number_xpath=number_xpath,
    )


class Invoices:
    """UBL invoices and credit notes (``ubl``)."""

    name = "ubl"
    markers = _MARKERS
    roots = ubl_roots(SCHEMAS)

    def schema(self, root: etree._Element) -> str:
        return SCHEMAS[etree.QName(root).localname]

    def identify(self, root: etree._Element) -> Recognised:
        credit = etree.QName(root).localname == "CreditNote" or credit_type(_text(root, "cbc:InvoiceTypeCode"))
        # a best guess from the type code; parse_invoice also reads the totals' sign
        kind = "credit_note" if credit else "invoice"
        return Recognised(kind, self.name, self.schema(root), _text(root, "cbc:ID"), root)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        return read_root({"invoice": parse_invoice, "credit_note": parse_invoice}, doc)


REGISTRY.register(Invoices())
