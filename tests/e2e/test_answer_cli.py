"""Answers from the command line and terminal safety, end to end through the CLI.

* ``orders accept|refuse|modify`` check every argument before anything else: a line the order
  does not have (``--line 9=1``, ``--drop 99``), a line named twice, a quantity of 0, every line
  dropped, an unusable or negative quantity or price, a refusal without a reason: exit 2 with
  the code, nothing changed, no order response — also for an engagement that does not exist.
* ``modify`` shows the lines and totals before → after (the price basis respected: 23 → 24 at
  30.00 per 2 is 345.00 → 360.00) and the order response it will write, then asks; declining
  exits 0 with "nothing changed" and no traceback, in the output or the log; end of input at
  the question changes nothing either. Without a terminal a change needs ``--yes``
  (``CONFIRMATION_REQUIRED``, exit 2), even when ``n`` or ``y`` is piped in.
* Values from documents and file names reach the terminal escaped: rich markup (``[/b]``,
  ``[red]x[bogus]y``), emoji codes, control characters, escape sequences and bidirectional
  overrides are shown as they are written (``\\x1b``, ``\\u202e``), never interpreted, in
  ``orders search`` / ``show``, ``files list`` / ``show`` and ``run``'s summary.
* An engagement number that starts with ``-`` works as an argument of ``show``, ``export``,
  ``accept``, ``refuse`` and ``modify``, without ``--``; real options still work beside it and a
  mistyped option is still refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result

from chorus_batch.cli import orders as orders_cli
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order

RunCli = Callable[..., Result]
NUMBER = "EJ-CLI-2026-01"
DASHED = "-EJ-2"
WIDE = {"COLUMNS": "200"}  # rich tables: wide enough that no cell is wrapped
LINES = [
    Line("1", "Ramettes papier A4", Decimal("23"), "C62", Decimal("15.00"), Decimal("20")),
    Line("2", "Classeurs", Decimal("2"), "C62", Decimal("10"), Decimal("20")),
]
HOSTILE_NAME = "Mairie [/b] [red]x[bogus]y :thumbs_up: \u202eevil\u202c \x9b31m"


def per_two(number: str, issuer_name: str | None = None) -> bytes:
    """Line 1: 23 at 30.00 per 2 = 345.00 (made at 15.00 per unit, then restated per 2).
    ``issuer_name``: the issuer's name and line 2's."""
    issuer = dataclasses.replace(ISSUERS[0], name=issuer_name) if issuer_name else ISSUERS[0]
    lines = [LINES[0], dataclasses.replace(LINES[1], name=issuer_name)] if issuer_name else LINES
    data = ubl_order(number, issuer, SUPPLIERS[0], lines, date(2026, 1, 5))
    stated = b'<cbc:PriceAmount currencyID="EUR">15.00</cbc:PriceAmount>'
    assert data.count(stated) == 1
    basis = b'<cbc:PriceAmount currencyID="EUR">30.00</cbc:PriceAmount><cbc:BaseQuantity unitCode="C62">2'
    return data.replace(stated, basis + b"</cbc:BaseQuantity>")


@pytest.fixture
def ordered(workspace: Path, wcli: RunCli) -> Path:
    (workspace / "inbox" / "order.xml").write_bytes(per_two(NUMBER))
    (workspace / "inbox" / "dashed.xml").write_bytes(per_two(DASHED))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    return workspace


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a terminal: ``Confirm?`` is asked (its answer comes from the runner's ``input``)."""
    monkeypatch.setattr(orders_cli, "_interactive", lambda: True)


