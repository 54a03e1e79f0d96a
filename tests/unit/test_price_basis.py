"""The price basis (``domain.pricing``): amounts computed and checked as quantity × price ÷ base
quantity, the readers that give the base quantity (real samples from ../shared where they have
one), the amendments that keep it, the rules that fire on it, and migration 7 that stores it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from _shared import shared_dir
from chorus_batch import formats
from chorus_batch.domain import amend, pricing, rules
from chorus_batch.domain.model import (
    InvoiceDocument,
    InvoiceLine,
    LineChange,
    OrderDocument,
    OrderLine,
    Party,
    PartyId,
    ResponseDocument,
    Totals,
)
from chorus_batch.errors import CODES, DocumentRejected
from chorus_batch.store.engine import Store, sqlite_url

TODAY = date(2026, 3, 1)
PER_TWO = OrderLine("1", "Ramettes", Decimal(23), "C62", Decimal("30.00"), Decimal("345.00"), base_quantity=Decimal(2))


def test_amounts_divide_by_the_base_quantity() -> None:
    assert pricing.extended(Decimal(23), Decimal("30.00"), Decimal(2)) == Decimal("345.00")
    assert pricing.extended(Decimal(23), Decimal("30.00"), None) == Decimal("690.00")
    assert pricing.line_amount(Decimal(24), Decimal("30.00"), Decimal(2)) == Decimal("360.00")
    # rounded half-up to the cent, as a new version's lines are
    assert pricing.line_amount(Decimal(1), Decimal("0.05"), Decimal(2)) == Decimal("0.03")
    assert pricing.line_amount(Decimal(7), Decimal("12.34"), Decimal(100)) == Decimal("0.86")


def test_a_restated_price_without_base_is_per_unit() -> None:
    assert pricing.restated_base(Decimal(5), None) == Decimal(1)
    assert pricing.restated_base(Decimal(5), Decimal(2)) == Decimal(2)
    assert pricing.restated_base(None, None) is None


@pytest.mark.parametrize("value", ["0", "-1", "-0.5", "NaN", "Infinity", "1e12", "0.0000001"])
def test_unusable_base_quantities(value: str) -> None:
    assert pricing.base_problem(Decimal(value)) is not None


def test_check_lines_accepts_the_basis_and_the_cent() -> None:
    assert pricing.check_lines([PER_TWO], "order") == []
    # within a cent of the unrounded amount: 7 × 12.34 / 100 = 0.8638
    close = OrderLine("2", None, Decimal(7), "C62", Decimal("12.34"), Decimal("0.86"), base_quantity=Decimal(100))
    assert pricing.check_lines([close], "order") == []
    # nothing to check without quantity, price or amount
    assert pricing.check_lines([replace(PER_TWO, net_amount=None), replace(PER_TWO, unit_price=None)], "order") == []


def test_check_lines_fires_on_an_amount_that_ignores_the_basis() -> None:
    wrong = replace(PER_TWO, net_amount=Decimal("690.00"), xpath="/Order/cac:OrderLine[1]/cac:LineItem")
    [issue] = pricing.check_lines([wrong], "order")
    assert issue.code == "LINE_AMOUNT_MISMATCH" and issue.severity == "error"
    assert "690.00" in issue.message and "per 2" in issue.message and "345.00" in issue.message
    assert issue.xpath == "/Order/cac:OrderLine[1]/cac:LineItem"
    # a cent off is too much
    [off] = pricing.check_lines([replace(PER_TWO, net_amount=Decimal("345.01"))], "order")
    assert off.code == "LINE_AMOUNT_MISMATCH"


def test_check_lines_counts_the_line_charges_and_allowances() -> None:
    discounted = replace(PER_TWO, net_amount=Decimal("335.00"), adjustments=Decimal("-10.00"))
    assert pricing.check_lines([discounted], "order") == []
    [issue] = pricing.check_lines([replace(discounted, adjustments=None)], "order")
    assert issue.code == "LINE_AMOUNT_MISMATCH"


@pytest.mark.parametrize("base", ["0", "-2"])
def test_check_lines_fires_on_a_base_quantity_not_above_zero(base: str) -> None:
    [issue] = pricing.check_lines([replace(PER_TWO, base_quantity=Decimal(base))], "order")
    assert issue.code == "BASE_QUANTITY_INVALID" and ("not above zero" in issue.message or "negative" in issue.message)


def test_the_codes_are_in_the_catalogue() -> None:
    assert {"LINE_AMOUNT_MISMATCH", "BASE_QUANTITY_INVALID"} <= set(CODES)


def _party(siret: str) -> Party:
    return Party("X", (PartyId("0009", siret, "id@x"),))


def test_an_order_with_a_wrong_line_amount_is_rejected() -> None:
    order = OrderDocument(
        "ubl", None, "EJ1", TODAY, "220", "EUR", _party("21750001600019"), _party("35600000000048"),
        lines=(replace(PER_TWO, net_amount=Decimal("690.00")),),
    )  # fmt: skip
    codes = [(i.code, i.severity) for i in rules.check(order, TODAY)]
    assert ("LINE_AMOUNT_MISMATCH", "error") in codes
    assert [i.code for i in rules.check(replace(order, lines=(PER_TWO,)), TODAY)] == []


def test_an_invoice_with_a_wrong_line_amount_is_kept_with_a_warning() -> None:
    """The seller's claim is kept (its totals, checked as before, sum the stated amounts): the
    line is flagged for the accountant."""
    line = InvoiceLine("1", "Ramettes", Decimal(23), "C62", Decimal("30.00"), Decimal("690.00"))
    invoice = InvoiceDocument(
        "ubl", None, "F1", "380", False, TODAY, "EUR", _party("35600000000048"), _party("21750001600019"), "EJ1",
        lines=(replace(line, base_quantity=Decimal(2)), replace(line, line_id="2", base_quantity=Decimal(0))),
    )  # fmt: skip
    found = [(i.code, i.severity) for i in rules.check(invoice, TODAY)]
    assert found == [("LINE_AMOUNT_MISMATCH", "warning"), ("BASE_QUANTITY_INVALID", "warning")]


def test_an_answer_with_a_base_quantity_of_zero_is_rejected() -> None:
    answer = ResponseDocument(
        "ubl", "R1", "EJ1", "CA", lines=(LineChange("1", "3", quantity=Decimal(3), base_quantity=Decimal(0)),)
    )
    assert [i.code for i in rules.check(answer, TODAY)] == ["BASE_QUANTITY_INVALID"]


# --------------------------------------------------------------------------- amendments


def test_a_new_quantity_keeps_the_basis() -> None:
    [line] = amend.apply_line_changes([PER_TWO], [LineChange("1", "3", quantity=Decimal(24))])
    assert (line.base_quantity, line.net_amount) == (Decimal(2), Decimal("360.00"))
    [line] = amend.apply_line_changes([PER_TWO], [LineChange("1", "3", unit_price=Decimal(31))])
    assert (line.base_quantity, line.net_amount) == (Decimal(2), Decimal("356.50"))


def test_a_change_may_restate_the_basis() -> None:
    per_unit = LineChange("1", "3", unit_price=Decimal(15), base_quantity=Decimal(1))
    [line] = amend.apply_line_changes([PER_TWO], [per_unit])
    assert (line.base_quantity, line.net_amount) == (Decimal(1), Decimal("345.00"))
    [line] = amend.apply_line_changes([PER_TWO], [LineChange("1", "3", base_quantity=Decimal(10))])
    assert line.net_amount == Decimal("69.00")
    # an amount the change states wins, as before
    [line] = amend.apply_line_changes([PER_TWO], [LineChange("1", "3", quantity=Decimal(24), net_amount=Decimal(1))])
    assert line.net_amount == Decimal(1)


def test_totals_of_a_new_version_follow_the_basis() -> None:
    after = amend.apply_line_changes([PER_TWO], [LineChange("1", "3", quantity=Decimal(24))])
    totals = amend.recompute(Totals(line_total=Decimal("345.00")), [PER_TWO], after)
    assert totals.line_total == Decimal("360.00") and totals.tax_exclusive == Decimal("360.00")


# --------------------------------------------------------------------------- readers


def _read(data: bytes) -> list[object]:
    rec = formats.recognise(data)
    assert formats.schema_issues(rec) == []
    docs = formats.documents(rec)
    assert not any(isinstance(d, DocumentRejected) for d in docs)
    return list(docs)


def _sample(path: str) -> bytes:
    return (shared_dir() / "samples" / path).read_bytes()


@pytest.mark.shared
def test_real_orderx_order_with_a_price_per_two() -> None:
    """Mustang's ORDER-X_EX01: line 2 is 10 at 20.00 per 2 = 100.00 (its gross price too has a
    basis; the net price's is read)."""
    [order] = _read(_sample("zugferd-mustangproject/order-x/ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.xml"))
    assert isinstance(order, OrderDocument)
    bases = {ln.line_id: ln.base_quantity for ln in order.lines}
    assert bases["2"] == Decimal(2) and bases["1"] == Decimal("1.00")
    assert not {"LINE_AMOUNT_MISMATCH", "BASE_QUANTITY_INVALID"} & {i.code for i in rules.check(order, TODAY)}


