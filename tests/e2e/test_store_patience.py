"""The store with real processes: a run with peer processes in a workspace whose path holds URL
characters, a read-only ``var/`` or store file, ``watch`` going on through a busy store and
through a PostgreSQL server that goes away and comes back, ``orders accept`` commands racing a
working ``watch``, and a run with peers meeting a busy store.

Every wait is on a condition (a line logged, a file's report, the inbox's content) with a
generous deadline; the only durations are the configured busy timeouts and the watcher's pauses.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from _paused import resume, start_paused
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, random_lines, ubl_order

pytestmark = pytest.mark.slow  # real processes

CLI = [sys.executable, "-m", "chorus_batch"]
DEADLINE = 180.0  # seconds a test waits for a condition before it gives up
BUSY = "store busy (another process is writing); try again"
ODD = "odd %41 ?x=1 #frag é"  # a folder name with every character a URL gives a meaning to


def _order(number: str) -> bytes:
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(number), 2), date(2026, 3, 1))


def _drop(ws: Path, numbers: range, prefix: str = "order") -> list[str]:
    """Orders written under a temporary name, then renamed into the inbox (ready at once)."""
    names = []
    for i in numbers:
        name = f"{prefix}-{i:04d}.xml"
        tmp = ws / "inbox" / f"{name}.part"
        tmp.write_bytes(_order(f"EJ2026-62{i:04d}"))
        tmp.rename(ws / "inbox" / name)
        names.append(name)
    return names


def _cli(
    ws: Path, *args: str, timeout: float = DEADLINE, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *CLI, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=timeout
    )


def _init(ws: Path, config: str = "", *extra: str) -> Path:
    r = _cli(ws, *extra, "init")
    assert r.returncode == 0, r.stderr
    if config:
        (ws / "chorus-batch.toml").write_text(config, encoding="utf-8")
    return ws


def _inbox(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "inbox").iterdir() if p.is_file() and not p.name.endswith(".part"))


def _claimed(ws: Path) -> list[Path]:
    return [p for p in (ws / "var" / "processing").rglob("*") if p.is_file()]


def _acks(ws: Path) -> set[str]:
    return {p.name.removesuffix(".json") for p in (ws / "outbox" / "acks").iterdir() if p.name.endswith(".json")}


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-3000:]


class Watch:
    """A real ``chorus-batch -v watch``; its stderr goes to a file (no pipe to fill up)."""

    def __init__(self, ws: Path, *extra: str) -> None:
        self.err_path = ws.parent / f"watch-{time.monotonic_ns()}.stderr"
        self._err = open(self.err_path, "wb")  # noqa: SIM115 -- the process writes it until close()
        self.proc = subprocess.Popen(
            [*CLI, "--workspace", str(ws), *extra, "-v", "watch"], stdout=subprocess.DEVNULL, stderr=self._err
        )
        _wait_for(lambda: "watching " in self.stderr or self.proc.poll() is not None, "watch to start")
        assert self.proc.poll() is None, self.stderr

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=DEADLINE)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


@pytest.fixture
def watches() -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def start(ws: Path, *extra: str) -> Watch:
        started.append(Watch(ws, *extra))
        return started[-1]

    yield start
    for w in started:
        w.close()


class Writer:
    """Another writer holding SQLite's write lock (``BEGIN IMMEDIATE``) until ``release``."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")


# -- URL characters, with peers ----------------------------------------------------------------------


