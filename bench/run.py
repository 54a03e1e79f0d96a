"""Benchmark of `chorus-batch run` against the floor loop (see bench/README.md).

python bench/run.py --orders 2000 [--mix] [--profile] [--scale-check] [--skip-floor] [--keep DIR] [--repeat K]
    [--tmpfs] [--db postgresql://USER@HOST/NAME]
"""

from __future__ import annotations

import argparse
import compileall
import ctypes
import json
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from chorus_batch.demo import generate as gen
from chorus_batch.demo.invoices import ubl_invoice

BENCH = Path(__file__).resolve().parent
KINDS = ("ubl-order-response", "ubl-order", "orderx", "facture", "reponses")


def documents(orders: int, mix: bool, seed: int = 2026):
    """(name, bytes): `orders` UBL orders; with `mix`, per 10 orders one accepted (UBL
    OrderResponse AP + a UBL invoice of the whole order), one refused (OrderResponse RE), two
    accepted through an operator CSV (50 rows a file), plus orders/5 more orders of
    generate_batch (half UBL, half Order-X BASIC / COMFORT / EXTENDED)."""
    rng = random.Random(seed)
    csv_rows: list[tuple[str, str, str]] = []
    for i in range(orders):
        number = gen.engagement_number(i)
        issuer, supplier = rng.choice(gen.ISSUERS), rng.choice(gen.SUPPLIERS)
        lines = gen._lines_for(rng, supplier)
        issued = date(2026, 1, 5) + timedelta(days=i % 300)
        yield (
            f"ubl-order-{number}.xml",
            gen.ubl_order(number, issuer, supplier, lines, issued, delivery_date=issued + timedelta(days=15)),
        )
        if not mix:
            continue
        if i % 10 == 0:
            yield f"ubl-order-response-{number}.xml", gen.ubl_order_response(number, issuer, supplier, "AP")
            yield (
                f"facture-F{i:07d}.xml",
                ubl_invoice(f"F{i:07d}", supplier, issuer, lines, issued + timedelta(days=30), engagement=number),
            )
        elif i % 10 == 1:
            yield (
                f"ubl-order-response-{number}.xml",
                gen.ubl_order_response(number, issuer, supplier, "RE", reason="Article en rupture de stock"),
            )
        elif i % 10 in (2, 3):
            csv_rows.append((number, "accept", ""))
    if mix:
        for k in range(0, len(csv_rows), 50):
            yield f"reponses-{k // 50:05d}.csv", gen.responses_csv(csv_rows[k : k + 50])
        yield from gen.generate_batch(orders // 5, seed=seed, start=orders)


def measure(argv: list[str]) -> dict:
    """Run argv; wall time from spawn to exit (start-up included), the peak RSS of that process
    (os.wait4 gives its own rusage, unlike RUSAGE_CHILDREN's running max), the largest peak RSS
    of the processes it started (``helpers_peak_mb``: its fork server, with the peers or helper
    that server reaped) and the CPU time of it and of every process it started: this script is
    a child subreaper, so those processes (orphaned when it ends) come back here and are
    counted."""
    _subreaper()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting
        helpers = _reap_descendants()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0), err.seek(0)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return {
            "seconds": seconds,
            "peak_mb": usage.ru_maxrss / 1024,
            "helpers_peak_mb": helpers / 1024,
            "rc": proc.returncode,
            "cpu": cpu,
            "out": out.read().decode(),
            "err": err.read().decode(),
        }


def _subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_descendants(limit: float = 10.0) -> int:
    """Wait (at most ``limit`` s) for the processes the run left behind (they end with it);
    the largest peak RSS among them and the processes they reaped, in KiB."""
    deadline, peak = time.monotonic() + limit, 0
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
        else:
            peak = max(peak, usage.ru_maxrss)
    return peak


def cli(workspace: Path, profile_to: Path | None = None, db: str | None = None) -> list[str]:
    prof = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
    store = ["--db", db] if db else []
    return [sys.executable, *prof, "-m", "chorus_batch", "--workspace", str(workspace), *store, "-q", "run"]


# -- --db: the store on PostgreSQL, a new database per workspace ----------------------------------

_DATABASES: list[tuple[str, str]] = []  # (server URL, database name) made by database()


