"""Generator of realistic French public-procurement order documents ("engagements").

Used by the ``demo`` command, by the tests and by the benchmark. Documents are built from
string templates (every text and attribute value goes through XML escaping), which is
much faster than building trees: tens of thousands of orders per second.

Two syntaxes are produced, both valid against their official XSD:

* UBL 2.1 ``Order`` in the Peppol BIS Ordering 3 shape (``ubl_order``);
* Order-X 220 (CII-style ``SCRDMCCBDACIOMessageStructure``), profiles BASIC, COMFORT and
  EXTENDED (``orderx_order``): each profile only gets what its XSD accepts.

Identifier placements (what the parsers read):

* UBL: ``cbc:ID`` = engagement number; buyer ``cac:BuyerCustomerParty/cac:Party`` and
  seller ``cac:SellerSupplierParty/cac:Party`` carry the SIRET in ``cbc:EndpointID`` and
  ``cac:PartyIdentification/cbc:ID`` (``schemeID="0009"``), the SIREN in
  ``cac:PartyLegalEntity/cbc:CompanyID`` (``schemeID="0002"``) and the VAT number in
  ``cac:PartyTaxScheme/cbc:CompanyID``; the issuer's service code is ``cbc:CustomerReference``.
* Order-X: ``rsm:ExchangedDocument/ram:ID`` and
  ``ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID`` = engagement number; each trade
  party carries the SIRET in ``ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0009']``
  (all three profiles) and in ``ram:URIUniversalCommunication/ram:URIID[@schemeID='0009']``
  (electronic address), the VAT number in ``ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']``;
  the issuer's service code is ``ram:BuyerReference``.

Pure and deterministic: no clock, no files; randomness only through the ``random.Random``
passed in.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from xml.sax.saxutils import escape as _escape

__all__ = [
    "ISSUERS",
    "ORDERX_PROFILES",
    "SUPPLIERS",
    "Line",
    "Org",
    "demo_files",
    "engagement_number",
    "generate_batch",
    "orderx_order",
    "random_lines",
    "ubl_order",
]


@dataclass(frozen=True)
class Org:
    """A French organisation: a public entity (issuer) or a supplier."""

    name: str
    siret: str
    vat: str | None
    street: str
    city: str
    postcode: str
    service: str | None = None  # service code of a public structure (Chorus Pro "code service")

    @property
    def siren(self) -> str:
        return self.siret[:9]


@dataclass(frozen=True)
class Line:
    line_id: str
    name: str
    quantity: Decimal
    unit: str  # UN/ECE Recommendation 20 unit code
    unit_price: Decimal
    vat_rate: Decimal  # percent: 20, 10, 5.5
    seller_item_id: str | None = None


# --------------------------------------------------------------------------- reference data
# Invented identifiers: every SIRET passes the Luhn check (``stdnum.fr.siret``), every VAT
# number is FR + key computed from the SIREN (``stdnum.fr.tva``). SIREN prefixes follow the
# French conventions: 21 commune, 22 département, 26 établissement public de santé,
# 19 établissement public local d'enseignement.

ISSUERS: tuple[Org, ...] = (
    Org(
        name="Mairie de Saint-Aubin-lès-Tours",
        siret="21370214500011",
        vat=None,
        street="Place de l'Hôtel de Ville",
        city="Saint-Aubin-lès-Tours",
        postcode="37520",
        service="SERV-ACHATS",
    ),
    Org(
        name="Conseil départemental du Val-d'Indre",
        siret="22360001600172",
        vat=None,
        street="Hôtel du Département, 2 place de la Victoire et des Alliés",
        city="Châteauroux",
        postcode="36000",
        service="DIR-FINANCES-MARCHES",
    ),
    Org(
        name="Centre hospitalier universitaire du Val-d'Allier",
        siret="26630178700252",
        vat=None,
        street="58 rue Montalembert",
        city="Clermont-Ferrand",
        postcode="63000",
        service="PHARMACIE-ACHATS",
    ),
    Org(
        name="Lycée polyvalent Marie-Curie",
        siret="19370040800126",
        vat=None,
        street="15 avenue du Général de Gaulle",
        city="Tours",
        postcode="37000",
        service=None,
    ),
)

SUPPLIERS: tuple[Org, ...] = (
    Org(
        name="Papeteries Réunies du Centre SAS",
        siret="48215367300249",
        vat="FR38482153673",
        street="ZA des Granges, 4 rue Gutenberg",
        city="Orléans",
        postcode="45000",
    ),
    Org(
        name="Numérique & Services Publics SARL",
        siret="51293846500311",
        vat="FR35512938465",
        street="27 boulevard de l'Europe",
        city="Lyon",
        postcode="69007",
    ),
    Org(
        name="Restauration Collective L'Assiette Verte SAS",
        siret="79046152900196",
        vat="FR88790461529",
        street="Marché d'intérêt national, bâtiment C",
        city="Rungis",
        postcode="94150",
    ),
    Org(
        name="Mobilier Bureau Ouest SAS",
        siret="83321507200277",
        vat="FR42833215072",
        street="3 rue des Artisans",
        city="Nantes",
        postcode="44300",
    ),
)

# (category, name, unit, min price, max price, VAT rate, seller item id, fractional quantity?)
_CATALOGUE: tuple[tuple[str, str, str, str, str, str, str, bool], ...] = (
    ("bureau", "Ramette papier A4 80 g/m² blanc (500 feuilles)", "C62", "3.20", "5.90", "20", "PAP-A4-80", False),
    ("bureau", "Ramette papier A3 80 g/m² blanc (500 feuilles)", "C62", "7.50", "11.90", "20", "PAP-A3-80", False),
    ("bureau", "Stylos bille bleus (boîte de 50)", "XBX", "8.00", "15.00", "20", "STY-BIL-BL50", False),
    ("bureau", "Classeurs à levier A4 dos 80 mm", "C62", "2.10", "4.50", "20", "CLA-LEV-80", False),
    ("bureau", "Enveloppes C4 kraft (boîte de 250)", "XBX", "18.00", "32.00", "20", "ENV-C4-KR250", False),
    ("bureau", "Manuels scolaires (mathématiques, seconde)", "C62", "19.50", "29.90", "5.5", "LIV-MATH-2ND", False),
    ("informatique", "Cartouche de toner noir 305A", "C62", "45.00", "89.00", "20", "TON-305A-NR", False),
    ("informatique", 'Ordinateur portable 14" 16 Go RAM', "C62", "650.00", "1190.00", "20", "INF-PC-14-16", False),
    ("informatique", "Écran 24 pouces Full HD", "C62", "119.00", "219.00", "20", "INF-ECR-24", False),
    ("informatique", "Clé USB 64 Go", "C62", "6.50", "14.90", "20", "INF-USB-64", False),
    ("informatique", "Prestation de maintenance informatique", "HUR", "55.00", "95.00", "20", "SRV-MAINT-H", True),
    ("mobilier", "Chaise de bureau ergonomique", "C62", "89.00", "249.00", "20", "MOB-CH-ERGO", False),
    ("mobilier", "Bureau droit 160 × 80 cm", "C62", "149.00", "329.00", "20", "MOB-BUR-160", False),
    ("mobilier", "Armoire métallique à rideaux 198 cm", "C62", "289.00", "519.00", "20", "MOB-ARM-198", False),
    (
        "entretien",
        "Produits d'entretien : nettoyant multi-surfaces 5 L",
        "C62",
        "9.90",
        "19.90",
        "20",
        "ENT-MULTI-5L",
        False,
    ),
    ("restauration", "Repas self : menu complet", "C62", "4.50", "7.80", "10", "RES-MENU-SELF", False),
    ("restauration", "Plateau-repas réunion", "C62", "12.00", "25.00", "10", "RES-PLAT-REU", False),
    ("restauration", "Fruits de saison", "KGM", "2.10", "4.90", "5.5", "ALI-FRUITS-KG", True),
    ("restauration", "Lait demi-écrémé UHT", "LTR", "0.85", "1.30", "5.5", "ALI-LAIT-1L", True),
    ("restauration", "Eau minérale 50 cl (pack de 24)", "XPK", "4.20", "8.90", "5.5", "ALI-EAU-24", False),
)

# What each bundled supplier sells (by SIRET), so that generated orders look plausible.
_SUPPLIER_CATEGORIES: dict[str, tuple[str, ...]] = {
    "48215367300249": ("bureau", "entretien"),
    "51293846500311": ("informatique",),
    "79046152900196": ("restauration",),
    "83321507200277": ("mobilier",),
}

ORDERX_PROFILES: tuple[str, ...] = ("basic", "comfort", "extended")

CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order:3"
PROFILE_ID = "urn:fdc:peppol.eu:poacc:bis:order_only:3"
PAYMENT_TERMS = "Paiement à 30 jours"

_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


# --------------------------------------------------------------------------- helpers
def _x(text: str) -> str:
    """Escape text content."""
    return _escape(text)


def _a(value: str) -> str:
    """Escape an attribute value (always written between double quotes)."""
    return _escape(value, {'"': "&quot;"})


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _fmt(amount: Decimal) -> str:
    """Amount with exactly two decimals (half-up)."""
    return f"{_round(amount):.2f}"


def _rate(rate: Decimal) -> str:
    return f"{rate:.2f}"


def _num(value: Decimal) -> str:
    """A quantity or unit price: two decimals, or more when the value has more (never
    rounded away, so that the line amount stays consistent)."""
    exp = value.as_tuple().exponent
    if isinstance(exp, int) and exp < -2:
        return f"{value.normalize():f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class _Totals:
    line_amounts: tuple[Decimal, ...]
    ht: Decimal
    vat: Decimal
    ttc: Decimal
    by_rate: tuple[tuple[Decimal, Decimal, Decimal], ...]  # (rate, basis, vat)


def _totals(lines: Sequence[Line]) -> _Totals:
    amounts = tuple(_round(ln.quantity * ln.unit_price) for ln in lines)
    bases: dict[Decimal, Decimal] = {}
    for ln, amount in zip(lines, amounts, strict=True):
        bases[ln.vat_rate] = bases.get(ln.vat_rate, Decimal(0)) + amount
    by_rate = tuple(
        (rate, basis, _round(basis * rate / _HUNDRED))
        for rate, basis in sorted(bases.items(), key=lambda kv: kv[0], reverse=True)
    )
    ht = sum(amounts, Decimal(0))
    vat = sum((v for _, _, v in by_rate), Decimal(0))
    return _Totals(amounts, ht, vat, ht + vat, by_rate)


def engagement_number(i: int) -> str:
    """A realistic, deterministic engagement number ("numéro d'engagement juridique").

    One in three is State style (10 digits starting with 13, as in Chorus Pro for the State),
    the others local-authority style ``EJ2026-000123``. Distinct ``i`` give distinct numbers.
    """
    if i < 0:
        raise ValueError("i must be >= 0")
    if i % 3 == 0:
        return f"13{i:08d}"
    return f"EJ2026-{i:06d}"


# --------------------------------------------------------------------------- UBL 2.1 Order
_NS_CAC_CBC = (
    ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
    ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
)


def _ubl_root(name: str, customization: str, profile: str) -> str:
    """XML declaration, the ``name`` root element and its CustomizationID / ProfileID."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{name} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{name}-2"'
        f"{_NS_CAC_CBC}"
        f"  <cbc:CustomizationID>{customization}</cbc:CustomizationID>\n"
        f"  <cbc:ProfileID>{profile}</cbc:ProfileID>\n"
    )


