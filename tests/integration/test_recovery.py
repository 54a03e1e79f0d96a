"""Recovery at start-up waits for a claimer of this host that still runs (a peer of a killed
run ends within a fraction of a second) once per claimer, not once per file it claimed."""

from __future__ import annotations

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
