"""How an engagement's invoices are reconciled with it (SPEC §8): the match status and the
tolerance, as pure functions on exact numbers (an engagement's ``Decimal`` amounts for ``orders
show`` and ``close_when_paid``; whole millionths for the reports, ``scale = 10**6``).
"""

from __future__ import annotations

from collections.abc import Callable
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

    def within(self, gap: Any, ordered: Any, scale: int = 1) -> bool:
        """Whether ``gap`` (invoiced - ordered) is within the tolerance of ``ordered``, both in
        units of ``1 / scale`` (1: the amounts themselves; 10**6: millionths)."""
        return self.closeness(scale)(gap, ordered)

    def closeness(self, scale: int = 1) -> Callable[[Any, Any], bool]:
        """``within`` for many engagements, its constants worked out once: compared exactly,
        the percentage as an integer ratio, never a float."""
        amount = _exact(self.amount * scale)
        num, den = self.percent.as_integer_ratio()
        hundred = 100 * den

        def within(gap: Any, ordered: Any) -> bool:
            size = abs(gap)
            return bool(size <= amount or size * hundred <= abs(ordered) * num)

        return within

    def matcher(self, scale: int = 1) -> Callable[[int, Any, Any], MatchStatus]:
        """``status(invoice_count, invoiced, ordered)``: the match status of an engagement from
        its counted invoices, their sum and the ordered amount (in units of ``1 / scale``)."""
        within = self.closeness(scale)

        def status(invoice_count: int, invoiced: Any, ordered: Any) -> MatchStatus:
            if invoice_count == 0:
                return MatchStatus.NOT_INVOICED
            gap = invoiced - ordered
            close = within(gap, ordered)
            if gap > 0 and not close:
                return MatchStatus.OVER_INVOICED
            return MatchStatus.FULLY_INVOICED if close else MatchStatus.PARTIALLY_INVOICED

        return status


def _exact(value: Decimal) -> Decimal | int:
    """A whole number as an ``int`` (cheaper to compare with integer columns)."""
    return int(value) if value == value.to_integral_value() else value
