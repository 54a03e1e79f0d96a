"""Which official rules judge which document, and the settings naming the rule files chorus-batch
does not ship (``en16931_cii_rules``, ``peppol_rules``).

The Factur-X profile rules run only on the Factur-X family (ZUGFeRD 2 included), the CEN EN 16931
rules on the other EN 16931 guidelines (XRechnung...), each finding with its own rule's flag; the
Peppol BIS Ordering rules run on incoming UBL order-family documents when asked for. The CEN and
Peppol rule files are read from ``../shared`` (never copied into the project).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from lxml import etree

from _shared import shared_dir
from chorus_batch import config, formats
from chorus_batch.errors import CODES, ConfigError, Issue
from chorus_batch.formats import guidelines, recognise
from chorus_batch.formats import schematron as sc

pytest.importorskip("saxonche")

CEN_CII = "samples/connectingeurope-einvoicing-en16931/cii/xslt"
PEPPOL = "samples/peppol-ordering-rules/xslt"
POACC = "samples/openpeppol-poacc-upgrade-3/examples"
CII_EXAMPLE = "samples/connectingeurope-einvoicing-en16931/cii/examples/CII_example1.xml"
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
NS = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
FOLDERS = sc.Folders(Path("/rules/cen"), Path("/rules/peppol"))


# -- the guideline families ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guideline", "level"),
    [
        ("urn:factur-x.eu:1p0:minimum", "minimum"),
        ("urn:zugferd.de:2p0:minimum", "minimum"),
        ("urn:zugferd.de:2p0:basicwl", "basicwl"),
        ("urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic", "basic"),
        ("urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended", "extended"),
        ("urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended", "extended"),
        ("urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr", "extended-ctc-fr"),
        (" URN:CEN.EU:EN16931:2017 ", "en16931"),
        (XRECHNUNG, None),
        ("urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.3", None),
        ("urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0", None),
        ("urn:zugferd.de:2p0:gold", None),
        ("urn:ferd:CrossIndustryDocument:invoice:1p0:comfort", None),
        (None, None),
    ],
)
def test_factur_x_family_by_guideline(guideline: str | None, level: str | None) -> None:
    assert guidelines.facturx_level(guideline) == level


def test_en16931_guidelines() -> None:
    assert guidelines.is_en16931(XRECHNUNG)
    assert guidelines.is_en16931("urn:cen.eu:en16931:2017")
    assert not guidelines.is_en16931("urn:cen.eu:en16931:20170")
    assert not guidelines.is_en16931("urn:ferd:CrossIndustryDocument:invoice:1p0:comfort")
    assert not guidelines.is_en16931(None)


# -- which rule files ----------------------------------------------------------------------------

CEN_FILE = str(FOLDERS.en16931_cii / sc.EN16931_CII) if FOLDERS.en16931_cii else ""


@pytest.mark.parametrize(
    ("kind", "guideline", "french", "folders", "expected"),
    [
        # Factur-X family: its profile's rules, with or without the CEN folder
        ("invoice", "urn:zugferd.de:2p0:minimum", True, sc.NO_FOLDERS, [sc.FACTURX["minimum"]]),
        ("invoice", "urn:zugferd.de:2p0:basicwl", False, FOLDERS, [sc.FACTURX["basicwl"]]),
        (
            "invoice",
            "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended",
            True,
            FOLDERS,
            [sc.FACTURX["extended"], sc.BR_FR_CII],
        ),
        # XRechnung: never the Factur-X rules; the CEN ones when configured
        ("invoice", XRECHNUNG, False, sc.NO_FOLDERS, []),
        ("invoice", XRECHNUNG, False, FOLDERS, [CEN_FILE]),
        ("credit_note", XRECHNUNG, True, FOLDERS, [CEN_FILE, sc.BR_FR_CII]),
        # the bare EN 16931 id: the CEN rules when configured, else the Factur-X EN16931 profile
        ("invoice", "urn:cen.eu:en16931:2017", False, FOLDERS, [CEN_FILE]),
        ("invoice", "urn:cen.eu:en16931:2017", False, sc.NO_FOLDERS, [sc.FACTURX["en16931"]]),
        # not EN 16931 at all: nothing
        ("invoice", "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort", False, FOLDERS, []),
    ],
)
def test_cii_rule_sets(kind: str, guideline: str, french: bool, folders: sc.Folders, expected: list[str]) -> None:
    assert sc.rule_sets("cii", kind, guideline, french, folders) == expected


@pytest.mark.parametrize(
    ("kind", "customization", "code", "expected"),
    [
        ("order", "urn:fdc:peppol.eu:poacc:trns:order:3", None, "PEPPOLBIS-T01.xslt"),
        ("order_change", None, None, "PEPPOLBIS-T114.xslt"),
        ("order_cancellation", None, None, "PEPPOLBIS-T115.xslt"),
        ("order_response", "urn:fdc:peppol.eu:poacc:trns:order_response:3", "AP", "PEPPOLBIS-T76.xslt"),
        ("order_response", "urn:fdc:peppol.eu:poacc:trns:order_agreement:3", None, "PEPPOLBIS-T110.xslt"),
        ("order_response", None, " ", "PEPPOLBIS-T110.xslt"),
        ("order_response", "urn:fdc:peppol.eu:poacc:trns:order_response_advanced:3", "CA", None),
    ],
)
def test_peppol_rule_sets(kind: str, customization: str | None, code: str | None, expected: str | None) -> None:
    assert sc.rule_sets("ubl", kind, customization, False, sc.NO_FOLDERS, code) == []  # off by default
    found = sc.rule_sets("ubl", kind, customization, False, FOLDERS, code)
    assert found == ([str(Path("/rules/peppol") / expected)] if expected else [])


def test_what_did_not_run_is_said_once() -> None:
    [note] = sc.not_run("cii", "invoice", XRECHNUNG, sc.NO_FOLDERS)
    assert note.code == "RULE_WARNING" and note.severity == "warning"
    assert "en16931_cii_rules" in note.message and XRECHNUNG in note.message
    assert sc.not_run("cii", "invoice", XRECHNUNG, FOLDERS) == []
    assert sc.not_run("cii", "invoice", "urn:factur-x.eu:1p0:minimum", sc.NO_FOLDERS) == []
    assert sc.not_run("cii", "invoice", "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort", sc.NO_FOLDERS) == []
    advanced = "urn:fdc:peppol.eu:poacc:trns:order_response_advanced:3"
    [t116] = sc.not_run("ubl", "order_response", advanced, FOLDERS, "CA")
    assert t116.code == "RULE_WARNING" and "T116" in t116.message
    assert sc.not_run("ubl", "order_response", advanced, sc.NO_FOLDERS, "CA") == []  # Peppol rules off


def test_the_settings_and_the_runner_name_the_same_files() -> None:
    assert config.RULE_FOLDERS["en16931_cii_rules"] == (sc.EN16931_CII,)
    assert sorted(config.RULE_FOLDERS["peppol_rules"]) == sorted(sc.PEPPOL.values())


# -- on real documents ---------------------------------------------------------------------------


def _cen() -> Path:
    return shared_dir() / CEN_CII


def _peppol() -> Path:
    return shared_dir() / PEPPOL


def _with_guideline(data: bytes, guideline: str) -> bytes:
    root = etree.fromstring(data)
    node = root.find("rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", NS)
    assert node is not None
    node.text = guideline
    return etree.tostring(root)


def _rule_ids(issues: list[Issue], code: str | None = None) -> set[str]:
    return {i.message[1:].split("]", 1)[0] for i in issues if code is None or i.code == code}


@pytest.mark.shared
def test_an_xrechnung_invoice_never_gets_the_factur_x_rules() -> None:
    data = _with_guideline((shared_dir() / CII_EXAMPLE).read_bytes(), XRECHNUNG)
    rec = recognise(data)
    assert formats.schema_issues(rec) == []
    # what the Factur-X EN16931 rules would say (the old behaviour): the guideline id is refused
    assert "FX-SCH-A-000556" in _rule_ids(sc.check(data, [sc.FACTURX["en16931"]]), "RULE_FATAL")
    # without the CEN rules: the XSD only, and one warning
    found = formats.rule_issues(rec, strict=True)
    assert [i.code for i in found] == ["RULE_WARNING"] and "CEN EN 16931" in found[0].message
    # with them: valid in strict mode
    found = formats.rule_issues(rec, strict=True, en16931_cii=_cen())
    assert [i for i in found if i.severity == "error"] == []
    assert not any(i.message.startswith("[FX-") for i in found)


@pytest.mark.shared
def test_a_cen_warning_stays_a_warning_in_strict_mode() -> None:
    """CII-SR-465 (a seller contact with both a person and a department name) is flagged
    ``warning`` by CEN: a warning, even with strict_rules."""
    root = etree.fromstring(_with_guideline((shared_dir() / CII_EXAMPLE).read_bytes(), XRECHNUNG))
    seller = root.find(".//ram:SellerTradeParty", NS)
    assert seller is not None
    contact = etree.SubElement(seller, f"{{{NS['ram']}}}DefinedTradeContact")
    for name, value in (("PersonName", "A. Person"), ("DepartmentName", "Sales")):
        etree.SubElement(contact, f"{{{NS['ram']}}}{name}").text = value
    rec = recognise(etree.tostring(root))
    found = formats.rule_issues(rec, strict=True, en16931_cii=_cen())
    assert "CII-SR-465" in _rule_ids(found, "RULE_WARNING")
    assert [i for i in found if i.severity == "error"] == []


@pytest.mark.shared
def test_a_cen_fatal_rule_rejects_in_strict_mode() -> None:
    root = etree.fromstring(_with_guideline((shared_dir() / CII_EXAMPLE).read_bytes(), XRECHNUNG))
    total = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount", NS)
    assert total is not None
    total.text = "1.00"
    found = formats.rule_issues(recognise(etree.tostring(root)), strict=True, en16931_cii=_cen())
    assert "BR-CO-15" in _rule_ids([i for i in found if i.severity == "error"], "RULE_FATAL")
    lenient = formats.rule_issues(recognise(etree.tostring(root)), strict=False, en16931_cii=_cen())
    assert all(i.severity == "warning" for i in lenient) and "BR-CO-15" in _rule_ids(lenient, "RULE_FATAL")


@pytest.mark.shared
@pytest.mark.parametrize(
    ("relative", "transaction"),
    [
        ("Order_Example.xml", "T01"),
        ("OrderChange_Example.xml", "T114"),
        ("OrderCancellation_Example.xml", "T115"),
        ("OrderResponse_Example.xml", "T76"),
        ("OrderAgreement_Example.xml", "T110"),
    ],
)
def test_peppol_examples_pass_their_transaction(relative: str, transaction: str) -> None:
    rec = recognise((shared_dir() / POACC / relative).read_bytes())
    names, notes = sc.plan(rec, sc.Folders(peppol=_peppol()))
    assert names == [str(_peppol() / sc.PEPPOL[transaction])] and notes == []
    assert sc.plan(rec) == ([], [])  # the Peppol rules off: nothing to run, nothing to say
    found = formats.rule_issues(rec, strict=True, peppol=_peppol())
    assert [i for i in found if i.severity == "error"] == []
    for issue in found:
        assert issue.code in CODES and issue.message.startswith("[")


@pytest.mark.shared
def test_a_negative_peppol_order_is_refused_in_strict_mode_only() -> None:
    root = etree.fromstring((shared_dir() / POACC / "Order_Example.xml").read_bytes())
    for quantity in root.findall(".//cac:OrderLine/cac:LineItem/cbc:Quantity", NS):
        quantity.text = "-" + (quantity.text or "1")
    rec = recognise(etree.tostring(root))
    strict = formats.rule_issues(rec, strict=True, peppol=_peppol())
    assert "PEPPOL-T01-R004" in _rule_ids([i for i in strict if i.severity == "error"], "RULE_FATAL")
    lenient = formats.rule_issues(rec, strict=False, peppol=_peppol())
    assert "PEPPOL-T01-R004" in _rule_ids(lenient, "RULE_FATAL") and all(i.severity == "warning" for i in lenient)
    assert formats.rule_issues(rec, strict=True) == []  # off by default


@pytest.mark.shared
def test_an_advanced_response_says_t116_did_not_run() -> None:
    rec = recognise((shared_dir() / POACC / "OrderResponseAdvanced_Example.xml").read_bytes())
    found = formats.rule_issues(rec, strict=True, peppol=_peppol())
    assert [(i.code, i.severity) for i in found] == [("RULE_WARNING", "warning")]
    assert "T116" in found[0].message


@pytest.mark.shared
def test_peppol_and_cen_rules_stay_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Peppol files load no other document (their only ``document()`` reads the parameter
    ``schxslt.validate.initial-document-uri``, which chorus-batch never sets), and nothing opens a
    socket while they run."""
    for name in sc.PEPPOL.values():
        text = (_peppol() / name).read_text(encoding="utf-8")
        calls = set(text.split("document(")[1:])
        assert all(call.startswith("$schxslt.validate.initial-document-uri)") for call in calls), name
    assert "document(" not in (_cen() / sc.EN16931_CII).read_text(encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    rec = recognise((shared_dir() / POACC / "Order_Example.xml").read_bytes())
    assert [i for i in formats.rule_issues(rec, strict=True, peppol=_peppol()) if i.severity == "error"] == []
    rec = recognise((shared_dir() / CII_EXAMPLE).read_bytes())
    assert [i for i in formats.rule_issues(rec, strict=True, en16931_cii=_cen()) if i.severity == "error"] == []


# -- the settings --------------------------------------------------------------------------------


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chorus-batch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _folder(tmp_path: Path, name: str, files: tuple[str, ...]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file in files:
        (folder / file).write_text("<x/>", encoding="utf-8")
    return folder


def test_rule_folders_are_absent_by_default(tmp_path: Path) -> None:
    settings = config.load(_toml(tmp_path, "strict_rules = true\n"))
    assert settings.en16931_cii_rules is None and settings.peppol_rules is None


def test_rule_folders_load_absolute_and_relative(tmp_path: Path) -> None:
    cen = _folder(tmp_path, "cen", config.RULE_FOLDERS["en16931_cii_rules"])
    peppol = _folder(tmp_path, "peppol", config.RULE_FOLDERS["peppol_rules"])
    settings = config.load(_toml(tmp_path, f'en16931_cii_rules = "{cen}"\npeppol_rules = "peppol"\n'))
    assert settings.en16931_cii_rules == cen.resolve()
    assert settings.peppol_rules == peppol.resolve()  # relative to the configuration file's folder


def test_a_rule_folder_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'peppol_rules': .*nowhere is not a folder"):
        config.load(_toml(tmp_path, 'peppol_rules = "nowhere"\n'))
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'en16931_cii_rules': .*a-file is not a folder"):
        config.load(_toml(tmp_path, 'en16931_cii_rules = "a-file"\n'))


def test_a_rule_folder_missing_a_file_is_a_config_error(tmp_path: Path) -> None:
    partial = tuple(f for f in config.RULE_FOLDERS["peppol_rules"] if "T110" not in f)
    _folder(tmp_path, "peppol", partial)
    with pytest.raises(ConfigError, match=r"key 'peppol_rules': .* does not hold PEPPOLBIS-T110\.xslt$"):
        config.load(_toml(tmp_path, 'peppol_rules = "peppol"\n'))
    _folder(tmp_path, "empty", ())
    with pytest.raises(ConfigError, match=r"does not hold EN16931-CII-validation\.xslt"):
        config.load(_toml(tmp_path, 'en16931_cii_rules = "empty"\n'))


@pytest.mark.parametrize(
    "value",
    ['""', '"   "', '"a\\u0000b"', '"a\\nb"', f'"{"x" * (config.MAX_PATH_BYTES + 1)}"', "1", "true", '["a"]'],
)
def test_a_rule_folder_that_is_not_a_path_is_a_config_error(tmp_path: Path, value: str) -> None:
    for key in config.RULE_FOLDERS:
        with pytest.raises(ConfigError, match=rf"key '{key}' must be a folder path"):
            config.load(_toml(tmp_path, f"{key} = {value}\n"))


@pytest.mark.shared
def test_a_rule_file_gone_after_loading_is_a_warning(tmp_path: Path) -> None:
    """The folder was checked when the configuration was read; a file removed since is reported
    (``RULE_WARNING``, the installation is at fault), the document is not rejected."""
    rec = recognise((shared_dir() / POACC / "Order_Example.xml").read_bytes())
    found = formats.rule_issues(rec, strict=True, peppol=tmp_path)
    assert [(i.code, i.severity) for i in found] == [("RULE_WARNING", "warning")]
    assert "[PEPPOL-T01] rule file not run" in found[0].message and str(tmp_path) in found[0].message
