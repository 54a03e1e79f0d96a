"""New versions of an engagement: applying a supplier's line changes (modify / CA) or an
issuer's order change to the current lines, and recomputing the amounts exactly.

Amount rules (``docs/formats.md`` repeats them):

* a changed line's net amount is the one the document states, else quantity × unit price ÷
  base quantity (the price basis, kept from the line unless the change restates it; 1 when
  there is none) rounded half-up to the cent (``pricing.line_amount``);
* HT = sum of line amounts − header allowances + header charges (kept from the current version);
* VAT: when every line has a rate and there are no header allowances or charges, the sum per
  rate of (base × rate / 100) rounded half-up to the cent; otherwise the current VAT plus, for
  each line, (new amount − old amount) × rate / 100, rounded once at the end;
* TTC = HT + VAT; amount due = TTC − prepaid + rounding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from ..errors import Issue
from .model import LineChange, OrderLine, Totals
from .pricing import line_amount

CENT = Decimal("0.01")
ADDED, DELETED, CHANGED, NO_ACTION, ACCEPTED, NOT_ACCEPTED = "1", "2", "3", "4", "5", "7"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def check_changes(current: Sequence[OrderLine], changes: Sequence[LineChange], number: str) -> list[Issue]:
    """What makes an operator's line changes (``orders modify``) unusable on the engagement
    ``number`` whose lines are ``current``, or ``[]``: a line it does not have (``LINE_UNKNOWN``),
    a line named twice (``LINE_REPEATED``), a quantity of 0 (``QUANTITY_NOT_POSITIVE``; negative
    and unusable numbers are ``rules.check_reference``'s), every line dropped
    (``ALL_LINES_DROPPED``). The first problem only. A file's answer may add lines (status 1):
    this is for the command line, where a line id is typed."""
    known = [line.line_id for line in current]
    seen: set[str] = set()
    dropped: set[str] = set()
    for change in changes:
        removes = change.status in (DELETED, NOT_ACCEPTED)
        if change.line_id not in known:
            what = "to drop" if removes else "to change"
            message = (
                f"engagement {number} has no line {change.line_id!r} {what} (its lines: {', '.join(known) or 'none'})"
                "; nothing changed"
            )
            return [Issue("LINE_UNKNOWN", message)]
        if change.line_id in seen:
            return [Issue("LINE_REPEATED", f"line {change.line_id} is named twice; nothing changed")]
        seen.add(change.line_id)
        if removes:
            dropped.add(change.line_id)
        elif change.quantity is not None and change.quantity.is_finite() and change.quantity <= 0:
            message = f"line {change.line_id}: quantity {change.quantity} must be above 0; nothing changed"
            return [Issue("QUANTITY_NOT_POSITIVE", message)]
    if known and dropped == set(known):
        message = f"every line of engagement {number} would be dropped; refuse the order instead; nothing changed"
        return [Issue("ALL_LINES_DROPPED", message)]
    return []


def apply_line_changes(current: Sequence[OrderLine], changes: Sequence[LineChange]) -> tuple[OrderLine, ...]:
    """The lines after ``changes``: lines not named are kept; 2 / 7 remove a line; 1 adds one;
    any other code (or none) updates the named line with the values the change gives."""
    by_id = {line.line_id: line for line in current}
    order = [line.line_id for line in current]
    for change in changes:
        if change.status in (DELETED, NOT_ACCEPTED):
            if change.line_id in by_id:
                del by_id[change.line_id]
                order.remove(change.line_id)
            continue
        old = by_id.get(change.line_id)
        if old is None:
            old = OrderLine(change.line_id, change.name, None, change.unit, None, None)
            order.append(change.line_id)
        by_id[change.line_id] = _updated(old, change)
    return tuple(by_id[line_id] for line_id in order)


def _updated(old: OrderLine, change: LineChange) -> OrderLine:
    quantity = change.quantity if change.quantity is not None else old.quantity
    price = change.unit_price if change.unit_price is not None else old.unit_price
    base = change.base_quantity if change.base_quantity is not None else old.base_quantity
    amount: Decimal | None
    if change.net_amount is not None:
        amount = change.net_amount
    elif (
        (change.quantity is not None or change.unit_price is not None or change.base_quantity is not None)
        and quantity is not None
        and price is not None
    ):
        amount = line_amount(quantity, price, base)
    else:
        amount = old.net_amount
    return replace(
        old,
        name=change.name or old.name,
        quantity=quantity,
        unit=change.unit or old.unit,
        unit_price=price,
        base_quantity=base,
        net_amount=amount,
        tax_rate=change.tax_rate if change.tax_rate is not None else old.tax_rate,
    )


def recompute(totals: Totals, before: Sequence[OrderLine], after: Sequence[OrderLine]) -> Totals:
    """The totals of a version whose lines went from ``before`` to ``after``."""
    line_total = sum((line.net_amount or Decimal(0) for line in after), Decimal(0))
    allowances, charges = totals.allowances or Decimal(0), totals.charges or Decimal(0)
    ht = line_total - allowances + charges
    if after and all(line.tax_rate is not None for line in after) and not allowances and not charges:
        bases: dict[Decimal, Decimal] = defaultdict(Decimal)
        for line in after:
            bases[line.tax_rate] += line.net_amount or Decimal(0)  # type: ignore[index]  # never None: all() above
        tax = sum((cents(base * rate / 100) for rate, base in bases.items()), Decimal(0))
    else:
        old_by_id = {line.line_id: line for line in before}
        delta = Decimal(0)
        for line in after:
            old = old_by_id.pop(line.line_id, None)
            rate = line.tax_rate if line.tax_rate is not None else (old.tax_rate if old else None)
            if rate is not None:
                delta += ((line.net_amount or 0) - ((old.net_amount or 0) if old else 0)) * rate / 100
        for gone in old_by_id.values():
            if gone.tax_rate is not None:
                delta -= (gone.net_amount or 0) * gone.tax_rate / 100
        tax = cents((totals.tax_total or Decimal(0)) + delta)
    ttc = ht + tax
    payable = ttc - (totals.prepaid or 0) + (totals.rounding or 0)
    return replace(totals, line_total=line_total, tax_exclusive=ht, tax_total=tax, tax_inclusive=ttc, payable=payable)
