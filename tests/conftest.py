"""Shared fixtures for the end-to-end tests: a CLI runner and an initialised workspace; the hooks
of the ``slow`` marker's guard (``_processes``), of the fast loop's examples budget (``_budget``)
and of the check of every order response the tests make against the official rules (``_responses``).

``run_cli(*args)`` invokes the real click command group in-process (``catch_exceptions=False``,
so a bug surfaces as the exception itself rather than as an exit code), ``workspace`` is a fresh
``tmp_path`` workspace on which ``init`` has run, and ``wcli(*args)`` is ``run_cli`` bound to it
(``--workspace`` prepended).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import _budget
import _processes
from _processes import pytest_runtest_makereport, pytest_runtest_setup, pytest_unconfigure  # noqa: F401
from _responses import pytest_sessionfinish  # noqa: F401
from chorus_batch.cli import cli

# The test modules' rewritten assertions and the package's bytecode are cached in __pycache__/
# (git ignores it) even where PYTHONDONTWRITEBYTECODE is set: compiling them again on every run
# cost the fast loop seconds per process.
sys.dont_write_bytecode = False

# pytester: tests/unit/test_guards.py runs the guards in a pytest of its own; _postgres: the pg_url fixture
pytest_plugins = ["pytester", "_postgres"]

RunCli = Callable[..., Result]


def pytest_configure(config: pytest.Config) -> None:
    """The ``slow`` marker's guard (``_processes``), and the examples budget of the fast loop.
    Tests send SIGINT to the commands they start: a test run started in the background by a
    script (``&``), which ignores SIGINT, would pass that on to them, and a command keeps an
    ignored SIGINT ignored; the tests' processes start with Python's own handling instead."""
    _processes.pytest_configure(config)
    _budget.set_fast(_budget.fast_loop(config.getoption("markexpr") or ""))
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def run_cli() -> RunCli:
    """``run_cli(*args, input=None, env=None)`` -> click ``Result`` (stdout and stderr kept apart)."""
    runner = CliRunner()

    def invoke(*args: object, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def workspace(tmp_path: Path, run_cli: RunCli) -> Path:
    """A fresh workspace folder on which ``chorus-batch init`` succeeded."""
    root = tmp_path / "ws"
    result = run_cli("--workspace", root, "init")
    assert result.exit_code == 0, result.output + result.stderr
    assert (root / "inbox").is_dir() and (root / "outbox" / "acks").is_dir()
    return root


@pytest.fixture
def wcli(workspace: Path, run_cli: RunCli) -> RunCli:
    """``run_cli`` with ``--workspace <workspace>`` prepended."""

    def invoke(*args: object, **kwargs: object) -> Result:
        return run_cli("--workspace", workspace, *args, **kwargs)

    return invoke
