"""``files``: what happened to each input file, and putting a rejected one back."""

from __future__ import annotations

import click

from chorus_batch import FileStatus, Waiting

from .output import emit_json, emit_rows
from .render import safe
from .root import Context, cli, guarded

_SUMMARY = ("file", "status", "kinds", "errors", "waiting")  # what ``files list --format json`` gives of each file
# the columns of ``files waiting`` (the keys of its JSON objects)
WAITING_COLUMNS = ("file", "document", "kind", "waits_for", "number", "issuer", "issuer_name", "parked_at", "until")


@cli.group()
def files() -> None:
    """What happened to each input file."""


@files.command("list")
@click.option("--status", type=click.Choice([s.value for s in FileStatus]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def files_list(ctx: Context, status: str | None, fmt: str) -> None:
    """List received files with their outcome.

    Example:

        chorus-batch files list --status IN_REJETE
    """
    found = ctx.session.list_files(status)
    if fmt == "json":
        emit_json([{key: d[key] for key in _SUMMARY} for d in found])
        return
    rows = [
        {
            **d,
            "kinds": ",".join(d["kinds"]),
            "errors": ",".join(sorted({e["code"] for e in d["errors"]})),
            "waiting": d["waiting"] or "",
        }
        for d in found
    ]
    columns = ["file", "status", "kinds", "errors", "waiting", "processed_at"]
    emit_rows("table", columns, rows, f"{len(rows)} file(s)")


@files.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
@guarded
def files_show(ctx: Context, name: str, fmt: str) -> None:
    """Every processing of the file NAME, with its errors.

    Example:

        chorus-batch files show commande-0042.xml
    """
    details = ctx.session.file_history(name)
    if fmt == "json":
        emit_json(details)
        return
    for d in details:
        click.echo(safe(f"{d['file']}  {d['status']}  {','.join(d['kinds'])}", markup=False))
        for key in ("partner", "sha256", "size", "received_at", "processed_at", "stored_as", "ack"):
            if d[key] is not None:
                click.echo(f"  {key}: {safe(d[key], markup=False)}")
        for err in d["errors"]:
            where = f" [line {err['line']}]" if err.get("line") else ""
            line = f"  {err['code']}: {err['message']}{where}" + (f" at {err['xpath']}" if err.get("xpath") else "")
            click.echo(safe(line, markup=False))
        for doc in d["waiting_documents"]:
            waits = Waiting(doc["waits_for"], doc["number"], doc["issuer"], doc["issuer_name"], doc["until"])
            click.echo(safe(f"  waiting: document {doc['document']} ({doc['kind']}) {waits.sentence()}", markup=False))


@files.command("waiting")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def files_waiting(ctx: Context, fmt: str) -> None:
    """List every parked document still waiting: its file, what it waits for (the order, or
    the invoice, by number, and the issuer the document names) and until when (parked_at +
    park_days; a run from then rejects it with PARK_EXPIRED).

    Example:

        chorus-batch files waiting --format csv
    """
    found = ctx.session.waiting_documents()
    if fmt == "json":
        emit_json(found)
        return
    emit_rows(fmt, list(WAITING_COLUMNS), found, f"{len(found)} document(s) waiting")


@files.command("retry")
@click.argument("name")
@click.pass_obj
@guarded
def files_retry(ctx: Context, name: str) -> None:
    """Put the rejected file NAME back into the inbox (e.g. after the configuration was fixed);
    the next run processes it again. Its earlier reports are kept.

    Example:

        chorus-batch files retry reponse-acme-0042.xml && chorus-batch run
    """
    click.echo(f"re-queued {safe(ctx.session.retry_file(name), markup=False)}")
