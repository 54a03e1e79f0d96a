"""A hostile inbox under real ``run`` and ``watch`` processes, stopped by a signal at a random
instant (issue "Never stuck"), property-tested with hypothesis.

Each example drops a batch mixing good documents (10 to 60 UBL orders of distinct engagement
numbers, some in partner folders, sometimes an answers CSV accepting some of them) with
hostile entries: names of 200 to 255 bytes, names that are not UTF-8 (and their look-alikes
written with a literal ``\\xE9``), unreadable files (mode 000), named pipes, sockets, symbolic
links (to a file inside the workspace, to one of the inbox, to a file outside, to /dev/zero, to
a folder, dangling), empty files, garbage, folders named ``*.xml`` inside a partner folder and
orders whose buyer has a 240-character party id. A real ``chorus-batch run`` or ``watch``
processes them and, at an instant drawn by hypothesis (from its start, from the drop into a
``watch``, or from the first file it claims, so that some signals land while it works), gets
SIGINT (to its process group, as a terminal's Ctrl-C) or SIGTERM (to the process, as ``kill``).
A final plain ``run`` then finishes whatever the stopped process left.

What must hold, whatever the instant:

* the signalled process ends: ``run`` with 128 + the signal's number (130, 143), or 1 if it had
  taken and finished everything when the signal came; ``watch`` with 0; no traceback, no
  "internal error", no "Logging error"; no process of its session left behind (peers, the fork
  server). The one exception: a signal that comes while the interpreter itself is starting,
  before any code of chorus-batch runs, takes the signal's default action (returncode -N, which
  a shell shows as 128 + N, with at most the interpreter's own KeyboardInterrupt traceback);
  it is accepted only when nothing was taken from the inbox;
* after the final run (exit 0 or 1): every good order integrated exactly once (one engagement,
  one IN_INTEGRE report naming it; no DUPLICATE anywhere, every file having been dropped once),
  its answer applied (PRIS_EN_COMPTE, one order response), every other entry rejected with its
  code and moved as it is to ``var/rejected/`` (a link stays a link, a pipe a pipe), the folders
  left in place with a warning; one report per file named ``<text form, fitted>.json`` whose
  ``file`` is the full text form; nothing in ``var/processing/``, nothing in the inbox but the
  skipped folders; no name in ``var/`` or ``outbox/`` too long for its temporary name.

Two tests share the machinery: ``test_hostile_inbox_run_without_signal`` (the signal forced to
none: ``run`` to its end, exit 1, then the final run has nothing to do) and
``test_hostile_inbox_with_signals``, one case per scenario (command and anchor), the signal and
the delay drawn. As root the commands run under ``setpriv`` without the capabilities that
bypass file permissions, so that a mode-000 file is unreadable to them as to a service user;
without ``setpriv`` the unreadable kind is left out. Every wait has a generous deadline
(``DEADLINE``); no duration is asserted.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from _budget import examples
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, engagement_number, random_lines, responses_csv, ubl_order
from chorus_batch.domain import names
from chorus_batch.domain.names import NAME_MAX

pytestmark = pytest.mark.slow  # real processes

CLI = [sys.executable, "-m", "chorus_batch"]
DEADLINE = 120.0  # seconds: how long a process may take before the test gives up on it (a hang)
GROUP_GRACE = 30.0  # seconds the processes of a finished command's session may take to end
# a short close timeout (a chmod after the close gives a write event and no close), no rescan
WATCH_CONFIG = "[watch]\nclose_timeout_seconds = 2\nstable_seconds = 0.5\nrescan_seconds = 86400\n"
SETPRIV = shutil.which("setpriv")
# whether a mode-000 file is unreadable to the commands: not to root with its capabilities
LOCKED_OUT = os.geteuid() != 0 or SETPRIV is not None
CLEAN_STDERR_FORBIDS = ("Traceback", "internal error", "Logging error")

PARTNERS = (None, None, "acme", "partenaire-\udce9")  # inbox/, twice as likely, or a partner folder
LINKS = ("link_workspace", "link_inbox", "link_outside", "link_zero", "link_dangling", "link_folder")
HOSTILE = ("bad", "empty", "unreadable", "fifo", "socket", *LINKS, "folder", "long_buyer")
REJECTED_CODE = {
    "empty": "FILE_EMPTY",
    "unreadable": "FILE_UNREADABLE",
    "fifo": "NOT_A_REGULAR_FILE",
    "socket": "NOT_A_REGULAR_FILE",
} | dict.fromkeys(LINKS, "NOT_A_REGULAR_FILE")
GOOD = ("order", "long_buyer")  # integrated, and counted as engagements
FORBIDDEN = ("unreadable", "link_workspace", "link_outside")  # hold an order that must never be read
RAW = (b"\xe9", b"\xff", b"\x80", b"\xfe\xfe", b"\xc3", b"\\", b"\\xE9", "é".encode())
BUYER_SIRET = ISSUERS[0].siret


@dataclass(frozen=True)
class Entry:
    """One entry dropped in the inbox. ``name`` and ``partner`` are as the system gives them
    (a byte that is not UTF-8 is a surrogate); ``number`` is the engagement number its bytes
    hold (a good order, or an order that must never be read)."""

    kind: str
    name: str
    partner: str | None
    number: str | None = None
    variant: int = 0  # bad: which garbage; folder: whether it holds a file

    @property
    def text(self) -> str:
        return names.as_text(self.name)

    @property
    def ack(self) -> str:
        """The name of its integration report in outbox/acks/."""
        return names.fitting(self.text) + ".json"

    @property
    def kept(self) -> str:
        """Its name in var/archive/ or var/rejected/."""
        return names.fitting(self.name)

    def where(self, ws: Path) -> Path:
        folder = ws / "inbox" / self.partner if self.partner else ws / "inbox"
        return folder / self.name


@dataclass(frozen=True)
class Batch:
    entries: tuple[Entry, ...]  # in the order they are dropped
    accepted: frozenset[str]  # engagement numbers the answers CSV (if any) accepts

    def of(self, *kinds: str) -> list[Entry]:
        return [e for e in self.entries if e.kind in kinds]


@dataclass(frozen=True)
class Plan:
    """How the first process runs and when its signal comes: ``delay`` seconds after

    * ``start``: its start, the files being there already (``watch``: maybe before it is
      ``watching``, during its start-up);
    * ``drop`` (``watch``): the drop, once it is ``watching``;
    * ``claim``: the first file it claims (the files dropped before a ``run``, after ``watch``
      is ``watching``), so that the signal comes while it works, however fast the machine.
    """

    command: str  # "run" or "watch"
    signal: int | None  # None: run to its end (``run`` only)
    anchor: str
    delay: float

    @property
    def files_first(self) -> bool:
        """Whether the files are in the inbox before the process starts."""
        return self.command == "run" or self.anchor == "start"

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal).name if self.signal else "no signal"

    def __repr__(self) -> str:
        return f"Plan({self.command}, {self.signal_name} {self.delay:.3f} s after the {self.anchor})"


# -- the batches ----------------------------------------------------------------------------------------


@st.composite
def _name(draw: st.DrawFn, stem: str, k: int, ext: bytes = b".xml") -> str:
    """A unique name (``k``): plain, of 200 to 255 bytes, with bytes that are not UTF-8, or both."""
    style = draw(st.sampled_from(("plain", "plain", "long", "raw", "long_raw")))
    base = f"{stem}-{k:03d}".encode()
    if style in ("raw", "long_raw"):
        base += b"-" + b"".join(draw(st.lists(st.sampled_from(RAW), min_size=1, max_size=3)))
    if style in ("long", "long_raw"):
        size = draw(st.integers(200, NAME_MAX))
        filler = draw(st.sampled_from((b"x", "é".encode(), b"\xe9") if style == "long_raw" else (b"x", "é".encode())))
        while len(base) + len(ext) < size:
            base += filler if len(base) + len(filler) + len(ext) <= size else b"x"
    return os.fsdecode(base + ext)


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    counter = itertools.count()
    numbers = (engagement_number(i) for i in itertools.count(600_000))
    entries: list[Entry] = []

    def add(kind: str, stem: str, partners: tuple[str | None, ...] = PARTNERS, variant: int = 0) -> None:
        number = next(numbers) if kind in (*GOOD, *FORBIDDEN) else None
        name = draw(_name(stem, next(counter)))
        entries.append(Entry(kind, name, draw(st.sampled_from(partners)), number, variant))

    for _ in range(draw(st.integers(10, 60))):
        add("order", "commande")
    if draw(st.booleans()):  # the byte \xE9 in a name, and the 4 characters of its text form in another
        k = next(counter)
        for raw in (b"\xe9", b"\\xE9"):
            entries.append(Entry("order", os.fsdecode(b"twin-%d-%s.xml" % (k, raw)), None, next(numbers)))
    for kind in HOSTILE:
        if kind == "unreadable" and not LOCKED_OUT:
            continue
        for _ in range(draw(st.integers(1, 2))):
            if kind == "folder":  # a folder inside a partner folder, sometimes holding a file
                add(kind, "dossier", PARTNERS[2:], variant=int(draw(st.booleans())))
            else:
                add(kind, kind.replace("_", "-"), variant=draw(st.integers(0, 2)))
    good = [e.number for e in entries if e.kind in GOOD]
    flags = draw(st.lists(st.booleans(), min_size=len(good), max_size=len(good)))
    accepted = frozenset(n for n, yes in zip(good, flags, strict=True) if yes)
    if accepted and draw(st.booleans()):
        entries.append(Entry("answers", draw(_name("reponses", next(counter), b".csv")), None))
    else:
        accepted = frozenset()
    return Batch(tuple(draw(st.permutations(entries))), accepted)


SIGNALS = st.sampled_from([signal.SIGINT, signal.SIGTERM])
# each test of the signals: (command, anchor, the longest delay in ms); a watch signalled from
# its start gets it within its start-up (about half a second on a 2-core machine) or soon after
SCENARIOS = (
    ("run", "claim", 500),
    ("run", "start", 1500),
    ("watch", "start", 600),
    ("watch", "drop", 1500),
    ("watch", "claim", 500),
)


UNSIGNALLED = st.just(Plan("run", None, "start", 0.0))  # the signal strategy forced to none


# -- the entries ----------------------------------------------------------------------------------------


def _order(number: str) -> bytes:
    seed = zlib.crc32(number.encode())
    rng = random.Random(seed)
    return ubl_order(number, ISSUERS[seed % 4], SUPPLIERS[seed % 4], random_lines(rng, 1 + seed % 3), date(2026, 3, 1))


def _long_buyer_order(number: str) -> bytes:
    """An order whose buyer's party id is 240 characters (scheme 0088): its response's name
    is made from it."""
    long_id = f"G{number}".ljust(240, "G")
    data = ubl_order(number, ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(7), 2), date(2026, 3, 1))
    data = data.replace(
        f'<cbc:EndpointID schemeID="0009">{BUYER_SIRET}</cbc:EndpointID>'.encode(),
        f'<cbc:EndpointID schemeID="0088">{long_id}</cbc:EndpointID>'.encode(),
    )
    return data.replace(
        f'<cbc:ID schemeID="0009">{BUYER_SIRET}</cbc:ID>'.encode(),
        f'<cbc:ID schemeID="0088">{long_id}</cbc:ID>'.encode(),
    )


def _garbage(variant: int) -> bytes:
    if variant == 0:
        return b"<not-a-document/>"
    if variant == 1:
        return b"\x00\xff\xfe garbage \x89PNG\r\n"
    whole = _order(engagement_number(999_999))
    return whole[: len(whole) // 2]  # truncated: malformed XML


def content(entry: Entry, batch: Batch) -> bytes | None:
    """The bytes of a regular file entry (``None`` for the others)."""
    if entry.kind in ("order", "unreadable"):
        assert entry.number is not None
        return _order(entry.number)
    if entry.kind == "long_buyer":
        assert entry.number is not None
        return _long_buyer_order(entry.number)
    if entry.kind == "bad":
        return _garbage(entry.variant)
    if entry.kind == "empty":
        return b""
    if entry.kind == "answers":
        return responses_csv([(n, "accept", "") for n in sorted(batch.accepted)])
    return None


def link_target(entry: Entry, batch: Batch, ws: Path, outside: Path) -> Path:
    if entry.kind == "link_workspace":
        return ws / "elsewhere" / f"{entry.number}.xml"
    if entry.kind == "link_inbox":
        return batch.of("order")[0].where(ws)
    if entry.kind == "link_outside":
        return outside / f"{entry.number}.xml"
    if entry.kind == "link_zero":
        return Path("/dev/zero")
    if entry.kind == "link_folder":
        return ws / "elsewhere"
    return ws / "nowhere" / entry.name  # dangling


def prepare(ws: Path, outside: Path, batch: Batch) -> None:
    """What must exist before anything is dropped: partner folders, the links' targets."""
    for partner in {e.partner for e in batch.entries if e.partner}:
        (ws / "inbox" / partner).mkdir(exist_ok=True)
    (ws / "elsewhere").mkdir()
    outside.mkdir()
    for entry in batch.of("link_workspace", "link_outside"):
        assert entry.number is not None
        link_target(entry, batch, ws, outside).write_bytes(_order(entry.number))


