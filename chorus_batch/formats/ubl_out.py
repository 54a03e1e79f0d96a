"""UBL 2.1 OrderResponse writer (Peppol BIS Ordering 3, transaction T76): ``OutgoingResponse`` → bytes.

The counterpart of ``ubl.py`` for the answers chorus-batch emits toward the issuer. Owns the UBL
response shape and the small text/number formatting helpers ``orderx_out`` shares (escaping,
amounts, quantities). Documents are built from string templates, like the demo generator:
every text and attribute value is escaped, element order follows the UBL 2.1 OrderResponse XSD
sequence, and the output is deterministic (same response → same bytes).

What is written, in XSD order:

* ``cbc:CustomizationID`` ``urn:fdc:peppol.eu:poacc:trns:order_response:3`` and ``cbc:ProfileID``
  ``urn:fdc:peppol.eu:poacc:bis:ordering:3``; ``cbc:ID`` = response id; ``cbc:IssueDate``;
  ``cbc:OrderResponseCode`` = AP / RE / CA (Peppol code list UNCL4343-T76); ``cbc:Note`` = the
  reason when one is given; ``cbc:DocumentCurrencyCode`` when known; ``cbc:CustomerReference`` =
  the issuer's service code when known (where ``ubl.py`` reads it in an Order).
* ``cac:OrderReference/cbc:ID`` = the order (engagement) number.
* ``cac:SellerSupplierParty/cac:Party`` = supplier, ``cac:BuyerCustomerParty/cac:Party`` = issuer:
  ``cbc:EndpointID`` for the first id read from an endpoint (``PartyId.source`` ``endpoint@…``),
  ``cac:PartyIdentification/cbc:ID[@schemeID]`` for the other ids, ``cac:PartyName/cbc:Name``,
  ``cac:PartyTaxScheme`` (``cbc:CompanyID`` + ``cac:TaxScheme/cbc:ID`` ``VAT``) for VAT numbers,
  and ``cac:PartyLegalEntity/cbc:RegistrationName`` = the name again (Peppol rules
  PEPPOL-T76-R001/R002 ask for the official name or an identifier).
* CA only (Peppol rules T76-R007…R009: CA must have lines, AP and RE must not): one
  ``cac:OrderLine`` per ``ResponseLine`` with ``cac:LineItem`` {``cbc:ID``, ``cbc:LineStatusCode``
  (UNTDID 1229), ``cbc:Quantity[@unitCode]``, ``cbc:LineExtensionAmount[@currencyID]``,
  ``cac:Price/cbc:PriceAmount[@currencyID]``, ``cac:Item`` {``cbc:Name``,
  ``cac:BuyersItemIdentification``, ``cac:SellersItemIdentification``}} then
  ``cac:OrderLineReference/cbc:LineID`` = the order line id.

Amounts carry exactly two decimals (half-up); quantities and prices are written as given, never
in scientific notation. UBL amounts require ``@currencyID``: without a known currency, line
amounts and prices are left out. Blank values are never written as empty elements (Peppol
PEPPOL-COMMON-R001), and characters XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xml.sax.saxutils import escape

from ..domain.model import OrderLine, OutgoingResponse, Party, ResponseLine

__all__ = ["CUSTOMIZATION_ID", "PROFILE_ID", "CODES", "write_order_response"]

CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order_response:3"
PROFILE_ID = "urn:fdc:peppol.eu:poacc:bis:ordering:3"
CODES = ("AP", "RE", "CA")  # what an OutgoingResponse may say (UNCL4343-T76 subset)

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OrderResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2"'
    ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
    ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
    f"  <cbc:CustomizationID>{CUSTOMIZATION_ID}</cbc:CustomizationID>\n"
    f"  <cbc:ProfileID>{PROFILE_ID}</cbc:ProfileID>\n"
)
_CENT = Decimal("0.01")

# --------------------------------------------------------------------------- shared helpers
# C0 controls other than TAB/LF/CR, lone surrogates and U+FFFE/U+FFFF are not XML 1.0 characters.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: str | None) -> str | None:
    """``value`` without the characters XML cannot carry; ``None`` when nothing visible is left."""
    if value is None:
        return None
    value = _NOT_XML.sub("", value)
    return value if value.strip() else None


def xml_text(value: str) -> str:
    """Escape element content (a CR is written as ``&#13;`` so that it survives parsing)."""
    return escape(_NOT_XML.sub("", value), {"\r": "&#13;"})


def xml_attr(value: str) -> str:
    """Escape an attribute value written between double quotes (whitespace kept as char refs)."""
    return escape(_NOT_XML.sub("", value), {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def leaf(indent: str, tag: str, value: str | None, **attrs: str | None) -> str:
    """``<tag attr="…">value</tag>`` on its own line, or ``""`` when ``value`` is blank.
    Blank attributes are left out."""
    value = clean(value)
    if value is None:
        return ""
    extra = "".join(f' {name}="{xml_attr(v)}"' for name, v in attrs.items() if clean(v) is not None)
    return f"{indent}<{tag}{extra}>{xml_text(value)}</{tag}>\n"


def _finite(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, got {value!r}")
    return value


def fmt_amount(value: Decimal, what: str = "amount") -> str:
    """An amount with exactly two decimals (half-up), never in scientific notation."""
    try:
        return format(_finite(value, what).quantize(_CENT, rounding=ROUND_HALF_UP), "f")
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is too large to write") from None


def fmt_number(value: Decimal, what: str = "number") -> str:
    """A quantity or unit price as given (``format(d, 'f')``: no exponent)."""
    return format(_finite(value, what), "f")


def line_amount(line: OrderLine) -> Decimal | None:
    """The line's net amount, or quantity × unit price rounded to the cent when it has none."""
    if line.net_amount is not None:
        return line.net_amount
    if line.quantity is not None and line.unit_price is not None:
        return (_finite(line.quantity, "quantity") * _finite(line.unit_price, "unit price")).quantize(
            _CENT, rounding=ROUND_HALF_UP
        )
    return None


def check_response(resp: OutgoingResponse) -> str:
    """Checks common to both writers; returns the normalised code (AP, RE or CA)."""
    code = (resp.code or "").strip().upper()
    if code not in CODES:
        raise ValueError(f"order response code {resp.code!r} is not one of {', '.join(CODES)}")
    if clean(resp.response_id) is None:
        raise ValueError("the order response needs an id (response_id is blank)")
    if clean(resp.order_number) is None:
        raise ValueError("the order response needs the order number it answers (order_number is blank)")
    seen: set[str] = set()
    for rl in resp.lines:
        line_id = clean(rl.line.line_id)
        if line_id is None:
            raise ValueError("every response line needs a line id")
        if line_id in seen:
            raise ValueError(f"line id {line_id!r} appears twice in the response")
        seen.add(line_id)
    return code


# --------------------------------------------------------------------------- UBL parts
def _party(party: Party, wrapper: str) -> str:
    endpoint: tuple[str, str] | None = None
    idents: list[tuple[str, str]] = []
    vats: list[str] = []
    for pid in party.ids:
        value, scheme = clean(pid.value), (pid.scheme or "").strip()
        if value is None:
            continue
        if scheme == "VAT":
            if value not in vats:
                vats.append(value)
        elif endpoint is None and pid.source.startswith("endpoint@"):
            endpoint = (scheme, value)
        elif (scheme, value) not in idents:
            idents.append((scheme, value))
    body = []
    if endpoint is not None:
        body.append(leaf("      ", "cbc:EndpointID", endpoint[1], schemeID=endpoint[0]))
    for scheme, value in idents:
        body.append(f"      <cac:PartyIdentification>\n{leaf('        ', 'cbc:ID', value, schemeID=scheme)}      </cac:PartyIdentification>\n")
    name = clean(party.name)
    if name is not None:
        body.append(f"      <cac:PartyName>\n{leaf('        ', 'cbc:Name', name)}      </cac:PartyName>\n")
    for vat in vats:
        body.append(
            "      <cac:PartyTaxScheme>\n"
            f"{leaf('        ', 'cbc:CompanyID', vat)}"
            "        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>\n"
            "      </cac:PartyTaxScheme>\n"
        )
    if name is not None:
        body.append(f"      <cac:PartyLegalEntity>\n{leaf('        ', 'cbc:RegistrationName', name)}      </cac:PartyLegalEntity>\n")
    party_xml = f"    <cac:Party>\n{''.join(body)}    </cac:Party>\n" if body else ""
    return f"  <cac:{wrapper}>\n{party_xml}  </cac:{wrapper}>\n"


def _order_line(rl: ResponseLine, currency: str | None) -> str:
    line = rl.line
    i = "      "
    parts = [leaf(i, "cbc:ID", line.line_id), leaf(i, "cbc:LineStatusCode", rl.status)]
    if line.quantity is not None:
        parts.append(leaf(i, "cbc:Quantity", fmt_number(line.quantity, "quantity"), unitCode=line.unit))
    if currency is not None:
        net = line_amount(line)
        if net is not None:
            parts.append(leaf(i, "cbc:LineExtensionAmount", fmt_amount(net, "line amount"), currencyID=currency))
        if line.unit_price is not None:
            price = leaf("        ", "cbc:PriceAmount", fmt_number(line.unit_price, "unit price"), currencyID=currency)
            parts.append(f"{i}<cac:Price>\n{price}{i}</cac:Price>\n")
    item = [leaf("        ", "cbc:Name", line.name)]
    for tag, value in (("BuyersItemIdentification", line.buyer_item_id), ("SellersItemIdentification", line.seller_item_id)):
        if clean(value) is not None:
            item.append(f"        <cac:{tag}>\n{leaf('          ', 'cbc:ID', value)}        </cac:{tag}>\n")
    item_xml = "".join(item)
    parts.append(f"{i}<cac:Item>\n{item_xml}{i}</cac:Item>\n" if item_xml else f"{i}<cac:Item/>\n")
    return (
        "  <cac:OrderLine>\n"
        "    <cac:LineItem>\n"
        f"{''.join(parts)}"
        "    </cac:LineItem>\n"
        "    <cac:OrderLineReference>\n"
        f"{leaf('      ', 'cbc:LineID', line.line_id)}"
        "    </cac:OrderLineReference>\n"
        "  </cac:OrderLine>\n"
    )


def write_order_response(resp: OutgoingResponse) -> bytes:
    """The UBL 2.1 OrderResponse (Peppol T76 shape) for ``resp``, UTF-8 with an XML declaration.

    Raises:
        ValueError: unknown code, blank response id / order number, duplicate or blank line
        ids, a CA without lines (Peppol PEPPOL-T76-R007), or a non-finite amount.
    """
    code = check_response(resp)
    if code == "CA" and not resp.lines:
        raise ValueError("a CA (accepted with changes) order response must give its lines (PEPPOL-T76-R007)")
    currency = clean(resp.currency)
    currency = currency.strip() if currency else None
    parts = [
        _HEAD,
        leaf("  ", "cbc:ID", resp.response_id),
        f"  <cbc:IssueDate>{resp.issue_date:%Y-%m-%d}</cbc:IssueDate>\n",
        f"  <cbc:OrderResponseCode>{code}</cbc:OrderResponseCode>\n",
        leaf("  ", "cbc:Note", resp.reason),
        leaf("  ", "cbc:DocumentCurrencyCode", currency),
        leaf("  ", "cbc:CustomerReference", resp.issuer.service),
        f"  <cac:OrderReference>\n{leaf('    ', 'cbc:ID', resp.order_number)}  </cac:OrderReference>\n",
        _party(resp.supplier, "SellerSupplierParty"),
        _party(resp.issuer, "BuyerCustomerParty"),
    ]
    if code == "CA":
        parts.extend(_order_line(rl, currency) for rl in resp.lines)
    parts.append("</OrderResponse>\n")
    return "".join(parts).encode("utf-8")
