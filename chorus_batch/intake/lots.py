"""The speed protocol of ``run``, behind one seam (``store_in_lots``): the inbox, sorted in
dependency order, is cut into lots; on a big inbox, peer processes take lots too. Each process
claims and reads the lot it took while another stores the lot before, then stores its own in
its turn (``Turns``): lot k's transaction waits for lot k-1's commit, so the store sees the lots
one after the other, exactly as one process would. The processor knows nothing of this: a lot
is its steps (claim, read, commit, finish) with waits in between.

What could meet a later lot is kept in the turn or waits for the earlier lots to be finished: a
lot that emitted order responses or releases parked documents finishes before passing the turn,
and a lot holding a file name an earlier lot also has (``_name_key``) plans its names once the
earlier lots' reports and files are in place. A peer claims into its own
``var/processing/<host>.<pid>/``, sends its results and log records back on a queue, and ends at
once when the run is gone. If a peer stops with a lot in hand, the run recovers that peer's claims
(what it committed is finished) and stores the rest of the lot itself: a slower run, never a
failed one.

The garbage collector is tuned here too (``tuned_collector``), at a run's entry and a peer's.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from .. import formats
from .. import store as db
from ..config import Settings
from ..workspace import Pending, Workspace, worker
from .processor import Processor
from .recovery import alive, recover
from .report import Clock, FileResult

log = logging.getLogger("chorus_batch")

LOT_FILES = 400  # files a process reads and checks before its turn to store them
PEERS_MIN_FILES = 32  # below this, peer processes would cost more than they save


def store_in_lots(processor: Processor, pending: list[Pending]) -> Iterator[list[FileResult]]:
    """Store ``pending`` (the inbox as listed) in dependency order, lot by lot, with peer
    processes on a big inbox; yield each lot's results in lot order. The fork server of the
    peers starts while the inbox is sorted."""
    with Peers.start(processor, len(pending)) as peers:
        yield from peers.share(processor.ws.ordered(pending, formats.sniff_rank))


@contextmanager
def tuned_collector() -> Iterator[None]:
    """For a run: what is loaded so far (modules, schemas, compiled statements) is moved out of
    the cyclic garbage collector's way, and its young generation is collected every 50,000 new
    objects instead of 700 (a file's objects die with it, by their reference counts; collecting
    them young cost 2 % of a run). What was frozen stays so: it lives as long as the process,
    and the interpreter's last collection, when the command ends, then skips it (unfrozen, it
    cost that collection 0.1 s)."""
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(50_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def store_lot(
    processor: Processor, items: Sequence[Pending], turns: Turns, lot: int, check: Callable[[], None]
) -> list[FileResult]:
    """Claim ``items`` and read them, then, in the lot's turn, store them ``batch_files`` files
    per transaction. Once the last transaction has committed, the turn passes on while this
    lot's reports are written and its files moved, unless those could meet the next lots'
    (order responses, parked documents to take up): then they are done in the turn, after the
    earlier lots' own. The parked files concluded meanwhile are returned with the lot's."""
    claimed = processor.claim(items)
    ready = processor.read(claimed)
    turns.wait(lot, check)
    if turns.clash[lot]:  # its names are planned once the earlier lots' files are in place
        turns.wait_finished(lot, check)
    results: list[FileResult] = []
    size = processor.batch_files
    for start in range(0, len(claimed), size):
        end = start + size
        batch = processor.commit(claimed[start:end], ready[start:end])
        if end >= len(claimed) and processor.independent(batch):
            turns.done(lot)
            results += processor.finish(batch, release=False)
        else:
            turns.wait_finished(lot, check)
            results += processor.finish(batch)
    if turns.turn.value == lot:
        turns.done(lot)
    turns.finished(lot)
    return processor.parking.drain() + results


class Turns:
    """Which lot comes next, and whose turn it is to store: shared by a run and its peers.
    Lots are taken in their order (``take``); lot k is stored once lot k-1 is (``wait`` until
    the turn is k, ``done`` passes it on), so the store sees them one after the other, as if
    one process had done them all.

    No condition variable: a process killed while asleep in a ``multiprocessing.Condition``
    leaves the next ``notify_all`` waiting for it forever. The waits poll the shared values
    instead (every millisecond, against lots of a fraction of a second), and only ``take`` holds
    a lock, for the few instructions of a counter's increment. The turn and each lot's end have
    one writer each: the process that owns the lot."""

    POLL = 0.001  # seconds between two looks at the shared values
    CHECK = 0.2  # seconds between two calls of a waiter's ``check``

    def __init__(self, context: Any, lots: int) -> None:
        self.lots = lots
        self.next, self.turn = context.RawValue("i", 0), context.RawValue("i", 0)
        self.owners = context.RawArray("i", max(lots, 1))  # the process that took each lot
        self.clash = context.RawArray("b", max(lots, 1))  # a name of the lot is in an earlier lot
        self.finished_lots = context.RawArray("b", max(lots, 1))  # reports written, files moved
        self.taking = context.Lock()

    def take(self) -> int | None:
        with self.taking:
            lot: int = self.next.value
            if lot >= self.lots:
                return None
            self.next.value, self.owners[lot] = lot + 1, os.getpid()
            return lot

    def wait(self, lot: int, check: Callable[[], None]) -> None:
        """Until it is ``lot``'s turn to store."""
        self._until(lambda: self.turn.value == lot, check)

    def wait_finished(self, lot: int, check: Callable[[], None]) -> None:
        """Until every lot before ``lot`` is finished (its reports written, its files moved)."""
        self._until(lambda: self.first_unfinished() >= lot, check)

    def first_unfinished(self) -> int:
        """The first lot whose reports are not all written (``lots`` when every one is)."""
        return next((lot for lot in range(self.lots) if not self.finished_lots[lot]), self.lots)

    def _until(self, ready: Callable[[], bool], check: Callable[[], None]) -> None:
        next_check = time.monotonic() + self.CHECK
        while not ready():
            time.sleep(self.POLL)
            if time.monotonic() >= next_check:
                check()
                next_check = time.monotonic() + self.CHECK

    def done(self, lot: int) -> None:
        """``lot`` is stored: the next may be."""
        self.turn.value = lot + 1

    def finished(self, lot: int) -> None:
        self.finished_lots[lot] = 1