def test_a_run_with_peers_in_a_workspace_named_with_url_characters(tmp_path: Path) -> None:
    """40 files: the run starts a peer process, which opens the store from the URL object it is
    given. Every file is integrated into ``<workspace>/var/store.sqlite``; nothing is created
    beside the workspace (before, ``?`` cut the path and ``%41`` named another folder)."""
    ws = _init(tmp_path / ODD, "helpers = 1\n")
    dropped = _drop(ws, range(1, 41))
    r = _cli(ws, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "40 file(s): 40 IN_INTEGRE" in r.stdout
    assert "1 peer process(es) share them" in (ws / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert _acks(ws) == set(dropped)
    listed = json.loads(_cli(ws, "files", "list", "--format", "json").stdout)
    assert len(listed) == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == [ODD]
    assert (ws / "var" / "store.sqlite").is_file()


# -- permissions ---------------------------------------------------------------------------------------


def _unprivileged() -> tuple[str, ...]:
    """A prefix that runs a command without the power to ignore file permissions: as root,
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-permission capabilities")
    return ("setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search")


@pytest.mark.parametrize("read_only", ["var", "store"])
def test_a_store_that_cannot_be_written_names_the_path(tmp_path: Path, read_only: str) -> None:
    ws = _init(tmp_path / "ws")
    _drop(ws, range(1, 3))
    assert _cli(ws, "run").returncode == 0  # the lock file and the log exist; the store is closed
    store = ws / "var" / "store.sqlite"
    assert not Path(f"{store}-wal").exists()
    dropped = _drop(ws, range(3, 6))
    target = ws / "var" if read_only == "var" else store
    mode = target.stat().st_mode
    target.chmod(0o555 if read_only == "var" else 0o444)
    try:
        r = _cli(ws, "run", prefix=_unprivileged())
    finally:
        target.chmod(mode)
    assert r.returncode == 2, r.stdout + r.stderr
    _clean(r.stderr)
    assert r.stderr.strip().endswith("[STORE_UNWRITABLE]"), r.stderr
    assert f"give chorus-batch's user write access to {target} [" in r.stderr, r.stderr
    assert _inbox(ws) == dropped and not _claimed(ws)
    again = _cli(ws, "run")
    assert again.returncode == 0 and "3 file(s): 3 IN_INTEGRE" in again.stdout, again.stdout + again.stderr


# -- watch through a busy store ------------------------------------------------------------------------


def test_watch_goes_on_through_a_busy_store(tmp_path: Path, watches: Callable[..., Watch]) -> None:
    """Another writer holds the store longer than ``busy_timeout_seconds``: watch logs one line
    per failed try, puts the files back in the inbox and tries again after 1 s, 2 s, 4 s...;
    once the writer lets go, the files are integrated, and SIGTERM still ends it with 0."""
    ws = _init(tmp_path / "ws", "busy_timeout_seconds = 1\n[watch]\nstable_seconds = 0.2\n")
    watch = watches(ws)
    writer = Writer(ws / "var" / "store.sqlite")
    try:
        dropped = _drop(ws, range(1, 4))
        _wait_for(lambda: watch.stderr.count("watch tries again") >= 2, "two failed tries")
        _wait_for(lambda: _inbox(ws) == dropped and not _claimed(ws), "the files back in the inbox")
        assert watch.proc.poll() is None, watch.stderr
    finally:
        writer.release()
    _wait_for(lambda: _acks(ws) == set(dropped), "the files' reports")
    _wait_for(lambda: "the store works again" in watch.stderr, "watch to see the store again")
    assert watch.stop() == 0, watch.stderr
    _clean(watch.stderr)
    tries = [line for line in watch.stderr.splitlines() if "watch tries again" in line]
    assert tries and all(line.startswith("warning: store busy (another process is writing)") for line in tries)
    assert all(
        line.endswith(("in 1 s", "in 2 s", "in 4 s", "in 8 s", "in 16 s", "in 32 s", "in 60 s")) for line in tries
    )
    statuses = {json.loads((ws / "outbox" / "acks" / f"{n}.json").read_text())["status"] for n in dropped}
    assert statuses == {"IN_INTEGRE"}


# -- answers racing watch ---------------------------------------------------------------------------------


def test_answers_race_a_working_watch(tmp_path: Path, watches: Callable[..., Watch]) -> None:
    """20 ``orders accept`` processes started together while watch stores a stream of orders:
    each waits for the store (busy timeout 30 s) and succeeds (at worst it would say "store
    busy" with exit 2), never "internal error"; watch never has to try again either. Watch lives
    on and stops with 0; each engagement is accepted once, with one order response."""
    ws = _init(tmp_path / "ws")
    answered = _drop(ws, range(1, 21), prefix="answered")
    r = _cli(ws, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    watch = watches(ws)
    answering = threading.Event()
    streamed: list[str] = []

    def stream() -> None:
        """Orders, 5 at a time, each 5 once watch has stored the ones before: watch stores
        all the time the answers run."""
        k = 100
        while answering.is_set() or k == 100:
            streamed.extend(_drop(ws, range(k, k + 5)))
            k += 5
            _wait_for(lambda: len(_acks(ws)) >= 20 + len(streamed), "watch to store the stream")

    answering.set()
    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        _wait_for(lambda: len(_acks(ws)) > 30, "watch to be storing")
        commands = [
            subprocess.Popen(
                [*CLI, "--workspace", str(ws), "orders", "accept", f"EJ2026-62{i:04d}", "--yes"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(1, 21)
        ]
        outcomes = [(c.wait(timeout=DEADLINE), *c.communicate()) for c in commands]
    finally:
        answering.clear()
        streamer.join()
    for rc, out, err in outcomes:
        _clean(err)
        assert rc == 0 or (rc == 2 and BUSY in err), (rc, out, err)
    assert len(_acks(ws)) == 20 + len(streamed)
    # each waited: watch's transactions take milliseconds, the busy timeout is 30 s (with a
    # deferred BEGIN, most answers failed at once with "database is locked")
    assert [rc for rc, _o, _e in outcomes] == [0] * 20, outcomes
    assert "watch tries again" not in watch.stderr, watch.stderr
    assert watch.proc.poll() is None, watch.stderr
    assert watch.stop() == 0, watch.stderr
    _clean(watch.stderr)
    for (rc, _out, _err), i in zip(outcomes, range(1, 21), strict=True):
        shown = json.loads(_cli(ws, "orders", "show", f"EJ2026-62{i:04d}", "--format", "json").stdout)
        events = [h["event"] for h in shown["history"]]
        assert events == (["received", "accept"] if rc == 0 else ["received"]), (i, events)
    responses = [p.name for p in (ws / "outbox" / "responses").iterdir()]
    assert len(responses) == sum(1 for rc, _o, _e in outcomes if rc == 0) and len(answered) == 20


# -- a run with peers meeting a busy store -----------------------------------------------------------------


def test_a_run_with_peers_busy_beyond_the_timeout_puts_everything_back(tmp_path: Path) -> None:
    ws = _init(tmp_path / "ws", "helpers = 1\nbusy_timeout_seconds = 1\n")
    dropped = _drop(ws, range(1, 41))
    writer = Writer(ws / "var" / "store.sqlite")
    try:
        r = _cli(ws, "run")
    finally:
        writer.release()
    assert r.returncode == 2, r.stdout + r.stderr
    _clean(r.stderr)
    assert BUSY in r.stderr and r.stderr.strip().endswith("[STORE_BUSY]"), r.stderr
    assert _inbox(ws) == dropped and not _claimed(ws) and not _acks(ws)
    again = _cli(ws, "run")
    assert again.returncode == 0 and "40 file(s): 40 IN_INTEGRE" in again.stdout, again.stdout + again.stderr


def test_a_peer_meeting_a_busy_store_ends_the_run_cleanly(tmp_path: Path) -> None:
    """The run pauses once its first lot is committed; a peer holds the next lot (claimed);
    another writer then takes the lock. The peer's turn comes, it waits 1 s, gives its files
    back and stops; the run takes that lot up itself, meets the same busy store, and exits 2:
    the first lot integrated, every other file back in the inbox, nothing left claimed."""
    ws = _init(tmp_path / "ws", "helpers = 1\nbusy_timeout_seconds = 1\n")
    dropped = _drop(ws, range(1, 41))
    run = start_paused("commit", "after", "--workspace", ws, "run")
    writer = None
    try:
        processing = ws / "var" / "processing"
        peers = lambda: [d for d in processing.iterdir() if not d.name.endswith(f".{run.pid}")]  # noqa: E731
        _wait_for(lambda: any(p.is_file() for d in peers() for p in d.rglob("*")), "a peer's claimed lot")
        writer = Writer(ws / "var" / "store.sqlite")
        rc, out, err = resume(run)
    finally:
        if writer is not None:
            writer.release()
        if run.poll() is None:
            run.kill()
    assert rc == 2, out + err
    _clean(err)
    assert BUSY in err and err.strip().endswith("[STORE_BUSY]"), err
    log = (ws / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert "stops: store busy (another process is writing)" in log, log[-3000:]
    integrated = _acks(ws)
    assert integrated and integrated | set(_inbox(ws)) == set(dropped) and not integrated & set(_inbox(ws))
    assert not _claimed(ws)
    again = _cli(ws, "run")
    assert again.returncode == 0 and f"{40 - len(integrated)} file(s)" in again.stdout, again.stdout + again.stderr


# -- watch through a PostgreSQL server that goes away -------------------------------------------------------


class Proxy:
    """A TCP relay on 127.0.0.1 to the PostgreSQL server: ``cut`` closes it and every
    connection through it (the server as seen from the watcher is gone), ``start`` opens it
    again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port, self.listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(OSError):  # wakes the accepting thread (a close alone leaves it listening)
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()


def test_watch_goes_on_through_a_postgresql_outage(tmp_path: Path, pg_url: str, watches: Callable[..., Watch]) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    try:
        db = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        ws = _init(tmp_path / "ws", "[watch]\nstable_seconds = 0.2\n", "--db", db)
        watch = watches(ws, "--db", db)
        first = _drop(ws, range(1, 3))
        _wait_for(lambda: _acks(ws) == set(first), "the first files' reports")
        proxy.cut()
        later = _drop(ws, range(3, 6))
        _wait_for(lambda: "cannot reach the store" in watch.stderr, "watch to meet the outage")
        _wait_for(lambda: watch.stderr.count("watch tries again") >= 2, "a second failed try")
        assert watch.proc.poll() is None, watch.stderr
        proxy.start()
        _wait_for(lambda: _acks(ws) == set(first + later), "the later files' reports")
        assert watch.stop() == 0, watch.stderr
        listed = json.loads(_cli(ws, "--db", db, "files", "list", "--format", "json").stdout)
    finally:
        proxy.cut()
    _clean(watch.stderr)
    tries = [line for line in watch.stderr.splitlines() if "watch tries again" in line]
    assert all(f"127.0.0.1:{proxy.port}" in line and "[STORE_UNREACHABLE]" in line for line in tries), tries
    assert sorted(f["file"] for f in listed) == sorted(first + later)
    assert {f["status"] for f in listed} == {"IN_INTEGRE"}
