"""SQLite and PostgreSQL give the same acknowledgements and reports for the same inputs.

One corpus, dropped the same way into two workspaces, one on its SQLite store and one on a
PostgreSQL database of its own: the demo's waves (orders, answers, changes, cancellations,
invoices, statuses), file names of 250 bytes, Unicode everywhere, a supplier's name of 400
characters, engagement numbers of 60 characters, a buyer identified by 240 characters, an
answers CSV of 300 rows (most for engagements nobody sent: parked) and a bundle of 200 orders.
What PostgreSQL used to refuse (VARCHAR limits) and SQLite accepted made the two differ.

Compared: every integration report (``outbox/acks/``, by name), every CSV report of
``report all``, and ``orders search``. Timestamps (``received_at``, ``processed_at``, the
moments of the reports) are the only thing that may differ: they are replaced by a marker
before the comparison, as are the archive's date folders.
"""

from __future__ import annotations

import functools
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch.demo import waves
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, responses_csv, ubl_order
from chorus_batch.domain import names

pytestmark = pytest.mark.slow  # a run of more than 32 files starts peer processes on SQLite

RunCli = Callable[..., Result]
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
LONG_NAME = "commande-" + "é" * 60 + "-" + "x" * 115 + ".xml"  # 249 bytes
DATE_FOLDER = re.compile(r"var/archive/\d{4}/\d{2}/\d{2}/")


@functools.cache  # the same bytes for both workspaces (a zip records when its members were written)
def corpus() -> list[tuple[str, bytes]]:
    """The files, in the order they are dropped (one drop, then one run)."""
    lines = [
        Line("1", "Crayons à papier ✏️ (boîte de 12)", Decimal("3"), "C62", Decimal("4.20"), Decimal("20")),
        Line("2", "Cahiers 96 pages — Séyès", Decimal("10"), "C62", Decimal("1.35"), Decimal("5.5")),
    ]
    long_supplier = replace(SUPPLIERS[1], name=("Société " + "Très-Longue-Raison-Sociale-" * 15)[:400])
    files: list[tuple[str, bytes]] = []
    for name, data in (f for _wave, wave in waves() for f in wave):
        files.append((name, data))
    files.append((LONG_NAME, ubl_order("EJ2026-LONG-NAME", ISSUERS[0], SUPPLIERS[0], lines, date(2026, 2, 1))))
    files.append(
        ("fournisseur-long.xml", ubl_order("EJ2026-LONG-SUPPLIER", ISSUERS[1], long_supplier, lines, date(2026, 2, 1)))
    )
    sixty = "EJ-" + "9" * 57
    files.append(("numero-long.xml", ubl_order(sixty, ISSUERS[2], SUPPLIERS[2], lines, date(2026, 2, 1))))
    buyer = ubl_order("EJ2026-LONG-BUYER", ISSUERS[0], SUPPLIERS[3], lines, date(2026, 2, 1))
    siret = ISSUERS[0].siret.encode()
    long_id = ("Ω" + "G" * 239).encode()
    buyer = buyer.replace(b'schemeID="0009">' + siret + b"<", b'schemeID="0088">' + long_id + b"<")
    files.append(("acheteur-long.xml", buyer))
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(200):
            number = f"EJ2026-ZIP-{i:04d}"
            zf.writestr(
                f"lot/{number}.xml", ubl_order(number, ISSUERS[i % 4], SUPPLIERS[i % 4], lines, date(2026, 2, 3))
            )
    files.append(("lot-de-200-commandes.zip", bundle.getvalue()))
    rows = [(f"EJ2026-ZIP-{i:04d}", "accept", "") for i in range(0, 200, 2)]
    rows += [(f"EJ2026-INCONNU-{i:04d}", "refuse", "Référence inconnue — « hors marché »") for i in range(200)]
    rows.append((sixty, "accept", ""))  # parked under a number of 60 characters
    files.append(("reponses-du-jour.csv", responses_csv(rows)))
    return files


