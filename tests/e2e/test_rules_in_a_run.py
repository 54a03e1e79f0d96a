"""The official rules as ``run`` applies them, end to end on real public documents of ../shared.

* A valid CEN invoice under the XRechnung guideline is integrated in strict mode: the Factur-X
  rules (which refused its guideline id, ``FX-SCH-A-000556``) no longer judge it; with the CEN
  rule folder configured its findings are the CEN rules' own, without it a warning says which
  rules did not run.
* A ZUGFeRD 2.0 guideline id gets its profile's XSD: a full EN 16931 invoice claiming ZUGFeRD
  2.0 MINIMUM is refused by the MINIMUM schema (it used to fall back to the widest schema).
* ``peppol_rules`` checks incoming UBL orders against Peppol BIS T01: off by default, a warning
  when set, a rejection in strict mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from lxml import etree

from _shared import shared_dir

pytestmark = pytest.mark.shared

RunCli = Callable[..., Result]
CII_EXAMPLE = "samples/connectingeurope-einvoicing-en16931/cii/examples/CII_example1.xml"
ORDER_EXAMPLE = "samples/openpeppol-poacc-upgrade-3/examples/Order_Example.xml"
CEN_RULES = "samples/connectingeurope-einvoicing-en16931/cii/xslt"
PEPPOL_RULES = "samples/peppol-ordering-rules/xslt"
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
GUIDELINE = "{*}ExchangedDocumentContext/{*}GuidelineSpecifiedDocumentContextParameter/{*}ID"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


def invoice_under(guideline: str) -> bytes:
    root = etree.fromstring((shared_dir() / CII_EXAMPLE).read_bytes())
    node = root.find(GUIDELINE)
    assert node is not None
    node.text = guideline
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def configure(ws: Path, **settings: object) -> None:
    lines = [f"{k} = {json.dumps(v) if isinstance(v, str) else str(v).lower()}" for k, v in settings.items()]
    (ws / "chorus-batch.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_one(ws: Path, wcli: RunCli, name: str, data: bytes) -> dict[str, object]:
    (ws / "inbox" / name).write_bytes(data)
    result = wcli("run")
    assert result.exit_code in (0, 1), result.output + result.stderr
    ack: dict[str, object] = json.loads((ws / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))
    return ack


def findings(ack: dict[str, object]) -> list[tuple[str, str]]:
    return [(str(e["code"]), str(e["message"])) for e in (*ack["errors"], *ack["warnings"])]  # type: ignore[misc]  # JSON lists


def test_an_xrechnung_invoice_passes_strict_mode_with_the_cen_rules(workspace: Path, wcli: RunCli) -> None:
    configure(workspace, strict_rules=True, en16931_cii_rules=str(shared_dir() / CEN_RULES))
    ack = run_one(workspace, wcli, "xrechnung.xml", invoice_under(XRECHNUNG))
    assert ack["status"] == "IN_INTEGRE", ack
    assert not any(message.startswith("[FX-") for _, message in findings(ack))


def test_an_xrechnung_invoice_without_the_cen_rules_says_what_did_not_run(workspace: Path, wcli: RunCli) -> None:
    configure(workspace, strict_rules=True)
    ack = run_one(workspace, wcli, "xrechnung.xml", invoice_under(XRECHNUNG))
    assert ack["status"] == "IN_INTEGRE", ack
    notes = [m for code, m in findings(ack) if code == "RULE_WARNING"]
    assert len(notes) == 1 and "en16931_cii_rules" in notes[0], findings(ack)


def test_a_zugferd_2_guideline_gets_its_profile_schema(workspace: Path, wcli: RunCli) -> None:
    ack = run_one(workspace, wcli, "zugferd.xml", invoice_under("urn:zugferd.de:2p0:minimum"))
    assert ack["status"] == "IN_REJETE", ack
    assert {code for code, _ in findings(ack)} >= {"XSD_INVALID"}


def order_outside_the_peppol_data_model() -> bytes:
    """Peppol's own order example with a VAT number for the seller, which T01 has no place for
    (PEPPOL-T01-B07204); chorus-batch's own rules accept it."""
    root = etree.fromstring((shared_dir() / ORDER_EXAMPLE).read_bytes())
    party = root.find(f"{{{CAC}}}SellerSupplierParty/{{{CAC}}}Party")
    assert party is not None
    legal = party.find(f"{{{CAC}}}PartyLegalEntity")
    assert legal is not None
    tax = etree.Element(f"{{{CAC}}}PartyTaxScheme")
    etree.SubElement(tax, f"{{{CBC}}}CompanyID").text = "FR38482153673"
    etree.SubElement(etree.SubElement(tax, f"{{{CAC}}}TaxScheme"), f"{{{CBC}}}ID").text = "VAT"
    legal.addprevious(tax)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize(
    ("settings", "status", "peppol"),
    [
        ({}, "IN_INTEGRE", None),  # off by default
        ({"peppol": True}, "IN_INTEGRE", "warning"),
        ({"peppol": True, "strict_rules": True}, "IN_REJETE", "error"),
    ],
)
def test_peppol_rules_on_an_incoming_order(
    workspace: Path, wcli: RunCli, settings: dict[str, bool], status: str, peppol: str | None
) -> None:
    chosen: dict[str, object] = {"strict_rules": settings.get("strict_rules", False)}
    if settings.get("peppol"):
        chosen["peppol_rules"] = str(shared_dir() / PEPPOL_RULES)
    configure(workspace, **chosen)
    ack = run_one(workspace, wcli, "order.xml", order_outside_the_peppol_data_model())
    assert ack["status"] == status, ack
    where = {
        "error": [e for e in ack["errors"] if "PEPPOL-T01-B07204" in e["message"]],  # type: ignore[attr-defined]
        "warning": [w for w in ack["warnings"] if "PEPPOL-T01-B07204" in w["message"]],  # type: ignore[attr-defined]
    }
    for severity, found in where.items():
        assert bool(found) == (severity == peppol), ack
