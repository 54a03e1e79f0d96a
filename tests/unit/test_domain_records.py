"""The domain's data (``domain.model.record``) is never changed once made: the type checker
refuses an assignment to a field, as on a frozen dataclass (``mypy --strict``, which CI runs
over the package, reads ``record`` so), and a changed copy comes from ``dataclasses.replace``;
records are equal, and hashed, by their fields (parties key caches)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from chorus_batch.domain import model
from chorus_batch.domain.model import OrderLine, Party, PartyId

LINE = OrderLine("1", "Ramette", Decimal("10"), "C62", Decimal("4.50"), Decimal("45.00"))


def test_records_are_equal_and_hashed_by_their_fields() -> None:
    copy = replace(LINE)
    assert copy is not LINE and copy == LINE and hash(copy) == hash(LINE)
    assert replace(LINE, quantity=Decimal("11")) != LINE
    assert len({Party("A", (PartyId("0009", "1"),)), Party("A", (PartyId("0009", "1"),))}) == 1


def test_every_record_is_read_only_to_the_type_checker() -> None:
    assert model.record.__dataclass_transform__["kwargs"] == {"frozen_default": True}  # what mypy reads
    assert "@dataclass" not in Path(model.__file__).read_text(encoding="utf-8").replace("@dataclass_transform", "")