def drop_and_run(run_cli: RunCli, root: Path, db: tuple[str, ...]) -> dict[str, Any]:
    """Init, drop the corpus, run, then ``report all``; what the two backends must agree on."""
    assert run_cli("--workspace", root, *db, "init").exit_code == 0
    for name, data in corpus():
        (root / "inbox" / name).write_bytes(data)
    result = run_cli("--workspace", root, *db, "run")
    assert result.exit_code in (0, 1), result.output + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    reports = root / "reports"
    done = run_cli("--workspace", root, *db, "report", "all", "-o", reports)
    assert done.exit_code == 0, done.output + done.stderr
    search = run_cli("--workspace", root, *db, "orders", "search", "--format", "json")
    acks = {p.name: normalised(p.read_text(encoding="utf-8")) for p in (root / "outbox" / "acks").iterdir()}
    return {
        "summary": normalised(result.stdout),  # a parked document waits until a moment of the run
        "acks": acks,
        "reports": {p.name: normalised(p.read_text(encoding="utf-8-sig")) for p in sorted(reports.glob("*.csv"))},
        "search": normalised(search.stdout),
        "responses": sorted(p.name for p in (root / "outbox" / "responses").iterdir()),
    }


def normalised(text: str) -> str:
    return DATE_FOLDER.sub("var/archive/DATE/", MOMENT.sub("<moment>", text))


def test_sqlite_and_postgresql_give_the_same_reports(run_cli: RunCli, tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    on_sqlite = drop_and_run(run_cli, tmp_path / "sqlite", ())
    on_postgres = drop_and_run(run_cli, tmp_path / "postgres", ("--db", pg_url))
    assert on_sqlite["summary"] == on_postgres["summary"]
    assert sorted(on_sqlite["acks"]) == sorted(on_postgres["acks"])
    for name, ack in on_sqlite["acks"].items():
        assert json.loads(ack) == json.loads(on_postgres["acks"][name]), name
    assert sorted(on_sqlite["reports"]) == sorted(on_postgres["reports"])
    for name, text in on_sqlite["reports"].items():
        assert text == on_postgres["reports"][name], name
    assert on_sqlite["search"] == on_postgres["search"]
    # the corpus reached what PostgreSQL used to refuse: nothing of it was an internal error
    statuses = {name: json.loads(ack)["status"] for name, ack in on_sqlite["acks"].items()}
    for name in ("fournisseur-long.xml.json", "acheteur-long.xml.json", f"{names.fitting(LONG_NAME)}.json"):
        assert statuses[name] == "IN_INTEGRE", (name, on_sqlite["acks"][name])
    # a number longer than an engagement number may be is refused by a rule, on both
    assert '"code": "ENGAGEMENT_NUMBER_INVALID"' in on_sqlite["acks"]["numero-long.xml.json"]
    assert statuses["reponses-du-jour.csv.json"] == "PARKED"  # (before the bundle's orders: ranked last)
    assert (
        len([r for r in on_sqlite["responses"] if "-ZIP-" in r]) == 100
        and on_sqlite["responses"] == on_postgres["responses"]
    )
    assert statuses["lot-de-200-commandes.zip.json"] == "IN_INTEGRE"
    assert "INTERNAL_ERROR" not in "".join(on_sqlite["acks"].values())


def test_migration_widens_the_columns_of_an_existing_postgresql_store(pg_url: str) -> None:  # noqa: F811
    """A store made by an earlier version (VARCHAR limits) gets the columns of any length."""
    from sqlalchemy import create_engine, text

    from chorus_batch.store import Store
    from chorus_batch.store.migrations import _SENT_TEXT

    Store(pg_url).close()
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # as migrations 1 to 5 left it
        conn.execute(text("ALTER TABLE engagements ALTER COLUMN supplier_name TYPE VARCHAR(300)"))
        conn.execute(text("ALTER TABLE received_files ALTER COLUMN kinds TYPE VARCHAR(200)"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 6"))
    Store(pg_url).close()
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            )
        ).all()
    engine.dispose()
    types = {(t, c): kind for t, c, kind in found}
    for table, columns in _SENT_TEXT.items():
        for column in columns:
            assert types[(table, column)] == "text", (table, column)


def test_migration_7_adds_the_price_basis_to_an_existing_postgresql_store(pg_url: str) -> None:  # noqa: F811
    """A store from before the price basis (migrations 1 to 6) gets ``engagement_lines.base_quantity``."""
    from sqlalchemy import create_engine, inspect, text

    from chorus_batch.store import Store

    Store(pg_url).close()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE engagement_lines DROP COLUMN base_quantity"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 7"))
    Store(pg_url).close()
    with engine.connect() as conn:
        columns = {c["name"]: c for c in inspect(conn).get_columns("engagement_lines")}
        versions = set(conn.execute(text("SELECT version FROM schema_migrations")).scalars())
    engine.dispose()
    assert "base_quantity" in columns and str(columns["base_quantity"]["type"]) == "BIGINT" and 7 in versions
