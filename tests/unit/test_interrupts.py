"""A KeyboardInterrupt or a SystemExit is never a document's error: raised inside lxml's resolver
callback it comes out of ``schemas.get`` as itself (lxml would make a schema parse error of it,
and the file read at the time an internal error), and a signal arriving while a schema compiles
has its handler run once lxml has returned. The command line: a signal to a command other than
``run`` and ``watch`` is Python's to handle, and a KeyboardInterrupt there ends as click's
"Aborted!", never a traceback; a run's summary after a signal says what was left, exit 128 + N."""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from chorus_batch import FileStatus, RunSummary, Session
from chorus_batch.cli import root, signals
from chorus_batch.cli.intake import print_summary
from chorus_batch.formats import schemas


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
def test_what_the_resolver_meets_comes_out_as_itself(monkeypatch: pytest.MonkeyPatch, raised: type) -> None:
    def interrupted(url: str) -> Path | None:
        raise raised

    monkeypatch.setattr(schemas, "_as_path", interrupted)
    with pytest.raises(raised):
        schemas._compile_named("ubl-order")  # compiled afresh, not from the cache


class _Signalled(Exception):
    pass


@pytest.fixture
def usr1_raises() -> Iterator[None]:
    """SIGUSR1's handler raises ``_Signalled`` (the test's own signal: pytest keeps SIGINT)."""

    def handler(_signum: int, _frame: object) -> None:
        raise _Signalled

    before = signal.signal(signal.SIGUSR1, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_a_signal_during_a_compilation_is_handled_after_it(usr1_raises: None) -> None:
    reached = []
    with pytest.raises(_Signalled), schemas._signals_deferred():
        os.kill(os.getpid(), signal.SIGUSR1)
        reached.append("the rest of the block")  # CPython would have run the handler by now
    assert reached == ["the rest of the block"]


def test_a_signal_sent_from_inside_the_resolver_comes_out_of_get(
    monkeypatch: pytest.MonkeyPatch, usr1_raises: None
) -> None:
    real, calls = schemas._as_path, []

    def signalled(url: str) -> Path | None:
        if not calls:
            os.kill(os.getpid(), signal.SIGUSR1)
        calls.append(url)
        return real(url)

    monkeypatch.setattr(schemas, "_as_path", signalled)
    with pytest.raises(_Signalled):
        schemas._compile_named("ubl-order")
    assert len(calls) > 1  # the compilation went on: the handler ran once lxml had returned


def test_other_commands_get_pythons_handlers_back(workspace: Path, wcli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line's handlers, installed at its start, are given back before any command
    but ``run`` and ``watch`` runs; a KeyboardInterrupt in it is click's "Aborted!" (exit 1)."""
    seen = []

    def interrupted(self: Session, status: str | None = None) -> list[dict[str, object]]:
        seen.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))
        raise KeyboardInterrupt

    monkeypatch.setattr(Session, "list_files", interrupted)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert signals.catch()  # as the console script does when it starts
    try:
        result = wcli("files", "list")
    finally:
        signals.release()
    assert seen == [before]
    assert result.exit_code == 1
    assert "Aborted!" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_signal_during_start_up_ends_another_command_quietly(workspace: Path, wcli) -> None:
    assert signals.catch()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # noted by the command line's handler
        result = wcli("files", "list")
    finally:
        signals.release()
    assert result.exit_code == 128 + signal.SIGTERM
    assert result.output == "" and result.stderr == ""


def test_a_signal_the_command_was_started_with_ignored_stays_ignored() -> None:
    """``cmd &`` in a script starts the command with SIGINT ignored: it stays ignored (SIGTERM
    still stops it), as Unix programs leave it."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert signals.catch()
        try:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        finally:
            signals.release()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_once_the_command_is_over_a_signal_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script, its command over and its exit status decided, ignores SIGINT and
    SIGTERM: Python gives them their default actions back while it shuts down, and one arriving
    then killed a run that had done all its work (status -15 instead of 1, seen once in
    ``test_never_stuck`` with a run signalled as it ended)."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(root, "cli", lambda **_options: sys.exit(1))
    try:
        with pytest.raises(SystemExit) as ended:
            root.main()
        assert ended.value.code == 1
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (signal.SIG_IGN,) * 2
        assert not signals.caught()
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def test_an_interrupted_run_says_what_it_left(capsys: pytest.CaptureFixture[str]) -> None:
    summary = RunSummary(Counter({FileStatus.IN_INTEGRE: 4}), interrupted=signal.SIGINT, left=8)
    print_summary(summary)
    assert capsys.readouterr().out.splitlines() == [
        "4 file(s): 4 IN_INTEGRE",
        "interrupted by SIGINT: 8 file(s) left in the inbox for the next run",
    ]
    assert summary.exit_code == 130
    assert RunSummary(interrupted=signal.SIGTERM).exit_code == 143  # even when nothing was left
    assert RunSummary(Counter({FileStatus.IN_REJETE: 1}), interrupted=0).exit_code == 1  # a stop not by a signal
