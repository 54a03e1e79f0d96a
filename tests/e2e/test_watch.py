"""``watch`` with real processes (the "always on, never losing a file" issue): files dropped by
temporary name + rename and files written in place in two chunks with a pause are all
integrated, none is read half-written; ``run`` on the same workspace meanwhile exits 3 naming
the holder; SIGTERM / SIGINT stop the watcher with exit 0; files present before the start are
processed; ``--polling`` works; temporary names are left alone.

Every wait is on a condition (a log line, the reports written) with a generous deadline
(``DEADLINE``), never "this must have happened within N seconds": a loaded machine is slower,
not wrong. What must NOT happen (a file read while its writer keeps it open, a temporary name
taken) is checked once the watcher has shown it is working, or after it has stopped.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, ubl_order

pytestmark = pytest.mark.slow  # real processes

CLI = [sys.executable, "-m", "chorus_batch"]
TEMP_NAMES = ("later.xml.tmp", "upload.xml.part", ".hidden.xml", "backup.xml~")
DEADLINE = 120.0  # seconds: how long a test waits for the watcher before it gives up
# no periodic rescan within DEADLINE: a file dropped while watching is found by its events only
EVENTS_ONLY = "[watch]\nrescan_seconds = 86400\n"


def _order(i: int, rng: random.Random) -> bytes:
    return ubl_order(
        engagement_number(50_000 + i), ISSUERS[i % 4], SUPPLIERS[i % 4], random_lines(rng, 3), date(2026, 3, 1)
    )


def _acks(ws: Path) -> dict[str, dict]:
    folder = ws / "outbox" / "acks"
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.iterdir():
        if path.name.endswith(".json") and not path.name.startswith("."):
            try:
                out[path.name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # being replaced right now: read it next time
                continue
    return out


def _wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Watch:
    """A real ``chorus-batch watch`` process; stderr goes to a file (no pipe to fill up)."""

    def __init__(self, ws: Path, *extra: str, verbose: bool = True) -> None:
        self.ws = ws
        self.err_path = ws.parent / f"watch-{os.getpid()}-{time.monotonic_ns()}.stderr"
        self.out_path = self.err_path.with_suffix(".stdout")
        self._err = open(self.err_path, "wb")  # noqa: SIM115 -- the process writes it until stop() closes it
        self._out = open(self.out_path, "wb")  # noqa: SIM115 -- the same
        self.proc = subprocess.Popen(
            [*CLI, "--workspace", str(ws), *(["-v"] if verbose else []), "watch", *extra],
            stdout=self._out,
            stderr=self._err,
        )

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def wait_watching(self, timeout: float = DEADLINE) -> None:
        """Until the observer runs (the ``watching ...`` line is logged after it started)."""
        ok = _wait_for(lambda: "watching " in self.stderr or self.proc.poll() is not None, timeout)
        assert ok and self.proc.poll() is None, f"watch did not start: rc={self.proc.poll()} {self.stderr[-2000:]}"

    def stop(self, sig: int, timeout: float = DEADLINE) -> int:
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"watch did not stop within {timeout} s of signal {sig}: {self.stderr[-2000:]}")
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()
        self._out.close()


@pytest.fixture
def watch_factory() -> Iterator:
    started: list[Watch] = []

    def start(ws: Path, *extra: str, verbose: bool = True) -> Watch:
        w = Watch(ws, *extra, verbose=verbose)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def _init(root: Path, config: str | None = None) -> Path:
    r = subprocess.run([*CLI, "--workspace", str(root), "init"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    if config is not None:
        (root / "chorus-batch.toml").write_text(config, encoding="utf-8")
    return root


def _drop_temp_names(inbox: Path) -> dict[str, bytes]:
    dropped = {}
    for k, name in enumerate(TEMP_NAMES):
        data = f"still being written {k}\n".encode()
        (inbox / name).write_bytes(data)
        dropped[name] = data
    return dropped


def _assert_temp_names_untouched(ws: Path, dropped: dict[str, bytes], acks: dict[str, dict]) -> None:
    for name, data in dropped.items():
        assert (ws / "inbox" / name).read_bytes() == data, f"{name} was touched"
        assert f"{name}.json" not in acks


def test_watch_rename_and_chunked_writes_lock_and_sigterm(tmp_path: Path, watch_factory) -> None:
    """The issue's scenario: 100 orders by temp name + rename, 3 written in place in two chunks
    with a pause of several seconds (file kept open) -> all 103 IN_INTEGRE, none read
    half-written; ``run`` meanwhile exits 3 naming the holder; SIGTERM -> exit 0."""
    ws = _init(tmp_path / "ws", EVENTS_ONLY)
    inbox = ws / "inbox"
    rng = random.Random(1)
    watcher = watch_factory(ws)
    watcher.wait_watching()
    temp = _drop_temp_names(inbox)

    expected: dict[str, bytes] = {}
    for i in range(100):
        data = _order(i, rng)
        tmp = inbox / f"o{i:03d}.xml.tmp"
        tmp.write_bytes(data)
        os.rename(tmp, inbox / f"o{i:03d}.xml")
        expected[f"o{i:03d}.xml"] = data
    handles = []
    for i in range(3):
        data = _order(100 + i, rng)
        name = f"chunk{i}.xml"
        fh = open(inbox / name, "wb")  # noqa: SIM115 -- left open on purpose: a writer still writing
        fh.write(data[: len(data) // 2])
        fh.flush()
        handles.append((fh, data))
        expected[name] = data
    try:
        # a one-shot run while watch holds the workspace: exit 3 (while it holds it), the holder named
        r = subprocess.run([*CLI, "--workspace", str(ws), "run"], capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        assert f"PID {watcher.proc.pid}" in r.stderr and socket.gethostname() in r.stderr and "since" in r.stderr, (
            r.stderr
        )

        # the watcher is at work (the renamed files are done), then the writers keep their files
        # open well past stable_seconds (2): a pause only makes this check weaker, never wrong
        renamed = {f"o{i:03d}.xml.json" for i in range(100)}
        seen = _wait_for(lambda: renamed <= set(_acks(ws)), DEADLINE, 0.25)
        assert seen, (sorted(_acks(ws))[-5:], watcher.stderr[-3000:])
        time.sleep(5)
        acks = _acks(ws)
        for i in range(3):
            assert f"chunk{i}.xml.json" not in acks, (
                f"chunk{i}.xml processed while still open: {acks.get(f'chunk{i}.xml.json')}"
            )
            assert (inbox / f"chunk{i}.xml").exists(), f"chunk{i}.xml claimed while still open"
    finally:
        for fh, data in handles:
            if not fh.closed:
                fh.write(data[len(data) // 2 :])
                fh.close()

    assert _wait_for(lambda: len(_acks(ws)) >= 103, DEADLINE, 0.25), (
        f"{len(_acks(ws))} acks after {DEADLINE:.0f} s; {watcher.stderr[-3000:]}"
    )
    acks = _acks(ws)
    assert sorted(acks) == sorted(f"{name}.json" for name in expected), sorted(
        set(acks) ^ {f"{n}.json" for n in expected}
    )
    bad = {
        name: (a["status"], [e["code"] for e in a["errors"]]) for name, a in acks.items() if a["status"] != "IN_INTEGRE"
    }
    assert not bad, bad

    # none read half-written: the archived bytes are the whole documents
    archived = {p.name: p.read_bytes() for p in (ws / "var" / "archive").rglob("*") if p.is_file()}
    assert archived == expected
    assert not any((ws / "var" / "rejected").iterdir())

    rc = watcher.stop(signal.SIGTERM)
    assert rc == 0, watcher.stderr[-2000:]
    _assert_temp_names_untouched(ws, temp, _acks(ws))  # the watcher has stopped: for its whole life
    assert "Traceback" not in watcher.stderr
    assert "103 file(s) processed" in watcher.stdout
    # the lock went with the watcher: a run now works
    r = subprocess.run([*CLI, "--workspace", str(ws), "run"], capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in inbox.iterdir()) == sorted(TEMP_NAMES)


def test_watch_startup_scan_and_sigint(tmp_path: Path, watch_factory) -> None:
    """Files present before watch starts are processed (start-up scan), files dropped in place
    afterwards too; SIGINT stops it with exit 0; temporary names stay in the inbox."""
    ws = _init(tmp_path / "ws", EVENTS_ONLY)
    inbox = ws / "inbox"
    rng = random.Random(2)
    before = {f"before{i}.xml": _order(200 + i, rng) for i in range(3)}
    for name, data in before.items():
        (inbox / name).write_bytes(data)
    temp = _drop_temp_names(inbox)

    watcher = watch_factory(ws)
    watcher.wait_watching()
    after = {"after-inplace.xml": _order(210, rng)}
    (inbox / "after-inplace.xml").write_bytes(after["after-inplace.xml"])

    want = {f"{n}.json" for n in (*before, *after)}
    assert _wait_for(lambda: want <= set(_acks(ws)), DEADLINE, 0.2), (sorted(_acks(ws)), watcher.stderr[-2000:])
    acks = _acks(ws)
    assert set(acks) == want
    assert {a["status"] for a in acks.values()} == {"IN_INTEGRE"}

    rc = watcher.stop(signal.SIGINT)
    assert rc == 0, watcher.stderr[-2000:]
    _assert_temp_names_untouched(ws, temp, _acks(ws))  # the watcher has stopped: for its whole life
    assert "Traceback" not in watcher.stderr
    assert sorted(p.name for p in inbox.iterdir()) == sorted(TEMP_NAMES)


POLLING_CONFIG = "[watch]\nstable_seconds = 1\nrescan_seconds = 86400\n"


def test_watch_polling_startup_scan(tmp_path: Path, watch_factory) -> None:
    """``--polling`` (stable_seconds = 1, no rescan): the files found by the start-up scan are
    processed."""
    ws = _init(tmp_path / "ws", POLLING_CONFIG)
    rng = random.Random(3)
    names = [f"pre{i}.xml" for i in range(3)]
    for i, name in enumerate(names):
        (ws / "inbox" / name).write_bytes(_order(300 + i, rng))
    watcher = watch_factory(ws, "--polling")
    watcher.wait_watching()
    assert "(polling)" in watcher.stderr
    want = {f"{n}.json" for n in names}
    assert _wait_for(lambda: want <= set(_acks(ws)), DEADLINE, 0.2), (sorted(_acks(ws)), watcher.stderr[-2000:])
    assert {a["status"] for a in _acks(ws).values()} == {"IN_INTEGRE"}
    rc = watcher.stop(signal.SIGTERM)
    assert rc == 0


def test_watch_polling_processes_files_dropped_while_running(tmp_path: Path, watch_factory) -> None:
    """``--polling`` (stable_seconds = 1, no rescan): files dropped AFTER the start — in place,
    and by temp name + rename — are processed; the temp names are left alone. They are dropped
    once the file present at the start has its report (the start-up scan is behind us), so only
    the poller's events can bring them in."""
    ws = _init(tmp_path / "ws", POLLING_CONFIG)
    inbox = ws / "inbox"
    rng = random.Random(4)
    (inbox / "present.xml").write_bytes(_order(399, rng))
    watcher = watch_factory(ws, "--polling")
    watcher.wait_watching()
    scanned = _wait_for(lambda: "present.xml.json" in _acks(ws), DEADLINE, 0.2)
    assert scanned, (sorted(_acks(ws)), watcher.stderr[-2000:])
    temp = _drop_temp_names(inbox)
    (inbox / "inplace.xml").write_bytes(_order(400, rng))
    (inbox / "renamed.xml.tmp").write_bytes(_order(401, rng))
    os.rename(inbox / "renamed.xml.tmp", inbox / "renamed.xml")

    want = {"present.xml.json", "inplace.xml.json", "renamed.xml.json"}
    ok = _wait_for(lambda: want <= set(_acks(ws)), DEADLINE, 0.2)
    left = sorted(p.name for p in inbox.iterdir())
    rc = watcher.stop(signal.SIGTERM)
    assert ok, f"with --polling, files dropped while watching stay in the inbox: acks={sorted(_acks(ws))}, inbox={left}"
    assert {a["status"] for a in _acks(ws).values()} == {"IN_INTEGRE"}
    _assert_temp_names_untouched(ws, temp, _acks(ws))
    assert rc == 0