def shown(wcli: RunCli, number: str = NUMBER) -> dict[str, object]:
    result = wcli("orders", "show", number, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    detail: dict[str, object] = json.loads(result.stdout)
    return detail


def responses(workspace: Path) -> list[str]:
    return sorted(p.name for p in (workspace / "outbox" / "responses").iterdir())


def unchanged(workspace: Path, wcli: RunCli, before: dict[str, object]) -> None:
    assert shown(wcli) == before
    assert responses(workspace) == []


# -- every argument checked first ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--line", "9=1"), "LINE_UNKNOWN"),
        (("--drop", "99"), "LINE_UNKNOWN"),
        (("--line", "1=5", "--drop", "99"), "LINE_UNKNOWN"),
        (("--line", "1=0"), "QUANTITY_NOT_POSITIVE"),
        (("--line", "1=0.000"), "QUANTITY_NOT_POSITIVE"),
        (("--line", "1=-0"), "QUANTITY_NOT_POSITIVE"),
        (("--line", "1=-3"), "AMOUNT_INVALID"),
        (("--line", "1=NaN"), "AMOUNT_INVALID"),
        (("--line", "1=Infinity"), "AMOUNT_INVALID"),
        (("--line", "1=3@-1"), "AMOUNT_INVALID"),
        (("--line", "1=3", "--line", "1=4"), "LINE_REPEATED"),
        (("--line", "1=3", "--drop", "1"), "LINE_REPEATED"),
        (("--drop", "1", "--drop", "2"), "ALL_LINES_DROPPED"),
    ],
)
def test_modify_refuses_a_bad_argument_with_exit_2_and_changes_nothing(
    ordered: Path, wcli: RunCli, args: tuple[str, ...], code: str
) -> None:
    before = shown(wcli)
    result = wcli("orders", "modify", NUMBER, *args, "--yes")
    assert result.exit_code == 2, result.output + result.stderr
    assert f"[{code}]" in result.stderr and "nothing changed" in result.stderr
    assert "internal error" not in result.output + result.stderr and "Confirm?" not in result.output
    unchanged(ordered, wcli, before)


@pytest.mark.parametrize("change", ["1", "1=", "1=@", "1=x", "1=2@y"])
def test_a_line_change_that_says_nothing_usable_is_a_usage_error(ordered: Path, wcli: RunCli, change: str) -> None:
    before = shown(wcli)
    result = wcli("orders", "modify", NUMBER, "--line", change, "--yes")
    assert result.exit_code == 2 and "Invalid value" in result.stderr, result.output + result.stderr
    unchanged(ordered, wcli, before)


def test_the_unknown_line_message_lists_the_lines(ordered: Path, wcli: RunCli) -> None:
    result = wcli("orders", "modify", NUMBER, "--drop", "99", "--yes")
    assert "no line '99' to drop (its lines: 1, 2)" in result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("modify", "NOPE", "--line", "1=NaN"), "AMOUNT_INVALID"),
        (("modify", "NOPE", "--line", "1=2@-5"), "AMOUNT_INVALID"),
        (("refuse", "NOPE"), "REASON_REQUIRED"),
    ],
)
def test_arguments_are_checked_before_the_engagement_is_looked_for(
    ordered: Path, wcli: RunCli, args: tuple[str, ...], code: str
) -> None:
    result = wcli("orders", *args, "--yes")
    assert result.exit_code == 2, result.output + result.stderr
    assert f"[{code}]" in result.stderr and "ORDER_NOT_FOUND" not in result.stderr


def test_a_refusal_without_reason_is_a_usage_error(ordered: Path, wcli: RunCli) -> None:
    before = shown(wcli)
    result = wcli("orders", "refuse", NUMBER, "--yes")
    assert result.exit_code == 2 and "[REASON_REQUIRED]" in result.stderr
    unchanged(ordered, wcli, before)


def test_a_refusal_by_the_state_machine_stays_exit_1(ordered: Path, wcli: RunCli) -> None:
    assert wcli("orders", "refuse", NUMBER, "--reason", "Hors marché", "--yes").exit_code == 0
    result = wcli("orders", "accept", NUMBER, "--yes")
    assert result.exit_code == 1 and "[TRANSITION_NOT_ALLOWED]" in result.stderr


# -- shown, then asked ------------------------------------------------------------------------


def test_modify_shows_lines_and_totals_before_and_after_with_the_price_basis(
    ordered: Path, wcli: RunCli, terminal: None
) -> None:
    before = shown(wcli)
    result = wcli("orders", "modify", NUMBER, "--line", "1=24", "--drop", "2", input="n\n", env=WIDE)
    assert result.exit_code == 0, result.output + result.stderr
    out = result.stdout
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.count("│") > 2]
    rows = {row[0]: row for row in cells}  # the table rows, by their first cell
    assert rows["1"] == ["1", "Ramettes papier A4", "changed", "23 → 24", "30 per 2", "345.00 → 360.00"]
    assert rows["2"] == ["2", "Classeurs", "dropped", "2 → —", "10 → —", "20.00 → —"]
    # HT 345.00 + 20.00 → 360.00; VAT 20 %
    assert rows["HT"] == ["HT", "365.00", "360.00"]
    assert rows["VAT"] == ["VAT", "73.00", "72.00"]
    assert rows["TTC"] == ["TTC", "438.00", "432.00"]
    assert "Totals (EUR)" in out
    assert f"order response CA (accepted with changes) {NUMBER}." in out and ".001.CA.ubl.xml" in out
    assert out.index("Lines, before → after") < out.index("Confirm?")
    assert out.rstrip().endswith("nothing changed")
    unchanged(ordered, wcli, before)


