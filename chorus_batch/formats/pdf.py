"""PDF/A-3 invoices and orders (Factur-X, ZUGFeRD 2, XRechnung, Order-X): a container, not a syntax.

Owns: finding the one invoice or order XML a PDF embeds (``recognise``), which is then
recognised through the registry like a file of its own (``Recognised.container`` is ``"pdf"``).
pypdf is imported only when a PDF arrives.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from ..errors import DocumentRejected
from . import xml
from .registry import REGISTRY, Recognised

MAGIC = b"%PDF-"
# Attachment names under which PDF/A-3 invoices and orders carry their XML (Factur-X, ZUGFeRD 2,
# XRechnung, Order-X), compared case-insensitively.
XML_NAMES = frozenset({"factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml"})


def recognise(data: bytes) -> Recognised:
    """The one invoice or order XML embedded in the PDF/A-3 ``data``.

    Attachments named like Factur-X / ZUGFeRD / XRechnung / Order-X XML (``XML_NAMES``) are the
    candidates; without any, every ``.xml`` attachment that is a known document is. Two or more
    candidates are ambiguous: chorus-batch does not pick one.

    Raises:
        DocumentRejected: PDF_UNREADABLE, PDF_WITHOUT_XML, PDF_AMBIGUOUS_XML, or the embedded
        XML's own refusal.
    """
    attachments = _attachments(data)
    named = [(name, content) for name, content in attachments if name.strip().lower() in XML_NAMES]
    if len(named) > 1:
        raise _ambiguous(named)
    if named:
        return _embedded(*named[0])
    others = [(name, content) for name, content in attachments if name.strip().lower().endswith(".xml")]
    if not others:
        raise DocumentRejected.one(
            "PDF_WITHOUT_XML", "a PDF without an embedded invoice or order XML (Factur-X, Order-X)"
        )
    found, refused = [], []
    for name, content in others:
        try:
            found.append((name, _embedded(name, content)))
        except DocumentRejected as exc:
            refused.append(exc)
    if len(found) > 1:
        raise _ambiguous(found)
    if found:
        return found[0][1]
    raise refused[0]


def _attachments(data: bytes) -> list[tuple[str, bytes]]:
    """Every embedded file of the PDF as (name, content); a name given twice appears twice."""
    from pypdf import PdfReader  # imported lazily: PDFs are rare, pypdf is slow to import

    try:
        with _quiet_pdf_library():
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise DocumentRejected.one(
                    "PDF_UNREADABLE", "the PDF is encrypted (PDF/A-3 forbids it); it was not read"
                )
            found = reader.attachments.items()
            return [(str(name), bytes(content)) for name, contents in found for content in contents]
    except DocumentRejected:
        raise
    except Exception:
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


def _ambiguous(candidates: Sequence[tuple[str, object]]) -> DocumentRejected:
    names = ", ".join(_shown(name) for name, _ in candidates)
    return DocumentRejected.one(
        "PDF_AMBIGUOUS_XML", f"the PDF embeds {len(candidates)} invoice or order XML files ({names}); expected one"
    )


def _shown(name: str) -> str:
    """An attachment name fit for a report (never arbitrary bytes from the file)."""
    return name if _SAFE_NAME.fullmatch(name) else "an attachment with an unusual name"


def _embedded(name: str, content: bytes) -> Recognised:
    """Recognise one embedded XML; its errors say that they come from inside the PDF."""
    try:
        return REGISTRY.identify(xml.parse(content), "pdf")
    except DocumentRejected as exc:
        where = f"in the XML embedded in the PDF ({_shown(name)})"
        raise DocumentRejected([replace(issue, message=f"{where}: {issue.message}") for issue in exc.issues]) from None
