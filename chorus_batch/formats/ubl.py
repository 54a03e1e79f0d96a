"""UBL 2.1 order family (Peppol BIS Ordering 3), the syntax ``ubl`` of orders: Order →
``OrderDocument``, OrderResponse → ``ResponseDocument``, OrderChange → ``ChangeDocument``,
OrderCancellation → ``CancellationDocument``.

Owns: the order family's XPaths, its roots and schemas (``ROOTS``: the project's own maindoc
schemas, in ``schemas/``), and the UBL MonetaryTotal (``monetary_totals``, which the invoice
reader uses too). Registers ``OrderFamily``.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from ..domain.model import (
    Attachment,
    CancellationDocument,
    ChangeDocument,
    Delivery,
    Document,
    LineChange,
    OrderDocument,
    OrderLine,
    Party,
    ResponseDocument,
    Totals,
)
from ..domain.pricing import restated_base
from ..errors import DocumentRejected
from .common import (
    UBL,
    UBL_NS,
    adjustments,
    amount,
    amount_currencies,
    attachment,
    joined,
    number,
    serving,
    texts,
    totals,
    ubl_address,
    ubl_date,
    ubl_party,
    ubl_roots,
    unit,
)
from .registry import REGISTRY, Recognised, read_root
from .xml import Fields, path_of, text

NS = UBL_NS

# root local name -> (kind, schema name)
ROOTS = {
    "Order": ("order", "ubl-order"),
    "OrderResponse": ("order_response", "ubl-order-response"),
    "OrderChange": ("order_change", "ubl-order-change"),
    "OrderCancellation": ("order_cancellation", "ubl-order-cancellation"),
}
# what the first bytes of each show (OrderResponse-2 before Order-2: see registry._SNIFF_ORDER)
_MARKERS = (
    (b"OrderResponse-2", "order_response"),
    (b"OrderChange-2", "order_change"),
    (b"OrderCancellation-2", "order_cancellation"),
    (b"Order-2", "order"),
)
_find, _text, _all = UBL.first, UBL.text, UBL.all


def _attachments(references: list[etree._Element]) -> tuple[Attachment, ...]:
    return tuple(
        attachment(
            _text(ref, "cbc:ID"),
            _find(ref, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject"),
            _text(ref, "cbc:DocumentType") or _text(ref, "cbc:DocumentDescription"),
            _text(ref, "cac:Attachment/cac:ExternalReference/cbc:URI"),
        )
        for ref in references
    )


_LINE = Fields(  # under cac:OrderLine
    NS,
    note="cbc:Note",
    item="cac:LineItem",
    line_id="cac:LineItem/cbc:ID",
    quantity="cac:LineItem/cbc:Quantity",
    net_amount="cac:LineItem/cbc:LineExtensionAmount",
    unit_price="cac:LineItem/cac:Price/cbc:PriceAmount",
    base_quantity="cac:LineItem/cac:Price/cbc:BaseQuantity",
    name="cac:LineItem/cac:Item/cbc:Name",
    description="cac:LineItem/cac:Item/cbc:Description",
    seller_item_id="cac:LineItem/cac:Item/cac:SellersItemIdentification/cbc:ID",
    buyer_item_id="cac:LineItem/cac:Item/cac:BuyersItemIdentification/cbc:ID",
    standard_item_id="cac:LineItem/cac:Item/cac:StandardItemIdentification/cbc:ID",
    tax_rate="cac:LineItem/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent",
    charge="cac:LineItem/cac:AllowanceCharge",  # the first: the others are looked for only then
)


def _lines(order_lines: list[etree._Element]) -> tuple[OrderLine, ...]:
    lines = []
    for order_line in order_lines:
        f = _LINE.read(order_line)
        qty = f.get("quantity")
        lines.append(
            OrderLine(
                line_id=text(f.get("line_id")) or "",
                name=text(f.get("name")) or text(f.get("description")),
                quantity=amount(qty),
                unit=unit(qty),
                unit_price=amount(f.get("unit_price")),
                net_amount=amount(f.get("net_amount")),
                seller_item_id=text(f.get("seller_item_id")),
                buyer_item_id=text(f.get("buyer_item_id")),
                standard_item_id=text(f.get("standard_item_id")),
                tax_rate=amount(f.get("tax_rate")),
                note=text(f.get("note")),
                xpath=path_of(f["item"]),  # the schema requires one LineItem
                base_quantity=amount(f.get("base_quantity")),
                adjustments=line_adjustments(f["item"]) if "charge" in f else None,
            )
        )
    return tuple(lines)


def _allowance_charge(node: etree._Element) -> tuple[str | None, Decimal | None]:
    return _text(node, "cbc:ChargeIndicator"), amount(_find(node, "cbc:Amount"))


def line_adjustments(line: etree._Element) -> Decimal | None:
    """The charges − allowances of a UBL line (``cac:AllowanceCharge`` under the line, not those
    of its price, which the net price already includes)."""
    return adjustments(_all(line, "cac:AllowanceCharge"), _allowance_charge)


_DELIVERY = Fields(  # under cac:Delivery; DeliveryLocation and RequestedDeliveryPeriod occur once at most
    NS,
    party_name="cac:DeliveryParty/cac:PartyName/cbc:Name",
    location_id="cac:DeliveryLocation/cbc:ID",
    address="cac:DeliveryLocation/cac:Address",
    start="cac:RequestedDeliveryPeriod/cbc:StartDate",
    end="cac:RequestedDeliveryPeriod/cbc:EndDate",
)


def _delivery(node: etree._Element | None) -> Delivery | None:
    if node is None:
        return None
    f = _DELIVERY.read(node)
    return Delivery(
        party_name=text(f.get("party_name")),
        location_id=text(f.get("location_id")),
        address=ubl_address(f.get("address")),
        start=ubl_date(f.get("start")),
        end=ubl_date(f.get("end")),
    )


def _totals(tax_amounts: list[etree._Element], total: etree._Element | None) -> Totals:
    taxes = [amount(n) for n in tax_amounts]
    tax_total = sum((t for t in taxes if t is not None), Decimal(0)) if taxes else None
    return monetary_totals(total, tax_total)


# Totals field -> its element in a UBL MonetaryTotal
_TOTAL_NAMES = {
    "line_total": "LineExtensionAmount",
    "allowances": "AllowanceTotalAmount",
    "charges": "ChargeTotalAmount",
    "tax_exclusive": "TaxExclusiveAmount",
    "tax_inclusive": "TaxInclusiveAmount",
    "prepaid": "PrepaidAmount",
    "rounding": "PayableRoundingAmount",
    "payable": "PayableAmount",
}
_TOTALS = Fields(NS, **{name: f"cbc:{name}" for name in _TOTAL_NAMES.values()})


def monetary_totals(total: etree._Element | None, tax_total: Decimal | None) -> Totals:
    """A UBL MonetaryTotal (AnticipatedMonetaryTotal of orders, LegalMonetaryTotal of invoices)."""
    found = _TOTALS.read(total) if total is not None else {}
    return totals(found.get, _TOTAL_NAMES, tax_total=tax_total)


_HEADER = Fields(  # the order's root: what it may repeat (``every``), then what it holds once
    NS,
    {
        "lines": "cac:OrderLine",
        "notes": "cbc:Note",
        "terms": "cac:PaymentTerms/cbc:Note",
        "taxes": "cac:TaxTotal/cbc:TaxAmount",
        "references": "cac:AdditionalDocumentReference",
    },
    profile="cbc:CustomizationID",
    issue_date="cbc:IssueDate",
    type_code="cbc:OrderTypeCode",
    currency="cbc:DocumentCurrencyCode",
    service="cbc:CustomerReference",
    issuer="cac:BuyerCustomerParty/cac:Party",
    supplier="cac:SellerSupplierParty/cac:Party",
    invoicee="cac:AccountingCustomerParty/cac:Party",
    contract="cac:Contract/cbc:ID",
    means="cac:PaymentMeans/cbc:PaymentMeansCode",
    validity_end="cac:ValidityPeriod/cbc:EndDate",
    delivery="cac:Delivery",
    total="cac:AnticipatedMonetaryTotal",
)


def parse_order(root: etree._Element, number_path: str = "cbc:ID") -> OrderDocument:
    """Map a schema-valid UBL 2.1 Order (or the order content of an OrderChange) to the domain."""
    h, every = _HEADER.read_every(root)
    written, number_xpath = number(_find(root, number_path))
    service = text(h.get("service"))
    issuer = serving(ubl_party(h.get("issuer")) or Party(None), service)
    return OrderDocument(
        syntax="ubl",
        profile=text(h.get("profile")),
        number=written,
        issue_date=ubl_date(h.get("issue_date")),
        type_code=text(h.get("type_code")),
        currency=text(h.get("currency")),
        issuer=issuer,
        supplier=ubl_party(h.get("supplier")) or Party(None),
        invoicee=ubl_party(h.get("invoicee")),
        lines=_lines(every["lines"]),
        totals=_totals(every["taxes"], h.get("total")),
        notes=tuple(texts(every["notes"])),
        buyer_reference=service,
        contract_reference=text(h.get("contract")),
        payment_terms=joined(texts(every["terms"]), "; "),
        payment_means=text(h.get("means")),
        delivery=_delivery(h.get("delivery")),
        attachments=_attachments(every["references"]),
        validity_end=ubl_date(h.get("validity_end")),
        amount_currencies=amount_currencies(root),
        number_xpath=number_xpath,
    )


def _line_changes(root: etree._Element) -> tuple[LineChange, ...]:
    """Order lines of a response or a change, keyed by the order line they refer to."""
    result = []
    for order_line in _all(root, "cac:OrderLine"):
        item = _find(order_line, "cac:LineItem")
        if item is None:
            continue
        qty = _find(item, "cbc:Quantity")
        price = amount(_find(item, "cac:Price/cbc:PriceAmount"))
        result.append(
            LineChange(
                line_id=_text(order_line, "cac:OrderLineReference/cbc:LineID") or _text(item, "cbc:ID") or "",
                status=_text(item, "cbc:LineStatusCode"),
                name=_text(item, "cac:Item/cbc:Name"),
                quantity=amount(qty),
                unit=unit(qty),
                unit_price=price,
                net_amount=amount(_find(item, "cbc:LineExtensionAmount")),
                tax_rate=amount(_find(item, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
                base_quantity=restated_base(price, amount(_find(item, "cac:Price/cbc:BaseQuantity"))),
            )
        )
    return tuple(result)


def _notes(root: etree._Element, path: str = "cbc:Note") -> str | None:
    return joined(texts(_all(root, path)), "\n")


def parse_response(root: etree._Element) -> ResponseDocument:
    """A UBL OrderResponse. No ``OrderResponseCode`` (Peppol Order Agreement) counts as AP."""
    return ResponseDocument(
        syntax="ubl",
        number=_text(root, "cbc:ID"),
        order_number=_text(root, "cac:OrderReference/cbc:ID") or "",
        code=(_text(root, "cbc:OrderResponseCode") or "AP").upper(),
        reason=_notes(root),
        issuer=ubl_party(_find(root, "cac:BuyerCustomerParty")),
        supplier=ubl_party(_find(root, "cac:SellerSupplierParty")),
        issue_date=ubl_date(_find(root, "cbc:IssueDate")),
        lines=_line_changes(root),
    )


def parse_change(root: etree._Element) -> ChangeDocument:
    """A UBL OrderChange: the order content under the referenced order's number."""
    changes = _line_changes(root)
    return ChangeDocument(
        order=parse_order(root, "cac:OrderReference/cbc:ID"),
        sequence=_text(root, "cbc:SequenceNumberID"),
        line_changes=changes if any(c.status for c in changes) else (),
    )


