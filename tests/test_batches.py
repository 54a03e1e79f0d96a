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
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chorus_batch import apply
from chorus_batch.intake import lots
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, demo_answers, demo_files, engagement_number, generate_batch, ubl_order
from chorus_batch.demo.invoices import demo_invoices
from chorus_batch.domain.model import OrderDocument


def _inbox() -> dict[str, bytes]:
    files = dict(demo_files() + demo_answers() + demo_invoices() + list(generate_batch(30, seed=5, start=500)))
    first = next(iter(files))
    files["copy-of-" + first] = files[first]  # a duplicate (same bytes)
    files["garbage.xml"] = b"<not-closed"
    return files


def _outcome(run_cli: Any, root: Path, files: dict[str, bytes], helpers: int) -> tuple[dict[str, Any], list[tuple[str, str]], str]:
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


def test_peers_decide_exactly_what_the_run_alone_decides(run_cli: Any, tmp_path: Path) -> None:
    files = _inbox()
    assert len(files) > lots.PEERS_MIN_FILES  # big enough for peers
    alone = _outcome(run_cli, tmp_path / "alone", files, helpers=0)
    helped = _outcome(run_cli, tmp_path / "helped", files, helpers=2)
    log_text = (tmp_path / "helped" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert "2 peer process(es) share them" in log_text
    assert "peer process" not in (tmp_path / "alone" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    pids = {line.split()[2] for line in log_text.splitlines() if ": IN_" in line}
    assert len(pids) > 1  # the files' log lines came from several processes, into the run's log
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
                (root / "inbox" / partner / f"o{i:04d}.xml").write_bytes(ubl_order(number, ISSUERS[0], SUPPLIERS[0], [LINE], date(2026, 1, 5)))
        assert run_cli("--workspace", root, "-q", "run").exit_code == 0
        names[helpers] = _names_by_content(root)
    assert "peer process(es) share them" in (tmp_path / "peers" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert len(names[0]) == 6 * size and all(len(kept) == 2 for kept in names[0].values())
    assert names[1] == names[0]
    assert f"acks/o{3 * size - 1:04d}.xml.1.json" in {n for kept in names[0].values() for n in kept}


@pytest.mark.parametrize(
    ("name", "key"),
    [("a.xml", "a.xml"), ("a.xml.1", "a.xml"), ("a.xml.12.3", "a.xml"), ("a.xml.errors.json", "a.xml"), ("a.xml.2.errors.json", "a.xml"), ("v1.2.xml", "v1.2.xml")],
)
def test_names_that_may_compete_for_a_report_or_archive_name_share_a_key(name: str, key: str) -> None:
    assert lots._name_key(name) == key


def test_a_bug_in_one_file_rejects_that_file_only(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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


LINE = Line("1", "Ramette papier A4", Decimal("10"), "C62", Decimal("4.50"), Decimal("20"))


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the peer process through /proc (Linux)")
def test_a_peer_killed_during_its_lot_is_taken_over_by_the_run(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "inbox").mkdir(parents=True)
    (root / "chorus-batch.toml").write_text("helpers = 1\n", encoding="utf-8")
    names = []
    for i in range(2000):
        number = engagement_number(i)
        names.append(f"o-{number}.xml")
        (root / "inbox" / names[-1]).write_bytes(ubl_order(number, ISSUERS[i % 3], SUPPLIERS[i % 4], [LINE], date(2026, 1, 5)))
    run = subprocess.Popen([sys.executable, "-m", "chorus_batch", "--workspace", str(root), "-q", "run"], stderr=subprocess.PIPE, text=True)
    try:
        killed = None
        while killed is None and run.poll() is None:  # the peer is the fork server's child
            for peer in (p for server in _children(run.pid) for p in _children(server)):
                folder = root / "var" / "processing" / f"{socket.gethostname()}.{peer}"
                if any(folder.rglob("*.xml")):  # it holds a lot: claimed, not yet finished
                    os.kill(peer, signal.SIGKILL)
                    killed = peer
                    break
        _out, err = run.communicate(timeout=600)
    finally:
        run.kill()
    assert killed is not None, "the run ended before its peer took a lot"
    assert run.returncode == 0, err
    assert "Traceback" not in err
    log_text = (root / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert f"peer process {killed} stopped during lot" in log_text
    acks = {p.name: json.loads(p.read_text(encoding="utf-8"))["status"] for p in (root / "outbox" / "acks").iterdir()}
    assert sorted(acks) == sorted(f"{name}.json" for name in names)  # one report each, none twice
    assert set(acks.values()) == {"IN_INTEGRE"}
    assert not any((root / "inbox").iterdir()) and not list((root / "var" / "processing").rglob("*.xml"))
    with sqlite3.connect(root / "var" / "store.sqlite") as conn:
        assert conn.execute("select count(*), count(distinct number) from engagements").fetchone() == (2000, 2000)
        assert conn.execute("select count(*) from received_files").fetchone() == (2000,)
