"""``store``: the store itself, checked (``store check``) and backed up (``store backup``)."""

from __future__ import annotations

from pathlib import Path

import click

from .root import Context, cli, guarded


@cli.group()
def store() -> None:
    """The store: check it, back it up (docs/operations.md, "The store")."""


@store.command("check")
@click.pass_obj
@guarded
def store_check(ctx: Context) -> None:
    """Check the store: its integrity (SQLite PRAGMA quick_check), its server and migration
    level (PostgreSQL), and that it is this workspace's. Nothing is written.

    Exit code 0 when all is well, 2 when the store is missing, damaged, unreachable, empty or
    another workspace's (the message says what to do).

    Example:

        chorus-batch --workspace /srv/edi store check
    """
    found = ctx.session.check_store()
    width = max(len(label) for label, _value in found.rows)
    for label, value in found.rows:
        click.echo(f"{label + ':':<{width + 2}}{value}")
    for warning in found.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo("store check: ok")


@store.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_obj
@guarded
def store_backup(ctx: Context, file: Path, force: bool) -> None:
    """Copy the SQLite store into FILE with SQLite's online backup: a consistent copy, safe
    while watch or run works (from cron, for instance). The copy is written under a temporary
    name, checked, then renamed. An existing FILE is kept unless --force. On PostgreSQL, exit 2
    with the pg_dump command to use instead.

    Example:

        chorus-batch --workspace /srv/edi store backup /backup/edi/store-$(date +%F).sqlite
    """
    written = ctx.session.backup_store(file, force)
    click.echo(f"store backed up to {written}")
