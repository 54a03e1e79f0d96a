"""The document syntaxes and order response writers chorus-batch knows, and the one place that
picks among them.

Owns: ``Recognised`` (a document whose syntax and kind are known), the interfaces of a syntax
(``Syntax``: an ``XmlSyntax`` is recognised from its XML root, a ``TextSyntax`` from its bytes)
and of a response writer (``ResponseWriter``; ``Writer`` makes one of its parts), and
``REGISTRY``: which syntax claims a document, which reads it, in what order a run takes
documents (``RANKS``), which writer answers an order. Each syntax module registers itself when
it is imported (``REGISTRY.register`` at its end), each writer module too
(``REGISTRY.register_writer``); ``formats/__init__`` imports them all.

Two syntaxes never both take a document:

* an XML document is claimed by its root tag, looked up in a dict (one lookup per document,
  however many syntaxes there are); ``register`` refuses a root tag that another syntax already
  claims, so a clash fails at import time, in every test run, never on a file in production;
* a document that is not XML is offered to every ``TextSyntax`` (the operator CSVs), each
  deciding from the bytes (``claim``); two claims refuse the document (DOCUMENT_AMBIGUOUS) rather
  than picking one.

The order of a run comes from the first bytes of each file (``sniff``): the ``TextSyntax`` claims,
then the ``markers`` of every syntax, merged into one list at registration and looked for in
``_SNIFF_ORDER``, stopping at the first found: no more work per file than one hand-written chain.
The markers of one syntax that share a long part (``_gate``: Order-X's three
``<ram:TypeCode>2..<``) are looked for only where that part is: one search instead of three in a
head without it, the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from lxml import etree

from ..domain.model import Document, OutgoingResponse, record
from ..errors import DocumentRejected

# The order a run takes documents in (SPEC §6 "dependency order"): orders, then changes, answers
# and cancellations, then invoices, then invoice statuses (which refer to invoices).
RANKS = {
    "order": 0,
    "order_change": 1,
    "order_response": 2,
    "order_cancellation": 2,  # with the answers: the earlier arrival wins (``BY_ARRIVAL``)
    "invoice": 4,
    "credit_note": 4,
    "invoice_status": 5,
}
UNKNOWN_RANK = 6  # content no syntax recognises goes last
# Ranks whose files go in order of arrival (modification time, then name) rather than by name:
# a supplier's answer and the buyer's cancellation of the same order are applied as they came.
BY_ARRIVAL = frozenset({RANKS["order_response"]})
# When first bytes show several kinds (a note quoting another document's name), the kind that
# comes first here wins: the order in which chorus-batch has always looked for them.
_SNIFF_ORDER = {
    kind: i
    for i, kind in enumerate(
        ("invoice_status", "order_response", "order_change", "order_cancellation", "order", "invoice", "credit_note")
    )
}


@record
class Recognised:
    """A parsed document whose kind is known. ``schema`` names its XSD in ``schemas.get``."""

    kind: str  # order, order_change, order_cancellation, order_response, invoice, credit_note, invoice_status
    syntax: str  # ubl, order-x, cii, cppstatut, csv
    schema: str | None
    number: str | None
    root: etree._Element | None  # None for a CSV
    container: str | None = None  # "pdf" when the XML came out of a PDF/A-3
    data: bytes = b""  # the raw bytes of a CSV


class Syntax(Protocol):
    """A document syntax. ``name`` is what its documents say they are (``Recognised.syntax``, and
    the ``syntax`` of the domain documents); several syntaxes may share it (UBL orders and UBL
    invoices are both ``ubl``)."""

    @property
    def name(self) -> str: ...

    @property
    def markers(self) -> tuple[tuple[bytes, str], ...]:
        """``(bytes, kind)``: a document of that kind shows those bytes in its first 4 KB (the
        root's namespace, a type code). They only order a run (``RANKS``), never recognise."""
        ...

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        """The domain documents of a schema-valid document this syntax recognised; a record that
        cannot be read is a ``DocumentRejected`` in its place.

        Raises:
            DocumentRejected: for the whole document (DOCUMENT_NOT_SUPPORTED for a kind it does
            not map, or a problem of the whole file).
        """
        ...


@runtime_checkable
class TextSyntax(Syntax, Protocol):
    """A syntax that is not XML, recognised from its bytes."""

    def claim(self, data: bytes) -> str | None:
        """The kind of document ``data`` is (its first 4 KB suffice), or ``None`` when it is not
        this syntax's. Exact: it is the recognition, and it orders a run too."""
        ...


@runtime_checkable
class XmlSyntax(Syntax, Protocol):
    """A syntax recognised from its XML root element."""

    @property
    def roots(self) -> tuple[str, ...]:
        """The root tags it claims, in Clark notation (``{namespace}Local``, ``Local`` without one)."""
        ...

    def schema(self, root: etree._Element) -> str | None:
        """The name of the XSD (``schemas.NAMES``) that ``root``'s document is validated against."""
        ...

    def identify(self, root: etree._Element) -> Recognised:
        """The document of ``root``, one of ``roots``.

        Raises:
            DocumentRejected: UNKNOWN_DOCUMENT or DOCUMENT_NOT_SUPPORTED for a document of this
            syntax that chorus-batch cannot take (an unknown type code, an unread branch).
        """
        ...


class ResponseWriter(Protocol):
    """Writes the order responses chorus-batch emits toward the issuer of an order of ``syntax``."""

    @property
    def syntax(self) -> str:
        """The syntax of the orders it answers (``Recognised.syntax``)."""
        ...

    @property
    def tag(self) -> str:
        """What the emitted file names say before ``.xml`` (``ubl``, ``orderx``)."""
        ...

    def write(self, response: OutgoingResponse) -> bytes:
        """The response document.

        Raises:
            ValueError: the response lacks data this syntax must carry.
        """
        ...


@dataclass(frozen=True)
class Writer:
    """A ``ResponseWriter`` made of its parts: what a writer module registers."""

    syntax: str
    tag: str
    write: Callable[[OutgoingResponse], bytes]


class Registry:
    """The registered syntaxes and writers (see the module docstring for how it picks)."""

    def __init__(self) -> None:
        self._by_root: dict[str, XmlSyntax] = {}
        self._by_text: dict[str, TextSyntax] = {}  # by name
        self._syntaxes: list[Syntax] = []
        self._markers: list[tuple[int, bytes, str, bytes]] = []  # (_SNIFF_ORDER, marker, kind, gate), sorted
        self._writers: dict[str, ResponseWriter] = {}

    @property
    def syntaxes(self) -> tuple[Syntax, ...]:
        return tuple(self._syntaxes)

    def register(self, syntax: Syntax) -> None:
        """Add ``syntax``.

        Raises:
            ValueError: another syntax already claims one of its root tags (or, for a
            ``TextSyntax``, has its name); nothing is registered then.
            TypeError: it is neither an ``XmlSyntax`` nor a ``TextSyntax``.
        """
        if isinstance(syntax, XmlSyntax):
            taken = [f"{root} ({self._by_root[root].name})" for root in syntax.roots if root in self._by_root]
            if taken:
                raise ValueError(f"{syntax.name} claims root tags another syntax claims: {', '.join(taken)}")
            self._by_root.update(dict.fromkeys(syntax.roots, syntax))
        elif isinstance(syntax, TextSyntax):
            if syntax.name in self._by_text:
                raise ValueError(f"a text syntax named {syntax.name!r} is already registered")
            self._by_text[syntax.name] = syntax
        else:
            raise TypeError(f"{syntax!r} is neither an XmlSyntax nor a TextSyntax")
        self._syntaxes.append(syntax)
        gate = _gate([marker for marker, _kind in syntax.markers])
        self._markers += [(_sniff_order(kind), marker, kind, gate) for marker, kind in syntax.markers]
        self._markers.sort(key=lambda found: found[0])  # stable: registration order within a kind

    def register_writer(self, writer: ResponseWriter) -> None:
        """Add ``writer``.

        Raises:
            ValueError: the orders of its syntax already have a writer.
        """
        if writer.syntax in self._writers:
            raise ValueError(f"{writer.syntax} orders already have a response writer")
        self._writers[writer.syntax] = writer

    def identify(self, root: etree._Element, container: str | None = None) -> Recognised:
        """The document of the parsed XML ``root``, by the syntax that claims its root tag.

        Raises:
            DocumentRejected: UNKNOWN_DOCUMENT when no syntax claims it, or the syntax's own refusal.
        """
        syntax = self._by_root.get(root.tag)
        if syntax is None:
            tag = etree.QName(root)
            raise DocumentRejected.one(
                "UNKNOWN_DOCUMENT", f"unknown root element {tag.localname!r} in namespace {tag.namespace!r}"
            )
        found = syntax.identify(root)
        return replace(found, container=container) if container else found

    def claim(self, data: bytes) -> Recognised | None:
        """The document ``data``, which is not XML, as the one syntax that claims it sees it;
        ``None`` when no syntax does.

        Raises:
            DocumentRejected: DOCUMENT_AMBIGUOUS when two syntaxes claim it.
        """
        claims = [(syntax, kind) for syntax in self._by_text.values() if (kind := syntax.claim(data)) is not None]
        if len(claims) > 1:
            which = " and ".join(f"{syntax.name} {kind.replace('_', ' ')}" for syntax, kind in claims)
            raise DocumentRejected.one("DOCUMENT_AMBIGUOUS", f"the document reads as {which}; none is picked")
        if not claims:
            return None
        syntax, kind = claims[0]
        return Recognised(kind, syntax.name, None, None, None, data=data)

    def syntax_of(self, doc: Recognised) -> Syntax:
        """The syntax that recognised ``doc`` (by its root tag, or its name when it is not XML).

        Raises:
            DocumentRejected: DOCUMENT_NOT_SUPPORTED when none did.
        """
        found: Syntax | None = self._by_text.get(doc.syntax) if doc.root is None else self._by_root.get(doc.root.tag)
        if found is None:
            raise not_supported(doc)
        return found

    def sniff(self, head: bytes, xml: bool = False) -> str | None:
        """The kind of document the first bytes ``head`` show (the one first in ``_SNIFF_ORDER``
        when they show several), or ``None``. ``xml``: the head is read as XML (as ``recognise``
        reads it), which no syntax of text claims."""
        found: str | None = None
        rank = len(_SNIFF_ORDER)
        for syntax in () if xml else self._by_text.values():
            kind = syntax.claim(head)
            if kind is not None and _sniff_order(kind) < rank:
                found, rank = kind, _sniff_order(kind)
        gates: dict[bytes, bool] = {}  # each gate looked for once
        for order, marker, kind, gate in self._markers:
            if order >= rank:
                break
            if gate:
                shown = gates.get(gate)
                if shown is None:
                    shown = gates[gate] = gate in head
                if not shown:
                    continue
            if marker in head:
                return kind
        return found

    def writer(self, syntax: str) -> ResponseWriter:
        """The writer answering orders of ``syntax``.

        Raises:
            KeyError: no writer answers orders of that syntax.
        """
        return self._writers[syntax]


def _sniff_order(kind: str) -> int:
    return _SNIFF_ORDER.get(kind, len(_SNIFF_ORDER))


GATE_BYTES = 8  # a shorter common part would be in most heads: no search saved


def _gate(markers: list[bytes]) -> bytes:
    """The longest part every one of ``markers`` holds, if they are several and it is at least
    ``GATE_BYTES`` long: a head without it shows none of them. ``b""`` (no gate) otherwise."""
    if len(markers) < 2:
        return b""
    shortest = min(markers, key=len)
    for size in range(len(shortest), GATE_BYTES - 1, -1):
        for start in range(len(shortest) - size + 1):
            part = shortest[start : start + size]
            if all(part in marker for marker in markers):
                return part
    return b""


REGISTRY = Registry()


# -- what the syntax modules share


def not_supported(doc: Recognised) -> DocumentRejected:
    return DocumentRejected.one(
        "DOCUMENT_NOT_SUPPORTED",
        f"{doc.syntax} {doc.kind.replace('_', ' ')} documents are not integrated by this version",
    )


def read_root(
    readers: Mapping[str, Callable[[etree._Element], Document]], doc: Recognised
) -> list[Document | DocumentRejected]:
    """The one domain document of an XML ``doc``, mapped by the reader of its kind.

    Raises:
        DocumentRejected: DOCUMENT_NOT_SUPPORTED for a kind without a reader.
    """
    reader = readers.get(doc.kind)
    if reader is None or doc.root is None:
        raise not_supported(doc)
    return [reader(doc.root)]