_UBL_HEAD = _ubl_root("Order", CUSTOMIZATION_ID, PROFILE_ID)


@lru_cache(maxsize=256)
def _ubl_address(org: Org, tag: str, indent: str) -> str:
    return (
        f"{indent}<cac:{tag}>\n"
        f"{indent}  <cbc:StreetName>{_x(org.street)}</cbc:StreetName>\n"
        f"{indent}  <cbc:CityName>{_x(org.city)}</cbc:CityName>\n"
        f"{indent}  <cbc:PostalZone>{_x(org.postcode)}</cbc:PostalZone>\n"
        f"{indent}  <cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode></cac:Country>\n"
        f"{indent}</cac:{tag}>\n"
    )


@lru_cache(maxsize=256)
def _ubl_party(org: Org, wrapper: str) -> str:
    """A party as Peppol BIS Ordering 3 has it in orders, changes and cancellations: the seller
    without a VAT number (its data model has no ``cac:PartyTaxScheme`` there)."""
    siret = _x(org.siret)
    tax = ""
    if org.vat and wrapper != "SellerSupplierParty":
        tax = (
            "      <cac:PartyTaxScheme>\n"
            f"        <cbc:CompanyID>{_x(org.vat)}</cbc:CompanyID>\n"
            "        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>\n"
            "      </cac:PartyTaxScheme>\n"
        )
    return (
        f"  <cac:{wrapper}>\n"
        "    <cac:Party>\n"
        f'      <cbc:EndpointID schemeID="0009">{siret}</cbc:EndpointID>\n'
        f'      <cac:PartyIdentification><cbc:ID schemeID="0009">{siret}</cbc:ID></cac:PartyIdentification>\n'
        f"      <cac:PartyName><cbc:Name>{_x(org.name)}</cbc:Name></cac:PartyName>\n"
        f"{_ubl_address(org, 'PostalAddress', '      ')}"
        f"{tax}"
        "      <cac:PartyLegalEntity>\n"
        f"        <cbc:RegistrationName>{_x(org.name)}</cbc:RegistrationName>\n"
        f'        <cbc:CompanyID schemeID="0002">{_x(org.siret[:9])}</cbc:CompanyID>\n'
        "      </cac:PartyLegalEntity>\n"
        "    </cac:Party>\n"
        f"  </cac:{wrapper}>\n"
    )


