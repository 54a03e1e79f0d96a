"""How commands print rows: a rich table on the terminal, CSV or JSON for scripts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click


def emit_rows(fmt: str, columns: list[str], rows: list[dict[str, Any]], title: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
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
