"""Several ``run`` processes at once on one workspace (real processes, ``python -m chorus_batch``).

On PostgreSQL the database arbitrates and no workspace lock is taken: two workers started
together, then three (one alone, the two others joining as soon as it has concluded its first
file) on one inbox of 600 UBL orders must all exit 0 and leave exactly 600 engagements (each
``(issuer_id, number)`` once, each with one ``received`` transition), one integration report
per file, nothing in ``inbox/``, ``var/processing/`` or ``var/rejected/``, and no traceback on
the console. Three workers started together on an empty database (no ``init``) must create the
tables once between them. A mixed inbox of orders and their UBL AP answers, taken by three
workers, must end with every engagement PRIS_EN_COMPTE and each answer applied once: the answers
are named so that the first ones a worker takes answer the last orders, the very last of which
is large (slow to commit), so an answer is usually parked while its order is being committed by
another worker, and taken up before the workers exit (``_unpark`` after the order's commit or
``retry_parked`` at the end of a run). On SQLite a second ``run`` while the first holds the
workspace exits 3.

The PostgreSQL database comes from ``_postgres.pg_url`` (skipped without a server, failed when
``CHORUS_REQUIRE_POSTGRES=1``).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from _paused import finish, resume, start_paused
from chorus_batch.demo.generate import (
    ISSUERS,
    SUPPLIERS,
    engagement_number,
    random_lines,
    ubl_order,
    ubl_order_response,
)

pytestmark = pytest.mark.slow  # real processes

CLI = [sys.executable, "-m", "chorus_batch"]
ORDERS = 600
TIMEOUT = 120  # seconds a worker may take before the test gives up on it


# -- helpers ------------------------------------------------------------------------------------------


@dataclass
class Exit:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}: {(self.stdout + self.stderr).strip()[-1500:]}"


def cli(ws: Path, db: str | None, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    store = ["--db", db] if db else []
    return subprocess.run(
        [*CLI, "--workspace", str(ws), *store, *args], capture_output=True, text=True, timeout=timeout
    )


def init(ws: Path, db: str | None) -> None:
    result = cli(ws, db, "init")
    assert result.returncode == 0, result.stdout + result.stderr


def workers(ws: Path, db: str | None, count: int, *, join_late: bool = False) -> list[Exit]:
    """Start ``count`` ``chorus-batch -q run`` processes on ``ws`` and wait for all of them: all
    at once, or with ``join_late`` the first alone and the others as soon as it has concluded a
    file (workers joining a busy workspace, as a restarted service or a cron ``run`` does)."""
    store = ["--db", db] if db else []

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, "--workspace", str(ws), *store, "-q", "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    procs = [start()]
    if join_late:
        deadline = time.monotonic() + 30
        while not any((ws / "outbox" / "acks").iterdir()) and procs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    procs += [start() for _ in range(count - 1)]
    return [Exit(*finish(proc, TIMEOUT)) for proc in procs]


@dataclass(frozen=True)
class Order:
    issuer: Any
    supplier: Any
    number: str
    data: bytes


def orders(first: int, count: int, *, big: int = 0, big_lines: int = 300) -> dict[str, Order]:
    """``count`` UBL orders with distinct numbers, by file name; the ``big`` last ones by name
    (the last a worker takes) have ``big_lines`` lines, so they take long to commit."""
    rng = random.Random(first)
    numbers = sorted((f"commande-{engagement_number(i)}.xml", i) for i in range(first, first + count))
    out = {}
    for k, (name, i) in enumerate(numbers):
        number = engagement_number(i)
        issuer, supplier = ISSUERS[i % len(ISSUERS)], SUPPLIERS[(i // 4) % len(SUPPLIERS)]
        lines = random_lines(rng, big_lines if k >= count - big else rng.randint(1, 3))
        out[name] = Order(issuer, supplier, number, ubl_order(number, issuer, supplier, lines, date(2026, 3, 2)))
    return out


def search(ws: Path, db: str | None, *criteria: str) -> list[dict[str, Any]]:
    result = cli(ws, db, "orders", "search", "--format", "json", *criteria)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def ack_names(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "outbox" / "acks").iterdir())


def sql(url: str, query: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)).all())
    finally:
        engine.dispose()


def log_excerpt(ws: Path) -> str:
    """The warnings and errors of the workers' shared log (for the failure message)."""
    path = ws / "var" / "log" / "chorus-batch.log"
    if not path.exists():
        return ""
    lines = [
        ln
        for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if " WARNING " in ln or " ERROR " in ln or re.match(r"[\w.]+(Error|Exception|Violation): ", ln)
    ]
    return "\n".join(lines[:20])