@lru_cache(maxsize=256)
def _ubl_response_party(org: Org, wrapper: str) -> str:
    """A party as the Peppol Order Response (T76) has it: electronic address, identifier and
    legal name only."""
    siret = _x(org.siret)
    return (
        f"  <cac:{wrapper}>\n"
        "    <cac:Party>\n"
        f'      <cbc:EndpointID schemeID="0009">{siret}</cbc:EndpointID>\n'
        f'      <cac:PartyIdentification><cbc:ID schemeID="0009">{siret}</cbc:ID></cac:PartyIdentification>\n'
        "      <cac:PartyLegalEntity>"
        f"<cbc:RegistrationName>{_x(org.name)}</cbc:RegistrationName></cac:PartyLegalEntity>\n"
        "    </cac:Party>\n"
        f"  </cac:{wrapper}>\n"
    )


def _ubl_note_currency_reference(issuer: Org, note: str | None, currency: str) -> str:
    """``cbc:Note`` (when ``note`` is not None), ``cbc:DocumentCurrencyCode`` and the issuer's
    service code in ``cbc:CustomerReference``: the same run in Order, OrderChange and
    OrderResponse."""
    return (
        (f"  <cbc:Note>{_x(note)}</cbc:Note>\n" if note is not None else "")
        + f"  <cbc:DocumentCurrencyCode>{_x(currency)}</cbc:DocumentCurrencyCode>\n"
        + (f"  <cbc:CustomerReference>{_x(issuer.service)}</cbc:CustomerReference>\n" if issuer.service else "")
    )


def _ubl_order_reference(order_number: str) -> str:
    return f"  <cac:OrderReference><cbc:ID>{_x(order_number)}</cbc:ID></cac:OrderReference>\n"


def _ubl_order_document(
    root: str,
    head: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    *,
    currency: str,
    note: str | None,
    references: str = "",
    delivery_date: date | None = None,
    line_status: dict[str, str] | None = None,
) -> bytes:
    """The body shared by the UBL ``Order`` and ``OrderChange`` (same element order): ``head``
    is the root opening up to the document's own code (``_ubl_root`` + ID, IssueDate and
    OrderTypeCode or SequenceNumberID), ``references`` what stands between
    ``cbc:CustomerReference`` and the parties (attachment, order reference). ``line_status``
    maps a line id to its ``cbc:LineStatusCode``."""
    status = line_status or {}
    t = _totals(lines)
    cur = _a(currency)
    parts = [
        head,
        _ubl_note_currency_reference(issuer, note or None, currency),
        references,
        _ubl_party(issuer, "BuyerCustomerParty"),
        _ubl_party(supplier, "SellerSupplierParty"),
        _ubl_party(issuer, "AccountingCustomerParty"),
        "  <cac:Delivery>\n    <cac:DeliveryLocation>\n",
        _ubl_address(issuer, "Address", "      "),
        "    </cac:DeliveryLocation>\n",
    ]
    if delivery_date is not None:
        parts.append(
            "    <cac:RequestedDeliveryPeriod>"
            f"<cbc:EndDate>{delivery_date.isoformat()}</cbc:EndDate>"
            "</cac:RequestedDeliveryPeriod>\n"
        )
    parts.append("  </cac:Delivery>\n")
    parts.append(f"  <cac:PaymentTerms><cbc:Note>{PAYMENT_TERMS}</cbc:Note></cac:PaymentTerms>\n")
    parts.append(
        f'  <cac:TaxTotal><cbc:TaxAmount currencyID="{cur}">{_fmt(t.vat)}</cbc:TaxAmount></cac:TaxTotal>\n'
        "  <cac:AnticipatedMonetaryTotal>\n"
        f'    <cbc:LineExtensionAmount currencyID="{cur}">{_fmt(t.ht)}</cbc:LineExtensionAmount>\n'
        f'    <cbc:TaxExclusiveAmount currencyID="{cur}">{_fmt(t.ht)}</cbc:TaxExclusiveAmount>\n'
        f'    <cbc:TaxInclusiveAmount currencyID="{cur}">{_fmt(t.ttc)}</cbc:TaxInclusiveAmount>\n'
        f'    <cbc:PayableAmount currencyID="{cur}">{_fmt(t.ttc)}</cbc:PayableAmount>\n'
        "  </cac:AnticipatedMonetaryTotal>\n"
    )
    for ln, amount in zip(lines, t.line_amounts, strict=True):
        code = status.get(ln.line_id)
        status_xml = f"      <cbc:LineStatusCode>{_x(code)}</cbc:LineStatusCode>\n" if code else ""
        seller_id = (
            f"        <cac:SellersItemIdentification><cbc:ID>{_x(ln.seller_item_id)}</cbc:ID>"
            "</cac:SellersItemIdentification>\n"
            if ln.seller_item_id
            else ""
        )
        parts.append(
            "  <cac:OrderLine>\n"
            "    <cac:LineItem>\n"
            f"      <cbc:ID>{_x(ln.line_id)}</cbc:ID>\n"
            f"{status_xml}"
            f'      <cbc:Quantity unitCode="{_a(ln.unit)}">{_num(ln.quantity)}</cbc:Quantity>\n'
            f'      <cbc:LineExtensionAmount currencyID="{cur}">{amount:.2f}</cbc:LineExtensionAmount>\n'
            f'      <cac:Price><cbc:PriceAmount currencyID="{cur}">{_num(ln.unit_price)}</cbc:PriceAmount>'
            "</cac:Price>\n"
            "      <cac:Item>\n"
            f"        <cbc:Name>{_x(ln.name)}</cbc:Name>\n"
            f"{seller_id}"
            "        <cac:ClassifiedTaxCategory>\n"
            "          <cbc:ID>S</cbc:ID>\n"
            f"          <cbc:Percent>{_rate(ln.vat_rate)}</cbc:Percent>\n"
            "          <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>\n"
            "        </cac:ClassifiedTaxCategory>\n"
            "      </cac:Item>\n"
            "    </cac:LineItem>\n"
            "  </cac:OrderLine>\n"
        )
    parts.append(f"</{root}>\n")
    return "".join(parts).encode("utf-8")


