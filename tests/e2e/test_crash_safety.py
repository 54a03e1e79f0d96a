"""A ``run`` killed at any instant loses nothing and does nothing twice (the "always on, never
losing a file" issue): real processes are SIGKILLed and restarted, then every input is
accounted for exactly once — one engagement, one ``received`` transition, one ack, one
archived copy — and nothing is left in ``inbox/`` or ``var/processing/``. ``recover`` is also
checked on hand-made interruptions: a claimed file without a store record goes back to the
inbox and is processed; one whose processing committed is moved where the store says and its
report (re)written.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from _paused import start_paused
from _workspace import initialised
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, ubl_order
from chorus_batch.workspace import worker  # claims live in var/processing/<host>.<pid>/

CLI = [sys.executable, "-m", "chorus_batch"]


def _fill_inbox(ws: Path, count: int, *, start: int, seed: int, prefix: str = "order-") -> dict[str, str]:
    """``count`` distinct UBL orders in ``ws/inbox``; returns file name -> engagement number."""
    inbox = ws / "inbox"
    if not (ws / "var" / "workspace.id").exists():
        initialised(ws)
    rng = random.Random(seed)
    pool = [random_lines(rng, rng.randint(1, 4)) for _ in range(50)]
    names = {}
    for k in range(count):
        number = engagement_number(start + k)
        name = f"{prefix}{k:05d}.xml"
        data = ubl_order(
            number, ISSUERS[k % len(ISSUERS)], SUPPLIERS[k % len(SUPPLIERS)], pool[k % len(pool)], date(2026, 3, 1)
        )
        (inbox / name).write_bytes(data)
        names[name] = number
    return names


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _run(ws: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--workspace", str(ws), "run"], capture_output=True, text=True, timeout=timeout)


def _assert_each_once(ws: Path, names: dict[str, str]) -> None:
    """Every input integrated exactly once, and nothing left behind."""
    assert _files_under(ws / "inbox") == [], _files_under(ws / "inbox")[:10]
    assert _files_under(ws / "var" / "processing") == [], _files_under(ws / "var" / "processing")[:10]
    assert _files_under(ws / "var" / "rejected") == [], _files_under(ws / "var" / "rejected")[:10]

    acks = sorted(p.name for p in (ws / "outbox" / "acks").iterdir() if not p.name.startswith("."))
    assert acks == sorted(f"{name}.json" for name in names), sorted(set(acks) ^ {f"{n}.json" for n in names})[:20]
    statuses = Counter(json.loads((ws / "outbox" / "acks" / a).read_text(encoding="utf-8"))["status"] for a in acks)
    assert statuses == {"IN_INTEGRE": len(names)}, statuses

    archived = Counter(p.name for p in _files_under(ws / "var" / "archive"))
    assert archived == Counter(names.keys()), sorted(set(archived) ^ set(names))[:20]

    with sqlite3.connect(ws / "var" / "store.sqlite") as conn:
        engagements = conn.execute("select number, status from engagements").fetchall()
        received = dict(
            conn.execute(
                "select engagement_id, count(*) from transitions where event = 'received' group by engagement_id"
            ).fetchall()
        )
        n_engagements = conn.execute("select count(*) from engagements").fetchone()[0]
        files = Counter(row[0] for row in conn.execute("select name from received_files"))
        file_statuses = Counter(row[0] for row in conn.execute("select status from received_files"))
    assert n_engagements == len(names)
    assert sorted(n for n, _ in engagements) == sorted(names.values())
    assert {s for _, s in engagements} == {"A_TRAITER"}
    assert len(received) == len(names) and set(received.values()) == {1}, Counter(received.values())
    assert files == Counter(names.keys()), [n for n, c in files.items() if c != 1][:20]
    assert file_statuses == {"IN_INTEGRE": len(names)}, file_statuses


@pytest.mark.slow
def test_sigkill_after_first_ack_then_rerun(tmp_path: Path) -> None:
    """3,000 orders; ``run`` SIGKILLed right after its first ack (paused there, ``_paused``: its
    first file concluded, the rest of that batch committed, neither reported nor moved); ``run``
    again -> exactly 3,000 engagements, each once, A_TRAITER; one ack per file; nothing left in
    inbox or processing."""
    ws = tmp_path / "ws"
    names = _fill_inbox(ws, 3000, start=100_000, seed=7)
    acks = ws / "outbox" / "acks"
    proc = start_paused("_conclude", "after", "--workspace", ws, "run")
    try:
        done_before = len(list(acks.iterdir()))
        proc.send_signal(signal.SIGKILL)
    finally:
        rc = proc.wait(timeout=60)
        proc.communicate()
    assert rc == -signal.SIGKILL
    assert 1 <= done_before < 3000
    assert _scratch(ws), "the killed run's sorted inbox (var/.lots.*) is left"

    second = _run(ws)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Traceback" not in second.stdout + second.stderr
    _assert_each_once(ws, names)
    assert _scratch(ws) == []  # removed by the second run, its owner gone


def _scratch(ws: Path) -> list[str]:
    return [p.name for p in (ws / "var").iterdir() if p.name.startswith((".lots.", ".sort."))]


WAITING = 1500  # files before each restart: more than a run clears before its kill
DEADLINE = 120.0  # seconds a round waits for its kill condition before it gives up


def _acks_count(ws: Path) -> int:
    try:
        entries = list(os.scandir(ws / "outbox" / "acks"))
    except FileNotFoundError:
        return 0
    return sum(1 for e in entries if e.name.endswith(".json") and not e.name.startswith("."))


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` (or give up after ``DEADLINE``); a process that
    ended on its own first is left as it is."""
    deadline = time.monotonic() + DEADLINE
    while proc.poll() is None and not ready():
        assert time.monotonic() < deadline, f"no kill condition within {DEADLINE:.0f} s"
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)


