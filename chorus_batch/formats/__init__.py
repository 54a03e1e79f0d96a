"""Document syntaxes behind one small interface: bytes in, recognised document out.

``recognise(data)`` decides what a file is from its content only (PDF wrapper, XML root,
namespace and type code — never the file name), ``schema_issues`` validates it against its
XSD, and ``documents`` maps it to the domain. One module per syntax: ``ubl`` (orders),
``ubl_invoice``, ``orderx``, ``cii`` (invoices). PDFs (Factur-X, Order-X) are opened here: their
one embedded invoice or order XML is recognised like a file of its own.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from lxml import etree

from ..domain.model import Document
from ..errors import DocumentRejected, Issue
from . import cii, common, cppstatut, csv_ops, orderx, ubl, ubl_invoice, xml


CII_INVOICE = cii.ROOT
# Attachment names under which PDF/A-3 invoices and orders carry their XML (Factur-X, ZUGFeRD 2,
# XRechnung, Order-X), compared case-insensitively.
PDF_XML_NAMES = frozenset({"factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml"})


@dataclass(frozen=True)
class Recognised:
    """A parsed document whose kind is known. ``schema`` names its XSD in ``schemas.get``."""

    kind: str  # order, order_change, order_cancellation, order_response, invoice, credit_note
    syntax: str  # ubl, order-x, cii
    schema: str | None
    number: str | None
    root: etree._Element | None  # None for a CSV
    container: str | None = None  # "pdf" when the XML came out of a PDF/A-3
    data: bytes = b""  # the raw bytes of a CSV


def recognise(data: bytes) -> Recognised:
    """Identify ``data`` by content.

    Raises:
        DocumentRejected: FILE_EMPTY, UNKNOWN_DOCUMENT, DOCUMENT_NOT_SUPPORTED or an XML parse code.
    """
    if not data.strip():
        raise DocumentRejected.one("FILE_EMPTY", "the file is empty")
    head = data[:8]
    if head.startswith(b"%PDF-"):
        return _from_pdf(data)
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b")):  # an archive where a document is expected (nested too deep)
        raise DocumentRejected.one("ARCHIVE_NESTED", "an archive inside an archive is not opened")
    if not looks_like_xml(data):
        kind = csv_ops.header_kind(data)
        if kind is not None:
            return Recognised(kind, "csv", None, None, None, data=data)
        raise DocumentRejected.one("UNKNOWN_DOCUMENT", "the content is not XML, PDF, an operator CSV or a known document")
    root = xml.parse(data)
    return _identify(root)


def looks_like_xml(data: bytes) -> bool:
    start = data.lstrip()[:4]
    if start.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"<")):
        return True
    return start.startswith(b"\x00<") or start.startswith(b"<\x00")


def _identify(root: etree._Element, container: str | None = None) -> Recognised:
    tag = etree.QName(root)
    if tag.namespace in ubl.NAMESPACES and tag.localname in ubl.ROOTS:
        kind, schema = ubl.ROOTS[tag.localname]
        if kind == "invoice" and common.credit_type(xml.text(root.find("cbc:InvoiceTypeCode", ubl.NS))):
            kind = "credit_note"  # best guess from the type code; documents() also reads the totals' sign
        return Recognised(kind, "ubl", schema, xml.text(root.find("cbc:ID", ubl.NS)), root, container)
    if root.tag == orderx.ROOT:
        code = orderx.type_code(root)
        if code not in orderx.TYPE_KINDS:
            raise DocumentRejected.one("UNKNOWN_DOCUMENT", f"Order-X document with type code {code!r} (expected 220, 230 or 231)")
        number = xml.text(root.find("rsm:ExchangedDocument/ram:ID", orderx.NS))
        return Recognised(orderx.TYPE_KINDS[code], "order-x", f"orderx-{orderx.profile(root)}", number, root, container)
    if root.tag == CII_INVOICE:
        kind = "credit_note" if common.credit_type(cii.type_code(root)) else "invoice"
        number = xml.text(root.find("rsm:ExchangedDocument/ram:ID", cii.NS))
        return Recognised(kind, "cii", cii.schema_for(root), number, root, container)
    if cppstatut.matches(root):
        cppstatut.check_supported(root)  # the flow-status branch is not integrated
        return Recognised("invoice_status", "cppstatut", cppstatut.SCHEMA, cppstatut.flow_id(root), root, container)
    raise DocumentRejected.one("UNKNOWN_DOCUMENT", f"unknown root element {tag.localname!r} in namespace {tag.namespace!r}")


def _from_pdf(data: bytes) -> Recognised:
    """The one invoice or order XML embedded in a PDF/A-3.

    Attachments named like Factur-X / ZUGFeRD / XRechnung / Order-X XML (``PDF_XML_NAMES``) are the
    candidates; without any, every ``.xml`` attachment that is a known document is. Two or more
    candidates are ambiguous: chorus-batch does not pick one.
    """
    attachments = _pdf_attachments(data)
    named = [(name, content) for name, content in attachments if name.strip().lower() in PDF_XML_NAMES]
    if len(named) > 1:
        raise DocumentRejected.one(
            "PDF_AMBIGUOUS_XML", f"the PDF embeds {len(named)} invoice or order XML files ({_names(named)}); expected one"
        )
    if named:
        return _embedded(*named[0])
    others = [(name, content) for name, content in attachments if name.strip().lower().endswith(".xml")]
    if not others:
        raise DocumentRejected.one("PDF_WITHOUT_XML", "a PDF without an embedded invoice or order XML (Factur-X, Order-X)")
    found, refused = [], []
    for name, content in others:
        try:
            found.append((name, _embedded(name, content)))
        except DocumentRejected as exc:
            refused.append(exc)
    if len(found) > 1:
        raise DocumentRejected.one(
            "PDF_AMBIGUOUS_XML", f"the PDF embeds {len(found)} invoice or order XML files ({_names(found)}); expected one"
        )
    if found:
        return found[0][1]
    raise refused[0]


def _pdf_attachments(data: bytes) -> list[tuple[str, bytes]]:
    """Every embedded file of the PDF as (name, content); a name given twice appears twice."""
    from pypdf import PdfReader  # imported lazily: PDFs are rare, pypdf is slow to import

    try:
        with _quiet_pdf_library():
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise DocumentRejected.one("PDF_UNREADABLE", "the PDF is encrypted (PDF/A-3 forbids it); it was not read")
            return [(str(name), bytes(content)) for name, contents in reader.attachments.items() for content in contents]
    except DocumentRejected:
        raise
    except Exception:  # noqa: BLE001 - pypdf raises many kinds of errors on damaged input
        raise DocumentRejected.one("PDF_UNREADABLE", "the PDF is damaged or truncated and could not be read") from None


@contextmanager
def _quiet_pdf_library() -> Iterator[None]:
    """pypdf logs and warns about every repair it attempts on a damaged PDF; the integration
    report already says what matters (PDF_UNREADABLE), so keep its chatter off the console."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