def ubl_order(
    number: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    currency: str = "EUR",
    note: str | None = None,
    delivery_date: date | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    """A UBL 2.1 Order (Peppol BIS Ordering 3 shape) from ``issuer`` to ``supplier``.

    ``attachment`` is ``(filename, mime type, content)``, embedded in base64 in a
    ``cac:AdditionalDocumentReference``. Element order follows the UBL 2.1 Order XSD.
    """
    if not lines:
        raise ValueError("an order needs at least one line")
    references = ""
    if attachment is not None:
        filename, mime, content = attachment
        references = (
            "  <cac:AdditionalDocumentReference>\n"
            f"    <cbc:ID>{_x(filename)}</cbc:ID>\n"
            "    <cbc:DocumentType>Pièce jointe</cbc:DocumentType>\n"
            "    <cac:Attachment>\n"
            f'      <cbc:EmbeddedDocumentBinaryObject mimeCode="{_a(mime)}" filename="{_a(filename)}">'
            f"{base64.b64encode(content).decode('ascii')}</cbc:EmbeddedDocumentBinaryObject>\n"
            "    </cac:Attachment>\n"
            "  </cac:AdditionalDocumentReference>\n"
        )
    head = (
        f"{_UBL_HEAD}"
        f"  <cbc:ID>{_x(number)}</cbc:ID>\n"
        f"  <cbc:IssueDate>{issue_date.isoformat()}</cbc:IssueDate>\n"
        "  <cbc:OrderTypeCode>220</cbc:OrderTypeCode>\n"
    )
    return _ubl_order_document(
        "Order",
        head,
        issuer,
        supplier,
        lines,
        currency=currency,
        note=note,
        references=references,
        delivery_date=delivery_date,
    )


# --------------------------------------------------------------------------- Order-X 220
# ``_orderx_document`` is the template of every Order-X message: 220 here, 230 / 231 below.
_ORDERX_ROOT_OPEN = (
    "<rsm:SCRDMCCBDACIOMessageStructure"
    ' xmlns:rsm="urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100"'
    ' xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:128"'
    ' xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128"'
    ' xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128">\n'
)


@lru_cache(maxsize=256)
def _ox_address(org: Org, indent: str) -> str:
    return (
        f"{indent}<ram:PostalTradeAddress>\n"
        f"{indent}  <ram:PostcodeCode>{_x(org.postcode)}</ram:PostcodeCode>\n"
        f"{indent}  <ram:LineOne>{_x(org.street)}</ram:LineOne>\n"
        f"{indent}  <ram:CityName>{_x(org.city)}</ram:CityName>\n"
        f"{indent}  <ram:CountryID>FR</ram:CountryID>\n"
        f"{indent}</ram:PostalTradeAddress>\n"
    )


@lru_cache(maxsize=256)
def _ox_party(org: Org, tag: str) -> str:
    """A TradePartyType block, valid in all three profiles (BASIC sequence: ID, GlobalID,
    Name, SpecifiedLegalOrganization, DefinedTradeContact, PostalTradeAddress,
    URIUniversalCommunication, SpecifiedTaxRegistration)."""
    siret = _x(org.siret)
    tax = (
        "        <ram:SpecifiedTaxRegistration>\n"
        f'          <ram:ID schemeID="VA">{_x(org.vat)}</ram:ID>\n'
        "        </ram:SpecifiedTaxRegistration>\n"
        if org.vat
        else ""
    )
    return (
        f"      <ram:{tag}>\n"
        f"        <ram:Name>{_x(org.name)}</ram:Name>\n"
        "        <ram:SpecifiedLegalOrganization>\n"
        f'          <ram:ID schemeID="0009">{siret}</ram:ID>\n'
        "        </ram:SpecifiedLegalOrganization>\n"
        f"{_ox_address(org, '        ')}"
        "        <ram:URIUniversalCommunication>\n"
        f'          <ram:URIID schemeID="0009">{siret}</ram:URIID>\n'
        "        </ram:URIUniversalCommunication>\n"
        f"{tax}"
        f"      </ram:{tag}>\n"
    )


def _orderx_document(
    doc_id: str,
    order_number: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    profile: str,
    type_code: str,
    purpose_code: str,
    requested_response: bool,
    note: str | None,
    line_status: dict[str, str],
    currency: str = "EUR",
    delivery_date: date | None = None,
    what: str = "an Order-X document",
) -> bytes:
    """The Order-X template shared by 220 (``orderx_order``), 230 and 231:
    ``rsm:ExchangedDocument/ram:ID`` = ``doc_id``, ``ram:BuyerOrderReferencedDocument/
    ram:IssuerAssignedID`` = ``order_number``, optional ``ram:LineStatusCode`` per line,
    optional requested delivery date. ``what`` names the document in the empty-lines error."""
    profile = profile.lower()
    if profile not in ORDERX_PROFILES:
        raise ValueError(f"unknown Order-X profile {profile!r}; expected one of {ORDERX_PROFILES}")
    if not lines:
        raise ValueError(f"{what} needs at least one line")
    basic = profile == "basic"
    t = _totals(lines)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        _ORDERX_ROOT_OPEN,
        "  <rsm:ExchangedDocumentContext>\n"
        "    <ram:GuidelineSpecifiedDocumentContextParameter>\n"
        f"      <ram:ID>urn:order-x.eu:1p0:{profile}</ram:ID>\n"
        "    </ram:GuidelineSpecifiedDocumentContextParameter>\n"
        "  </rsm:ExchangedDocumentContext>\n"
        "  <rsm:ExchangedDocument>\n"
        f"    <ram:ID>{_x(doc_id)}</ram:ID>\n"
        f"    <ram:TypeCode>{type_code}</ram:TypeCode>\n"
        "    <ram:IssueDateTime>\n"
        f'      <udt:DateTimeString format="102">{issue_date:%Y%m%d}</udt:DateTimeString>\n'
        "    </ram:IssueDateTime>\n"
        f"    <ram:PurposeCode>{purpose_code}</ram:PurposeCode>\n",
    ]
    if requested_response:
        parts.append("    <ram:RequestedResponseTypeCode>AC</ram:RequestedResponseTypeCode>\n")
    if note:
        parts.append(f"    <ram:IncludedNote><ram:Content>{_x(note)}</ram:Content></ram:IncludedNote>\n")
    parts.append("  </rsm:ExchangedDocument>\n  <rsm:SupplyChainTradeTransaction>\n")

    for ln, amount in zip(lines, t.line_amounts, strict=True):
        code = line_status.get(ln.line_id)
        status_xml = f"        <ram:LineStatusCode>{_x(code)}</ram:LineStatusCode>\n" if code else ""
        seller_id = (
            f"        <ram:SellerAssignedID>{_x(ln.seller_item_id)}</ram:SellerAssignedID>\n"
            if ln.seller_item_id
            else ""
        )
        tax = (
            ""
            if basic
            else (
                "        <ram:ApplicableTradeTax>\n"
                "          <ram:TypeCode>VAT</ram:TypeCode>\n"
                "          <ram:CategoryCode>S</ram:CategoryCode>\n"
                f"          <ram:RateApplicablePercent>{_rate(ln.vat_rate)}</ram:RateApplicablePercent>\n"
                "        </ram:ApplicableTradeTax>\n"
            )
        )
        parts.append(
            "    <ram:IncludedSupplyChainTradeLineItem>\n"
            "      <ram:AssociatedDocumentLineDocument>\n"
            f"        <ram:LineID>{_x(ln.line_id)}</ram:LineID>\n"
            f"{status_xml}"
            "      </ram:AssociatedDocumentLineDocument>\n"
            "      <ram:SpecifiedTradeProduct>\n"
            f"{seller_id}"
            f"        <ram:Name>{_x(ln.name)}</ram:Name>\n"
            "      </ram:SpecifiedTradeProduct>\n"
            "      <ram:SpecifiedLineTradeAgreement>\n"
            "        <ram:NetPriceProductTradePrice>\n"
            f"          <ram:ChargeAmount>{_num(ln.unit_price)}</ram:ChargeAmount>\n"
            "        </ram:NetPriceProductTradePrice>\n"
            "      </ram:SpecifiedLineTradeAgreement>\n"
            "      <ram:SpecifiedLineTradeDelivery>\n"
            f'        <ram:RequestedQuantity unitCode="{_a(ln.unit)}">{_num(ln.quantity)}</ram:RequestedQuantity>\n'
            "      </ram:SpecifiedLineTradeDelivery>\n"
            "      <ram:SpecifiedLineTradeSettlement>\n"
            f"{tax}"
            "        <ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
            f"          <ram:LineTotalAmount>{amount:.2f}</ram:LineTotalAmount>\n"
            "        </ram:SpecifiedTradeSettlementLineMonetarySummation>\n"
            "      </ram:SpecifiedLineTradeSettlement>\n"
            "    </ram:IncludedSupplyChainTradeLineItem>\n"
        )

    # Header agreement: BuyerReference, Seller, Buyer, BuyerOrderReferencedDocument.
    parts.append("    <ram:ApplicableHeaderTradeAgreement>\n")
    if issuer.service:
        parts.append(f"      <ram:BuyerReference>{_x(issuer.service)}</ram:BuyerReference>\n")
    parts.append(_ox_party(supplier, "SellerTradeParty"))
    parts.append(_ox_party(issuer, "BuyerTradeParty"))
    parts.append(
        "      <ram:BuyerOrderReferencedDocument>\n"
        f"        <ram:IssuerAssignedID>{_x(order_number)}</ram:IssuerAssignedID>\n"
        "      </ram:BuyerOrderReferencedDocument>\n"
        "    </ram:ApplicableHeaderTradeAgreement>\n"
    )

    # Header delivery: ship-to = the issuer's address, requested delivery date.
    parts.append(
        "    <ram:ApplicableHeaderTradeDelivery>\n"
        "      <ram:ShipToTradeParty>\n"
        f"        <ram:Name>{_x(issuer.name)}</ram:Name>\n"
        f"{_ox_address(issuer, '        ')}"
        "      </ram:ShipToTradeParty>\n"
    )
    if delivery_date is not None:
        parts.append(
            "      <ram:RequestedDeliverySupplyChainEvent>\n"
            "        <ram:OccurrenceDateTime>\n"
            f'          <udt:DateTimeString format="102">{delivery_date:%Y%m%d}</udt:DateTimeString>\n'
            "        </ram:OccurrenceDateTime>\n"
            "      </ram:RequestedDeliverySupplyChainEvent>\n"
        )
    parts.append("    </ram:ApplicableHeaderTradeDelivery>\n")

    # Header settlement.
    cur = _a(currency)
    parts.append(
        "    <ram:ApplicableHeaderTradeSettlement>\n"
        f"      <ram:OrderCurrencyCode>{_x(currency)}</ram:OrderCurrencyCode>\n"
    )
    if not basic:
        parts.append(_ox_party(issuer, "InvoiceeTradeParty"))
    if profile == "extended":
        for rate, basis, vat in t.by_rate:
            parts.append(
                "      <ram:ApplicableTradeTax>\n"
                f"        <ram:CalculatedAmount>{_fmt(vat)}</ram:CalculatedAmount>\n"
                "        <ram:TypeCode>VAT</ram:TypeCode>\n"
                f"        <ram:BasisAmount>{_fmt(basis)}</ram:BasisAmount>\n"
                "        <ram:CategoryCode>S</ram:CategoryCode>\n"
                f"        <ram:RateApplicablePercent>{_rate(rate)}</ram:RateApplicablePercent>\n"
                "      </ram:ApplicableTradeTax>\n"
            )
    if not basic:
        parts.append(
            "      <ram:SpecifiedTradePaymentTerms>\n"
            f"        <ram:Description>{PAYMENT_TERMS}</ram:Description>\n"
            "      </ram:SpecifiedTradePaymentTerms>\n"
        )
    parts.append(
        "      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
        f"        <ram:LineTotalAmount>{_fmt(t.ht)}</ram:LineTotalAmount>\n"
        f"        <ram:TaxBasisTotalAmount>{_fmt(t.ht)}</ram:TaxBasisTotalAmount>\n"
        f'        <ram:TaxTotalAmount currencyID="{cur}">{_fmt(t.vat)}</ram:TaxTotalAmount>\n'
        f"        <ram:GrandTotalAmount>{_fmt(t.ttc)}</ram:GrandTotalAmount>\n"
        "      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>\n"
        "    </ram:ApplicableHeaderTradeSettlement>\n"
        "  </rsm:SupplyChainTradeTransaction>\n"
        "</rsm:SCRDMCCBDACIOMessageStructure>\n"
    )
    return "".join(parts).encode("utf-8")