class Peers:
    """Processes that share a big run's lots with it. They come from a fork server that has
    imported the intake, open the store themselves, and send their results and log records
    back. Should one stop, the run finishes what it left (``recover``) and stores its lot
    itself."""

    def __init__(self, processor: Processor, count: int) -> None:
        self.processor, self.count = processor, count
        self.running: dict[int, Any] = {}  # pid -> process
        self.results: dict[int, list[FileResult]] = {}
        self.lots: list[Sequence[Pending]] = []
        self.queue: Any = None
        self.context = multiprocessing.get_context("forkserver")
        self.go = threading.Event()  # set once the lots are known (or the run ends)
        self.spawner = threading.Thread(target=self._spawn, name="chorus-batch-peers", daemon=True)
        if count:  # the fork server imports the intake while this process lists the inbox
            self.spawner.start()

    @classmethod
    @contextmanager
    def start(cls, processor: Processor, files: int) -> Iterator[Peers]:
        wanted = processor.settings.helpers
        if wanted is None:
            wanted = min(4, len(os.sched_getaffinity(0)) - 1)
        # a peer imports the run's main module again: not possible for a script read from stdin
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        forkable = "forkserver" in multiprocessing.get_all_start_methods()
        available = forkable and (main_file is None or os.path.isfile(main_file))
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
                    self.results[mine] = store_lot(self.processor, self.lots[mine], self.turns, mine, self.check)
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
        self.context.set_forkserver_preload(["chorus_batch.intake.lots"])
        forkserver.ensure_running()
        self.go.wait()
        if len(self.lots) < 2:
            return
        run = self.processor
        lots = [[(str(item.path), item.name, item.partner) for item in lot] for lot in self.lots]  # Paths pickle slowly
        level = log.getEffectiveLevel()
        args = (self.turns, lots, self.queue, run.ws.root, run.store.url, run.settings, run.clock, level, os.getpid())
        try:
            for _ in range(self.count):
                process = self.context.Process(target=_peer, args=args, name="chorus-batch-peer", daemon=True)
                process.start()
                assert process.pid is not None  # a started process has one
                self.running[process.pid] = process
        except Exception as exc:  # no (more) peers (a clock that cannot be pickled...): the run does their lots
            message = "peer processes could not start (%s); the run goes on with %d"
            log.warning(message, type(exc).__name__, len(self.running))
        message = "%d lots of up to %d files: %d peer process(es) share them"
        log.info(message, len(self.lots), len(self.lots[0]), len(self.running))

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
        for lot in range(turns.first_unfinished(), min(turns.turn.value + 1, turns.lots)):
            owner = turns.owners[lot]
            if owner in (0, os.getpid()) or turns.finished_lots[lot] or self._alive(owner):
                continue
            if turns.finished_lots[lot]:  # read again: a stopped peer changes nothing more
                continue
            log.warning("peer process %d stopped during lot %d; the run finishes that lot itself", owner, lot)
            recover(self.processor.ws, self.processor.store, only=worker(owner))
            turns.owners[lot] = os.getpid()
            if lot == turns.turn.value:
                items = [item for item in self.lots[lot] if item.path.exists()]
                self.results[lot] = store_lot(self.processor, items, turns, lot, self.check)
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
            log.error(
                "the results of lot %d were lost with peer process %d: its reports are in outbox/acks", lot, owner
            )
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
    turns: Turns,
    lots: list[list[tuple[str, str, str | None]]],
    results: Any,
    root: Path,
    url: str,
    settings: Settings,
    clock: Clock,
    level: int,
    run_pid: int,
) -> None:
    """A peer process: take lots until none is left, store each in its turn, send the results
    (the queue's own thread sends them while the next lot is read)."""
    _end_with(run_pid)
    records = _Records()
    log.handlers, log.propagate = [records], False
    log.setLevel(level)
    store = db.Store(url)
    try:
        with tuned_collector():
            processor = Processor(Workspace(root), store, settings, clock)
            while (lot := turns.take()) is not None:
                items = [Pending(Path(path), name, partner) for path, name, partner in lots[lot]]
                done = store_lot(processor, items, turns, lot, lambda: None)
                results.put((lot, done, records.take()))
    except BaseException:
        log.exception("peer process %d failed", os.getpid())
        raise
    finally:
        results.put((None, [], records.take()))
        store.close()


def _end_with(run_pid: int) -> None:
    """A peer ends as soon as the run that started it is gone (killed, its peers would otherwise
    wait forever for a turn that never comes, or go on with a lot the next run recovers): a
    thread watches the run and terminates the peer as ``Peers.stop`` would, at once, whatever
    it is doing (its transaction rolls back; its claims are the next run's to recover). A run
    that is dead but not yet reaped by its parent counts as gone."""

    def watch() -> None:
        while alive(run_pid):
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="chorus-batch-run-watch", daemon=True).start()


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
