"""SIGINT and SIGTERM stop real ``run`` and ``watch`` processes cleanly (the "signals" issue).

``run`` on a few hundred orders (peer processes share them) gets the signal at random instants,
sent to its whole process group as a terminal or systemd would: it exits 128 + the signal's
number with its summary, never a traceback nor an internal error; no file is rejected for it,
nothing stays claimed in ``var/processing/``, and no peer of it outlives it, not even as a
zombie. A plain ``run`` then takes the rest: every file integrated exactly once. ``watch`` gets
the signal 0.05 to 0.6 s after its start (most of it spent importing) and exits 0.

A signal is sent no earlier than the process has caught SIGTERM (``_handling``): the
interpreter's own start-up, before any code of the package runs, is not the package's to
handle, and a loaded machine may take longer than usual over it. Every wait has a generous
deadline; nothing is timed (``bench/signals.py`` measures how soon they stop).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, ubl_order

pytestmark = pytest.mark.slow  # real processes

CLI = [sys.executable, "-m", "chorus_batch"]
WAITING = 300  # orders in the inbox before each run: enough for peers (PEERS_MIN_FILES)
DEADLINE = 60.0  # seconds a process has to end after its signal


def _fill(ws: Path, start: int, rng: random.Random) -> list[str]:
    """Top the inbox up to ``WAITING`` orders; return the names added."""
    inbox = ws / "inbox"
    waiting = sum(1 for _ in inbox.iterdir())
    names = []
    for k in range(start, start + WAITING - waiting):
        order = ubl_order(
            engagement_number(600_000 + k), ISSUERS[k % 4], SUPPLIERS[k % 4], random_lines(rng, 2), date(2026, 3, 1)
        )
        names.append(f"order-{k:05d}.xml")
        (inbox / names[-1]).write_bytes(order)
    return names


def _init(ws: Path) -> None:
    done = subprocess.run([*CLI, "--workspace", str(ws), "init"], capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid -> (parent, process group, state)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        state, parent, group = stat[stat.rindex(")") + 2 :].split()[:3]
        found[int(entry)] = (int(parent), int(group), state)
    return found


def _group(pgid: int) -> dict[int, tuple[int, int, str]]:
    return {pid: about for pid, about in _processes().items() if about[1] == pgid}


def _handling(pid: int) -> bool:
    """Whether ``pid`` has caught SIGTERM (its handlers are installed), or has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def _signal_at(command: list[str], delay: float, sig: int) -> tuple[subprocess.Popen[str], bool]:
    """Start ``command`` as a process group of its own and send ``sig`` to the group ``delay``
    seconds later (once it handles signals); return the process and whether the signal was
    sent (not if the process had ended first)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    started = time.monotonic()
    while proc.poll() is None and (time.monotonic() - started < delay or not _handling(proc.pid)):
        assert time.monotonic() - started < DEADLINE, "the process never caught SIGTERM"
        time.sleep(0.002)
    if proc.poll() is not None:
        return proc, False
    os.killpg(proc.pid, sig)
    return proc, True


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"no exit within {DEADLINE:.0f} s of the signal:\n{out}\n{err[-3000:]}")
    return proc.returncode, out, err


def _assert_no_process_left(pgid: int) -> None:
    """Right after the run's exit, none of its peers is left (they are the fork server's children:
    a process of the group whose parent is in the group too); then the helpers it started (the
    fork server, the resource tracker) end as well, each reaped."""
    group = _group(pgid)
    peers = {pid: about for pid, about in group.items() if about[0] in group}
    assert not peers, f"peer processes left after the run: {peers}"
    deadline = time.monotonic() + DEADLINE
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _group(pgid), _group(pgid)


def _acks(ws: Path) -> dict[str, dict]:
    folder = ws / "outbox" / "acks"
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.iterdir() if not p.name.startswith(".")}


def _assert_clean(ws: Path, err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err[-3000:]
    assert not [p for p in (ws / "var" / "processing").rglob("*") if p.is_file()]
    assert not list((ws / "var" / "rejected").iterdir())
    interrupted = [name for name, ack in _acks(ws).items() if ack["status"] != "IN_INTEGRE"]
    assert not interrupted, interrupted  # no file rejected (INTERNAL_ERROR) for the interruption


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_stopped_at_random_instants_then_run_again(tmp_path: Path, sig: signal.Signals) -> None:
    ws = tmp_path / "ws"
    _init(ws)
    rng = random.Random(int(sig))
    names: list[str] = []
    sent = 0
    for round_ in range(4):
        names += _fill(ws, len(names), rng)
        # the first while it imports (no run gets through 300 files in that time), then anywhere:
        # recovery, listing, any lot, or after the end
        delay = rng.uniform(0.05, 0.5) if round_ == 0 else rng.uniform(0.05, 2.0)
        proc, signalled = _signal_at([*CLI, "--workspace", str(ws), "run"], delay, sig)
        rc, out, err = _finish(proc)
        _assert_no_process_left(proc.pid)
        _assert_clean(ws, err)
        if signalled:
            sent += 1
            assert rc == 128 + sig, out + err
            assert f"interrupted by {sig.name}: " in out, out
        else:
            assert rc == 0, out + err
    assert sent >= 1
    final = subprocess.run([*CLI, "--workspace", str(ws), "run"], capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stdout + final.stderr
    _assert_clean(ws, final.stderr)
    assert sorted(_acks(ws)) == sorted(f"{name}.json" for name in names)  # each file once
    assert sorted(p.name for p in (ws / "var" / "archive").rglob("*.xml")) == sorted(names)
    assert not list((ws / "inbox").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_watch_stopped_during_its_start_exits_0(tmp_path: Path, sig: signal.Signals) -> None:
    ws = tmp_path / "ws"
    _init(ws)
    rng = random.Random(int(sig))
    names = _fill(ws, 0, rng)[:20]
    for extra in (ws / "inbox").iterdir():
        if extra.name not in names:
            extra.unlink()
    for _round in range(4):
        proc, signalled = _signal_at([*CLI, "--workspace", str(ws), "watch"], rng.uniform(0.05, 0.6), sig)
        rc, out, err = _finish(proc)
        assert signalled, out + err
        assert rc == 0, out + err
        assert "Traceback" not in err, err
        assert "stopped; " in out, out
        assert not [p for p in (ws / "var" / "processing").rglob("*") if p.is_file()]
