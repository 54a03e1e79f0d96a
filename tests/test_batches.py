"""``run`` stores files in batches (one transaction, a savepoint per file) and, on a big inbox,
has helper processes read and check the next batch: none of it may change what a run decides.

- the same inbox gives the same reports and engagements with helpers and without;
- a bug met by one file of a batch rejects that file only (``INTERNAL_ERROR``), the rest of
  the batch is stored;
- helpers that cannot work leave the run reading the files itself.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chorus_batch import engagements, ingest
from chorus_batch.config import Settings
from chorus_batch.demo.generate import demo_answers, demo_files, generate_batch
from chorus_batch.demo.invoices import demo_invoices
from chorus_batch.workspace import Pending


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


def test_helpers_decide_exactly_what_the_run_alone_decides(run_cli: Any, tmp_path: Path) -> None:
    files = _inbox()
    assert len(files) > ingest.PIPELINE_MIN_FILES  # big enough for helpers
    alone = _outcome(run_cli, tmp_path / "alone", files, helpers=0)
    helped = _outcome(run_cli, tmp_path / "helped", files, helpers=2)
    assert "2 helper process(es)" in (tmp_path / "helped" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert "helper process" not in (tmp_path / "alone" / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert helped[0] == alone[0]
    assert helped[1] == alone[1]
    assert helped[2] == alone[2]
    statuses = [status for status, _codes, _docs in alone[0].values()]
    assert len(alone[0]) == len(files)  # one report per file
    assert {"IN_INTEGRE", "IN_REJETE", "DUPLICATE"} <= set(statuses)
    assert not any("INTERNAL_ERROR" in codes for _s, codes, _d in alone[0].values())


def test_a_bug_in_one_file_rejects_that_file_only(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = dict(generate_batch(6, seed=9, start=900))
    victim = sorted(files)[2]
    real = engagements.apply_order

    def apply_order(ctx: Any, doc: Any) -> Any:
        if ctx.src.file_id is not None and doc.number in victim:
            raise RuntimeError("a bug")
        return real(ctx, doc)

    monkeypatch.setattr(engagements, "apply_order", apply_order)
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


def test_helpers_that_fail_leave_the_run_reading_files_itself(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in generate_batch(3, seed=3, start=300):
        (inbox / name).write_bytes(data)
    items = [Pending(p, p.name, None) for p in sorted(inbox.iterdir())]

    class Claiming:  # the part of a Processor that Helpers uses
        def claim(self, pending: list[Pending]) -> list[ingest.Claimed]:
            return [ingest.Claimed(item, ingest.utc_now()) for item in pending]

        def clock(self) -> Any:
            return ingest.utc_now()

    settings = Settings()
    helpers = ingest.Helpers(settings, 1)
    assert helpers.pool is not None
    helpers.pool.shutdown()  # as if the pool had broken
    with caplog.at_level(logging.WARNING, logger="chorus_batch"):
        claimed, ready = helpers.result(helpers.submit(Claiming(), items))  # type: ignore[arg-type]
    assert helpers.pool is None
    assert "helper processes failed" in caplog.text
    assert [c.item.name for c in claimed] == [i.name for i in items]
    assert all(r.prepared and r.prepared[0].doc is not None and not r.prepared[0].errors for r in ready)
