"""The registry of document syntaxes (``formats.registry``): one syntax per document, never two.

* every root tag is claimed by one syntax, and registering a second syntax for a root tag that is
  taken (here UBL Order) is refused, leaving the registry as it was;
* content that is not XML and that two syntaxes claim is rejected with DOCUMENT_AMBIGUOUS by
  ``formats.recognise``;
* ``formats.sniff_rank`` gives the processing order from the first bytes, the first kind found
  winning when a head shows several;
* the order response writer is looked up by the order's syntax, one writer per syntax.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from chorus_batch import formats
from chorus_batch.domain.model import Document, OrderDocument
from chorus_batch.errors import CODES, DocumentRejected
from chorus_batch.formats import csv_ops, registry
from chorus_batch.formats.registry import REGISTRY, Recognised, Registry, Writer

UBL_ORDER = "{urn:oasis:names:specification:ubl:schema:xsd:Order-2}Order"
ORDER = b"""<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>EJ-1</cbc:ID></Order>"""
ANSWERS_CSV = b"engagement_number;action;reason\nEJ-1;accept;\n"


class OtherOrders:
    """A second syntax claiming UBL orders."""

    name = "other"
    markers = ()
    roots = (UBL_ORDER,)

    def schema(self, root: etree._Element) -> str | None:
        return None

    def identify(self, root: etree._Element) -> Recognised:
        return Recognised("order", self.name, None, None, root)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        return []


class OtherCsv:
    """A second syntax that is not XML, claiming the operator CSV of answers."""

    name = "other-csv"
    markers = ()

    def claim(self, data: bytes) -> str | None:
        return "order_response" if data.startswith(b"engagement_number") else None

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        return []


def _copy() -> Registry:
    copy = Registry()
    for syntax in REGISTRY.syntaxes:
        copy.register(syntax)
    return copy


def test_every_root_has_one_syntax() -> None:
    roots = [root for syntax in REGISTRY.syntaxes if isinstance(syntax, registry.XmlSyntax) for root in syntax.roots]
    assert len(roots) == len(set(roots))
    assert {syntax.name for syntax in REGISTRY.syntaxes} == {"ubl", "order-x", "cii", "cppstatut", "csv"}
    assert "DOCUMENT_AMBIGUOUS" in CODES


def test_a_second_syntax_for_ubl_orders_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match=r"Order-2\}Order \(ubl\)"):
        REGISTRY.register(OtherOrders())
    assert OtherOrders not in {type(syntax) for syntax in REGISTRY.syntaxes}
    rec = formats.recognise(ORDER)
    assert (rec.syntax, rec.kind, rec.number) == ("ubl", "order", "EJ-1")


def test_content_two_syntaxes_claim_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    assert formats.recognise(ANSWERS_CSV).syntax == "csv"
    ambiguous = _copy()
    ambiguous.register(OtherCsv())
    monkeypatch.setattr(formats, "REGISTRY", ambiguous)
    with pytest.raises(DocumentRejected) as caught:
        formats.recognise(ANSWERS_CSV)
    assert caught.value.code == "DOCUMENT_AMBIGUOUS"
    assert "csv order response and other-csv order response" in caught.value.issues[0].message
    assert formats.recognise(b"invoice_number;status\nF-1;01\n").kind == "invoice_status"  # one claim: read


def test_documents_go_to_the_syntax_that_recognised_them() -> None:
    (doc,) = formats.documents(formats.recognise(ORDER))
    assert isinstance(doc, OrderDocument) and doc.syntax == "ubl" and doc.number == "EJ-1"
    with pytest.raises(DocumentRejected) as caught:
        formats.documents(Recognised("order", "nothing", None, None, None))
    assert caught.value.code == "DOCUMENT_NOT_SUPPORTED"


@pytest.mark.parametrize(
    ("head", "rank"),
    [
        (ORDER, 0),
        (b"<OrderChange xmlns='urn:oasis:names:specification:ubl:schema:xsd:OrderChange-2'>", 1),
        (b"<OrderResponse xmlns='urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2'>", 2),
        (b"<OrderCancellation xmlns='urn:oasis:names:specification:ubl:schema:xsd:OrderCancellation-2'>", 2),
        (b"<rsm:x><ram:TypeCode>220</ram:TypeCode>", 0),
        (b"<rsm:x><ram:TypeCode>230</ram:TypeCode>", 1),
        (b"<rsm:x><ram:TypeCode>231</ram:TypeCode>", 2),
        (b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'>", 4),
        (b"<CreditNote xmlns='urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2'>", 4),
        (b"<rsm:CrossIndustryInvoice>", 4),
        (b"%PDF-1.7 binary", 4),
        (b"%PDF-1.7 <ram:TypeCode>220</ram:TypeCode>", 0),  # an Order-X PDF whose XML shows early
        (b"<CPPStatut><Enveloppe/>", 5),
        (ANSWERS_CSV, 2),
        (b"invoice_number,status\n", 5),
        (ORDER + b"<!-- see the <CPPStatut flow -->", 5),  # several kinds: the first looked for wins
        (b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'>Order-2", 0),
        (b"OrderResponse-2 <ram:TypeCode>230<", 2),
        (b"hello", 6),
        (b"", 6),
    ],
)
def test_sniff_rank(head: bytes, rank: int) -> None:
    assert formats.sniff_rank(head) == rank


def test_sniff_rank_asks_no_text_syntax_about_xml(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``recognise`` parses as XML ranks by its markers alone: a header row of an operator
    CSV inside it changes nothing (and the CSV's look at every file a run sorts is saved)."""
    head = ORDER + b"\ninvoice_number;status\n"
    assert formats.sniff_rank(head) == 0
    assert formats.sniff_rank(b"\xef\xbb\xbf  " + head) == 0
    assert formats.sniff_rank(b"invoice_number;status\n<Order-2>") == 5
    monkeypatch.setattr(csv_ops, "header_kind", lambda _data: pytest.fail("a CSV looked at XML"))
    assert formats.sniff_rank(head) == 0


