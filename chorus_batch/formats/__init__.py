"""Document syntaxes behind one small interface: bytes in, recognised document out.

``recognise(data)`` decides what a file is from its content only (PDF wrapper, XML root,
namespace and type code — never the file name), ``schema_issues`` validates it against its
XSD, and ``to_order`` maps it to the domain. One module per syntax: ``ubl``, ``orderx``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lxml import etree

from ..domain.model import CancellationDocument, ChangeDocument, OrderDocument, ResponseDocument
from ..errors import DocumentRejected, Issue
from . import csv_ops, orderx, ubl, xml

Document = OrderDocument | ResponseDocument | ChangeDocument | CancellationDocument

CII_INVOICE = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"


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
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b")):
        raise DocumentRejected.one("DOCUMENT_NOT_SUPPORTED", "archives (zip, tar.gz) are not integrated by this version")
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
        return Recognised(kind, "ubl", schema, xml.text(root.find("cbc:ID", ubl.NS)), root, container)
    if root.tag == orderx.ROOT:
        code = orderx.type_code(root)
        if code not in orderx.TYPE_KINDS:
            raise DocumentRejected.one("UNKNOWN_DOCUMENT", f"Order-X document with type code {code!r} (expected 220, 230 or 231)")
        number = xml.text(root.find("rsm:ExchangedDocument/ram:ID", orderx.NS))
        return Recognised(orderx.TYPE_KINDS[code], "order-x", f"orderx-{orderx.profile(root)}", number, root, container)
    if root.tag == CII_INVOICE:
        return Recognised("invoice", "cii", None, None, root, container)
    raise DocumentRejected.one("UNKNOWN_DOCUMENT", f"unknown root element {tag.localname!r} in namespace {tag.namespace!r}")


def _from_pdf(data: bytes) -> Recognised:
    from facturx import get_xml_from_pdf  # imported lazily: PDFs are rare, pypdf is slow to import

    try:
        _name, xml_bytes = get_xml_from_pdf(data, check_xsd=False)
    except Exception:  # factur-x raises bare Exceptions on damaged PDFs
        raise DocumentRejected.one("UNKNOWN_DOCUMENT", "a PDF that could not be read") from None
    if not xml_bytes:
        raise DocumentRejected.one("UNKNOWN_DOCUMENT", "a PDF without an embedded Order-X or Factur-X XML")
    return _identify(xml.parse(xml_bytes), "pdf")


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
        return list(csv_ops.parse_responses(doc.data))
    root = doc.root
    assert root is not None
    readers = {
        ("ubl", "order"): ubl.parse_order,
        ("ubl", "order_response"): ubl.parse_response,
        ("ubl", "order_change"): ubl.parse_change,
        ("ubl", "order_cancellation"): ubl.parse_cancellation,
        ("order-x", "order"): orderx.parse_order,
        ("order-x", "order_response"): orderx.parse_response,
        ("order-x", "order_change"): orderx.parse_change,
    }
    reader = readers.get((doc.syntax, doc.kind))
    if reader is None:
        raise DocumentRejected.one(
            "DOCUMENT_NOT_SUPPORTED", f"{doc.syntax} {doc.kind.replace('_', ' ')} documents are not integrated by this version"
        )
    return [reader(root)]  # type: ignore[operator]


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
    answers and cancellations (SPEC §6 "dependency order"); unknown content last."""
    if b"OrderResponse-2" in head or b"<ram:TypeCode>231<" in head or csv_ops.header_kind(head):
        return 2
    if b"OrderChange-2" in head or b"<ram:TypeCode>230<" in head:
        return 1
    if b"OrderCancellation-2" in head:
        return 3
    if b"Order-2" in head or b"<ram:TypeCode>220<" in head:
        return 0
    return 4