def orderx_order(
    number: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    profile: str = "comfort",
    currency: str = "EUR",
    note: str | None = None,
    delivery_date: date | None = None,
) -> bytes:
    """An Order-X order (type code 220) in the given profile (``basic``, ``comfort`` or
    ``extended``), with an XML declaration and no BOM.

    BASIC has no line VAT (``ram:ApplicableTradeTax``), no invoicee and no payment terms:
    its XSD does not allow them. The header still carries TaxTotalAmount / GrandTotalAmount.
    EXTENDED adds the per-rate VAT breakdown (header ``ram:ApplicableTradeTax``).
    """
    return _orderx_document(
        number,
        number,
        issuer,
        supplier,
        lines,
        issue_date,
        profile=profile,
        type_code="220",
        purpose_code="9",
        requested_response=True,
        note=note,
        line_status={},
        currency=currency,
        delivery_date=delivery_date,
        what="an order",
    )


# --------------------------------------------------------------------------- random content
_Item = tuple[str, str, str, int, int, Decimal, str, bool]  # a _CATALOGUE item, prices in cents, rate as a Decimal
_CATALOGUE_D: tuple[_Item, ...] = tuple(
    (cat, name, unit, int(Decimal(lo) * 100), int(Decimal(hi) * 100), Decimal(rate), item_id, frac)
    for cat, name, unit, lo, hi, rate, item_id, frac in _CATALOGUE
)
_POOLS: dict[str, tuple[_Item, ...]] = {
    siret: tuple(item for item in _CATALOGUE_D if item[0] in cats) for siret, cats in _SUPPLIER_CATEGORIES.items()
}


