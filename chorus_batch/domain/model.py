"""The documents and engagements chorus-batch works with, as plain data that is never changed
once made (``record``): a changed copy is made with ``dataclasses.replace``.

Pure: no XML, no database, no clock, no files. Money and quantities are ``Decimal``.
An order document of any syntax (UBL 2.1 Order, Order-X 220) maps to ``OrderDocument``;
the store keeps one engagement per (issuer id, number) with one version per document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import ParamSpec, TypeVar, dataclass_transform

from .invoices import CREDIT_NOTE, INVOICE

_T = TypeVar("_T")
_V = TypeVar("_V")
_P = ParamSpec("_P")


@dataclass_transform(frozen_default=True)
def record(cls: type[_T]) -> type[_T]:
    """A dataclass whose fields are read-only to the type checker (mypy refuses an assignment as
    it does on a frozen dataclass), equal and hashed by its fields, but built at the speed of a
    plain one: a frozen dataclass sets each field through ``object.__setattr__``, which cost a
    run 2.5 % of its instructions (an order's lines, totals, parties, file after file)."""
    return dataclass(unsafe_hash=True)(cls)


def kept(item: object, name: str, make: Callable[_P, _V], *args: _P.args, **kwargs: _P.kwargs) -> _V:
    """What ``make(*args, **kwargs)`` gives, made once for ``item`` (a record) and kept on it
    under ``name``, beside its fields, which stay as they are: equality, hashing, ``replace``
    and the JSON of its fields ignore it. For what is asked of the same record again and again
    (a party met file after file, an order read before its turn to be stored)."""
    found: dict[str, _V] = item.__dict__
    if name not in found:
        found[name] = make(*args, **kwargs)
    return found[name]


@record
class PartyId:
    """One identifier of a party as the document gives it: ``scheme`` is the ISO 6523 ICD
    (``0009`` SIRET, ``0002`` SIREN, ``0088`` GLN...), ``VAT`` for a tax number, or ``""``."""

    scheme: str
    value: str
    source: str = ""  # "<where>@<xpath>": where is endpoint, id, legal, vat or global


@record
class Address:
    lines: tuple[str, ...] = ()
    city: str | None = None
    postcode: str | None = None
    country: str | None = None


@record
class Party:
    name: str | None
    ids: tuple[PartyId, ...] = ()
    address: Address | None = None
    contact: str | None = None
    service: str | None = None  # service code of a public structure, when given


@record
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
    # the quantity the unit price is for ("30.00 per 2"), None when the document gives none (1)
    base_quantity: Decimal | None = None
    # the line's own charges − allowances as the document states them (None when it states none):
    # part of the stated amount's check (``pricing``), not kept with the engagement's lines
    adjustments: Decimal | None = None


@record
class Attachment:
    """A document attached to an order: embedded bytes (``content``) or an external ``uri``."""

    ident: str
    filename: str | None
    mime: str | None
    description: str | None = None
    content: bytes | None = None
    uri: str | None = None


@record
class Delivery:
    party_name: str | None = None
    location_id: str | None = None
    address: Address | None = None
    start: date | None = None
    end: date | None = None


@record
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


@record
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


@record
class LineChange:
    """One line of an answer or a change, keyed by the order line it refers to.

    ``status`` is the UNTDID 1229 action code: 1 added, 2 deleted, 3 changed, 4 no action,
    5 accepted without amendment, 7 not accepted (``None`` when the document gives none).
    """

    line_id: str
    status: str | None
    name: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    unit_price: Decimal | None = None
    net_amount: Decimal | None = None
    tax_rate: Decimal | None = None
    # the quantity the unit price is for; None keeps the line's (a document restating a price
    # without one gives 1)
    base_quantity: Decimal | None = None


@record
class ResponseDocument:
    """A supplier's answer to an order: UBL OrderResponse, Order-X 231 or a CSV row.

    ``code`` is AP (accepted), RE (refused), CA (accepted with changes) or AB (acknowledged only).
    """

    syntax: str  # ubl, order-x, csv, cli
    number: str | None  # the response's own id
    order_number: str  # the engagement it answers
    code: str
    reason: str | None = None
    issuer: Party | None = None  # the order's issuer (buyer), when the answer names it
    supplier: Party | None = None
    issue_date: date | None = None
    lines: tuple[LineChange, ...] = ()
    kind: str = "order_response"


@record
class ChangeDocument:
    """An issuer's change to an order (UBL OrderChange, Order-X 230): the order as it should now be.

    ``order.lines`` holds the lines the document gives; ``line_changes`` their action codes
    when the document gives them (then lines not named keep their current content).
    """

    order: OrderDocument
    sequence: str | None = None
    line_changes: tuple[LineChange, ...] = ()
    kind: str = "order_change"


@record
class CancellationDocument:
    """An issuer's cancellation (UBL OrderCancellation, Order-X 230 with purpose code 1)."""

    syntax: str
    number: str | None
    order_number: str
    issuer: Party
    supplier: Party | None = None
    reason: str | None = None
    issue_date: date | None = None
    kind: str = "order_cancellation"


@record
class ResponseLine:
    line: OrderLine
    status: str  # UNTDID 1229: 5 accepted, 3 changed, 1 added, 7 not accepted


@record
class OutgoingResponse:
    """An order response chorus-batch emits toward the issuer after an applied supplier answer."""

    response_id: str
    order_number: str
    code: str  # AP, RE or CA
    issue_date: date
    issuer: Party  # the public entity (buyer) that sent the order
    supplier: Party  # the answering supplier (seller)
    currency: str | None
    reason: str | None = None
    profile: str | None = None  # the order's profile (Order-X: basic / comfort / extended, kept by its 231)
    lines: tuple[ResponseLine, ...] = ()
    totals: Totals = field(default_factory=Totals)


@record
class InvoiceLine:
    line_id: str
    name: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    net_amount: Decimal | None
    order_line_ref: str | None = None  # BT-132, the referenced order line
    base_quantity: Decimal | None = None  # BT-149, the quantity the price is for (None: 1)
    adjustments: Decimal | None = None  # the line's charges − allowances (BT-141 − BT-136), when stated


@record
class InvoiceDocument:
    """An invoice or a credit note (UBL 2.1 Invoice / CreditNote, CII D16B, Factur-X).

    ``credit`` is true for a credit note: a CreditNote root, a credit type code (381 and the
    other UNTDID 1001 credit codes the readers list), or an invoice type 380 whose total is
    negative, as French issuers often send them.
    Amounts in ``totals`` and ``lines`` are as the document states them; the store keeps the
    totals positive and the sign in the type.
    """

    syntax: str  # ubl, cii
    profile: str | None
    number: str
    type_code: str | None
    credit: bool
    issue_date: date | None
    currency: str | None
    seller: Party
    buyer: Party
    order_reference: str | None  # BT-13 as written (placeholders included)
    buyer_reference: str | None = None  # BT-10, the service code
    totals: Totals = field(default_factory=Totals)
    lines: tuple[InvoiceLine, ...] = ()
    amount_currencies: tuple[str, ...] = ()
    number_xpath: str | None = None
    due_date: date | None = None  # BT-9, when the document gives one

    @property
    def kind(self) -> str:
        return CREDIT_NOTE if self.credit else INVOICE


@record
class InvoiceStatusUpdate:
    """A lifecycle status for one invoice (CPPStatut XML or an operator CSV row)."""

    syntax: str  # cppstatut, csv
    invoice_number: str
    supplier_id: str | None  # the seller's id as SPEC §10 writes it (SIRET ...), when given
    status: str  # one of InvoiceStatus
    at: str | None  # ISO 8601 date or date-time, as given
    comment: str | None = None
    kind: str = "invoice_status"


# Any document a file can bring (what the syntax readers give, the rules check and the store applies).
Document = (
    OrderDocument | ResponseDocument | ChangeDocument | CancellationDocument | InvoiceDocument | InvoiceStatusUpdate
)