_SAFE_NAME = re.compile(r"[\w .+()-]{1,80}")


def _names(items: list[tuple[str, object]]) -> str:
    return ", ".join(_shown(name) for name, _ in items)


def _shown(name: str) -> str:
    """An attachment name fit for a report (never arbitrary bytes from the file)."""
    return name if _SAFE_NAME.fullmatch(name) else "an attachment with an unusual name"


def _embedded(name: str, content: bytes) -> Recognised:
    """Recognise one embedded XML; its parse errors say that they come from inside the PDF."""
    try:
        return _identify(xml.parse(content), "pdf")
    except DocumentRejected as exc:
        where = f"in the XML embedded in the PDF ({_shown(name)})"
        raise DocumentRejected([replace(issue, message=f"{where}: {issue.message}") for issue in exc.issues]) from None


def schema_issues(doc: Recognised) -> list[Issue]:
    """XSD violations of ``doc`` (empty when valid)."""
    if doc.schema is None or doc.root is None:
        return []
    return xml.validate(doc.root, doc.schema)


def documents(doc: Recognised) -> list[Document | DocumentRejected]:
    """The domain documents of a schema-valid file: one for XML, one per row for a CSV
    (a row that cannot be read is a ``DocumentRejected`` in its place).

    Raises:
        DocumentRejected: DOCUMENT_NOT_SUPPORTED for kinds this version does not integrate.
    """
    if doc.syntax == "csv":
        reader = csv_ops.parse_statuses if doc.kind == "invoice_status" else csv_ops.parse_responses
        return list(reader(doc.data))
    root = doc.root
    assert root is not None
    if doc.syntax == "cppstatut":
        return list(cppstatut.parse(root))
    readers = {
        ("ubl", "order"): ubl.parse_order,
        ("ubl", "order_response"): ubl.parse_response,
        ("ubl", "order_change"): ubl.parse_change,
        ("ubl", "order_cancellation"): ubl.parse_cancellation,
        ("order-x", "order"): orderx.parse_order,
        ("order-x", "order_response"): orderx.parse_response,
        ("order-x", "order_change"): orderx.parse_change,
        ("ubl", "invoice"): ubl_invoice.parse_invoice,
        ("ubl", "credit_note"): ubl_invoice.parse_invoice,
        ("cii", "invoice"): cii.parse_invoice,
        ("cii", "credit_note"): cii.parse_invoice,
    }
    reader = readers.get((doc.syntax, doc.kind))
    if reader is None:
        raise DocumentRejected.one(
            "DOCUMENT_NOT_SUPPORTED", f"{doc.syntax} {doc.kind.replace('_', ' ')} documents are not integrated by this version"
        )
    return [reader(root)]  # type: ignore[operator]


