"""Property tests of the document pipeline and of the store's money column.

The pipeline (``formats.recognise`` -> ``formats.schema_issues`` -> ``formats.to_order`` ->
``rules.check_order``) is fed arbitrary bytes and mutated valid documents (byte flips,
truncation, insertion, deletion, digit edits at random positions of generated UBL and Order-X
orders, and of real samples when ../shared is present). Only ``DocumentRejected`` (or success)
may come out — never another exception — and every issue code is registered in ``CODES``.

A document's stored JSON (``codec.order_json``) is the plain encoding of the document, whatever its
parties hold.

``Micros`` keeps money as integer millionths: any Decimal with at most 6 decimals survives
bind -> result unchanged; a 7th significant decimal is refused.
"""

from __future__ import annotations

import itertools
import json
import random
from contextlib import nullcontext
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from _budget import examples
from _shared import shared_dir, shared_location
from chorus_batch import formats
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, orderx_order, random_lines, ubl_order
from chorus_batch.domain import rules
from chorus_batch.domain.model import Address, Attachment, OrderDocument, Party, PartyId
from chorus_batch.errors import CODES, DocumentRejected, Issue
from chorus_batch.formats import xml
from chorus_batch.store import codec
from chorus_batch.store.schema import Micros

TODAY = date(2026, 6, 1)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _domain_documents(rec: formats.Recognised) -> list[Any]:
    """``formats.to_order`` (one order), or ``formats.documents`` where the product has grown it
    (one document per XML file, one per CSV row, a ``DocumentRejected`` in place of a bad row)."""
    if hasattr(formats, "documents"):
        return list(formats.documents(rec))
    return [formats.to_order(rec)]  # type: ignore[attr-defined]


def _check(doc: Any) -> list[Issue]:
    if isinstance(doc, DocumentRejected):
        return list(doc.issues)
    if isinstance(doc, OrderDocument):
        return rules.check_order(doc, TODAY)
    return rules.check(doc, TODAY) if hasattr(rules, "check") else []


def pipeline(data: bytes) -> list[str]:
    """Run the intake pipeline like ``ingest`` does; return the issue codes (empty = acceptable)."""
    try:
        rec = formats.recognise(data)
        issues = formats.schema_issues(rec)
        if not issues:
            issues = [issue for doc in _domain_documents(rec) for issue in _check(doc)]
    except DocumentRejected as exc:
        issues = exc.issues
        assert issues, "DocumentRejected without issues"
        assert exc.code == issues[0].code
    codes = [i.code for i in issues]
    unknown = set(codes) - set(CODES)
    assert not unknown, f"unregistered codes {unknown}"
    for issue in issues:
        assert issue.severity in ("error", "warning")
        assert issue.line is None or isinstance(issue.line, int)
        assert issue.xpath is None or isinstance(issue.xpath, str)
    return codes


def _seeds() -> list[bytes]:
    rng = random.Random(2026)
    docs = [
        ubl_order(
            "EJ2026-000001",
            ISSUERS[0],
            SUPPLIERS[0],
            random_lines(rng, 3),
            date(2026, 1, 5),
            note="Livraison à l'accueil",
            delivery_date=date(2026, 2, 1),
            attachment=("devis.pdf", "application/pdf", b"%PDF-1.4 tiny"),
        ),
        ubl_order("1300000002", ISSUERS[1], SUPPLIERS[2], random_lines(rng, 2), date(2026, 1, 6)),
    ]
    for k, profile in enumerate(("basic", "comfort", "extended")):
        docs.append(
            orderx_order(
                f"EJ2026-00001{k}",
                ISSUERS[2],
                SUPPLIERS[k],
                random_lines(rng, 2),
                date(2026, 1, 7),
                profile=profile,
                delivery_date=date(2026, 3, 1),
            )
        )
    return docs


SEEDS = _seeds()


