"""Input files, start to finish: claim → read once, hash, recognise, XSD, map, rules
(``preparation``; on a big inbox, peer processes take lots too) → duplicate check and store (a
batch of files per transaction, a savepoint per file and per document) → responses, reports →
move.

This is the per-file boundary: a ``ChorusError`` becomes a rejection with its code, and any
other exception is a bug — logged with its traceback, reported as ``INTERNAL_ERROR``, the file
kept in ``var/rejected/``. Nothing escapes to the caller, so one bad file never stops a run.

Order of effects: the store commits first (with the planned paths and the report itself); then
the order responses are written to ``outbox/responses/``, the integration report is written,
and the file is moved to where the store says it is — so ``recover`` can finish any of these
after a kill. Answers that arrived before their order are parked and applied by the run that
integrates the order; after ``park_days`` they are rejected.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import queue
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from . import engagements, formats, preparation
from .config import Settings
from .domain.model import Document
from .engagements import Emitted
from .errors import Issue, Outcome
from .preparation import Prepared, Ready, sha256_of
from . import store as db
from .workspace import HOST, Pending, Workspace, readable_json, worker, write_bytes, write_json

log = logging.getLogger("chorus_batch")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-26T21:43:03Z`` (isoformat is several times cheaper than strftime: per file)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


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
    """What a run did: counts by status, and the files an operator should look at (rejected,
    partly integrated, parked or with warnings). Cleanly integrated files are only counted, so
    memory stays flat however many files a run takes."""

    counts: Counter[str] = field(default_factory=Counter)
    notable: list[FileResult] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        self.counts[result.status] += 1
        if result.status not in ("IN_INTEGRE", "DUPLICATE") or result.warnings:
            self.notable.append(result)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        return 1 if self.counts["IN_REJETE"] or self.counts["IN_INTEGRE_PARTIEL"] else 0


@dataclass
class Claimed:
    """A file taken out of the inbox (or a parked file taken up again), with what is known of it."""

    item: Pending
    received: datetime | None = None  # when it was last written (read with it)
    size: int = 0
    sha: str = ""


@dataclass
class Done:
    """A file whose processing is written in the batch's transaction; once that commits, its
    responses are written, then its report, then it moves to ``dest``."""

    claimed: Claimed
    result: FileResult
    dest: Path
    report: str  # the integration report, as its file and the file's record hold it
    emitted: list[Emitted] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)  # engagements created: parked answers may now apply


def file_status(outcomes: Sequence[Outcome]) -> str:
    """The integration report status of a file from the outcomes of its documents."""
    kinds = {o.outcome for o in outcomes}
    if not kinds or kinds == {"REJETE"}:
        return "IN_REJETE"
    if "REJETE" in kinds:
        return "IN_INTEGRE_PARTIEL"
    if kinds == {"DUPLICATE"}:
        return "DUPLICATE"
    if "INTEGRE" not in kinds:
        return "PARKED"
    return "IN_INTEGRE"


# Files per transaction (their reports are written and their moves made after its commit). On
# PostgreSQL, where several workers share the store, each file commits on its own: a long
# transaction would hold the rows other workers need (parties, engagements) and deadlock them.
BATCH_FILES = {"sqlite": 400, "postgresql": 1}
RETRIES = 3  # attempts for a file that meets a concurrent worker's update (PostgreSQL) or a lock


class Processor:
    """Processes the files of one workspace against one store."""

    def __init__(self, ws: Workspace, store: db.Store, settings: Settings, clock: Clock = utc_now) -> None:
        self.ws, self.store, self.settings, self.clock = ws, store, settings, clock
        self.batch_files = BATCH_FILES.get(store.engine.dialect.name, 1)
        self.retaken: list[FileResult] = []  # parked files concluded since the last drain

    def run(self, on_file: Callable[[FileResult], None] | None = None) -> RunSummary:
        """Process every file pending in the inbox once, in dependency order, cut into lots of
        up to ``LOT_FILES`` files; on a big inbox, peer processes take lots too (``Peers``).
        The summary also counts the parked files this run concluded (applied, rejected or
        expired)."""
        summary = RunSummary()
        thresholds = preparation.calm_collector()
        try:
            self._run(summary, on_file)
        finally:
            gc.set_threshold(*thresholds)
        return summary

    def _run(self, summary: RunSummary, on_file: Callable[[FileResult], None] | None) -> None:
        def drain(results: list[FileResult]) -> None:
            for result in self.retaken + results:
                summary.add(result)
                if on_file:
                    on_file(result)
            self.retaken = []

        self.recover_responses()
        self.expire_parked()
        self.retry_parked()  # documents a killed run parked before their order's commit
        drain([])
        waiting = list(self.ws.pending())
        with Peers.start(self, len(waiting)) as peers:  # their fork server starts while the inbox is sorted
            for results in peers.share(self.ws.ordered(waiting, formats.sniff_rank)):
                drain(results)
        self.retry_parked()
        drain([])

    def store_lot(self, items: Sequence[Pending], turns: Turns, lot: int, check: Callable[[], None] = lambda: None) -> list[FileResult]:
        """Claim ``items``, read and check them, then, in the lot's turn (``Turns``), store them
        ``batch_files`` files per transaction. Once the last transaction has committed, the turn
        passes on while this lot's reports are written and its files moved, unless those could
        meet the next lots' (order responses, parked documents to take up): then they are done
        in the turn, after the earlier lots' own. A lot holding a name an earlier lot also has
        is stored once the earlier lots are finished (its report and archive names are
        planned in its transaction). The files this process took out of parking meanwhile are
        returned with the lot's."""
        claimed = self.claim(items)
        ready = preparation.read_and_prepare_all([c.item.path for c in claimed], self.settings, self.clock().date())
        turns.wait(lot, check)
        if turns.clash[lot]:  # its names are planned once the earlier lots' files are in place
            turns.wait_finished(lot, check)
        results: list[FileResult] = []
        for start in range(0, len(claimed), self.batch_files):
            end = start + self.batch_files
            batch = self._commit(claimed[start:end], ready[start:end])
            if end >= len(claimed) and self._finishes_alone(batch):
                turns.done(lot)
                results += self._after_commit(batch, unpark=False)
            else:
                turns.wait_finished(lot, check)
                results += self._after_commit(batch)
        if turns.turn.value == lot:
            turns.done(lot)
        turns.finished(lot)
        results, self.retaken = self.retaken + results, []
        return results

    def retry_parked(self) -> None:
        """Take up parked documents whose order or invoice now exists. Within one process the
        integration of an order does it at once; this catches the order committed by another
        worker while the document was being parked."""
        with self.store.read() as conn:
            numbers = db.parking.now_resolvable(conn)
        self._unpark(numbers)

    def process(self, item: Pending) -> FileResult | None:
        """Claim and process one inbox file; ``None`` if another worker took it first."""
        results = self.process_batch([item])
        return results[0] if results else None

    def process_batch(self, items: Sequence[Pending]) -> list[FileResult]:
        """Claim ``items``, read and check them here, then store them in one transaction."""
        claimed = self.claim(items)
        ready = preparation.read_and_prepare_all([c.item.path for c in claimed], self.settings, self.clock().date())
        return self._after_commit(self._commit(claimed, ready))

    def claim(self, items: Sequence[Pending]) -> list[Claimed]:
        """Take ``items`` out of the inbox; those another worker took first are left out."""
        claimed = []
        for item in items:
            taken = self.ws.claim(item)
            if taken is not None:
                claimed.append(Claimed(taken))
        return claimed

    def _commit(self, claimed: list[Claimed], ready: list[Ready]) -> list[Done]:
        """Store claimed files in one transaction (a savepoint per file). If the transaction
        fails as a whole, nothing of the batch is applied: its claimed files are put back in
        the inbox by ``recover`` at the next start."""
        with self.store.begin() as conn:
            return [self._in_savepoint(conn, c, r) for c, r in zip(claimed, ready, strict=True)]

    def _after_commit(self, batch: list[Done], unpark: bool = True) -> list[FileResult]:
        """After a batch's commit: its order responses, its reports, the moves of its files
        where the store says, then the parked documents its orders release."""
        write_responses(self.ws, self.store, [e for done in batch for e in done.emitted])
        for done in batch:
            self._conclude(done)
        self.ws.release()
        if unpark:
            self._unpark([number for done in batch for number in done.orders])
        return [done.result for done in batch]

    def _finishes_alone(self, batch: list[Done]) -> bool:
        """Whether a committed batch needs nothing more of the store: no order response to
        write and mark, no parked document waiting for its orders."""
        if any(done.emitted for done in batch):
            return False
        numbers = [number for done in batch for number in done.orders]
        if not numbers:
            return True
        with self.store.read() as conn:
            return not db.parking.waiting_for(conn, numbers)

    def _in_savepoint(self, conn: db.Connection, c: Claimed, ready: Ready) -> Done:
        """One file inside the batch's transaction. A file whose documents are all refused, or
        that meets a bug, has its writes rolled back and is recorded as rejected; nothing
        escapes, so one bad file never stops a run."""
        planned = self.ws.plans_made()
        for attempt in range(1, RETRIES + 1):
            savepoint = db.savepoint(conn)
            try:
                done = self._process(conn, c, ready)
            except _Refused as refused:
                self._roll_back(savepoint, planned)
                return self._reject(conn, c, refused.errors, refused.warnings, refused.outcomes)
            except (IntegrityError, OperationalError) as exc:
                self._roll_back(savepoint, planned)
                if attempt < RETRIES:
                    # another worker (PostgreSQL) committed the same engagement or file first, or
                    # held a lock: the next attempt sees its work (DUPLICATE, ORDER_ALREADY_EXISTS)
                    log.info("%s: concurrent update, processed again (%s)", c.item.name, type(exc).__name__)
                    continue
                log.exception("database error while processing %s", c.item.name)
                return self._internal_error(conn, c)
            except Exception:  # the per-file boundary: a bug must not lose the file or stop the run
                self._roll_back(savepoint, planned)
                log.exception("internal error while processing %s", c.item.name)
                return self._internal_error(conn, c)
            savepoint.commit()
            return done
        raise AssertionError("unreachable")

    def _roll_back(self, savepoint: db.savepoint, planned: int) -> None:
        """Undo a file's writes and free the names planned for it."""
        savepoint.rollback()
        self.ws.release(planned)

    def _internal_error(self, conn: db.Connection, c: Claimed) -> Done:
        c.sha = c.sha or sha256_of(c.item.path)
        issue = Issue("INTERNAL_ERROR", "unexpected error inside chorus-batch; the file is kept for a retry")
        return self._reject(conn, c, [issue])

    # -- the steps ------------------------------------------------------------------------------

    def _process(self, conn: db.Connection, c: Claimed, ready: Ready) -> Done:
        c.size, c.sha = ready.size, ready.sha
        c.received = datetime.fromtimestamp(ready.mtime, UTC) if ready.mtime is not None else _mtime(c.item.path, self.clock())
        if ready.failure is not None:
            log.error("internal error while reading %s:\n%s", c.item.name, ready.failure)
            return self._internal_error(conn, c)
        if ready.data is None:
            return self._reject(conn, c, [Issue("FILE_TOO_LARGE", f"{c.size} bytes; the limit is {self.settings.max_file_size} (max_file_size)")])
        first = db.files.stored_file(conn, c.sha)
        if first is not None:
            return self._duplicate(conn, c, first)
        if ready.rejected is not None:  # not even recognised: no document to report
            return self._reject(conn, c, ready.rejected)
        prepared = ready.prepared or []
        if all(p.errors for p in prepared):
            docs = [Outcome(p.kind, _number(p.doc), "REJETE", p.errors, p.member) for p in prepared]
            return self._reject(conn, c, [e for p in prepared for e in p.errors], _warnings(prepared), docs)
        return self._integrate(conn, c, ready.data, prepared)

    def _integrate(self, conn: db.Connection, c: Claimed, data: bytes, prepared: list[Prepared]) -> Done:
        now = self.clock()
        dest, ack = self.ws.plan_archive(c.item.name, now), self.ws.plan_ack(c.item.name)
        kinds = ",".join(p.kind for p in prepared)
        file_id = self._record(conn, c, FileResult(c.item.name, "IN_INTEGRE", ack=ack), kinds, dest, now)
        ctx = self._context(conn, db.Source(file_id, db.files.put_blob(conn, data, c.sha), iso(now)), c.item.partner)
        alone = len(prepared) == 1  # a refused lone document is rolled back with its file's savepoint
        outcomes = [self._apply_one(ctx, file_id, i, p, alone) for i, p in enumerate(prepared)]
        status = file_status(outcomes)
        if status == "IN_REJETE":
            raise _Refused(outcomes, _warnings(prepared))
        errors = [e for o in outcomes for e in o.errors if e.severity == "error" or o.outcome == "DUPLICATE"]
        result = FileResult(c.item.name, status, outcomes, errors, _warnings(prepared) + _warnings_of(outcomes), ack)
        payload = self._payload(c, now, result)
        report = readable_json(payload)
        db.files.change(conn, file_id, status=status, errors=_json(payload["errors"]), report=report)
        return Done(c, result, dest, report, ctx.emitted, ctx.orders_integrated)

    def _context(self, conn: db.Connection, src: db.Source, partner: str | None) -> engagements.Context:
        return engagements.Context(conn, self.settings, src, self.clock().date(), self.settings.partner(partner))

    def _apply_one(self, ctx: engagements.Context, file_id: int, position: int, p: Prepared, alone: bool = False) -> Outcome:
        if p.doc is None or p.errors:
            return Outcome(p.kind, _number(p.doc), "REJETE", p.errors, p.member)
        savepoint = None if alone else db.savepoint(ctx.conn)
        outcome = replace(engagements.apply(ctx, p.doc, p.encoded), member=p.member)
        if savepoint is not None:
            (savepoint.rollback if outcome.outcome == "REJETE" else savepoint.commit)()
        if outcome.outcome == "PARKED":
            db.parking.park(ctx.conn, file_id, position, p.kind, outcome.number or "", ctx.src.now)
        return outcome

    def recover_responses(self) -> None:
        with self.store.read() as conn:
            missing = db.answers.unwritten_responses(conn)
            emitted = [Emitted(r.response_file, db.files.get_blob(conn, r.response_sha256) or b"") for r in missing]
        if emitted:
            log.warning("writing %d order response(s) left unwritten by an interrupted run", len(emitted))
        write_responses(self.ws, self.store, emitted)

    # -- parked documents -------------------------------------------------------------------------

    def _unpark(self, numbers: list[str]) -> None:
        """Apply the documents that waited for the orders just integrated."""
        if not numbers:
            return
        with self.store.read() as conn:
            waiting = db.parking.waiting_for(conn, numbers)
        for row in waiting:
            self._retake(row)

    def _retake(self, row: Any) -> None:
        with self.store.read() as conn:
            data = db.files.get_blob(conn, row.sha256) or b""
        doc = preparation.prepare(data, self.settings, self.clock().date())[row.position]
        now = self.clock()
        with self.store.begin() as conn:
            if not db.parking.take(conn, row.id):
                return  # already taken up (by another worker)
            ctx = self._context(conn, db.Source(row.file_id, row.sha256, iso(now)), row.partner)
            if doc.doc is None or doc.errors:
                outcome = Outcome(doc.kind, row.order_number, "REJETE", doc.errors)
            else:
                savepoint = db.savepoint(conn)
                outcome = engagements.apply(ctx, doc.doc, doc.encoded)
                (savepoint.rollback if outcome.outcome == "REJETE" else savepoint.commit)()
            if outcome.outcome == "PARKED":
                return  # still waiting (e.g. another issuer's engagement with that number)
            file_status_now = self._resolve(conn, row, "REJECTED" if outcome.outcome == "REJETE" else "APPLIED", outcome, now)
        write_responses(self.ws, self.store, ctx.emitted)
        self._report_retaken(row, outcome, file_status_now, now)
        self._unpark(ctx.orders_integrated)

    def expire_parked(self) -> None:
        """Reject the documents that waited more than ``park_days`` for their order."""
        now = self.clock()
        limit = iso(now - timedelta(days=self.settings.park_days))
        with self.store.read() as conn:
            rows = db.parking.expired(conn, limit)
        for row in rows:
            if row.kind == "invoice_status":
                issue = Issue("INVOICE_NOT_FOUND", f"no invoice {row.order_number} arrived within {self.settings.park_days} days")
            else:
                issue = Issue("PARK_EXPIRED", f"no order {row.order_number} arrived within {self.settings.park_days} days")
            outcome = Outcome(row.kind, row.order_number, "REJETE", [issue])
            with self.store.begin() as conn:
                status = self._resolve(conn, row, "EXPIRED", outcome, now)
            self._report_retaken(row, outcome, status, now)

    def _resolve(self, conn: db.Connection, row: Any, state: str, outcome: Outcome, now: datetime) -> str:
        """Close one parked document and return its file's status, which only changes for what
        is known: a fully parked file gets its final status once none of its documents waits."""
        db.parking.conclude(conn, row.id, state, iso(now))
        before = db.files.by_id(conn, row.file_id).status
        states = db.parking.states_of_file(conn, row.file_id)
        if before == "PARKED":
            if "WAITING" in states:
                return before
            applied = states.count("APPLIED")
            after = "IN_INTEGRE" if applied == len(states) else "IN_REJETE" if applied == 0 else "IN_INTEGRE_PARTIEL"
        else:
            after = before if state == "APPLIED" else "IN_INTEGRE_PARTIEL"
        errors = json.loads(db.files.by_id(conn, row.file_id).errors) + [_located(e, outcome) for e in outcome.errors if e.severity == "error"]
        db.files.change(conn, row.file_id, status=after, errors=_json(errors))
        return after

    def _report_retaken(self, row: Any, outcome: Outcome, file_now: str, now: datetime) -> None:
        """A new integration report for a document taken out of parking (its status is the
        document's); the file moves to var/rejected/ when the whole file ends up rejected."""
        ack = self.ws.plan_ack(row.name)
        errors = [e for e in outcome.errors if e.severity == "error"]
        status = "IN_REJETE" if outcome.outcome == "REJETE" else "IN_INTEGRE"
        result = FileResult(row.name, status, [outcome], errors, [e for e in outcome.errors if e.severity != "error"], ack)
        payload = report_payload(row.name, row.sha256, datetime.fromisoformat(row.received_at.replace("Z", "+00:00")), now, result)
        write_json(ack, payload)
        archived = self.ws.root / row.stored_as
        if file_now == "IN_REJETE" and self.ws.rejected not in archived.parents and archived.exists():
            dest = self.ws.plan_rejected(row.name)
            self.ws.move(archived, dest)
            write_json(dest.with_name(dest.name + ".errors.json"), payload)
            with self.store.begin() as conn:
                db.files.change(conn, row.file_id, stored_as=self.ws.relative(dest))
        log.info("%s: %s after parking (%s)", row.name, status, outcome.number)
        self.retaken.append(result)

    # -- endings --------------------------------------------------------------------------------

    def _duplicate(self, conn: db.Connection, c: Claimed, first: Any) -> Done:
        issue = Issue("DUPLICATE_DOCUMENT", f"same content as {first.name!r} received at {first.processed_at}; nothing applied again")
        docs = [Outcome(kind, None, "DUPLICATE") for kind in first.kinds.split(",") if kind]
        return self._finish(conn, c, "DUPLICATE", docs, [issue], [], first.kinds)

    def _reject(
        self, conn: db.Connection, c: Claimed, errors: list[Issue], warnings: list[Issue] | None = None, docs: list[Outcome] | None = None
    ) -> Done:
        docs = docs or []
        c.size = c.size or c.item.path.stat().st_size
        return self._finish(conn, c, "IN_REJETE", docs, errors, warnings or [], ",".join(d.kind for d in docs))

    def _finish(
        self, conn: db.Connection, c: Claimed, status: str, docs: list[Outcome], errors: list[Issue], warnings: list[Issue], kinds: str
    ) -> Done:
        """Record a file that applied nothing (rejected or duplicate)."""
        now = self.clock()
        dest = self.ws.plan_rejected(c.item.name) if status == "IN_REJETE" else self.ws.plan_archive(c.item.name, now)
        result = FileResult(c.item.name, status, docs, errors, warnings, self.ws.plan_ack(c.item.name))
        payload = self._payload(c, now, result)
        report = readable_json(payload)
        self._record(conn, c, result, kinds, dest, now, payload, report)
        return Done(c, result, dest, report)

    def _record(
        self, conn: db.Connection, c: Claimed, result: FileResult, kinds: str, dest: Path, now: datetime, payload: dict[str, Any] | None = None, report: str | None = None
    ) -> int:
        """Insert the file's record; without ``payload`` and ``report``, its status and report
        are written at the end of its processing, in the same transaction."""
        return db.files.add(
            conn,
            name=c.item.name,
            partner=c.item.partner,
            sha256=c.sha,
            size=c.size,
            received_at=iso(c.received),
            processed_at=iso(now),
            status=result.status,
            kinds=kinds,
            errors=_json(payload["errors"]) if payload else "[]",
            stored_as=self.ws.relative(dest),
            ack=self.ws.relative(result.ack),  # type: ignore[arg-type]
            claimed_as=self.ws.relative(c.item.path),
            report=report,
        )

    def _payload(self, c: Claimed, now: datetime, result: FileResult) -> dict[str, Any]:
        return report_payload(c.item.name, c.sha, c.received, now, result)

    def _conclude(self, done: Done) -> None:
        """After the commit: the report first, then the file moves where the store says it is
        (a crash in between is finished by ``recover``, which finds the file still claimed)."""
        result = done.result
        report = (done.report + "\n").encode("utf-8")
        write_bytes(result.ack, report)  # type: ignore[arg-type]
        if result.status == "IN_REJETE":
            write_bytes(done.dest.with_name(done.dest.name + ".errors.json"), report)
        self.ws.move(done.claimed.item.path, done.dest)
        if log.isEnabledFor(logging.INFO):
            codes = ", ".join(sorted({e.code for e in result.errors}))
            docs = ", ".join(f"{d.kind} {d.number or '?'} {d.outcome}" for d in result.documents)
            log.info("%s: %s [%s] %s", result.name, result.status, docs, codes)

    # -- start-up -------------------------------------------------------------------------------

    def recover(self, exclusive: bool = True, only: str | None = None) -> int:
        """Finish what a killed worker left in ``var/processing/``: a file whose processing was
        committed is moved where the store says (its report rewritten if missing); any other
        claimed file goes back to the inbox and is processed again. Returns the files handled.
        ``exclusive`` (the SQLite workspace lock is held): every claim is a dead worker's; else
        only the claims of workers of this host that are no longer running are taken up.
        ``only``: the claims of that worker (``host.pid``, a peer that stopped) and no other."""
        handled = 0
        for owner, item in self.ws.claimed():
            ours = owner == only if only else exclusive or _is_dead(owner)
            if not ours:
                continue  # a live worker's claim (PostgreSQL, several workers): not ours to touch
            with self.store.read() as conn:
                row = db.files.by_claim(conn, self.ws.relative(item.path))
            if row is not None and (row.sha256 != sha256_of(item.path) or (self.ws.root / row.stored_as).exists()):
                row = None  # an earlier file of the same name claimed under the same path, long done
            if row is None:
                self.ws.unclaim(item)
                log.warning("%s: put back in the inbox (its processing was interrupted)", item.name)
            else:
                dest = self.ws.root / row.stored_as
                ack = self.ws.root / row.ack
                if row.report and not ack.exists():
                    write_json(ack, json.loads(row.report))
                if row.status == "IN_REJETE" and row.report:
                    write_json(dest.with_name(dest.name + ".errors.json"), json.loads(row.report))
                self.ws.move(item.path, dest)
                log.warning("%s: %s, finished after an interruption", item.name, row.status)
            handled += 1
        return handled