def check_intake(ws: Path, db: str, files: dict[str, Order], exits: list[Exit]) -> list[str]:
    """Everything that must hold after concurrent workers took ``files``: the problems found."""
    problems = [f"worker {i}: {e}" for i, e in enumerate(exits) if e.code != 0]
    problems += [
        f"worker {i} showed a traceback: {e.stderr[:300]!r}" for i, e in enumerate(exits) if "Traceback" in e.stderr
    ]
    rows = search(ws, db)
    keys = Counter((r["issuer_id"], r["number"]) for r in rows)
    expected = {(o.issuer.siret, o.number) for o in files.values()}
    if len(rows) != len(files):
        problems.append(f"{len(rows)} engagements, expected {len(files)}")
    if [k for k, n in keys.items() if n > 1]:
        problems.append(f"engagements more than once: {[k for k, n in keys.items() if n > 1][:5]}")
    if set(keys) != expected:
        problems.append(f"missing {sorted(expected - set(keys))[:5]}, unexpected {sorted(set(keys) - expected)[:5]}")
    acks = ack_names(ws)
    if acks != sorted(f"{name}.json" for name in files):
        extra = sorted(set(acks) - {f"{name}.json" for name in files})
        problems.append(f"{len(acks)} integration reports for {len(files)} files; extra: {extra[:6]}")
    statuses = Counter(
        json.loads((ws / "outbox" / "acks" / f"{name}.json").read_text())["status"]
        for name in files
        if (ws / "outbox" / "acks" / f"{name}.json").exists()
    )
    if statuses != Counter({"IN_INTEGRE": len(files)}):
        problems.append(f"report statuses {dict(statuses)}")
    for folder in ("inbox", "var/processing", "var/rejected"):
        left = files_in(ws / folder)
        if left:
            problems.append(f"{len(left)} file(s) left in {folder}/: {left[:6]}")
    archived = [Path(p).name for p in files_in(ws / "var" / "archive")]
    if sorted(archived) != sorted(files):
        problems.append(
            f"{len(archived)} archived files for {len(files)} (e.g. extra {sorted(set(archived) - set(files))[:4]})"
        )
    received = sql(
        db,
        "SELECT e.issuer_id, e.number, count(t.id) FROM engagements e "
        "LEFT JOIN transitions t ON t.engagement_id = e.id AND t.event = 'received' GROUP BY e.issuer_id, e.number",
    )
    not_once = [(r[0], r[1], r[2]) for r in received if r[2] != 1]
    if not_once:
        problems.append(f"'received' transitions not exactly once: {not_once[:5]}")
    files_rows = sql(db, "SELECT status, count(*) FROM received_files GROUP BY status")
    if dict((r[0], r[1]) for r in files_rows) != {"IN_INTEGRE": len(files)}:
        problems.append(f"received_files by status: {dict((r[0], r[1]) for r in files_rows)}")
    if problems:
        problems.append("log:\n" + log_excerpt(ws))
    return problems


# -- PostgreSQL: 2 and 3 workers on 600 orders -----------------------------------------------------


@pytest.mark.parametrize(("count", "join_late"), [(2, False), (3, True)], ids=["2-together", "3-two-join-a-busy-one"])
def test_concurrent_workers_take_each_order_once(pg_url: str, tmp_path: Path, count: int, join_late: bool) -> None:
    ws = tmp_path / "ws"
    init(ws, pg_url)
    files = orders(10_000 * count, ORDERS)
    for name, order in files.items():
        (ws / "inbox" / name).write_bytes(order.data)
    t0 = time.monotonic()
    exits = workers(ws, pg_url, count, join_late=join_late)
    took = time.monotonic() - t0
    problems = check_intake(ws, pg_url, files, exits)
    assert not problems, f"{count} workers, {took:.1f} s:\n" + "\n".join(problems)


def test_workers_started_together_on_an_empty_database(pg_url: str, tmp_path: Path) -> None:
    """No ``init`` first: three services started at once on a new database (and a workspace as an
    earlier version left it, ``inbox/`` and ``var/`` without an id) create the tables once between
    them and all exit 0."""
    ws = tmp_path / "ws"
    (ws / "inbox").mkdir(parents=True)
    (ws / "var").mkdir()  # a workspace as an earlier version left it (no id yet): no init, no table
    files = orders(70_000, 60)
    for name, order in files.items():
        (ws / "inbox" / name).write_bytes(order.data)
    exits = workers(ws, pg_url, 3)
    problems = check_intake(ws, pg_url, files, exits)
    assert not problems, "\n".join(problems)


# -- PostgreSQL: orders and their answers, 3 workers -----------------------------------------------