def _real_seeds() -> list[bytes]:
    location = shared_location()
    if not location.is_dir():
        return []
    wanted = (
        "openpeppol-poacc-upgrade-3/examples/Order_Example.xml",
        "openpeppol-poacc-upgrade-3/examples/Order_use_cases/UC3_Order.xml",
        "zugferd-mustangproject/order-x/ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.xml",
        "stafyniaksacha-facturx/order-x/ORDER-X_EX11_ORDER_PICK-UP-BASIC.xml",
    )
    return [(location / "samples" / rel).read_bytes() for rel in wanted if (location / "samples" / rel).is_file()]


REAL_SEEDS = _real_seeds()


def test_seeds_are_valid_orders() -> None:
    """The mutations start from documents the pipeline accepts (else the fuzzing proves little)."""
    for doc in SEEDS:
        assert [c for c in pipeline(doc) if c not in ("SIREN_INVALID", "VAT_INVALID")] == []


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "digit", "swap-text")))
        if op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=16),
                    st.sampled_from(
                        [
                            b"<",
                            b">",
                            b"&",
                            b"&amp;",
                            b"<!DOCTYPE x>",
                            b"]]>",
                            b"\x00",
                            b"\xc3",
                            b"<x/>",
                            b"-",
                            b"9" * 30,
                            b"E+99",
                        ]
                    ),
                )
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "digit":
            digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
            if digits:
                data[draw(st.sampled_from(digits))] = draw(st.sampled_from(b"0123456789.-,eE "))
        else:  # swap the text of one element for something odd (keeps the XML well-formed more often)
            start = data.find(b">", pos)
            end = data.find(b"<", start + 1) if start >= 0 else -1
            if start >= 0 and end > start:
                data[start + 1 : end] = draw(
                    st.sampled_from(
                        [
                            b"",
                            b" ",
                            b"NA",
                            b"-1",
                            b"0",
                            b"1e3",
                            b"99999999999999.999",
                            b"0.0000001",
                            b"2026-02-30",
                            b"00000000000000",
                            b"XXY",
                            b"n/a",
                            "é".encode(),
                            b"x" * 60,
                            b"NaN",
                            b"Infinity",
                        ]
                    )
                )
    return bytes(data)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    pipeline(data)


@FUZZ
@given(st.binary(max_size=2048).map(lambda b: b"<" + b))
def test_arbitrary_bytes_that_look_like_xml(data: bytes) -> None:
    pipeline(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048).map(lambda b: b"%PDF-1.7\n" + b))
def test_arbitrary_bytes_that_look_like_pdf(data: bytes) -> None:
    assert pipeline(data)  # never accepted


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(SEEDS))
def test_mutated_generated_orders(data: bytes) -> None:
    pipeline(data)


def test_layout_blanks_make_no_nodes_and_a_blank_value_is_kept() -> None:
    """The parser leaves out the blanks between tags (fewer nodes to validate and walk: see
    ``formats.xml._parser``), never the content of a leaf, and lines stay the file's."""
    root = xml.parse(b"<a>\n  <b> </b>\n  <c>x y</c>\n</a>")
    assert (root.text, root[0].text, root[0].tail, root[1].text, root[1].tail) == (None, " ", None, "x y", None)
    assert [node.sourceline for node in root] == [2, 3]


