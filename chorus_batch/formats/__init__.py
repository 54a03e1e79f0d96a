"""Document syntaxes behind one small interface: bytes in, recognised document out, domain
documents from it.

``recognise(data)`` decides what a file is from its content only (never the file name): a PDF/A-3
is opened (``pdf``) and its one embedded XML recognised like a file of its own; an XML document is
claimed by its root tag, any other by its bytes, through the registry (``registry``), which
refuses a document two syntaxes would claim. ``schema_issues`` validates it against its XSD
(which ``prefetch_schema`` may have compiled ahead, in the background), ``rule_issues`` applies
the official business rules, ``documents`` maps it to the domain with the syntax that recognised
it, ``locate`` adds line numbers to findings, ``sniff_rank`` orders a run from the first bytes of
its files, and ``response_writer`` answers orders of a syntax.

One module per syntax, each registering itself: ``ubl`` (orders), ``ubl_invoice``, ``orderx``,
``cii``, ``cppstatut``, ``csv_ops``; one per response writer under ``responses/``. Containers are
apart: ``pdf`` and ``bundles``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lxml import etree

from ..domain.model import Document
from ..errors import DocumentRejected, Issue
from . import cii, cppstatut, csv_ops, orderx, pdf, responses, schemas, ubl, ubl_invoice, xml  # noqa: F401 -- each registers itself
from .registry import BY_ARRIVAL, RANKS, REGISTRY, UNKNOWN_RANK, Recognised, ResponseWriter

__all__ = [
    "BY_ARRIVAL",
    "Recognised",
    "documents",
    "locate",
    "looks_like_xml",
    "prefetch_schema",
    "reading_notes",
    "recognise",
    "response_writer",
    "rule_issues",
    "schema_issues",
    "sniff_rank",
]


def recognise(data: bytes) -> Recognised:
    """Identify ``data`` by content.

    Raises:
        DocumentRejected: FILE_EMPTY, UNKNOWN_DOCUMENT, DOCUMENT_AMBIGUOUS, DOCUMENT_NOT_SUPPORTED,
        ARCHIVE_NESTED, a PDF code or an XML parse code.
    """
    if not data.strip():
        raise DocumentRejected.one("FILE_EMPTY", "the file is empty")
    if data.startswith(pdf.MAGIC):
        return pdf.recognise(data)
    if data.startswith((b"PK\x03\x04", b"\x1f\x8b")):  # an archive where a document is expected (nested too deep)
        raise DocumentRejected.one("ARCHIVE_NESTED", "an archive inside an archive is not opened")
    if not looks_like_xml(data):
        found = REGISTRY.claim(data)
        if found is None:
            raise DocumentRejected.one(
                "UNKNOWN_DOCUMENT", "the content is not XML, PDF, an operator CSV or a known document"
            )
        return found
    return REGISTRY.identify(xml.parse(data))


def looks_like_xml(data: bytes) -> bool:
    """Whether ``data`` is to be parsed as XML: its first character, past blanks and a byte-order
    mark (UTF-8 or UTF-16), is ``<``. A mark alone says nothing: spreadsheets write one before a CSV."""
    if data[:1] == b"<":  # most files: no mark, no blank before it (what follows would say the same)
        return True
    for bom, codec in _BOMS:
        if data.startswith(bom):
            head = data[len(bom) : len(bom) + 512]
            return head.decode(codec, errors="ignore").lstrip().startswith("<")
    start = data.lstrip()[:4]
    return start.startswith((b"<", b"\x00<", b"<\x00"))


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def reading_notes(doc: Recognised) -> list[Issue]:
    """Warnings about how the file was read, for its integration report: an operator CSV read as
    Windows-1252 (CSV_ENCODING_GUESSED)."""
    return csv_ops.notes(doc.data) if doc.root is None and doc.syntax == csv_ops.OperatorCsv.name else []


def prefetch_schema(doc: Recognised) -> None:
    """Start compiling the XSD of ``doc`` in the background (``schemas.prefetch``), so that
    ``schema_issues`` finds it ready."""
    if doc.schema is not None:
        schemas.prefetch(doc.schema)


def schema_issues(doc: Recognised) -> list[Issue]:
    """XSD violations of ``doc`` (empty when valid)."""
    if doc.schema is None or doc.root is None:
        return []
    return xml.validate(doc.root, doc.schema)


def documents(doc: Recognised) -> list[Document | DocumentRejected]:
    """The domain documents of a schema-valid file: one for XML, one per record for a CSV or a
    CPPStatut flow (a record that cannot be read is a ``DocumentRejected`` in its place).

    Raises:
        DocumentRejected: DOCUMENT_NOT_SUPPORTED for kinds this version does not integrate, or a
        problem of the whole file.
    """
    return REGISTRY.syntax_of(doc).read(doc)


def rule_issues(
    doc: Recognised, strict: bool, *, en16931_cii: Path | None = None, peppol: Path | None = None
) -> list[Issue]:
    """The official business rules (EN 16931, BR-FR, Factur-X, Order-X, Peppol Schematron) that
    apply to ``doc``: warnings, except fatal findings when ``strict`` (``strict_rules = true``),
    which reject. ``en16931_cii`` and ``peppol`` are the folders of the rule files chorus-batch
    does not ship (settings ``en16931_cii_rules``, ``peppol_rules``; ``None``: not configured)."""
    from . import schematron  # Saxon starts only for documents that have rules

    names, notes = schematron.plan(doc, schematron.Folders(en16931_cii, peppol))
    found = notes + (schematron.check(b"", names, root=doc.root) if names else [])
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
            # a location path gives a list; another expression (a number, a boolean) locates nothing
            if isinstance(found, list) and found and isinstance(found[0], etree._Element):
                line = xml.sourceline(found[0])
                if line:
                    issue = replace(issue, line=line)
        located.append(issue)
    return located


def sniff_rank(head: bytes) -> int:
    """Processing order within a run, from the first bytes only: orders, then changes, then
    answers and cancellations together (2, in order of arrival: ``BY_ARRIVAL``; SPEC §6
    "dependency order"), then invoices (4), then invoice statuses (5, which refer to invoices);
    unknown content last (6). ``registry.RANKS`` holds the order; every registered syntax
    looks at ``head`` (``Syntax.markers``; ``TextSyntax.claim`` unless ``head`` is XML to
    ``recognise``)."""
    kind = REGISTRY.sniff(head, xml=looks_like_xml(head))
    if kind is None and head.startswith(pdf.MAGIC):
        # A PDF's attachment is rarely in its first bytes: it ranks with the invoices (Factur-X
        # is the usual PDF), still after orders and before invoice statuses.
        kind = "invoice"
    return UNKNOWN_RANK if kind is None else RANKS.get(kind, UNKNOWN_RANK)


def response_writer(syntax: str) -> ResponseWriter:
    """The writer of the order responses to orders of ``syntax`` (``Recognised.syntax``).

    Raises:
        KeyError: no writer answers orders of that syntax.
    """
    return REGISTRY.writer(syntax)
