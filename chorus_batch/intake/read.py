"""One file to ready documents, before the store: read once, hash, recognise, open bundles and
PDFs, XSD, map, rules. No database and no clock here (the caller gives the date), so that each
process of a run can do it for its lot while another stores the lot before (``lots``), and so
that ``validate`` gives, under the same settings, the verdict the intake gives (``verdict``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import traceback
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, cast

from .. import formats
from ..config import Settings
from ..domain import rules
from ..domain.model import Document, OrderDocument
from ..domain.outcomes import DocumentOutcome, FileStatus, file_status
from ..errors import DocumentRejected, Issue
from ..formats import bundles
from ..store import codec
from ..workspace import NotRegular, digest_of, open_regular

_T = TypeVar("_T")


@dataclass
class Prepared:
    """One document of a file after its rules: ``doc`` is ``None`` when it could not be read.
    ``syntax`` and ``reference`` are what recognition found (the document's own number)."""

    doc: Document | None
    kind: str
    errors: list[Issue]
    warnings: list[Issue]
    member: str | None = None  # its member name when the file is a bundle
    syntax: str | None = None
    reference: str | None = None

    @property
    def number(self) -> str | None:
        """The number its integration report gives (the engagement's, the invoice's)."""
        return rules.number_of(self.doc) or None if self.doc is not None else None


@dataclass
class Ready:
    """A file read and checked, before the store: its bytes (``None`` when larger than
    ``max_file_size``), and its documents, or the issues that refuse it unrecognised, or the
    traceback of a bug met on the way."""

    size: int
    sha: str
    mtime: float | None = None  # the file's last write, from the same ``fstat`` as its size
    data: bytes | None = None
    prepared: list[Prepared] | None = None
    rejected: list[Issue] | None = None
    failure: str | None = None
    bundle: str | None = None  # zip, tar, tar.gz, gz when the file is a bundle


def read(path: Path, settings: Settings, today: date) -> Ready:
    """Read the entry once (a regular file only, never through a symbolic link, never waiting
    on a named pipe), hash it, and prepare its documents (never raises). An entry that cannot
    be read, is not a regular file or is too large is refused with its code and no data."""
    return read_all([path], settings, today)[0]


def read_all(paths: Sequence[Path], settings: Settings, today: date) -> list[Ready]:
    """``read`` of every path. Their documents are prepared a group of files at a time
    (``GROUP_FILES``, at most ``GROUP_BYTES`` of them), in steps: every file of the group is
    parsed, then every one validated, then every one mapped and checked. Each step keeps its
    code and its data in the processor's caches over the group, instead of making way for the
    others at every file: the reading of a lot costs about a quarter less (bench/README.md)."""
    readies: list[Ready] = []
    group: list[tuple[Ready, Steps]] = []
    size = 0
    for path in paths:
        ready = _bytes_of(path, settings.max_file_size)
        readies.append(ready)
        if ready.data is not None:
            group.append((ready, _steps(ready.data, settings, today)))
            size += len(ready.data)
        if len(group) == GROUP_FILES or size >= GROUP_BYTES:
            _prepare(group)
            group, size = [], 0
    _prepare(group)
    return readies


GROUP_FILES = 400  # files prepared together, step by step (``read_all``): a lot (``lots.LOT_FILES``)
GROUP_BYTES = 4 << 20  # ... unless their bytes reach this first (a big file is prepared alone)

Steps = Generator[None, None, tuple[str | None, list[Prepared]]]


def _bytes_of(path: Path, limit: int) -> Ready:
    ready = Ready(0, "")
    try:
        _read_bytes(path, ready, limit)
    except NotRegular as exc:
        ready.rejected = [Issue("NOT_A_REGULAR_FILE", f"the entry is {exc}; only regular files are processed")]
    except OSError as exc:
        ready.rejected = [Issue("FILE_UNREADABLE", f"cannot read: {exc.strerror or exc}")]
    if ready.data is None and ready.mtime is None:  # its size and time as the folder has them
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            ready.size, ready.mtime = info.st_size, info.st_mtime
    return ready


def _prepare(group: list[tuple[Ready, Steps]]) -> None:
    """Take every file of ``group`` through its steps, one step for all of them at a time."""
    while group:
        group = [(ready, steps) for ready, steps in group if _step(ready, steps)]


def _step(ready: Ready, steps: Steps) -> bool:
    """The next step of one file's preparation; ``False`` once it is over (its documents, the
    issues that refuse it unrecognised, or the traceback of a bug met on the way in ``ready``)."""
    try:
        next(steps)
        return True
    except StopIteration as done:
        ready.bundle, ready.prepared = done.value
    except DocumentRejected as exc:
        ready.rejected = exc.issues
    except Exception:  # a bug: reported by the store side as INTERNAL_ERROR, the file kept
        ready.failure = traceback.format_exc()
    return False


def _finished(steps: Generator[None, None, _T]) -> _T:
    """What ``steps`` gives once taken to its end."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast("_T", done.value)  # StopIteration's value is untyped


def _read_bytes(path: Path, ready: Ready, limit: int) -> None:
    """The file's bytes, size, time and hash into ``ready``; a file over ``limit`` bytes is
    only hashed, and refused with ``FILE_TOO_LARGE``. Read from the descriptor itself: for a
    small document, a buffered file object costs more than the reading."""
    fd, info = open_regular(path)
    try:
        ready.size, ready.mtime = info.st_size, info.st_mtime
        if ready.size > limit:
            with os.fdopen(os.dup(fd), "rb") as fh:
                ready.sha = digest_of(fh)
            ready.rejected = [Issue("FILE_TOO_LARGE", f"{ready.size} bytes; the limit is {limit} (max_file_size)")]
            return
        data = os.read(fd, ready.size + 1)
        if len(data) > ready.size:  # it grew since: up to its end, as the file has it then
            chunks = [data]
            while chunks[-1]:
                chunks.append(os.read(fd, 1 << 20))
            data = b"".join(chunks)
        ready.data = data
        ready.sha = hashlib.sha256(ready.data).hexdigest()
    finally:
        os.close(fd)


def prepare(data: bytes, settings: Settings, today: date) -> tuple[str | None, list[Prepared]]:
    """The kind of bundle the file is (``None`` for a document) and its documents after XSD and
    rules. A bundle (zip, tar.gz) is opened safely and each member is prepared on its own,
    orders first; a member that cannot be read becomes one rejected document and the others go on.

    Raises:
        DocumentRejected: the file itself is not recognised (or is an unsafe bundle).
    """
    return _finished(_steps(data, settings, today))


def _steps(data: bytes, settings: Settings, today: date) -> Steps:
    """``prepare`` in steps (``read_all``)."""
    bundle = bundles.kind_of(data)  # it looks at the first bytes only (no copy of them made)
    if bundle is None:
        return None, (yield from _document_steps(data, settings, today))
    found = bundles.members(data, bundles.Limits(max_member_size=settings.max_file_size))
    prepared = []
    for name, content in sorted(found, key=lambda m: formats.sniff_rank(m[1][:4096])):
        try:
            parts = _finished(_document_steps(content, settings, today))
        except DocumentRejected as exc:
            parts = [Prepared(None, "unknown", exc.issues, [])]
        prepared += [replace(p, member=name) for p in parts]
    return bundle, prepared


def _document_steps(data: bytes, settings: Settings, today: date) -> Generator[None, None, list[Prepared]]:
    """The documents of one recognised document file, in steps: parsed, validated, mapped,
    checked. Raises ``DocumentRejected`` only when the content is not recognised (once it is,
    its kind is reported with its errors)."""
    rec = formats.recognise(data)
    yield
    known = {"syntax": rec.syntax, "reference": rec.number}
    issues = formats.schema_issues(rec)
    if issues:
        return [Prepared(None, rec.kind, issues, [], **known)]
    yield
    official = formats.rule_issues(
        rec, settings.strict_rules, en16931_cii=settings.en16931_cii_rules, peppol=settings.peppol_rules
    )
    notes = formats.reading_notes(rec)  # how the file was read (a CSV's guessed encoding): once, on its first document
    try:
        docs = formats.documents(rec)
    except DocumentRejected as exc:  # a whole-file problem of a recognised document (e.g. a CSV without its columns)
        return [Prepared(None, rec.kind, exc.issues, notes, **known)]
    yield
    prepared = _read_documents(rec, docs, official, today)
    if notes and prepared:
        prepared[0] = replace(prepared[0], warnings=notes + prepared[0].warnings)
    return prepared


def _read_documents(
    rec: formats.Recognised, docs: list[Document | DocumentRejected], official: list[Issue], today: date
) -> list[Prepared]:
    known = {"syntax": rec.syntax, "reference": rec.number}
    prepared = []
    for doc in docs:
        if isinstance(doc, DocumentRejected):
            prepared.append(Prepared(None, rec.kind, doc.issues, [], **known))
            continue
        found = formats.locate(rec, rules.check(doc, today) + official)
        errors, warnings = [i for i in found if i.severity == "error"], [i for i in found if i.severity != "error"]
        if isinstance(doc, OrderDocument) and not errors:
            codec.order_json(doc)  # made now, before the process's turn to store, and kept with the document
        prepared.append(Prepared(doc, doc.kind, errors, warnings, **known))
    return prepared


# -- the verdict of ``validate`` -------------------------------------------------------------------


@dataclass
class Verdict:
    """What the intake would make of a file from its content alone: the status it would get
    before the store has its say (duplicates, engagements that exist or not, their states,
    habilitations, matching), and each document's errors and warnings."""

    file: str
    status: FileStatus
    kind: str | None = None
    syntax: str | None = None
    number: str | None = None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.status == FileStatus.IN_INTEGRE

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "valid": self.valid,
            "status": self.status.value,
            "kind": self.kind,
            "syntax": self.syntax,
            "number": self.number,
            "errors": [i.as_dict() for i in self.errors],
            "warnings": [i.as_dict() for i in self.warnings],
            "documents": self.documents,
        }


