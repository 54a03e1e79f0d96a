"""What a batch of files asks the store ahead, in one query, on SQLite (whose write transaction
holds the only write lock): is a file a duplicate of one in the store (``files.StoredFiles``),
does an order's engagement exist (``engagements.expect``), did invoices name it before it existed
(``invoices.expect_unmatched``)? What that query says is new asks nothing more; on PostgreSQL
every file asks. Both give the same answers, the batch's own writes included, and nothing known
ahead outlives its transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch.domain.model import Party, PartyId
from chorus_batch.store import Store, codec, engagements, files, invoices, parties, schema
from chorus_batch.store.migrations import migrate

NOW = "2026-12-07T10:00:00Z"


def _record(conn: Any, name: str, sha: str, status: str) -> None:
    files.add(conn, name=name, sha256=sha, size=1, received_at=NOW, processed_at=NOW, status=status)


def _asking(monkeypatch: pytest.MonkeyPatch, statement: Any, key: str) -> list[str]:
    """The values of ``key`` the store asks ``statement`` (a fast ``first``) for, in order."""
    asked: list[str] = []
    real = statement.first

    def first(conn: Any, values: dict[str, str]) -> Any:
        asked.append(values[key])
        return real(conn, values)

    monkeypatch.setattr(statement, "first", first)
    return asked


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    opened = Store(url) if url else Store.for_file(tmp_path / "store.sqlite")
    migrate(opened.engine)
    try:
        yield opened
    finally:
        opened.close()


def test_a_batch_meets_the_stored_bytes_and_its_own(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    old, rejected, new, again = "a" * 64, "b" * 64, "c" * 64, "d" * 64
    asked: list[str] = []
    real = files.stored_file

    def stored_file(conn: Any, sha: str) -> Any:
        asked.append(sha)
        return real(conn, sha)

    monkeypatch.setattr(files, "stored_file", stored_file)
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
    if store.engine.dialect.name == "sqlite":
        assert asked == [old, new, again]  # the new bytes asked nothing the first time
    else:
        assert asked == [old, rejected, new, again, new, again]


def test_a_batch_knows_its_orders_engagements_ahead_for_its_transaction_only(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _asking(monkeypatch, engagements._FIND, "number")

    def create(conn: Any, issuer: str, number: str) -> None:
        row = {"issuer_id": issuer, "number": number, "supplier_id": "S", "status": "RECU", "current_version": 1}
        conn.execute(insert(schema.engagements).values(**row, created_at=NOW, last_transition_at=NOW))

    with store.begin() as conn:
        create(conn, "A", "EJ1")
    with store.begin() as conn:
        engagements.expect(conn, ["EJ1", "EJ2", "EJ2"])
        assert engagements.find(conn, "A", "EJ1").number == "EJ1"
        assert engagements.find(conn, "B", "EJ1") is None  # another issuer's number
        assert engagements.find(conn, "A", "EJ2") is None
        create(conn, "A", "EJ2")
        assert engagements.find(conn, "A", "EJ2").number == "EJ2"  # the batch's own, created above
        assert engagements.find(conn, "A", "EJ3") is None  # a number not expected is asked
    with store.begin() as conn:
        create(conn, "C", "EJ1")  # one the batch above would have said new
    with store.begin() as conn:  # what it knew is forgotten
        assert engagements.find(conn, "C", "EJ1").number == "EJ1"
    if store.engine.dialect.name == "sqlite":
        assert asked == ["EJ1", "EJ2", "EJ3", "EJ1"]
    else:
        assert asked == ["EJ1", "EJ1", "EJ2", "EJ2", "EJ3", "EJ1"]


def test_a_batch_knows_which_orders_invoices_named_first_until_it_writes_an_invoice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _asking(monkeypatch, invoices._UNMATCHED, "ref")
    row = {"syntax": "ubl", "type": "invoice", "status": "DEPOSEE", "status_at": NOW, "created_at": NOW}

    def invoice(conn: Any, number: str, ref: str) -> int:
        return invoices.add(conn, number=number, engagement_ref=ref, **row)

    with store.begin() as conn:
        invoice(conn, "F1", "EJ1")
    with store.begin() as conn:
        invoices.expect_unmatched(conn, ["EJ1", "EJ2", "EJ3"])
        assert [r.number for r in invoices.unmatched(conn, "EJ1")] == ["F1"]
        assert invoices.unmatched(conn, "EJ2") == []
        assert invoices.unmatched(conn, "EJ4") == []  # not expected: asked
        invoice(conn, "F2", "EJ2")  # the batch's own invoice: what was known ahead is dropped
        assert [r.number for r in invoices.unmatched(conn, "EJ2")] == ["F2"]
        invoices.expect_unmatched(conn, ["EJ3"])
        assert invoices.unmatched(conn, "EJ3") == []
    with store.begin() as conn:  # another writer (not ``invoices.add``: an earlier run, a worker)
        conn.execute(insert(schema.invoices).values(number="F3", engagement_ref="EJ3", **row))
    with store.begin() as conn:  # what the batch above knew is forgotten
        assert [r.number for r in invoices.unmatched(conn, "EJ3")] == ["F3"]
    if store.engine.dialect.name == "sqlite":
        assert asked == ["EJ1", "EJ4", "EJ2", "EJ3"]
    else:
        assert asked == ["EJ1", "EJ2", "EJ4", "EJ2", "EJ3", "EJ3"]


def test_the_parties_a_transaction_wrote_are_not_remembered_by_the_next(store: Store) -> None:
    """A transaction remembers the parties it wrote and skips writing them again; the next one
    starts without that memory: a row another writer changed in between is written back."""
    party = Party("Mairie", (PartyId("0009", "21350238800019", "id@/x"),))
    key = parties.party_key(party)
    with store.begin() as conn:
        parties.upsert(conn, party, NOW)
    with store.begin() as conn:  # another writer (a later run, a worker) changes the row
        conn.execute(update(schema.parties).where(schema.parties.c.party_id == key).values(details="{}"))
    with store.begin() as conn:
        parties.upsert(conn, party, NOW)
        assert parties.details(conn, key) == json.loads(codec.party_json(party))