def _relaid(data: bytes, blanks: list[str]) -> bytes:
    """``data`` with the blanks between its tags replaced, in turn, by ``blanks`` (each may be
    empty: tags side by side), as another tool would lay the same document out."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    spaces = itertools.cycle(blanks)
    for node in root.iter():
        if len(node) and (node.text is None or not node.text.strip()):
            node.text = next(spaces) or None
        if node is not root and (node.tail is None or not node.tail.strip()):
            node.tail = next(spaces) or None
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _read(data: bytes) -> tuple[list[tuple[str, str | None]], list[Any]]:
    rec = formats.recognise(data)
    issues = [(i.code, i.xpath) for i in formats.schema_issues(rec)]
    return issues, [] if issues else _domain_documents(rec)


def _xml_documents() -> list[bytes]:
    """Orders made by the demo, and the real documents of every kind of ``../shared`` (when there)."""
    from chorus_batch.demo.generate import generate_batch

    made = [data for name, data in generate_batch(30, seed=5) if name.endswith(".xml")]
    samples = shared_location() / "samples"
    real = (
        "openpeppol-poacc-upgrade-3/examples/OrderResponseAdvanced_Example.xml",
        "openpeppol-poacc-upgrade-3/examples/OrderChange_Example.xml",
        "openpeppol-poacc-upgrade-3/examples/Advanced_Ordering_scenarios/advanced_ordering_sc1/OrderCancellation_sc1.xml",
        "openpeppol-peppol-bis-invoice-3/examples/Allowance-example.xml",
        "openpeppol-peppol-bis-invoice-3/examples/base-creditnote-correction.xml",
        "connectingeurope-einvoicing-en16931/cii/examples/CII_business_example_02.xml",
    )
    return SEEDS + REAL_SEEDS + made + [(samples / rel).read_bytes() for rel in real if (samples / rel).is_file()]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_xml_documents()), st.lists(st.sampled_from(["", " ", "\n", "\n  ", "\t", "\r\n "]), min_size=1))
def test_the_layout_changes_nothing_read(data: bytes, blanks: list[str]) -> None:
    """However the blanks between its tags are laid out, a document validates and reads the
    same (its elements' paths included)."""
    assert _read(_relaid(data, blanks)) == _read(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(REAL_SEEDS or SEEDS))
def test_mutated_real_samples(data: bytes) -> None:
    if not REAL_SEEDS:
        shared_dir()  # skips (or fails under CHORUS_REQUIRE_SHARED=1)
    pipeline(data)


# -- Micros --------------------------------------------------------------------------------------

LIMIT = 10**12  # the parsers refuse larger amounts (formats.ubl.MAX_AMOUNT): 18 digits, fits BIGINT
DIALECTS = (sqlite.dialect(), postgresql.dialect())


@st.composite
def decimals_up_to_6_places(draw: st.DrawFn) -> Decimal:
    places = draw(st.integers(0, 6))
    unscaled = draw(st.integers(-LIMIT * 10**places + 1, LIMIT * 10**places - 1))
    return Decimal(unscaled).scaleb(-places)


@settings(max_examples=200, deadline=None)
@given(decimals_up_to_6_places(), st.sampled_from(DIALECTS))
def test_micros_round_trip(value: Decimal, dialect) -> None:  # type: ignore[no-untyped-def]
    column = Micros()
    bound = column.process_bind_param(value, dialect)
    assert column.bind_processor(dialect)(value) == bound  # what the store's statements bind
    assert isinstance(bound, int) and not isinstance(bound, bool)
    assert -(2**63) <= bound < 2**63
    back = column.process_result_value(bound, dialect)
    assert isinstance(back, Decimal)
    assert back == value


@settings(max_examples=200, deadline=None)
@given(st.integers(-LIMIT * 10**7 + 1, LIMIT * 10**7 - 1).filter(lambda n: n % 10 != 0))
def test_micros_refuses_a_seventh_decimal(unscaled: int) -> None:
    value = Decimal(unscaled).scaleb(-7)
    with pytest.raises(ValueError):
        Micros().process_bind_param(value, sqlite.dialect())
    for dialect in DIALECTS:
        with pytest.raises(ValueError):
            Micros().bind_processor(dialect)(value)


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_micros_refuses_what_is_not_a_finite_number(value: str) -> None:
    for dialect in DIALECTS:
        with pytest.raises(ValueError, match="not a finite number"):
            Micros().bind_processor(dialect)(Decimal(value))


def test_micros_none_and_float() -> None:
    column, dialect = Micros(), sqlite.dialect()
    assert column.process_bind_param(None, dialect) is None
    assert column.process_result_value(None, dialect) is None
    with pytest.raises(ValueError):
        column.process_bind_param(0.1, dialect)  # a float's binary expansion is never 6 decimals


@settings(max_examples=60, deadline=None)
@given(st.lists(decimals_up_to_6_places(), min_size=1, max_size=20))
def test_micros_through_sqlite(values: list[Decimal]) -> None:
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("amount", Micros))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"amount": v} for v in values])
        assert list(conn.execute(select(table.c.amount).order_by(table.c.id)).scalars()) == values
    engine.dispose()


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)  # what XML can hold
_PARTIES = st.builds(
    Party,
    st.none() | _TEXT,
    st.lists(st.builds(PartyId, _TEXT, _TEXT, _TEXT), max_size=2).map(tuple),
    st.none()
    | st.builds(
        Address, st.lists(_TEXT, max_size=2).map(tuple), st.none() | _TEXT, st.none() | _TEXT, st.none() | _TEXT
    ),
    st.none() | _TEXT,
    st.none() | _TEXT,
)