def rule_issues(doc: Recognised, strict: bool) -> list[Issue]:
    """The official business rules (EN 16931, BR-FR, Order-X Schematron) that apply to ``doc``:
    warnings, except fatal findings when ``strict`` (``strict_rules = true``), which reject."""
    from . import schematron  # Saxon starts only for documents that have rules

    names = schematron.for_document(doc)
    if not names:
        return []
    found = schematron.check(b"", names, root=doc.root)
    return [replace(i, severity="error") if strict and i.code == "RULE_FATAL" else i for i in found]


def locate(doc: Recognised, issues: list[Issue]) -> list[Issue]:
    """Fill in the line number of issues that name an XPath but no line (rule findings)."""
    if doc.root is None:
        return issues
    tree = doc.root.getroottree()
    nsmap = {k: v for k, v in (doc.root.nsmap or {}).items() if k}
    located = []
    for issue in issues:
        if issue.line is None and issue.xpath:
            try:
                found = tree.xpath(issue.xpath, namespaces=nsmap)
            except etree.XPathError:
                found = []
            if found and isinstance(found[0], etree._Element) and found[0].sourceline:
                issue = replace(issue, line=found[0].sourceline)
        located.append(issue)
    return located


def sniff_rank(head: bytes) -> int:
    """Processing order within a run, from the first bytes only: orders, then changes,
    answers and cancellations (SPEC §6 "dependency order"), then invoices (4), then invoice
    statuses (5, which refer to invoices); unknown content last (6)."""
    csv_kind = csv_ops.header_kind(head)
    if csv_kind == "invoice_status" or b"<CPPStatut" in head:
        return 5
    if b"OrderResponse-2" in head or b"<ram:TypeCode>231<" in head or csv_kind:
        return 2
    if b"OrderChange-2" in head or b"<ram:TypeCode>230<" in head:
        return 1
    if b"OrderCancellation-2" in head:
        return 3
    if b"Order-2" in head or b"<ram:TypeCode>220<" in head:
        return 0
    # Invoices and credit notes. A PDF's attachment is rarely in its first bytes: it ranks with
    # the invoices (Factur-X is the usual PDF), still after orders and before invoice statuses.
    if b"Invoice-2" in head or b"CreditNote-2" in head or b"CrossIndustryInvoice" in head or head.startswith(b"%PDF-"):
        return 4
    return 6
