"""How ``watch`` hears the inbox on Linux (``intake.watch.Inotify`` on watchdog's raw reader,
``InotifyFD``): each inotify event reaches the candidates as soon as it is read. Nothing waits
behind a rename out of the inbox (the claim of every file is one; watchdog's inotify observer held
the next events for 0.5 s there), a file closed after writing or renamed inside the inbox is ready
at once, one moved in from elsewhere keeps the stability wait, a partner folder made later is
watched, a lost event asks for a rescan; the inbox must be watched, a partner folder may be left
to the rescan, inotify's limits at start are raised in watchdog's words.

In this process (threads, no process started); every wait is on a condition with a generous
deadline, never on a duration. Events fed by hand are ``InotifyEvent`` objects handed to the
running reader (``InotifyFD.handle_event``, as its thread does); a kernel refusal is made by
replacing watchdog's ``inotify_add_watch`` for one folder.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chorus_batch.intake.watch import Candidates, Inotify

if sys.platform.startswith("linux"):
    from watchdog.observers import inotify_c
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, Mask, WatchDescriptor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")

DEADLINE = 60.0
NEVER = 86_400.0  # a stability wait no test sees the end of


def _wait_for(predicate: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def heard(inbox: Path) -> Iterator[tuple[Candidates, list[str]]]:
    """Candidates fed by a running ``Inotify`` on ``inbox``, and the rescans it asked for."""
    candidates, lost = Candidates(), []
    watcher = Inotify(inbox, candidates, on_lost=lambda: lost.append("rescan"))
    watcher.start()
    yield candidates, lost
    watcher.stop()
    watcher.join(timeout=10)


def _known(candidates: Candidates, path: Path) -> Callable[[], bool]:
    def known() -> bool:
        with candidates.lock:
            return path in candidates.files

    return known


def _ready_now(candidates: Candidates) -> list[Path]:
    """What is ready without any stability wait: closed or renamed into place."""
    return candidates.ready(NEVER, NEVER)


def _ready_soon(candidates: Candidates, path: Path) -> bool:
    """Whether ``path`` becomes ready without a stability wait (within the deadline)."""
    ready: list[Path] = []

    def seen() -> bool:
        ready.extend(_ready_now(candidates))
        return path in ready

    return _wait_for(seen)


def _event(wd: int, mask: int, name: bytes = b"", cookie: int = 0) -> InotifyEvent:
    return InotifyEvent(WatchDescriptor(wd), Mask(mask), cookie, name)


def _inbox_wd(watcher: Inotify) -> int:
    return next(wd for wd, folder in watcher.folders.items() if folder == watcher.inbox)


@pytest.fixture
def refuse(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, int], None]:
    """``refuse(folder, code)``: the kernel refuses to watch ``folder`` with ``code`` (errno), as
    watchdog hears it."""

    def refuse(folder: Path, code: int) -> None:
        real = inotify_c.inotify_add_watch

        def add_watch(fd: int, path: bytes, mask: int) -> int:
            if path == os.fsencode(folder):
                ctypes.set_errno(code)
                return -1
            return real(fd, path, mask)

        monkeypatch.setattr(inotify_c, "inotify_add_watch", add_watch)

    return refuse


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """The warnings and errors of the ``chorus_batch`` logger (a handler of its own: the command line's set-up
    may have stopped its propagation)."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("chorus_batch")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def test_a_file_written_in_place_is_ready_at_its_close(inbox: Path, heard: tuple[Candidates, list[str]]) -> None:
    candidates, _ = heard
    path = inbox / "order.xml"
    with open(path, "wb") as fh:
        fh.write(b"<Order/>")
        fh.flush()
        assert _wait_for(_known(candidates, path))
        assert _ready_now(candidates) == []  # written, still open: not ready
    assert _ready_soon(candidates, path)


def test_a_rename_inside_the_inbox_is_ready_at_once_and_the_temporary_name_never_seen(
    inbox: Path, heard: tuple[Candidates, list[str]]
) -> None:
    candidates, _ = heard
    temp = inbox / "order.xml.part"
    temp.write_bytes(b"<Order/>")
    os.rename(temp, inbox / "order.xml")
    assert _ready_soon(candidates, inbox / "order.xml")
    with candidates.lock:
        assert temp not in candidates.files


def test_a_file_moved_in_from_elsewhere_keeps_the_stability_wait(
    inbox: Path, tmp_path: Path, heard: tuple[Candidates, list[str]]
) -> None:
    candidates, _ = heard
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "order.xml").write_bytes(b"<Order/>")
    os.rename(staging / "order.xml", inbox / "order.xml")
    assert _wait_for(_known(candidates, inbox / "order.xml"))
    assert _ready_now(candidates) == []
    assert candidates.ready(0.0, NEVER) == [inbox / "order.xml"]  # taken once stable (here: at once)


def test_nothing_waits_behind_a_rename_out_of_the_inbox(inbox: Path, tmp_path: Path) -> None:
    """The claim of a file renames it out of the inbox: the events that follow it (here handed to
    the reader one after the other) reach the candidates at once, not after a pairing delay."""
    (inbox / "next.xml").write_bytes(b"<Order/>")  # before the watch: only the events fed are heard
    candidates = Candidates()
    watcher = Inotify(inbox, candidates)
    watcher.start()
    try:
        assert watcher.reader is not None
        wd = _inbox_wd(watcher)
        watcher.reader.handle_event(_event(wd, InotifyConstants.IN_MOVED_FROM, b"claimed.xml", cookie=7))
        watcher.reader.handle_event(_event(wd, InotifyConstants.IN_CLOSE_WRITE, b"next.xml"))
        assert _ready_now(candidates) == [inbox / "next.xml"]
    finally:
        watcher.stop()
        watcher.join(timeout=10)