@given(_PARTIES, _PARTIES, st.none() | _PARTIES, _TEXT, st.lists(_TEXT, max_size=2).map(tuple))
def test_a_document_is_stored_as_its_plain_encoding(
    issuer: Party, supplier: Party, invoicee: Party | None, number: str, notes: tuple[str, ...]
) -> None:
    """``codec.order_json`` encodes each party once and puts it in place: the text is the one a plain
    encoding of the whole document gives, and each party's is the parties table's."""
    doc = OrderDocument(
        "ubl", None, number, TODAY, None, "EUR", issuer, supplier, invoicee, notes=notes, buyer_reference=number
    )
    stored = codec.order_json(doc)
    assert stored == _plain(doc)
    assert json.loads(codec.party_json(issuer)) == json.loads(stored)["issuer"] == codec.to_dict(issuer)


def _plain(doc: OrderDocument) -> str:
    """The standard library's encoding of ``to_dict`` with orjson's layout (no blanks)."""
    return json.dumps(codec.to_dict(doc), ensure_ascii=False, separators=(",", ":"))


def test_real_orders_are_stored_as_their_plain_encoding() -> None:
    """orjson encodes the dataclasses itself (``codec._json``) and ``order_json`` puts in the
    attachments without their bytes: real orders (lines, totals, delivery, attachments; UBL and
    Order-X) are stored as the plain encoding of ``to_dict``, keys in the order of the fields."""
    from chorus_batch.demo.generate import generate_batch

    checked = 0
    for _name, data in generate_batch(40, seed=11):
        for doc in formats.documents(formats.recognise(data)):
            if isinstance(doc, OrderDocument):
                assert codec._order_json(doc) == _plain(doc)
                checked += 1
    assert checked >= 30
    embedded = Attachment("A-1", "plan.pdf", "application/pdf", "plan", content=b"%PDF-1.7 ...")
    doc = replace(doc, attachments=(embedded, Attachment("A-2", None, None, uri="https://example.org/a")))
    stored = codec._order_json(doc)
    assert stored == _plain(doc) and "content" not in json.loads(stored)["attachments"][0]


@settings(max_examples=examples(200), deadline=None)
@given(
    before=st.lists(
        st.sampled_from([b"<!-- note -->", b"<?pi x?>", b"<?pi !?>", b"\n", b"<!-- <!ENTITY in a comment -->"])
    ),
    declaration=st.sampled_from([b"", b"<!DOCTYPE x>", b"<!DOCTYPE x [<!ENTITY e 'v'>]>"]),
    padding=st.sampled_from([0, 70_000]),
)
def test_a_declaration_is_refused_wherever_the_first_markup_declaration_is(
    before: list[bytes], declaration: bytes, padding: int
) -> None:
    """``xml.parse`` looks for ``!`` before it runs the declaration pattern, from there: it
    refuses what the pattern over the first 64 KB refuses (a comment before a DOCTYPE, ``<!``
    or ``!`` too, does not hide it), a DOCTYPE past them once parsed, and parses the rest."""
    start = b"<!--" + b"x" * padding + b"-->" if padding else b""
    data = b'<?xml version="1.0"?>' + start + b"".join(before) + declaration + b"<x>1</x>"
    declared = xml._UNSAFE.search(data[:65536])
    # refused before libxml2 sees it when the pattern finds a declaration
    unparsed = mock.patch.object(xml.etree, "fromstring", side_effect=AssertionError("parsed"))
    try:
        with unparsed if declared else nullcontext():
            root = xml.parse(data)
    except DocumentRejected as exc:
        assert exc.issues[0].code == "UNSAFE_XML", exc.issues
        assert declaration or declared
    else:
        assert not declaration and not declared and root.text == "1"
