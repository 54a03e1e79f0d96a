"""The ``slow`` marker's guard: a test that starts a process must be marked ``slow``.

``pytest -m "not slow"`` is the fast loop, so it must not start processes (the console script,
``python -m chorus_batch``, ``multiprocessing``, a ``run`` whose peers come from a fork server,
Chromium). This plugin notes every process a test starts, from its setup to its teardown, through
the interpreter's audit events (``subprocess.Popen``, ``os.fork``, ``os.posix_spawn``...) and
``multiprocessing``'s ``BaseProcess.start`` (a fork server's children are forked in the server, so
no audit event reaches this process for them); a test that started one without the marker fails
with the list. ``tests/conftest.py`` imports the hooks below; ``tests/unit/test_guards.py`` shows
the guard firing.
"""

from __future__ import annotations

import multiprocessing.process
import sys
from collections.abc import Callable, Generator
from typing import Any

import pytest

# audit events that start a process (https://docs.python.org/3/library/audit_events.html), and ours
MP_START = "multiprocessing.Process.start"
PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", MP_START}
)
MARKER = "slow"


class ProcessStarts:
    """The processes started since ``clear``, as short descriptions."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def clear(self) -> None:
        self.seen = []

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event in PROCESS_EVENTS:
            self.seen.append(f"{event} {_short(args)}")


# the recorder of the innermost pytest session running in this process (a pytester session runs
# inside the outer one: its events are its own)
_ACTIVE: list[ProcessStarts] = []
_INSTALLED: list[bool] = []


def _short(args: tuple[Any, ...]) -> str:
    text = " ".join(str(a) for a in args[:2])
    return text if len(text) <= 160 else text[:157] + "..."


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _ACTIVE:
        _ACTIVE[-1].audit(event, args)


def _wrap_start(start: Callable[[Any], None]) -> Callable[[Any], None]:
    def recorded_start(self: Any) -> None:
        _audit(MP_START, (getattr(self, "name", "process"),))
        start(self)

    recorded_start.__wrapped__ = start  # type: ignore[attr-defined]
    return recorded_start


def install() -> None:
    """Once per interpreter: the audit hook (it cannot be removed) and the ``start`` wrapper."""
    if _INSTALLED:
        return
    sys.addaudithook(_audit)
    base = multiprocessing.process.BaseProcess
    base.start = _wrap_start(base.start)  # type: ignore[method-assign]
    _INSTALLED.append(True)


def complaint(nodeid: str, marked_slow: bool, started: list[str]) -> str | None:
    """Why a test fails the guard, or ``None``."""
    if marked_slow or not started:
        return None
    listed = "\n".join(f"  {s}" for s in started[:10])
    return (
        f"{nodeid} started {len(started)} process(es) but is not marked @pytest.mark.{MARKER} "
        f"(the fast loop, pytest -m 'not {MARKER}', must start none):\n{listed}"
    )


# -- the hooks (imported by tests/conftest.py) ---------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    install()
    _ACTIVE.append(ProcessStarts())


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ACTIVE:
        _ACTIVE.pop()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _ACTIVE:
        _ACTIVE[-1].clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "teardown" and _ACTIVE and report.passed:
        problem = complaint(item.nodeid, item.get_closest_marker(MARKER) is not None, _ACTIVE[-1].seen)
        if problem is not None:
            report.outcome, report.longrepr = "failed", problem
    return report