def database(url: str, tag: str) -> str:
    """A new, empty PostgreSQL database for one workspace: the one named in ``url`` with
    ``_tag`` appended (dropped first if an earlier run left it); returns its store URL for
    ``--db`` (``postgresql://`` becomes ``postgresql+psycopg://``, the driver the store uses).
    ``drop_databases`` removes them at the end."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        sys.exit(f"--db: a PostgreSQL URL naming a database is expected, not {url}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    name = f"{parsed.database}_{tag}".lower()
    server = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _DATABASES.append((server, name))
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop_databases() -> None:
    """Drop the databases ``database`` made (at the end, never before a timing)."""
    import psycopg

    for server, name in _DATABASES:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _DATABASES.clear()


# -- end of --db -----------------------------------------------------------------------------------


def ack_statuses(workspace: Path) -> Counter:
    return Counter(json.loads(p.read_bytes())["status"] for p in (workspace / "outbox" / "acks").glob("*.json"))


def machine() -> str:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "?",
    )
    return f"{len(os.sched_getaffinity(0))} CPU(s), {model}, Python {platform.python_version()}, {platform.platform()}"


def bench(
    root: Path, orders: int, mix: bool, skip_floor: bool, profile: bool, rep: int = 0, db: str | None = None
) -> dict:
    """Generate into new workspaces, run the floor then the real CLI, print the table. Nothing
    is deleted before the timings (see "Deleted files" in bench/README.md). With ``db`` (a
    PostgreSQL URL) each workspace's store is a new database of that server (``database``)."""
    names = ["real", *([] if skip_floor else ["floor"]), *(["profiled"] if profile else [])]
    spaces = {n: root / f"{n}-{orders}{'-mix' if mix else ''}-{rep}" for n in names}
    for ws in spaces.values():
        if ws.exists():
            sys.exit(f"{ws} exists: give --keep a folder without an earlier run")
        (ws / "inbox").mkdir(parents=True)
    stores = {n: database(db, f"{n}_{orders}_{rep}") for n in names if n != "floor"} if db else {}
    for name, ws in spaces.items():  # a workspace is made by init (the store too), not by run
        if name != "floor":
            store = ["--db", stores[name]] if name in stores else []
            made = subprocess.run(
                [sys.executable, "-m", "chorus_batch", "--workspace", str(ws), *store, "-q", "init"],
                capture_output=True,
            )
            if made.returncode:
                sys.exit(f"init {ws} failed:\n{made.stderr.decode(errors='replace')}")
    t0, files, kinds = time.perf_counter(), 0, Counter()
    for name, data in documents(orders, mix):
        for ws in spaces.values():
            (ws / "inbox" / name).write_bytes(data)
        files += 1
        kinds[next((k for k in KINDS if name.startswith(k)), "other")] += 1
    os.sync()  # flush the generated files now, not during the timed runs
    print(f"\n{files} files generated in {time.perf_counter() - t0:.1f}s ({dict(kinds)}) under {root}")
    rows = {}
    if not skip_floor:
        rows["floor"] = measure([sys.executable, str(BENCH / "floor.py"), str(spaces["floor"])])
        if rows["floor"]["rc"]:
            sys.exit(f"floor failed:\n{rows['floor']['err']}")
        rows["floor"].update(json.loads(rows["floor"]["out"]))
    rows["real"] = measure(cli(spaces["real"], db=stores.get("real")))
    print(
        f"{'run':<8}{'files':>7}{'seconds':>9}{'files/s':>9}{'CPU s':>8}{'peak MB':>9}{'ratio':>7}"
        "   (CPU: all its processes)"
    )
    for name, r in rows.items():
        ratio = f"{r['seconds'] / rows['floor']['seconds']:.2f}" if "floor" in rows else "-"
        print(
            f"{name:<8}{files:>7}{r['seconds']:>9.2f}{files / r['seconds']:>9.0f}{r['cpu']:>8.2f}"
            f"{r['peak_mb']:>9.0f}{ratio:>7}"
        )
    if "floor" in rows:
        print("target (issue 18): ratio <= 1.5 on a RAM disk (--tmpfs), start-up included")
        cpus, cpu_ratio = len(os.sched_getaffinity(0)), rows["real"]["cpu"] / rows["floor"]["cpu"]
        print(
            f"CPU: the run's {cpu_ratio:.2f} x the floor's; shared by {cpus} CPUs, its time cannot be"
            f" below about {cpu_ratio / cpus:.2f} x the floor's (more with its start, where one process works)"
        )
        print(f"floor: {rows['floor']['valid']} XSD-valid; seconds per step: {rows['floor']['steps']}")
    statuses = ack_statuses(spaces["real"])
    left = sum(1 for _ in (spaces["real"] / "inbox").iterdir())
    ok = rows["real"]["rc"] == 0 and statuses.get("IN_INTEGRE") == files and left == 0
    print(
        f"real run: exit {rows['real']['rc']}, acks {dict(statuses)}, {left} left in inbox -> "
        f"{'OK, everything integrated' if ok else 'NOT OK'}"
    )
    if not ok and rows["real"]["err"]:
        print(rows["real"]["err"][-2000:])
    if profile:
        out = root / f"profile-{orders}.pstats"
        p = measure(cli(spaces["profiled"], out, stores.get("profiled")))
        print(f"\nprofiled run (cProfile, {p['seconds']:.1f}s wall, not comparable): {out}")
        stats = pstats.Stats(str(out))
        stats.sort_stats("cumulative").print_stats("/chorus_batch/", 25)  # our code, not click / runpy
        stats.sort_stats("tottime").print_stats(15)
    return {"files": files, **{k: {"seconds": v["seconds"], "peak_mb": v["peak_mb"]} for k, v in rows.items()}}


