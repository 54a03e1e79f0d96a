"""``formats.xml.Fields``: several paths of one node read in one walk over its children give
what their XPaths give: the first element of each path, and every element of the paths of
``every``, in document order (comments and other namespaces in between). Both walks do, the
compiled one (``formats/_walk.pyx``) and the one in Python; the compiled one is built, and used
only with the lxml it was built against."""

from __future__ import annotations

import copy
import os
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from chorus_batch.formats import common, xml
from chorus_batch.formats.common import UBL_NS
from chorus_batch.formats.xml import Fields

_TAGS = ["cac:A", "cac:B", "cbc:C", "cbc:A", "x:A"]
_NS = {**UBL_NS, "x": "urn:other"}


def _xml(node: Any) -> str:
    if node == "comment":
        return "<!-- a comment -->"
    tag, children = node
    return f"<{tag}>{''.join(_xml(child) for child in children)}</{tag}>"


_NODES = st.recursive(
    st.tuples(st.sampled_from(_TAGS), st.just([])) | st.just("comment"),
    lambda children: st.tuples(st.sampled_from(_TAGS), st.lists(children, max_size=4)),
    max_leaves=30,
)
_PATHS = st.lists(st.sampled_from(_TAGS[:4]), min_size=1, max_size=3).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_NODES, max_size=5), st.lists(_PATHS, min_size=1, max_size=4), st.lists(_PATHS, max_size=4))
def test_one_walk_reads_what_each_xpath_reads(children: list[Any], firsts: list[str], alls: list[str]) -> None:
    declared = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _NS.items())
    root = etree.fromstring(f"<root {declared}>{''.join(_xml(child) for child in children)}</root>")
    first_paths = {f"f{i}": path for i, path in enumerate(firsts)}
    every_paths = {f"e{i}": path for i, path in enumerate(alls)}
    for fields in _both_walks(Fields(_NS, every_paths, **first_paths)):
        found, every = fields.read_every(root)
        assert fields.read(root) == found
        for name, path in first_paths.items():
            matches = root.xpath(path, namespaces=_NS)
            assert found.get(name) is (matches[0] if matches else None)
        for name, path in every_paths.items():
            assert every[name] == root.xpath(path, namespaces=_NS)


def _both_walks(fields: Fields) -> list[Fields]:
    """``fields`` (with the compiled walk, when it is built) and a copy that walks in Python."""
    in_python = copy.copy(fields)
    in_python._native = None
    return [fields, in_python]


def test_the_walk_is_compiled() -> None:
    """The build compiles the walk (``hatch_build.py``); ``CHORUS_REQUIRE_NATIVE=1`` (CI) makes
    its absence an error rather than a skip."""
    if xml.native is None:
        reason = "the compiled walk is not built here (pip install -e . builds it; it needs a C compiler)"
        if os.environ.get("CHORUS_REQUIRE_NATIVE") == "1":
            pytest.fail(f"CHORUS_REQUIRE_NATIVE=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    assert Fields(_NS, a="cac:A")._native is not None


def test_a_walk_built_for_another_lxml_is_not_used() -> None:
    built = ModuleType("built")
    built.BUILT_FOR = "6.0.0"  # type: ignore[attr-defined]  # a stand-in for the compiled module
    assert xml.usable(built, "6.0.0") is built
    assert xml.usable(built, "6.0.1") is None
    assert xml.usable(None, "6.0.0") is None


_CURRENCIES = st.sampled_from(["EUR", " USD ", "E&amp;R", ""])
_ATTRIBUTES = ["", ' currencyID="{}"', ' x:currencyID="{}"', ' currencyID="{}" x:currencyID="b"']


def _with_currencies(node: Any, draw: st.DrawFn) -> str:
    if node == "comment":
        return "<!-- a comment -->"
    tag, children = node
    attributes = draw(st.sampled_from(_ATTRIBUTES)).format(draw(_CURRENCIES))
    return f"<{tag}{attributes}>{''.join(_with_currencies(child, draw) for child in children)}</{tag}>"


@settings(max_examples=200, deadline=None)
@given(st.lists(_NODES, max_size=5), st.data())
def test_the_currencies_of_a_document_are_those_its_xpath_gives(children: list[Any], data: st.DataObject) -> None:
    declared = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _NS.items())
    inner = "".join(_with_currencies(child, data.draw) for child in children)
    root = etree.fromstring(f"<root {declared}>{inner}</root>")
    values = root.xpath("//@currencyID")
    assert common.amount_currencies(root) == tuple(sorted({value.strip() for value in values}))
    if xml.native is not None:
        assert xml.native.attribute_values(root, "currencyID") == values


def test_an_attribute_holding_an_entity_is_read_by_the_xpath() -> None:
    """The compiled reading gives up on a value that holds more than text (only a parser that
    leaves entities, not chorus-batch's, makes one); the XPath reads it."""
    parser = etree.XMLParser(resolve_entities=False)
    root = etree.fromstring(
        b'<!DOCTYPE a [<!ENTITY e "EUR">]><a><b currencyID="&e;"/><c currencyID="USD"/></a>', parser
    )
    if xml.native is not None:
        assert xml.native.attribute_values(root, "currencyID") is None
    assert common.amount_currencies(root) == tuple(sorted({v.strip() for v in root.xpath("//@currencyID")}))