def test_response_writers_by_the_order_syntax() -> None:
    assert (formats.response_writer("ubl").tag, formats.response_writer("order-x").tag) == ("ubl", "orderx")
    with pytest.raises(KeyError):
        formats.response_writer("cii")
    with pytest.raises(ValueError, match="ubl orders already have a response writer"):
        REGISTRY.register_writer(Writer(syntax="ubl", tag="other", write=lambda response: b""))
    assert formats.response_writer("ubl").tag == "ubl"


def _chain(head: bytes) -> str | None:
    """The markers looked for one after the other, as before gates: the answer the gates keep."""
    return next((kind for _order, marker, kind, _gate in REGISTRY._markers if marker in head), None)


class _Counted(bytes):
    """A head that counts the searches made in it."""

    searches = 0

    def __contains__(self, part: object) -> bool:
        type(self).searches += 1
        assert isinstance(part, bytes)
        return bytes.__contains__(self, part)


def test_markers_sharing_a_long_part_are_looked_for_behind_it() -> None:
    """Order-X's three type codes share ``<ram:TypeCode>2``: a head without it is searched once
    for them, not three times; a part shorter than ``GATE_BYTES`` (the UBL family's ``Order``)
    or a syntax with one marker gives no gate."""
    assert registry._gate([b"<ram:TypeCode>231<", b"<ram:TypeCode>230<", b"<ram:TypeCode>220<"]) == b"<ram:TypeCode>2"
    assert registry._gate([b"OrderResponse-2", b"OrderChange-2", b"Order-2"]) == b""
    assert registry._gate([b"CrossIndustryInvoice"]) == b""
    before = list(itertools.takewhile(lambda m: m[1] != b"Order-2", REGISTRY._markers))
    plain = [m for m in before if not m[3]]
    assert len(before) - len(plain) == 3  # Order-X's three, behind one gate
    _Counted.searches = 0
    assert REGISTRY.sniff(_Counted(ORDER), xml=True) == "order"
    assert _Counted.searches == len(plain) + 2  # those, the gate once, then Order-2 found


PARTS = sorted({m[1] for m in REGISTRY._markers} | {m[3] for m in REGISTRY._markers if m[3]} | {b"<ram:TypeCode>3"})


@given(st.lists(st.one_of(st.sampled_from(PARTS), st.binary(max_size=8)), max_size=6))
def test_gates_never_change_what_a_head_shows(parts: list[bytes]) -> None:
    head = b"".join(parts)
    assert REGISTRY.sniff(head, xml=True) == _chain(head)
