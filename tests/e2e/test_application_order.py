"""What a run applies first, and orders that order nothing negative.

SPEC §6 keeps its dependency order (orders, then changes, then what refers to them). Where a
supplier's answer and the buyer's cancellation of the same engagement meet in one run, arrival
decides (the files' modification times, then their names): the first one applies, the other is
refused with its code, and no acceptance is sent for an order that was cancelled before it.

A UBL order (or change) with a negative quantity, price, line sum or amount due is refused with
AMOUNT_INVALID (Peppol BIS PEPPOL-T01-R004 to R007), never integrated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result

from chorus_batch.demo.generate import (
    ISSUERS,
    SUPPLIERS,
    Line,
    ubl_order,
    ubl_order_cancellation,
    ubl_order_change,
    ubl_order_response,
)

RunCli = Callable[..., Result]
ISSUER, SUPPLIER = ISSUERS[0], SUPPLIERS[0]
LINES = [Line("1", "Ramettes A4", Decimal("2"), "C62", Decimal("10"), Decimal("20"))]
DAY = date(2026, 1, 5)


def ack(ws: Path, name: str) -> dict[str, object]:
    found: dict[str, object] = json.loads((ws / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))
    return found


def status(wcli: RunCli) -> str:
    shown = json.loads(wcli("orders", "show", "EJ1", "--format", "json").stdout)
    return str(shown["status"])


def drop(ws: Path, name: str, data: bytes, at: int) -> None:
    """``data`` in the inbox as ``name``, arrived at ``at`` (seconds since the epoch)."""
    path = ws / "inbox" / name
    path.write_bytes(data)
    os.utime(path, (at, at))


@pytest.fixture
def ordered(workspace: Path, wcli: RunCli) -> Path:
    (workspace / "inbox" / "order.xml").write_bytes(ubl_order("EJ1", ISSUER, SUPPLIER, LINES, DAY))
    assert wcli("run").exit_code == 0
    return workspace


# the answer's name sorts first in both cases: only arrival may put the cancellation first
ANSWER, CANCELLATION = "a-answer.xml", "z-cancellation.xml"


def test_a_cancellation_that_arrived_first_wins(ordered: Path, wcli: RunCli) -> None:
    drop(ordered, CANCELLATION, ubl_order_cancellation("EJ1", ISSUER, SUPPLIER), 1_800_000_000)
    drop(ordered, ANSWER, ubl_order_response("EJ1", ISSUER, SUPPLIER, "AP"), 1_800_000_060)
    result = wcli("run")
    assert result.exit_code == 1, result.output + result.stderr
    assert ack(ordered, CANCELLATION)["status"] == "IN_INTEGRE"
    refused = ack(ordered, ANSWER)
    assert refused["status"] == "IN_REJETE"
    assert [e["code"] for e in refused["errors"]] == ["TRANSITION_NOT_ALLOWED"]  # type: ignore[attr-defined,index]  # JSON
    assert list((ordered / "outbox" / "responses").iterdir()) == []  # nothing accepted
    assert status(wcli) == "CLOTURE"


def test_an_answer_that_arrived_first_is_applied_before_the_cancellation(ordered: Path, wcli: RunCli) -> None:
    drop(ordered, ANSWER, ubl_order_response("EJ1", ISSUER, SUPPLIER, "AP"), 1_800_000_000)
    drop(ordered, CANCELLATION, ubl_order_cancellation("EJ1", ISSUER, SUPPLIER), 1_800_000_060)
    assert wcli("run").exit_code == 0
    assert ack(ordered, ANSWER)["status"] == ack(ordered, CANCELLATION)["status"] == "IN_INTEGRE"
    assert len(list((ordered / "outbox" / "responses").iterdir())) == 1  # the acceptance, sent before
    assert status(wcli) == "CLOTURE"


def test_dependency_order_still_puts_the_order_first(workspace: Path, wcli: RunCli) -> None:
    # the answer arrived before its order, in the same run: the order is applied first all the same
    drop(workspace, "a.xml", ubl_order_response("EJ1", ISSUER, SUPPLIER, "AP"), 1_800_000_000)
    drop(workspace, "b.xml", ubl_order("EJ1", ISSUER, SUPPLIER, LINES, DAY), 1_800_000_060)
    assert wcli("run").exit_code == 0
    assert status(wcli) == "PRIS_EN_COMPTE"


NEGATIVE = {
    "quantity": [replace(LINES[0], quantity=Decimal("-2"))],
    "price": [replace(LINES[0], unit_price=Decimal("-10"))],
}


@pytest.mark.parametrize("what", sorted(NEGATIVE))
def test_a_negative_order_is_refused(workspace: Path, wcli: RunCli, what: str) -> None:
    (workspace / "inbox" / "order.xml").write_bytes(ubl_order("EJ1", ISSUER, SUPPLIER, NEGATIVE[what], DAY))
    result = wcli("run")
    assert result.exit_code == 1, result.output + result.stderr
    refused = ack(workspace, "order.xml")
    assert refused["status"] == "IN_REJETE"
    codes = {e["code"] for e in refused["errors"]}  # type: ignore[attr-defined]  # JSON
    assert codes == {"AMOUNT_INVALID"}, refused["errors"]
    assert "ORDER_NOT_FOUND" in wcli("orders", "show", "EJ1").stderr


def test_a_change_to_negative_amounts_is_refused(ordered: Path, wcli: RunCli) -> None:
    before = wcli("orders", "show", "EJ1", "--format", "json").stdout
    change = ubl_order_change("EJ1", ISSUER, SUPPLIER, NEGATIVE["quantity"], DAY)
    (ordered / "inbox" / "change.xml").write_bytes(change)
    assert wcli("run").exit_code == 1
    assert {e["code"] for e in ack(ordered, "change.xml")["errors"]} == {"AMOUNT_INVALID"}  # type: ignore[attr-defined]
    assert wcli("orders", "show", "EJ1", "--format", "json").stdout == before
