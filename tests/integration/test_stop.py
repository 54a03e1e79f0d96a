"""A stop request (what SIGINT / SIGTERM become) ends ``run`` and ``watch`` at a file boundary:
the transaction under way commits and its files are finished (report written, file archived);
files claimed and not committed go back to the inbox; lots not begun are left untouched. The
next run has nothing to recover, only the inbox to take. In this process (no peers: below
``PEERS_MIN_FILES`` and ``helpers = 0``); ``tests/e2e/test_signals.py`` sends real signals."""

from __future__ import annotations

import random
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from chorus_batch import FileResult, FileStatus, Session
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, ubl_order
from chorus_batch.formats import schemas
from chorus_batch.intake import lots
from chorus_batch.intake.processor import Processor
from chorus_batch.intake.watch import Watcher
from chorus_batch.store import Store

FILES = 12


@pytest.fixture
def session(tmp_path: Path) -> Session:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "chorus-batch.toml").write_text("helpers = 0\n", encoding="utf-8")
    made = Session(root)
    made.init()
    rng = random.Random(3)
    for k in range(FILES):
        order = ubl_order(
            engagement_number(700 + k), ISSUERS[k % 4], SUPPLIERS[k % 4], random_lines(rng, 2), date(2026, 3, 1)
        )
        (made.ws.inbox / f"order-{k:02d}.xml").write_bytes(order)
    return made


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_stop_between_lots_leaves_the_next_lots_untouched(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lots, "LOT_FILES", 4)
    stop = threading.Event()
    heard: list[FileResult] = []

    def on_file(result: FileResult) -> None:
        heard.append(result)
        stop.set()

    summary = session.run(on_file, stop=stop)
    assert len(heard) == 4 and summary.counts == {FileStatus.IN_INTEGRE: 4}
    assert (summary.interrupted, summary.left, summary.exit_code) == (0, 8, 0)
    _assert_left(session, done=4)


def test_a_stop_between_transactions_puts_the_claimed_files_back(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "batch_files", property(lambda _store: 4))
    stop, real = threading.Event(), Processor.commit

    def commit_then_stop(self: Processor, *args: object) -> object:
        stored = real(self, *args)
        stop.set()  # while the lot's first transaction is being committed
        return stored

    monkeypatch.setattr(Processor, "commit", commit_then_stop)
    summary = session.run(stop=stop)
    assert summary.counts == {FileStatus.IN_INTEGRE: 4}
    assert (summary.interrupted, summary.left) == (0, 8)
    _assert_left(session, done=4)


def test_a_stop_before_the_run_touches_nothing(session: Session) -> None:
    stop = threading.Event()
    stop.set()
    summary = session.run(stop=stop)
    assert (summary.total, summary.interrupted, summary.left) == (0, 0, FILES)
    _assert_left(session, done=0)


def test_a_run_that_reads_nothing_leaves_no_schema_compiling(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first file's schema, compiled while the inbox is sorted, is waited for even when no
    file is read (here a stop comes with the end of the sort): no compilation outlives the run."""
    stop = threading.Event()
    real_sort = lots.Inbox.sort

    def sort_then_stop(inbox: lots.Inbox, *args: Any) -> None:
        real_sort(inbox, *args)
        stop.set()

    monkeypatch.setattr(lots.Inbox, "sort", sort_then_stop)
    monkeypatch.setattr(schemas, "_COMPILED", {})  # nothing compiled yet: the prefetch starts a thread
    with session.store() as store:
        processor = Processor(session.ws, store, session.settings)
        assert list(lots.store_in_lots(processor, lots.Inbox.listed(session.ws), stop)) == []
    assert "ubl-order" in schemas._COMPILED and not schemas._UNDER_WAY
    assert len(_names(session.ws.inbox)) == FILES


def _assert_left(session: Session, done: int) -> None:
    """The first ``done`` files integrated and finished, the others in the inbox under their
    names, nothing claimed; then a plain run takes the rest, each file once."""
    ws = session.ws
    every = [f"order-{k:02d}.xml" for k in range(FILES)]
    assert _names(ws.inbox) == every[done:]
    assert _names(ws.processing) == []
    assert _names(ws.acks) == [f"{name}.json" for name in every[:done]]
    assert _names(ws.archive) == every[:done]
    rest = session.run()
    assert rest.counts == {FileStatus.IN_INTEGRE: FILES - done} and rest.interrupted is None
    assert _names(ws.acks) == [f"{name}.json" for name in every]


def test_watch_puts_back_what_it_claimed_when_a_stop_comes_while_reading(session: Session) -> None:
    stop = threading.Event()
    with session.store() as store:
        processor = Processor(session.ws, store, session.settings)
        real = processor.read

        def read_then_stop(claimed: object) -> object:
            stop.set()
            return real(claimed)

        processor.read = read_then_stop
        watcher = Watcher(processor, stop=stop)
        assert watcher._store(list(session.ws.pending())) is None
    assert _names(session.ws.inbox) == [f"order-{k:02d}.xml" for k in range(FILES)]
    assert _names(session.ws.processing) == [] and _names(session.ws.acks) == []


def test_watch_stopped_during_start_up_does_not_begin(session: Session) -> None:
    stop = threading.Event()
    stop.set()
    with session.store() as store:
        assert Watcher(Processor(session.ws, store, session.settings), stop=stop).run() == 0
    assert len(_names(session.ws.inbox)) == FILES