def verdict(name: str, ready: Ready, settings: Settings) -> Verdict:
    """The verdict the intake gives ``ready`` (read by ``read`` under ``settings``)."""
    if ready.failure is not None:
        issue = Issue("INTERNAL_ERROR", "unexpected error inside chorus-batch; see var/log/chorus-batch.log")
        return Verdict(name, FileStatus.IN_REJETE, errors=[issue])
    if ready.rejected is not None:
        return Verdict(name, FileStatus.IN_REJETE, errors=ready.rejected)
    prepared = ready.prepared or []
    outcomes = [DocumentOutcome.REJETE if p.errors else DocumentOutcome.INTEGRE for p in prepared]
    found = Verdict(
        name,
        file_status(outcomes),
        errors=[e for p in prepared for e in p.errors],
        warnings=[w for p in prepared for w in p.warnings],
        documents=[
            {
                "kind": p.kind,
                "syntax": p.syntax,
                "number": p.number or p.reference,
                "valid": not p.errors,
                "errors": [e.as_dict() for e in p.errors],
                "warnings": [w.as_dict() for w in p.warnings],
            }
            | ({"member": p.member} if p.member else {})
            for p in prepared
        ],
    )
    if ready.bundle is not None:
        found.kind, found.syntax = "bundle", ready.bundle
    elif prepared:
        first = prepared[0]
        found.kind, found.syntax = first.kind, first.syntax
        found.number = first.reference if len(prepared) > 1 else first.number or first.reference
    return found
