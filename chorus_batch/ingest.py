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
        try:
            return self._process(claimed, received)
        except Exception:  # the per-file boundary: a bug must not lose the file or stop the run
            log.exception("internal error while processing %s", claimed.name)
            issue = Issue("INTERNAL_ERROR", "unexpected error inside chorus-batch; the file is kept for a retry")
            return self._finish_rejected(claimed, received, _sha256_of(claimed.path), [issue], [], [])

    # -- the steps ------------------------------------------------------------------------------

    def _process(self, item: Pending, received: datetime) -> FileResult:
        size = item.path.stat().st_size
        if size > self.settings.max_file_size:
            issue = Issue("FILE_TOO_LARGE", f"{size} bytes; the limit is {self.settings.max_file_size} (max_file_size)")
            return self._finish_rejected(item, received, _sha256_of(item.path), [issue], [], [])
        data = item.path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        with self.store.read() as conn:
            first = repo.integrated_file(conn, sha)
        if first is not None:
            return self._finish_duplicate(item, received, sha, size, first)
        try:
            rec = formats.recognise(data)
            issues = formats.schema_issues(rec)
            if issues:
                raise DocumentRejected(issues)
            doc = formats.to_order(rec)
            found = rules.check_order(doc, self.clock().date())
        except DocumentRejected as exc:
            kind = _kind_of(data)
            docs = [Outcome(kind, None, "REJETE", exc.issues)] if kind else []
            return self._finish_rejected(item, received, sha, exc.issues, [], docs)
        errors = [i for i in found if i.severity == "error"]
        warnings = [i for i in found if i.severity != "error"]
        if errors:
            return self._finish_rejected(item, received, sha, errors, warnings, [Outcome(doc.kind, doc.number, "REJETE", errors)])
        return self._integrate(item, received, sha, size, data, doc, warnings)

    def _integrate(
        self, item: Pending, received: datetime, sha: str, size: int, data: bytes, doc: OrderDocument, warnings: list[Issue]
    ) -> FileResult:
        now = self.clock()
        dest = self.ws.plan_archive(item.name, now)
        ack = self.ws.plan_ack(item.name)
        number = rules.engagement_number(doc.number) or ""
        with self.store.begin() as conn:
            file_id = repo.insert_file(
                conn,
                name=item.name,
                partner=item.partner,
                sha256=sha,
                size=size,
                received_at=iso(received),
                processed_at=iso(now),
                status="IN_INTEGRE",
                kinds=doc.kind,
                errors="[]",
                stored_as=self.ws.relative(dest),
                ack=self.ws.relative(ack),
            )
            src = Source(file_id, repo.put_blob(conn, data), iso(now))
            outcome = self._apply_order(conn, doc, number, src)
            if outcome.outcome == "REJETE":
                conn.rollback()
        if outcome.outcome == "REJETE":
            return self._finish_rejected(item, received, sha, outcome.errors, warnings, [outcome])
        status = "DUPLICATE" if outcome.outcome == "DUPLICATE" else "IN_INTEGRE"
        if status == "DUPLICATE":
            with self.store.begin() as conn:
                repo.update_file(conn, file_id, status=status)
        self.ws.move(item.path, dest)
        result = FileResult(item.name, status, [outcome], list(outcome.errors) if status == "DUPLICATE" else [], warnings, ack)
        self._write_ack(ack, item.name, sha, received, now, result)
        log.info("%s: %s %s %s", item.name, status, doc.kind, number)
        return result

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

    def _finish_duplicate(self, item: Pending, received: datetime, sha: str, size: int, first: repo.Row) -> FileResult:  # type: ignore[type-arg]
        now = self.clock()
        dest = self.ws.plan_archive(item.name, now)
        ack = self.ws.plan_ack(item.name)
        issue = Issue(
            "DUPLICATE_DOCUMENT", f"same content as {first.name!r} integrated at {first.processed_at}; nothing applied again"
        )
        kinds = first.kinds.split(",") if first.kinds else []
        docs = [Outcome(kind, None, "DUPLICATE") for kind in kinds]
        with self.store.begin() as conn:
            repo.insert_file(
                conn,
                name=item.name,
                partner=item.partner,
                sha256=sha,
                size=size,
                received_at=iso(received),
                processed_at=iso(now),
                status="DUPLICATE",
                kinds=first.kinds,
                errors=json.dumps([issue.as_dict()]),
                stored_as=self.ws.relative(dest),
                ack=self.ws.relative(ack),
            )
        self.ws.move(item.path, dest)
        result = FileResult(item.name, "DUPLICATE", docs, [issue], [], ack)
        self._write_ack(ack, item.name, sha, received, now, result)
        log.info("%s: DUPLICATE of %s", item.name, first.name)
        return result

    def _finish_rejected(
        self,
        item: Pending,
        received: datetime,
        sha: str,
        errors: list[Issue],
        warnings: list[Issue],
        docs: list[Outcome],
    ) -> FileResult:
        now = self.clock()
        dest = self.ws.plan_rejected(item.name)
        ack = self.ws.plan_ack(item.name)
        size = item.path.stat().st_size
        with self.store.begin() as conn:
            repo.insert_file(
                conn,
                name=item.name,
                partner=item.partner,
                sha256=sha,
                size=size,
                received_at=iso(received),
                processed_at=iso(now),
                status="IN_REJETE",
                kinds=",".join(d.kind for d in docs),
                errors=json.dumps([e.as_dict() for e in errors], ensure_ascii=False),
                stored_as=self.ws.relative(dest),
                ack=self.ws.relative(ack),
            )
        self.ws.move(item.path, dest)
        result = FileResult(item.name, "IN_REJETE", docs, errors, warnings, ack)
        payload = self._write_ack(ack, item.name, sha, received, now, result)
        write_json(dest.with_name(dest.name + ".errors.json"), payload)
        log.info("%s: IN_REJETE %s", item.name, ", ".join(sorted({e.code for e in errors})))
        return result

    def _write_ack(self, path: Path, name: str, sha: str, received: datetime, now: datetime, result: FileResult) -> dict[str, object]:
        payload: dict[str, object] = {
            "file": name,
            "sha256": sha,
            "status": result.status,
            "received_at": iso(received),
            "processed_at": iso(now),
            "documents": [
                {"kind": d.kind, "number": d.number, "outcome": d.outcome, "errors": [e.as_dict() for e in d.errors]}
                for d in result.documents
            ],
            "errors": [e.as_dict() for e in result.errors],
            "warnings": [w.as_dict() for w in result.warnings],
        }
        write_json(path, payload)
        return payload


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
