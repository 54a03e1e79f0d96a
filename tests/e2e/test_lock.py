"""The workspace lock (``var/chorus-batch.lock``, an ``flock``) with real processes: a second
``run`` / ``watch`` / ``demo`` while another process holds the workspace exits 3 at once (while
the holder still holds it: the holder lets go only when the test says) and names the holder; a
lock left by a SIGKILLed ``watch`` never blocks the next ``run``. Every wait is on a condition
(a line printed, a file's content) with a generous deadline, never on elapsed time.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from _paused import resume, start_paused
from _workspace import initialised
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, random_lines, ubl_order

pytestmark = pytest.mark.slow  # real processes

CLI = [sys.executable, "-m", "chorus_batch"]

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from chorus_batch.workspace import Workspace
    with Workspace(Path(sys.argv[1])).locked("2026-03-01T10:00:00Z"):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes our stdin
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding the workspace through the product's own lock."""
    ws = tmp_path / "ws"
    initialised(ws)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ws)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield ws, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _cli(ws: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The console entry point; a command still waiting after ``timeout`` seconds fails the test."""
    return subprocess.run([*CLI, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=timeout)


def _order(number: str) -> bytes:
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(number), 2), date(2026, 3, 1))


def _assert_names_holder(stderr: str, pid: int) -> None:
    assert f"PID {pid}" in stderr, stderr
    assert socket.gethostname() in stderr, stderr
    assert "since 2026-03-01T10:00:00Z" in stderr, stderr
    assert "Traceback" not in stderr


def test_second_run_exits_3_at_once(holder) -> None:
    ws, proc = holder
    (ws / "inbox" / "waiting.xml").write_bytes(_order("EJ2026-800001"))
    r = _cli(ws, "run")  # returns while the holder holds the lock: it did not wait for it
    assert r.returncode == 3, (r.stdout, r.stderr)
    _assert_names_holder(r.stderr, proc.pid)
    assert (ws / "inbox" / "waiting.xml").exists(), "a refused run must not touch the inbox"
    assert not (ws / "outbox" / "acks").exists() or not any((ws / "outbox" / "acks").iterdir())

    proc.stdin.close()  # the holder lets go: the next run works
    proc.wait(timeout=60)
    r = _cli(ws, "run")
    assert r.returncode == 0, r.stderr
    assert (ws / "outbox" / "acks" / "waiting.xml.json").exists()


def test_watch_exits_3_when_held(holder) -> None:
    ws, proc = holder
    r = _cli(ws, "watch")
    assert r.returncode == 3, (r.stdout, r.stderr)
    _assert_names_holder(r.stderr, proc.pid)


def test_demo_exits_3_when_held(holder) -> None:
    """``demo`` runs the chain through the same lock: it does not process a held workspace."""
    ws, proc = holder
    r = _cli(ws, "demo")
    assert r.returncode == 3, (r.stdout, r.stderr)
    _assert_names_holder(r.stderr, proc.pid)
    assert not (ws / "var" / "store.sqlite").exists() or not any((ws / "var" / "archive").rglob("*.xml"))


def _flock_holders(path: Path) -> set[int]:
    """PIDs holding an ``flock`` on ``path`` right now, from ``/proc/locks`` (read-only: taking
    the lock to find out would itself disturb the holder)."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set()
    pids = set()
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            pids.add(int(parts[4]))
    return pids


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks (Linux)")
def test_demo_takes_the_lock(tmp_path: Path) -> None:
    """When ``demo`` processes (paused as its processing starts, ``_paused``), it holds the
    workspace lock (seen in ``/proc/locks``) and the lock file names it, exactly as for ``run``."""
    ws = tmp_path / "demo"
    lock = ws / "var" / "chorus-batch.lock"
    demo = start_paused("claim", "before", "--workspace", ws, "demo")
    try:
        holders, named = _flock_holders(lock), lock.read_text()
    finally:
        code, _out, err = resume(demo)
    assert demo.pid in holders, f"demo processes without holding the workspace lock: {holders}"
    assert f"PID {demo.pid} " in named, named
    assert code == 0, err[-2000:]


def test_lock_left_by_a_killed_watch_does_not_block(tmp_path: Path) -> None:
    """SIGKILL a ``watch`` (no chance to clean up): its lock file stays, naming a dead PID, yet
    the next ``run`` proceeds (exit 0) and processes the inbox."""
    ws = tmp_path / "ws"
    initialised(ws)
    watch = subprocess.Popen(
        [*CLI, "--workspace", str(ws), "watch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    lock = ws / "var" / "chorus-batch.lock"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (lock.exists() and f"PID {watch.pid} " in lock.read_text()):
            assert watch.poll() is None, "watch exited early"
            time.sleep(0.05)
        assert f"PID {watch.pid} " in lock.read_text()
        busy = _cli(ws, "run")
        assert busy.returncode == 3, busy.stderr  # really held while alive
    finally:
        watch.send_signal(signal.SIGKILL)
        assert watch.wait(timeout=60) == -signal.SIGKILL
    assert lock.exists() and f"PID {watch.pid} " in lock.read_text()  # left behind, stale

    (ws / "inbox" / "after-crash.xml").write_bytes(_order("EJ2026-800002"))
    r = _cli(ws, "run")  # a run that waited on the stale lock would fail on the deadline
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert (ws / "outbox" / "acks" / "after-crash.xml.json").exists()
    assert f"PID {watch.pid} " not in lock.read_text()  # the run took the lock over and named itself
