"""Documents that arrived before what they refer to: an answer, a change or a cancellation
before its order, an invoice status before its invoice. They wait in the store (``parked``)
and are applied by the run that integrates what they wait for (``release``), or taken up at
the next start when another worker committed it (``retry``); after ``park_days`` they are
rejected (``expire``). Each one concluded later gets its own integration report, and its file
the status its documents now give it (``domain.outcomes.after_parking``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from .. import apply
from .. import store as db
from ..config import Settings
from ..domain.names import from_text
from ..domain.outcomes import DocumentOutcome, FileStatus, Outcome, ParkState, after_parking
from ..errors import Issue
from ..workspace import Workspace, write_json
from . import report
from .outbox import write_responses
from .read import prepare
from .report import Clock, FileResult, iso

log = logging.getLogger("chorus_batch")


def deadline(parked_at: str, park_days: int) -> str:
    """When a document parked at ``parked_at`` stops waiting: the first run (or rescan of
    ``watch``) from then rejects it with PARK_EXPIRED (or INVOICE_NOT_FOUND)."""
    return iso(datetime.fromisoformat(parked_at.replace("Z", "+00:00")) + timedelta(days=park_days))


WAITING_COLUMNS = ("file", "document", "kind", "waits_for", "number", "issuer", "issuer_name", "parked_at", "until")


def waiting_documents(conn: db.Connection, park_days: int, file_id: int | None = None) -> list[dict[str, Any]]:
    """Every document still waiting (of one file), oldest first: its file, its place in the
    file (``document``, from 1), its kind, what it waits for (``order`` or ``invoice``, its
    number, the issuer the document names, from the file's report), since when and until when
    (``parked_at`` + ``park_days``, as the configuration says now)."""
    found = []
    reports: dict[int, list[Any]] = {}
    for row in db.parking.waiting(conn, file_id):
        if row.file_id not in reports:
            reports[row.file_id] = _documents(row.report)
        documents = reports[row.file_id]
        said = documents[row.position].get("waiting") if row.position < len(documents) else None
        said = said if isinstance(said, dict) else {}
        found.append(
            {
                "file": row.name,
                "document": row.position + 1,
                "kind": row.kind,
                "waits_for": "invoice" if row.kind == "invoice_status" else "order",
                "number": row.order_number,
                "issuer": said.get("issuer"),
                "issuer_name": said.get("issuer_name"),
                "parked_at": row.parked_at,
                "until": deadline(row.parked_at, park_days),
            }
        )
    return found


def _documents(text: str | None) -> list[Any]:
    """The ``documents`` of a stored report (none when it is missing or unreadable)."""
    try:
        documents = json.loads(text or "{}").get("documents", [])
    except (ValueError, AttributeError):
        return []
    return [d if isinstance(d, dict) else {} for d in documents] if isinstance(documents, list) else []


class Parking:
    """The parked documents of one workspace; ``drain`` hands over the files concluded since
    it was last called."""

    def __init__(self, ws: Workspace, store: db.Store, settings: Settings, clock: Clock) -> None:
        self.ws, self.store, self.settings, self.clock = ws, store, settings, clock
        self.concluded: list[FileResult] = []

    def drain(self) -> list[FileResult]:
        drained, self.concluded = self.concluded, []
        return drained

    def waiting(self, references: list[str]) -> bool:
        """Whether documents wait for any of these references."""
        if not references:
            return False
        with self.store.read() as conn:
            return bool(db.parking.waiting_for(conn, references))

    def release(self, references: list[str]) -> None:
        """Apply the documents that waited for the orders (or invoices) just integrated."""
        if not references:
            return
        with self.store.read() as conn:
            waiting = db.parking.waiting_for(conn, references)
        for row in waiting:
            self._retake(row)

    def retry(self) -> None:
        """Take up parked documents whose order or invoice now exists. Within one process the
        integration of an order does it at once; this catches the order committed by another
        worker while the document was being parked."""
        with self.store.read() as conn:
            references = db.parking.now_resolvable(conn)
        self.release(references)

    def expire(self) -> None:
        """Reject the documents that waited more than ``park_days`` for their order."""
        now = self.clock()
        limit = iso(now - timedelta(days=self.settings.park_days))
        with self.store.read() as conn:
            rows = db.parking.expired(conn, limit)
        days = self.settings.park_days
        for row in rows:
            if row.kind == "invoice_status":
                issue = Issue("INVOICE_NOT_FOUND", f"no invoice {row.order_number} arrived within {days} days")
            else:
                issue = Issue("PARK_EXPIRED", f"no order {row.order_number} arrived within {days} days")
            outcome = Outcome(row.kind, row.order_number, DocumentOutcome.REJETE, [issue])
            with self.store.begin() as conn:
                status = self._conclude(conn, row, ParkState.EXPIRED, outcome, now)
            self._report(row, outcome, status, now)

    def _retake(self, row: Any) -> None:
        with self.store.read() as conn:
            data = db.files.get_blob(conn, row.sha256) or b""
        _bundle, documents = prepare(data, self.settings, self.clock().date())
        doc = documents[row.position]
        now = self.clock()
        with self.store.begin() as conn:
            if not db.parking.take(conn, row.id):
                return  # already taken up (by another worker)
            src = db.Source(row.file_id, row.sha256, iso(now))
            ctx = apply.Context(conn, self.settings, src, now.date(), self.settings.partner(row.partner))
            if doc.doc is None or doc.errors:
                outcome = Outcome(doc.kind, row.order_number, DocumentOutcome.REJETE, doc.errors)
            else:
                savepoint = db.savepoint(conn)
                outcome = apply.apply(ctx, doc.doc)
                (savepoint.rollback if outcome.outcome == DocumentOutcome.REJETE else savepoint.commit)()
            if outcome.outcome == DocumentOutcome.PARKED:
                return  # still waiting (e.g. another issuer's engagement with that number)
            state = ParkState.REJECTED if outcome.outcome == DocumentOutcome.REJETE else ParkState.APPLIED
            file_status = self._conclude(conn, row, state, outcome, now)
        write_responses(self.ws, self.store, ctx.emitted)
        self._report(row, outcome, file_status, now)
        self.release(ctx.released)

    def _conclude(self, conn: db.Connection, row: Any, state: ParkState, outcome: Outcome, now: datetime) -> FileStatus:
        """Close one parked document and return its file's status now."""
        db.parking.conclude(conn, row.id, state, iso(now))
        record = db.files.by_id(conn, row.file_id)
        after = after_parking(FileStatus(record.status), state, db.parking.states_of_file(conn, row.file_id))
        errors = json.loads(record.errors) + [
            report.located(e, outcome) for e in outcome.errors if e.severity == "error"
        ]
        db.files.change(conn, row.file_id, status=after, errors=report.dumps(errors))
        return after

    def _report(self, row: Any, outcome: Outcome, file_now: FileStatus, now: datetime) -> None:
        """A new integration report for a document taken out of parking (its status is the
        document's); the file moves to var/rejected/ when the whole file ends up rejected."""
        ack = self.ws.plan_ack(row.name)
        errors = [e for e in outcome.errors if e.severity == "error"]
        status = FileStatus.IN_REJETE if outcome.outcome == DocumentOutcome.REJETE else FileStatus.IN_INTEGRE
        result = FileResult(
            row.name, status, [outcome], errors, [e for e in outcome.errors if e.severity != "error"], ack
        )
        received = datetime.fromisoformat(row.received_at.replace("Z", "+00:00"))
        payload = report.payload(row.name, row.sha256, received, now, result)
        write_json(ack, payload)
        archived = self.ws.at(row.stored_as)
        if file_now == FileStatus.IN_REJETE and self.ws.rejected not in archived.parents and archived.exists():
            dest = self.ws.plan_rejected(from_text(row.name))
            self.ws.move(archived, dest)
            write_json(dest.with_name(dest.name + ".errors.json"), payload)
            with self.store.begin() as conn:
                db.files.change(conn, row.file_id, stored_as=self.ws.relative(dest))
        log.info("%s: %s after parking (%s)", row.name, status, outcome.number)
        self.concluded.append(result)