def random_lines(rng: random.Random, n: int | None = None) -> list[Line]:
    """``n`` (default: 1 to 8) realistic French line items drawn with ``rng``.

    Quantities and unit prices have two decimals; VAT rates are 20, 10 or 5.5 (as the
    catalogue item dictates). About one line in ten has no seller item id.
    """
    return _random_lines(rng, n, _CATALOGUE_D)


def _lines_for(rng: random.Random, supplier: Org, n: int | None = None) -> list[Line]:
    """Like ``random_lines`` but drawn from what ``supplier`` sells (whole catalogue for an
    unknown supplier)."""
    return _random_lines(rng, n, _POOLS.get(supplier.siret, _CATALOGUE_D))


def _random_lines(rng: random.Random, n: int | None, pool: Sequence[_Item]) -> list[Line]:
    if n is None:
        n = rng.randint(1, 8)
    if n < 1:
        raise ValueError("n must be >= 1")
    out: list[Line] = []
    for k in range(1, n + 1):
        _cat, name, unit, lo, hi, rate, item_id, frac = rng.choice(pool)
        price = Decimal(rng.randint(lo, hi)).scaleb(-2)
        if frac:
            qty = Decimal(rng.randint(50, 5000)).scaleb(-2)  # 0.50 .. 50.00
        elif price >= 100:
            qty = Decimal(rng.randint(1, 12)).quantize(_CENT)
        else:
            qty = Decimal(rng.choice((1, 2, 3, 5, 10, 12, 20, 24, 25, 50, 100, 150, 200))).quantize(_CENT)
        out.append(
            Line(
                line_id=str(k),
                name=name,
                quantity=qty,
                unit=unit,
                unit_price=price,
                vat_rate=rate,
                seller_item_id=None if rng.random() < 0.1 else item_id,
            )
        )
    return out


def generate_batch(
    count: int, *, seed: int = 0, start: int = 0, start_date: date = date(2026, 1, 5)
) -> Iterator[tuple[str, bytes]]:
    """``count`` valid orders ``(filename, content)``, deterministic from ``seed``.

    Mix: about half UBL, the rest Order-X spread over the three profiles; random issuer,
    supplier and lines. Engagement numbers are ``engagement_number(start + k)``.
    """
    rng = random.Random(seed)
    for k in range(count):
        i = start + k
        number = engagement_number(i)
        issuer = rng.choice(ISSUERS)
        supplier = rng.choice(SUPPLIERS)
        lines = _lines_for(rng, supplier)
        issued = start_date + timedelta(days=i % 300)
        delivery = issued + timedelta(days=rng.choice((7, 10, 15, 21, 30)))
        if rng.random() < 0.5:
            yield (
                f"ubl-order-{number}.xml",
                ubl_order(number, issuer, supplier, lines, issued, delivery_date=delivery),
            )
        else:
            profile = ORDERX_PROFILES[rng.randrange(3)]
            yield (
                f"orderx-220-{number}.xml",
                orderx_order(number, issuer, supplier, lines, issued, profile=profile, delivery_date=delivery),
            )


