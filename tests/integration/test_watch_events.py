"""How ``watch`` hears the inbox on Linux (``intake.watch.Inotify``): each inotify event reaches
the candidates as soon as it is read. Nothing waits behind a rename out of the inbox (the claim
of every file is one; watchdog's inotify observer held the next events for 0.5 s there), a file
closed after writing or renamed inside the inbox is ready at once, one moved in from elsewhere
keeps the stability wait, a partner folder made later is watched, a lost event asks for a rescan.

In this process (a thread, no process started); every wait is on a condition with a generous
deadline, never on a duration.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chorus_batch.intake.watch import (
    IN_CLOSE_WRITE,
    IN_MOVED_FROM,
    IN_Q_OVERFLOW,
    Candidates,
    Inotify,
)

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


def _record(wd: int, mask: int, name: bytes = b"", cookie: int = 0) -> bytes:
    padded = name + b"\0" * (-len(name) % 16 or (16 if name else 0))
    return struct.pack("iIII", wd, mask, cookie, len(padded)) + padded


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


def test_nothing_waits_behind_a_rename_out_of_the_inbox(inbox: Path) -> None:
    """The claim of a file renames it out of the inbox: the events read after it (here in the same
    read) reach the candidates at once, not after a pairing delay."""
    candidates = Candidates()
    watcher = Inotify(inbox, candidates)  # not started: the events are fed by hand
    try:
        (inbox / "next.xml").write_bytes(b"<Order/>")
        wd = next(iter(watcher.folders))
        watcher.feed(_record(wd, IN_MOVED_FROM, b"claimed.xml", cookie=7) + _record(wd, IN_CLOSE_WRITE, b"next.xml"))
        assert _ready_now(candidates) == [inbox / "next.xml"]
    finally:
        watcher.join()


def test_a_partner_folder_made_while_watching_is_watched(inbox: Path, heard: tuple[Candidates, list[str]]) -> None:
    candidates, _ = heard
    partner = inbox / "acme"
    partner.mkdir()
    (partner / "early.xml").write_bytes(b"<Order/>")  # maybe before its watch: touched all the same
    assert _wait_for(_known(candidates, partner / "early.xml"))
    (partner / "late.xml").write_bytes(b"<Order/>")
    assert _ready_soon(candidates, partner / "late.xml")


def test_lost_events_ask_for_a_rescan(inbox: Path) -> None:
    candidates, lost = Candidates(), []
    watcher = Inotify(inbox, candidates, on_lost=lambda: lost.append("rescan"))
    try:
        watcher.feed(_record(-1, IN_Q_OVERFLOW))
        assert lost == ["rescan"]
    finally:
        watcher.join()
