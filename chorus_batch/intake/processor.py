"""Files through the store: claim → read (``read``) → commit → finish.

``commit`` is the one entry that stores files: a batch of claimed files in one transaction, a
savepoint per file and per document. It is the per-file boundary: a ``ChorusError`` becomes a
rejection with its code, and any other exception is a bug — logged with its traceback, reported
as ``INTERNAL_ERROR``, the file kept in ``var/rejected/`` — so one bad file never stops a run;
only a failure of the store itself (``StoreError``) stops the batch, which rolls back whole.
``finish`` then writes the batch's order responses (``outbox``), its integration reports, moves
its files where the store says, and releases the parked documents its orders were waiting for
(``parking``). ``watch`` runs these steps for each batch it takes; ``lots`` interleaves them
with other processes.

Order of effects: the store commits first (with the planned paths and the report itself); then
the responses, the report, the move — so ``recovery`` can finish any of these after a kill.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import apply
from .. import store as db
from ..apply import Emitted
from ..config import Settings
from ..domain.outcomes import DocumentOutcome, FileStatus, Outcome, file_status
from ..errors import Issue
from ..workspace import Pending, Workspace, readable_json, write_bytes
from . import report
from .outbox import write_responses
from .parking import Parking, deadline
from .read import Prepared, Ready, read_all
from .report import Clock, FileResult, iso, utc_now

log = logging.getLogger("chorus_batch")

RETRIES = 3  # attempts for a file that meets a concurrent worker's update (PostgreSQL) or a lock


@dataclass
class Claimed:
    """A file taken out of the inbox, with what is known of it."""

    item: Pending
    received: datetime | None = None  # when it was last written (read with it)
    size: int = 0
    sha: str = ""


@dataclass
class Stored:
    """A file whose processing is written in its batch's transaction; once that commits, its
    responses are written, then its report, then it moves to ``dest``."""

    claimed: Claimed
    result: FileResult
    dest: Path
    report: str  # the integration report, as its file and the file's record hold it
    emitted: list[Emitted] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # references whose parked documents may now apply


class _Refused(Exception):
    """Every document of a file was refused; carries the outcomes out of its savepoint."""

    def __init__(self, outcomes: list[Outcome], warnings: list[Issue]) -> None:
        super().__init__("refused")
        self.outcomes, self.warnings = outcomes, warnings
        self.errors = [e for o in outcomes for e in o.errors]


class Processor:
    """Processes the files of one workspace against one store."""

    def __init__(self, ws: Workspace, store: db.Store, settings: Settings, clock: Clock = utc_now) -> None:
        self.ws, self.store, self.settings, self.clock = ws, store, settings, clock
        self.batch_files = store.batch_files
        self.parking = Parking(ws, store, settings, clock)

    def claim(self, items: Sequence[Pending]) -> list[Claimed]:
        """Take ``items`` out of the inbox; those another worker took first are left out."""
        claimed = []
        for item in items:
            taken = self.ws.claim(item)
            if taken is not None:
                claimed.append(Claimed(taken))
        return claimed

    def read(self, claimed: Sequence[Claimed]) -> list[Ready]:
        """Read and check claimed files (no store)."""
        return read_all([c.item.path for c in claimed], self.settings, self.clock().date())

    def commit(self, claimed: Sequence[Claimed], ready: Sequence[Ready]) -> list[Stored]:
        """Store claimed files in one transaction (a savepoint per file). If the transaction
        fails as a whole (a ``StoreError``: the store busy, unreachable, full...), nothing of the
        batch is applied and the names planned for it are free again: its claimed files are the
        caller's to put back in the inbox (``lots.put_back``), or ``recovery``'s when the failure
        is ``uncertain`` (a server lost during the commit may have committed it)."""
        mark = self.ws.plans_made()
        try:
            with self.store.begin() as conn:
                known = db.files.StoredFiles(conn, [r.sha for r in ready if r.sha])
                apply.expect(conn, [p.doc for r in ready for p in r.prepared or () if p.doc is not None])
                return [self._in_savepoint(conn, c, r, known) for c, r in zip(claimed, ready, strict=True)]
        except BaseException:
            self.ws.release(mark)
            raise

    def finish(self, batch: list[Stored], release: bool = True) -> list[FileResult]:
        """After a batch's commit: its order responses, its reports, the moves of its files
        where the store says, then (``release``) the parked documents its orders release."""
        write_responses(self.ws, self.store, [e for stored in batch for e in stored.emitted])
        lines = [self._conclude(stored) for stored in batch]
        if log.isEnabledFor(logging.INFO) and lines:  # one record for the batch: a line a file
            log.info("\n".join(lines))
        self.ws.release()
        if release:
            self.parking.release([number for stored in batch for number in stored.released])
        return [stored.result for stored in batch]

    def independent(self, batch: list[Stored]) -> bool:
        """Whether a committed batch needs nothing more of the store: no order response to
        write and mark, no parked document waiting for its orders."""
        if any(stored.emitted for stored in batch):
            return False
        return not self.parking.waiting([number for stored in batch for number in stored.released])

    # -- one file inside the batch's transaction ------------------------------------------------

    def _in_savepoint(self, conn: db.Connection, c: Claimed, ready: Ready, known: db.files.StoredFiles) -> Stored:
        """A file whose documents are all refused, or that meets a bug or its own bad data (a
        value the database refuses), has its writes rolled back and is recorded as rejected, so
        one bad file never stops a run. A failure of the store itself (connection lost, disk
        full, locked beyond the busy timeout: ``Store.failure``) is no file's fault: it
        escapes as a ``StoreError`` and the whole batch rolls back."""
        planned = self.ws.plans_made()
        for attempt in range(1, RETRIES + 1):
            savepoint = db.savepoint(conn)
            try:
                stored = self._process(conn, c, ready, known)
            except _Refused as refused:
                self._roll_back(savepoint, planned)
                return self._reject(conn, c, refused.errors, refused.warnings, refused.outcomes)
            except Exception as exc:  # the per-file boundary: a bug must not lose the file or stop the run
                failure = self.store.failure(exc)
                if failure is not None:  # the store's, not the file's: the batch stops here
                    raise failure from exc
                self._roll_back(savepoint, planned)
                if not isinstance(exc, db.CONFLICTS):
                    log.exception("internal error while processing %s", c.item.text)
                    return self._internal_error(conn, c)
                if attempt < RETRIES:
                    # another worker (PostgreSQL) committed the same engagement or file first, or
                    # held a lock: the next attempt sees its work (DUPLICATE, ORDER_ALREADY_EXISTS)
                    log.info("%s: concurrent update, processed again (%s)", c.item.text, type(exc).__name__)
                    continue
                log.exception("database error while processing %s", c.item.text)
                return self._internal_error(conn, c)
            savepoint.commit()
            return stored
        raise AssertionError("unreachable")

    def _roll_back(self, savepoint: Any, planned: int) -> None:
        """Undo a file's writes and free the names planned for it."""
        savepoint.rollback()
        self.ws.release(planned)

    def _internal_error(self, conn: db.Connection, c: Claimed) -> Stored:
        issue = Issue("INTERNAL_ERROR", "unexpected error inside chorus-batch; the file is kept for a retry")
        return self._reject(conn, c, [issue])

    def _process(self, conn: db.Connection, c: Claimed, ready: Ready, known: db.files.StoredFiles) -> Stored:
        c.size, c.sha = ready.size, ready.sha
        c.received = datetime.fromtimestamp(ready.mtime, UTC) if ready.mtime is not None else self.clock()
        if ready.failure is not None:
            log.error("internal error while reading %s:\n%s", c.item.text, ready.failure)
            return self._internal_error(conn, c)
        if ready.data is None:  # unreadable, not a regular file, too large
            return self._reject(conn, c, ready.rejected or [])
        first = known.first(c.sha)
        if first is not None:
            return self._duplicate(conn, c, first)
        if ready.rejected is not None:  # not even recognised: no document to report
            return self._reject(conn, c, ready.rejected)
        prepared = ready.prepared or []
        if all(p.errors for p in prepared):
            docs = [Outcome(p.kind, p.number, DocumentOutcome.REJETE, p.errors, p.member) for p in prepared]
            return self._reject(conn, c, [e for p in prepared for e in p.errors], _warnings(prepared), docs)
        return self._integrate(conn, c, ready.data, prepared)

    def _integrate(self, conn: db.Connection, c: Claimed, data: bytes, prepared: list[Prepared]) -> Stored:
        """The file's record is written first (its documents name it), with the report the file
        gets when every document is integrated as read: only another outcome rewrites it."""
        now = self.clock()
        dest, ack = self.ws.plan_archive(c.item.name, now), self.ws.plan_ack(c.item.text)
        kinds = ",".join(p.kind for p in prepared)
        integrated = [Outcome(p.kind, p.number, DocumentOutcome.INTEGRE, member=p.member) for p in prepared]
        expected = FileResult(c.item.text, FileStatus.IN_INTEGRE, integrated, [], _warnings(prepared), ack)
        payload = report.payload(c.item.text, c.sha, c.received or now, now, expected)
        text = readable_json(payload)
        file_id = self._record(conn, c, expected, kinds, dest, now, payload, text)
        src = db.Source(file_id, db.files.put_blob(conn, data, c.sha), iso(now))
        ctx = apply.Context(conn, self.settings, src, now.date(), self.settings.partner(c.item.partner_text))
        alone = len(prepared) == 1  # a refused lone document is rolled back with its file's savepoint
        outcomes = [self._apply_one(ctx, file_id, i, p, alone) for i, p in enumerate(prepared)]
        status = file_status(o.outcome for o in outcomes)
        if status == FileStatus.IN_REJETE:
            raise _Refused(outcomes, _warnings(prepared))
        warnings = expected.warnings + report.warnings_of(outcomes)
        result = FileResult(c.item.text, status, outcomes, report.errors_of(outcomes), warnings, ack)
        if result != expected:
            payload = report.payload(c.item.text, c.sha, c.received or now, now, result)
            text = readable_json(payload)
            db.files.change(conn, file_id, status=status, errors=report.dumps(payload["errors"]), report=text)
        return Stored(c, result, dest, text, ctx.emitted, ctx.released)

    def _apply_one(self, ctx: apply.Context, file_id: int, position: int, p: Prepared, alone: bool) -> Outcome:
        if p.doc is None or p.errors:
            return Outcome(p.kind, p.number, DocumentOutcome.REJETE, p.errors, p.member)
        savepoint = None if alone else db.savepoint(ctx.conn)
        outcome = apply.apply(ctx, p.doc)
        if outcome.member != p.member:  # a bundle's member (dataclasses.replace costs, file after file)
            outcome = replace(outcome, member=p.member)
        if savepoint is not None:
            (savepoint.rollback if outcome.outcome == DocumentOutcome.REJETE else savepoint.commit)()
        if outcome.outcome == DocumentOutcome.PARKED:
            db.parking.park(ctx.conn, file_id, position, p.kind, outcome.number or "", ctx.src.now)
            if outcome.waiting is not None:
                until = deadline(ctx.src.now, self.settings.park_days)
                outcome = replace(outcome, waiting=replace(outcome.waiting, until=until))
        return outcome

    # -- endings --------------------------------------------------------------------------------

    def _duplicate(self, conn: db.Connection, c: Claimed, first: Any) -> Stored:
        message = f"same content as {first.name!r} received at {first.processed_at}; nothing applied again"
        docs = [Outcome(kind, None, DocumentOutcome.DUPLICATE) for kind in first.kinds.split(",") if kind]
        return self._applied_nothing(
            conn, c, FileStatus.DUPLICATE, docs, [Issue("DUPLICATE_DOCUMENT", message)], [], first.kinds
        )

    def _reject(
        self,
        conn: db.Connection,
        c: Claimed,
        errors: list[Issue],
        warnings: list[Issue] | None = None,
        docs: list[Outcome] | None = None,
    ) -> Stored:
        docs = docs or []
        kinds = ",".join(d.kind for d in docs)
        return self._applied_nothing(conn, c, FileStatus.IN_REJETE, docs, errors, warnings or [], kinds)

    def _applied_nothing(
        self,
        conn: db.Connection,
        c: Claimed,
        status: FileStatus,
        docs: list[Outcome],
        errors: list[Issue],
        warnings: list[Issue],
        kinds: str,
    ) -> Stored:
        """Record a file that applied nothing (rejected or duplicate)."""
        now = self.clock()
        rejected = status == FileStatus.IN_REJETE
        dest = self.ws.plan_rejected(c.item.name) if rejected else self.ws.plan_archive(c.item.name, now)
        result = FileResult(c.item.text, status, docs, errors, warnings, self.ws.plan_ack(c.item.text))
        payload = report.payload(c.item.text, c.sha, c.received or now, now, result)
        text = readable_json(payload)
        self._record(conn, c, result, kinds, dest, now, payload, text)
        return Stored(c, result, dest, text)

    def _record(
        self,
        conn: db.Connection,
        c: Claimed,
        result: FileResult,
        kinds: str,
        dest: Path,
        now: datetime,
        payload: dict[str, Any],
        text: str,
    ) -> int:
        """Insert the file's record with its report (``payload``, as ``text``)."""
        assert result.ack is not None and c.received is not None
        return db.files.add(
            conn,
            name=c.item.text,
            partner=c.item.partner_text,
            sha256=c.sha,
            size=c.size,
            received_at=iso(c.received),
            processed_at=iso(now),
            status=result.status,
            kinds=kinds,
            errors=report.dumps(payload["errors"]),
            stored_as=self.ws.relative(dest),
            ack=self.ws.relative(result.ack),
            claimed_as=self.ws.relative(c.item.path),
            report=text,
        )

    def _conclude(self, stored: Stored) -> str:
        """After the commit: the report first, then the file moves where the store says it is
        (a crash in between is finished by ``recovery``, which finds the file still claimed).
        Returns the file's line for the log."""
        result = stored.result
        assert result.ack is not None
        text = (stored.report + "\n").encode("utf-8")
        write_bytes(result.ack, text)
        if result.status == FileStatus.IN_REJETE:
            write_bytes(stored.dest.with_name(stored.dest.name + ".errors.json"), text)
        try:
            self.ws.move(stored.claimed.item.path, stored.dest)
        except FileNotFoundError:  # (a missing destination folder is made again by ``move``)
            log.warning("%s: gone from var/processing/ before it could be moved; its report is written", result.name)
        codes = ", ".join(sorted({e.code for e in result.errors}))
        docs = ", ".join(f"{d.kind} {d.number or '?'} {d.outcome}" for d in result.documents)
        return f"{result.name}: {result.status} [{docs}] {codes}"


def _warnings(prepared: list[Prepared]) -> list[Issue]:
    return [w for p in prepared for w in p.warnings]
