"""Reports at scale: fill a store with N engagements and 2 x N invoices, then time
``chorus-batch report all`` (CSV) on it, start-up included, with its peak memory.

    python bench/reports.py --engagements 1000000          # the issue's size: 1M + 2M rows
    python bench/reports.py --engagements 100000 --keep DIR
    python bench/reports.py --engagements 1000000 --db postgresql+psycopg://postgres@127.0.0.1/chorus_bench_reports

The workspace and its store are made by ``chorus-batch init`` (the real schema, every
migration, the workspace's id; ``--db`` names an empty PostgreSQL database instead of the
workspace's SQLite file). The rows are then written in bulk (``executemany`` on SQLite, ``COPY``
on PostgreSQL), in one transaction, as the store's write path would have left them:

* engagements of 200 issuers and 2,000 suppliers (one in ten foreign, known by its VAT number),
  party keys in their canonical spelling (``identifiers.canonical``), one in 25 not in euros;
* invoices whose seller is their engagement's supplier, buyer its issuer and currency its
  currency, with the anomalies, the ``excluded`` reason and the identities that
  ``domain.matching.match`` gives them (as ``apply.invoices`` stores them); a few deliberately
  do not fit (one in 100 in another currency, one in 150 from another seller, one in 300 to
  another buyer: stored, never counted), one in 25 names no known engagement (one in five of
  those none at all), one in 50 is a duplicate (the same seller and number as the one before),
  one in 20 is a credit note; statuses with their history rows (``invoice_statuses``);
* a ``paid`` transition for the closed engagements (``close_when_paid``);
* the per-engagement totals (``engagement_totals``) kept by the store's own triggers as the
  invoices are inserted (migration 10), exactly as for invoices received in files.

No file is processed: received files, versions and lines are not made (no report reads them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from run import machine, measure  # noqa: E402

from chorus_batch.domain import matching  # noqa: E402
from chorus_batch.domain.identifiers import canonical  # noqa: E402

STATUSES = ["A_TRAITER", "PRIS_EN_COMPTE", "PRIS_EN_COMPTE", "PRIS_EN_COMPTE", "REFUSE", "CLOTURE"]
INVOICE_STATUSES = ["DEPOSEE", "MISE_A_DISPOSITION", "MISE_EN_PAIEMENT", "MISE_EN_PAIEMENT", "REJETEE"]
ISSUERS = [(canonical(f"21{750000 + i:07d}00012"), f"Commune n°{i}") for i in range(200)]  # SIRETs
SUPPLIERS = [
    (
        canonical(f"VAT:DE{100000000 + i}") if i % 10 == 9 else canonical(f"55{2100000 + i:07d}00014"),
        f"Fournisseur {i} SAS",
    )
    for i in range(2000)
]
CURRENCIES = ["EUR"] * 24 + ["CHF"]  # one engagement in 25 not in euros
BATCH = 100_000  # rows generated and written at a time: the bench's own memory stays small

ENGAGEMENT_COLUMNS = (
    "id, issuer_id, number, supplier_id, issuer_name, supplier_name, status, current_version, currency,"
    " amount_ht, amount_ttc, created_at, last_transition_at"
)
INVOICE_COLUMNS = (
    "id, syntax, number, type, type_code, issue_date, due_date, currency, seller_id, seller_name, buyer_id,"
    " buyer_name, engagement_ref, engagement_id, amount_ht, amount_ttc, status, status_at, duplicate_of,"
    " anomalies, identities, excluded, created_at"
)
STATUS_COLUMNS = "invoice_id, status, at, recorded_at"
TRANSITION_COLUMNS = "engagement_id, at, from_status, to_status, event, actor, version"


@cache
def _party(key: str) -> Any:
    return matching.known_party([key])


@cache
def _ids(key: str) -> str:
    return json.dumps(sorted(matching.identities(_party(key))), ensure_ascii=False)


def _identities(seller: str, buyer: str) -> str:
    """As ``apply.invoices`` stores them: ``{"seller": [...], "buyer": [...]}``."""
    return f'{{"seller": {_ids(seller)}, "buyer": {_ids(buyer)}}}'


class Data:
    """The rows, made from one seed: the same store every time."""

    def __init__(self, engagements: int, seed: int = 2026) -> None:
        self.n = engagements
        self.rng = random.Random(seed)
        self.issuer: list[int] = []
        self.supplier: list[int] = []
        self.currency: list[str] = []
        self.ttc: list[int] = []

    def engagements(self) -> Iterator[list[tuple[Any, ...]]]:
        rng, rows = self.rng, []
        for i in range(1, self.n + 1):
            issuer, supplier = rng.randrange(len(ISSUERS)), rng.randrange(len(SUPPLIERS))
            currency = rng.choice(CURRENCIES)
            ht = rng.randrange(10_00, 500_000_00) * 10_000  # cents -> millionths
            ttc = ht * 6 // 5
            self.issuer.append(issuer)
            self.supplier.append(supplier)
            self.currency.append(currency)
            self.ttc.append(ttc)
            day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
            status = rng.choice(STATUSES)
            rows.append(
                (
                    i,
                    ISSUERS[issuer][0],
                    f"EJ{i:010d}",
                    SUPPLIERS[supplier][0],
                    ISSUERS[issuer][1],
                    SUPPLIERS[supplier][1],
                    status,
                    1,
                    currency,
                    ht,
                    ttc,
                    f"{day}T08:00:00Z",
                    f"{day}T09:00:00Z",
                )
            )
            if len(rows) == BATCH:
                yield rows
                rows = []
        if rows:
            yield rows

    def transitions(self, engagements: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The ``paid`` transition of the closed engagements (``close_when_paid``)."""
        return [
            (e[0], e[12], "PRIS_EN_COMPTE", "CLOTURE", "paid", "system", 1) for e in engagements if e[6] == "CLOTURE"
        ]

    def invoices(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(invoices, their status rows), a batch at a time."""
        rng, rows, statuses = self.rng, [], []
        previous: tuple[Any, ...] = ()
        for j in range(1, 2 * self.n + 1):
            status = rng.choice(INVOICE_STATUSES)
            month = 1 + j % 12
            issued, status_at = f"2026-{month:02d}-01", f"2026-{month:02d}-{2 + j % 27:02d}T10:00:00Z"
            if j % 50 == 0 and previous:  # the same invoice again: same seller, number, engagement
                row = (j, *previous[1:16], status, status_at, previous[0], *previous[19:])
            else:
                row = self._invoice(j, issued, status, status_at)
            rows.append(row)
            previous = row
            statuses.append((j, "DEPOSEE", f"{issued}T00:00:00Z", f"{issued}T12:00:00Z"))
            if status != "DEPOSEE":
                statuses.append((j, status, status_at, status_at))
            if len(rows) == BATCH:
                yield rows, statuses
                rows, statuses = [], []
        if rows:
            yield rows, statuses

    def _invoice(self, j: int, issued: str, status: str, status_at: str) -> tuple[Any, ...]:
        rng = self.rng
        e = rng.randrange(self.n)
        issuer, supplier, currency = ISSUERS[self.issuer[e]], SUPPLIERS[self.supplier[e]], self.currency[e]
        seller, buyer, invoice_currency = supplier, issuer, currency
        reference: str | None = f"EJ{e + 1:010d}"
        candidates = [matching.Candidate(e + 1, issuer[0], supplier[0], currency)]
        if j % 25 == 1:  # names no known engagement, or none at all
            reference, candidates = (None if j % 125 == 1 else f"EJX{j:09d}"), []
        elif j % 100 == 7:
            invoice_currency = "USD"
        elif j % 150 == 11:
            seller = SUPPLIERS[(self.supplier[e] + 1) % len(SUPPLIERS)]
        elif j % 300 == 13:
            buyer = ISSUERS[(self.issuer[e] + 1) % len(ISSUERS)]
        fits = candidates and (seller, buyer, invoice_currency) == (supplier, issuer, currency)
        if fits and j % 100:  # what matching gives an invoice that fits (checked on one in 100 below)
            found = matching.Match(e + 1, ())
        else:
            found = matching.match(reference, _party(seller[0]), _party(buyer[0]), invoice_currency, candidates)
            assert not fits or found == matching.Match(e + 1, ()), found
        credit = j % 20 == 0
        ttc = (self.ttc[e] // rng.choice((1, 2, 2, 3)) // 10_000) * 10_000 or 10_000
        anomalies = json.dumps([a.as_dict() for a in found.anomalies], ensure_ascii=False)
        return (
            j,
            "ubl",
            f"F{j:09d}",
            "credit_note" if credit else "invoice",
            "381" if credit else "380",
            issued,
            None if credit else f"2026-{1 + j % 12:02d}-28",
            invoice_currency,
            seller[0],
            seller[1],
            buyer[0],
            buyer[1],
            reference,
            found.engagement_id,
            ttc * 5 // 6 // 10_000 * 10_000,
            ttc,
            status,
            status_at,
            None,
            anomalies,
            _identities(seller[0], buyer[0]),
            found.excluded,
            f"{issued}T12:00:00Z",
        )


def load(url: str, engagements: int) -> None:
    """Fill the store at ``url`` (made by ``init``) in one transaction."""
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    data = Data(engagements)
    raw: Any = engine.raw_connection()
    try:
        cur = raw.cursor()
        if not postgres:
            cur.execute("PRAGMA synchronous=OFF")  # a throw-away benchmark store
        write = _copy if postgres else _insert
        for rows in data.engagements():
            write(cur, "engagements", ENGAGEMENT_COLUMNS, rows)
            write(cur, "transitions", TRANSITION_COLUMNS, data.transitions(rows))
        for rows, statuses in data.invoices():
            write(cur, "invoices", INVOICE_COLUMNS, rows)
            write(cur, "invoice_statuses", STATUS_COLUMNS, statuses)
        if postgres:  # the ids given here: the sequences go on after them
            for table in ("engagements", "transitions", "invoices", "invoice_statuses"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
        if postgres:
            raw.driver_connection.autocommit = True
            cur.execute("VACUUM ANALYZE")  # as autovacuum would have, long before a report
        else:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
        engine.dispose()


def _insert(cur: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        marks = ",".join("?" * len(columns.split(",")))
        cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _copy(cur: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=1_000_000)
    parser.add_argument("--db", help="the store's URL (an empty PostgreSQL database); default the workspace's SQLite")
    parser.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    parser.add_argument("--again", action="store_true", help="time the reports again on the workspace --keep kept")
    args = parser.parse_args()
    if args.again and args.keep is None:
        parser.error("--again needs --keep DIR, where the workspace was kept")
    root = args.keep or Path(tempfile.mkdtemp(prefix="chorus-bench-reports-"))
    ws = root / f"reports-{args.engagements}"
    if not args.again:
        shutil.rmtree(ws, ignore_errors=True)
    cli = [sys.executable, "-m", "chorus_batch", "--workspace", str(ws), *(["--db", args.db] if args.db else [])]
    url = args.db or f"sqlite:///{ws / 'var' / 'store.sqlite'}"
    try:
        print(machine())
        t0 = time.perf_counter()
        if not args.again:
            init = measure([*cli, "-q", "init"])
            if init["rc"]:
                sys.exit(init["err"])
            load(url, args.engagements)
        size = (ws / "var" / "store.sqlite").stat().st_size if not args.db else _pg_size(url)
        print(
            f"store ({make_url(url).get_backend_name()}): {args.engagements:,} engagements, "
            f"{2 * args.engagements:,} invoices, {size / 2**20:,.0f} MiB"
            + ("" if args.again else f", loaded in {time.perf_counter() - t0:.1f}s")
        )
        os.sync()
        out = ws / "out"
        shutil.rmtree(out, ignore_errors=True)
        r = measure([*cli, "-q", "report", "all", "-o", str(out)])
        lines = {p.name: sum(1 for _ in p.open("rb")) - 1 for p in sorted(out.glob("*.csv"))} if out.exists() else {}
        print(
            f"report all (CSV): {r['seconds']:.1f}s wall, {r['cpu']:.1f}s CPU, peak {r['peak_mb']:,.0f} MB"
            f" + {r['helpers_peak_mb']:,.0f} MB for its helper processes"
            f" ({r['peak_mb'] + r['helpers_peak_mb']:,.0f} MB at most in all), exit {r['rc']}; rows {lines}"
        )
        print("target (issue 18, SQLite): < 30 s and < 1.5 GB")
        if r["rc"]:
            print(r["err"][-2000:])
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _pg_size(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