def _socket_at(path: Path) -> None:
    """A socket file at ``path`` (of any length: bound under a short dot-name, then renamed)."""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(f"/proc/self/fd/{folder}/.sock")  # the socket file outlives the socket
    finally:
        os.close(folder)
    os.rename(path.parent / ".sock", path)


def drop(ws: Path, outside: Path, batch: Batch) -> None:
    """Every entry into the inbox; good files alternately written in place and renamed from a
    temporary name (as ``watch`` sees senders do)."""
    for k, entry in enumerate(batch.entries):
        path = entry.where(ws)
        data = content(entry, batch)
        if entry.kind == "folder":
            path.mkdir()
            if entry.variant:
                (path / "inside.xml").write_bytes(_order(engagement_number(999_998)))
        elif entry.kind == "fifo":
            os.mkfifo(path)
        elif entry.kind == "socket":
            _socket_at(path)
        elif entry.kind in LINKS:
            path.symlink_to(link_target(entry, batch, ws, outside))
        elif entry.kind == "unreadable":
            assert data is not None
            path.write_bytes(data)
            path.chmod(0)
        elif k % 2 and data:
            temporary = path.with_name(f".{k}.part")
            temporary.write_bytes(data)
            os.rename(temporary, path)
        else:
            assert data is not None
            path.write_bytes(data)


