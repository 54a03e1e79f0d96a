"""UBL 2.1 Invoice and CreditNote (EN 16931, Peppol BIS Billing 3) → ``InvoiceDocument``.

Owns: the UBL invoice XPaths (reference/standards.md §3), the credit-note rule shared with the
CII reader (``is_credit``), and picking the tax total in the document currency
(``tax_total_in``). Parties, amounts and dates are read with the order reader's helpers
(``ubl.party``, ``ubl.amount``, ``ubl._date``) so both documents judge them alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from lxml import etree

from ..domain.model import InvoiceDocument, InvoiceLine, Party, Totals
from . import ubl
from .ubl import NS, _all, _date, _find, _text, amount, party  # noqa: F401 -- NS: this module's namespaces too
from .xml import path_of

# UNTDID 1001 document types that are credits (credit note, its self-billed, factored, ... forms;
# 261/262 self-billed and consolidated credit notes; 308 delcredere; 396 factored; 420
# optical-character-reading; 458 reversal of debit; 532 forwarder's).
CREDIT_TYPE_CODES = frozenset({"381", "261", "262", "296", "308", "396", "420", "458", "532"})

_LINES = {"Invoice": ("cac:InvoiceLine", "cbc:InvoicedQuantity"), "CreditNote": ("cac:CreditNoteLine", "cbc:CreditedQuantity")}


def credit_type(type_code: str | None) -> bool:
    """Whether ``type_code`` (UNTDID 1001) is a credit note type."""
    return (type_code or "").strip() in CREDIT_TYPE_CODES


def is_credit(type_code: str | None, totals: Totals, credit_root: bool = False) -> bool:
    """A credit note: a CreditNote root, a credit type code, or an invoice whose total with VAT
    (the amount due when the document gives no such total) is negative — French issuers often
    send credit notes as 380 with negative amounts."""
    if credit_root or credit_type(type_code):
        return True
    total = totals.tax_inclusive if totals.tax_inclusive is not None else totals.payable
    return total is not None and total < 0


def tax_total_in(
    elements: Iterable[etree._Element], currency: str | None, tax_currency: str | None
) -> tuple[Decimal | None, set[etree._Element]]:
    """The document's VAT total among ``elements`` (UBL ``cac:TaxTotal/cbc:TaxAmount``, CII
    ``ram:TaxTotalAmount``), and the elements that state it in the VAT accounting currency.

    EN 16931 allows a second VAT total in the accounting currency (BT-111, currency BT-6): only
    the one in the document currency (or without a currency) counts. The BT-111 elements are
    returned so the caller can leave their currency out of the "one currency" check; a tax
    amount in a third currency stays in, and is reported as a currency inconsistency.
    """
    found = list(elements)
    if not found:
        return None, set()
    chosen = [el for el in found if (el.get("currencyID") or "").strip() in ("", currency)] or found[:1]
    accounting = {
        el for el in found if el not in chosen and tax_currency and (el.get("currencyID") or "").strip() == tax_currency
    }
    values = [amount(el) for el in chosen]
    return sum((v for v in values if v is not None), Decimal(0)), accounting


def amount_currencies(root: etree._Element, excluded: set[etree._Element]) -> tuple[str, ...]:
    """Every ``currencyID`` on an amount of the document, except on the ``excluded`` elements."""
    currencies = {el.get("currencyID", "").strip() for el in root.iter() if el.get("currencyID") is not None and el not in excluded}
    return tuple(sorted(currencies))


def _lines(root: etree._Element, line_path: str, qty_path: str) -> tuple[InvoiceLine, ...]:
    lines = []
    for line in _all(root, line_path):
        qty = _find(line, qty_path)
        lines.append(
            InvoiceLine(
                line_id=_text(line, "cbc:ID") or "",
                name=_text(line, "cac:Item/cbc:Name") or _text(line, "cac:Item/cbc:Description"),
                quantity=amount(qty),
                unit=qty.get("unitCode") if qty is not None else None,
                unit_price=amount(_find(line, "cac:Price/cbc:PriceAmount")),
                net_amount=amount(_find(line, "cbc:LineExtensionAmount")),
                order_line_ref=_text(line, "cac:OrderLineReference/cbc:LineID"),
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
    number_node = _find(root, "cbc:ID")
    currency = _text(root, "cbc:DocumentCurrencyCode")
    tax_amounts = _all(root, "cac:TaxTotal/cbc:TaxAmount")
    tax_total, accounting = tax_total_in(tax_amounts, currency, _text(root, "cbc:TaxCurrencyCode"))
    totals = _totals(root, tax_total)
    type_code = _text(root, "cbc:CreditNoteTypeCode" if credit_root else "cbc:InvoiceTypeCode")
    return InvoiceDocument(
        syntax="ubl",
        profile=_text(root, "cbc:CustomizationID"),
        number=(number_node.text or "").strip() if number_node is not None else "",
        type_code=type_code,
        credit=is_credit(type_code, totals, credit_root),
        issue_date=_date(_find(root, "cbc:IssueDate")),
        currency=currency,
        seller=party(_find(root, "cac:AccountingSupplierParty")) or Party(None),
        buyer=party(_find(root, "cac:AccountingCustomerParty")) or Party(None),
        order_reference=_text(root, "cac:OrderReference/cbc:ID"),
        buyer_reference=_text(root, "cbc:BuyerReference"),
        totals=totals,
        lines=_lines(root, line_path, qty_path),
        amount_currencies=amount_currencies(root, accounting),
        number_xpath=path_of(number_node) if number_node is not None else None,
    )

