"""A line's price basis: a unit price may be given per a base quantity (UBL
``cac:Price/cbc:BaseQuantity``, CII / Order-X ``ram:BasisQuantity``), "30.00 per 2 units".

Pure. One rule for every place that computes or checks a line's amount:

* amount = quantity × price ÷ base quantity (+ the line's own charges − its allowances, when it
  states them), the base quantity being 1 when the document gives none;
* a stated line amount is right when it lies within a cent of that, unrounded (as the totals
  are checked, ``rules.CENT``): 23 × 30.00 ÷ 2 = 345.00;
* a base quantity must be a usable positive number (not 0, negative, NaN, 10^12 or more, or
  more than 6 decimals).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from ..errors import Issue
from .model import InvoiceLine, LineChange, OrderLine

CENT = Decimal("0.01")
ONE = Decimal(1)
MAX_AMOUNT = Decimal(10) ** 12  # every amount and quantity is below: the store keeps millionths in a 64-bit integer


def extended(quantity: Decimal, price: Decimal, base: Decimal | None) -> Decimal:
    """quantity × price ÷ base (``base`` ``None``: 1), unrounded.

    >>> extended(Decimal(23), Decimal("30.00"), Decimal(2))
    Decimal('345')
    """
    value = quantity * price
    return value if base is None or base == ONE else value / base


def line_amount(quantity: Decimal, price: Decimal, base: Decimal | None) -> Decimal:
    """A line's net amount computed from its quantity and price: ``extended`` rounded half-up to
    the cent, as a new version's changed lines are (``amend``).

    >>> line_amount(Decimal(24), Decimal("30.00"), Decimal(2)), line_amount(Decimal(1), Decimal(10), Decimal(3))
    (Decimal('360.00'), Decimal('3.33'))
    """
    return extended(quantity, price, base).quantize(CENT, rounding=ROUND_HALF_UP)


def restated_base(price: Decimal | None, base: Decimal | None) -> Decimal | None:
    """The base quantity of a price that a change or an answer restates: as given, else 1 (a
    price without a base quantity is per unit); ``None`` when it restates no price (the line
    keeps its own)."""
    return base if base is not None or price is None else ONE


def amount_problem(value: Decimal) -> str | None:
    """What makes ``value`` unusable as a quantity or a price an order, a change or an answer
    sets, or ``None``: not a number (NaN, infinity), negative (Peppol BIS forbids negative order
    quantities and amounts), 10^12 or more, or more than 6 decimals."""
    if not value.is_finite():
        return "is not a number"
    if value < 0:
        return "is negative"
    if value >= MAX_AMOUNT:
        return "is too large (10^12 or more)"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        return "has more than 6 decimals"
    return None


def base_problem(value: Decimal) -> str | None:
    """What makes ``value`` unusable as a base quantity, or ``None``: as ``amount_problem``, and 0."""
    return "is not above zero" if value == 0 else amount_problem(value)


def _usable(value: Decimal | None) -> bool:
    return value is not None and value.is_finite()


def check_lines(lines: Sequence[OrderLine | InvoiceLine | LineChange], what: str) -> list[Issue]:
    """Each line's base quantity (``BASE_QUANTITY_INVALID``) and, when it states quantity, price
    and amount, that the amount is quantity × price ÷ base quantity (+ charges − allowances) to
    the cent (``LINE_AMOUNT_MISMATCH``). ``what`` names the document in the messages
    ("order", "invoice"...). Errors; the caller may lower them to warnings."""
    issues: list[Issue] = []
    for line in lines:
        xpath = line.xpath if isinstance(line, OrderLine) else None
        base = line.base_quantity
        if base is not None and (problem := base_problem(base)):
            message = f"line {line.line_id} of the {what}: base quantity {base} {problem}"
            issues.append(Issue("BASE_QUANTITY_INVALID", message, xpath=xpath))
            continue
        quantity, price, stated = line.quantity, line.unit_price, line.net_amount
        if quantity is None or price is None or stated is None:
            continue
        if not (_usable(quantity) and _usable(price) and _usable(stated)):
            continue  # not numbers: the amount validation says so
        adjustments: Decimal | None = None if isinstance(line, LineChange) else line.adjustments
        expected = extended(quantity, price, base)
        if adjustments is not None and adjustments.is_finite():
            expected += adjustments
        if abs(expected - stated) >= CENT:
            per = f" per {base}" if base is not None else ""
            adjusted = f" {adjustments:+f} line charges/allowances" if adjustments else ""
            message = (
                f"line {line.line_id} of the {what}: amount {stated} is not quantity {quantity} × price {price}{per}"
                f"{adjusted} = {expected:.2f} (to the cent)"
            )
            issues.append(Issue("LINE_AMOUNT_MISMATCH", message, xpath=xpath))
    return issues
