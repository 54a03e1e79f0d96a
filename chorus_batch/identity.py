"""Which workspace a store belongs to, decided before the store is opened.

The workspace's first command (``init``, or a ``run`` in a bare folder) gives it an id, a UUID 4,
recorded in the store (``store_meta``, migration 5) and in ``var/workspace.id``. Every command
that opens the store (``Session.store``) goes through ``before_open``, then ``after_open``:

* ``before_open`` looks at the store without creating or migrating it (``store.identity.looking``)
  and refuses (``StoreError``, exit 2) a store that is missing (``STORE_MISSING``), holds no
  received file (``STORE_EMPTY``) or is another workspace's (``STORE_FOREIGN``) while the
  workspace has a history (``Workspace.history``: its id file, reports, archived or rejected
  files). A SQLite store is thus refused before its file is made again.
* A workspace and a store that have no id yet (made before this check existed) adopt one at their
  first command, when the store agrees with the workspace (``_disagreement``): it holds received
  files and knows the newest reports of ``outbox/acks/`` (or, without reports, the newest files
  archived or rejected).
* ``after_open`` records what is to be recorded (the store first, then the workspace; the id the
  store holds wins, so workers starting together on a new database agree) and checks that the
  store opened is the one looked at.

A command run with ``--db`` outside any workspace (no ``var/``) records nothing. ``Guard`` is
``watch``'s look at its store (a SQLite file deleted or replaced under it stops it),
``new_store`` the deliberate fresh start of ``init --new-store``, ``check`` the report of
``store check``.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import store as db
from .errors import StoreError
from .workspace import Workspace

SAMPLE = 16  # the newest reports (or archived files) an adopted store must know
TO_RESTORE = "restore the store from its latest backup (then `chorus-batch store check`)"
TO_RESTART = "start again on purpose with `chorus-batch init --new-store`"


@dataclass
class Plan:
    """What ``after_open`` does once the store is open: which id the store must hold, whether
    it is recorded in the store (``record``) and in ``var/workspace.id`` (``write``)."""

    where: str
    file: Path | None
    seen: str | None  # the id the store held when it was looked at
    expected: str | None = None  # the id it holds once open (None: none, a store read outside a workspace)
    record: bool = False
    write: bool = False


@dataclass(frozen=True)
class Opened:
    """The store as ``after_open`` left it: the id it holds and, for SQLite, its file and the
    file's identity on the disk (device, inode), which ``Guard`` compares."""

    id: str | None
    file: Path | None
    inode: tuple[int, int] | None


@dataclass
class StoreCheck:
    """The report of ``store check``: what was found (label, value), then what deserves a look."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewStore:
    """What ``init --new-store`` did: the new store, its id, and where the old store's files went."""

    where: str
    id: str
    kept: list[Path]