def test_declining_exits_0_without_a_traceback_anywhere(ordered: Path, wcli: RunCli, terminal: None) -> None:
    before = shown(wcli)
    for command in (("accept",), ("refuse", "--reason", "Hors marché"), ("modify", "--line", "1=24")):
        result = wcli("orders", command[0], NUMBER, *command[1:], input="n\n")
        assert result.exit_code == 0, result.output + result.stderr
        assert "Confirm?" in result.stdout and result.stdout.rstrip().endswith("nothing changed")
        assert "internal error" not in result.output + result.stderr and "Traceback" not in result.output
    unchanged(ordered, wcli, before)
    log = (ordered / "var" / "log" / "chorus-batch.log").read_text(encoding="utf-8")
    assert "Traceback" not in log and "internal error" not in log


def test_no_answer_at_the_question_changes_nothing(ordered: Path, wcli: RunCli, terminal: None) -> None:
    before = shown(wcli)
    result = wcli("orders", "modify", NUMBER, "--line", "1=24", input="")
    assert result.exit_code == 1 and "no answer; nothing changed" in result.stderr
    assert "internal error" not in result.stderr
    unchanged(ordered, wcli, before)


def test_confirming_applies_the_change_shown(ordered: Path, wcli: RunCli, terminal: None) -> None:
    result = wcli("orders", "modify", NUMBER, "--line", "1=24", input="y\n")
    assert result.exit_code == 0, result.output + result.stderr
    assert "done: A_TRAITER -> PRIS_EN_COMPTE" in result.stdout
    detail = shown(wcli)
    assert detail["payment"]["amount_ht"] == "380.00"  # type: ignore[index]  # 360.00 + 20.00
    assert len(responses(ordered)) == 1


@pytest.mark.parametrize("piped", [None, "n\n", "y\n"])
@pytest.mark.parametrize("command", [("accept",), ("refuse", "--reason", "Hors marché"), ("modify", "--line", "1=24")])
def test_without_a_terminal_a_change_needs_yes(
    ordered: Path, wcli: RunCli, command: tuple[str, ...], piped: str | None
) -> None:
    before = shown(wcli)
    result = wcli("orders", command[0], NUMBER, *command[1:], input=piped)
    assert result.exit_code == 2, result.output + result.stderr
    assert "[CONFIRMATION_REQUIRED]" in result.stderr and "--yes" in result.stderr
    unchanged(ordered, wcli, before)
    assert wcli("orders", command[0], NUMBER, *command[1:], "--yes").exit_code == 0


def test_nothing_to_change_is_not_asked(ordered: Path, wcli: RunCli) -> None:
    assert wcli("orders", "accept", NUMBER, "--yes").exit_code == 0
    result = wcli("orders", "accept", NUMBER)  # already accepted: no change, no question
    assert result.exit_code == 0, result.output + result.stderr
    assert "ALREADY_IN_STATE" in result.stdout


# -- engagement numbers starting with "-" -----------------------------------------------------


def test_a_number_starting_with_a_dash_is_an_argument(ordered: Path, wcli: RunCli, tmp_path: Path) -> None:
    assert json.loads(wcli("orders", "show", DASHED, "--format", "json").stdout)["number"] == DASHED
    assert json.loads(wcli("orders", "show", "--format", "json", DASHED).stdout)["number"] == DASHED
    assert json.loads(wcli("orders", "show", "--format", "json", "--", DASHED).stdout)["number"] == DASHED
    assert DASHED in wcli("orders", "show", DASHED, env=WIDE).stdout
    exported = wcli("orders", "export", DASHED, "-o", tmp_path / "out")
    assert exported.exit_code == 0 and exported.stdout.strip().endswith(".v1.xml"), exported.output
    modified = wcli("orders", "modify", DASHED, "--line", "2=3", "-y")
    assert modified.exit_code == 0, modified.output + modified.stderr
    refused = wcli("orders", "refuse", DASHED, "--reason", "Hors marché", "--yes")
    assert refused.exit_code == 1 and "[TRANSITION_NOT_ALLOWED]" in refused.stderr  # modified: PRIS_EN_COMPTE
    assert wcli("orders", "accept", DASHED, "--yes").exit_code == 0  # already accepted: nothing changes


