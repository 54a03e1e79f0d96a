"""``formats.xml.Fields``: several paths of one node read in one walk over its children give
what their XPaths give: the first element of each path, and every element of the paths of
``every``, in document order (comments and other namespaces in between)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

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
    fields = Fields(_NS, every_paths, **first_paths)
    found, every = fields.read_every(root)
    assert fields.read(root) == found
    for name, path in first_paths.items():
        matches = root.xpath(path, namespaces=_NS)
        assert found.get(name) is (matches[0] if matches else None)
    for name, path in every_paths.items():
        assert every[name] == root.xpath(path, namespaces=_NS)
