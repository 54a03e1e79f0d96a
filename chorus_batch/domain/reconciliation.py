"""How an engagement's invoices are reconciled with it (SPEC §8): the match status and the
tolerance, as pure functions on exact numbers.

They work on Python numbers (an engagement's ``Decimal`` amounts, ``orders show`` and
``close_when_paid``) and on whole columns alike (numpy / pandas arrays of millionths, the
reports): only ``abs``, comparisons, ``*`` and the elementwise ``&`` / ``|`` are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from .states import State


class MatchStatus(StrEnum):
    NOT_INVOICED = "NOT_INVOICED"
    PARTIALLY_INVOICED = "PARTIALLY_INVOICED"
    FULLY_INVOICED = "FULLY_INVOICED"
    OVER_INVOICED = "OVER_INVOICED"


# the state an engagement must be in for invoices on it to be expected
ACCEPTED = State.PRIS_EN_COMPTE


@dataclass(frozen=True)
class Tolerance:
    """An engagement is fully invoiced when |ordered - invoiced| is within the larger of
    ``amount`` and ``percent`` % of the ordered amount (``[reconciliation]``)."""

    amount: Decimal
    percent: Decimal

    def within(self, gap: Any, ordered: Any, scale: int = 1) -> Any:
        """Whether ``gap`` (invoiced - ordered) is within the tolerance of ``ordered``, both in
        units of ``1 / scale`` (1: the amounts themselves; 10**6: millionths), compared
        exactly: the percentage as an integer ratio, never a float."""
        amount = _exact(self.amount * scale)
        num, den = self.percent.as_integer_ratio()
        size = abs(gap)
        return (size <= amount) | (size * (100 * den) <= abs(ordered) * num)


def _exact(value: Decimal) -> Decimal | int:
    """A whole number as an ``int`` (cheaper to compare with integer columns)."""
    return int(value) if value == value.to_integral_value() else value


def match_conditions(invoice_count: Any, gap: Any, within: Any) -> list[tuple[Any, MatchStatus]]:
    """(condition, status) pairs, the first true one wins; ``PARTIALLY_INVOICED`` when none
    holds. ``invoice_count``: the counted invoices; ``gap``: invoiced - ordered; ``within``:
    ``Tolerance.within`` of that gap."""
    invoiced = invoice_count > 0
    return [
        (invoice_count == 0, MatchStatus.NOT_INVOICED),
        (invoiced & (gap > 0) & (within == False), MatchStatus.OVER_INVOICED),  # noqa: E712 -- elementwise on arrays
        (invoiced & within, MatchStatus.FULLY_INVOICED),
    ]


def match_status(invoice_count: int, gap: Decimal, within: bool) -> MatchStatus:
    """The match status of one engagement."""
    return next(
        (status for holds, status in match_conditions(invoice_count, gap, within) if holds),
        MatchStatus.PARTIALLY_INVOICED,
    )
