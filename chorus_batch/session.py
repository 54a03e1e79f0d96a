"""One workspace as every command uses it: its folders, its configuration, its store, and the
partner acting on it (``orders --as``). Each method is one thing an operator or an accountant
does: set up, run the inbox once, watch it, validate files, search / show / export / answer
engagements, follow and retry files, write reports, build the demo.

The store is opened for the time of one call and closed after it, once ``identity`` has found
that it is this workspace's (a store missing, empty or another workspace's is refused, exit 2).
``run``, ``watch`` and the demo hold the workspace lock when the store is SQLite
(``Store.exclusive``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from . import apply, identity, reports, shapes
from . import config as configuration
from . import store as db
from .domain import amend
from .domain.habilitations import readable_structures
from .domain.model import LineChange, Party, PartyId, ResponseDocument, Totals
from .domain.names import as_text
from .domain.outcomes import DocumentOutcome, FileStatus, Outcome
from .domain.rules import check_reference
from .errors import ConfigError, Issue, NotFound, StoreError, WorkspaceError
from .intake import Processor, Verdict, read, verdict
from .intake import run as run_intake
from .intake.outbox import write_responses
from .intake.parking import waiting_documents
from .intake.report import FileResult, RunSummary, iso
from .workspace import Workspace


@dataclass(frozen=True)
class OrderQuery:
    """What ``orders search`` looks for (every field optional)."""

    status: str | None = None
    number: str | None = None  # ``*`` as a wildcard
    issuer: str | None = None  # SIRET / party id, or a part of the name
    supplier: str | None = None
    created_from: date | None = None  # inclusive
    created_to: date | None = None  # inclusive


@dataclass(frozen=True)
class Answer:
    """What an operator's answer did, or would do (``preview``)."""

    number: str
    issuer_id: str
    outcome: Outcome
    before: str
    after: str
    responses: list[str]  # order responses written (or that would be written) to outbox/responses/
    applied: bool = False
    change: dict[str, Any] | None = None  # an answer with changes: lines and totals before → after (shapes.amendment)

    @property
    def refused(self) -> Issue | None:
        """The first error when the answer was refused (nothing changed)."""
        return self.outcome.errors[0] if self.outcome.outcome == DocumentOutcome.REJETE else None


@dataclass
class Demo:
    """What the demo made: the files that did not end as expected, the reports written."""

    unexpected: list[str] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)


