"""How soon `chorus-batch run` and `watch` end after SIGINT / SIGTERM (see bench/README.md).

python bench/signals.py [--orders 600] [--rounds 10] [--signal INT|TERM] [--seed 1] [--keep DIR]

Each round fills the inbox up to `--orders` UBL orders, starts `chorus-batch run` in a process
group of its own, sends the signal to the group after a random 0.05-3 s, and times the exit
from the signal. It also checks what the tests check: exit code 128 + the signal (or the
ordinary 0 when the run ended before the signal), no traceback, nothing left in
var/processing/, no process of the group left, no file rejected as an internal error. A last
plain `run` integrates the rest: one report per file. Then `watch` is stopped the same way at
0.05-0.6 s after its start. Timings are printed, never asserted (tests never time anything).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, ubl_order

CLI = [sys.executable, "-m", "chorus_batch"]


def fill(ws: Path, wanted: int, start: int, rng: random.Random) -> int:
    """Top the inbox up to ``wanted`` orders; return the next order's index."""
    inbox = ws / "inbox"
    present = sum(1 for _ in inbox.iterdir())
    for k in range(start, start + max(0, wanted - present)):
        data = ubl_order(
            engagement_number(400_000 + k), ISSUERS[k % 4], SUPPLIERS[k % 4], random_lines(rng, 3), date(2026, 3, 1)
        )
        (inbox / f"order-{k:06d}.xml").write_bytes(data)
        start += 1
    return start


def group_left(pgid: int) -> list[str]:
    """The processes still in the process group ``pgid`` (zombies included), as ``pid state``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            found.append(f"{entry} {fields[0]}")
    return found


def stop_after(command: list[str], delay: float, sig: int) -> tuple[int, float | None, str]:
    """Start ``command`` in a group of its own, signal the group after ``delay`` s; return its
    exit code, the seconds from the signal to its exit (``None``: it ended first), its stderr."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return proc.returncode, None, proc.communicate()[1].decode(errors="replace")
    except subprocess.TimeoutExpired:
        pass
    sent = time.monotonic()
    os.killpg(proc.pid, sig)
    _out, err = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    deadline = time.monotonic() + 10
    while group_left(proc.pid) and time.monotonic() < deadline:  # the fork server ends once the run has
        time.sleep(0.01)
    left = group_left(proc.pid)
    if left:
        print(f"  processes of the group left: {left}")
    return proc.returncode, took, err.decode(errors="replace")


def check(ws: Path, rc: int, err: str, sig: int) -> None:
    problems = []
    if rc not in (0, 128 + sig):
        problems.append(f"exit {rc}")
    if "Traceback" in err or "internal error" in err:
        problems.append(err[-2000:])
    if any((ws / "var" / "processing").rglob("*.xml")):
        problems.append("files left in var/processing")
    for ack in (ws / "outbox" / "acks").iterdir():
        report = json.loads(ack.read_text(encoding="utf-8"))
        if any(e["code"] == "INTERNAL_ERROR" for e in report["errors"]):
            problems.append(f"{ack.name}: INTERNAL_ERROR")
    if problems:
        raise SystemExit("\n".join(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--signal", choices=("INT", "TERM"), default="INT")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    sig = signal.Signals[f"SIG{args.signal}"]
    rng = random.Random(args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="chorus-signals-"))
    ws = root / "ws"
    subprocess.run([*CLI, "--workspace", str(ws), "init"], check=True, capture_output=True)
    made = 0
    times = []
    for round_ in range(args.rounds):
        made = fill(ws, args.orders, made, rng)
        delay = rng.uniform(0.05, 3.0)
        rc, took, err = stop_after([*CLI, "--workspace", str(ws), "run"], delay, sig)
        check(ws, rc, err, sig)
        acks = sum(1 for _ in (ws / "outbox" / "acks").iterdir())
        said = f"{took:.2f} s after the signal" if took is not None else "before the signal"
        print(f"run {round_}: {sig.name} at {delay:.2f} s: exit {rc} {said}; {acks} report(s) so far")
        if took is not None:
            times.append(took)
    final = subprocess.run([*CLI, "--workspace", str(ws), "run"], capture_output=True, text=True, timeout=600)
    check(ws, final.returncode, final.stderr, sig)
    acks = sum(1 for _ in (ws / "outbox" / "acks").iterdir())
    print(f"final run: exit {final.returncode}; {acks} report(s) for {made} file(s)")
    if acks != made:
        raise SystemExit("a file was not reported exactly once")
    if times:
        print(f"run: signal to exit {min(times):.2f}-{max(times):.2f} s (mean {sum(times) / len(times):.2f} s)")
    watch_times = []
    for _round in range(args.rounds):
        delay = rng.uniform(0.05, 0.6)
        rc, took, err = stop_after([*CLI, "--workspace", str(ws), "watch"], delay, sig)
        if rc != 0 or "Traceback" in err:
            raise SystemExit(f"watch: exit {rc}\n{err[-2000:]}")
        if took is not None:
            watch_times.append(took)
    if watch_times:
        low, high = min(watch_times), max(watch_times)
        print(f"watch: signal to exit {low:.2f}-{high:.2f} s in {len(watch_times)} rounds, exit 0 each")
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