@pytest.mark.shared
def test_real_peppol_order_with_line_allowances_passes_the_line_check() -> None:
    """Peppol's Order_Example: BaseQuantity 1 and line allowances (cac:LineItem/cac:AllowanceCharge)."""
    [order] = _read(_sample("openpeppol-poacc-upgrade-3/examples/Order_Example.xml"))
    assert isinstance(order, OrderDocument)
    assert {ln.base_quantity for ln in order.lines} == {Decimal(1)}
    assert any(ln.adjustments for ln in order.lines)
    assert pricing.check_lines(order.lines, "order") == []


@pytest.mark.shared
def test_a_real_peppol_invoice_with_a_price_per_two() -> None:
    """Peppol BIS Billing's Allowance-example: a price per 2 units, amounts that agree."""
    [invoice] = _read(_sample("openpeppol-peppol-bis-invoice-3/examples/Allowance-example.xml"))
    assert isinstance(invoice, InvoiceDocument)
    assert Decimal(2) in {ln.base_quantity for ln in invoice.lines}
    assert pricing.check_lines(invoice.lines, "invoice") == []


@pytest.mark.shared
def test_a_real_cii_invoice_whose_amounts_ignore_its_basis_is_kept_with_warnings() -> None:
    """CEN's CII_example2 gives each net price a basis equal to the price (3.96 per 3.96) and
    line amounts of quantity × price: Peppol's R120 refuses it; here it is kept, flagged."""
    [invoice] = _read(_sample("connectingeurope-einvoicing-en16931/cii/examples/CII_example2.xml"))
    assert isinstance(invoice, InvoiceDocument)
    assert Decimal("3.96") in {ln.base_quantity for ln in invoice.lines}
    found = [i for i in rules.check(invoice, TODAY) if i.code == "LINE_AMOUNT_MISMATCH"]
    assert found and {i.severity for i in found} == {"warning"}


