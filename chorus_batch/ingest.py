"""One input file, start to finish: claim → read once → hash → duplicate check → recognise →
XSD → map → rules → store (one transaction) → move → integration report.

This is the per-file boundary: a ``ChorusError`` becomes a rejection with its code, and any
other exception is a bug — logged with its traceback, reported as ``INTERNAL_ERROR``, the file
kept in ``var/rejected/``. Nothing escapes to the caller, so one bad file never stops a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import formats
from .config import Settings
from .domain import rules, states
from .domain.identifiers import party_key
from .domain.model import OrderDocument
from .errors import ChorusError, DocumentRejected, Issue, Outcome
from .store import repo
from .store.repo import Source, Store
from .workspace import Pending, Workspace, write_json

log = logging.getLogger("chorus_batch")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FileResult:
    name: str
    status: str  # IN_INTEGRE, IN_INTEGRE_PARTIEL, IN_REJETE, DUPLICATE, PARKED
    documents: list[Outcome] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    ack: Path | None = None


@dataclass
class RunSummary:
    results: list[FileResult] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.status for r in self.results)

    @property
    def exit_code(self) -> int:
        return 1 if any(r.status == "IN_REJETE" for r in self.results) else 0


@dataclass
class Claimed:
    """A file taken out of the inbox, with what is known of it so far."""

    item: Pending
    received: datetime
    size: int = 0
    sha: str = ""


class Processor:
    """Processes the files of one workspace against one store."""

    def __init__(self, ws: Workspace, store: Store, settings: Settings, clock: Clock = utc_now) -> None:
        self.ws, self.store, self.settings, self.clock = ws, store, settings, clock

    def run(self, on_file: Callable[[FileResult], None] | None = None) -> RunSummary:
        """Process every file pending in the inbox once."""
        summary = RunSummary()
        for item in list(self.ws.pending()):
            result = self.process(item)
            if result is None:
                continue
            summary.results.append(result)
            if on_file:
                on_file(result)
        return summary

    def process(self, item: Pending) -> FileResult | None:
        """Claim and process one inbox file; ``None`` if another worker took it first."""
        try:
            received = datetime.fromtimestamp(item.path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None
        claimed = self.ws.claim(item)
        if claimed is None:
            return None
        c = Claimed(claimed, received)
        try:
            return self._process(c)
        except Exception:  # the per-file boundary: a bug must not lose the file or stop the run
            log.exception("internal error while processing %s", item.name)
            c.sha = c.sha or _sha256_of(claimed.path)
            issue = Issue("INTERNAL_ERROR", "unexpected error inside chorus-batch; the file is kept for a retry")
            return self._reject(c, [issue])

    # -- the steps ------------------------------------------------------------------------------

    def _process(self, c: Claimed) -> FileResult:
        c.size = c.item.path.stat().st_size
        if c.size > self.settings.max_file_size:
            c.sha = _sha256_of(c.item.path)
            return self._reject(c, [Issue("FILE_TOO_LARGE", f"{c.size} bytes; the limit is {self.settings.max_file_size} (max_file_size)")])
        data = c.item.path.read_bytes()
        c.sha = hashlib.sha256(data).hexdigest()
        with self.store.read() as conn:
            first = repo.integrated_file(conn, c.sha)
        if first is not None:
            return self._duplicate(c, first)
        try:
            rec = formats.recognise(data)
            issues = formats.schema_issues(rec)
            if issues:
                raise DocumentRejected(issues)
            doc = formats.to_order(rec)
            found = rules.check_order(doc, self.clock().date())
        except DocumentRejected as exc:
            kind = _kind_of(data)
            return self._reject(c, exc.issues, docs=[Outcome(kind, None, "REJETE", exc.issues)] if kind else [])
        errors = [i for i in found if i.severity == "error"]
        warnings = [i for i in found if i.severity != "error"]
        if errors:
            return self._reject(c, errors, warnings, [Outcome(doc.kind, doc.number, "REJETE", errors)])
        return self._integrate(c, data, doc, warnings)

    def _integrate(self, c: Claimed, data: bytes, doc: OrderDocument, warnings: list[Issue]) -> FileResult:
        now = self.clock()
        dest, ack = self.ws.plan_archive(c.item.name, now), self.ws.plan_ack(c.item.name)
        number = rules.engagement_number(doc.number) or ""
        try:
            # One transaction: the file row, the original bytes, the engagement change.
            with self.store.begin() as conn:
                file_id = self._record(conn, c, "IN_INTEGRE", doc.kind, [], dest, ack, now)
                outcome = self._apply_order(conn, doc, number, Source(file_id, repo.put_blob(conn, data), iso(now)))
                if outcome.outcome == "REJETE":
                    raise _Refused(outcome)  # rolls the transaction back
                if outcome.outcome == "DUPLICATE":
                    repo.update_file(conn, file_id, status="DUPLICATE", errors=_errors_json(outcome.errors))
        except _Refused as refused:
            return self._reject(c, refused.outcome.errors, warnings, [refused.outcome])
        status = "DUPLICATE" if outcome.outcome == "DUPLICATE" else "IN_INTEGRE"
        errors = list(outcome.errors) if status == "DUPLICATE" else []
        return self._conclude(c, FileResult(c.item.name, status, [outcome], errors, warnings, ack), dest, now)

    def _apply_order(self, conn: repo.Connection, doc: OrderDocument, number: str, src: Source) -> Outcome:
        issuer_id = party_key(doc.issuer) or ""
        existing = repo.find_engagement(conn, issuer_id, number)
        if existing is None:
            supplier_id = party_key(doc.supplier) or ""
            event = states.Event.RECEIVED if self.settings.serves(supplier_id) else states.Event.RECEIVED_UNROUTED
            repo.create_engagement(conn, doc, number, event, src)
            return Outcome(doc.kind, number, "INTEGRE")
        if repo.current_document(conn, existing.id, existing.current_version) == json.loads(repo.document_json(doc)):
            issue = Issue("DUPLICATE_DOCUMENT", f"engagement {number} already holds this exact order; nothing applied")
            return Outcome(doc.kind, number, "DUPLICATE", [issue])
        issue = Issue(
            "ORDER_ALREADY_EXISTS",
            f"engagement {number} from issuer {issuer_id} already exists (status {existing.status}) with other content; "
            "send an order change to modify it",
            xpath=doc.number_xpath,
        )
        return Outcome(doc.kind, number, "REJETE", [issue])

    # -- endings --------------------------------------------------------------------------------

    def _duplicate(self, c: Claimed, first: Any) -> FileResult:
        now = self.clock()
        dest, ack = self.ws.plan_archive(c.item.name, now), self.ws.plan_ack(c.item.name)
        issue = Issue("DUPLICATE_DOCUMENT", f"same content as {first.name!r} integrated at {first.processed_at}; nothing applied again")
        docs = [Outcome(kind, None, "DUPLICATE") for kind in first.kinds.split(",") if kind]
        with self.store.begin() as conn:
            self._record(conn, c, "DUPLICATE", first.kinds, [issue], dest, ack, now)
        return self._conclude(c, FileResult(c.item.name, "DUPLICATE", docs, [issue], [], ack), dest, now)

    def _reject(self, c: Claimed, errors: list[Issue], warnings: list[Issue] | None = None, docs: list[Outcome] | None = None) -> FileResult:
        now = self.clock()
        docs = docs or []
        dest, ack = self.ws.plan_rejected(c.item.name), self.ws.plan_ack(c.item.name)
        c.size = c.size or c.item.path.stat().st_size
        with self.store.begin() as conn:
            self._record(conn, c, "IN_REJETE", ",".join(d.kind for d in docs), errors, dest, ack, now)
        return self._conclude(c, FileResult(c.item.name, "IN_REJETE", docs, errors, warnings or [], ack), dest, now)

    def _record(self, conn: repo.Connection, c: Claimed, status: str, kinds: str, errors: list[Issue], dest: Path, ack: Path, now: datetime) -> int:
        return repo.insert_file(
            conn,
            name=c.item.name,
            partner=c.item.partner,
            sha256=c.sha,
            size=c.size,
            received_at=iso(c.received),
            processed_at=iso(now),
            status=status,
            kinds=kinds,
            errors=_errors_json(errors),
            stored_as=self.ws.relative(dest),
            ack=self.ws.relative(ack),
        )

    def _conclude(self, c: Claimed, result: FileResult, dest: Path, now: datetime) -> FileResult:
        """After the commit: move the file where the store says it is, then write its report."""
        self.ws.move(c.item.path, dest)
        payload = {
            "file": c.item.name,
            "sha256": c.sha,
            "status": result.status,
            "received_at": iso(c.received),
            "processed_at": iso(now),
            "documents": [
                {"kind": d.kind, "number": d.number, "outcome": d.outcome, "errors": [e.as_dict() for e in d.errors]}
                for d in result.documents
            ],
            "errors": [e.as_dict() for e in result.errors],
            "warnings": [w.as_dict() for w in result.warnings],
        }
        write_json(result.ack, payload)  # type: ignore[arg-type]
        if result.status == "IN_REJETE":
            write_json(dest.with_name(dest.name + ".errors.json"), payload)
        codes = ", ".join(sorted({e.code for e in result.errors}))
        log.info("%s: %s %s", c.item.name, result.status, codes)
        return result


def _errors_json(errors: list[Issue]) -> str:
    return json.dumps([e.as_dict() for e in errors], ensure_ascii=False)


class _Refused(Exception):
    """Internal: the store refused a document; carries its outcome out of the transaction."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.outcome)
        self.outcome = outcome


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _kind_of(data: bytes) -> str | None:
    """The document kind when the content says it, even if the document is otherwise unusable."""
    try:
        return formats.recognise(data).kind
    except ChorusError:
        return None
