"""The test suite's own guards fire: the ``slow`` marker's (``_processes``: a test that starts a
process without the marker fails) and the fast loop's examples budget (``_budget``)."""

from __future__ import annotations

import pytest

import _budget

INNER_TESTS = """
import sys

import pytest

from _processes import _wrap_start


def _popen() -> None:  # the audit event a real subprocess.Popen raises, without a process
    sys.audit("subprocess.Popen", "chromium", ["chromium", "--headless"], None, None)


def test_unmarked_popen() -> None:
    _popen()


def test_unmarked_multiprocessing() -> None:
    _wrap_start(lambda process: None)(object())  # BaseProcess.start, its real start left out


@pytest.mark.slow
def test_marked_popen() -> None:
    _popen()


def test_no_process() -> None:
    pass
"""


def test_a_test_that_starts_a_process_without_the_slow_marker_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from _processes import pytest_configure, pytest_runtest_makereport, pytest_runtest_setup, pytest_unconfigure\n"
    )
    pytester.makeini("[pytest]\nmarkers =\n    slow: starts processes\n")
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_unmarked_popen started 1 process(es) but is not marked @pytest.mark.slow*",
            "*subprocess.Popen chromium*",
            "*test_unmarked_multiprocessing started 1 process(es)*",
            "*multiprocessing.Process.start*",
        ],
        consecutive=False,
    )
    assert "test_marked_popen started" not in result.stdout.str()
    assert "test_no_process started" not in result.stdout.str()


def test_the_guard_is_installed_here() -> None:
    from multiprocessing.process import BaseProcess

    assert hasattr(BaseProcess.start, "__wrapped__")  # the suite itself runs under the guard


@pytest.mark.parametrize(
    ("markexpr", "fast"),
    [
        ("not slow", True),
        ("not  slow and not shared", True),
        ("shared and not slow", True),
        ("slow", False),
        ("", False),
        ("not slowish", False),
    ],
)
def test_the_fast_loop_is_told_by_the_mark_expression(markexpr: str, fast: bool) -> None:
    assert _budget.fast_loop(markexpr) is fast


def test_the_fast_loop_tries_a_fifth_of_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_budget, "_fast", [True])
    assert (_budget.examples(30), _budget.examples(3)) == (6, 1)
    monkeypatch.setattr(_budget, "_fast", [False])
    assert _budget.examples(30) == 30