def test_watch_never_blocks_on_an_entry_that_is_not_a_file(tmp_path: Path, watch_factory) -> None:
    """A named pipe, a link to a device and a link to a file outside the workspace, dropped
    while ``watch`` runs (and one pipe there at start-up): each is rejected with
    NOT_A_REGULAR_FILE without waiting for the close timeout and without being opened; the
    good file dropped after them is integrated; SIGTERM still stops the watcher with 0."""
    ws = _init(tmp_path / "ws", EVENTS_ONLY)
    inbox = ws / "inbox"
    os.mkfifo(inbox / "early-pipe.xml")
    outside = tmp_path / "outside.xml"
    outside.write_bytes(_order(1, random.Random(1)))
    watcher = watch_factory(ws)
    watcher.wait_watching()
    os.mkfifo(inbox / "pipe.xml")
    (inbox / "device.xml").symlink_to("/dev/zero")
    (inbox / "outside.xml").symlink_to(outside)
    (inbox / "good.tmp").write_bytes(_order(2, random.Random(2)))
    os.rename(inbox / "good.tmp", inbox / "good.xml")
    odd = ("early-pipe.xml", "pipe.xml", "device.xml", "outside.xml")
    assert _wait_for(lambda: {f"{n}.json" for n in (*odd, "good.xml")} <= set(_acks(ws)), DEADLINE), watcher.stderr
    acks = _acks(ws)
    assert acks["good.xml.json"]["status"] == "IN_INTEGRE"
    for name in odd:
        assert {e["code"] for e in acks[f"{name}.json"]["errors"]} == {"NOT_A_REGULAR_FILE"}
    search = [*CLI, "--workspace", str(ws), "orders", "search", "--format", "json"]
    found = json.loads(subprocess.run(search, capture_output=True, timeout=60, check=True).stdout)
    assert len(found) == 1  # the good order only: the file outside was never read
    assert watcher.stop(signal.SIGTERM) == 0
    assert "Traceback" not in watcher.stderr
    assert list(inbox.iterdir()) == []