def test_orders_and_answers_split_across_three_workers(pg_url: str, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    init(ws, pg_url)
    files = orders(50_000, ORDERS // 2, big=1, big_lines=2000)
    # every worker takes orders first, then answers by name: the answers are named so that the
    # answers to the last orders come first, and meet orders still being committed elsewhere
    last_first = [files[name] for name in sorted(files, reverse=True)]  # workers take orders by name
    answers = {
        f"reponse-{i:04d}-{o.number}.xml": ubl_order_response(o.number, o.issuer, o.supplier, "AP")
        for i, o in enumerate(last_first)
    }
    for name, order in files.items():
        (ws / "inbox" / name).write_bytes(order.data)
    for name, data in answers.items():
        (ws / "inbox" / name).write_bytes(data)

    exits = workers(ws, pg_url, 3)
    problems = [f"worker {i}: {e}" for i, e in enumerate(exits) if e.code != 0 or "Traceback" in e.stderr]
    statuses = Counter(r["status"] for r in search(ws, pg_url))
    still_parked = sql(pg_url, "SELECT order_number FROM parked WHERE state = 'WAITING'")
    if still_parked or statuses != Counter({"PRIS_EN_COMPTE": len(files)}):
        # what retry_parked should have taken up before the workers exit (a failure, no longer a
        # warning): one more run tells whether a later run would have finished it
        extra = cli(ws, pg_url, "-q", "run", timeout=TIMEOUT)
        after = Counter(r["status"] for r in search(ws, pg_url))
        problems.append(
            f"{len(still_parked)} answer(s) still PARKED and engagements {dict(statuses)} after the 3 workers; "
            f"one more run (exit {extra.returncode}) leaves engagements {dict(after)}"
        )
    applied = sql(
        pg_url,
        "SELECT e.number, count(a.id) FROM engagements e LEFT JOIN answers a "
        "ON a.engagement_id = e.id AND a.outcome = 'APPLIED' GROUP BY e.number",
    )
    if [r for r in applied if r[1] != 1]:
        problems.append(f"answers not applied exactly once: {[tuple(r) for r in applied if r[1] != 1][:5]}")
    responses = [p for p in (ws / "outbox" / "responses").iterdir() if p.is_file() and not p.name.startswith(".")]
    if len(responses) != len(files):
        problems.append(f"{len(responses)} order responses for {len(files)} accepted engagements")
    # orders: one report each; answers: one, or two when parked first (PARKED, then IN_INTEGRE)
    reports = Counter(n.split(".xml")[0] + ".xml" for n in ack_names(ws))
    parked_first = sum(1 for name in answers if reports[name] == 2)
    print(f"{parked_first} answer(s) parked first, then applied by a worker")
    wrong = {n: reports[n] for n in files if reports[n] != 1} | {
        n: reports[n] for n in answers if reports[n] not in (1, 2)
    }
    if wrong:
        problems.append(f"integration reports per file: {dict(list(wrong.items())[:6])}")
    last = {}
    for name in answers:
        versions = sorted((ws / "outbox" / "acks").glob(f"{name}*.json"), key=lambda p: (len(p.name), p.name))
        last[name] = json.loads(versions[-1].read_text())["status"] if versions else None
    if Counter(last.values()) != Counter({"IN_INTEGRE": len(answers)}):
        problems.append(f"last report of the answers: {dict(Counter(last.values()))}")
    for folder in ("inbox", "var/processing", "var/rejected"):
        left = files_in(ws / folder)
        if left:
            problems.append(f"{len(left)} file(s) left in {folder}/: {left[:6]}")
    if problems:
        problems.append("log:\n" + log_excerpt(ws))
    assert not problems, "\n".join(problems)


# -- SQLite: the workspace lock ----------------------------------------------------------------------


def test_two_runs_on_sqlite_one_exits_3(tmp_path: Path) -> None:
    """The first run pauses once it holds the workspace (``_paused``), so the second meets the
    lock whatever the machine's load; the first then goes on and takes every file."""
    ws = tmp_path / "ws"
    init(ws, None)
    files = orders(90_000, 200)
    for name, order in files.items():
        (ws / "inbox" / name).write_bytes(order.data)
    first = start_paused("claim", "before", "--workspace", ws, "-q", "run")
    try:
        locked = cli(ws, None, "-q", "run")
    finally:
        code, out, err = resume(first)
    assert code == 0, str(Exit(code, out, err))
    assert locked.returncode == 3, (locked.stdout, locked.stderr)
    assert "WORKSPACE_LOCKED" in locked.stderr and "Traceback" not in locked.stderr, locked.stderr
    assert f"PID {first.pid} " in locked.stderr
    rows = search(ws, None)
    assert len(rows) == len({(r["issuer_id"], r["number"]) for r in rows}) == len(files)
    assert ack_names(ws) == sorted(f"{name}.json" for name in files)
    assert files_in(ws / "inbox") == files_in(ws / "var" / "processing") == []
