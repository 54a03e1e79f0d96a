"""A KeyboardInterrupt or a SystemExit is never a document's error: raised inside lxml's resolver
callback it comes out of ``schemas.get`` as itself (lxml would make a schema parse error of it,
and the file read at the time an internal error), and a signal arriving while a schema compiles
has its handler run once lxml has returned."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from chorus_batch.formats import schemas


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
def test_what_the_resolver_meets_comes_out_as_itself(monkeypatch: pytest.MonkeyPatch, raised: type) -> None:
    def interrupted(url: str) -> Path | None:
        raise raised

    monkeypatch.setattr(schemas, "_as_path", interrupted)
    with pytest.raises(raised):
        schemas.get.__wrapped__("ubl-order")  # compiled afresh, not from the cache


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
        schemas.get.__wrapped__("ubl-order")
    assert len(calls) > 1  # the compilation went on: the handler ran once lxml had returned
