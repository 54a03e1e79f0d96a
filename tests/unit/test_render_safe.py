"""``cli.render.safe``, the one way documents' values and file names reach the terminal, and
``cli.orders``' reading of an engagement number that starts with ``-``."""

from __future__ import annotations

import io

import click
import pytest
from rich.console import Console

from chorus_batch.cli.orders import NumberCommand, _is_option
from chorus_batch.cli.render import safe


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("[/b]", "[/b]"),
        ("[red]x[bogus]y.xml", "[red]x[bogus]y.xml"),
        ("bell\x07 esc\x1b[31m csi\x9b del\x7f", "bell\\x07 esc\\x1b[31m csi\\x9b del\\x7f"),
        ("rlo\u202eevil\u202c zw\u200b bom\ufeff", "rlo\\u202eevil\\u202c zw\\u200b bom\\ufeff"),
        ("two\nlines\r", "two\\x0alines\\x0d"),
        ("é — € 日本", "é — € 日本"),
    ],
)
def test_rich_prints_what_the_value_holds(raw: str, shown: str) -> None:
    out = io.StringIO()
    Console(file=out, width=200, emoji=False, highlight=False).print(safe(raw))
    assert out.getvalue() == shown + "\n"
    assert safe(raw, markup=False) == shown


def test_line_breaks_may_be_kept_and_none_is_empty() -> None:
    assert safe("a\nb\x1b", newlines=True) == "a\nb\\x1b"
    assert safe(None) == ""


def test_a_trailing_backslash_cannot_escape_what_follows() -> None:
    out = io.StringIO()
    Console(file=out, width=200).print(safe("C:\\") + safe("[bold]x"))
    assert "[bold]x" in out.getvalue()


@pytest.mark.parametrize(
    ("word", "option"),
    [
        *[("-y", True), ("--yes", True), ("--issuer=X", True), ("-o/tmp/x", True), ("-yo/tmp", True)],
        *[("-EJ-2", False), ("-y2026", False), ("--nope", False), ("-x", False)],
    ],
)
def test_what_is_an_option(word: str, option: bool) -> None:
    assert _is_option(word, {"-y", "--yes"}, {"--issuer", "-o", "--output"}) is option


@pytest.mark.parametrize(
    ("args", "number"),
    [
        (["-EJ-2"], "-EJ-2"),
        (["-EJ-2", "-y"], "-EJ-2"),
        (["-y", "-EJ-2", "--issuer", "-I"], "-EJ-2"),
        (["--issuer", "-I", "EJ1"], "EJ1"),
        (["--", "-y"], "-y"),
    ],
)
def test_a_dashed_number_is_the_argument(args: list[str], number: str) -> None:
    @click.command(cls=NumberCommand)
    @click.argument("number")
    @click.option("--issuer")
    @click.option("--yes", "-y", is_flag=True)
    def command(number: str, issuer: str | None, yes: bool) -> None:
        click.echo(number)

    result = click.testing.CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert result.output == number + "\n"
