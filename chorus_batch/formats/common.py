"""What the document readers share, so that every syntax judges amounts, dates and parties alike.

Owns: the one amount check (``amount``: a decimal below ``MAX_AMOUNT`` with at most 6 decimals),
the two XML date shapes (``ubl_date``, an ``xs:date``; ``udt_date``, a UN/CEFACT
``udt:DateTimeString``), the two party shapes (``ubl_party``, a UBL ``cac:Party``; ``trade_party``,
a UN/CEFACT ``ram:*TradeParty``, Order-X :128 and CII :100 alike), document totals (``totals``),
the invoice rules both invoice readers apply (``is_credit``, ``tax_total_in``,
``amount_currencies``), the CPPStatut status codes both lifecycle readers map (``cpp_status``),
and reading a file's records one by one (``each``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from lxml import etree

from ..domain.invoices import CPP_STATUS_CODES
from ..domain.model import Address, Attachment, Party, PartyId, Totals, kept
from ..domain.pricing import MAX_AMOUNT
from ..errors import DocumentRejected
from .xml import Fields, Paths, currency_ids, embedded_bytes, native, path_of, text

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
UBL_NS = {"cac": CAC, "cbc": CBC}
UBL = Paths(UBL_NS)  # the UBL readers' relative paths, each compiled once
_UBL_MAINDOC = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
_UBL_DOCUMENTS = ("Order", "OrderResponse", "OrderChange", "OrderCancellation", "Invoice", "CreditNote")

_Item = TypeVar("_Item")
_Read = TypeVar("_Read")

# -- values


def amount(node: etree._Element | None) -> Decimal | None:
    """The decimal value of an amount/quantity element (``None`` when absent).

    Raises:
        DocumentRejected: AMOUNT_INVALID for a value that is not a decimal, is out of range or has
        more than 6 decimals.
    """
    value = text(node)
    if value is None:
        return None
    assert node is not None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise DocumentRejected.one(
            "AMOUNT_INVALID", f"{value[:40]!r} is not a decimal number", xpath=path_of(node)
        ) from None
    # at most 6 decimals, as written
    plain = len(value.partition(".")[2]) <= 6 and "e" not in value and "E" not in value
    if not result.is_finite() or abs(result) >= MAX_AMOUNT or (not plain and _exponent(result) < -6):
        raise DocumentRejected.one(
            "AMOUNT_INVALID", f"{value[:40]!r} is out of range or has more than 6 decimals", xpath=path_of(node)
        )
    return result


def _exponent(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # a finite value
    return exponent


def ubl_date(node: etree._Element | None) -> date | None:
    """An ``xs:date`` (a time zone after the day is ignored)."""
    value = text(node)
    if value is None:
        return None
    assert node is not None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise DocumentRejected.one(
            "DATE_INVALID", f"{value[:30]!r} is not a calendar date", xpath=path_of(node)
        ) from None


_UDT_FORMATS = {"102": "%Y%m%d", "203": "%Y%m%d%H%M", "204": "%Y%m%d%H%M%S"}


def udt_date(node: etree._Element | None, ns: dict[str, str]) -> date | None:
    """The ``udt:DateTimeString`` under ``node`` (formats 102 YYYYMMDD, 203 YYYYMMDDHHMM, 204 ...SS).
    ``ns`` maps ``udt`` (Order-X :128, CII :100)."""
    if node is None:
        return None
    el = node.find("udt:DateTimeString", ns)
    value = text(el)
    if value is None:
        return None
    assert el is not None
    fmt = (el.get("format") or "102").strip()
    try:
        return datetime.strptime(value, _UDT_FORMATS.get(fmt, "%Y%m%d")).date()
    except ValueError:
        raise DocumentRejected.one(
            "DATE_INVALID", f"{value[:30]!r} is not a date in format {fmt}", xpath=path_of(el)
        ) from None


def texts(nodes: Iterable[etree._Element]) -> list[str]:
    """The texts of ``nodes`` that are not blank, in order."""
    return [v for v in (text(n) for n in nodes) if v]


def joined(values: Iterable[str | None], separator: str) -> str | None:
    """The values that are not blank joined by ``separator``; ``None`` when there are none."""
    return separator.join(v for v in values if v) or None


def number(node: etree._Element | None) -> tuple[str, str | None]:
    """A document's number as written (``""`` without one) and its XPath."""
    if node is None:
        return "", None
    return node.text or "", path_of(node)


def unit(quantity: etree._Element | None) -> str | None:
    """The ``unitCode`` of a quantity element."""
    return quantity.get("unitCode") if quantity is not None else None


def attachment(ident: str | None, blob: etree._Element | None, description: str | None, uri: str | None) -> Attachment:
    """A document attachment: ``blob`` is its embedded base64 object, when it has one."""
    return Attachment(
        ident=ident or "",
        filename=blob.get("filename") if blob is not None else None,
        mime=blob.get("mimeCode") if blob is not None else None,
        description=description,
        content=embedded_bytes(blob),
        uri=uri,
    )


