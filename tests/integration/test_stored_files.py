"""``store.files.StoredFiles``: is a file of a batch a duplicate of one in the store? On SQLite
the batch's bytes are looked up in one query first, and a file known to be new by it (and by
the files of the batch before it) asks nothing more; on PostgreSQL every file asks. Both give
the same answers, the files of the batch itself included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch.store import Store, files
from chorus_batch.store.migrations import migrate

NOW = "2026-12-07T10:00:00Z"


def _record(conn: Any, name: str, sha: str, status: str) -> None:
    files.add(conn, name=name, sha256=sha, size=1, received_at=NOW, processed_at=NOW, status=status)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_meets_the_stored_bytes_and_its_own(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store = Store(url) if url else Store.for_file(tmp_path / "store.sqlite")
    migrate(store.engine)
    old, rejected, new, again = "a" * 64, "b" * 64, "c" * 64, "d" * 64
    asked: list[str] = []
    real = files.stored_file

    def stored_file(conn: Any, sha: str) -> Any:
        asked.append(sha)
        return real(conn, sha)

    monkeypatch.setattr(files, "stored_file", stored_file)
    try:
        with store.begin() as conn:
            _record(conn, "old.xml", old, "IN_INTEGRE")
            _record(conn, "bad.xml", rejected, "IN_REJETE")  # a rejected file's bytes may come again
        with store.begin() as conn:
            known = files.StoredFiles(conn, [old, rejected, new, again, again])
            assert known.first(old).name == "old.xml"
            assert known.first(rejected) is None and known.first(new) is None
            _record(conn, "new.xml", new, "IN_INTEGRE")
            assert known.first(again) is None
            _record(conn, "again.xml", again, "IN_REJETE")
            assert known.first(new).name == "new.xml"  # the batch's own file, recorded above
            assert known.first(again) is None  # asked again: recorded, but rejected
        if backend == "sqlite":
            assert asked == [old, new, again]  # the new bytes asked nothing the first time
        else:
            assert asked == [old, rejected, new, again, new, again]
    finally:
        store.close()
