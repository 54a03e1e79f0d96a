"""The CSV reports of a big store on two CPUs: ``invoices.csv`` (two invoices an engagement or
more: the biggest report) is written by a helper process while this one writes the others.
Both read the same snapshot of the store (``Store.shared_read``), so the four files agree with
each other as if one transaction had read them all.

The helper starts from a fork server that has imported this module; it ignores SIGINT (the
command hears it and ends the helper) and ends on SIGTERM, its temporary file removed. A helper
that cannot start, or that stops without an answer, costs time, never the reports: this
process then writes ``invoices.csv`` itself, from its own snapshot. A failure of the store in
the helper is the command's (``StoreError``, exit 2), as it would have been here.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from multiprocessing import forkserver, resource_tracker
from pathlib import Path
from typing import Any

from .. import store as db
from ..config import Settings
from ..errors import ChorusError, StoreError
from ..store import reports as queries
from . import REPORTS, checked, csv_name, write_reports

HELPER_MIN_INVOICES = 200_000  # below this, starting a process costs more than it saves
_STOPPING = {signal.SIGINT, signal.SIGTERM}
_START_WAIT = 60.0  # seconds for the helper to start and open its read, beyond the busy timeout


def write_csv(
    store: db.Store,
    settings: Settings,
    out_dir: Path,
    today: date,
    names: Sequence[str] = REPORTS,
    excel_fr: bool = False,
    raw: bool = False,
) -> list[Path]:
    """``write_reports`` in CSV, ``invoices.csv`` by a helper process when it is worth one (a
    second CPU, ``helpers`` not 0, other reports asked for too, a big store)."""
    wanted = checked(names, excel_fr, raw)
    with store.read() as conn:
        helped = "invoices" in wanted and len(wanted) > 1 and _worth_a_helper(conn, settings)
        if not helped:
            return write_reports(conn, settings, out_dir, today, wanted, "csv", excel_fr, raw)
    target = out_dir / csv_name("invoices", excel_fr)
    with _Helper(store, settings, today, target, excel_fr, raw) as helper, store.shared_read(helper.share) as conn:
        mine = tuple(n for n in wanted if n != "invoices" or not helper.ready)
        paths = write_reports(conn, settings, out_dir, today, mine, "csv", excel_fr, raw)
        if helper.ready:
            paths.append(
                target
                if helper.done()
                else write_reports(conn, settings, out_dir, today, ("invoices",), "csv", excel_fr, raw)[0]
            )
    return sorted(paths, key=lambda path: REPORTS.index(path.name.split(".")[0]))


def _worth_a_helper(conn: db.Connection, settings: Settings) -> bool:
    cpus = len(os.sched_getaffinity(0))
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)  # imported again by the helper
    startable = "forkserver" in multiprocessing.get_all_start_methods() and (
        main_file is None or os.path.isfile(main_file)
    )
    return startable and settings.helpers != 0 and cpus > 1 and queries.invoices_at_most(conn) >= HELPER_MIN_INVOICES


class _Helper:
    """The helper process and the pipe to it: ``share`` gives it the snapshot and waits until
    its read has begun (``ready``), ``done`` until it has written its file."""

    def __init__(
        self, store: db.Store, settings: Settings, today: date, target: Path, excel_fr: bool, raw: bool
    ) -> None:
        self.ready = False
        self.wait = store.busy_timeout + _START_WAIT
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        self.pipe, theirs = context.Pipe()
        args = (store.url, store.busy_timeout, settings, today, target, excel_fr, raw, theirs)
        self.process: Any = None
        try:
            with _blocked():  # a Ctrl-C while the fork server imports would print its traceback
                resource_tracker.ensure_running()
                forkserver.ensure_running()
            self.process = context.Process(target=_helper, args=args, name="chorus-batch-report", daemon=True)
            self.process.start()
        except Exception:  # no helper (no fork server here...): this process writes it all
            self.process = None
        theirs.close()

    def __enter__(self) -> _Helper:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
        self.pipe.close()

    def share(self, snapshot: str) -> None:
        """Hand the helper the snapshot; return once it reads it (``ready``) or is lost."""
        if self.process is None:
            return
        self.pipe.send(snapshot)
        self.ready = self._answer(time.monotonic() + self.wait) == "ready"

    def done(self) -> bool:
        """Wait for the helper's file: ``False`` when it stopped without it (lost); a failure
        of the store there is raised here."""
        return self._answer(None) == "done"

    def _answer(self, deadline: float | None) -> str:
        while deadline is None or time.monotonic() < deadline:
            if self.pipe.poll(0.1):
                try:
                    message = self.pipe.recv()
                except EOFError:
                    return "lost"
                if isinstance(message, tuple):  # a failure of the store, as the helper met it
                    _kind, text, code, name = message
                    raise StoreError(text, code=code, store=name)
                return str(message)
            if not self.process.is_alive():
                return "lost"
        return "lost"


@contextmanager
def _blocked() -> Iterator[None]:
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _helper(
    url: db.URL,
    busy_timeout: float,
    settings: Settings,
    today: date,
    target: Path,
    excel_fr: bool,
    raw: bool,
    pipe: Any,
) -> None:
    """The helper process: read the snapshot it is given, write ``invoices.csv``, answer
    ``ready`` then ``done`` (or the store's failure; nothing when anything else went wrong:
    the command then writes the file itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)  # blocked since the fork server's start
    from .build import stream_rows
    from .write import write_lines

    try:
        store = db.Store(url, busy_timeout)
        try:
            with store.read(pipe.recv()) as conn:
                pipe.send("ready")
                chunks = (chunk for _name, chunk in stream_rows(conn, settings, today, ("invoices",), joined=True))
                write_lines("invoices", chunks, target, excel_fr, raw)
        finally:
            store.close()
        pipe.send("done")
    except StoreError as failure:
        pipe.send(("store", failure.message, failure.code, failure.store))
    except ChorusError:
        pass  # the command meets it again when it writes the file itself


def _end(_signum: int, _frame: Any) -> None:
    raise SystemExit(1)  # the temporary file of the report is removed on the way out
