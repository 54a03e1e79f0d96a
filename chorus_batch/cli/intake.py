"""``init``, ``run``, ``watch`` and ``validate``: the workspace and its inbox."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from chorus_batch import FileResult, FileStatus, RunSummary, Session

from . import signals
from .render import safe
from .root import Context, cli, flush_logs, guarded, setup_logging

_COUNTED = (
    FileStatus.IN_INTEGRE,
    FileStatus.IN_INTEGRE_PARTIEL,
    FileStatus.DUPLICATE,
    FileStatus.PARKED,
    FileStatus.IN_REJETE,
)


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--new-store",
    is_flag=True,
    help="Start again with a new, empty store on purpose: the old SQLite store is renamed aside "
    "(var/store.sqlite.<time>.old); on PostgreSQL, give a new database with --db.",
)
@click.option(
    "--force", is_flag=True, help="Set the workspace up in a folder that already holds other files (never / or ~)."
)
@click.pass_obj
@guarded
def init(ctx: Context, path: Path | None, new_store: bool, force: bool) -> None:
    """Create the workspace folders, a commented configuration and the store (idempotent) in
    PATH (default: --workspace). Refuses / and the home folder, and a folder that holds other
    files and is not a workspace unless --force. With --new-store, start again with a new,
    empty store and a new workspace id.

    Example:

        chorus-batch init /srv/edi
    """
    if path is not None:
        old = ctx.session
        ctx.session = Session(path.resolve(), old.config_path, old.db_url)
    session = ctx.session
    if new_store:
        created, fresh = session.new_store(force)
        for path in created:
            click.echo(f"created {path}")
        for path in fresh.kept:
            click.echo(f"kept the old store aside as {path}")
        click.echo(f"new store {fresh.where} (workspace id {fresh.id})")
    for made in session.init(force):
        click.echo(f"created {made}")
    click.echo(f"workspace ready: {session.ws.root}")


@contextmanager
def stop_request() -> Iterator[threading.Event]:
    """The stop request of ``run`` and ``watch``: set by SIGINT or SIGTERM. The command line
    caught them at its start; a command invoked otherwise (a test's runner) catches them for
    its own time only, in the main thread (elsewhere, no signal reaches it: a request never set)."""
    installed = signals.catch()
    try:
        yield signals.stop if signals.caught() else threading.Event()
    finally:
        if installed:
            signals.release()


def run_inbox(ctx: Context, stop: threading.Event | None = None) -> RunSummary:
    """Process the inbox once (with a progress bar on a terminal), the log buffered."""
    session = ctx.session
    session.ensure()
    setup_logging(ctx.verbosity, session.log_file, buffered=True)
    try:
        if not ctx.progress:
            return session.run(stop=stop)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("[bold]processing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("files", total=None)

            def advance(_result: FileResult) -> None:
                bar.advance(task)

            return session.run(advance, lambda total: bar.update(task, total=total), stop)
    finally:
        flush_logs()


def print_notices(result: FileResult, verbosity: int, indent: str = "  ") -> None:
    """One line per rejected file or document, invoice anomaly and parked document of
    ``result`` (nothing with -q); -v adds each one's messages below it, and the file's other
    warnings."""
    if verbosity < 0:
        return
    said: set[str] = set()
    for notice in result.notices():
        click.echo(indent + safe(notice.line(), markup=False))
        said.update(notice.codes)
        if verbosity > 0:
            for detail in notice.details:
                click.echo(f"{indent}    {safe(detail, markup=False)}")
    if verbosity > 0:  # the file's other warnings (its report has them all)
        for warning in result.warnings:
            if warning.code not in said:
                click.echo(safe(f"{indent}warning {result.name}: {warning.code}: {warning.message}", markup=False))


def print_summary(summary: RunSummary, verbosity: int = 0) -> None:
    counts = summary.counts
    if summary.total:
        parts = ", ".join(f"{counts[k]} {k}" for k in _COUNTED if counts[k])
        click.echo(f"{summary.total} file(s): {parts}")
    elif summary.interrupted is None:
        click.echo("nothing to process")
    for result in summary.notable:
        print_notices(result, verbosity)
    if summary.interrupted:
        name = signal.Signals(summary.interrupted).name
        click.echo(f"interrupted by {name}: {summary.left} file(s) left in the inbox for the next run")


@cli.command()
@click.pass_obj
@guarded
def run(ctx: Context) -> None:
    """Process every pending file in inbox/ once, then print a summary.

    Exit code 0 when every file was integrated (or was a duplicate), 1 when at least one file
    was rejected, 2 on a configuration error or a store that cannot be used (busy beyond
    busy_timeout_seconds, unreachable...: its files go back to inbox/), 3 when another process
    holds the workspace.
    SIGINT (Ctrl-C) or SIGTERM stops the run at the next file boundary: the files of the
    transaction under way are finished, the others stay in inbox/ for the next run, and the
    exit code is 128 + the signal's number (130, 143).

    Example:

        chorus-batch --workspace /srv/edi run
    """
    with stop_request() as stop:
        summary = run_inbox(ctx, stop)
        signum = signals.received() if stop.is_set() else None
    if signum is not None:
        summary.interrupted = signum
    if ctx.verbosity >= 0:
        print_summary(summary, ctx.verbosity)
    sys.exit(summary.exit_code)


@cli.command()
@click.option(
    "--polling/--no-polling",
    default=None,
    help="Poll the inbox instead of inotify (default: automatic, polling on network shares).",
)
@click.pass_obj
@guarded
def watch(ctx: Context, polling: bool | None) -> None:
    """Stay up: process files as they arrive, rescan at start-up and every `rescan_seconds`,
    stop cleanly on SIGINT / SIGTERM (the files being stored are finished, those claimed for
    the next transaction go back to inbox/; exit 0).

    Example:

        chorus-batch --workspace /srv/edi watch -v
    """
    session = ctx.session
    with stop_request() as stop:
        session.ensure()
        setup_logging(ctx.verbosity, session.log_file)
        count = session.watch(stop, polling, lambda result: print_notices(result, ctx.verbosity, ""))
    if ctx.verbosity >= 0:
        click.echo(f"stopped; {count} file(s) processed")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--rules", "with_rules", is_flag=True, hidden=True, help="Accepted for compatibility: the rules always run."
)
@click.option(
    "--strict", is_flag=True, help="Count fatal findings of the official rules as errors (as strict_rules = true)."
)
@click.pass_obj
@guarded
def validate(ctx: Context, files: tuple[Path, ...], fmt: str, with_rules: bool, strict: bool) -> None:
    """Tell what the intake would make of files, without storing or moving anything:
    content detection, bundles member by member, PDF extraction, XSD, business rules and the
    official rules, under the workspace's configuration (--config). Every error is printed
    with its code, line and XPath.

    Exit code 0 when every file would be integrated whole, 1 otherwise.

    Example:

        chorus-batch validate inbox/*.xml
    """
    verdicts = ctx.session.validate(list(files), strict)
    if fmt == "json":
        click.echo(json.dumps([v.as_dict() for v in verdicts], indent=2, ensure_ascii=False))
    else:
        for found in verdicts:
            _print_verdict(found.as_dict())
    sys.exit(0 if all(v.valid for v in verdicts) else 1)


_VERDICTS = {
    FileStatus.IN_INTEGRE: "valid",
    FileStatus.IN_INTEGRE_PARTIEL: "partly valid",
    FileStatus.IN_REJETE: "INVALID",
}


def _print_verdict(found: dict[str, Any]) -> None:
    head = f"{found['file']}: {_VERDICTS[found['status']]}"
    if found["kind"]:
        head += f" ({found['syntax']} {found['kind']}{', ' + found['number'] if found['number'] else ''})"
    click.echo(safe(head, markup=False))
    members = [d for d in found["documents"] if d.get("member")]
    if not members:
        _print_issues(found["errors"], found["warnings"], "  ")
        return
    for doc in members:
        what = f"{doc['syntax'] or '?'} {doc['kind']}{', ' + doc['number'] if doc['number'] else ''}"
        click.echo(safe(f"  {doc['member']}: {'valid' if doc['valid'] else 'INVALID'} ({what})", markup=False))
        _print_issues(doc["errors"], doc["warnings"], "    ")


def _print_issues(errors: list[dict[str, Any]], warnings: list[dict[str, Any]], indent: str) -> None:
    for label, found in (("", errors), ("warning ", warnings)):
        for err in found:
            where = ", ".join(p for p in (f"line {err['line']}" if err["line"] else "", err["xpath"] or "") if p)
            line = f"{indent}{label}{err['code']}: {err['message']}" + (f" [{where}]" if where else "")
            click.echo(safe(line, markup=False))
