"""``run`` stores files in batches (one transaction, a savepoint per file) and, on a big inbox,
shares its lots with peer processes, each storing the lot it read in turn: none of it may
change what a run decides.

- the same inbox gives the same reports and engagements with peers and without;
- a bug met by one file of a batch rejects that file only (``INTERNAL_ERROR``), the rest of
  the batch is stored;
- files of the same name in two lots get the report and archive names the run alone gives;
- a peer killed in the middle of its lot: the run finishes that lot, nothing lost or doubled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chorus_batch import apply, formats
from chorus_batch.demo.generate import (
    ISSUERS,
    SUPPLIERS,
    Line,
    demo_answers,
    demo_files,
    engagement_number,
    generate_batch,
    ubl_order,
)
from chorus_batch.demo.invoices import demo_invoices
from chorus_batch.domain.model import OrderDocument
from chorus_batch.intake import lots
from chorus_batch.workspace import Workspace, is_temporary, worker


def _inbox() -> dict[str, bytes]:
    files = dict(demo_files() + demo_answers() + demo_invoices() + list(generate_batch(30, seed=5, start=500)))
    first = next(iter(files))
    files["copy-of-" + first] = files[first]  # a duplicate (same bytes)
    files["garbage.xml"] = b"<not-closed"
    return files


def _outcome(
    run_cli: Any, root: Path, files: dict[str, bytes], helpers: int
) -> tuple[dict[str, Any], list[tuple[str, str]], str]:
    assert run_cli("--workspace", root, "init").exit_code == 0
    (root / "chorus-batch.toml").write_text(f"helpers = {helpers}\n", encoding="utf-8")
    for name, data in files.items():
        (root / "inbox" / name).write_bytes(data)
    result = run_cli("--workspace", root, "run")
    acks = {}
    for path in (root / "outbox" / "acks").glob("*.json"):
        ack = json.loads(path.read_text(encoding="utf-8"))
        codes = sorted({e["code"] for e in ack["errors"]} | {e["code"] for d in ack["documents"] for e in d["errors"]})
        acks[path.name] = (ack["status"], codes, [(d["kind"], d["number"], d["outcome"]) for d in ack["documents"]])
    with sqlite3.connect(root / "var" / "store.sqlite") as conn:
        rows = sorted(conn.execute("select number, status from engagements"))
    return acks, rows, result.output


DEADLINE = 120.0  # seconds a test waits for a peer process before it gives up (never reached when all is well)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie not yet reaped by its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def _until(ready: Callable[[], bool], what: str) -> None:
    """Wait until ``ready()``; fail after ``DEADLINE`` seconds (a peer that never started)."""
    deadline = time.monotonic() + DEADLINE
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {DEADLINE:.0f} s waiting until {what}")
        time.sleep(0.01)


@pytest.mark.slow
def test_peers_decide_exactly_what_the_run_alone_decides(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run (in this process) takes no lot before a peer process has taken the first one, so
    the first lot is always a peer's work, whatever the load: its files' log lines carry the
    peer's PID, and every report and engagement is the one the run alone gives."""
    files = _inbox()
    assert len(files) > lots.PEERS_MIN_FILES  # big enough for peers
    alone = _outcome(run_cli, tmp_path / "alone", files, helpers=0)

    run_pid, first_owner = os.getpid(), []
    real_take = lots.Turns.take

    def take_after_a_peer(turns: lots.Turns) -> int | None:
        if os.getpid() == run_pid and not first_owner:  # peers run the real ``take`` (their own import)
            _until(lambda: turns.next.value > 0, "a peer process took the first lot")
            first_owner.append(turns.owners[0])
        return real_take(turns)

    monkeypatch.setattr(lots.Turns, "take", take_after_a_peer)
    helped = _outcome(run_cli, tmp_path / "helped", files, helpers=2)
    log_text = (tmp_path / "helped" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert "2 peer process(es) share them" in log_text
    assert "peer process" not in (tmp_path / "alone" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    [peer] = first_owner
    assert peer not in (0, run_pid)
    pids = {line.split()[2] for line in log_text.splitlines() if ": IN_" in line}
    assert str(peer) in pids  # the peer's files were logged by the peer, into the run's log
    assert helped[0] == alone[0]
    assert helped[1] == alone[1]
    assert helped[2] == alone[2]
    statuses = [status for status, _codes, _docs in alone[0].values()]
    assert len(alone[0]) == len(files)  # one report per file
    assert {"IN_INTEGRE", "IN_REJETE", "DUPLICATE"} <= set(statuses)
    assert not any("INTERNAL_ERROR" in codes for _s, codes, _d in alone[0].values())


def _names_by_content(root: Path) -> dict[str, list[str]]:
    """Each report and archived file by the SHA-256 of the file it is about."""
    found: dict[str, list[str]] = {}
    for ack in (root / "outbox" / "acks").iterdir():
        found.setdefault(json.loads(ack.read_text(encoding="utf-8"))["sha256"], []).append("acks/" + ack.name)
    for kept in (root / "var" / "archive").rglob("*.xml*"):
        found.setdefault(hashlib.sha256(kept.read_bytes()).hexdigest(), []).append("archive/" + kept.name)
    return {sha: sorted(names) for sha, names in found.items()}


@pytest.mark.slow
def test_same_names_in_adjacent_lots_get_the_names_the_run_alone_gives(run_cli: Any, tmp_path: Path) -> None:
    """The first names of partner folder p2's first lot are the last names of p1's last lot,
    the two lots may be stored by different processes, and the earlier writes those reports
    last: the later lot plans its report and archive names once the earlier lot's files are
    in place, as the run alone would."""
    size = lots.LOT_FILES  # p1: names 0 to 3 lots, p2: from 2.5 lots on; 6 lots in all
    names = {}
    for root, helpers in ((tmp_path / "alone", 0), (tmp_path / "peers", 1)):
        assert run_cli("--workspace", root, "init").exit_code == 0
        (root / "chorus-batch.toml").write_text(f"helpers = {helpers}\n", encoding="utf-8")
        for partner, first in (("p1", 0), ("p2", 5 * size // 2)):
            (root / "inbox" / partner).mkdir()
            for i in range(first, first + 3 * size):
                number = engagement_number(i + (5000 if partner == "p2" else 0))
                (root / "inbox" / partner / f"o{i:04d}.xml").write_bytes(
                    ubl_order(number, ISSUERS[0], SUPPLIERS[0], [LINE], date(2026, 1, 5))
                )
        assert run_cli("--workspace", root, "-q", "run").exit_code == 0
        names[helpers] = _names_by_content(root)
    assert "peer process(es) share them" in (tmp_path / "peers" / "var" / "log" / "chorus-batch.log").read_text(
        encoding="utf-8"
    )
    assert len(names[0]) == 6 * size and all(len(kept) == 2 for kept in names[0].values())
    assert names[1] == names[0]
    assert f"acks/o{3 * size - 1:04d}.xml.1.json" in {n for kept in names[0].values() for n in kept}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a.xml", "a.xml"),
        ("a.xml.1", "a.xml"),
        ("a.xml.12.3", "a.xml"),
        ("a.xml.errors.json", "a.xml"),
        ("a.xml.2.errors.json", "a.xml"),
        ("v1.2.xml", "v1.2.xml"),
    ],
)
def test_names_that_may_compete_for_a_report_or_archive_name_share_a_key(name: str, key: str) -> None:
    assert lots._name_key(name) == key


def test_a_bug_in_one_file_rejects_that_file_only(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = dict(generate_batch(6, seed=9, start=900))
    victim = sorted(files)[2]
    real = apply.HANDLERS[OrderDocument]

    def apply_order(ctx: Any, doc: Any) -> Any:
        if ctx.src.file_id is not None and doc.number in victim:
            raise RuntimeError("a bug")
        return real(ctx, doc)

    monkeypatch.setitem(apply.HANDLERS, OrderDocument, apply_order)
    root = tmp_path / "ws"
    acks, rows, _output = _outcome(run_cli, root, files, helpers=0)
    assert acks[victim + ".json"][:2] == ("IN_REJETE", ["INTERNAL_ERROR"])
    assert (root / "var" / "rejected" / victim).is_file()
    others = [name for name in files if name != victim]
    assert all(acks[name + ".json"][0] == "IN_INTEGRE" for name in others)
    assert len(rows) == len(files) - 1  # the rest of its batch was stored
    with sqlite3.connect(root / "var" / "store.sqlite") as conn:
        assert conn.execute("select status from received_files where name = ?", (victim,)).fetchone() == ("IN_REJETE",)
        assert conn.execute("select count(*) from transitions").fetchone() == (len(files) - 1,)
    assert "RuntimeError: a bug" in (root / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")


def test_a_batch_logs_a_line_a_file_each_with_its_time_process_and_level(run_cli: Any, tmp_path: Path) -> None:
    """A batch's files go to the log in one record (a line a file): each line still begins with
    the time, the process and the level in the log file, and with the level on the console."""
    files = dict(generate_batch(5, seed=4, start=700))
    files["garbage.xml"] = b"<not-closed"
    root = tmp_path / "ws"
    assert run_cli("--workspace", root, "init").exit_code == 0
    for name, data in files.items():
        (root / "inbox" / name).write_bytes(data)
    result = run_cli("--workspace", root, "-v", "run")
    logged = (root / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8").splitlines()
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\d+) INFO (\S+): IN_(INTEGRE|REJETE) \["
    found = [m for line in logged if (m := re.match(pattern, line))]
    assert sorted(m[2] for m in found) == sorted(files)
    assert {m[1] for m in found} == {str(os.getpid())}
    shown = [line for line in result.stderr.splitlines() if ": IN_" in line]
    assert len(shown) == len(files) and all(line.startswith("info: ") for line in shown)


def test_a_record_of_several_lines_is_written_at_once(tmp_path: Path) -> None:
    """The log file's buffer keeps single records for a thousand, but a batch's record (a line a
    file) is written as it comes, each line with the record's time, process and level."""
    from chorus_batch.cli.root import setup_logging

    path = tmp_path / "chorus-batch.log"
    setup_logging(-1, path, buffered=True)
    log = logging.getLogger("chorus_batch")
    try:
        log.info("one record alone")
        assert path.read_text(encoding="utf-8") == ""  # kept for the next ones
        log.info("a.xml: IN_INTEGRE\nb.xml: IN_REJETE")
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [line.split(" ", 4)[3:] for line in lines] == [
            ["INFO", "one record alone"],
            ["INFO", "a.xml: IN_INTEGRE"],
            ["INFO", "b.xml: IN_REJETE"],
        ]
        assert lines[1].split()[:3] == lines[2].split()[:3]  # the same time and process
    finally:
        setup_logging(0, None)


LINE = Line("1", "Ramette papier A4", Decimal("10"), "C62", Decimal("4.50"), Decimal("20"))


@pytest.mark.slow
def test_a_peer_killed_during_its_lot_is_taken_over_by_the_run(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run (in this process) takes the first lot and the peer the second; the run holds the
    first lot's turn until the peer has claimed files of its lot (the peer then waits for its
    turn, so it still holds them), kills the peer there, and passes the turn on: the run
    finishes the peer's lot, nothing lost or doubled.

    The peer is killed while it waits for its turn, where a peer spends most of its time (a
    ``multiprocessing.Condition`` there would leave the run's next ``notify_all`` waiting for
    the dead peer forever: the turns are polled instead)."""
    root = tmp_path / "ws"
    assert run_cli("--workspace", root, "init").exit_code == 0
    (root / "chorus-batch.toml").write_text("helpers = 1\n", encoding="utf-8")
    names = []
    for i in range(200):  # lots of 50, 38, 28... files
        number = engagement_number(i)
        names.append(f"o-{number}.xml")
        order = ubl_order(number, ISSUERS[i % 3], SUPPLIERS[i % 4], [LINE], date(2026, 1, 5))
        (root / "inbox" / names[-1]).write_bytes(order)

    run_pid, killed = os.getpid(), []
    real_spawn, real_done = lots.Peers._spawn, lots.Turns.done

    def spawn_once_the_run_took_a_lot(peers: lots.Peers) -> None:
        peers.go.wait()
        _until(lambda: peers.turns.next.value > 0, "the run took the first lot")
        real_spawn(peers)

    def done_after_killing_the_peer(turns: lots.Turns, lot: int) -> None:
        if os.getpid() != run_pid or killed:
            real_done(turns, lot)
            return
        assert (lot, turns.owners[0]) == (0, run_pid)
        _until(lambda: turns.next.value > 1, "the peer process took lot 1")
        peer = turns.owners[1]
        holding = root / "var" / "processing" / worker(peer)
        _until(lambda: any(holding.rglob("*.xml")), f"peer process {peer} claimed files of lot 1")
        os.kill(peer, signal.SIGKILL)  # waiting for lot 1's turn
        _until(lambda: _gone(peer), f"peer process {peer} ended")
        real_done(turns, lot)
        killed.append(peer)

    monkeypatch.setattr(lots.Peers, "_spawn", spawn_once_the_run_took_a_lot)
    monkeypatch.setattr(lots.Turns, "done", done_after_killing_the_peer)
    result = run_cli("--workspace", root, "-q", "run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    [peer] = killed
    log_text = (root / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert f"peer process {peer} stopped during lot" in log_text
    assert "put back in the inbox" in log_text  # the files it had claimed
    acks = {p.name: json.loads(p.read_text(encoding="utf-8"))["status"] for p in (root / "outbox" / "acks").iterdir()}
    assert sorted(acks) == sorted(f"{name}.json" for name in names)  # one report each, none twice
    assert set(acks.values()) == {"IN_INTEGRE"}
    assert not any((root / "inbox").iterdir()) and not list((root / "var" / "processing").rglob("*.xml"))
    with sqlite3.connect(root / "var" / "store.sqlite") as conn:
        assert conn.execute("select count(*), count(distinct number) from engagements").fetchone() == (200, 200)
        assert conn.execute("select count(*) from received_files").fetchone() == (200,)


_NAMES = st.text(st.sampled_from("ab.-_1é€ \udcff"), min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..") and not is_temporary(n)
)
_HEADS = {  # a file's first bytes -> its rank: orders, answers (by arrival), invoices, unknown
    "order": ubl_order(
        "EJ1", ISSUERS[0], SUPPLIERS[0], [Line("1", "x", Decimal(1), "C62", Decimal(1), Decimal(20))], date(2026, 1, 5)
    ),
    "answer": b'<OrderResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2"/>',
    "invoice": b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
    "other": b"?",
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(
        st.tuples(st.sampled_from(["", "p", "p2", "pé"]), _NAMES, st.sampled_from(list(_HEADS)), st.integers(1, 3)),
        max_size=25,
        unique_by=lambda f: (f[0], f[1]),
    )
)
def test_the_compact_inbox_of_a_run_sorts_as_the_workspace_orders(tmp_path: Path, files: list[Any]) -> None:
    """A run keeps its inbox in a scratch file of ``var/``, one string a file, sorted in memory
    or in runs merged (``lots.Inbox``), and every process reads its lots from there: in the same
    order as ``Workspace.ordered``, answers by arrival, partners and names of any characters.
    The sort also tells which lots hold a name an earlier lot holds (their names then wait for
    the earlier lots' files). Once removed, nothing of it (nor of its runs) is left in ``var/``."""
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    ws = Workspace(root)
    ws.var.mkdir()
    for partner, name, head, second in files:
        folder = ws.inbox / partner if partner else ws.inbox
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(_HEADS[head])
        os.utime(folder / name, ns=(second * 10**9, second * 10**9))
    expected = ws.ordered(ws.pending(), formats.sniff_rank, formats.BY_ARRIVAL)
    for chunk in (lots.Inbox.CHUNK, 3):  # sorted in memory; in runs of three, merged
        inbox = lots.Inbox.listed(ws)
        assert len(inbox) == len(files)
        try:
            inbox.sort(ws, lambda _files: 4, chunk)
            assert list(inbox.items()) == expected
            assert [len(inbox.lot(lot)) for lot in range(inbox.lots)] == [4] * (len(files) // 4) + (
                [len(files) % 4] if len(files) % 4 else []
            )
            earlier: set[str] = set()
            clash = []
            for lot in range(inbox.lots):
                keys = {lots._name_key(item.name) for item in inbox.lot(lot)}
                clash.append(bool(keys & earlier))
                earlier |= keys
            assert inbox.clash == clash  # the filter's false alarms are far rarer than one in 25 files
        finally:
            inbox.remove()
        assert list(ws.var.iterdir()) == []


@pytest.mark.parametrize(
    ("first", "prefetched"),
    [
        (ubl_order("EJ-1", ISSUERS[0], SUPPLIERS[0], [LINE], date(2026, 1, 5)), ["ubl-order"]),
        (b"<Order><unclosed", []),  # not read: left to the file's own reading
        (b"engagement_number;action\nEJ-1;accept\n", []),  # not XML: no schema
        (None, []),  # a named pipe: never opened for reading (it would wait for a writer)
    ],
)
def test_the_run_compiles_the_schema_of_its_first_file_while_it_sorts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: bytes | None, prefetched: list[str]
) -> None:
    ws = Workspace(tmp_path)
    ws.inbox.mkdir(parents=True)
    if first is None:
        os.mkfifo(ws.inbox / "first.xml")
    else:
        (ws.inbox / "first.xml").write_bytes(first)
    asked: list[str] = []
    monkeypatch.setattr(formats.schemas, "prefetch", asked.append)
    lots._prefetch_first(ws, 10 << 20)
    assert asked == prefetched
    lots._prefetch_first(Workspace(tmp_path / "none"), 10 << 20)  # no inbox at all: nothing happens
    monkeypatch.setattr(lots, "PREFETCH_BYTES", 10)
    lots._prefetch_first(ws, 10 << 20)  # a first file too big to be read for a hint
    assert asked == prefetched


def test_with_peers_the_last_lots_of_a_run_are_smaller() -> None:
    """Alone, a run cuts lots of ``LOT_FILES``; with peers, a lot is at most a share of what is
    left to cut, so the lots shrink at the end (the last ones of 16 files) and a process that
    takes the last lot keeps the others waiting a moment, not a whole lot's time."""

    def sizes(files: int, processes: int) -> list[int]:
        cut = []
        while left := files - sum(cut):
            cut.append(min(left, lots.lot_size(left, processes)))
        return cut

    assert set(sizes(20_000, 1)) == {lots.LOT_FILES}
    for files, processes in ((20_000, 2), (20_000, 5), (1_000, 2), (40, 2)):
        cut = sizes(files, processes)
        assert sum(cut) == files and cut == sorted(cut, reverse=True) and max(cut) <= lots.LOT_FILES
        assert cut[-1] <= 16 and cut[-processes] <= 16  # the last lot each process may take
    assert sizes(20_000, 2)[:45] == [lots.LOT_FILES] * 45  # big lots while much is left


def test_the_filter_of_earlier_names_never_misses_one() -> None:
    seen = lots._Seen()
    names = [f"ubl-order-EJ{i:010d}.xml" for i in range(20_000)]
    assert not seen.add(names[:10_000])
    assert all(seen.add([name]) for name in names[:10_000])
    assert sum(seen.add([name]) for name in names[10_000:]) < 10  # false alarms are rare
