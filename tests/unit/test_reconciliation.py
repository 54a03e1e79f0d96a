"""The match status is one rule (``Tolerance.matcher``): the reports apply it to millionths,
``orders show`` and ``close_when_paid`` to ``Decimal`` amounts; both must say the same."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chorus_batch.domain.reconciliation import MatchStatus, Tolerance

_AMOUNTS = st.decimals(min_value=-(10**6), max_value=10**7, places=6, allow_nan=False, allow_infinity=False)


@given(
    st.integers(0, 3),
    _AMOUNTS,
    _AMOUNTS,
    st.decimals(min_value=0, max_value=100, places=2),
    st.decimals(min_value=0, max_value=20, places=3),
)
def test_millionths_and_decimals_get_the_same_status(
    count: int, invoiced: Decimal, ordered: Decimal, amount: Decimal, percent: Decimal
) -> None:
    tolerance = Tolerance(amount, percent)
    scale = 10**6
    in_millionths = tolerance.matcher(scale)(count, int(invoiced * scale), int(ordered * scale))
    assert in_millionths == tolerance.matcher()(count, invoiced, ordered)


def test_each_status_is_given() -> None:
    status = Tolerance(Decimal("1.00"), Decimal("0")).matcher()
    assert status(0, Decimal(5), Decimal(100)) == MatchStatus.NOT_INVOICED
    assert status(1, Decimal("100.50"), Decimal(100)) == MatchStatus.FULLY_INVOICED
    assert status(1, Decimal("101.01"), Decimal(100)) == MatchStatus.OVER_INVOICED
    assert status(1, Decimal("98.99"), Decimal(100)) == MatchStatus.PARTIALLY_INVOICED
    assert Tolerance(Decimal(0), Decimal(2)).matcher()(1, Decimal(102), Decimal(100)) == MatchStatus.FULLY_INVOICED
