"""Reading and checking one claimed file, before the store: read once, hash, recognise, XSD,
map, rules. No database and no clock here (the caller gives the date), so that each process
of a run can do it for its lot while another process stores the lot before (``ingest.Peers``).
A peer ends as soon as the run that started it is gone (``peer_start``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
import time
import traceback
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from . import formats
from .config import Settings
from .domain import rules
from .domain.model import Document, OrderDocument
from .errors import DocumentRejected, Issue
from .formats import bundles
from .store import codec

BUNDLE_HEAD = 1 << 20  # bundles.kind_of looks at most this far


@dataclass
class Prepared:
    """One document of a file after its rules: ``doc`` is ``None`` when it could not be read."""

    doc: Document | None
    kind: str
    errors: list[Issue]
    warnings: list[Issue]
    member: str | None = None  # its member name when the file is a bundle
    encoded: str | None = None  # an order as its version stores it, made before the process's turn to store


@dataclass
class Ready:
    """A claimed file read and checked, before the store: its bytes (``None`` when larger than
    ``max_file_size``), and its documents, or the issues that refuse it unrecognised, or the
    traceback of a bug met on the way."""

    size: int
    sha: str
    mtime: float | None = None  # the file's last write, from the same ``fstat`` as its size
    data: bytes | None = None
    prepared: list[Prepared] | None = None
    rejected: list[Issue] | None = None
    failure: str | None = None


def read_and_prepare(path: Path, settings: Settings, today: date) -> Ready:
    """Read the file once, hash it, and prepare its documents (never raises)."""
    ready = Ready(0, "")
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            ready.size, ready.mtime = info.st_size, info.st_mtime
            if ready.size > settings.max_file_size:
                ready.sha = sha256_of(path)
                return ready
            ready.data = fh.read()
        ready.sha = hashlib.sha256(ready.data).hexdigest()
        ready.prepared = prepare(ready.data, settings, today)
    except DocumentRejected as exc:
        ready.rejected = exc.issues
    except Exception:  # a bug: reported by the store side as INTERNAL_ERROR, the file kept
        ready.failure = traceback.format_exc()
        ready.sha = ready.sha or sha256_of(path)
    return ready


def prepare(data: bytes, settings: Settings, today: date) -> list[Prepared]:
    """The documents of a file after XSD and rules. A bundle (zip, tar.gz) is opened safely and
    each member is prepared on its own, orders first; a member that cannot be read becomes one
    rejected document and the others go on.

    Raises:
        DocumentRejected: the file itself is not recognised (or is an unsafe bundle).
    """
    if bundles.kind_of(data[:BUNDLE_HEAD]) is None:
        return prepare_document(data, settings, today)
    found = bundles.members(data, bundles.Limits(max_member_size=settings.max_file_size))
    prepared = []
    for name, content in sorted(found, key=lambda m: formats.sniff_rank(m[1][:4096])):
        try:
            parts = prepare_document(content, settings, today)
        except DocumentRejected as exc:
            parts = [Prepared(None, "unknown", exc.issues, [])]
        prepared += [replace(p, member=name) for p in parts]
    return prepared


def prepare_document(data: bytes, settings: Settings, today: date) -> list[Prepared]:
    """The documents of one recognised document file; raises ``DocumentRejected`` only when the
    content is not recognised (once it is, its kind is reported with its errors)."""
    rec = formats.recognise(data)
    issues = formats.schema_issues(rec)
    if issues:
        return [Prepared(None, rec.kind, issues, [])]
    official = formats.rule_issues(rec, settings.strict_rules)
    try:
        docs = formats.documents(rec)
    except DocumentRejected as exc:  # a whole-file problem of a recognised document (e.g. a CSV without its columns)
        return [Prepared(None, rec.kind, exc.issues, [])]
    prepared = []
    for doc in docs:
        if isinstance(doc, DocumentRejected):
            prepared.append(Prepared(None, rec.kind, doc.issues, []))
            continue
        found = formats.locate(rec, rules.check(doc, today) + official)
        errors, warnings = [i for i in found if i.severity == "error"], [i for i in found if i.severity != "error"]
        encoded = codec.order_json(doc) if isinstance(doc, OrderDocument) and not errors else None
        prepared.append(Prepared(doc, doc.kind, errors, warnings, encoded=encoded))
    return prepared


def peer_start(run_pid: int) -> None:
    """In a new peer: end as soon as the run that started it is gone (killed, its peers would
    otherwise wait forever for a turn that never comes). A run that is dead but not yet reaped
    by its parent counts as gone."""

    def orphaned() -> None:
        while alive(run_pid):
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=orphaned, name="chorus-orphan-watch", daemon=True).start()
    calm_collector()


def calm_collector() -> tuple[int, ...]:
    """For a run: what is loaded so far (modules, schemas, compiled statements) is moved out
    of the cyclic garbage collector's way, and its young generation is collected every
    50,000 new objects instead of 700 (a file's objects die with it, by their reference
    counts; collecting them young cost 2 % of a run). Returns the thresholds it replaced."""
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(50_000, *before[1:])
    return before


def alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (Linux): dead, waiting for its parent to read its exit status
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def read_and_prepare_all(paths: list[Path], settings: Settings, today: date) -> list[Ready]:
    return [read_and_prepare(path, settings, today) for path in paths]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file read in 1 MiB pieces (for files too large to load)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