# --------------------------------------------------------------------------- bundled demo set
def _tiny_pdf(text: str) -> bytes:
    """A minimal, structurally valid one-page PDF 1.4 (correct xref offsets)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 770 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _bom_comment_no_declaration(doc: bytes, comment: str) -> bytes:
    """Rewrite ``doc`` the way the official Order-X samples are saved: UTF-8 BOM, a leading
    comment, no XML declaration."""
    head, sep, rest = doc.partition(b"?>\n")
    if not (head.startswith(b"<?xml") and sep):
        raise ValueError("document does not start with an XML declaration")
    return b"\xef\xbb\xbf" + f"<!--{comment}-->\n".encode() + rest


def demo_files() -> list[tuple[str, bytes]]:
    """The bundled demo set: 8 valid orders then 2 deliberately bad files.

    Valid: 4 UBL orders and 4 Order-X orders (BASIC, COMFORT x2, EXTENDED) from 3 issuers to
    3 suppliers. ``orderx-220-EJ2026-000104.xml`` is written with a UTF-8 BOM, a leading
    comment and no XML declaration (as the official Order-X samples);
    ``ubl-order-1300000102.xml`` embeds a small PDF.

    Bad (the last two, named ``bad-*`` so the demo knows they must be rejected):
    ``bad-siret-ubl-order-EJ2026-000109.xml`` names a supplier whose SIRET fails the Luhn check
    (the document is otherwise XSD-valid), ``bad-truncated-orderx-220-EJ2026-000110.xml`` is
    truncated (malformed XML).
    """
    mairie, departement, chu, _lycee = ISSUERS
    papeteries, numerique, restauration, _mobilier = SUPPLIERS
    rng = random.Random(20260105)
    d0 = date(2026, 1, 5)

    def num(i: int) -> str:
        return engagement_number(100 + i)

    files: list[tuple[str, bytes]] = []

    n = num(1)
    files.append(
        (
            f"ubl-order-{n}.xml",
            ubl_order(
                n,
                mairie,
                papeteries,
                _lines_for(rng, papeteries, 4),
                d0,
                note="Fournitures de bureau pour le 1er trimestre — livraison à l'accueil de la mairie.",
                delivery_date=d0 + timedelta(days=15),
            ),
        )
    )
    n = num(2)
    pdf = _tiny_pdf(f"Cahier des clauses particulieres - engagement {n}")
    files.append(
        (
            f"ubl-order-{n}.xml",
            ubl_order(
                n,
                departement,
                numerique,
                _lines_for(rng, numerique, 3),
                d0 + timedelta(days=1),
                note="Renouvellement du parc informatique des collèges (marché n° 2025-INF-014).",
                delivery_date=d0 + timedelta(days=31),
                attachment=(f"CCAP-{n}.pdf", "application/pdf", pdf),
            ),
        )
    )
    n = num(3)
    files.append(
        (
            f"ubl-order-{n}.xml",
            ubl_order(n, chu, restauration, _lines_for(rng, restauration, 5), d0 + timedelta(days=2)),
        )
    )
    n = num(4)
    comfort = orderx_order(
        n,
        mairie,
        restauration,
        _lines_for(rng, restauration, 3),
        d0 + timedelta(days=3),
        profile="comfort",
        note="Repas du centre de loisirs, vacances d'hiver.",
        delivery_date=d0 + timedelta(days=40),
    )
    files.append(
        (
            f"orderx-220-{n}.xml",
            _bom_comment_no_declaration(comfort, "Order-X COMFORT, généré par chorus-batch demo"),
        )
    )
    n = num(5)
    files.append(
        (
            f"orderx-220-{n}.xml",
            orderx_order(
                n,
                departement,
                papeteries,
                _lines_for(rng, papeteries, 2),
                d0 + timedelta(days=4),
                profile="basic",
                delivery_date=d0 + timedelta(days=12),
            ),
        )
    )
    n = num(6)
    files.append(
        (
            f"orderx-220-{n}.xml",
            orderx_order(
                n,
                chu,
                numerique,
                _lines_for(rng, numerique, 6),
                d0 + timedelta(days=5),
                profile="extended",
                note="Équipement du service de pharmacie & stérilisation.",
                delivery_date=d0 + timedelta(days=20),
            ),
        )
    )
    n = num(7)
    files.append(
        (
            f"orderx-220-{n}.xml",
            orderx_order(
                n,
                mairie,
                numerique,
                _lines_for(rng, numerique, 2),
                d0 + timedelta(days=6),
                profile="comfort",
            ),
        )
    )
    n = num(8)
    files.append(
        (
            f"ubl-order-{n}.xml",
            ubl_order(
                n,
                departement,
                restauration,
                _lines_for(rng, restauration, 4),
                d0 + timedelta(days=7),
                delivery_date=d0 + timedelta(days=14),
            ),
        )
    )

    # Bad 1: the supplier's SIRET fails the Luhn check (last digit changed); SIREN and VAT
    # are untouched, the document is XSD-valid.
    bad_siret = papeteries.siret[:-1] + str((int(papeteries.siret[-1]) + 1) % 10)
    n = num(9)
    files.append(
        (
            f"bad-siret-ubl-order-{n}.xml",
            ubl_order(
                n,
                mairie,
                replace(papeteries, siret=bad_siret),
                _lines_for(rng, papeteries, 2),
                d0 + timedelta(days=8),
            ),
        )
    )
    # Bad 2: truncated in the middle of the document (malformed XML).
    n = num(10)
    full = orderx_order(n, chu, papeteries, _lines_for(rng, papeteries, 3), d0 + timedelta(days=9), profile="comfort")
    files.append((f"bad-truncated-orderx-220-{n}.xml", full[: len(full) * 3 // 5]))
    return files


# --------------------------------------------------------------------------- order lifecycle documents
# Answers, changes and cancellations for the engagement lifecycle (SPEC §3): UBL 2.1
# OrderResponse / OrderChange / OrderCancellation (Peppol BIS Ordering 3 shapes), Order-X 230
# (change, purpose code 4; cancellation, purpose code 1) and 231 (answer), and the operator
# responses CSV (SPEC §6). Same rules as above: string templates, every value escaped, element
# order of the XSDs, deterministic.

ORDER_RESPONSE_CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order_response:3"
ORDER_CHANGE_CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order_change:3"
ORDER_CANCELLATION_CUSTOMIZATION_ID = "urn:fdc:peppol.eu:poacc:trns:order_cancellation:3"
ORDERING_PROFILE_ID = "urn:fdc:peppol.eu:poacc:bis:ordering:3"
ADVANCED_ORDERING_PROFILE_ID = "urn:fdc:peppol.eu:poacc:bis:advanced_ordering:3"
# UNTDID 1225 message function codes of an Order-X 231 answer (as chorus-batch reads them).
ORDERX_ANSWER_PURPOSE: dict[str, str] = {"AP": "29", "RE": "27", "CA": "30"}
_LIFECYCLE_DATE = date(2026, 2, 2)


def ubl_order_response(
    order_number: str,
    issuer: Org,
    supplier: Org,
    code: str,
    *,
    response_id: str | None = None,
    reason: str | None = None,
    lines: Sequence[tuple[str, str, Decimal | None, Decimal | None]] = (),
    issue_date: date = _LIFECYCLE_DATE,
    currency: str = "EUR",
) -> bytes:
    """A UBL 2.1 OrderResponse from ``supplier`` answering ``issuer``'s order ``order_number``.

    ``code`` is the ``cbc:OrderResponseCode`` (AP accepted, RE rejected, CA accepted with
    changes, AB acknowledgement only; written as given, so tests may send other codes);
    ``reason`` goes in ``cbc:Note``. ``lines`` are ``(order line id, LineStatusCode, new
    quantity or None, new unit price or None)``: one ``cac:OrderLine`` each, with
    ``cac:OrderLineReference/cbc:LineID`` = the order line id.
    """
    parts = [
        _ubl_root("OrderResponse", ORDER_RESPONSE_CUSTOMIZATION_ID, ORDERING_PROFILE_ID),
        f"  <cbc:ID>{_x(response_id or f'{order_number}-{code}')}</cbc:ID>\n",
        f"  <cbc:IssueDate>{issue_date.isoformat()}</cbc:IssueDate>\n",
        f"  <cbc:OrderResponseCode>{_x(code)}</cbc:OrderResponseCode>\n",
        _ubl_note_currency_reference(issuer, reason, currency),
        _ubl_order_reference(order_number),
        _ubl_response_party(supplier, "SellerSupplierParty"),
        _ubl_response_party(issuer, "BuyerCustomerParty"),
    ]
    cur = _a(currency)
    for line_id, status, quantity, price in lines:
        body = [
            f"      <cbc:ID>{_x(line_id)}</cbc:ID>\n",
            f"      <cbc:LineStatusCode>{_x(status)}</cbc:LineStatusCode>\n",
        ]
        if quantity is not None:
            body.append(f"      <cbc:Quantity>{_num(quantity)}</cbc:Quantity>\n")
        if price is not None:
            body.append(
                f'      <cac:Price><cbc:PriceAmount currencyID="{cur}">{_num(price)}</cbc:PriceAmount></cac:Price>\n'
            )
        body.append("      <cac:Item/>\n")
        parts.append(
            "  <cac:OrderLine>\n"
            "    <cac:LineItem>\n"
            f"{''.join(body)}"
            "    </cac:LineItem>\n"
            f"    <cac:OrderLineReference><cbc:LineID>{_x(line_id)}</cbc:LineID></cac:OrderLineReference>\n"
            "  </cac:OrderLine>\n"
        )
    parts.append("</OrderResponse>\n")
    return "".join(parts).encode("utf-8")


def ubl_order_change(
    order_number: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    sequence: int = 1,
    line_status: dict[str, str] | None = None,
    change_id: str | None = None,
    currency: str = "EUR",
    note: str | None = None,
) -> bytes:
    """A UBL 2.1 OrderChange: the whole order as it should now be (parties, delivery, totals in
    ``cac:AnticipatedMonetaryTotal``, every line), under ``cac:OrderReference/cbc:ID`` =
    ``order_number``, with ``cbc:SequenceNumberID`` = ``sequence``.

    ``line_status`` maps a line id to its UNCL1229 ``cbc:LineStatusCode`` (1 added, 2 deleted,
    3 changed, 4 no action); lines not named carry none.
    """
    if not lines:
        raise ValueError("an order change needs at least one line")
    head = (
        f"{_ubl_root('OrderChange', ORDER_CHANGE_CUSTOMIZATION_ID, ADVANCED_ORDERING_PROFILE_ID)}"
        f"  <cbc:ID>{_x(change_id or f'{order_number}-CHG{sequence}')}</cbc:ID>\n"
        f"  <cbc:IssueDate>{issue_date.isoformat()}</cbc:IssueDate>\n"
        f"  <cbc:SequenceNumberID>{sequence}</cbc:SequenceNumberID>\n"
    )
    return _ubl_order_document(
        "OrderChange",
        head,
        issuer,
        supplier,
        lines,
        currency=currency,
        note=note,
        references=_ubl_order_reference(order_number),
        line_status=line_status,
    )


def ubl_order_cancellation(
    order_number: str,
    issuer: Org,
    supplier: Org,
    *,
    reason: str = "Commande annulée par l'acheteur public",
    issue_date: date = _LIFECYCLE_DATE,
    cancellation_id: str | None = None,
) -> bytes:
    """A UBL 2.1 OrderCancellation of ``order_number`` (``cbc:CancellationNote`` is mandatory)."""
    parts = [
        _ubl_root("OrderCancellation", ORDER_CANCELLATION_CUSTOMIZATION_ID, ADVANCED_ORDERING_PROFILE_ID),
        f"  <cbc:ID>{_x(cancellation_id or f'{order_number}-ANN')}</cbc:ID>\n",
        f"  <cbc:IssueDate>{issue_date.isoformat()}</cbc:IssueDate>\n",
        f"  <cbc:CancellationNote>{_x(reason)}</cbc:CancellationNote>\n",
        _ubl_order_reference(order_number),
        _ubl_party(issuer, "BuyerCustomerParty"),
        _ubl_party(supplier, "SellerSupplierParty"),
        "</OrderCancellation>\n",
    ]
    return "".join(parts).encode("utf-8")


def orderx_order_change(
    number: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    issue_date: date,
    *,
    profile: str = "comfort",
    cancel: bool = False,
    change_id: str | None = None,
    line_status: dict[str, str] | None = None,
    note: str | None = None,
) -> bytes:
    """An Order-X 230 for order ``number``: a change (PurposeCode 4: the whole order as it should
    now be) or, with ``cancel``, a cancellation (PurposeCode 1). The order is referred to by
    ``ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID``; the 230's own id is ``change_id``."""
    return _orderx_document(
        change_id or f"{number}-{'ANN' if cancel else 'CHG'}",
        number,
        issuer,
        supplier,
        lines,
        issue_date,
        profile=profile,
        type_code="230",
        purpose_code="1" if cancel else "4",
        requested_response=not cancel,
        note=note,
        line_status=line_status or {},
    )