def test_a_file_closed_after_a_rename_out_of_the_inbox_is_ready(
    inbox: Path, tmp_path: Path, heard: tuple[Candidates, list[str]]
) -> None:
    """The same through the kernel: a claim-like rename out, then a file written in place."""
    candidates, _ = heard
    (inbox / "claimed.xml").write_bytes(b"<Order/>")
    assert _ready_soon(candidates, inbox / "claimed.xml")
    os.rename(inbox / "claimed.xml", tmp_path / "claimed.xml")
    (inbox / "next.xml").write_bytes(b"<Order/>")
    assert _ready_soon(candidates, inbox / "next.xml")


def test_a_partner_folder_made_while_watching_is_watched(inbox: Path, heard: tuple[Candidates, list[str]]) -> None:
    candidates, _ = heard
    partner = inbox / "acme"
    partner.mkdir()
    (partner / "early.xml").write_bytes(b"<Order/>")  # maybe before its watch: touched all the same
    assert _wait_for(_known(candidates, partner / "early.xml"))
    (partner / "late.xml").write_bytes(b"<Order/>")
    assert _ready_soon(candidates, partner / "late.xml")


def test_lost_events_ask_for_a_rescan(inbox: Path) -> None:
    lost: list[str] = []
    watcher = Inotify(inbox, Candidates(), on_lost=lambda: lost.append("rescan"))
    watcher.start()
    try:
        assert watcher.reader is not None
        watcher.reader.handle_event(_event(-1, InotifyConstants.IN_Q_OVERFLOW))  # the kernel's overflow: wd -1
        assert lost == ["rescan"]
    finally:
        watcher.stop()
        watcher.join(timeout=10)


def test_an_inbox_that_cannot_be_watched_ends_the_start(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "inbox"
    not_a_folder.write_bytes(b"")
    watcher = Inotify(not_a_folder, Candidates())
    with pytest.raises(OSError) as raised:
        watcher.start()
    assert raised.value.errno == errno.ENOTDIR
    assert watcher.reader is not None and not watcher.reader.is_alive()  # stopped, its descriptor closed


@pytest.mark.parametrize("where", ["inbox", "partner"])
def test_the_watch_limit_at_start_is_raised_in_watchdogs_words(
    inbox: Path, refuse: Callable[[Path, int], None], where: str
) -> None:
    (inbox / "acme").mkdir()
    refuse(inbox if where == "inbox" else inbox / "acme", errno.ENOSPC)
    watcher = Inotify(inbox, Candidates())
    with pytest.raises(OSError, match="inotify watch limit reached") as raised:
        watcher.start()
    assert raised.value.errno == errno.ENOSPC
    assert watcher.reader is not None and not watcher.reader.is_alive()


def test_a_partner_folder_refused_at_start_is_left_to_the_rescan(
    inbox: Path, refuse: Callable[[Path, int], None], warnings_logged: list[str]
) -> None:
    """EACCES: watchdog does not raise it (it returns the watch descriptor -1); the folder is
    left to the rescan all the same, the inbox still heard."""
    (inbox / "acme").mkdir()
    refuse(inbox / "acme", errno.EACCES)
    candidates = Candidates()
    watcher = Inotify(inbox, candidates)
    watcher.start()
    try:
        assert list(watcher.folders.values()) == [inbox]
        assert warnings_logged == [
            f"{inbox / 'acme'}: cannot be watched (Permission denied); its files are taken by the rescan"
        ]
        (inbox / "order.xml").write_bytes(b"<Order/>")
        assert _ready_soon(candidates, inbox / "order.xml")
    finally:
        watcher.stop()
        watcher.join(timeout=10)


def test_a_partner_folder_made_beyond_the_watch_limit_is_left_to_the_rescan(
    inbox: Path, refuse: Callable[[Path, int], None], warnings_logged: list[str], heard: tuple[Candidates, list[str]]
) -> None:
    candidates, _ = heard
    refuse(inbox / "acme", errno.ENOSPC)
    (inbox / "acme").mkdir()
    expected = f"{inbox / 'acme'}: cannot be watched (inotify watch limit reached); its files are taken by the rescan"
    assert _wait_for(lambda: expected in warnings_logged)
    (inbox / "order.xml").write_bytes(b"<Order/>")  # the watching goes on
    assert _ready_soon(candidates, inbox / "order.xml")


def test_a_failure_while_handling_an_event_does_not_end_the_watching(
    inbox: Path, monkeypatch: pytest.MonkeyPatch, warnings_logged: list[str], heard: tuple[Candidates, list[str]]
) -> None:
    candidates, _ = heard

    def broken(path: Path) -> list[Path]:
        raise RuntimeError("a bug")

    monkeypatch.setattr("chorus_batch.intake.watch._entries", broken)
    (inbox / "acme").mkdir()  # its handling fails
    assert _wait_for(lambda: any("could not be handled" in message for message in warnings_logged))
    (inbox / "order.xml").write_bytes(b"<Order/>")
    assert _ready_soon(candidates, inbox / "order.xml")
