"""``watch``: stay up and process files as they arrive. This module only turns file-system
events into calls of the intake (``run.resume``, ``run.tidy``, the processor's claim, read,
commit and finish); every rule lives elsewhere.

How a file becomes ready (peers.md §2.6 lists what goes wrong otherwise):

* a file written under a temporary name (``*.tmp``, ``*.part``, dot-files, ``*~``) is ignored
  until it is renamed — the rename makes it ready at once;
* a file written in place under its final name is ready when the writer closes it (inotify's
  close-write, where the platform gives it), or else when its size and modification time have
  not changed for ``stable_seconds``;
* the inbox is scanned at start-up and every ``rescan_seconds`` (events can be lost, and a
  network share gives none); files found that way get the stability wait.

The events (``Inotify``, on Linux): the inbox and its partner folders are watched through
watchdog's raw inotify reader (``watchdog.observers.inotify_c.InotifyFD``: it owns the inotify
descriptor, the reading thread and the parsing of events) and each event is handed to the
candidates as soon as it is read; this module only interprets the events. Not through watchdog's
inotify observer: it holds every event that follows a rename out of the watched folders for half
a second (its move grouper keeps ``IN_MOVED_FROM`` there for an ``IN_MOVED_TO`` to pair with),
and the watcher's own claim of each file is such a rename, so a file dropped while the one before
was being processed waited up to 0.5 s before it was even seen. Two things of ``InotifyFD`` are
worked around: a folder it may not read (``EACCES``) comes back as watch descriptor -1 instead of
an error (``Inotify._watch`` removes that watch and takes it as the error), and an exception in a
callback would stop the reader (``Inotify.on_event`` logs it instead). watchdog's observers
serve polling and other platforms.

SIGINT / SIGTERM (``stop``): the transaction under way is committed and its files finished, the
files claimed for the next one go back to the inbox, then the watcher exits 0.

The store (``guard``, given by the session): before every batch and every pass of the loop the
guard checks that the store is still there (a SQLite file deleted or replaced under ``watch``);
at every rescan, also that it still records the workspace. Such a ``StoreError`` lasts: it ends
the watch before any file is claimed, and the command exits 2.

A store that fails for a while (busy, unreachable, full) does not end the watcher: the batch rolls
back, its files go back to the inbox, and the watcher tries again after a growing pause
(``Watcher.run``).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from .. import formats
from ..errors import StoreError
from ..workspace import Pending, is_temporary
from .lots import give_back, put_back, read_unless
from .processor import Processor
from .recovery import prune
from .report import FileResult
from .run import resume, tidy

if TYPE_CHECKING:
    from watchdog.observers.inotify_c import InotifyEvent

log = logging.getLogger("chorus_batch")

RETRY_MAX = 60.0  # seconds: the longest pause between two tries after a store failure
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smbfs", "smb3", "fuse.sshfs", "9p", "afs", "glusterfs", "ceph", "fuse.s3fs"}
)


def is_network_path(path: Path) -> bool:
    """Whether ``path`` lives on a network file system (no inotify events there)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    best, kind = "", ""
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if (
            len(parts) >= 3
            and (target == parts[1] or target.startswith(parts[1].rstrip("/") + "/"))
            and len(parts[1]) >= len(best)
        ):
            best, kind = parts[1], parts[2]
    return kind in NETWORK_FILESYSTEMS


@dataclass
class _Seen:
    size: int = -1
    mtime: float = -1.0
    since: float = 0.0  # when size and mtime were last seen to change
    closed: bool = False  # a close-after-write arrived since the last change
    open_events: bool = False  # events arrive for this file: wait for its close


