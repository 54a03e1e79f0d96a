"""How commands print rows: a rich table on the terminal, CSV or JSON for scripts.

CSV text cells a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) get a leading ``'``, as in the reports (``chorus_batch.neutral_cell``); numbers
are never touched: a value that is a number (``int``, ``Decimal``...) or the text of a decimal
number (``-127.20``) is written as it is. ``CHORUS_BATCH_CSV_RAW=1`` writes every cell as it is,
for programs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from typing import Any

import click

from chorus_batch import RAW_CSV_ENV, neutral_cell

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def raw_csv_wanted() -> bool:
    """``CHORUS_BATCH_CSV_RAW`` set to 1, true or yes: CSV text cells as they are."""
    return os.environ.get(RAW_CSV_ENV, "").strip().lower() in ("1", "true", "yes")


def csv_cell(value: Any) -> Any:
    """A cell of ``--format csv``: neutralised when it is text a spreadsheet would run, never
    when it is a number or the text of one."""
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        return neutral_cell(value)
    return value


def csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """Header and rows, ``\\n`` line ends. Each row is written ended ``\\r\\n``, which makes the csv
    module quote every field holding a CR (with ``\\n`` alone, a bare CR would split the row for
    readers), then ended ``\\n`` again."""
    one = io.StringIO(newline="")
    writer = csv.DictWriter(one, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
    lines: list[str] = []

    def take() -> None:
        lines.append(one.getvalue()[:-2] + "\n")
        one.seek(0)
        one.truncate()

    writer.writeheader()
    take()
    for row in rows:
        writer.writerow(row)
        take()
    return "".join(lines)


def emit_rows(fmt: str, columns: list[str], rows: list[dict[str, Any]], title: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        if not raw_csv_wanted():
            rows = [{key: csv_cell(value) for key, value in row.items()} for row in rows]
        click.echo(csv_text(columns, rows), nl=False)
    else:
        from rich.table import Table

        from .render import console, safe

        table = Table(title=title)
        for col in columns:
            table.add_column(col, justify="right" if col.startswith("amount") else "left")
        for row in rows:
            table.add_row(*(safe(row.get(c)) for c in columns))  # values from documents and file names
        console().print(table)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