@pytest.mark.slow
def test_random_sigkills_then_restart(tmp_path: Path) -> None:
    """Kill a real ``run`` 15 times at random (seeded) points, restarting it each time, while new
    orders keep arriving (before each restart the inbox is topped up to 1,500 waiting files):
    either while it starts up and recovers (a random 0.05-0.3 s after its start: far less than a
    run of 1,500 files takes) or as soon as a random number (1 to 1,000) of new reports has
    appeared, that is, anywhere in the middle of its work. Then let one run finish: every input
    accounted for exactly once (engagements, ``received`` transitions, acks, archive), nothing
    left in processing or the inbox."""
    ws = tmp_path / "ws"
    names = _fill_inbox(ws, WAITING, start=200_000, seed=11)
    rng = random.Random(20260301)
    killed = 0
    for round_ in range(15):
        early, delay, reports = rng.random() < 0.3, rng.uniform(0.05, 0.3), rng.randint(1, 1000)
        before = _acks_count(ws)
        proc = subprocess.Popen(
            [*CLI, "--workspace", str(ws), "run"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if early:
            started = time.monotonic()
            _kill_when(proc, lambda: time.monotonic() - started >= delay)  # noqa: B023 (called at once)
        else:
            _kill_when(proc, lambda: _acks_count(ws) - before >= reports)  # noqa: B023 (called at once)
        _out, err = proc.communicate(timeout=DEADLINE)
        if proc.returncode == -signal.SIGKILL:
            killed += 1
        else:
            assert proc.returncode == 0, err.decode(errors="replace")
            assert b"Traceback" not in err
        waiting = len(_files_under(ws / "inbox")) + len(_files_under(ws / "var" / "processing"))
        names.update(
            _fill_inbox(
                ws, max(0, WAITING - waiting), start=300_000 + 10_000 * round_, seed=round_, prefix=f"late{round_:02d}-"
            )
        )
    assert killed >= 12, killed  # the kills landed on working runs (each restart had 1,500 files waiting)
    final = _run(ws)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Traceback" not in final.stdout + final.stderr
    _assert_each_once(ws, names)


# -- hand-made interruptions (in-process runs, for speed) ---------------------------------------------


def _order(number: str, *, seed: int = 0) -> bytes:
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(seed), 2), date(2026, 3, 1))


def _engagements(ws: Path) -> list[str]:
    with sqlite3.connect(ws / "var" / "store.sqlite") as conn:
        return sorted(row[0] for row in conn.execute("select number from engagements"))


def _received_rows(ws: Path) -> list[tuple]:
    with sqlite3.connect(ws / "var" / "store.sqlite") as conn:
        return conn.execute("select name, status, stored_as, ack, partner from received_files order by id").fetchall()


def test_claimed_file_without_record_is_put_back_and_processed(workspace: Path, wcli) -> None:
    """A file left in ``var/processing/<worker>/_/`` with no store record (killed between claim and
    commit) goes back to the inbox and is processed by the next run."""
    claimed = workspace / "var" / "processing" / worker() / "_"
    claimed.mkdir(parents=True, exist_ok=True)
    data = _order("EJ2026-700001")
    (claimed / "interrupted.xml").write_bytes(data)

    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert _engagements(workspace) == ["EJ2026-700001"]
    ack = json.loads((workspace / "outbox" / "acks" / "interrupted.xml.json").read_text(encoding="utf-8"))
    assert ack["status"] == "IN_INTEGRE"
    assert _files_under(workspace / "var" / "processing") == []
    assert _files_under(workspace / "inbox") == []
    archived = _files_under(workspace / "var" / "archive")
    assert [p.name for p in archived] == ["interrupted.xml"] and archived[0].read_bytes() == data