class _Workspace:
    """What the workspace shows, read before the store is looked at: its id and (for a workspace
    without one) its history. In that order, whatever another worker does meanwhile (it records
    the store's id before the workspace's, and commits a file before writing its report), a
    trace seen here is already in the store looked at next."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.id = ws.read_id()
        self._history = ws.history() if self.id is None else None  # with an id: it has a history

    @property
    def worked(self) -> bool:
        return self.id is not None or bool(self._history)

    def shows(self) -> str:
        """The history, as messages give it."""
        return ", ".join(self._history if self._history is not None else self.ws.history())


def before_open(ws: Workspace, url: db.identity.Address) -> Plan:
    """Look at the store of ``url`` (without creating it) and decide what opening it means for
    ``ws``; raise ``StoreError`` for a store this workspace must not use."""
    seen = _Workspace(ws)
    with db.identity.looking(url) as found:
        return decide(seen, found, writable=ws.var.is_dir())


def decide(seen: _Workspace, found: db.identity.Look, writable: bool) -> Plan:
    """The rules of the module docstring, for the store ``found`` and the workspace as ``seen``.
    ``writable``: the workspace can record an id (its ``var/`` exists)."""
    ws, wid, where = seen.ws, seen.id, found.where
    plan = Plan(where, found.file, found.id)
    if not found.exists:
        if seen.worked:
            raise StoreError(
                f"the store {where} is missing, but this workspace has a history ({seen.shows()}); "
                f"nothing was done: {TO_RESTORE}, or {TO_RESTART}",
                code="STORE_MISSING",
            )
        return _new(plan, writable)
    if wid is not None and found.id is not None:
        if wid != found.id:
            raise _foreign(where, f"the store records workspace {found.id}, this workspace is {wid}")
        plan.expected = wid
        return plan
    if not seen.worked:  # a new workspace: it takes the store's id, or gives it one
        if found.id is None:
            return _new(plan, writable)
        plan.expected, plan.write = found.id, writable
        return plan
    if not found.files:
        raise StoreError(
            f"the store {where} holds no received file, but this workspace has a history ({seen.shows()}); "
            f"nothing was done: give the workspace its own store (check --db and CHORUS_BATCH_DB), {TO_RESTORE}, "
            f"or {TO_RESTART} (on PostgreSQL, into a new database)",
            code="STORE_EMPTY",
        )
    if (reason := _disagreement(ws, found)) is not None:
        raise _foreign(where, reason)
    # adoption: the store and the workspace agree; the id either holds, or a new one
    plan.expected = found.id or wid or str(uuid.uuid4())
    plan.record, plan.write = writable and found.id is None, writable and wid is None
    return plan


def _new(plan: Plan, writable: bool) -> Plan:
    if writable:
        plan.expected, plan.record, plan.write = str(uuid.uuid4()), True, True
    return plan


def _foreign(where: str, reason: str) -> StoreError:
    return StoreError(
        f"the store {where} is not this workspace's: {reason}; nothing was done: use this workspace's own "
        f"store (check --db and CHORUS_BATCH_DB), {TO_RESTORE}, or {TO_RESTART}",
        code="STORE_FOREIGN",
    )


def traces(ws: Workspace, count: int = SAMPLE) -> tuple[str, list[db.identity.Trace]]:
    """The newest files of the workspace its store must know: its reports, or, when
    ``outbox/acks/`` holds none, its archived and rejected files; and where they are."""
    reports = ws.newest_reports(count)
    if reports:
        return "reports in outbox/acks/", [_report_trace(ws, path) for path in reports]
    kept = ws.newest_kept(count)
    return "files in var/archive/ and var/rejected/", [db.identity.Trace(ws.relative(p)) for p in kept]


def _report_trace(ws: Workspace, path: Path) -> db.identity.Trace:
    """A report and the file it names (a later report of a parked document is not its file's
    ``ack``: the file's name and SHA-256 find it)."""
    try:
        payload = json.loads(path.read_bytes())
        name, sha = payload.get("file"), payload.get("sha256")
    except (OSError, ValueError, AttributeError):
        name = sha = None
    return db.identity.Trace(
        ws.relative(path), name if isinstance(name, str) else None, sha if isinstance(sha, str) else None
    )


def _disagreement(ws: Workspace, found: db.identity.Look) -> str | None:
    """Why the store (which holds received files) is not the one of ``ws`` (no id to compare),
    or ``None`` when the newest reports (or archived files) of the workspace are known to it."""
    what, sample = traces(ws)
    unknown = found.unknown(sample)
    if not unknown:
        return None
    return (
        f"it does not know {len(unknown)} of the {len(sample)} newest {what} "
        f"(for instance {unknown[0].path}): it is an older copy, or another workspace's store"
    )


def after_open(ws: Workspace, store: db.Store, plan: Plan) -> Opened:
    """Record what ``plan`` says (the store first, then ``var/workspace.id``) and check that the
    store opened holds the id expected (another process may have replaced it meanwhile)."""
    found: str | None
    if plan.record and plan.expected is not None:
        found = db.identity.claim(store, plan.expected)
        if found != plan.expected and not plan.write:  # another id was recorded meanwhile
            raise _foreign(plan.where, f"the store records workspace {found}, this workspace is {plan.expected}")
    else:
        found = db.identity.recorded(store)
        if found != plan.seen:
            raise StoreError(
                f"the store {plan.where} changed while it was being opened (it records {found or 'no workspace'}, "
                f"{plan.seen or 'none'} was seen first); nothing was done: try again, and see "
                "`chorus-batch store check`",
                code="STORE_FOREIGN",
            )
    if plan.write and found is not None:
        current = ws.read_id()
        if current is None:
            ws.write_id(found)
        elif current != found:
            raise _foreign(plan.where, f"the store records workspace {found}, this workspace is {current}")
    inode = None
    if plan.file is not None:
        st = os.stat(plan.file)
        inode = (st.st_dev, st.st_ino)
    return Opened(found, plan.file, inode)


class Guard:
    """``watch``'s look at its store, ``guard(full)``: a SQLite file must still be the one opened
    (a ``stat``: before every batch and every pass of the loop); with ``full`` (at every rescan)
    the store must also still record the workspace's id (a query, SQLite and PostgreSQL).

    Raises:
        StoreError: STORE_MISSING (deleted or replaced), STORE_EMPTY or STORE_FOREIGN.
    """

    def __init__(self, store: db.Store, opened: Opened) -> None:
        self.store, self.opened = store, opened

    def __call__(self, full: bool) -> None:
        opened = self.opened
        if opened.file is not None:
            try:
                st = os.stat(opened.file)
            except FileNotFoundError:
                raise StoreError(
                    f"the store {opened.file} was deleted while watch ran; watch stopped before its next batch: "
                    f"{TO_RESTORE} and start watch again, or {TO_RESTART}",
                    code="STORE_MISSING",
                ) from None
            if (st.st_dev, st.st_ino) != opened.inode:
                raise StoreError(
                    f"the store {opened.file} was replaced while watch ran; watch stopped before its next batch: "
                    "start it again (it checks the store it finds)",
                    code="STORE_MISSING",
                )
        if full and opened.id is not None:
            found = db.identity.recorded(self.store)
            if found != opened.id:
                raise StoreError(
                    f"the store {db.describe(self.store.engine.url)} no longer records this workspace "
                    f"({found or 'no workspace'} instead of {opened.id}); watch stopped: {TO_RESTORE}",
                    code="STORE_EMPTY" if found is None else "STORE_FOREIGN",
                )


def new_store(ws: Workspace, url: db.identity.Address) -> NewStore:
    """A new, empty store with a new id, on purpose (``init --new-store``): a SQLite store's files
    (the database, its ``-wal`` and ``-shm``) are renamed aside with the time
    (``store.sqlite.2026-12-06T23-40-00.old``); a server database must hold no chorus-batch table.
    The caller holds the workspace lock (SQLite).

    Raises:
        StoreError: STORE_NOT_EMPTY (PostgreSQL).
    """
    file = db.sqlite_file(url)
    kept: list[Path] = []
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        kept = _set_aside(file)
    else:
        with db.identity.looking(url) as found:
            if found.tables:
                raise StoreError(
                    f"the database {found.where} already holds chorus-batch tables; chorus-batch never empties "
                    "one: create a new database (createdb) and give its URL with --db",
                    code="STORE_NOT_EMPTY",
                )
    store = db.Store(url)
    try:
        new = str(uuid.uuid4())
        if db.identity.claim(store, new) != new:
            raise StoreError(
                f"another process made the store {db.describe(url)} meanwhile; nothing was recorded",
                code="STORE_FOREIGN",
            )
    finally:
        store.close()
    ws.write_id(new)
    return NewStore(db.describe(url), new, kept)


def _set_aside(file: Path) -> list[Path]:
    """Rename the SQLite store ``file`` and its ``-wal`` / ``-shm`` companions to
    ``NAME.<UTC time>.old`` (same suffixes, so that the old store still opens whole)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S")
    companions = ("", "-wal", "-shm")
    base, n = f"{file.name}.{stamp}.old", 0
    while any(os.path.lexists(file.with_name(base + c)) for c in companions):
        n += 1
        base = f"{file.name}.{stamp}.{n}.old"
    kept = []
    for suffix in companions:  # the database first: a -wal left alone is never replayed into a new one
        source = file.with_name(file.name + suffix)
        if os.path.lexists(source):
            target = file.with_name(base + suffix)
            os.rename(source, target)
            kept.append(target)
    return kept


def check(ws: Workspace, url: db.identity.Address) -> StoreCheck:
    """``store check``: the store's integrity (SQLite ``PRAGMA quick_check``), its reachability and
    migration level (PostgreSQL), and whether it is this workspace's; nothing is written.

    Raises:
        StoreError: the store is missing, damaged, unreachable, empty or another workspace's.
    """
    report = StoreCheck()
    seen = _Workspace(ws)
    wid = seen.id
    with db.identity.looking(url) as found:
        report.rows.append(("store", f"{found.backend} {found.where}"))
        if not found.exists:
            raise StoreError(
                f"no store at {found.where}: {TO_RESTORE}"
                + (f", or {TO_RESTART}" if seen.worked else ", or create it with `chorus-batch init`"),
                code="STORE_MISSING",
            )
        if found.file is not None:
            report.rows.append(("size", f"{found.file.stat().st_size:,} bytes"))
            if faults := found.quick_check():
                shown = "; ".join(faults[:5]) + (f" (and {len(faults) - 5} more)" if len(faults) > 5 else "")
                raise StoreError(
                    f"the store {found.where} is damaged: PRAGMA quick_check found {shown}; "
                    "stop watch and the cron runs, keep the file aside and restore the latest backup",
                    code="STORE_CORRUPT",
                )
            report.rows.append(("integrity", "ok (PRAGMA quick_check)"))
        else:
            report.rows.append(("server", "reachable"))
        latest = db.identity.LATEST
        level = f"migration {found.level} of {latest}"
        if found.level < latest:
            level += " (the next command that opens the store brings it up to date)"
        report.rows.append(("schema", level))
        if found.level > latest:
            report.warnings.append("the store was made by a newer chorus-batch than this one")
        plan = decide(seen, found, writable=False)
        report.rows.append(("workspace", _identity_text(wid, found, plan)))
        report.rows.append(("files received", f"{found.received():,}"))
        what, sample = traces(ws)
        if sample and found.files:
            unknown = found.unknown(sample)
            report.rows.append(
                ("newest files", f"{len(sample) - len(unknown)} of the {len(sample)} newest {what} known")
            )
            if unknown:
                report.warnings.append(
                    f"the store does not know {len(unknown)} of the newest {what} (for instance {unknown[0].path}): "
                    "it is older than the workspace (a backup restored, or a store started again with "
                    "init --new-store); the files processed since are unknown to it, and the same bytes sent again "
                    "would be taken as new"
                )
    return report


def _identity_text(wid: str | None, found: db.identity.Look, plan: Plan) -> str:
    if found.id is not None and found.id == wid:
        return f"{wid} (the store and var/workspace.id agree)"
    if found.id is not None:
        return f"{found.id} (recorded in the store; var/workspace.id is written at the next command)"
    if wid is not None:
        return f"{wid} in var/workspace.id, none in the store yet (recorded at the next command)"
    if plan.expected is not None:
        return "none yet: the store agrees with the workspace; an id is given at the next command"
    return "none yet (a new workspace: an id is given at the next command)"