class _Preview(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__("preview")
        self.answer = answer


class Session:
    """A workspace folder (``workspace``), its configuration (``config``, default
    ``WORKSPACE/chorus-batch.toml``), its store (``db``, a SQLAlchemy URL; default the
    workspace's ``var/store.sqlite``) and the acting partner (``partner``). ``settings`` given
    here take the place of the configuration file."""

    opened: identity.Opened | None = None  # the store as the last ``store()`` found it (``watch``'s guard)
    _making = False  # ``init`` or the demo is making the workspace: it need not be one yet

    def __init__(
        self,
        workspace: Path,
        config: Path | None = None,
        db_url: str | None = None,
        partner: str | None = None,
        settings: configuration.Settings | None = None,
    ) -> None:
        self.ws = Workspace(workspace)
        self.config_path, self.db_url, self.partner = config, db_url, partner
        if settings is not None:
            self.__dict__["settings"] = settings  # what the cached property would have read

    @property
    def log_file(self) -> Path:
        return self.ws.var / "log" / "chorus-batch.log"

    @cached_property
    def settings(self) -> configuration.Settings:
        """The configuration, checked (``ConfigError`` names the key)."""
        if self.config_path is not None and not self.config_path.exists():
            raise ConfigError(f"configuration file {self.config_path} does not exist")
        return configuration.load(self.config_path or self.ws.config_path)

    @property
    def store_url(self) -> str | db.URL:
        """The store's URL: ``--db`` (text), else the workspace's ``var/store.sqlite``, built as
        a URL object (a path is never pasted into a URL's text)."""
        return self.db_url or db.sqlite_url(self.ws.store_path)

    @contextmanager
    def store(self) -> Iterator[db.Store]:
        """The store, open for the time of the block, once it is found to be this workspace's
        (``identity``: checked before a SQLite file is created): ``--db``'s URL, or the
        workspace's own file; every connection waits up to ``busy_timeout_seconds`` for a busy
        store.

        Raises:
            StoreError: the store is not this workspace's, or cannot be opened or used (exit 2;
            the message names it).
        """
        self._require()
        busy = self.settings.busy_timeout_seconds
        if not self.db_url:
            try:
                self.ws.var.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceError(f"cannot create {self.ws.var}: {exc.strerror}") from None
        plan = identity.before_open(self.ws, self.store_url)
        store = db.Store(self.store_url, busy)
        try:
            self.opened = identity.after_open(self.ws, store, plan)
            yield store
        finally:
            store.close()

    def _require(self) -> None:
        """Refuse a folder that is not a workspace (``WORKSPACE_NOT_FOUND``) before anything is made
        in it; except while ``init`` makes it, and for a store given by ``--db`` read from a folder
        with no ``var/`` (outside any workspace: nothing is written there, ``identity``)."""
        if not self._making and (not self.db_url or self.ws.var.is_dir()):
            self.ws.require()

    @contextmanager
    def _make(self) -> Iterator[None]:
        self._making = True
        try:
            yield
        finally:
            self._making = False

    @contextmanager
    def reading(self) -> Iterator[db.Connection]:
        with self.store() as store, store.read() as conn:
            yield conn

    @contextmanager
    def holding(self, store: db.Store) -> Iterator[None]:
        """The workspace lock for run / watch / demo on SQLite (``WorkspaceLocked``, exit 3, when
        held). On PostgreSQL several workers share a workspace: the database arbitrates."""
        if not store.exclusive:
            yield
            return
        with self.ws.locked(iso(datetime.now(UTC))):
            yield

    # -- set up, run, watch ---------------------------------------------------------------------

    def init(self, force: bool = False) -> list[Path]:
        """Create the folders, a commented configuration, the store and the workspace's id
        (idempotent); return what was created. The root and home folders are refused, and a
        folder that holds other things unless ``force`` (``Workspace.refuse_new``)."""
        self.ws.refuse_new(force)
        created = self.ws.init()
        self.settings  # noqa: B018 -- checked now: a broken configuration fails init
        had_id = self.ws.id_path.exists()
        with self._make(), self.store():
            pass
        if not had_id and self.ws.id_path.exists():
            created.append(self.ws.id_path)
        return created

    def ensure(self) -> None:
        """Refuse a folder that is not a workspace, check the configuration and create the missing
        folders (before ``run``, ``watch``, an answer or a retry)."""
        self.ws.require()
        self.settings  # noqa: B018 -- checked first: nothing is created for a broken configuration
        self.ws.ensure()

    def run(
        self,
        on_file: Callable[[FileResult], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> RunSummary:
        """Process every pending file of the inbox once (``intake.run``); once ``stop`` is set,
        end at the next file boundary (the summary's ``interrupted`` and ``left`` say so)."""
        self.ensure()
        with self.store() as store, self.holding(store):
            return run_intake(Processor(self.ws, store, self.settings), on_file, on_total, stop)

    def watch(
        self,
        stop: threading.Event,
        polling: bool | None = None,
        on_file: Callable[[FileResult], None] | None = None,
    ) -> int:
        """Process files as they arrive until ``stop`` is set; return how many were processed.
        ``on_file`` hears each file's result as it is known (parked documents concluded too)."""
        from .intake.watch import Watcher

        self.ensure()
        settings = self.settings
        with self.store() as store, self.holding(store):
            assert self.opened is not None
            processor = Processor(self.ws, store, settings)
            watcher = Watcher(
                processor,
                settings.stable_seconds,
                settings.rescan_seconds,
                settings.close_timeout_seconds,
                polling=polling,
                stop=stop,
                guard=identity.Guard(store, self.opened),
                on_file=on_file,
            )
            return watcher.run()

    def validate(self, paths: list[Path], strict: bool = False) -> list[Verdict]:
        """What the intake would make of each file from its content, under this workspace's
        settings (``strict``: as ``strict_rules = true``); nothing is stored or moved."""
        settings = dataclasses.replace(self.settings, strict_rules=True) if strict else self.settings
        today = datetime.now(UTC).date()
        return [verdict(as_text(str(path)), read(path, settings, today), settings) for path in paths]

    # -- the store itself --------------------------------------------------------------------------

    def new_store(self, force: bool = False) -> tuple[list[Path], identity.NewStore]:
        """``init --new-store``: the workspace set up (what was created is returned first), then a
        new, empty store with a new id; a SQLite store's old files are renamed aside, under the
        workspace lock (``WorkspaceLocked`` while ``run`` or ``watch`` works); a PostgreSQL
        database must hold no chorus-batch table (``STORE_NOT_EMPTY``). The folder is refused as
        ``init`` refuses it."""
        self.ws.refuse_new(force)
        created = self.ws.init()
        self.settings  # noqa: B018 -- checked now: a broken configuration changes nothing
        held = self.ws.locked(iso(datetime.now(UTC))) if db.identity.is_sqlite(self.store_url) else nullcontext()
        with held:
            return created, identity.new_store(self.ws, self.store_url)

    def check_store(self) -> identity.StoreCheck:
        """``store check``: integrity (SQLite), reachability and migration level (PostgreSQL),
        and whether the store is this workspace's; nothing is created or written."""
        self._require()
        return identity.check(self.ws, self.store_url)

    def backup_store(self, target: Path, force: bool = False) -> Path:
        """Copy the SQLite store into ``target`` with SQLite's online backup (safe while ``watch``
        runs); an existing ``target`` is replaced only with ``force``. Return the file written.

        Raises:
            StoreError: BACKUP_NOT_SQLITE (PostgreSQL: the message gives the ``pg_dump`` command),
            BACKUP_EXISTS, BACKUP_FOLDER_INVALID, or any refusal of ``store()``.
        """
        target = target.absolute()
        if not db.identity.is_sqlite(self.store_url):
            command = db.identity.pg_dump(self.store_url, target)
            masked = " (password masked: keep it in ~/.pgpass)" if ":***@" in command else ""
            raise StoreError(
                f"the store {db.describe(self.store_url)} is on a database server; back it up with "
                f"its own tool: {command}{masked}",
                code="BACKUP_NOT_SQLITE",
            )
        if os.path.lexists(target) and not force:
            raise StoreError(f"{target} exists; give another file, or --force to replace it", code="BACKUP_EXISTS")
        with self.store() as store:
            if not target.parent.is_dir() or not os.access(target.parent, os.W_OK | os.X_OK):
                why = "does not exist" if not target.parent.is_dir() else "cannot be written by this user"
                raise StoreError(
                    f"the folder {target.parent} {why}; create it (or give a file in a folder you can write), "
                    "nothing was written",
                    code="BACKUP_FOLDER_INVALID",
                )
            db.identity.backup(store, target)
        return target

    # -- engagements ----------------------------------------------------------------------------

    def check_partner(self) -> None:
        """The acting partner must be declared in the configuration."""
        if self.partner is not None and self.partner not in self.settings.partners:
            declared = ", ".join(sorted(self.settings.partners)) or "none"
            raise ConfigError(f"unknown partner {self.partner!r} (declared in the configuration: {declared})")

    def _readable(self) -> frozenset[str] | None:
        return readable_structures(self.settings.partner(self.partner)) if self.partner else None

    def _visible(self, conn: db.Connection, number: str, issuer: str | None) -> Any:
        row = db.engagements.resolve(conn, number, issuer)
        allowed = self._readable()
        if allowed is not None and row.supplier_id not in allowed:
            raise NotFound(f"no engagement {row.number!r} visible to partner {self.partner!r}")
        return row

    def search_orders(self, query: OrderQuery) -> list[dict[str, Any]]:
        """The engagements that match, as ``orders search`` shows them."""
        criteria = db.engagements.Criteria(
            status=query.status,
            number=query.number,
            issuer=query.issuer,
            supplier=query.supplier,
            created_from=query.created_from.isoformat() if query.created_from else None,
            created_to=query.created_to.isoformat() if query.created_to else None,
        )
        allowed = self._readable()
        with self.reading() as conn:
            rows = db.engagements.search(conn, criteria)
            return [shapes.engagement_summary(r) for r in rows if allowed is None or r.supplier_id in allowed]

    def show_order(self, number: str, issuer: str | None = None) -> dict[str, Any]:
        """Everything about one engagement (the portal's "Consulter")."""
        with self.reading() as conn:
            return shapes.engagement_detail(conn, self._visible(conn, number, issuer), self.settings.tolerance)

    def export_order(self, number: str, issuer: str | None, out_dir: Path) -> list[Path]:
        """Write the original document of every version and the embedded attachments into
        ``out_dir`` (the portal's "Télécharger"); return the files written."""
        with self.reading() as conn:
            files = shapes.export_files(conn, self._visible(conn, number, issuer))
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in files:
            target = out_dir / name
            target.write_bytes(data)
            written.append(target)
        return written

    def answer(
        self,
        code: str,
        number: str,
        issuer: str | None = None,
        reason: str | None = None,
        lines: tuple[LineChange, ...] = (),
        confirm: Callable[[Answer], bool] = lambda _plan: True,
    ) -> Answer:
        """Answer an engagement as its supplier: ``AP`` accept, ``RE`` refuse (with a reason),
        ``CA`` accept with changes (``lines``). The answer is first run in a transaction that
        is rolled back; ``confirm`` sees what it would do and may stop there (the plan is
        returned unapplied); then it is applied and its order response written. Files and
        commands go through the same rules (``apply``).

        The arguments are checked first, before the engagement is looked for (a usable number,
        a reason to refuse, usable quantities and prices: ``rules.check_reference``), then
        against its lines (``amend.check_changes``); a refused plan is returned, nothing done."""
        self.ensure()
        given = ResponseDocument(syntax="cli", number=None, order_number=number, code=code, reason=reason, lines=lines)
        if refused := check_reference(given):
            outcome = Outcome(given.kind, number, DocumentOutcome.REJETE, refused)
            return Answer(number, issuer or "", outcome, "", "", [])
        with self.store() as store:
            with store.read() as conn:
                row = self._visible(conn, number, issuer)
                current = db.engagements.current_lines(conn, row)
            if code == "CA" and (refused := amend.check_changes(current, lines, row.number)):
                outcome = Outcome(given.kind, row.number, DocumentOutcome.REJETE, refused)
                return Answer(row.number, row.issuer_id, outcome, row.status, row.status, [])
            response = dataclasses.replace(
                given, order_number=row.number, issuer=Party(None, (PartyId("", row.issuer_id, "id@cli"),))
            )
            plan = self._answer(store, response, row.issuer_id, commit=False)
            if plan.refused or not confirm(plan):
                return plan
            return self._answer(store, response, row.issuer_id, commit=True)

    def _answer(self, store: db.Store, response: ResponseDocument, issuer_id: str, commit: bool) -> Answer:
        now = datetime.now(UTC)
        try:
            with store.begin() as conn:
                row = db.engagements.resolve(conn, response.order_number, issuer_id)
                src = db.Source(None, None, iso(now))
                ctx = apply.Context(conn, self.settings, src, now.date(), self.settings.partner(self.partner), "cli")
                lines_before = db.engagements.current_lines(conn, row)
                totals_before = self._totals(conn, row)
                outcome = apply.apply(ctx, response)
                now_row = db.engagements.lock(conn, row.id)
                names = [e.name for e in ctx.emitted]
                change = None
                if response.code == "CA" and now_row.current_version != row.current_version:
                    lines_after = db.engagements.current_lines(conn, now_row)
                    totals_after = self._totals(conn, now_row)
                    change = shapes.amendment(lines_before, lines_after, totals_before, totals_after, row.currency)
                found = Answer(
                    row.number, row.issuer_id, outcome, row.status, now_row.status, names, applied=commit, change=change
                )
                if not commit or found.refused:
                    raise _Preview(found)
        except _Preview as preview:
            return preview.answer
        write_responses(self.ws, store, ctx.emitted)
        return found

    @staticmethod
    def _totals(conn: db.Connection, row: Any) -> Totals:
        document = db.engagements.current_document(conn, row.id, row.current_version)
        return db.codec.totals_from_dict(document.get("totals"))

    # -- files ------------------------------------------------------------------------------------

    def list_files(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every received file (with this status; ``PARKED``: also those holding a document
        still waiting), oldest first, with how many of its documents wait (``waiting``)."""
        with self.reading() as conn:
            waiting = db.parking.waiting_counts(conn)
            return [shapes.file_detail(r) | {"waiting": waiting.get(r.id, 0)} for r in db.files.listed(conn, status)]

    def file_history(self, name: str) -> list[dict[str, Any]]:
        """Every processing of the file ``name``, oldest first (``FILE_NOT_FOUND``: none)."""
        with self.reading() as conn:
            rows = db.files.by_name(conn, name)
            if not rows:
                raise NotFound(f"no received file named {name!r}", code="FILE_NOT_FOUND")
            park_days = self.settings.park_days
            found = []
            for row in rows:
                waiting = waiting_documents(conn, park_days, row.id)
                found.append(shapes.file_detail(row) | {"waiting": len(waiting), "waiting_documents": waiting})
            return found

    def waiting_documents(self) -> list[dict[str, Any]]:
        """Every parked document still waiting, oldest first: its file, what it waits for
        (order or invoice, number, issuer when the document names it) and until when."""
        with self.reading() as conn:
            return waiting_documents(conn, self.settings.park_days)

    def retry_file(self, name: str) -> str:
        """Put the rejected file ``name`` (its text form) back into the inbox; return where it
        is now, relative to the workspace, in text form."""
        self.ensure()
        rejected = [r for r in self.file_history(name) if r["status"] == FileStatus.IN_REJETE]
        if not rejected:
            raise NotFound(f"{name!r} was never rejected; only rejected files can be retried", code="FILE_NOT_FOUND")
        return self.ws.relative(self.ws.retry(rejected[-1]["stored_as"], name, rejected[-1]["partner"]))

    # -- reports ----------------------------------------------------------------------------------

    def write_reports(
        self,
        names: tuple[str, ...] = reports.REPORTS,
        out_dir: Path | None = None,
        fmt: str = "csv",
        excel_fr: bool = False,
        today: date | None = None,
        raw: bool = False,
    ) -> list[Path]:
        """The accountants' reports into ``out_dir`` (default ``outbox/reports``); ``raw``: CSV
        text cells as they are, for programs (``reports.write_reports``)."""
        if out_dir is None:  # written into the workspace's outbox/reports/: it must be one
            self.ws.require()
        settings, day, folder = self.settings, today or date.today(), out_dir or self.ws.reports
        if fmt == "csv":  # a big store's invoices.csv by a helper process (reports.helper)
            from .reports.helper import write_csv

            with self.store() as store:
                return write_csv(store, settings, folder, day, names, excel_fr, raw)
        with self.reading() as conn:
            return reports.write_reports(conn, settings, folder, day, names, fmt, excel_fr, raw)

    # -- demo -------------------------------------------------------------------------------------

    def demo(self, run_wave: Callable[[str, int], RunSummary] | None = None) -> Demo:
        """Build a demo workspace from the bundled examples and run the whole chain: three
        waves of files (orders; answers, changes and cancellations; invoices, credit notes and
        statuses), each dropped in the inbox then run (``run_wave(name, count)``, default
        ``run``), then every report. Files named ``bad-*`` are meant to be rejected, every
        other one to be integrated: ``Demo.unexpected`` names those that were not."""
        from .demo import waves

        self.init(force=True)  # its own folder, wherever it is: never / or the home folder
        outcome = Demo()
        for wave, files in waves():
            for name, data in files:
                target = self.ws.inbox / name
                if not target.exists():
                    target.write_bytes(data)
            summary = run_wave(wave, len(files)) if run_wave else self.run()
            outcome.unexpected += [r.name for r in summary.notable if not _expected(r)]
            rejected = {r.name for r in summary.notable if r.status == FileStatus.IN_REJETE}
            outcome.unexpected += sorted(
                name for name, _data in files if name.startswith("bad-") and name not in rejected
            )
        for fmt in ("csv", "html", "xlsx"):
            outcome.reports += self.write_reports(reports.REPORTS, fmt=fmt)
        return outcome


def _expected(result: FileResult) -> bool:
    """Demo files named ``bad-*`` are meant to be rejected; every other one to be integrated
    (``run`` keeps the files to look at: a ``bad-*`` file missing from them is checked apart)."""
    if result.name.startswith("bad-"):
        return result.status == FileStatus.IN_REJETE and all(e.code != "INTERNAL_ERROR" for e in result.errors)
    return result.status in (FileStatus.IN_INTEGRE, FileStatus.DUPLICATE)