def parse_cancellation(root: etree._Element) -> CancellationDocument:
    return CancellationDocument(
        syntax="ubl",
        number=_text(root, "cbc:ID"),
        order_number=_text(root, "cac:OrderReference/cbc:ID") or "",
        issuer=ubl_party(_find(root, "cac:BuyerCustomerParty")) or Party(None),
        supplier=ubl_party(_find(root, "cac:SellerSupplierParty")),
        reason=_notes(root, "cbc:CancellationNote"),
        issue_date=ubl_date(_find(root, "cbc:IssueDate")),
    )


class OrderFamily:
    """The UBL order family (``ubl``): Order, OrderResponse, OrderChange, OrderCancellation."""

    name = "ubl"
    markers = _MARKERS
    roots = ubl_roots(ROOTS)

    def schema(self, root: etree._Element) -> str:
        return ROOTS[etree.QName(root).localname][1]

    def identify(self, root: etree._Element) -> Recognised:
        kind, schema = ROOTS[etree.QName(root).localname]
        return Recognised(kind, self.name, schema, _text(root, "cbc:ID"), root)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        return read_root(
            {
                "order": parse_order,
                "order_response": parse_response,
                "order_change": parse_change,
                "order_cancellation": parse_cancellation,
            },
            doc,
        )


REGISTRY.register(OrderFamily())
