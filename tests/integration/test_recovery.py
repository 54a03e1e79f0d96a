"""Recovery at start-up waits for a claimer of this host that still runs (a peer of a killed
run ends within a fraction of a second) once per claimer, not once per file it claimed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chorus_batch.intake import recovery
from chorus_batch.store import Store
from chorus_batch.workspace import Workspace, worker


def test_a_claimer_still_running_is_waited_for_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.init()
    for owner in (worker(999_999_991), worker(999_999_992)):
        folder = ws.processing / owner / "_"
        folder.mkdir(parents=True)
        for i in range(3):
            (folder / f"o{i}.xml").write_bytes(b"<x/>")
    waited: list[str] = []
    monkeypatch.setattr(recovery, "_wait_gone", waited.append)
    store = Store.for_file(ws.store_path)
    try:
        assert recovery.recover(ws, store) == 6
    finally:
        store.close()
    assert waited == [worker(999_999_991), worker(999_999_992)]
    put_back = sorted(p.name for p in ws.inbox.iterdir())
    assert put_back == ["o0.xml", "o0.xml.1", "o1.xml", "o1.xml.1", "o2.xml", "o2.xml.1"]


def test_scratch_files_of_stopped_workers_go_and_the_others_stay(tmp_path: Path) -> None:
    """A run killed while it sorted or ran its inbox leaves its scratch files in ``var/``:
    ``prune`` removes those of workers of this host that are gone, never those of this process,
    of a live worker or of a worker of another host, nor any other file of ``var/``."""
    ws = Workspace(tmp_path / "ws")
    ws.init()
    dead, live = worker(999_999_993), worker(1)  # PID 1 always runs
    names = {
        "gone": [f".lots.{dead}.abc_12", f".sort.{dead}.x9y8z7"],
        "kept": [
            f".lots.{live}.abc_12",
            f".lots.{worker()}.mine01",
            ".lots.other-host.example.42.abc_12",
            f".cache.{dead}.abc_12",
            "store.sqlite.bak",
        ],
    }
    for name in names["gone"] + names["kept"]:
        (ws.var / name).write_bytes(b"0\0\0ubl-order-1.xml\0")
    fd, mine = ws.scratch("lots")
    os.close(fd)
    recovery.prune(ws)
    left = {p.name for p in ws.var.iterdir() if p.is_file()}
    assert not left & set(names["gone"]), left
    assert set(names["kept"]) | {Path(mine).name} <= left
