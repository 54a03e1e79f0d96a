"""At start-up, before any new file: finish what a killed worker left in ``var/processing/``.

A file whose claim has a committed record with the same SHA-256 (and whose destination is
still free) is finished from the record: its report rewritten if missing, the file moved where
the store says. Any other claimed file goes back to the inbox and is processed again, nothing
of it having been committed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import store as db
from ..domain.names import NAME_MAX, from_text, size
from ..domain.outcomes import FileStatus
from ..workspace import HOST, Pending, Workspace, content_hash, worker, write_json

log = logging.getLogger("chorus_batch")


def recover(ws: Workspace, store: db.Store, only: str | None = None) -> int:
    """Finish or put back the files claimed in ``var/processing/``; return how many. When the
    store is exclusive (SQLite: the workspace lock is held), every claim is a dead worker's;
    else only the claims of workers of this host that are no longer running are taken up.
    ``only``: the claims of that worker (``host.pid``, a peer that stopped) and no other."""
    handled = 0
    waited: set[str] = set()
    for owner, item in ws.claimed():
        ours = owner == only if only else store.exclusive or _is_dead(owner)
        if not ours:
            continue  # a live worker's claim (PostgreSQL, several workers): not ours to touch
        if store.exclusive and not only and owner not in waited:
            _wait_gone(owner)
            waited.add(owner)
        with store.read() as conn:
            row = db.files.by_claim(conn, ws.relative(item.path))
        if row is not None and (row.sha256 != content_hash(item.path) or os.path.lexists(ws.at(row.stored_as))):
            row = None  # an earlier file of the same name claimed under the same path, long done
        if row is None:
            ws.unclaim(item)
            log.warning("%s: put back in the inbox (its processing was interrupted)", item.text)
        else:
            _finish(ws, store, item, row)
            log.warning("%s: %s, finished after an interruption", item.text, row.status)
        handled += 1
    return handled


def _finish(ws: Workspace, store: db.Store, item: Pending, row: Any) -> None:
    """A committed file's report written if missing, the file moved where the store says.
    Names recorded by a version that did not shorten them may not fit: the file then gets
    names that do, and its record says so."""
    dest, ack = ws.at(row.stored_as), ws.at(row.ack)
    if not (_fits(dest.name + ".errors.json") and _fits(ack.name)):
        rejected = row.status == FileStatus.IN_REJETE
        name = from_text(row.name)
        dest = ws.plan_rejected(name) if rejected else ws.plan_archive(name, datetime.now(UTC))
        ack = ws.plan_ack(row.name)
        with store.begin() as conn:
            db.files.change(conn, row.id, stored_as=ws.relative(dest), ack=ws.relative(ack))
        ws.release()
    if row.report and not ack.exists():
        write_json(ack, json.loads(row.report))
    if row.status == FileStatus.IN_REJETE and row.report:
        write_json(dest.with_name(dest.name + ".errors.json"), json.loads(row.report))
    ws.move(item.path, dest)


def _fits(name: str) -> bool:
    """Whether ``name`` and its temporary name (``.NAME.tmp``) are within the system's limit."""
    return size(name) + 5 <= NAME_MAX


def _is_dead(worker: str) -> bool:
    """Whether the worker named ``host.pid`` (a folder of var/processing/) has stopped; a
    worker of another host is never declared dead from here."""
    host, _, pid = worker.rpartition(".")
    if host != HOST or not pid.isdigit():
        return False
    # our own PID: claims from an earlier life of this PID, impossible while we run
    return int(pid) == os.getpid() or not alive(int(pid))


def prune(ws: Workspace) -> None:
    """Once a run (or a batch of ``watch``) is over: the empty folders this worker and the
    stopped ones claimed into are removed; a live worker's are left to it."""
    ws.prune(lambda owner: owner != worker() and not _is_dead(owner))


ORPHAN_GRACE = 5.0  # seconds a peer of a killed run may take to end (it watches its run every 0.2 s)


def _wait_gone(worker: str) -> None:
    """The workspace is ours (its lock is held), yet a claimer of this host may still run: a
    peer of a run that was just killed, which ends within a fraction of a second. Its claims
    are only taken up once it has; a process still alive after ``ORPHAN_GRACE`` has reused the
    PID and is not a worker."""
    host, _, pid = worker.rpartition(".")
    if host != HOST or not pid.isdigit() or int(pid) == os.getpid():
        return
    deadline = time.monotonic() + ORPHAN_GRACE
    while alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)


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
