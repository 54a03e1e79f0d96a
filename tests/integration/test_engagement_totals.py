"""Each engagement's totals (``engagement_totals``, migration 10), kept by the database as
invoices are written, always equal a recount from the invoices themselves
(``invoices.counted_sums``, the rule the reconciliation used to apply at report time): after
any sequence of the writes the store makes — an invoice or credit note integrated (matched or
not, fitting its engagement or excluded, at the largest amount), a duplicate, a status
(REJETEE, MISE_EN_PAIEMENT, back again), a late match (``rematch``), an engagement cancelled or
closed — on SQLite and on PostgreSQL. The migration's backfill of an older store is checked too.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, text, update

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch.domain.matching import EXCLUDING
from chorus_batch.store import Store
from chorus_batch.store import invoices as store_invoices
from chorus_batch.store import schema as s

NOW = "2026-12-01T10:00:00Z"
STATUSES = ("DEPOSEE", "SERVICE_FAIT", "MISE_EN_PAIEMENT", "REJETEE", "COMPLETEE")
AMOUNTS = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=Decimal("999999999999.999999"), places=6, allow_nan=False),
)

_invoice = st.fixed_dictionaries(
    {
        "engagement": st.one_of(st.none(), st.integers(0, 2)),
        "type": st.sampled_from(("invoice", "credit_note")),
        "ttc": AMOUNTS,
        "excluded": st.one_of(st.none(), st.sampled_from(EXCLUDING)),
        "duplicate": st.booleans(),
    }
)
_step = st.one_of(
    st.tuples(st.just("invoice"), _invoice),
    st.tuples(st.just("status"), st.integers(0, 50), st.sampled_from(STATUSES)),
    st.tuples(
        st.just("rematch"),
        st.integers(0, 50),
        st.one_of(st.none(), st.integers(0, 2)),
        st.one_of(st.none(), st.sampled_from(EXCLUDING)),
    ),
    st.tuples(st.just("engagement"), st.integers(0, 2), st.sampled_from(("ANNULE", "CLOTURE", "PRIS_EN_COMPTE"))),
    st.tuples(st.just("amend"), st.integers(0, 50), AMOUNTS, st.sampled_from(("invoice", "credit_note"))),
)


def _engagement(conn: Any, number: str) -> int:
    values = dict(
        issuer_id="22360001600172",
        number=number,
        supplier_id="51293846500311",
        status="PRIS_EN_COMPTE",
        current_version=1,
        currency="EUR",
        amount_ttc=Decimal("1000"),
        created_at=NOW,
        last_transition_at=NOW,
    )
    return int(conn.execute(insert(s.engagements).values(**values)).inserted_primary_key[0])


def _play(conn: Any, steps: list[Any], tag: str = "EJ") -> None:
    """The steps, through the store's own writes (``store.invoices``), on three new engagements."""
    engagements = [_engagement(conn, f"{tag}-{k}") for k in range(3)]
    made: list[int] = []
    for step in steps:
        kind = step[0]
        if kind == "invoice":
            inv = step[1]
            engagement = None if inv["engagement"] is None else engagements[inv["engagement"]]
            original = made[-1] if inv["duplicate"] and made else None
            made.append(
                store_invoices.add(
                    conn,
                    syntax="ubl",
                    number=f"F-{len(made)}",
                    type=inv["type"],
                    currency="EUR",
                    seller_id="51293846500311",
                    engagement_ref="EJ",
                    engagement_id=engagement,
                    amount_ttc=inv["ttc"],
                    status="DEPOSEE",
                    status_at=NOW,
                    duplicate_of=original,
                    excluded=inv["excluded"] if engagement is not None else None,
                    created_at=NOW,
                )
            )
            store_invoices.add_status(conn, made[-1], "DEPOSEE", NOW, None, None, NOW)
        elif not made and kind in ("status", "rematch", "amend"):
            continue
        elif kind == "status":
            at = f"2026-12-{2 + len(made) % 20:02d}T10:00:00Z"
            store_invoices.add_status(conn, made[step[1] % len(made)], step[2], at, None, None, NOW)
        elif kind == "rematch":
            engagement = None if step[2] is None else engagements[step[2]]
            excluded = step[3] if engagement is not None else None
            store_invoices.change(conn, made[step[1] % len(made)], engagement_id=engagement, excluded=excluded)
        elif kind == "amend":  # not a write chorus-batch makes: the triggers follow any update
            store_invoices.change(conn, made[step[1] % len(made)], amount_ttc=step[2], type=step[3])
        else:  # the engagement's own status never changes what its invoices add up to
            conn.execute(update(s.engagements).where(s.engagements.c.id == engagements[step[1]]).values(status=step[2]))
    if made and steps[-1][0] == "amend":  # and a delete, which chorus-batch never makes
        last = s.invoices.c.id == made[-1]
        if conn.execute(s.invoices.select().where(s.invoices.c.duplicate_of == made[-1])).first() is None:
            conn.execute(s.invoice_statuses.delete().where(s.invoice_statuses.c.invoice_id == made[-1]))
            conn.execute(s.invoices.delete().where(last))