def test_a_mistyped_option_is_still_refused(ordered: Path, wcli: RunCli) -> None:
    for args in ((NUMBER, "--formt", "json"), ("--formt", "json"), (DASHED, "-x")):
        result = wcli("orders", "show", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "No such option" in result.stderr or "unexpected extra argument" in result.stderr, result.stderr


# -- terminal safety --------------------------------------------------------------------------


def assert_escaped(text: str) -> None:
    assert "[/b]" in text and "[red]x[bogus]y" in text and ":thumbs_up:" in text, text
    assert "\\u202e" in text and "\\x9b" in text, text
    for raw in ("\x1b", "\x9b", "\u202e", "\U0001f44d"):
        assert raw not in text, text


def test_orders_search_and_show_print_document_values_as_written(workspace: Path, wcli: RunCli) -> None:
    (workspace / "inbox" / "order.xml").write_bytes(per_two(NUMBER, HOSTILE_NAME))
    assert wcli("run").exit_code == 0
    assert json.loads(wcli("orders", "show", NUMBER, "--format", "json").stdout)["issuer"]["name"] == HOSTILE_NAME
    for args in (("search",), ("show", NUMBER)):
        result = wcli("orders", *args, env=WIDE)
        assert result.exit_code == 0, result.output + result.stderr
        assert_escaped(result.stdout)
    planned = wcli("orders", "modify", NUMBER, "--line", "2=3", env=WIDE)  # no terminal: shown, not applied
    assert planned.exit_code == 2 and "[CONFIRMATION_REQUIRED]" in planned.stderr
    assert_escaped(planned.stdout)


def test_file_names_reach_the_terminal_escaped(workspace: Path, wcli: RunCli) -> None:
    name = "[red]x[bogus]y\x1b[2J\x1b]0;pwned\x07.xml"
    (workspace / "inbox" / name).write_bytes(b"not a document")
    run = wcli("-v", "run", env=WIDE)
    assert run.exit_code == 1
    assert "\\x1b[2J" in run.stderr and "\x1b" not in run.stderr, run.stderr  # -v: the log lines too
    listed = wcli("files", "list", env=WIDE)
    detail = wcli("files", "show", name)
    for result in (run, listed, detail):
        assert "[red]x[bogus]y" in result.stdout, result.stdout
        assert "\\x1b[2J\\x1b]0;pwned\\x07.xml" in result.stdout, result.stdout
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout


# -- a real terminal --------------------------------------------------------------------------


def _through_a_pty(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the console script with a pseudo-terminal as its stdin, stdout and stderr; type
    ``answer`` once it asks. Returns the exit code and all it printed."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    process = subprocess.Popen(
        [sys.executable, "-m", "chorus_batch", *args], stdin=secondary, stdout=secondary, stderr=secondary, env=env
    )
    os.close(secondary)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"Confirm?" in seen:
                os.write(primary, answer)
                answered = True
        elif process.poll() is not None:
            break
    rc = process.wait(timeout=60)
    os.close(primary)
    return rc, seen.decode("utf-8", "replace")


@pytest.mark.slow
def test_on_a_real_terminal_the_change_is_asked_and_n_changes_nothing(ordered: Path, wcli: RunCli) -> None:
    before = shown(wcli)
    rc, out = _through_a_pty(["--workspace", str(ordered), "orders", "modify", NUMBER, "--line", "1=24"], b"n\n")
    assert rc == 0, out
    assert "345.00 → 360.00" in out and "Confirm?" in out and "nothing changed" in out, out
    assert "internal error" not in out and "Traceback" not in out
    unchanged(ordered, wcli, before)
    rc, out = _through_a_pty(["--workspace", str(ordered), "orders", "modify", NUMBER, "--line", "1=24"], b"y\n")
    assert rc == 0 and "done: A_TRAITER -> PRIS_EN_COMPTE" in out, out
    assert len(responses(ordered)) == 1
