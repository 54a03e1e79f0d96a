"""The parties' cache (``formats.common._cached``): a party is given again from the cache only
when what it is read from is the same. The compiled key (``_walk.key``) is equal for two party
elements only when the parties read from them are, and whenever the key made in Python (the
serialised text, the path, the root's prefixes) is equal; an order reads the same with either."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from chorus_batch.demo import generate as gen
from chorus_batch.formats import common, ubl, xml

CAC, CBC = common.CAC, common.CBC

_TEXTS = ["", "A", "Mairie", " 2 ", "a&amp;b", "&lt;x&gt;"]
_SCHEMES = ["", ' schemeID="0009"', ' schemeID="0002"']
_KINDS = ["id", "name", "city", "contact", "comment", "legal"]
# (prefix of cac, of cbc); "" puts CommonAggregateComponents in the default namespace, where
# getpath writes a step as * and ranks it among every element
_PREFIXES = [("cac", "cbc"), ("a", "b"), ("cac", "b"), ("", "cbc")]


def _tag(prefix: str, local: str) -> str:
    return f"{prefix}:{local}" if prefix else local


def _render(spec: dict[str, Any]) -> etree._Element:
    """An order-like root whose ``cac:BuyerCustomerParty`` holds a party of the parts ``spec``
    lists, after some notes, sometimes with a second buyer after it."""
    cac, cbc = _PREFIXES[spec["prefixes"]]

    def a(local: str, inner: str) -> str:
        return f"<{_tag(cac, local)}>{inner}</{_tag(cac, local)}>"

    def b(local: str, value: str, scheme: str = "") -> str:
        return f"<{cbc}:{local}{scheme}>{value}</{cbc}:{local}>"

    parts = {
        "id": lambda v, s: a("PartyIdentification", b("ID", v, s)),
        "name": lambda v, s: a("PartyName", b("Name", v)),
        "city": lambda v, s: a("PostalAddress", b("CityName", v)),
        "contact": lambda v, s: a("Contact", b("Name", v)),
        "comment": lambda v, s: f"<!--{v}-->",
        "legal": lambda v, s: a("PartyLegalEntity", b("CompanyID", v, s)),
    }
    party = a("Party", "".join(parts[kind](_TEXTS[v], _SCHEMES[s]) for kind, v, s in spec["parts"]))
    buyer = a("BuyerCustomerParty", party)
    notes = b("Note", "n") * spec["notes"]
    root = "o:Order" if not cac else "Order"
    declared = f'xmlns{":o" if not cac else ""}="urn:oasis:names:specification:ubl:schema:xsd:Order-2"'
    declared += f' xmlns{":" + cac if cac else ""}="{CAC}" xmlns:{cbc}="{CBC}"'
    second = buyer if spec["second"] else ""
    return etree.fromstring(f"<{root} {declared}>{notes}{buyer}{second}</{root}>")


_SPECS = st.fixed_dictionaries(
    {
        "prefixes": st.integers(0, len(_PREFIXES) - 1),
        "notes": st.integers(0, 2),
        "second": st.booleans(),
        "parts": st.lists(
            st.tuples(st.sampled_from(_KINDS), st.integers(0, len(_TEXTS) - 1), st.integers(0, len(_SCHEMES) - 1)),
            max_size=4,
        ),
    }
)


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A spec and the same one with at most one thing changed: most pairs are nearly the same
    party, where a key that left something out would show."""
    spec = draw(_SPECS)
    other = {**spec, "parts": list(spec["parts"])}
    change = draw(st.sampled_from(["none", "value", "scheme", "prefixes", "notes", "second"]))
    if change in ("value", "scheme") and spec["parts"]:
        i = draw(st.integers(0, len(spec["parts"]) - 1))
        kind, value, scheme = spec["parts"][i]
        if change == "value":
            value = draw(st.integers(0, len(_TEXTS) - 1))
        else:
            scheme = draw(st.integers(0, len(_SCHEMES) - 1))
        other["parts"][i] = (kind, value, scheme)
    elif change in ("prefixes", "notes", "second"):
        other[change] = draw(_SPECS)[change]
    return spec, other


def _party_of(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{CAC}}}BuyerCustomerParty/{{{CAC}}}Party")
    assert found is not None
    return found


def _python_key(node: etree._Element) -> tuple[Any, ...]:
    tree = node.getroottree()
    text = etree.tostring(node, encoding="unicode", with_tail=False)
    return text, tree.getpath(node), tuple(tree.getroot().nsmap.items())


@pytest.mark.skipif(xml.native is None, reason="not built here (test_xml_fields.test_the_walk_is_compiled says why)")
@settings(max_examples=300, deadline=None)
@given(_pairs())
def test_the_compiled_key_is_equal_only_for_the_same_party(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    assert xml.native is not None
    first, second = (_party_of(_render(spec)) for spec in pair)
    same_key = xml.native.key(first) == xml.native.key(second)
    if same_key:
        assert common._ubl_party(first) == common._ubl_party(second)
        assert _python_key(first) == _python_key(second)
    else:  # the cache finds whatever the Python key found
        assert _python_key(first) != _python_key(second)


def test_an_order_reads_the_same_with_either_key(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer, supplier = gen.ISSUERS[0], gen.SUPPLIERS[0]
    lines = gen._lines_for(random.Random(1), supplier)
    data = gen.ubl_order("EJ2026-000001", issuer, supplier, lines, date(2026, 1, 5))
    compiled = ubl.parse_order(xml.parse(data))
    monkeypatch.setattr(common, "native", None)
    monkeypatch.setattr(common, "_PARTIES", {})
    assert ubl.parse_order(xml.parse(data)) == compiled
    assert common._PARTIES  # read through the cache, with the key made in Python