def test_ubl_answer_and_change_lines_restate_their_basis() -> None:
    from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order_change

    lines = [Line("1", "Ramettes", Decimal(24), "C62", Decimal("15.00"), Decimal(20))]
    data = ubl_order_change("EJ1", ISSUERS[0], SUPPLIERS[0], lines, TODAY, line_status={"1": "3"})
    [change] = _read(data)
    [restated] = change.line_changes  # type: ignore[attr-defined]
    assert restated.base_quantity == Decimal(1)  # a price without BaseQuantity is per unit
    per_two = b'<cbc:PriceAmount currencyID="EUR">30.00</cbc:PriceAmount><cbc:BaseQuantity unitCode="C62">2'
    with_base = data.replace(
        b'<cbc:PriceAmount currencyID="EUR">15.00</cbc:PriceAmount>', per_two + b"</cbc:BaseQuantity>"
    )
    [change] = _read(with_base)
    [restated] = change.line_changes  # type: ignore[attr-defined]
    assert restated.base_quantity == Decimal(2)
    assert rules.check(change, TODAY) == []  # type: ignore[arg-type]


# --------------------------------------------------------------------------- store


def test_migration_7_adds_the_column_to_an_older_sqlite_store(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(sqlite_url(path)).close()
    engine = create_engine(sqlite_url(path))
    with engine.begin() as conn:  # as migrations 1 to 6 left it
        conn.execute(text("ALTER TABLE engagement_lines DROP COLUMN base_quantity"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 7"))
    Store(sqlite_url(path)).close()
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("engagement_lines")}
        versions = list(conn.execute(text("SELECT version FROM schema_migrations")).scalars())
    engine.dispose()
    assert "base_quantity" in columns and 7 in versions