# -- the processes --------------------------------------------------------------------------------------


def command(ws: Path, *args: str) -> list[str]:
    cmd = [*CLI, "--workspace", str(ws), *args]
    if os.geteuid() == 0 and SETPRIV is not None:  # as a service user: permissions are not bypassed
        cmd = [SETPRIV, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    return cmd


def _session(sid: int) -> list[int]:
    """The live processes (zombies left out) of session ``sid`` or process group ``sid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if fields[0] not in ("Z", "X") and sid in (int(fields[2]), int(fields[3])):
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


class Command:
    """A real chorus-batch process in a session of its own (its group id is its pid), its
    output in files (no pipe to fill up)."""

    def __init__(self, ws: Path, tag: str, *args: str) -> None:
        self.out_path = ws.parent / f"{tag}.stdout"
        self.err_path = ws.parent / f"{tag}.stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(command(ws, *args), stdout=out, stderr=err, start_new_session=True)
        self.pid = self.proc.pid
        self.signalled = False

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while text not in self.stderr and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert text in self.stderr, f"{text!r} never logged: rc={self.proc.poll()} {self.stderr[-3000:]}"

    def wait_claim(self, ws: Path) -> None:
        """Until a file is claimed, or one is already done (a report written: ``watch`` may
        have taken the whole batch between two looks), or the process has ended."""
        deadline = time.monotonic() + DEADLINE
        while (
            not _entries(ws / "var" / "processing")
            and not _entries(ws / "outbox" / "acks")
            and self.proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)

    def send(self, sig: int) -> None:
        """SIGINT to the process group (a terminal's Ctrl-C), SIGTERM to the process (``kill``);
        nothing if it already ended."""
        if self.proc.poll() is not None:
            return
        try:
            if sig == signal.SIGINT:
                os.killpg(self.pid, sig)
            else:
                self.proc.send_signal(sig)
            self.signalled = True
        except ProcessLookupError:
            pass

    def finish(self) -> int:
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.proc.args} still running after {DEADLINE:.0f} s: {self.stderr[-3000:]}")

    def leftovers(self) -> list[str]:
        """The processes of its session still running once it has ended (after a grace);
        killed, so that the test leaves nothing behind."""
        deadline = time.monotonic() + GROUP_GRACE
        while _session(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [f"{pid}: {_cmdline(pid)}" for pid in _session(self.pid)]
        self.kill()
        return left

    def kill(self) -> None:
        for pid in _session(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def assert_clean(cmd: Command, killed_starting: bool = False) -> None:
    """No traceback, no internal error, no logging error on its stderr. ``killed_starting``:
    the signal killed it before it took anything; a KeyboardInterrupt raised while the
    interpreter itself was starting (no frame of chorus_batch yet: nothing of chorus-batch
    could have handled it) is the interpreter's, not chorus-batch's."""
    err = cmd.stderr
    if killed_starting and f"{os.sep}chorus_batch{os.sep}" not in err and err.rstrip().endswith("KeyboardInterrupt"):
        return
    for forbidden in CLEAN_STDERR_FORBIDS:
        assert forbidden not in err, f"{forbidden!r} on stderr of {cmd.proc.args[-1]}:\n{err[-4000:]}"


# -- what the workspace must look like ------------------------------------------------------------------


def _entries(folder: Path) -> list[Path]:
    """Every entry below ``folder`` that is not a folder (links never followed)."""
    out: list[Path] = []
    try:
        with os.scandir(folder) as found:
            listed = list(found)
    except (FileNotFoundError, NotADirectoryError):  # none (yet), or gone while we looked
        return out
    for entry in listed:
        if entry.is_dir(follow_symlinks=False):
            out += _entries(Path(entry.path))
        else:
            out.append(Path(entry.path))
    return out


def _folders(folder: Path) -> list[Path]:
    with os.scandir(folder) as found:
        return [Path(e.path) for e in found if e.is_dir(follow_symlinks=False)]


def _codes(report: dict[str, Any]) -> set[str]:
    return {e["code"] for e in report["errors"]} | {e["code"] for d in report["documents"] for e in d["errors"]}


def check_workspace(ws: Path, batch: Batch, run_cli: Any) -> None:
    # no name made by chorus-batch leaves too little room for its temporary name
    for top in (ws / "var", ws / "outbox"):
        for path in [*_entries(top), *(p for p, _, _ in os.walk(top))]:
            assert names.size(Path(path).name) + len(".tmp") + 1 <= NAME_MAX, path

    # the reports: one per entry (an answers CSV whose rows waited for their orders: one more
    # per concluded row), named after the text form of its name, its full text form inside
    acks: dict[str, dict[str, Any]] = {}
    for path in (ws / "outbox" / "acks").iterdir():
        if not path.name.startswith("."):
            acks[path.name] = json.loads(path.read_text(encoding="utf-8"))
    for name, report in acks.items():
        codes = _codes(report)
        assert "INTERNAL_ERROR" not in codes, (name, report)
        assert report["status"] != "DUPLICATE" and "DUPLICATE_DOCUMENT" not in codes, (name, report)
    csv_acks: set[str] = set()
    for entry in batch.of("answers"):
        base = names.fitting(entry.text)
        csv_acks = {
            n for n in acks if n == f"{base}.json" or (n.startswith(f"{base}.") and n[len(base) + 1 : -5].isdigit())
        }
        assert f"{base}.json" in csv_acks, sorted(acks)
        for n in csv_acks:
            assert acks[n]["file"] == entry.text and acks[n]["status"] in ("IN_INTEGRE", "PARKED"), acks[n]
    expected = {e.ack: e for e in batch.entries if e.kind not in ("folder", "answers")}
    assert set(acks) - csv_acks == set(expected), (
        f"missing: {sorted(set(expected) - set(acks))}, unexpected: {sorted(set(acks) - csv_acks - set(expected))}"
    )
    for ack, entry in expected.items():
        report = acks[ack]
        assert report["file"] == entry.text, (entry, report["file"])
        if entry.kind in GOOD:
            assert report["status"] == "IN_INTEGRE", (entry, report)
            assert [(d["kind"], d["number"]) for d in report["documents"]] == [("order", entry.number)], report
        else:
            assert report["status"] == "IN_REJETE", (entry, report)
            if entry.kind in REJECTED_CODE:
                assert _codes(report) == {REJECTED_CODE[entry.kind]}, (entry, report)

    # each good order integrated once, none of the orders that must not be read
    integrated = Counter(
        d["number"]
        for r in acks.values()
        if r["status"] == "IN_INTEGRE"
        for d in r["documents"]
        if d["kind"] == "order"
    )
    good = {e.number for e in batch.of(*GOOD)}
    assert integrated == Counter(good), integrated - Counter(good) or Counter(good) - integrated
    found = json.loads(run_cli("--workspace", ws, "orders", "search", "--format", "json").stdout)
    by_number = Counter(o["number"] for o in found)
    assert by_number == Counter(good), (by_number - Counter(good), Counter(good) - by_number)
    for order in found:
        want = "PRIS_EN_COMPTE" if order["number"] in batch.accepted else "A_TRAITER"
        assert order["status"] == want, order
    responses = list((ws / "outbox" / "responses").iterdir())
    assert len(responses) == len(batch.accepted), sorted(p.name for p in responses)

    # every file kept as it came: archived (good, answers) or rejected (the others, as they are)
    archived = {p.name: p for p in _entries(ws / "var" / "archive")}
    kept_good = batch.of(*GOOD, "answers")
    assert set(archived) == {e.kept for e in kept_good}, set(archived) ^ {e.kept for e in kept_good}
    for entry in kept_good:
        assert archived[entry.kept].read_bytes() == content(entry, batch), entry
    rejected = {p.name: p for p in _entries(ws / "var" / "rejected") if not p.name.endswith(".errors.json")}
    refused = [e for e in batch.entries if e.kind not in (*GOOD, "answers", "folder")]
    assert set(rejected) == {e.kept for e in refused}, set(rejected) ^ {e.kept for e in refused}
    for entry in refused:
        path = rejected[entry.kept]
        assert os.path.lexists(path.with_name(path.name + ".errors.json")), entry
        mode = path.lstat().st_mode
        if entry.kind in LINKS:
            target = link_target(entry, batch, ws, ws.parent / "outside")
            assert stat.S_ISLNK(mode) and os.readlink(path) == str(target), entry
        elif entry.kind == "fifo":
            assert stat.S_ISFIFO(mode), entry
        elif entry.kind == "socket":
            assert stat.S_ISSOCK(mode), entry
        elif entry.kind == "unreadable":
            assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0, entry
        else:
            assert path.read_bytes() == content(entry, batch), entry

    # nothing claimed, nothing waiting: the inbox holds the skipped folders and nothing else
    assert _entries(ws / "var" / "processing") == []
    assert _waiting(ws, batch) == []
    inbox = ws / "inbox"
    assert {f for partner in _folders(inbox) for f in _folders(partner)} == {e.where(ws) for e in batch.of("folder")}
    for entry in batch.of("folder"):
        if entry.variant:
            assert (entry.where(ws) / "inside.xml").read_bytes() == _order(engagement_number(999_998))


def untouched(ws: Path) -> bool:
    """Whether nothing was taken from the inbox yet (no claim, no report, nothing moved)."""
    var = ws / "var"
    return not any(_entries(f) for f in (var / "processing", var / "archive", var / "rejected", ws / "outbox" / "acks"))


def settled(ws: Path, batch: Batch) -> bool:
    """Whether everything was taken: nothing claimed, nothing left in the inbox but folders."""
    return not _entries(ws / "var" / "processing") and not _waiting(ws, batch)


def _waiting(ws: Path, batch: Batch) -> list[Path]:
    """Entries still in the inbox, the skipped folders (and what they hold) left out."""
    folders = {e.where(ws) for e in batch.of("folder")}
    return [p for p in _entries(ws / "inbox") if not any(f in p.parents for f in folders)]


def exits(plan: Plan, signalled: bool, untouched: bool, settled: bool) -> set[int]:
    """The exit codes the signalled (or not) process may end with.

    * ``watch``: 0, it stops on either signal;
    * ``run`` that ended before the signal came: 1, the hostile entries being rejected;
    * ``run`` signalled: 128 + the signal's number, or 1 if it had taken and finished every
      file when the signal came (an exit 1 with work left undone would hide the interruption);
    * either, killed by the signal's default action (returncode ``-N``; a shell shows 128 + N)
      only while nothing was taken: during the interpreter's start-up no handler can be in
      place yet.
    """
    if plan.command == "watch":
        allowed = {0}
    elif not signalled:
        allowed = {1}
    else:
        allowed = {128 + plan.signal} | ({1} if settled else set())
    if signalled and untouched and plan.signal is not None:
        allowed.add(-plan.signal)
    return allowed


# -- the property ---------------------------------------------------------------------------------------


def exercise(batch: Batch, plan: Plan, tmp_path_factory: pytest.TempPathFactory, run_cli: Any) -> None:
    note(repr(plan))
    note(f"entries: {dict(Counter(e.kind for e in batch.entries))}, accepted: {len(batch.accepted)}")
    event(f"{plan.command}, {plan.signal_name}" + (f" after the {plan.anchor}" if plan.signal else ""))
    root = tmp_path_factory.mktemp("hostile")
    ws, outside = root / "ws", root / "outside"
    init = run_cli("--workspace", ws, "init")
    assert init.exit_code == 0, init.output + init.stderr
    if plan.command == "watch":
        (ws / "chorus-batch.toml").write_text(WATCH_CONFIG, encoding="utf-8")
    prepare(ws, outside, batch)
    started: list[Command] = []
    try:
        if plan.files_first:
            drop(ws, outside, batch)
        extra = ("-v",) if plan.command == "watch" else ()
        first = Command(ws, "first", *extra, plan.command)
        started.append(first)
        if not plan.files_first:
            first.wait_for("watching ")
            drop(ws, outside, batch)
        if plan.signal is not None:
            if plan.anchor == "claim":
                first.wait_claim(ws)
            time.sleep(plan.delay)
            first.send(plan.signal)
        rc = first.finish()
        left = first.leftovers()
        event(f"{plan.command}: exit {rc}{'' if first.signalled else ' (ended before the signal)'}")
        nothing_taken = untouched(ws)
        allowed = exits(plan, first.signalled, nothing_taken, settled(ws, batch))
        assert rc in allowed, (f"exit {rc}, expected one of {sorted(allowed)}", first.stderr[-4000:])
        assert_clean(first, killed_starting=nothing_taken and plan.signal is not None and rc == -plan.signal)
        assert left == [], left

        final = Command(ws, "final", "run")
        started.append(final)
        rc = final.finish()
        assert rc in (0, 1), (rc, final.stdout[-2000:], final.stderr[-4000:])
        assert_clean(final)
        assert final.leftovers() == []
        for entry in batch.of("folder"):
            where = names.as_text(f"inbox/{entry.partner}/{entry.name}")
            assert f"{where}: a folder inside a partner folder" in final.stderr, final.stderr[-4000:]
        if plan.signal is None:
            assert final.stdout.strip() == "nothing to process", final.stdout
    finally:
        for cmd in started:
            if cmd.proc.poll() is None:
                cmd.kill()
    log = ws / "var" / "log" / "chorus-batch.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    assert "Traceback" not in text and "internal error" not in text, text[-4000:]
    check_workspace(ws, batch, run_cli)


SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": True,
    # no shrinking: each example costs seconds of real processes; the failing one is printed whole
    "phases": [Phase.explicit, Phase.generate],
}


@settings(max_examples=examples(5), **SETTINGS)
@given(batch=batches(), plan=UNSIGNALLED)
def test_hostile_inbox_run_without_signal(
    batch: Batch, plan: Plan, tmp_path_factory: pytest.TempPathFactory, run_cli: Any
) -> None:
    """``run`` to its end on a hostile inbox: exit 1, every entry where it belongs, and the
    final run finds nothing to do."""
    exercise(batch, plan, tmp_path_factory, run_cli)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s[0]}-after-the-{s[1]}")
@settings(max_examples=examples(3), **SETTINGS)
@given(batch=batches(), data=st.data())
def test_hostile_inbox_with_signals(
    scenario: tuple[str, str, int],
    batch: Batch,
    data: st.DataObject,
    tmp_path_factory: pytest.TempPathFactory,
    run_cli: Any,
) -> None:
    """``run`` or ``watch`` on a hostile inbox, SIGINT or SIGTERM at a random instant after
    the scenario's anchor (for ``watch`` from its start: often during its start-up): a clean
    exit, nothing left running, and the final run leaves every entry where it belongs."""
    command, anchor, longest = scenario
    sig = data.draw(SIGNALS, label="signal")
    delay = data.draw(st.integers(0, longest), label="delay in ms") / 1000
    exercise(batch, Plan(command, sig, anchor, delay), tmp_path_factory, run_cli)