LOT_FILES = 400  # files a process reads and checks before its turn to store them
PEERS_MIN_FILES = 32  # below this, peer processes would cost more than they save


class Turns:
    """Which lot comes next, and whose turn it is to store: shared by a run and its peers.
    Lots are taken in their order (``take``); lot k is stored once lot k-1 is (``wait`` until
    the turn is k, ``done`` passes it on), so the store sees them one after the other, as if
    one process had done them all."""

    def __init__(self, context: Any, lots: int) -> None:
        self.lots = lots
        self.next, self.turn = context.RawValue("i", 0), context.RawValue("i", 0)
        self.owners = context.RawArray("i", max(lots, 1))  # the process that took each lot
        self.clash = context.RawArray("b", max(lots, 1))  # a name of the lot is in an earlier lot
        self.finished_lots = context.RawArray("b", max(lots, 1))  # reports written, files moved
        self.finished_below = context.RawValue("i", 0)  # every lot before this one is finished
        self.changed = context.Condition()

    def take(self) -> int | None:
        with self.changed:
            lot = self.next.value
            if lot >= self.lots:
                return None
            self.next.value, self.owners[lot] = lot + 1, os.getpid()
            return lot

    def wait(self, lot: int, check: Callable[[], None]) -> None:
        """Until it is ``lot``'s turn to store."""
        self._until(lambda: self.turn.value == lot, check)

    def wait_finished(self, lot: int, check: Callable[[], None]) -> None:
        """Until every lot before ``lot`` is finished (its reports written, its files moved)."""
        self._until(lambda: self.finished_below.value >= lot, check)

    def _until(self, ready: Callable[[], bool], check: Callable[[], None]) -> None:
        """``check`` runs between short waits, out of the lock."""
        while True:
            with self.changed:
                if ready() or self.changed.wait_for(ready, 0.2):
                    return
            check()

    def done(self, lot: int) -> None:
        """``lot`` is stored: the next may be."""
        with self.changed:
            self.turn.value = lot + 1
            self.changed.notify_all()

    def finished(self, lot: int) -> None:
        with self.changed:
            self.finished_lots[lot] = 1
            while self.finished_below.value < self.lots and self.finished_lots[self.finished_below.value]:
                self.finished_below.value += 1
            self.changed.notify_all()