def _check(url: str, steps_strategy: Any, examples: int) -> None:
    store = Store(url)

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps_strategy)
    def kept_equals_recount(steps: list[Any]) -> None:
        with store.engine.connect() as conn:
            transaction = conn.begin()
            try:
                _play(conn, steps)
                assert store_invoices.kept_totals(conn) == store_invoices.recounted_totals(conn)
            finally:
                transaction.rollback()  # each sequence on the empty store

    try:
        kept_equals_recount()
    finally:
        store.close()


STEPS = st.lists(_step, min_size=1, max_size=30)


def test_totals_kept_on_write_equal_a_recount_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'store.sqlite'}", STEPS, 60)


@pytest.mark.slow  # a PostgreSQL scenario
def test_totals_kept_on_write_equal_a_recount_postgresql(pg_url: str) -> None:  # noqa: F811
    _check(pg_url, STEPS, 25)


def test_the_guard_fires_when_totals_go_wrong(tmp_path: Path) -> None:
    """The comparison above sees a total that is not the invoices' (written around the triggers)."""
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    try:
        with store.begin() as conn:
            _play(
                conn,
                [
                    (
                        "invoice",
                        {
                            "engagement": 0,
                            "type": "invoice",
                            "ttc": Decimal("12.5"),
                            "excluded": None,
                            "duplicate": False,
                        },
                    )
                ],
            )
            assert store_invoices.kept_totals(conn) == store_invoices.recounted_totals(conn) != {}
            conn.execute(update(s.engagement_totals).values(invoiced_rest=s.engagement_totals.c.invoiced_rest + 1))
            assert store_invoices.kept_totals(conn) != store_invoices.recounted_totals(conn)
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_10_counts_the_invoices_already_stored(tmp_path: Path, backend: str, request: Any) -> None:
    """A store from before migration 10 (its invoices written without triggers) gets its totals
    from its invoices, then keeps them."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'old.sqlite'}"
    store = Store(url)
    try:
        with store.begin() as conn:
            steps: list[Any] = [
                ("invoice", {"engagement": k % 3, "type": t, "ttc": Decimal(a), "excluded": None, "duplicate": d})
                for k, (t, a, d) in enumerate(
                    [("invoice", "100.25", False), ("credit_note", "10.5", False), ("invoice", "100.25", True)]
                    + [("invoice", "999999999999.999999", False)] * 4
                )
            ]
            _play(conn, [*steps, ("status", 0, "MISE_EN_PAIEMENT"), ("status", 3, "REJETEE")])
            expected = store_invoices.recounted_totals(conn)
    finally:
        store.close()
    engine = create_engine(url)
    with engine.begin() as conn:  # as migration 9 left it
        if backend == "postgresql":
            conn.execute(text("DROP TRIGGER invoices_engagement_totals ON invoices"))
            conn.execute(text("DROP FUNCTION chorus_engagement_totals()"))
        else:
            for name in ("inserted", "deleted", "left", "joined"):
                conn.execute(text(f"DROP TRIGGER invoice_totals_{name}"))
        conn.execute(text("DROP TABLE engagement_totals"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 10"))
    engine.dispose()
    store = Store(url)
    try:
        with store.begin() as conn:
            assert store_invoices.kept_totals(conn) == expected != {}
            _play(conn, steps[:2], tag="EJ-AFTER")
            assert store_invoices.kept_totals(conn) == store_invoices.recounted_totals(conn)
    finally:
        store.close()
