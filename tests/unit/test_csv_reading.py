"""How an operator CSV is read (``formats.csv_ops``): a byte-order mark is not taken for XML,
the encoding is UTF-8 (marked or not), UTF-16 when marked, else Windows-1252 with a warning;
the separator is the one that splits the header into an operator CSV's columns."""

from __future__ import annotations

import pytest

from chorus_batch import formats
from chorus_batch.errors import DocumentRejected
from chorus_batch.formats import csv_ops

HEADER = "engagement_number;action;reason\r\n"


@pytest.mark.parametrize(
    ("data", "xml"),
    [
        (b"\xef\xbb\xbf<?xml version='1.0'?><a/>", True),
        (b"  <a/>", True),
        ("\ufeff<a/>".encode("utf-16-le"), True),
        (b"\xef\xbb\xbf" + HEADER.encode(), False),
        (("\ufeff" + HEADER).encode("utf-16-le"), False),
        (HEADER.encode(), False),
    ],
)
def test_looks_like_xml_looks_past_the_byte_order_mark(data: bytes, xml: bool) -> None:
    assert formats.looks_like_xml(data) is xml


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (b"\xef\xbb\xbfa;\xc3\xa9", "utf-8"),
        (b"a;\xc3\xa9", "utf-8"),
        ("\ufeffa;é".encode("utf-16-le"), "utf-16-le"),
        ("a;é".encode("cp1252"), "cp1252"),
    ],
)
def test_decode_names_the_encoding_it_read(data: bytes, codec: str) -> None:
    assert csv_ops.decode(data) == ("a;é", codec)


@pytest.mark.parametrize("data", [b"a;\x81", b"\xef\xbb\xbf\x00\x80a;b", b"\xff\xfe\x00\xd8"])
def test_decode_refuses_what_is_not_the_encoding_it_says_or_any(data: bytes) -> None:
    with pytest.raises(DocumentRejected) as caught:
        csv_ops.decode(data)
    assert caught.value.code == "CSV_INVALID"
    assert csv_ops.header_kind(data) is None


def test_a_head_cut_inside_a_character_is_still_utf8() -> None:
    data = ("engagement_number;action;reason\nEJ1;refuse;" + "é" * 3000).encode()
    assert csv_ops.header_kind(data[:4095]) == "order_response"
    assert csv_ops.decode(data[:4095], head=True)[1] == "utf-8"


@pytest.mark.parametrize("sep", [";", ",", "\t"])
def test_the_separator_is_the_one_that_gives_the_columns(sep: str) -> None:
    # the reason holds the other separators, quoted: the header decides
    text = sep.join(["engagement_number", "action", "reason"]) + "\r\nEJ1" + sep + "refuse" + sep + '"a;b,c\td"\r\n'
    assert csv_ops.separator_of(text) == sep
    fields, rows = csv_ops.read_rows(text.encode())
    assert fields == ["engagement_number", "action", "reason"]
    assert rows == [{"engagement_number": "EJ1", "action": "refuse", "reason": "a;b,c\td"}]


def test_only_a_guessed_encoding_is_noted() -> None:
    assert csv_ops.notes(HEADER.encode()) == []
    assert [n.code for n in csv_ops.notes((HEADER + "EJ1;refuse;é\r\n").encode("cp1252"))] == ["CSV_ENCODING_GUESSED"]
    assert csv_ops.notes(b"\x81\x8d") == []


def test_a_french_decimal_with_a_no_break_space_is_a_number() -> None:
    data = "engagement_number;action;reason;line_id;quantity;unit_price\nEJ1;modify;;1;1\u00a0200,5;3\n".encode()
    (doc,) = csv_ops.parse_responses(data)
    assert not isinstance(doc, DocumentRejected)
    assert str(doc.lines[0].quantity) == "1200.5"
