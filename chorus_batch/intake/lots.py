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
failed one. A failure of the store (``StoreError``) ends a peer the same way (its files put back
first); in the run it puts the lot's files not committed back in the inbox and ends the run,
its peers stopped at their next file boundary.

A stop request (the run's ``stop`` event: SIGINT, SIGTERM) is shared with the peers
(``Turns.stop``) and heard at file boundaries: while a lot is read (between its groups of
files, ``read_unless``), while it waits, and before each transaction. The transaction under
way commits and its files are finished; the files a lot claimed and did not commit go back to
the inbox; the lots no one took stay there. Peers leave SIGINT to the run (the terminal sends
it to them too) and hear SIGTERM as "no lot after this one". The fork server and the peers
start with both signals blocked (``_spawn``): killed by a SIGTERM meant for the run, the fork
server would make its live peers look dead to the run.

The garbage collector is tuned here too (``tuned_collector``), at a run's entry and a peer's.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import logging
import multiprocessing
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import connection, forkserver, resource_tracker
from pathlib import Path
from typing import Any

from .. import formats
from .. import store as db
from ..config import Settings
from ..errors import StoreError, WorkspaceError
from ..workspace import OrderKey, Pending, Workspace, open_regular, worker
from .processor import Claimed, Processor
from .read import GROUP_FILES, Ready
from .recovery import alive, recover
from .report import Clock, FileResult

log = logging.getLogger("chorus_batch")

LOT_FILES = 400  # files a process reads and checks before its turn to store them
PEERS_MIN_FILES = 32  # below this, peer processes would cost more than they save
PREFETCH_BYTES = 1 << 20  # the biggest first file read to compile its schema ahead (``_prefetch_first``)
PEERS_GRACE = 10.0  # seconds a stopping peer has to reach a file boundary before it is killed
STOPPING = {signal.SIGINT, signal.SIGTERM}
_no_more_lots = threading.Event()  # a peer's SIGTERM: it ends after the lot in hand


class _Stopped(Exception):
    """A stop was requested before the lot's next transaction (``Turns.stopping``)."""


def store_in_lots(
    processor: Processor, inbox: Inbox, stop: threading.Event | None = None
) -> Iterator[list[FileResult]]:
    """Store ``inbox`` (as listed) in dependency order, lot by lot, with peer processes on a big
    inbox; yield each lot's results in lot order. The fork server of the peers starts while the
    inbox is sorted. Once ``stop`` is set, the lots under way end at their next file boundary
    and no other lot begins (what they did is yielded all the same)."""
    with Peers.start(processor, len(inbox), stop or threading.Event()) as peers:
        _prefetch_first(processor.ws, processor.settings.max_file_size)
        try:
            inbox.sort(processor.ws, lambda left: lot_size(left, peers.count + 1))
            yield from peers.share(inbox)
        finally:
            formats.schemas.settle()  # no compilation outlives the run (a first file never read)


def _prefetch_first(ws: Workspace, limit: int) -> None:
    """Have the XSD of the inbox's first XML document (as listed) compiled in the background
    while the inbox is sorted: a batch is mostly of one kind, and its first lot would wait for
    that schema. A hint only: whatever goes wrong here is left to that file's own reading, and
    a file over ``PREFETCH_BYTES`` (or ``limit``) is not read for it."""
    with contextlib.suppress(Exception):
        entry, _partner = next(ws.pending_entries(sort=False))
        fd, info = open_regular(entry.path)
        try:
            data = os.read(fd, info.st_size) if info.st_size <= min(limit, PREFETCH_BYTES) else b""
        finally:
            os.close(fd)
        if formats.looks_like_xml(data):
            formats.prefetch_schema(formats.recognise(data))


def lot_size(left: int, processes: int) -> int:
    """Files of the next lot, ``left`` files being still to cut into lots: ``LOT_FILES``; with
    peers (``processes`` > 1), at most a share of what is left, so that every process has lots
    to take until the end and the last lots are small: no process waits long with nothing left
    to take while another one ends a big lot."""
    return LOT_FILES if processes < 2 else max(16, min(LOT_FILES, -(-left // (2 * processes))))


class Inbox:
    """The inbox as a run takes it, in a scratch file of ``var/`` rather than in memory, so that a
    run's memory does not grow with its inbox: ``listed`` only counts the files; ``sort`` lists them
    again, reads each one's first bytes and writes its ``Workspace.order_key`` as a string that
    sorts as the key does (the rank in three digits, the modification time of a file taken by
    arrival in twenty, nothing for the others, then partner and name: no name holds a NUL or a
    ``/``), sorts them ``CHUNK`` at a time (runs in scratch files, merged beyond one), and writes
    the lots to the file, each lot's strings separated by ``/``, noting meanwhile which lots hold a
    name an earlier lot holds (``clash``). Every process reads a lot (``lot``: its ``Pending``
    entries) when it takes it; the peers are given this object, which holds no more than where
    each lot begins and which lots clash."""

    CHUNK = 50_000  # strings sorted in memory at a time (about 5 MB)

    def __init__(self, root: Path, count: int) -> None:
        self.root, self.count = root, count
        self.path: str | None = None  # the lots, once sorted
        self.offsets = [0]  # where each lot begins in the file, and where the last one ends
        self.size = LOT_FILES  # files of the first lot, the biggest
        self.clash: list[bool] = []  # each lot: a name of it may be in an earlier lot (``_Seen``)

    @classmethod
    def listed(cls, ws: Workspace) -> Inbox:
        return cls(ws.inbox, sum(1 for _ in ws.pending_entries(sort=False)))

    def __len__(self) -> int:
        return self.count

    @property
    def lots(self) -> int:
        return len(self.offsets) - 1

    def sort(self, ws: Workspace, lot_size: Callable[[int], int], chunk: int = CHUNK) -> None:
        """List the inbox again (what came since ``listed`` comes too), in dependency order, cut
        into lots: each of ``lot_size(left)`` files, ``left`` files being still to cut."""
        runs: list[str] = []
        entries: list[str] = []
        count = 0
        rank, by_arrival = formats.sniff_rank, formats.BY_ARRIVAL
        try:
            for found, partner in ws.pending_entries(sort=False):
                regular = found.is_file(follow_symlinks=False)  # the listing's type: no system call
                entries.append(_entry(Workspace.entry_key(found.path, found.name, partner, rank, by_arrival, regular)))
                count += 1
                if len(entries) == chunk:
                    entries.sort()
                    runs.append(_written(ws, "/".join(entries)))
                    entries = []
            entries.sort()
            ordered = heapq.merge(entries, *(_strings(run) for run in runs)) if runs else iter(entries)
            self.count, self.size = count, lot_size(count)
            fd, self.path = ws.scratch("lots")
            seen = _Seen()
            left = count
            with os.fdopen(fd, "wb") as fh:
                while lot := list(itertools.islice(ordered, lot_size(left))):
                    left -= len(lot)
                    data = "/".join(lot).encode("utf-8", "surrogateescape")
                    fh.write(data)
                    self.offsets.append(self.offsets[-1] + len(data))
                    self.clash.append(seen.add({_name_key(_named(entry)[0]) for entry in lot}))
        except OSError as exc:  # var/ (full, read-only): no file's fault
            raise WorkspaceError(f"run cannot sort its inbox in {ws.var}: {exc.strerror or exc}") from None
        finally:
            for run in runs:
                _remove(run)

    def lot(self, lot: int) -> list[Pending]:
        assert self.path is not None  # lots come once sorted
        with open(self.path, "rb") as fh:
            fh.seek(self.offsets[lot])
            data = fh.read(self.offsets[lot + 1] - self.offsets[lot])
        return [_item(self.root, entry) for entry in data.decode("utf-8", "surrogateescape").split("/")]

    def items(self) -> Iterator[Pending]:
        for lot in range(self.lots):
            yield from self.lot(lot)

    def left(self) -> int:
        """How many of its files are still in the inbox (all of them, before it was sorted)."""
        return sum(1 for item in self.items() if item.path.exists()) if self.path else self.count

    def remove(self) -> None:
        if self.path is not None:
            _remove(self.path)


def _written(ws: Workspace, text: str) -> str:
    """A scratch file holding ``text`` (UTF-8, a name's undecodable bytes as they were)."""
    fd, path = ws.scratch("sort")
    with os.fdopen(fd, "wb") as fh:
        fh.write(text.encode("utf-8", "surrogateescape"))
    return path


def _strings(path: str) -> Iterator[str]:
    """The strings of a sorted run (``_written``, separated by ``/``), read a block at a time."""
    with open(path, "rb") as fh:
        rest = b""
        while block := fh.read(1 << 16):
            *whole, rest = (rest + block).split(b"/")
            yield from (part.decode("utf-8", "surrogateescape") for part in whole)
        if rest:
            yield rest.decode("utf-8", "surrogateescape")


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _item(root: Path, entry: str) -> Pending:
    name, partner = _named(entry)
    if partner:
        return Pending(root / partner / name, name, partner)
    return Pending(root / name, name, None)


def _named(entry: str) -> tuple[str, str]:
    """The file name and the partner (``""`` for none) an ``_entry`` string holds."""
    _rank, arrived, first, second = entry.split("\0")
    return (first, second) if arrived else (second, first)


def _entry(key: OrderKey) -> str:
    rank, arrived, first, second = key
    return f"{rank:03d}\0{f'{arrived:020d}' if arrived else ''}\0{first}\0{second}"


def read_unless(processor: Processor, claimed: Sequence[Claimed], stopping: Callable[[], bool]) -> list[Ready] | None:
    """``processor.read`` a group of files after another (``GROUP_FILES``, a lot: two tenths of
    a second), so that a stop is heard within one group's reading; ``None`` when ``stopping()``
    came true before the reading was over (the claimed files are the caller's to put back)."""
    ready = []
    for start in range(0, len(claimed), GROUP_FILES):
        if stopping():
            return None
        ready += processor.read(claimed[start : start + GROUP_FILES])
    return None if stopping() else ready


def put_back(processor: Processor, claimed: Sequence[Claimed], why: str = "a stop was requested") -> None:
    """Claimed files that no transaction committed, back into the inbox for the next run."""
    for one in claimed:
        processor.ws.unclaim(one.item)
    if claimed:
        log.info("%d claimed file(s) put back in the inbox (%s)", len(claimed), why)


def give_back(processor: Processor, claimed: Sequence[Claimed], failure: StoreError) -> None:
    """After a store failure, the claimed files of the transaction that failed, and those not
    yet stored, back into the inbox; when the failure is ``uncertain`` (a server lost during
    the commit), the files of that transaction are left in ``var/processing/`` for
    ``recovery``, which finishes the committed ones and puts back the others."""
    if failure.uncertain:
        return
    put_back(processor, claimed, "the store failed")


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
    processor: Processor, items: Sequence[Pending], turns: Turns, lot: int, clash: bool, check: Callable[[], None]
) -> list[FileResult]:
    """Claim ``items`` and read them, then, in the lot's turn, store them ``batch_files`` files
    per transaction (once the earlier lots are finished too, if a name of the lot is in one of
    them: ``clash``, from ``Inbox.clash``). Once the last transaction has committed, the turn
    passes on while this lot's reports are written and its files moved, unless those could meet
    the next lots' (order responses, parked documents to take up): then they are done in the
    turn, after the earlier lots' own. The parked files concluded meanwhile are returned with
    the lot's.

    A stop (``turns.stopping()``) ends the lot at its next file boundary: what was committed is
    finished, the rest put back in the inbox, and the lot counts as finished without passing
    its turn (every process is stopping: none will store after it)."""
    claimed = processor.claim(items)
    results: list[FileResult] = []
    committed = 0
    committing = False  # inside a transaction of this lot
    try:
        ready = read_unless(processor, claimed, turns.stopping)
        if ready is None:
            raise _Stopped
        turns.wait(lot, check)
        if clash:  # its names are planned once the earlier lots' files are in place
            turns.wait_finished(lot, check)
        size = processor.batch_files
        for start in range(0, len(claimed), size):
            if turns.stopping():
                raise _Stopped
            end = start + size
            committing = True
            batch = processor.commit(claimed[start:end], ready[start:end])
            committing = False
            committed = min(end, len(claimed))
            if end >= len(claimed) and processor.independent(batch):
                turns.done(lot)
                results += processor.finish(batch, release=False)
            else:  # committed: finished even if a stop comes meanwhile
                turns.wait_finished(lot, check, stoppable=False)
                results += processor.finish(batch)
    except _Stopped:
        put_back(processor, claimed[committed:])
    except StoreError as failure:
        # the store failed in this lot's transaction (nothing of it applied, unless uncertain),
        # or in a lot this one took up while it waited (``check``): what it did not commit goes back
        if committing:
            give_back(processor, claimed[committed : committed + processor.batch_files], failure)
            committed += processor.batch_files
        put_back(processor, claimed[committed:], "the store failed")
        raise
    else:
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
    one writer each: the process that owns the lot.

    ``stop`` is the stop request shared by the run and its peers; ``requested`` is the run's
    own stop event, which only the run sees (never pickled) and shares once set."""

    POLL = 0.001  # seconds between two looks at the shared values
    CHECK = 0.2  # seconds between two calls of a waiter's ``check``

    def __init__(self, context: Any, lots: int) -> None:
        self.lots = lots
        self.next, self.turn = context.RawValue("i", 0), context.RawValue("i", 0)
        self.owners = context.RawArray("i", max(lots, 1))  # the process that took each lot
        self.finished_lots = context.RawArray("b", max(lots, 1))  # reports written, files moved
        self.taking = context.Lock()
        self.stop = context.RawValue("b", 0)
        self.requested: threading.Event | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "requested": None}  # an event stays in its process

    def stopping(self) -> bool:
        """Whether a stop was requested (the run's event shared on the way)."""
        if not self.stop.value and self.requested is not None and self.requested.is_set():
            self.stop.value = 1
        return bool(self.stop.value)

    def take(self) -> int | None:
        if self.stopping():
            return None
        with self.taking:
            lot: int = self.next.value
            if lot >= self.lots:
                return None
            self.next.value, self.owners[lot] = lot + 1, os.getpid()
            return lot

    def wait(self, lot: int, check: Callable[[], None]) -> None:
        """Until it is ``lot``'s turn to store (``_Stopped`` if a stop comes first)."""
        self._until(lambda: self.turn.value == lot, check, stoppable=True)

    def wait_finished(self, lot: int, check: Callable[[], None], stoppable: bool = True) -> None:
        """Until every lot before ``lot`` is finished (its reports written, its files moved).
        Not ``stoppable`` once the lot has committed: the earlier lots, having committed
        before it, only have their files to finish, stop or no stop."""
        self._until(lambda: self.first_unfinished() >= lot, check, stoppable)

    def first_unfinished(self) -> int:
        """The first lot whose reports are not all written (``lots`` when every one is)."""
        return next((lot for lot in range(self.lots) if not self.finished_lots[lot]), self.lots)

    def _until(self, ready: Callable[[], bool], check: Callable[[], None], stoppable: bool) -> None:
        next_check = time.monotonic() + self.CHECK
        while not ready():
            if stoppable and self.stopping():
                raise _Stopped
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
    itself. Once ``stop`` is set, no lot begins and the lots under way end at their next file
    boundary; the run waits for the peers to have done so (``stop``) before it returns."""

    def __init__(self, processor: Processor, count: int, stop: threading.Event) -> None:
        self.processor, self.count, self.requested = processor, count, stop
        self.running: dict[int, Any] = {}  # pid -> process
        self.results: dict[int, list[FileResult]] = {}
        self.inbox: Inbox | None = None
        self.turns: Turns | None = None
        self.queue: Any = None
        self.context = multiprocessing.get_context("forkserver")
        self.go = threading.Event()  # set once the lots are known (or the run ends)
        self.spawner = threading.Thread(target=self._spawn, name="chorus-batch-peers", daemon=True)
        if count:  # the fork server imports the intake while this process lists the inbox
            self.spawner.start()

    @classmethod
    @contextmanager
    def start(cls, processor: Processor, files: int, stop: threading.Event) -> Iterator[Peers]:
        wanted = processor.settings.helpers
        if wanted is None:
            wanted = min(4, len(os.sched_getaffinity(0)) - 1)
        # a peer imports the run's main module again: not possible for a script read from stdin
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        forkable = "forkserver" in multiprocessing.get_all_start_methods()
        available = forkable and (main_file is None or os.path.isfile(main_file))
        peers = cls(processor, wanted if available and files >= PEERS_MIN_FILES else 0, stop)
        try:
            yield peers
        finally:
            peers.stop()

    def share(self, inbox: Inbox) -> Iterator[list[FileResult]]:
        """Store the sorted ``inbox`` lot by lot with the peers; yield each lot's results in lot
        order. After a stop, the lots under way end, then their results are yielded; a peer that
        had to be killed has its claims recovered here."""
        self.inbox, lots = inbox, inbox.lots
        self.turns = turns = Turns(self.context, lots)
        turns.requested = self.requested
        self.queue = self.context.Queue()
        self.go.set()
        for lot in range(lots):
            while lot not in self.results and not turns.stopping():
                self._receive(0)
                if lot in self.results:
                    break
                if (mine := turns.take()) is not None:
                    self.results[mine] = store_lot(
                        self.processor, inbox.lot(mine), turns, mine, inbox.clash[mine], self.check
                    )
                else:  # every lot is taken: wait for the peers'
                    self._receive(0.2)
                    self.check()
                    owner = turns.owners[lot]
                    if turns.finished_lots[lot] and owner != os.getpid() and not self._alive(owner):
                        self._lost(lot, owner)
            if lot not in self.results:
                break
            yield self.results.pop(lot)
        if turns.stopping():
            for pid in self.stop():
                recover(self.processor.ws, self.processor.store, only=worker(pid))
            yield from (self.results.pop(lot) for lot in sorted(self.results))

    def _spawn(self) -> None:
        """In a thread: the fork server starts now, the peers once the lots are known (starting
        a process waits for the server's imports; the run lists and stores meanwhile).

        The fork server starts with SIGINT and SIGTERM blocked, and so do the peers it forks
        (``_peer`` then chooses): a Ctrl-C while it imports would print its traceback, and a
        fork server killed by a SIGTERM meant for the run would make its live peers look dead.
        The resource tracker starts first: when it starts, it unblocks them in this thread."""
        self.context.set_forkserver_preload(["chorus_batch.intake.lots"])
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.go.wait()
        if self.turns is None or self.inbox is None or self.turns.lots < 2:
            return
        run, turns = self.processor, self.turns
        level = log.getEffectiveLevel()
        args = (turns, self.inbox, self.queue, run.ws.root, run.store.url, run.settings, run.clock, level, os.getpid())
        try:
            for _ in range(self.count):
                if turns.stopping():
                    break
                process = self.context.Process(target=_peer, args=args, name="chorus-batch-peer", daemon=True)
                process.start()
                assert process.pid is not None  # a started process has one
                self.running[process.pid] = process
        except Exception as exc:  # no (more) peers (a clock that cannot be pickled...): the run does their lots
            message = "peer processes could not start (%s); the run goes on with %d"
            log.warning(message, type(exc).__name__, len(self.running))
        message = "%d lots of up to %d files: %d peer process(es) share them"
        log.info(message, turns.lots, self.inbox.size, len(self.running))

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
        put back and stored by the run (unless the run is stopping); passed: its committed files
        are finished."""
        self._receive(0)
        turns = self.turns
        assert turns is not None  # checks come from ``share``
        for lot in range(turns.first_unfinished(), min(turns.turn.value + 1, turns.lots)):
            owner = turns.owners[lot]
            if owner in (0, os.getpid()) or turns.finished_lots[lot] or self._alive(owner):
                continue
            if turns.finished_lots[lot]:  # read again: a stopped peer changes nothing more
                continue
            log.warning("peer process %d stopped during lot %d; the run finishes that lot itself", owner, lot)
            recover(self.processor.ws, self.processor.store, only=worker(owner))
            turns.owners[lot] = os.getpid()
            if lot == turns.turn.value and not turns.stopping():
                assert self.inbox is not None  # checks come from ``share``
                items = [item for item in self.inbox.lot(lot) if item.path.exists()]
                self.results[lot] = store_lot(self.processor, items, turns, lot, self.inbox.clash[lot], self.check)
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

    def stop(self) -> list[int]:
        """End the peers, and wait for them: the stop is shared, so that a peer with a lot in
        hand ends at its next file boundary, and a SIGTERM tells each to take no other lot. Their
        results are taken meanwhile (a peer cannot end with its queue full). One still running
        after ``PEERS_GRACE`` seconds is killed. Return the peers that did not end by
        themselves: what they claimed is left in ``var/processing/``."""
        if self.turns is not None:
            self.turns.stop.value = 1
        self.go.set()
        if self.spawner.is_alive():
            self.spawner.join()
        for process in self.running.values():
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + PEERS_GRACE
        while (alive := [p.sentinel for p in self.running.values() if p.is_alive()]) and time.monotonic() < deadline:
            self._receive(0)
            connection.wait(alive, timeout=0.01)
        self._receive(0)
        unclean = []
        for pid, process in self.running.items():
            if process.is_alive():
                log.warning("peer process %d did not stop within %.0f s: killed", pid, PEERS_GRACE)
                process.kill()
            process.join()
            if process.exitcode != 0:
                unclean.append(pid)
        self.running.clear()
        return unclean


def _peer(
    turns: Turns,
    inbox: Inbox,
    results: Any,
    root: Path,
    url: db.URL,
    settings: Settings,
    clock: Clock,
    level: int,
    run_pid: int,
) -> None:
    """A peer process: take lots until none is left, store each in its turn, send the results
    (the queue's own thread sends them while the next lot is read). SIGINT is the run's to
    hear (a terminal sends it to every process of the group); SIGTERM means "no lot after this
    one" (``Peers.stop``; a stop of the run reaches the peers through ``turns``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: _no_more_lots.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)  # blocked since the fork server's start
    _end_with(run_pid)
    records = _Records()
    log.handlers, log.propagate = [records], False
    log.setLevel(level)
    store: db.Store | None = None
    try:
        store = db.Store(url, settings.busy_timeout_seconds)
        with tuned_collector():
            processor = Processor(Workspace(root), store, settings, clock)
            while not _no_more_lots.is_set() and (lot := turns.take()) is not None:
                done = store_lot(processor, inbox.lot(lot), turns, lot, inbox.clash[lot], lambda: None)
                results.put((lot, done, records.take()))
    except StoreError as failure:
        # its files are back in the inbox (or left to recovery): the run finds this peer gone
        # with its lot in hand and stores that lot itself, meeting the store as it now is
        log.warning("peer process %d stops: %s [%s]", os.getpid(), failure.message, failure.code)
        raise SystemExit(1) from None
    except BaseException:
        log.exception("peer process %d failed", os.getpid())
        raise
    finally:
        results.put((None, [], records.take()))
        if store is not None:
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


class _Seen:
    """The name keys of the earlier lots, in a filter of a fixed size (a Bloom filter, three
    bits a key): memory stays the same however big the inbox. A key it holds may be a false
    alarm (about one lot in fifty at 200,000 files): that lot then waits for the earlier lots
    to be finished, as it would for a real clash; a key of an earlier lot is never missed."""

    BITS = 1 << 24
    MASK = BITS - 1

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS // 8)

    def add(self, keys: Iterable[str]) -> bool:
        """Note ``keys``; whether one of them was noted before (a lot's keys are distinct)."""
        bits, met = self.bits, False
        for key in keys:
            h = hash(key) & 0xFFFF_FFFF_FFFF_FFFF
            found = True
            for place in (h & self.MASK, (h >> 20) & self.MASK, (h >> 40) & self.MASK):
                byte, bit = place >> 3, 1 << (place & 7)
                if not bits[byte] & bit:
                    found = False
                    bits[byte] |= bit
            met = met or found
        return met


def _name_key(name: str) -> str:
    """What a file's report, archive and rejected names are made from: files whose keys differ
    never compete for a name (``a.xml`` may become ``a.xml.1``, ``a.xml.1.json``, and
    ``a.xml.errors.json`` sits beside a rejected ``a.xml``)."""
    name = name.removesuffix(".errors.json")
    return _NUMBERED.sub("", name) if name[-1:].isdigit() else name  # the pattern only where it may match


_NUMBERED = re.compile(r"(\.\d+)+$")


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