def totals(find: Callable[[str], etree._Element | None], names: Mapping[str, str], **stated: Decimal | None) -> Totals:
    """Document totals: each ``Totals`` field of ``names`` is the amount of the element ``find``
    gives for its name (``None`` when absent); the ``stated`` fields are given as they are."""
    return Totals(**{field: amount(find(name)) for field, name in names.items()}, **stated)


def ubl_roots(names: Iterable[str]) -> tuple[str, ...]:
    """The root tags of the UBL documents ``names``, in the namespace of any UBL document
    chorus-batch reads: as it always has, a namespace that does not go with its root is left to
    the XSD to refuse (with the schema of the root's local name)."""
    return tuple(f"{{{_UBL_MAINDOC.format(document)}}}{name}" for document in _UBL_DOCUMENTS for name in names)


# -- parties


def party_id(el: etree._Element, where: str, scheme: str | None = None) -> PartyId | None:
    """The identifier in ``el`` (its ``schemeID`` unless ``scheme`` is given), with where it was
    read (``where@xpath``); ``None`` when blank."""
    value = text(el)
    if not value:
        return None
    written = scheme if scheme is not None else (el.get("schemeID") or "").strip()
    return PartyId(written, value, f"{where}@{path_of(el)}")


def serving(issuer: Party, service: str | None) -> Party:
    """The issuer with its service code, when the document gives one: the same party for the
    same issuer (from the parties' cache) and code (``kept``), so that what is kept on a party
    (its key, its checks) serves the next orders too."""
    if not service:
        return issuer
    # not dataclasses.replace, five times slower
    return kept(
        issuer, f"_chorus_serving:{service}", Party, issuer.name, issuer.ids, issuer.address, issuer.contact, service
    )


_ADDRESS = Fields(  # a UBL address (cac:PostalAddress, cac:Address): read in one walk
    UBL_NS,
    {"lines": "cac:AddressLine/cbc:Line"},
    street="cbc:StreetName",
    more="cbc:AdditionalStreetName",
    city="cbc:CityName",
    postcode="cbc:PostalZone",
    country="cac:Country/cbc:IdentificationCode",
)


def ubl_address(node: etree._Element | None) -> Address | None:
    if node is None:
        return None
    f, every = _ADDRESS.read_every(node)
    lines = [v for v in (text(f.get("street")), text(f.get("more"))) if v]
    return Address(
        (*lines, *texts(every["lines"])), text(f.get("city")), text(f.get("postcode")), text(f.get("country"))
    )


_PARTIES: dict[tuple[object, ...], Party] = {}


def _cached(node: etree._Element, shape: str, build: Callable[[etree._Element], Party]) -> Party:
    """The party at ``node``, read by ``build`` (``shape`` names how). The same few parties come in
    file after file: a party already read at the same place (its identifiers carry their XPath)
    with the same content and prefixes is given again from a cache. The compiled key
    (``native.key``) says that in one walk; without it, the serialised text, the path and the
    root's prefixes do."""
    key: tuple[object, ...]
    if native is not None:
        key = (shape, native.key(node))
    else:
        tree = node.getroottree()
        key = (shape, etree.tostring(node, encoding="unicode"), tree.getpath(node), tuple(tree.getroot().nsmap.items()))
    found = _PARTIES.get(key)
    if found is None:
        if len(_PARTIES) >= 4096:
            _PARTIES.clear()
        found = _PARTIES[key] = build(node)
    return found


_UBL_IDS = (
    ("id", "cac:PartyIdentification/cbc:ID", None),
    ("legal", "cac:PartyLegalEntity/cbc:CompanyID", None),
    ("endpoint", "cbc:EndpointID", None),
    ("vat", "cac:PartyTaxScheme/cbc:CompanyID", "VAT"),
)


def ubl_party(node: etree._Element | None) -> Party | None:
    """A ``cac:Party`` (or its parent role element) as a domain ``Party``."""
    if node is None:
        return None
    if node.tag != f"{{{CAC}}}Party":
        node = UBL.first(node, "cac:Party")
        if node is None:
            return None
    return _cached(node, CAC, _ubl_party)


def _ubl_party(node: etree._Element) -> Party:
    ids = [
        pid for where, path, scheme in _UBL_IDS for el in UBL.all(node, path) if (pid := party_id(el, where, scheme))
    ]
    contact = UBL.first(node, "cac:Contact")
    contact_text = None
    if contact is not None:
        names = ("cbc:Name", "cbc:Telephone", "cbc:ElectronicMail")
        contact_text = joined((UBL.text(contact, name) for name in names), ", ")
    name = UBL.text(node, "cac:PartyName/cbc:Name") or UBL.text(node, "cac:PartyLegalEntity/cbc:RegistrationName")
    return Party(name, tuple(ids), ubl_address(UBL.first(node, "cac:PostalAddress")), contact_text)


def _find_text(node: etree._Element, path: str, ns: dict[str, str]) -> str | None:
    return text(node.find(path, ns))


