"""Reports at scale: bulk-load a store of N engagements and 2 x N invoices, then time
``chorus-batch report all`` (CSV) on it, start-up included, with its peak memory.

    python bench/reports.py --engagements 1000000          # the issue's size: 1M + 2M rows
    python bench/reports.py --engagements 100000 --keep DIR

The store is made by ``chorus-batch init`` (so it has the real schema and migrations), then
filled with plain ``sqlite3`` ``executemany`` in one transaction: the rows look like real ones
(SIRETs, names, statuses, amounts as millionths, every fifth invoice with a stored anomaly, one
in fifty a duplicate, one in twenty credit notes, some unmatched), but no file is processed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from run import machine, measure  # noqa: E402

STATUSES = ["A_TRAITER", "PRIS_EN_COMPTE", "PRIS_EN_COMPTE", "PRIS_EN_COMPTE", "REFUSE", "CLOTURE"]
INVOICE_STATUSES = ["DEPOSEE", "MISE_A_DISPOSITION", "MISE_EN_PAIEMENT", "MISE_EN_PAIEMENT", "REJETEE"]
ISSUERS = [(f"217500016{i:05d}", f"Commune n°{i}") for i in range(200)]
SUPPLIERS = [(f"552100554{i:05d}", f"Fournisseur {i} SAS") for i in range(2000)]


def load(store: Path, engagements: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    conn = sqlite3.connect(store)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a throw-away benchmark store
    with conn:
        rows = []
        for i in range(1, engagements + 1):
            issuer, supplier = rng.choice(ISSUERS), rng.choice(SUPPLIERS)
            ht = rng.randrange(10_00, 500_000_00) * 10_000  # cents -> millionths
            day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
            rows.append(
                (
                    i,
                    issuer[0],
                    f"EJ{i:010d}",
                    supplier[0],
                    issuer[1],
                    supplier[1],
                    rng.choice(STATUSES),
                    1,
                    "EUR",
                    ht,
                    ht * 6 // 5,
                    f"{day}T08:00:00Z",
                    f"{day}T09:00:00Z",
                )
            )
        conn.executemany(
            "insert into engagements (id, issuer_id, number, supplier_id, issuer_name, supplier_name, status,"
            " current_version, currency, amount_ht, amount_ttc, created_at, last_transition_at)"
            " values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        rows = []
        anomaly = json.dumps([{"code": "AMOUNT_MISMATCH", "reason": "invoiced above the order"}])
        for j in range(1, 2 * engagements + 1):
            engagement = rng.randrange(1, engagements + 1)
            matched = j % 25 != 0
            supplier = SUPPLIERS[engagement % len(SUPPLIERS)]
            ttc = rng.randrange(10_00, 300_000_00) * 10_000
            rows.append(
                (
                    j,
                    "ubl",
                    f"F{j:09d}",
                    "credit_note" if j % 20 == 0 else "invoice",
                    "380",
                    "2026-06-01",
                    "EUR",
                    supplier[0],
                    supplier[1],
                    ISSUERS[engagement % len(ISSUERS)][0],
                    "Acheteur",
                    None,
                    f"EJ{engagement:010d}",
                    engagement if matched else None,
                    ttc * 5 // 6,
                    ttc,
                    rng.choice(INVOICE_STATUSES),
                    "2026-06-02T10:00:00Z",
                    j - 1 if j % 50 == 0 else None,
                    anomaly if j % 5 == 0 else "[]",
                    "{}",
                    "2026-06-01T10:00:00Z",
                )
            )
        conn.executemany(
            "insert into invoices (id, syntax, number, type, type_code, issue_date, currency, seller_id, seller_name,"
            " buyer_id, buyer_name, buyer_reference, engagement_ref, engagement_id, amount_ht, amount_ttc, status,"
            " status_at, duplicate_of, anomalies, identities, created_at)"
            " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="chorus-bench-reports-"))
    ws = root / f"reports-{args.engagements}"
    shutil.rmtree(ws, ignore_errors=True)
    cli = [sys.executable, "-m", "chorus_batch", "--workspace", str(ws)]
    try:
        print(machine())
        init = measure([*cli, "init"])
        if init["rc"]:
            sys.exit(init["err"])
        t0 = time.perf_counter()
        load(ws / "var" / "store.sqlite", args.engagements)
        size = (ws / "var" / "store.sqlite").stat().st_size
        print(
            f"store: {args.engagements:,} engagements, {2 * args.engagements:,} invoices, "
            f"{size / 2**20:,.0f} MiB, loaded in {time.perf_counter() - t0:.1f}s"
        )
        os.sync()
        out = ws / "out"
        r = measure([*cli, "-q", "report", "all", "-o", str(out)])
        lines = {p.name: sum(1 for _ in p.open("rb")) - 1 for p in sorted(out.glob("*.csv"))} if out.exists() else {}
        print(
            f"report all (CSV): {r['seconds']:.1f}s wall, {r['cpu']:.1f}s CPU, peak {r['peak_mb']:,.0f} MB, "
            f"exit {r['rc']}; rows {lines}"
        )
        print("target (issue Scale): < 30 s and < 1.5 GB")
        if r["rc"]:
            print(r["err"][-2000:])
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
