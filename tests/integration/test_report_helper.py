"""The helper process of the CSV reports (``reports.helper``): ``invoices.csv`` written in
another process, from the same snapshot of the store, on SQLite and PostgreSQL.

The helper only starts on a big store (``HELPER_MIN_INVOICES``): these tests lower that bound
to the small store of ``test_reports``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_reports import TODAY, _invoice, populate

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch import reports
from chorus_batch.config import Settings
from chorus_batch.reports import helper
from chorus_batch.store import Store
from chorus_batch.store import schema as s


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 's.sqlite'}"
    opened = Store(url)
    populate(opened)
    monkeypatch.setattr(helper, "HELPER_MIN_INVOICES", 0)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The helpers started, as they were when the command used them."""
    started: list[Any] = []
    share = helper._Helper.share

    def sharing(self: Any, snapshot: str) -> None:
        share(self, snapshot)
        started.append(self)

    monkeypatch.setattr(helper._Helper, "share", sharing)
    return started


def _alone(store: Store, folder: Path) -> dict[str, bytes]:
    with store.read() as conn:
        paths = reports.write_reports(conn, Settings(), folder, TODAY)
    return {p.name: p.read_bytes() for p in paths}


@pytest.mark.slow  # starts the helper process
def test_the_helper_writes_what_one_process_writes(store: Store, tmp_path: Path, helpers: list[Any]) -> None:
    paths = helper.write_csv(store, Settings(), tmp_path / "two", TODAY)
    assert [p.name for p in paths] == [f"{n}.csv" for n in reports.REPORTS]
    assert len(helpers) == 1 and helpers[0].ready and helpers[0].process.exitcode == 0  # it did the work
    assert {p.name: p.read_bytes() for p in paths} == _alone(store, tmp_path / "one")
    excel = helper.write_csv(store, Settings(), tmp_path / "fr", TODAY, ("status", "invoices"), excel_fr=True)
    assert [p.name for p in excel] == ["status.excel-fr.csv", "invoices.excel-fr.csv"]


@pytest.mark.slow  # starts the helper process
def test_a_commit_after_the_start_is_in_no_report(
    store: Store, tmp_path: Path, helpers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invoice committed once both reads have begun (here: as this process starts its own
    reports, the helper already reading) is in no file: the files agree with each other."""
    before = _alone(store, tmp_path / "before")
    with store.read() as conn:
        engagement = conn.execute(select(s.engagements.c.id).where(s.engagements.c.number == "EJ-0001")).scalar_one()
    write_reports = helper.write_reports

    def late(*args: Any, **kwargs: Any) -> list[Path]:
        with store.begin() as conn:
            _invoice(conn, "LATE-1", "1.00", "1.20", ["DEPOSEE"], engagement, "EJ-0001")
        return write_reports(*args, **kwargs)

    monkeypatch.setattr(helper, "write_reports", late)
    paths = helper.write_csv(store, Settings(), tmp_path / "during", TODAY)
    assert helpers[0].ready
    assert {p.name: p.read_bytes() for p in paths} == before
    assert b"LATE-1" in _alone(store, tmp_path / "after")["invoices.csv"]  # committed all the same


@pytest.mark.slow  # starts the helper process
def test_a_failure_here_ends_the_helper(
    store: Store, tmp_path: Path, helpers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_args: Any, **_kwargs: Any) -> list[Path]:
        raise RuntimeError("this process failed")

    monkeypatch.setattr(helper, "write_reports", failing)
    with pytest.raises(RuntimeError, match="this process failed"):
        helper.write_csv(store, Settings(), tmp_path / "out", TODAY)
    assert helpers[0].ready and not helpers[0].process.is_alive()
    assert not [p for p in (tmp_path / "out").glob(".*")]  # no temporary file left behind


def test_a_helper_that_cannot_start_costs_time_not_the_reports(
    store: Store, tmp_path: Path, helpers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused() -> None:
        raise OSError("no fork server here")

    monkeypatch.setattr(helper.forkserver, "ensure_running", refused)
    paths = helper.write_csv(store, Settings(), tmp_path / "out", TODAY)
    assert helpers[0].process is None and not helpers[0].ready
    assert {p.name: p.read_bytes() for p in paths} == _alone(store, tmp_path / "one")


def test_no_helper_for_a_small_store_or_one_report(store: Store, tmp_path: Path, helpers: list[Any]) -> None:
    helper.write_csv(store, Settings(), tmp_path / "one", TODAY, ("invoices",))
    helper.write_csv(store, Settings(helpers=0), tmp_path / "none", TODAY)
    assert helpers == []


def test_a_shared_read_and_its_twin_see_one_snapshot(store: Store) -> None:
    """``Store.shared_read``: the read handed over (``read(snapshot)``, here in this process)
    begins with the first, so a commit that follows is seen by neither."""

    def invoices(conn: Any) -> int:
        return len(conn.execute(select(s.invoices.c.id)).all())

    with store.read() as conn:
        engagement = conn.execute(select(s.engagements.c.id)).scalars().first()
        count = invoices(conn)
    twins: list[Any] = []
    with ExitStack() as stack:

        def share(snapshot: str) -> None:
            twins.append(stack.enter_context(store.read(snapshot)))

        first = stack.enter_context(store.shared_read(share))
        with store.begin() as conn:
            _invoice(conn, "LATE-2", "1.00", "1.20", ["DEPOSEE"], engagement, "EJ-0001")
        assert invoices(first) == invoices(twins[0]) == count
    with store.read() as conn:
        assert invoices(conn) == count + 1