def trade_address(node: etree._Element | None, ns: dict[str, str]) -> Address | None:
    """A ``ram:PostalTradeAddress``; ``ns`` maps ``ram``."""
    if node is None:
        return None
    lines = tuple(v for v in (_find_text(node, f"ram:Line{n}", ns) for n in ("One", "Two", "Three")) if v)
    city, postcode = _find_text(node, "ram:CityName", ns), _find_text(node, "ram:PostcodeCode", ns)
    return Address(lines, city, postcode, _find_text(node, "ram:CountryID", ns))


_TRADE_IDS = (
    ("legal", "ram:SpecifiedLegalOrganization/ram:ID"),
    ("global", "ram:GlobalID"),
    ("id", "ram:ID"),
    ("endpoint", "ram:URIUniversalCommunication/ram:URIID"),
)
_TRADE_CONTACT = (
    "ram:PersonName",
    "ram:TelephoneUniversalCommunication/ram:CompleteNumber",
    "ram:EmailURIUniversalCommunication/ram:URIID",
)


def trade_party(node: etree._Element | None, ns: dict[str, str]) -> Party | None:
    """A UN/CEFACT ``ram:*TradeParty``; ``ns`` maps ``ram`` (Order-X :128, CII :100: the same shape)."""
    if node is None:
        return None
    return _cached(node, ns["ram"], lambda found: _trade_party(found, ns))


def _trade_party(node: etree._Element, ns: dict[str, str]) -> Party:
    ids = [pid for where, path in _TRADE_IDS for el in node.findall(path, ns) if (pid := party_id(el, where))]
    for el in node.findall("ram:SpecifiedTaxRegistration/ram:ID", ns):
        if (el.get("schemeID") or "").strip() == "VA" and (pid := party_id(el, "vat", "VAT")):
            ids.append(pid)
    contact = node.find("ram:DefinedTradeContact", ns)
    contact_text = None if contact is None else joined((_find_text(contact, path, ns) for path in _TRADE_CONTACT), ", ")
    address = trade_address(node.find("ram:PostalTradeAddress", ns), ns)
    return Party(_find_text(node, "ram:Name", ns), tuple(ids), address, contact_text)


# -- invoices

# UNTDID 1001 document types that are credits (credit note, its self-billed, factored, ... forms;
# 261/262 self-billed and consolidated credit notes; 308 delcredere; 396 factored; 420
# optical-character-reading; 458 reversal of debit; 532 forwarder's).
CREDIT_TYPE_CODES = frozenset({"381", "261", "262", "296", "308", "396", "420", "458", "532"})


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


_CURRENCY_HOLDERS = etree.XPath("//*[@currencyID]")  # slower than xml.currency_ids: only when some are left out


def amount_currencies(root: etree._Element, excluded: Collection[etree._Element] = ()) -> tuple[str, ...]:
    """Every ``currencyID`` on an amount of the document, except on the ``excluded`` elements, sorted."""
    if excluded:
        holders: list[etree._Element] = _CURRENCY_HOLDERS(root)  # type: ignore[assignment]  # lxml-stubs: any result
        values = [el.get("currencyID") or "" for el in holders if el not in excluded]
    else:
        found = native.attribute_values(root, "currencyID") if native is not None else None
        values = currency_ids(root) if found is None else found  # type: ignore[assignment]  # lxml-stubs: any XPath result; here strings
    return tuple(sorted({value.strip() for value in values}))


# -- lifecycle records


def cpp_status(code: int) -> str | None:
    """The invoice status of CPPStatut code ``code`` (``7`` is ``07``); ``None`` for a code
    chorus-batch does not map (only 01-12 have a meaning here)."""
    return CPP_STATUS_CODES.get(f"{code:02d}")


def compact(value: str) -> str:
    """``value`` without any whitespace."""
    return "".join(value.split())


def each(items: Iterable[_Item], read: Callable[[_Item], _Read]) -> list[_Read | DocumentRejected]:
    """``read`` of every item, in order; a record it refuses is its ``DocumentRejected`` instead."""
    result: list[_Read | DocumentRejected] = []
    for item in items:
        try:
            result.append(read(item))
        except DocumentRejected as exc:
            result.append(exc)
    return result


def adjustments(
    nodes: Iterable[etree._Element], read: Callable[[etree._Element], tuple[str | None, Decimal | None]]
) -> Decimal | None:
    """A line's charges − allowances from its allowance/charge elements (``read`` gives each one's
    charge indicator text and amount), ``None`` when it has none: part of the check of its
    stated amount (``domain.pricing``)."""
    total: Decimal | None = None
    for node in nodes:
        indicator, value = read(node)
        if value is None:
            continue
        charge = (indicator or "").strip().lower() in ("true", "1")
        total = (total or Decimal(0)) + (value if charge else -value)
    return total


def trade_line_adjustments(item: etree._Element, ns: dict[str, str]) -> Decimal | None:
    """The charges − allowances of a CII / Order-X line item (``ram:SpecifiedTradeAllowanceCharge``
    of its settlement; those of its gross price are already in the net price)."""

    def read(node: etree._Element) -> tuple[str | None, Decimal | None]:
        return text(node.find("ram:ChargeIndicator/udt:Indicator", ns)), amount(node.find("ram:ActualAmount", ns))

    return adjustments(item.findall("ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge", ns), read)