@dataclass
class Candidates:
    """Files that may be ready, fed by the observer thread and by scans."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    files: dict[Path, _Seen] = field(default_factory=dict)
    wake: threading.Event = field(default_factory=threading.Event)

    def touch(self, path: Path, *, closed: bool = False, event: bool = False) -> None:
        with self.lock:
            seen = self.files.setdefault(path, _Seen(since=time.monotonic()))
            if closed:
                seen.closed = True
            elif event:
                seen.open_events, seen.closed = True, False
        self.wake.set()

    def ready(self, stable_seconds: float, close_timeout: float) -> list[Path]:
        """Entries ready now; forgets the ones that vanished. An entry that is not a regular
        file (a symbolic link, a named pipe...) is ready at once: nothing is being written to
        it, and the intake refuses it without opening it."""
        now = time.monotonic()
        out = []
        with self.lock:
            for path, seen in list(self.files.items()):
                try:
                    st = path.lstat()
                except OSError:  # gone (or its folder cannot be searched any more)
                    del self.files[path]
                    continue
                if not stat.S_ISREG(st.st_mode):
                    out.append(path)
                    del self.files[path]
                    continue
                if (st.st_size, st.st_mtime) != (seen.size, seen.mtime):
                    seen.size, seen.mtime, seen.since = st.st_size, st.st_mtime, now
                    if not seen.closed:
                        continue
                quiet = now - seen.since
                settled = (
                    not seen.open_events and st.st_size > 0 and quiet >= stable_seconds
                )  # an empty file may be one being created
                if seen.closed or settled or quiet >= close_timeout:
                    out.append(path)
                    del self.files[path]
        return out


class _Handler(FileSystemEventHandler):
    def __init__(self, candidates: Candidates, close_events: bool) -> None:
        self.candidates = candidates
        self.close_events = close_events  # polling never sees a close: rely on stability there

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if event.event_type == "moved":
            path = Path(os.fsdecode(event.dest_path))
            if not is_temporary(path.name):
                self.candidates.touch(path, closed=True)  # renamed into place: complete
            return
        path = Path(os.fsdecode(event.src_path))
        if is_temporary(path.name) or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        # only a write tells that a writer has the file open: a file moved in (seen as created) is whole
        writing = self.close_events and event.event_type == "modified"
        self.candidates.touch(path, closed=event.event_type == "closed", event=writing)


if sys.platform.startswith("linux"):  # importing it asks libc for inotify
    from watchdog.observers.inotify_c import CallbackId, InotifyFD, Mask, WatchDescriptor
    from watchdog.observers.inotify_c import InotifyConstants as IN

    # the events asked for; the inbox is followed if it is a symbolic link, a partner folder never
    _MASK = (
        IN.IN_MODIFY
        | IN.IN_ATTRIB
        | IN.IN_CLOSE_WRITE
        | IN.IN_MOVED_FROM
        | IN.IN_MOVED_TO
        | IN.IN_CREATE
        | IN.IN_ONLYDIR
        | IN.IN_DONT_FOLLOW
    )
_COOKIES = 256  # renames out of a watched folder remembered, to pair with a rename into one


class Inotify:
    """Linux inotify on ``inbox`` and each partner folder in it (files deeper are never taken):
    watchdog's raw reader (``InotifyFD``: the descriptor, its thread, the parsing of events)
    hands every event to ``on_event`` as it is read, and this class only interprets it, as
    ``_Handler`` does with watchdog's observer: a close after writing or a rename inside the inbox
    makes a file ready, a write marks it open, a creation (a file moved in from elsewhere too) gets
    the stability wait. A partner folder created later is watched from then on, what it already
    holds touched; a lost event (the kernel's queue overflowed) calls ``on_lost`` (a rescan).

    Raises:
        OSError: at ``start``, inotify's limits ("inotify watch limit reached", "inotify
            instance limit reached", watchdog's words), or the inbox that cannot be watched.
    """

    def __init__(self, inbox: Path, candidates: Candidates, on_lost: Callable[[], None] = lambda: None) -> None:
        self.inbox, self.candidates, self.on_lost = inbox, candidates, on_lost
        self.reader: InotifyFD | None = None
        self.folders: dict[WatchDescriptor, Path] = {}  # watch descriptor -> folder
        self._ids: dict[WatchDescriptor, CallbackId] = {}  # watch descriptor -> this object's callback id there
        self._next_id = itertools.count(1)
        self.moved_out: OrderedDict[int, None] = OrderedDict()  # cookies of the last renames out of a folder

    def start(self) -> None:
        """Start the reader, then watch the inbox and its partner folders (watchdog's observer
        does it in this order too)."""
        self.reader = InotifyFD()
        self.reader.start()
        try:
            self._watch(self.inbox, strict=True)
            for entry in _folders(self.inbox):
                self._watch(entry, strict=True)
        except BaseException:
            self.stop()
            self.join()
            raise

    def stop(self) -> None:
        if self.reader is not None:
            self.reader.stop()  # removes the watches (on_watch_deleted) and closes the descriptor

    def join(self, timeout: float | None = None) -> None:
        if self.reader is not None:
            self.reader.join(timeout)

    def _watch(self, folder: Path, strict: bool = False) -> bool:
        """Watch ``folder``. The inbox must be watched (it is followed if it is a symbolic link);
        for a partner folder, a limit of the kernel raises when ``strict`` (at start), and
        otherwise the folder is left to the rescan, with a warning."""
        assert self.reader is not None
        inbox = folder == self.inbox
        id_ = CallbackId(next(self._next_id))
        try:
            wd = self.reader.add_callback(
                os.fsencode(folder), Mask(_MASK & ~IN.IN_DONT_FOLLOW if inbox else _MASK), self, id_
            )
            if wd < 0:  # EACCES: watchdog returns -1 (its watch -1 holding the callback) instead of raising
                self.reader.remove_callbacks([(wd, id_)])
                raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        except OSError as error:
            if inbox or (strict and error.errno in (errno.ENOSPC, errno.EMFILE)):
                raise
            log.warning("%s: cannot be watched (%s); its files are taken by the rescan", folder, error.strerror)
            return False
        if wd in self._ids:  # already watched (seen at start and created): one callback there is enough
            self.reader.remove_callbacks([(wd, id_)])
        else:
            self._ids[wd] = id_
        self.folders[wd] = folder
        return True

    def _unwatch(self, folder: Path) -> None:
        for wd, watched in list(self.folders.items()):
            if watched == folder and self.reader is not None:
                self.reader.remove_callbacks([(wd, self._ids.pop(wd))])
                del self.folders[wd]

    # watchdog's WatchCallback: called on the reader's dispatching thread

    def on_event(self, event: InotifyEvent) -> None:
        # an exception would stop watchdog's reader: a bug here must not end the watching, the
        # rescan takes what was missed
        try:
            self._event(event)
        except Exception:
            log.exception("%s: inotify event %r could not be handled", self.inbox, event)

    def on_watch_deleted(self, wd: WatchDescriptor) -> None:  # the folder is gone (or no longer watched)
        self.folders.pop(wd, None)
        self._ids.pop(wd, None)

    def on_queue_overflow(self) -> None:
        pass  # no watch to repair: the inbox and partner folders are watched as they were

    def on_events_lost(self) -> None:
        log.warning("%s: inotify events were lost; the inbox is scanned again", self.inbox)
        self.on_lost()

    def _event(self, event: InotifyEvent) -> None:
        folder = self.folders.get(event.wd)
        name = os.fsdecode(event.name)
        if folder is None or not name:
            return
        path = folder / name
        if event.is_moved_from:
            self.moved_out[event.cookie] = None  # its IN_MOVED_TO, if into a watched folder, comes next
            while len(self.moved_out) > _COOKIES:
                self.moved_out.popitem(last=False)
            if event.is_directory and folder == self.inbox:
                self._unwatch(path)
            return
        if event.is_directory:
            if folder == self.inbox and (event.is_create or event.is_moved_to) and self._watch(path):
                for entry in _entries(path):  # written before the watch was there
                    if not is_temporary(entry.name):
                        self.candidates.touch(entry)
            return
        if is_temporary(name):
            return
        if event.is_moved_to:
            # renamed inside the inbox: complete; moved in from elsewhere: whole too, but taken
            # after the stability wait, as a created file is (docs/operations.md)
            inside = event.cookie in self.moved_out
            self.moved_out.pop(event.cookie, None)
            self.candidates.touch(path, closed=inside)
        elif event.is_close_write:
            self.candidates.touch(path, closed=True)
        elif event.is_modify:
            self.candidates.touch(path, event=True)
        else:  # created, attributes changed
            self.candidates.touch(path)


def _folders(inbox: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(inbox) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _entries(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if not e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


@dataclass
class Watcher:
    processor: Processor
    stable_seconds: float = 2.0
    rescan_seconds: float = 60.0
    close_timeout: float = 600.0  # a file still open after this long is taken on stability alone
    polling: bool | None = None  # None: polling when the inbox is on a network file system
    stop: threading.Event = field(default_factory=threading.Event)
    processed: int = field(default=0, init=False)  # files processed so far
    next_scan: float = field(default=0.0, init=False)  # when the inbox is scanned next (monotonic)
    guard: Callable[[bool], None] = lambda _full: None  # the store still there (full: and still the workspace's)
    on_file: Callable[[FileResult], None] | None = None  # hears each result as it is known

    def run(self) -> int:
        """Watch until ``stop`` is set; return the number of files processed. ``stop`` is
        heard at every step: before the watching starts, after the recovery, between scans,
        between transactions and between the files read for one (a transaction's files not
        yet committed go back to the inbox).

        A failure of the store (``StoreError``: busy beyond the busy timeout, unreachable,
        full...) rolls the batch under way back, its files back in the inbox; one line is
        logged and the watcher tries again after a pause that doubles each time (1 s, 2 s ...
        ``RETRY_MAX``), recovery first. Only a lasting failure (a driver missing, a damaged
        store: ``StoreError.lasting``) ends it, raised to the caller (exit 2)."""
        ws = self.processor.ws
        if self.stop.is_set():  # a signal during start-up
            return 0
        polling = is_network_path(ws.inbox) if self.polling is None else self.polling
        candidates = Candidates()
        observer = self._observer(candidates, polling)
        observer.start()
        log.info("watching %s (%s)", ws.inbox, "polling" if polling else "inotify")
        self.processed, self.next_scan = 0, 0.0
        pause = 0.0  # seconds of the last pause after a store failure (0: the store works)
        try:
            resumed = False
            while not self.stop.is_set():
                try:
                    if not resumed:
                        resume(self.processor)
                        resumed = True
                    self._round(candidates)
                except StoreError as failure:
                    if failure.lasting:
                        raise
                    ws.release()  # no batch in hand: what was planned for the failed one is free
                    resumed, self.next_scan = False, 0.0  # recovery, then a scan for the files put back
                    pause = min(RETRY_MAX, pause * 2 or 1.0)
                    log.warning("%s [%s]; watch tries again in %g s", failure.message, failure.code, pause)
                    self.stop.wait(pause)
                    continue
                if pause:
                    log.warning("the store works again; watching goes on")
                    pause = 0.0
                candidates.wake.wait(0.2)
                candidates.wake.clear()
        finally:
            observer.stop()
            observer.join(timeout=5)
        log.info("stop requested: watching ends")
        return self.processed

    def _observer(self, candidates: Candidates, polling: bool) -> Inotify | PollingObserver | BaseObserver:
        """What feeds ``candidates``: inotify itself on Linux, watchdog's polling on network shares,
        its native observer elsewhere."""
        inbox = self.processor.ws.inbox
        if not polling and sys.platform.startswith("linux"):
            return Inotify(inbox, candidates, on_lost=lambda: self._rescan_now(candidates))
        observer = PollingObserver(timeout=max(1.0, self.stable_seconds / 2)) if polling else Observer()
        observer.schedule(_Handler(candidates, close_events=not polling), str(inbox), recursive=True)
        return observer

    def _rescan_now(self, candidates: Candidates) -> None:
        self.next_scan = 0.0
        candidates.wake.set()

    def _round(self, candidates: Candidates) -> None:
        """One look: a scan when it is due (and the parked documents' expiry), then the files
        ready now, in batches."""
        ws = self.processor.ws
        rescan = time.monotonic() >= self.next_scan
        self.guard(rescan)
        if rescan:
            for item in ws.pending():
                candidates.touch(item.path)
            if self.stop.is_set():
                return
            tidy(self.processor)
            self.next_scan = time.monotonic() + self.rescan_seconds
        ready = candidates.ready(self.stable_seconds, self.close_timeout)
        items = [self._pending(p) for p in ready if os.path.lexists(p) and self._in_inbox(p)]
        ordered = ws.ordered(items, formats.sniff_rank, formats.BY_ARRIVAL)
        size = self.processor.batch_files
        for start in range(0, len(ordered), size):
            if start:
                self.guard(False)
            results = None if self.stop.is_set() else self._store(ordered[start : start + size])
            if results is None:  # stopping: what is left waits for the next start
                break
            for result in results:
                self.processed += 1
                log.info("%s: %s", result.name, result.status)
                self._tell(result)
        for later in self.processor.parking.drain():
            log.info("%s: %s (after parking)", later.name, later.status)
            self._tell(later)
        prune(self.processor.ws)

    def _tell(self, result: FileResult) -> None:
        """``result`` to ``on_file`` (the command line prints what an operator should read)."""
        if self.on_file is not None:
            self.on_file(result)

    def _store(self, items: list[Pending]) -> list[FileResult] | None:
        """Claim, read, commit and finish ``items``, the files read one by one: ``None`` when a stop came
        before the commit (the files claimed are back in the inbox). A store failure puts the
        files of the failed transaction back too (``give_back``) and is raised."""
        processor = self.processor
        claimed = processor.claim(items)
        ready = read_unless(processor, claimed, self.stop.is_set)
        if ready is None:
            put_back(processor, claimed)
            return None
        try:
            batch = processor.commit(claimed, ready)
        except StoreError as failure:
            give_back(processor, claimed, failure)
            raise
        return processor.finish(batch)

    def _in_inbox(self, path: Path) -> bool:
        """Files in ``inbox/`` or one partner folder below it, as ``run`` sees them."""
        inbox = self.processor.ws.inbox
        return path.parent == inbox or path.parent.parent == inbox

    def _pending(self, path: Path) -> Pending:
        inbox = self.processor.ws.inbox
        partner = path.parent.name if path.parent != inbox else None
        return Pending(path, path.name, partner)
