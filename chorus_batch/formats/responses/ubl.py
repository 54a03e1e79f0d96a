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
* ``cac:SellerSupplierParty/cac:Party`` = supplier, ``cac:BuyerCustomerParty/cac:Party`` = issuer,
  limited to the Peppol T76 data model (no ``cac:PartyName``, no ``cac:PartyTaxScheme``: VAT
  numbers are not written): ``cbc:EndpointID`` (mandatory in T76) for the first id read from an
  endpoint (``PartyId.source`` ``endpoint@…``), else for the first other id whose scheme is a
  Peppol EAS code (``EAS``, e.g. a SIRET ``0009``); ``cac:PartyIdentification/cbc:ID[@schemeID]``
  for the ids not read from an endpoint; ``cac:PartyLegalEntity/cbc:RegistrationName`` = the name
  (Peppol rules PEPPOL-T76-R001/R002 ask for the official name or an identifier).
* CA only (Peppol rules T76-R007…R009: CA must have lines, AP and RE must not): one
  ``cac:OrderLine`` per ``ResponseLine`` with ``cac:LineItem`` {``cbc:ID``, ``cbc:LineStatusCode``
  (UNTDID 1229), ``cbc:Quantity[@unitCode]``, ``cac:Price`` {``cbc:PriceAmount[@currencyID]``,
  ``cbc:BaseQuantity[@unitCode]`` (the price basis, in the line's unit, when the line has one)},
  ``cac:Item`` {``cbc:Name``, ``cac:BuyersItemIdentification``, ``cac:SellersItemIdentification``}}
  then ``cac:OrderLineReference/cbc:LineID`` = the order line id. No line amount: T76 has no
  ``cbc:LineExtensionAmount``.

The output passes the official Peppol BIS Ordering 3 Order Response rules (T76, 2025-05) when
the response has what they require and the writer cannot make up: a currency
(``cbc:DocumentCurrencyCode``), for each party an electronic address or an id in an EAS scheme,
an item name on every line, and Peppol unit codes (the order's codes are repeated as given).

Quantities and prices are written as given, never in scientific notation. UBL amounts require
``@currencyID``: without a known currency, prices are left out. Blank values are never written as empty elements (Peppol
PEPPOL-COMMON-R001), and characters XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

from ...domain.identifiers import canonical_scheme, well_formed
from ...domain.model import OutgoingResponse, Party, ResponseLine
from ..registry import REGISTRY, Writer
from .common import check_response, clean, fmt_number, leaf, party_ids

__all__ = ["CUSTOMIZATION_ID", "EAS", "PROFILE_ID", "write_order_response"]

CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order_response:3"
PROFILE_ID = "urn:fdc:peppol.eu:poacc:bis:ordering:3"
# Peppol Electronic Address Scheme codes (code list EAS of the 2025-05 rules, PEPPOL-T76-B01602 /
# B02502): an identifier in one of these schemes can stand as the party's cbc:EndpointID.
_EAS_CODES = (
    "0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0147 0151 0154 0158 0170 0177 0183 "
    "0184 0188 0190 0191 0192 0193 0194 0195 0196 0198 0199 0200 0201 0202 0203 0204 0205 0208 0209 "
    "0210 0211 0212 0213 0215 0216 0217 0218 0221 0225 0230 0235 0240 9910 9913 9914 9915 9918 9919 "
    "9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 9935 9936 9937 9938 9939 "
    "9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 9959"
)
EAS = frozenset(_EAS_CODES.split())
# ISO 6523 ICD codes Peppol knows (PEPPOL-T76-B02801): the schemes a cac:PartyIdentification may name
ICD = frozenset(f"{n:04d}" for n in range(2, 241)) - {"0092", "0103", "0181", "0182"}

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
    fallback: tuple[str, str] | None = None
    idents: list[tuple[str, str]] = []
    others, _vats = party_ids(party)  # T76 has no place for a VAT number (no cac:PartyTaxScheme)
    for written, value, source in others:
        # schemes in their ISO 6523 spelling (GLN -> 0088); a number that fails its scheme's check
        # stays, untyped, as an identifier (PEPPOL-COMMON-R040...), never as the address
        scheme = canonical_scheme(written)
        typed = well_formed(scheme, value)
        if endpoint is None and source.startswith("endpoint@") and scheme in EAS and typed:
            endpoint = (scheme, value)
            continue
        if fallback is None and scheme in EAS and typed:
            fallback = (scheme, value)
        typed_id = (scheme if scheme in ICD and typed else "", value)
        if typed_id not in idents:
            idents.append(typed_id)
    endpoint = endpoint or fallback
    body = []
    if endpoint is not None:
        body.append(leaf("      ", "cbc:EndpointID", endpoint[1], schemeID=endpoint[0]))
    for scheme, value in idents:
        ident = leaf("        ", "cbc:ID", value, schemeID=scheme)
        body.append(f"      <cac:PartyIdentification>\n{ident}      </cac:PartyIdentification>\n")
    name = clean(party.name)
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
    if currency is not None and line.unit_price is not None:
        price = leaf("        ", "cbc:PriceAmount", fmt_number(line.unit_price, "unit price"), currencyID=currency)
        if line.base_quantity is not None:  # the price basis: "30.00 per 2", in the line's unit
            base = fmt_number(line.base_quantity, "base quantity")
            price += leaf("        ", "cbc:BaseQuantity", base, unitCode=line.unit)
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
