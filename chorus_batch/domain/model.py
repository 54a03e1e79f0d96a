"""The documents and engagements chorus-batch works with, as plain frozen data.

Pure: no XML, no database, no clock, no files. Money and quantities are ``Decimal``.
An order document of any syntax (UBL 2.1 Order, Order-X 220) maps to ``OrderDocument``;
the store keeps one engagement per (issuer id, number) with one version per document.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class PartyId:
    """One identifier of a party as the document gives it: ``scheme`` is the ISO 6523 ICD
    (``0009`` SIRET, ``0002`` SIREN, ``0088`` GLN...), ``VAT`` for a tax number, or ``""``."""

    scheme: str
    value: str
    source: str = ""  # "<where>@<xpath>": where is endpoint, id, legal, vat or global


@dataclass(frozen=True)
class Address:
    lines: tuple[str, ...] = ()
    city: str | None = None
    postcode: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Party:
    name: str | None
    ids: tuple[PartyId, ...] = ()
    address: Address | None = None
    contact: str | None = None
    service: str | None = None  # service code of a public structure, when given


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    name: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    net_amount: Decimal | None
    seller_item_id: str | None = None
    buyer_item_id: str | None = None
    standard_item_id: str | None = None
    tax_rate: Decimal | None = None
    note: str | None = None
    xpath: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A document attached to an order: embedded bytes (``content``) or an external ``uri``."""

    ident: str
    filename: str | None
    mime: str | None
    description: str | None = None
    content: bytes | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Delivery:
    party_name: str | None = None
    location_id: str | None = None
    address: Address | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Totals:
    """Document-level amounts as stated by the document (``None`` when absent).

    ``line_total`` is the sum of line net amounts, ``tax_exclusive`` the HT total,
    ``tax_total`` the VAT, ``tax_inclusive`` the TTC total, ``payable`` what is due.
    """

    line_total: Decimal | None = None
    allowances: Decimal | None = None
    charges: Decimal | None = None
    tax_exclusive: Decimal | None = None
    tax_total: Decimal | None = None
    tax_inclusive: Decimal | None = None
    prepaid: Decimal | None = None
    rounding: Decimal | None = None
    payable: Decimal | None = None

    @property
    def amount_ht(self) -> Decimal | None:
        return self.tax_exclusive if self.tax_exclusive is not None else self.line_total

    @property
    def amount_ttc(self) -> Decimal | None:
        if self.tax_inclusive is not None:
            return self.tax_inclusive
        if self.payable is not None:
            return self.payable
        if self.amount_ht is not None and self.tax_total is not None:
            return self.amount_ht + self.tax_total
        return None


@dataclass(frozen=True)
class OrderDocument:
    """A new order (UBL Order, Order-X 220): everything the portal's "Consulter" shows."""

    syntax: str  # "ubl" or "order-x"
    profile: str | None
    number: str
    issue_date: date | None
    type_code: str | None
    currency: str | None
    issuer: Party  # the public entity (buyer)
    supplier: Party  # the recipient of the order (seller)
    invoicee: Party | None = None
    lines: tuple[OrderLine, ...] = ()
    totals: Totals = field(default_factory=Totals)
    notes: tuple[str, ...] = ()
    buyer_reference: str | None = None
    contract_reference: str | None = None
    payment_terms: str | None = None
    payment_means: str | None = None
    delivery: Delivery | None = None
    attachments: tuple[Attachment, ...] = ()
    validity_end: date | None = None
    amount_currencies: tuple[str, ...] = ()  # every currencyID seen on an amount
    number_xpath: str | None = None
    kind: str = "order"


def to_dict(value: object) -> object:
    """A JSON-ready copy of a domain object: Decimals as strings, dates in ISO 8601,
    embedded bytes left out (they are stored as content-addressed blobs)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in fields(value) if f.name != "content"}
    if isinstance(value, (tuple, list)):
        return [to_dict(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
