"""UBL 2.1 OrderResponse writer (Peppol BIS Ordering 3, transaction T76): ``OutgoingResponse`` → bytes.

The counterpart of ``formats/ubl.py`` for the answers chorus-batch emits toward the issuer of a
UBL order. Owns the UBL response shape; registers its writer (orders ``ubl``, files ``….ubl.xml``).
Documents are built from string templates with the writers' shared helpers (``common``: escaping,
amounts, quantities), like the demo generator: every text and attribute value is escaped,
element order follows the UBL 2.1 OrderResponse XSD sequence, and the output is deterministic
(same response → same bytes).

What is written, in XSD order:

* ``cbc:CustomizationID`` ``urn:fdc:peppol.eu:poacc:trns:order_response:3`` and ``cbc:ProfileID``
  ``urn:fdc:peppol.eu:poacc:bis:ordering:3``; ``cbc:ID`` = response id; ``cbc:IssueDate``;
  ``cbc:OrderResponseCode`` = AP / RE / CA (Peppol code list UNCL4343-T76); ``cbc:Note`` = the
  reason when one is given; ``cbc:DocumentCurrencyCode`` when known; ``cbc:CustomerReference`` =
  the issuer's service code when known (where ``formats/ubl.py`` reads it in an Order).
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

from ...domain.model import OutgoingResponse, Party, ResponseLine
from ..registry import REGISTRY, Writer
from .common import check_response, clean, fmt_amount, fmt_number, leaf, line_amount, party_ids

__all__ = ["CUSTOMIZATION_ID", "PROFILE_ID", "write_order_response"]

CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order_response:3"
PROFILE_ID = "urn:fdc:peppol.eu:poacc:bis:ordering:3"

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OrderResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2"'
    ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
    ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
    f"  <cbc:CustomizationID>{CUSTOMIZATION_ID}</cbc:CustomizationID>\n"
    f"  <cbc:ProfileID>{PROFILE_ID}</cbc:ProfileID>\n"
)


def _party(party: Party, wrapper: str) -> str:
    endpoint: tuple[str, str] | None = None
    idents: list[tuple[str, str]] = []
    others, vats = party_ids(party)
    for scheme, value, source in others:
        if endpoint is None and source.startswith("endpoint@"):
            endpoint = (scheme, value)
        elif (scheme, value) not in idents:
            idents.append((scheme, value))
    body = []
    if endpoint is not None:
        body.append(leaf("      ", "cbc:EndpointID", endpoint[1], schemeID=endpoint[0]))
    for scheme, value in idents:
        ident = leaf("        ", "cbc:ID", value, schemeID=scheme)
        body.append(f"      <cac:PartyIdentification>\n{ident}      </cac:PartyIdentification>\n")
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
        legal = leaf("        ", "cbc:RegistrationName", name)
        body.append(f"      <cac:PartyLegalEntity>\n{legal}      </cac:PartyLegalEntity>\n")
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
    item_ids = (("BuyersItemIdentification", line.buyer_item_id), ("SellersItemIdentification", line.seller_item_id))
    for tag, value in item_ids:
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


REGISTRY.register_writer(Writer(syntax="ubl", tag="ubl", write=write_order_response))