def test_watch_takes_a_file_moved_in_once_it_is_stable(tmp_path: Path, watch_factory) -> None:
    """A file moved into the inbox from another folder of the same file system (``mv``) is whole
    when it appears: taken after ``stable_seconds``, not after ``close_timeout_seconds``
    (docs/operations.md, "How watch takes a file")."""
    ws = _init(tmp_path / "ws", EVENTS_ONLY + "close_timeout_seconds = 3600\n")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "moved.xml").write_bytes(_order(7, random.Random(7)))
    watcher = watch_factory(ws)
    watcher.wait_watching()
    os.rename(staging / "moved.xml", ws / "inbox" / "moved.xml")
    assert _wait_for(lambda: "moved.xml.json" in _acks(ws), 30), watcher.stderr
    assert _acks(ws)["moved.xml.json"]["status"] == "IN_INTEGRE"
    assert watcher.stop(signal.SIGTERM) == 0


def test_watch_says_what_happened_without_v(tmp_path: Path, watch_factory) -> None:
    """Without -v, watch prints on stdout, as it happens, the lines run prints under its
    summary: a file rejected, a row rejected inside a partly integrated file, a parked row
    (what it waits for, until when); nothing on stderr. With -q it prints none of them."""
    from chorus_batch.demo.generate import responses_csv

    ws = _init(tmp_path / "ws", EVENTS_ONLY)
    inbox = ws / "inbox"
    (inbox / "order.xml").write_bytes(_order(300, random.Random(3)))
    number = engagement_number(50_300)
    watcher = watch_factory(ws, verbose=False)
    assert _wait_for(lambda: "order.xml.json" in _acks(ws), DEADLINE, 0.2), watcher.stderr[-2000:]
    (inbox / "broken.xml").write_bytes(b"<Order><unclosed>")
    rows = [(number, "refuse", ""), (number, "accept", ""), ("EJ-NOWHERE-1", "accept", "")]
    (inbox / "answers.csv").write_bytes(responses_csv(rows))
    want = ("rejected broken.xml: XML_MALFORMED", "rejected answers.csv document 1: REASON_REQUIRED")
    assert _wait_for(
        lambda: all(w in watcher.stdout for w in want) and "parked answers.csv" in watcher.stdout, DEADLINE, 0.2
    ), (watcher.stdout, watcher.stderr[-2000:])
    assert "parked answers.csv document 3: order_response waits for order EJ-NOWHERE-1 until " in watcher.stdout
    assert watcher.stop(signal.SIGTERM) == 0, watcher.stderr[-2000:]
    assert watcher.stderr == "", watcher.stderr[-2000:]  # nothing logged on the console without -v

    (inbox / "broken2.xml").write_bytes(b"<Order><unclosed>")
    silent = subprocess.Popen(
        [*CLI, "--workspace", str(ws), "-q", "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert _wait_for(lambda: "broken2.xml.json" in _acks(ws), DEADLINE, 0.2)
        silent.send_signal(signal.SIGTERM)
        out, err = silent.communicate(timeout=DEADLINE)
    finally:
        if silent.poll() is None:
            silent.kill()
            silent.wait()
    assert silent.returncode == 0 and out == b"" and err == b"", (out, err)
