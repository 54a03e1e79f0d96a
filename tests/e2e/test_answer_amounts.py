"""An answer's changed lines carry usable numbers, on every channel: an operator CSV row and
``orders modify --line`` with a negative quantity, NaN, infinity, 1e309, 1e15 or 0.0000001 are
refused with AMOUNT_INVALID (the file's other rows go on), never an internal error, and the
engagement is left as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order

RunCli = Callable[..., Result]
BAD = ["-5", "NaN", "Infinity", "1e309", "1e15", "0.0000001"]
LINES = [
    Line("1", "Ramettes A4", Decimal("2"), "C62", Decimal("10"), Decimal("20")),
    Line("2", "Classeurs", Decimal("2"), "C62", Decimal("10"), Decimal("20")),
]


@pytest.fixture
def ordered(workspace: Path, wcli: RunCli) -> Path:
    (workspace / "inbox" / "order.xml").write_bytes(ubl_order("EJ1", ISSUERS[0], SUPPLIERS[0], LINES, date(2026, 1, 5)))
    assert wcli("run").exit_code == 0
    return workspace


def shown(wcli: RunCli) -> dict[str, object]:
    result: dict[str, object] = json.loads(wcli("orders", "show", "EJ1", "--format", "json").stdout)
    return result


@pytest.mark.parametrize("value", BAD)
def test_orders_modify_refuses_an_unusable_quantity_or_price(ordered: Path, wcli: RunCli, value: str) -> None:
    before = shown(wcli)
    for change in (f"1={value}", f"2=3@{value}"):
        result = wcli("orders", "modify", "EJ1", "--line", change, "--yes")
        assert result.exit_code == 2, result.output + result.stderr  # an argument: a usage error
        assert "[AMOUNT_INVALID]" in result.stderr and "internal error" not in result.stderr
    assert shown(wcli) == before
    assert list((ordered / "outbox" / "responses").iterdir()) == []


def test_an_operator_csv_refuses_the_bad_rows_and_applies_the_good_one(ordered: Path, wcli: RunCli) -> None:
    rows = [f"EJ1;modify;;1;{v.replace('.', ',')};" for v in BAD] + ["EJ1;modify;;2;3;12,5"]
    text = "engagement_number;action;reason;line_id;quantity;unit_price\n" + "\n".join(rows) + "\n"
    (ordered / "inbox" / "answers.csv").write_text(text, encoding="utf-8")
    result = wcli("run")
    assert result.exit_code == 1, result.output + result.stderr
    ack = json.loads((ordered / "outbox" / "acks" / "answers.csv.json").read_text(encoding="utf-8"))
    assert ack["status"] == "IN_INTEGRE_PARTIEL"
    assert [e["code"] for e in ack["errors"]] == ["AMOUNT_INVALID"] * len(BAD)
    assert [d["outcome"] for d in ack["documents"]] == ["REJETE"] * len(BAD) + ["INTEGRE"]
    assert len(list((ordered / "outbox" / "responses").iterdir())) == 1