def best(runs: list[dict]) -> dict:
    """Per run kind, the fastest time of the repetitions (a shared machine only ever adds time)
    and the highest peak RSS."""
    out = {"files": runs[0]["files"]}
    for kind in ("floor", "real"):
        if kind in runs[0]:
            seconds = min(x[kind]["seconds"] for x in runs)
            out[kind] = {
                "seconds": seconds,
                "files_s": out["files"] / seconds,
                "peak_mb": max(x[kind]["peak_mb"] for x in runs),
            }
    return out


def compiled() -> None:
    """Compile the package's modules to bytecode once, before any timing, as an installed package
    has them: under PYTHONDONTWRITEBYTECODE (or in a fresh editable checkout) every command would
    otherwise compile them again at start-up, the floor's imports included."""
    import chorus_batch

    compileall.compile_dir(str(Path(chorus_batch.__file__).parent), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=2000, help="UBL orders to generate (default 2000)")
    ap.add_argument("--mix", action="store_true", help="add order responses, operator CSVs, invoices, Order-X")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="build the workspaces in DIR and keep them")
    ap.add_argument("--skip-floor", action="store_true", help="do not run the floor loop")
    ap.add_argument("--scale-check", action="store_true", help="run N then 10 x N: files/s and peak RSS")
    ap.add_argument("--profile", action="store_true", help="also run the CLI under cProfile, print the top")
    ap.add_argument("--repeat", type=int, default=1, metavar="K", help="K floor/run pairs: best times, median ratio")
    ap.add_argument(
        "--tmpfs", action="store_true", help="build the workspaces under /dev/shm (a RAM disk: no disk noise)"
    )
    ap.add_argument("--db", metavar="URL", help="stores on PostgreSQL: a new database per workspace, named after URL's")
    args = ap.parse_args()
    print("machine:", machine())
    compiled()
    shm = "/dev/shm" if args.tmpfs else None
    root = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="chorus-bench-", dir=shm))
    root.mkdir(parents=True, exist_ok=True)
    try:
        sizes = [args.orders, 10 * args.orders] if args.scale_check else [args.orders]
        results = []
        for n in sizes:
            runs = [
                bench(root, n, args.mix, args.skip_floor, args.profile and k == 0, k, args.db)
                for k in range(args.repeat)
            ]
            results.append(best(runs))
            if args.repeat > 1:
                b = results[-1]
                ratio = ""
                if "floor" in b:  # each pair's ratio (taken back to back), then their median and spread
                    pairs = sorted(r["real"]["seconds"] / r["floor"]["seconds"] for r in runs)
                    middle = statistics.median(pairs)
                    ratio = f", median ratio of the pairs {middle:.2f} ({pairs[0]:.2f}..{pairs[-1]:.2f})"
                print(
                    f"\nbest of {args.repeat}: "
                    + ", ".join(
                        f"{k} {b[k]['seconds']:.2f}s ({b[k]['files_s']:.0f} files/s)"
                        for k in ("floor", "real")
                        if k in b
                    )
                    + ratio
                )
        if args.scale_check:
            small, big = results
            print("\nscale check (real run):")
            for r in results:
                print(
                    f"  {r['files']:>7} files: {r['real']['files_s']:>6.0f} files/s, peak {r['real']['peak_mb']:.0f} MB"
                )
            print(
                f"  x{big['files'] / small['files']:.0f} files -> "
                f"peak RSS x{big['real']['peak_mb'] / small['real']['peak_mb']:.2f}, "
                f"files/s x{big['real']['files_s'] / small['real']['files_s']:.2f}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            drop_databases()


if __name__ == "__main__":
    main()