class Peers:
    """Processes that share a big run's lots with it: each reads and checks the lot it took
    while another process stores the one before, then stores its own in turn (``Turns``). They
    come from a fork server that has imported ``ingest``, open the store themselves, and send
    their results and log records back. Should one stop, the run finishes what it left
    (``recover``) and stores its lot itself: a slower run, never a failed one."""

    def __init__(self, processor: Processor, count: int) -> None:
        self.processor, self.count = processor, count
        self.running: dict[int, Any] = {}  # pid -> process
        self.results: dict[int, list[FileResult]] = {}
        self.lots: list[Sequence[Pending]] = []
        self.queue: Any = None
        self.context = multiprocessing.get_context("forkserver")
        self.go = threading.Event()  # set once the lots are known (or the run ends)
        self.spawner = threading.Thread(target=self._spawn, name="chorus-batch-peers", daemon=True)
        if count:  # the fork server imports ``ingest`` while this process lists the inbox
            self.spawner.start()

    @classmethod
    @contextmanager
    def start(cls, processor: Processor, files: int) -> Iterator[Peers]:
        wanted = processor.settings.helpers
        if wanted is None:
            wanted = min(4, len(os.sched_getaffinity(0)) - 1)
        # a peer imports the run's main module again: not possible for a script read from stdin
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        available = "forkserver" in multiprocessing.get_all_start_methods() and (main_file is None or os.path.isfile(main_file))
        peers = cls(processor, wanted if available and files >= PEERS_MIN_FILES else 0)
        try:
            yield peers
        finally:
            peers.stop()

    def share(self, pending: Sequence[Pending]) -> Iterator[list[FileResult]]:
        """Store ``pending`` lot by lot with the peers; yield each lot's results in lot order."""
        size = LOT_FILES if not self.count else max(16, min(LOT_FILES, -(-len(pending) // (2 * (self.count + 1)))))
        self.lots = [pending[i : i + size] for i in range(0, len(pending), size)]
        self.turns = Turns(self.context, len(self.lots))
        seen: set[str] = set()
        for lot, items in enumerate(self.lots):
            keys = {_name_key(item.name) for item in items}
            self.turns.clash[lot] = not seen.isdisjoint(keys)
            seen |= keys
        self.queue = self.context.Queue()
        self.go.set()
        for lot in range(len(self.lots)):
            while lot not in self.results:
                self._receive(0)
                if lot in self.results:
                    break
                if (mine := self.turns.take()) is not None:
                    self.results[mine] = self.processor.store_lot(self.lots[mine], self.turns, mine, self.check)
                else:  # every lot is taken: wait for the peers'
                    self._receive(0.2)
                    self.check()
                    owner = self.turns.owners[lot]
                    if self.turns.finished_lots[lot] and owner != os.getpid() and not self._alive(owner):
                        self._lost(lot, owner)
            yield self.results.pop(lot)

    def _spawn(self) -> None:
        """In a thread: the fork server starts now, the peers once the lots are known (starting
        a process waits for the server's imports; the run lists and stores meanwhile)."""
        self.context.set_forkserver_preload(["chorus_batch.ingest"])
        forkserver.ensure_running()
        self.go.wait()
        if len(self.lots) < 2:
            return
        run = self.processor
        lots = [[(str(item.path), item.name, item.partner) for item in lot] for lot in self.lots]  # Paths pickle slowly
        args = (self.turns, lots, self.queue, run.ws.root, run.store.url, run.settings, run.clock, log.getEffectiveLevel(), os.getpid())
        try:
            for _ in range(self.count):
                process = self.context.Process(target=_peer, args=args, name="chorus-batch-peer", daemon=True)
                process.start()
                self.running[process.pid] = process
        except Exception as exc:  # no (more) peers (a clock that cannot be pickled...): the run does their lots
            log.warning("peer processes could not start (%s); the run goes on with %d", type(exc).__name__, len(self.running))
        log.info("%d lots of up to %d files: %d peer process(es) share them", len(self.lots), len(self.lots[0]), len(self.running))

    def _receive(self, timeout: float) -> None:
        """Take what the peers sent: each lot's results with its log records."""
        if self.queue is None:
            return
        try:
            message = self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
            while True:
                lot, results, records = message
                for record in records:
                    logging.getLogger(record.name).handle(record)
                if lot is not None:
                    self.results[lot] = results
                message = self.queue.get_nowait()
        except queue.Empty:
            pass

    def check(self) -> None:
        """Between waits: take the peers' results; if a peer has stopped with a lot in hand,
        finish that lot here. Its turn not yet passed: what it committed is finished, the rest
        put back and stored by the run; passed: its committed files are finished."""
        self._receive(0)
        turns = self.turns
        for lot in range(turns.finished_below.value, min(turns.turn.value + 1, turns.lots)):
            owner = turns.owners[lot]
            if owner in (0, os.getpid()) or turns.finished_lots[lot] or self._alive(owner):
                continue
            if turns.finished_lots[lot]:  # read again: a stopped peer changes nothing more
                continue
            log.warning("peer process %d stopped during lot %d; the run finishes that lot itself", owner, lot)
            self.processor.recover(only=worker(owner))
            turns.owners[lot] = os.getpid()
            if lot == turns.turn.value:
                self.results[lot] = self.processor.store_lot([item for item in self.lots[lot] if item.path.exists()], turns, lot)
            else:
                turns.finished(lot)
                self._lost(lot, owner)

    def _alive(self, pid: int) -> bool:
        process = self.running.get(pid)
        return process.is_alive() if process is not None else self.spawner.is_alive()  # (or being started)

    def _lost(self, lot: int, owner: int) -> None:
        """A lot finished by a peer that stopped before its results reached the run: its files
        are done (reports written, files moved), only their count is missing from the summary."""
        self._receive(0)  # what it sent before it stopped
        if lot not in self.results:
            log.error("the results of lot %d were lost with peer process %d: its reports are in outbox/acks", lot, owner)
            self.results[lot] = []

    def stop(self) -> None:
        self.go.set()
        if self.spawner.is_alive():
            self.spawner.join()
        for process in self.running.values():
            if process.is_alive():
                process.terminate()
            process.join(5)
        self.running.clear()


def _peer(
    turns: Turns, lots: list[list[tuple[str, str, str | None]]], results: Any, root: Path, url: str, settings: Settings, clock: Clock, level: int, run_pid: int
) -> None:
    """A peer process: take lots until none is left, store each in its turn, send the results
    (the queue's own thread sends them while the next lot is read)."""
    preparation.peer_start(run_pid)
    records = _Records()
    log.handlers, log.propagate = [records], False
    log.setLevel(level)
    store = db.Store(url)
    try:
        processor = Processor(Workspace(root), store, settings, clock)
        while (lot := turns.take()) is not None:
            done = processor.store_lot([Pending(Path(path), name, partner) for path, name, partner in lots[lot]], turns, lot)
            results.put((lot, done, records.take()))
    except BaseException:
        log.exception("peer process %d failed", os.getpid())
        raise
    finally:
        results.put((None, [], records.take()))
        store.close()


def _name_key(name: str) -> str:
    """What a file's report, archive and rejected names are made from: files whose keys differ
    never compete for a name (``a.xml`` may become ``a.xml.1``, ``a.xml.1.json``, and
    ``a.xml.errors.json`` sits beside a rejected ``a.xml``)."""
    return re.sub(r"(\.\d+)+$", "", name.removesuffix(".errors.json"))


class _Records(logging.Handler):
    """A peer's log records, kept for the run's own log (their text made here: the arguments
    of a message need not cross to the run)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text, record.exc_info = logging.Formatter().formatException(record.exc_info), None
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken


def _mtime(path: Path, otherwise: datetime) -> datetime:
    """When ``path`` was last written (a file its reading could not tell it of)."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return otherwise


def _is_dead(worker: str) -> bool:
    """Whether the worker named ``host.pid`` (a folder of var/processing/) has stopped; a
    worker of another host is never declared dead from here."""
    host, _, pid = worker.rpartition(".")
    if host != HOST or not pid.isdigit():
        return False
    # our own PID: claims from an earlier life of this PID, impossible while we run
    return int(pid) == os.getpid() or not preparation.alive(int(pid))


def report_payload(name: str, sha: str, received: datetime, now: datetime, result: FileResult) -> dict[str, Any]:
    """The integration report of SPEC §10 (plus ``warnings``) for one file."""
    return {
        "file": name,
        "sha256": sha,
        "status": result.status,
        "received_at": iso(received),
        "processed_at": iso(now),
        "documents": [
            {"kind": d.kind, "number": d.number, "outcome": d.outcome, "errors": [e.as_dict() for e in d.errors if e.severity == "error"]}
            | ({"member": d.member} if d.member else {})
            for d in result.documents
        ],
        "errors": [_located(e, _owner(e, result.documents)) for e in result.errors],
        "warnings": [w.as_dict() for w in result.warnings],
    }


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _owner(issue: Issue, documents: list[Outcome]) -> Outcome | None:
    return next((d for d in documents if any(e is issue for e in d.errors)), None)


def _located(issue: Issue, document: Outcome | None) -> dict[str, object]:
    """An error of the report: its fields plus the document (number) it belongs to (SPEC §7)."""
    return {**issue.as_dict(), "document": document.number if document else None}


def _number(doc: Document | None) -> str | None:
    return engagements.number_of(doc) or None if doc is not None else None


def _warnings(prepared: list[Prepared]) -> list[Issue]:
    return [w for p in prepared for w in p.warnings]


def _warnings_of(outcomes: list[Outcome]) -> list[Issue]:
    return [e for o in outcomes for e in o.errors if e.severity != "error"]


def write_responses(ws: Workspace, store: db.Store, emitted: Sequence[Emitted]) -> None:
    """Write order responses to outbox/responses/ and record that they are there."""
    for item in emitted:
        write_bytes(ws.responses / item.name, item.data)
        log.info("order response %s written", item.name)
    if emitted:
        with store.begin() as conn:
            db.answers.mark_responses_written(conn, [item.name for item in emitted])


class _Refused(Exception):
    """Internal: every document of a file was refused; carries the outcomes out of its savepoint."""

    def __init__(self, outcomes: list[Outcome], warnings: list[Issue]) -> None:
        super().__init__("refused")
        self.outcomes, self.warnings = outcomes, warnings
        self.errors = [e for o in outcomes for e in o.errors]


