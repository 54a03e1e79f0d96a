"""Regenerate, or check, the console examples of ``docs/*.md`` from real runs, so they cannot drift.

An example block is owned by this tool when an HTML comment stands on the line just before its
fence::

    <!-- example: demo -->
    ```
    $ chorus-batch orders show NOPE
    error: no engagement 'NOPE' [ORDER_NOT_FOUND]
    $ echo $?
    1
    ```

The comment names a **scenario** (``SCENARIOS`` below): a fresh temporary folder, built for
this one block, that stands for ``/tmp`` in the block. ``demo`` is a copy of a workspace built
by ``chorus-batch --workspace DIR demo`` and shown as ``/tmp/docs-demo``; the commands run in
it unless the block says ``cd``. Every block gets its own copy, so a block that answers orders
does not change what the next one shows.

Each ``$ COMMAND`` line is run in order with ``bash -c`` (the checkout's ``chorus-batch``
first on the ``PATH``, stdout and stderr together, no terminal, 80 columns, UTC, no
``CHORUS_BATCH_*`` variable from the caller), and the lines after it, up to the next ``$``
line, are replaced by what it printed. Two commands are the tool's own: ``cd DIR`` changes
the folder of the next commands and ``echo $?`` prints the exit code of the previous command.
The fence's language (``json``, ``csv``...) is kept.

Options after the scenario name (``key="value"``, quoted as in a shell):

* ``setup="CMD; CMD"``: commands run before the block, not shown; each must exit 0;
* ``run="CMD"``: for a block without ``$`` lines (a JSON or CSV file shown alone): the whole
  block is the output of ``CMD``;
* ``keys="a b c"``: with ``run``, the output is a JSON object; keep only these keys, in this
  order (the block then says "other keys left out" in its prose);
* ``columns="N"``: the terminal width the commands see (80 by default), for wide tables;
* ``start="TEXT"`` / ``stop="TEXT"``: with ``run``, keep the output from the first line
  containing ``start`` up to, not including, the first later line containing ``stop``.

What changes from one run to the next is written in a fixed form, both in the docs and in the
comparison: the temporary folder is written ``/tmp``; the day of the run is written
2026-12-06 (``var/archive/2026/12/06/``, ``2026-12-06T09:00:00Z`` for any time of that day, and
a time N days later, such as when a parked document expires, N days after 2026-12-06 at 09:00:00;
``2026-12-06T09-00-00`` in the name of a store kept aside); UUIDs (workspace ids) become fixed
ones, the first met in a block ``d67632ba-ab50-4dbc-a6ff-59f32ff1b7ae``, the next ones derived
from it; PIDs and host names in a lock message become 4242 and ``edi-prod``; a byte-order mark is dropped
(a terminal does not show it). In a command,
``/tmp/`` and ``2026/12/06`` are read back the other way before the command runs. A block
whose output holds a Python traceback fails the generation.

Usage::

    .venv/bin/python tools/examples.py            # rewrite every owned block of docs/*.md in place
    .venv/bin/python tools/examples.py --check    # exit 1 and print a diff when a block is out of date
    .venv/bin/python tools/examples.py --check docs/cli.md   # only these files
    .venv/bin/python tools/examples.py --scenario demo-corrupt   # only the blocks of a scenario

``tests/unit/test_docs_examples.py`` (marked ``slow``: it runs the demo) calls ``--check``.
Run it with the checkout's interpreter: the ``chorus-batch`` beside it is the one the examples run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
DOC_FILES = ("cli.md", "operations.md")

FIXED_DAY = dt.date(2026, 12, 6)
FIXED_TIME = "09:00:00"
LATER_RE = re.compile(r"(\d{4}-\d\d-\d\d)T\d\d:\d\d:\d\d(?:\.\d+)?")  # a time, after the day's own are fixed
FIRST_UUID = uuid.UUID("d67632ba-ab50-4dbc-a6ff-59f32ff1b7ae")
COMMAND_TIMEOUT = 300

MARKER = re.compile(
    r"^<!-- example: (?P<spec>[^\n]*?) -->\n(?P<fence>```[^\n]*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
LOCK_RE = re.compile(r"held by PID \d+ on \S+")


class ExampleError(Exception):
    """An example that cannot be run as written: unknown scenario, failed setup, traceback."""


# -- scenarios -----------------------------------------------------------------------------------


@dataclass
class Context:
    """What a scenario may use while it builds a block's folder."""

    env: dict[str, str]
    demo_template: Callable[[], Path]
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_watch(self, workspace: Path) -> None:
        """Start ``chorus-batch watch`` on ``workspace`` and wait until it holds the workspace;
        the runner stops it (SIGINT) once the block is done."""
        watch = subprocess.Popen(
            ["chorus-batch", "--workspace", str(workspace), "watch"],
            cwd=workspace,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.background.append(watch)
        lock = workspace / "var" / "chorus-batch.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text(encoding="utf-8").startswith(f"PID {watch.pid} ")):
            if watch.poll() is not None or time.monotonic() > deadline:
                raise ExampleError(f"watch on {workspace} did not take the workspace (exit {watch.poll()})")
            time.sleep(0.1)

    def stop_background(self) -> None:
        for process in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.background.clear()

    def chorus(self, *args: str, cwd: Path) -> None:
        """Run ``chorus-batch ARGS``; it must exit 0."""
        done = subprocess.run(
            ["chorus-batch", *args],
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if done.returncode != 0:
            raise ExampleError(
                f"scenario step chorus-batch {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )


def _demo_copy(root: Path, ctx: Context) -> Path:
    workspace = root / "docs-demo"
    shutil.copytree(ctx.demo_template(), workspace, symlinks=True)
    return workspace


def _demo_file(name: str) -> bytes:
    from chorus_batch.demo import waves

    for _, files in waves():
        for file_name, content in files:
            if file_name == name:
                return content
    raise ExampleError(f"no demo file {name!r}")


def _orphan_response() -> bytes:
    """A UBL OrderResponse for an order nobody sent: the demo's, on another number."""
    return _demo_file("ubl-order-response-EJ2026-000103.xml").replace(b"EJ2026-000103", b"EJ2099-000002")


def _set_park_days(workspace: Path, days: int) -> None:
    config = workspace / "chorus-batch.toml"
    text, found = re.subn(r"(?m)^park_days = \d+$", f"park_days = {days}", config.read_text(encoding="utf-8"))
    if found != 1:
        raise ExampleError(f"{config}: no single park_days line to set")
    config.write_text(text, encoding="utf-8")


def scenario_empty(root: Path, ctx: Context) -> Path:
    """Nothing but the folder standing for ``/tmp``."""
    return root


def scenario_demo(root: Path, ctx: Context) -> Path:
    """A copy of the demo workspace, ``/tmp/docs-demo``."""
    return _demo_copy(root, ctx)


def scenario_demo_partners(root: Path, ctx: Context) -> Path:
    """The demo, with the partner ``papeteries`` declared at the end of its configuration."""
    workspace = _demo_copy(root, ctx)
    config = workspace / "chorus-batch.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[partners]]\nname = "papeteries"\n'
        + 'rights = [{ structure = "48215367300249", profile = "modification" }]\n',
        encoding="utf-8",
    )
    return workspace


def scenario_demo_lot(root: Path, ctx: Context) -> Path:
    """The demo, with ``lot.zip`` (an order, the bad-SIRET order, the answers CSV) in it."""
    workspace = _demo_copy(root, ctx)
    with zipfile.ZipFile(workspace / "lot.zip", "w") as lot:
        for name in ("bad-siret-ubl-order-EJ2026-000109.xml", "ubl-order-1300000102.xml", "reponses-fournisseurs.csv"):
            lot.writestr(zipfile.ZipInfo(name, (2026, 12, 6, 9, 0, 0)), _demo_file(name))
    return workspace


def scenario_demo_parked(root: Path, ctx: Context) -> Path:
    """The demo, where ``reponse-EJ2099-000002.xml`` (an answer to an order that never came) is
    parked, then ``park_days = 0``: the next run rejects it."""
    workspace = _demo_copy(root, ctx)
    (workspace / "inbox" / "reponse-EJ2099-000002.xml").write_bytes(_orphan_response())
    ctx.chorus("run", cwd=workspace)
    _set_park_days(workspace, 0)
    return workspace


def scenario_demo_expired(root: Path, ctx: Context) -> Path:
    """``demo-parked`` after that run: ``reponse-EJ2099-000002.xml`` is in ``var/rejected/``."""
    workspace = scenario_demo_parked(root, ctx)
    subprocess.run(["chorus-batch", "run"], cwd=workspace, env=ctx.env, capture_output=True, timeout=COMMAND_TIMEOUT)
    return workspace


REPONSES_DU_JOUR = (
    "engagement_number;action;reason\n"
    "1300000102;refuse;Hors marché\n"
    "EJ2026-000106;accept;\n"
    "EJ2026-000104;cancel;\n"
    "EJ2099-000001;accept;\n"
)


def _renumbered_order(number: str) -> bytes:
    """The demo's UBL order ``EJ2026-000101`` under another number."""
    return _demo_file("ubl-order-EJ2026-000101.xml").replace(b"EJ2026-000101", number.encode())


def scenario_demo_partial(root: Path, ctx: Context) -> Path:
    """The demo, with two files waiting in its inbox: ``reponses-du-jour.csv`` (four rows: a
    refusal, an accept, an unknown action, an answer to the order ``EJ2099-000001`` that has
    not come) and ``reponse-EJ2099-000002.xml`` (an answer to an order that never comes)."""
    workspace = _demo_copy(root, ctx)
    (workspace / "inbox" / "reponses-du-jour.csv").write_text(REPONSES_DU_JOUR, encoding="utf-8")
    (workspace / "inbox" / "reponse-EJ2099-000002.xml").write_bytes(_orphan_response())
    return workspace


def scenario_demo_partial_run(root: Path, ctx: Context) -> Path:
    """``demo-partial`` after its run."""
    workspace = scenario_demo_partial(root, ctx)
    subprocess.run(["chorus-batch", "run"], cwd=workspace, env=ctx.env, capture_output=True, timeout=COMMAND_TIMEOUT)
    return workspace


def scenario_demo_partial_later(root: Path, ctx: Context) -> Path:
    """``demo-partial-run``, then the order ``EJ2099-000001`` arrives and is run."""
    workspace = scenario_demo_partial_run(root, ctx)
    (workspace / "inbox" / "ubl-order-EJ2099-000001.xml").write_bytes(_renumbered_order("EJ2099-000001"))
    subprocess.run(["chorus-batch", "run"], cwd=workspace, env=ctx.env, capture_output=True, timeout=COMMAND_TIMEOUT)
    return workspace


def scenario_demo_bundles(root: Path, ctx: Context) -> Path:
    """The demo after a run of two bundles: ``lot-2026-03-01.zip`` (two orders and
    ``notes.txt``) and ``evil.zip`` (a member named ``../EJ2026-000503.xml``)."""
    workspace = _demo_copy(root, ctx)
    when = (2026, 3, 1, 9, 0, 0)
    with zipfile.ZipFile(workspace / "inbox" / "lot-2026-03-01.zip", "w") as lot:
        for number in ("EJ2026-000501", "EJ2026-000502"):
            lot.writestr(zipfile.ZipInfo(f"commandes/{number}.xml", when), _renumbered_order(number))
        lot.writestr(zipfile.ZipInfo("notes.txt", when), "Livraison le 3 mars, quai B.\n")
    with zipfile.ZipFile(workspace / "inbox" / "evil.zip", "w") as evil:
        evil.writestr(zipfile.ZipInfo("../EJ2026-000503.xml", when), _renumbered_order("EJ2026-000503"))
    subprocess.run(["chorus-batch", "run"], cwd=workspace, env=ctx.env, capture_output=True, timeout=COMMAND_TIMEOUT)
    return workspace


def scenario_demo_watched(root: Path, ctx: Context) -> Path:
    """The demo, held by a ``chorus-batch watch`` running on it while the block runs."""
    workspace = _demo_copy(root, ctx)
    ctx.start_watch(workspace)
    return workspace


def scenario_edi_orders(root: Path, ctx: Context) -> Path:
    """A new workspace ``/tmp/edi`` (``init``) and the demo's ten orders in ``/tmp/orders/``."""
    ctx.chorus("--workspace", str(root / "edi"), "init", cwd=root)
    orders = root / "orders"
    orders.mkdir()
    from chorus_batch.demo import waves

    for name, content in waves()[0][1]:
        (orders / name).write_bytes(content)
    return root


def scenario_edi_lost_store(root: Path, ctx: Context) -> Path:
    """``/tmp/edi`` after it integrated the demo's orders, its store then lost."""
    scenario_edi_orders(root, ctx)
    for path in (root / "orders").iterdir():
        shutil.copy(path, root / "edi" / "inbox")
    subprocess.run(
        ["chorus-batch", "--workspace", str(root / "edi"), "run"],
        cwd=root,
        env=ctx.env,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
    )
    for path in (root / "edi" / "var").glob("store.sqlite*"):
        path.unlink()
    return root


def scenario_demo_corrupt(root: Path, ctx: Context) -> Path:
    """The demo, with ``var/copy.sqlite``: a whole copy of its store (SQLite's backup, so no
    ``-wal`` is left behind) whose ``transitions`` table has its first page overwritten. The
    commands that open a store do not read that table: only the integrity check finds it."""
    workspace = _demo_copy(root, ctx)
    copy = workspace / "var" / "copy.sqlite"
    source, target = sqlite3.connect(workspace / "var" / "store.sqlite"), sqlite3.connect(copy)
    try:
        source.backup(target)
        (page,) = target.execute("SELECT rootpage FROM sqlite_master WHERE name = 'transitions'").fetchone()
        (size,) = target.execute("PRAGMA page_size").fetchone()
    finally:
        source.close()
        target.close()
    data = bytearray(copy.read_bytes())
    data[(page - 1) * size : page * size] = b"\xa5" * size
    copy.write_bytes(bytes(data))
    return workspace


SCENARIOS: dict[str, Callable[[Path, Context], Path]] = {
    "empty": scenario_empty,
    "demo": scenario_demo,
    "demo-partners": scenario_demo_partners,
    "demo-lot": scenario_demo_lot,
    "demo-parked": scenario_demo_parked,
    "demo-expired": scenario_demo_expired,
    "demo-partial": scenario_demo_partial,
    "demo-partial-run": scenario_demo_partial_run,
    "demo-partial-later": scenario_demo_partial_later,
    "demo-bundles": scenario_demo_bundles,
    "demo-corrupt": scenario_demo_corrupt,
    "demo-watched": scenario_demo_watched,
    "edi-orders": scenario_edi_orders,
    "edi-lost-store": scenario_edi_lost_store,
}


# -- normalisation -------------------------------------------------------------------------------


@dataclass
class Normaliser:
    """Writes what changes between runs in a fixed form (see the module's docstring)."""

    root: Path
    days: set[dt.date] = field(default_factory=set)
    uuids: dict[str, str] = field(default_factory=dict)

    def note_today(self) -> None:
        self.days.add(dt.datetime.now(dt.UTC).date())

    def command(self, line: str) -> str:
        """A command as the docs write it, made runnable here."""
        today = max(self.days)
        line = line.replace(FIXED_DAY.strftime("%Y/%m/%d"), today.strftime("%Y/%m/%d"))
        return line.replace("/tmp/", f"{self.root}/")

    def output(self, text: str) -> str:
        text = text.replace("\ufeff", "")  # a byte-order mark, which a terminal does not show
        text = text.replace(f"{self.root}/", "/tmp/").replace(str(self.root), "/tmp")
        fixed = FIXED_DAY.isoformat()
        for day in sorted(self.days):
            iso = day.isoformat()
            text = text.replace(day.strftime("%Y/%m/%d"), FIXED_DAY.strftime("%Y/%m/%d"))
            text = re.sub(rf"{iso}T\d\d:\d\d:\d\d(?:\.\d+)?", f"{fixed}T{FIXED_TIME}", text)
            text = re.sub(rf"{iso}T\d\d-\d\d-\d\d", f"{fixed}T{FIXED_TIME.replace(':', '-')}", text)
            text = text.replace(iso, fixed)
        text = LATER_RE.sub(self._later, text)
        text = LOCK_RE.sub("held by PID 4242 on edi-prod", text)
        return UUID_RE.sub(self._uuid, text)

    def _later(self, match: re.Match[str]) -> str:
        """A time some days after the run (when a parked document expires: ``park_days``
        later), as that many days after the fixed day."""
        found = dt.date.fromisoformat(match.group(1))
        ahead = (found - max(self.days)).days if self.days else -1
        if not 0 < ahead <= 3660:
            return match.group(0)
        return f"{(FIXED_DAY + dt.timedelta(days=ahead)).isoformat()}T{FIXED_TIME}"

    def _uuid(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.uuids:
            n = len(self.uuids)
            self.uuids[found] = str(FIRST_UUID if n == 0 else uuid.uuid5(FIRST_UUID, str(n)))
        return self.uuids[found]


# -- running a block -----------------------------------------------------------------------------

# An absolute path in a command: only /tmp/... (the scenario's own folder once rewritten), the
# root itself (refused by the commands shown) and /dev/null may be named (``//host`` of a URL is
# not a path).
ABSOLUTE_RE = re.compile(r"(?<![\w.~/:-])/+(?!/|tmp/|dev/null\b|[\s'\"]|$)[^\s'\"]*")


def _confined(block: Block, command: str) -> None:
    """Refuse a command naming a path outside the scenario's folder: the examples run for real."""
    found = ABSOLUTE_RE.search(command.replace("sqlite:///", " "))  # a SQLite URL names a file; others a host
    if found:
        raise ExampleError(
            f"{block.label}: {command!r} names {found.group(0)}, outside /tmp: write the example under /tmp"
        )


@dataclass
class Block:
    """One owned example block of a Markdown file."""

    scenario: str
    options: dict[str, str]
    fence: str
    body: str
    start: int
    end: int

    @property
    def label(self) -> str:
        first = next((line for line in self.body.splitlines() if line.startswith("$ ")), self.options.get("run", ""))
        return f"{self.scenario}: {first}"


def blocks(text: str) -> Iterator[Block]:
    """The owned example blocks of ``text``, in order."""
    for match in MARKER.finditer(text):
        words = shlex.split(match.group("spec"))
        if not words:
            raise ExampleError(f"an example marker names no scenario: {match.group(0).splitlines()[0]}")
        options = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if not sep or key not in ("setup", "run", "keys", "start", "stop", "columns"):
                raise ExampleError(f"unknown example option {word!r} in {match.group(0).splitlines()[0]}")
            options[key] = value
        yield Block(
            words[0], options, match.group("fence"), match.group("body"), match.start("body"), match.end("body")
        )


def base_env() -> dict[str, str]:
    """The environment of every command: the checkout's ``chorus-batch`` first, fixed width and zone."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHORUS_BATCH_")}
    env.pop("NO_COLOR", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"COLUMNS": "80", "LINES": "50", "TZ": "UTC", "PYTHONUNBUFFERED": "1", "TERM": "dumb"})
    env.update({"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
    return env


class Runner:
    """Builds each block's scenario and runs its commands; the demo workspace is built once."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.env = base_env()
        self._template: Path | None = None
        self._count = 0

    def demo_template(self) -> Path:
        if self._template is None:
            template = self.scratch / "template" / "docs-demo"
            template.parent.mkdir()
            Context(self.env, self.demo_template).chorus("--workspace", str(template), "demo", cwd=template.parent)
            self._template = template
        return self._template

    def _shell(self, command: str, cwd: Path, columns: str = "80") -> tuple[int, str]:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env={**self.env, "COLUMNS": columns},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
        )
        return done.returncode, done.stdout.decode("utf-8", errors="replace")

    def render(self, block: Block) -> str:
        """The block's body as it should read now."""
        if block.scenario not in SCENARIOS:
            raise ExampleError(f"unknown scenario {block.scenario!r} (known: {', '.join(SCENARIOS)})")
        self._count += 1
        root = self.scratch / f"b{self._count}"
        root.mkdir()
        norm = Normaliser(root)
        norm.note_today()
        ctx = Context(self.env, self.demo_template)
        try:
            return self._render(block, root, norm, SCENARIOS[block.scenario](root, ctx))
        finally:
            ctx.stop_background()

    def _render(self, block: Block, root: Path, norm: Normaliser, cwd: Path) -> str:
        for step in filter(None, (s.strip() for s in block.options.get("setup", "").split(";"))):
            _confined(block, step)
            rc, out = self._shell(norm.command(step), cwd)
            if rc != 0:
                raise ExampleError(f"{block.label}: setup {step!r} exited {rc}:\n{out}")
        if "run" in block.options:
            rc, out = self._shell(norm.command(block.options["run"]), cwd, block.options.get("columns", "80"))
            norm.note_today()
            self._no_traceback(block, out)
            return self._select(block, norm.output(out))
        lines: list[str] = []
        last = 0
        for raw in block.body.splitlines():
            if not raw.startswith("$ "):
                continue
            lines.append(raw)
            command = raw[2:].strip()
            if command == "echo $?":
                out = f"{last}\n"
            elif command == "cd" or command.startswith("cd "):
                target = Path(norm.command(command[2:].strip() or str(root)))
                cwd = target if target.is_absolute() else cwd / target
                out = ""
            else:
                _confined(block, command)
                last, out = self._shell(norm.command(command), cwd, block.options.get("columns", "80"))
                norm.note_today()
            self._no_traceback(block, out)
            lines += norm.output(out).splitlines()
        return "\n".join(lines) + "\n"

    @staticmethod
    def _no_traceback(block: Block, out: str) -> None:
        if "Traceback (most recent call last)" in out:
            raise ExampleError(f"{block.label}: a traceback was printed:\n{out}")

    @staticmethod
    def _select(block: Block, out: str) -> str:
        if "keys" in block.options:
            whole = json.loads(out)
            out = json.dumps({key: whole[key] for key in block.options["keys"].split()}, indent=2, ensure_ascii=False)
            out += "\n"
        lines = out.splitlines()
        if "start" in block.options:
            first = next((i for i, line in enumerate(lines) if block.options["start"] in line), None)
            if first is None:
                raise ExampleError(f"{block.label}: no line contains start={block.options['start']!r}")
            lines = lines[first:]
        if "stop" in block.options:
            stop = next((i for i, line in enumerate(lines) if i and block.options["stop"] in line), len(lines))
            lines = lines[:stop]
        return "\n".join(lines) + "\n"


def regenerate(text: str, runner: Runner, scenarios: frozenset[str] = frozenset()) -> str:
    """``text`` with every owned example block rendered again (only those of ``scenarios``
    when given; the others are kept as they are)."""
    out: list[str] = []
    position = 0
    for block in blocks(text):
        out.append(text[position : block.start])
        out.append(runner.render(block) if not scenarios or block.scenario in scenarios else block.body)
        position = block.end
    out.append(text[position:])
    return "".join(out)


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A temporary folder for the scenarios, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="chorus-examples-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(paths: list[Path], check: bool, scenarios: frozenset[str] = frozenset()) -> int:
    """Regenerate (or with ``check``, compare) the example blocks of ``paths``; the exit code."""
    stale = 0
    with scratch_folder() as scratch:
        runner = Runner(scratch)
        for path in paths:
            old = path.read_text(encoding="utf-8")
            new = regenerate(old, runner, scenarios)
            if new == old:
                continue
            name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
            if check:
                stale += 1
                sys.stdout.writelines(
                    difflib.unified_diff(old.splitlines(True), new.splitlines(True), name, name + " (now)")
                )
            else:
                path.write_text(new, encoding="utf-8", newline="\n")
                print(f"updated {name}")
    if stale:
        print(f"\n{stale} file(s) with examples out of date: run python tools/examples.py", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 with a diff when out of date")
    parser.add_argument(
        "files", nargs="*", type=Path, help=f"Markdown files (default: {', '.join(DOC_FILES)} in docs/)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=sorted(SCENARIOS),
        help="only the blocks of this scenario (repeatable); the others are left as they are",
    )
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.files] or [DOCS / name for name in DOC_FILES]
    try:
        return run(paths, args.check, frozenset(args.scenario))
    except ExampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