def test_claimed_file_in_partner_folder_goes_back_to_that_folder(workspace: Path, wcli) -> None:
    """A claim from ``inbox/acme/`` left in ``var/processing/<worker>/acme/`` is processed as acme's."""
    claimed = workspace / "var" / "processing" / worker() / "acme"
    claimed.mkdir(parents=True, exist_ok=True)
    (claimed / "from-acme.xml").write_bytes(_order("EJ2026-700002"))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert _engagements(workspace) == ["EJ2026-700002"]
    assert [(r[0], r[1], r[4]) for r in _received_rows(workspace)] == [("from-acme.xml", "IN_INTEGRE", "acme")]
    assert _files_under(workspace / "var" / "processing") == [] and _files_under(workspace / "inbox") == []


def test_committed_claim_is_moved_to_its_archive_and_ack_rewritten(workspace: Path, wcli) -> None:
    """Killed after the commit, before the ack and the move: the next run moves the file to the
    archive path of its record and rewrites its ack; nothing is applied twice."""
    data = _order("EJ2026-700003")
    (workspace / "inbox" / "committed.xml").write_bytes(data)
    assert wcli("run").exit_code == 0
    ack_path = workspace / "outbox" / "acks" / "committed.xml.json"
    original_ack = ack_path.read_bytes()
    [(name, status, stored_as, ack, _partner)] = _received_rows(workspace)
    archived = workspace / stored_as
    assert archived.read_bytes() == data and workspace / ack == ack_path

    claimed = workspace / "var" / "processing" / worker() / "_" / "committed.xml"
    claimed.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(archived, claimed)  # as if killed between the commit and the move
    ack_path.unlink()

    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "finished after an interruption" in result.stderr
    assert archived.read_bytes() == data
    assert not claimed.exists() and _files_under(workspace / "var" / "processing") == []
    assert ack_path.read_bytes() == original_ack
    assert sorted(p.name for p in (workspace / "outbox" / "acks").iterdir()) == ["committed.xml.json"]
    assert _engagements(workspace) == ["EJ2026-700003"]
    assert _received_rows(workspace) == [(name, status, stored_as, ack, None)]
    with sqlite3.connect(workspace / "var" / "store.sqlite") as conn:
        assert conn.execute("select count(*) from transitions").fetchone()[0] == 1


def test_committed_rejection_is_moved_back_with_its_errors_file(workspace: Path, wcli) -> None:
    """The same for a rejected file: back to ``var/rejected/``, ack and ``.errors.json`` rewritten."""
    (workspace / "inbox" / "broken.xml").write_bytes(_order("EJ2026-700004")[:300])
    assert wcli("run").exit_code == 1
    rejected = workspace / "var" / "rejected" / "broken.xml"
    errors_file = workspace / "var" / "rejected" / "broken.xml.errors.json"
    ack_path = workspace / "outbox" / "acks" / "broken.xml.json"
    original_ack, original_errors, data = ack_path.read_bytes(), errors_file.read_bytes(), rejected.read_bytes()

    claimed = workspace / "var" / "processing" / worker() / "_" / "broken.xml"
    claimed.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(rejected, claimed)
    ack_path.unlink()
    errors_file.unlink()

    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert rejected.read_bytes() == data
    assert json.loads(errors_file.read_bytes()) == json.loads(original_errors)
    assert ack_path.read_bytes() == original_ack
    assert _files_under(workspace / "var" / "processing") == []
    assert len(_received_rows(workspace)) == 1


def test_interrupted_claim_of_a_reused_file_name_is_processed(workspace: Path, wcli) -> None:
    """Senders reuse file names (``commande.xml`` every day). A NEW ``commande.xml`` claimed and
    then interrupted before its commit has the same ``var/processing/`` path as yesterday's
    committed one: it must still go back to the inbox and be processed — not be taken for
    yesterday's file, moved over yesterday's archived copy and never integrated."""
    first, second = _order("EJ2026-700005", seed=1), _order("EJ2026-700006", seed=2)
    (workspace / "inbox" / "commande.xml").write_bytes(first)
    assert wcli("run").exit_code == 0
    [(_name, _status, first_stored_as, _ack, _p)] = _received_rows(workspace)

    claimed = workspace / "var" / "processing" / worker() / "_" / "commande.xml"
    claimed.parent.mkdir(parents=True, exist_ok=True)
    claimed.write_bytes(second)  # today's file, claimed, then the worker was killed

    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert (workspace / first_stored_as).read_bytes() == first, "yesterday's archived file was overwritten by today's"
    assert _engagements(workspace) == ["EJ2026-700005", "EJ2026-700006"], "today's commande.xml was never integrated"
    stored = sorted(p.read_bytes() for p in _files_under(workspace / "var" / "archive"))
    assert stored == sorted([first, second])
    assert _files_under(workspace / "var" / "processing") == []