def orderx_order_response(
    number: str,
    issuer: Org,
    supplier: Org,
    lines: Sequence[Line],
    code: str,
    *,
    profile: str = "comfort",
    response_id: str | None = None,
    reason: str | None = None,
    line_status: dict[str, str] | None = None,
    issue_date: date = _LIFECYCLE_DATE,
) -> bytes:
    """An Order-X 231 answering order ``number``: PurposeCode 29 (AP), 27 (RE) or 30 (CA), the
    reason in ``ram:IncludedNote``. ``lines`` are the answered lines (for CA: with their new
    quantities and prices); each carries ``ram:LineStatusCode`` from ``line_status`` (default 5
    accepted for AP / CA, 7 not accepted for RE)."""
    if code not in ORDERX_ANSWER_PURPOSE:
        raise ValueError(f"Order-X answer code {code!r} is not one of {', '.join(ORDERX_ANSWER_PURPOSE)}")
    default = "7" if code == "RE" else "5"
    statuses = {ln.line_id: default for ln in lines} | (line_status or {})
    return _orderx_document(
        response_id or f"{number}-{code}",
        number,
        issuer,
        supplier,
        lines,
        issue_date,
        profile=profile,
        type_code="231",
        purpose_code=ORDERX_ANSWER_PURPOSE[code],
        requested_response=False,
        note=reason,
        line_status=statuses,
    )


def responses_csv(rows: Sequence[tuple[str, str, str]], sep: str = ";") -> bytes:
    """An operator responses CSV (SPEC §6): header ``engagement_number;action;reason``, one row
    per ``(engagement number, action, reason)``; UTF-8, ``\\n`` line ends, quoted as needed."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(("engagement_number", "action", "reason"))
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


__all__ += [
    "orderx_order_change",
    "orderx_order_response",
    "responses_csv",
    "ubl_order_cancellation",
    "ubl_order_change",
    "ubl_order_response",
]


def demo_answers() -> list[tuple[str, bytes]]:
    """The second wave of the demo, dropped once the orders of ``demo_files()`` are integrated:
    supplier answers (an operator CSV and a UBL OrderResponse), an issuer's order change and a
    cancellation, plus one bad file (a refusal without a reason, named ``bad-*``)."""
    _mairie, departement, chu, _lycee = ISSUERS
    _papeteries, numerique, restauration, _mobilier = SUPPLIERS
    rng = random.Random(20260201)

    def num(i: int) -> str:
        return engagement_number(100 + i)

    return [
        (
            "reponses-fournisseurs.csv",
            responses_csv(
                [
                    (num(1), "accept", ""),
                    (num(5), "refuse", "Article en rupture de stock jusqu'en mars"),
                    (num(7), "accept", ""),
                ]
            ),
        ),
        (
            "ubl-order-response-" + num(3) + ".xml",
            ubl_order_response(num(3), chu, restauration, "AP", response_id="R-" + num(3)),
        ),
        (
            "ubl-order-change-" + num(2) + ".xml",
            ubl_order_change(
                num(2),
                departement,
                numerique,
                _lines_for(rng, numerique, 2),
                date(2026, 1, 20),
                note="Quantités revues",
            ),
        ),
        ("ubl-order-cancellation-" + num(8) + ".xml", ubl_order_cancellation(num(8), departement, restauration)),
        ("bad-refus-sans-motif.csv", responses_csv([(num(6), "refuse", "")])),
    ]
