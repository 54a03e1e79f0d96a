"""``store.parking.waiting_for``: the documents parked for some numbers. A lot asks it after
every commit (does a parked document wait for one of its orders?), and most often none waits
at all: one short query says so, and the numbers are not looked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from chorus_batch.store import Store, files, parking, schema
from chorus_batch.store.migrations import migrate

NOW = "2026-12-07T10:00:00Z"


def test_only_waiting_documents_are_found_and_none_waiting_asks_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.for_file(tmp_path / "store.sqlite")
    migrate(store.engine)
    try:
        with store.begin() as conn:
            assert parking.waiting_for(conn, ["EJ1"]) == []
            file_id = files.add(
                conn, name="answers.csv", sha256="0" * 64, size=10, received_at=NOW, processed_at=NOW, status="PARKED"
            )
            # the columns left out have their defaults, as through SQLAlchemy (``store._fast``)
            row = conn.execute(select(schema.received_files).where(schema.received_files.c.id == file_id)).one()
            assert (row.kinds, row.errors) == ("", "[]")
            parking.park(conn, file_id, 1, "order_response", "EJ1", NOW)
            assert [row.order_number for row in parking.waiting_for(conn, ["EJ2", "EJ1"])] == ["EJ1"]
            assert parking.waiting_for(conn, ["EJ2"]) == [] and parking.waiting_for(conn, []) == []
            conn.execute(update(schema.parked).values(state="APPLIED"))

            def looked_for(*_where: Any) -> Any:
                raise AssertionError("numbers looked for while no document waits")

            monkeypatch.setattr(parking, "_waiting", looked_for)
            assert parking.waiting_for(conn, ["EJ1"]) == []
    finally:
        store.close()
