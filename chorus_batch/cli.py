"""The ``chorus-batch`` command: parse options, call the library, render the result.

No business logic lives here. Every ``ChorusError`` becomes a one-line message and an exit code
(SPEC §6: 0 good, 1 a file was rejected / a thing was not found, 2 usage or configuration);
any other exception is logged with its traceback to ``var/log/chorus-batch.log`` and shown as
one line — a user never sees a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import logging.handlers
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import Connection

from . import config, formats, reports, views
from . import answers
from .domain import rules
from .domain.habilitations import readable_structures
from .domain.model import LineChange
from .errors import ChorusError, ConfigError, DocumentRejected, Issue, NotFound, WorkspaceError, WorkspaceLocked
from .ingest import FileResult, Processor
from . import store as db
from .workspace import Workspace

log = logging.getLogger("chorus_batch")


@dataclass
class Context:
    workspace: Path
    config_path: Path | None
    db: str | None
    verbosity: int
    partner: str | None = None

    @property
    def ws(self) -> Workspace:
        return Workspace(self.workspace)

    def settings(self) -> config.Settings:
        if self.config_path is not None and not self.config_path.exists():
            raise ConfigError(f"configuration file {self.config_path} does not exist")
        return config.load(self.config_path or self.ws.config_path)

    def store(self) -> db.Store:
        if self.db:
            return db.Store(self.db)
        self.ws.var.mkdir(parents=True, exist_ok=True)
        return db.Store(self.ws.store_url)

    @property
    def exclusive(self) -> bool:
        """SQLite: one run or watch at a time holds the workspace (the lock); PostgreSQL: shared."""
        return not self.db or self.db.startswith("sqlite")

    @contextmanager
    def holding(self) -> Iterator[None]:
        """The workspace lock for run / watch on SQLite (exit 3 when held). On PostgreSQL several
        workers share a workspace: the database arbitrates, no folder lock is taken."""
        if not self.exclusive:
            yield
            return
        with self.ws.locked(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")):
            yield

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read connection on the store, closed with the store afterwards."""
        store = self.store()
        try:
            with store.read() as conn:
                yield conn
        finally:
            store.close()


class _ConsoleFormatter(logging.Formatter):
    """One line per record; tracebacks go to the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(ctx: Context, log_file: Path | None, buffered: bool = False) -> None:
    """Console (by verbosity) and ``var/log/chorus-batch.log`` (INFO and above). ``buffered``
    (``run``): the file gets its lines 1,000 at a time, and at once from a warning on; a line a
    file (its outcome, also in its report) is not worth a write of its own."""
    logging.logThreads = logging.logMultiprocessing = False  # not in the formats: a record a file is made cheaper
    logger = logging.getLogger("chorus_batch")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_ConsoleFormatter())
    console.setLevel({-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(ctx.verbosity, logging.DEBUG))
    logger.addHandler(console)
    crash = logging.getLogger("chorus_batch.crash")  # tracebacks of internal errors: the log file only
    crash.handlers, crash.propagate = [logging.NullHandler()], False
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError:
            return
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
        if buffered:
            memory = logging.handlers.MemoryHandler(1000, flushLevel=logging.WARNING, target=handler)
            memory.setLevel(logging.INFO)
            logger.addHandler(memory)
        else:
            logger.addHandler(handler)
        crash.handlers = [handler]


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _exit_code(exc: ChorusError) -> int:
    if isinstance(exc, WorkspaceLocked):
        return 3
    return 2 if isinstance(exc, (ConfigError, WorkspaceError)) else 1


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into messages and exit codes; never let a traceback through."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChorusError as exc:
            _fail(f"{exc.message} [{exc.code}]", _exit_code(exc))
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 2)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: keep the traceback for the log, show one line
            log.debug("internal error", exc_info=True)
            logging.getLogger("chorus_batch.crash").error("internal error", exc_info=True)
            _fail(f"internal error ({type(exc).__name__}); details in var/log/chorus-batch.log", 1)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CHORUS_BATCH_WORKSPACE",
    default=".",
    show_default=True,
    help="Workspace folder (env CHORUS_BATCH_WORKSPACE).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Configuration file (default WORKSPACE/chorus-batch.toml).")
@click.option("--db", envvar="CHORUS_BATCH_DB", help="Store URL (env CHORUS_BATCH_DB; default the workspace's var/store.sqlite).")
@click.option("-v", "--verbose", count=True, help="More output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="chorus-batch")
@click.pass_context
def cli(click_ctx: click.Context, workspace: Path, config_path: Path | None, db: str | None, verbose: int, quiet: bool) -> None:
    """Batch EDI processor for Chorus Pro orders ("engagements"): intake of order files,
    integration reports, and a searchable store.

    Example:

        chorus-batch --workspace /srv/edi run
    """
    ctx = Context(workspace.resolve(), config_path, db, -1 if quiet else verbose)
    click_ctx.obj = ctx
    log_file = ctx.ws.var / "log" / "chorus-batch.log" if ctx.ws.var.is_dir() else None
    _setup_logging(ctx, log_file)


_RUN_ENDED: list[int] = []  # set by ``run`` as it exits: the console script may end at once


def main() -> None:
    """The console script. Once ``run`` has ended, the process exits without tearing down its
    objects (0.1 s and more after a big run), its output and log written."""
    try:
        cli(prog_name="chorus-batch")
    except SystemExit:
        if _RUN_ENDED:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(_RUN_ENDED[0])
        raise


# -- init / run ----------------------------------------------------------------------------------


@cli.command()
@click.pass_obj
@guarded
def init(ctx: Context) -> None:
    """Create the workspace folders, a commented configuration and the store (idempotent).

    Example:

        chorus-batch --workspace /srv/edi init
    """
    created = ctx.ws.init()
    ctx.settings()
    ctx.store().close()
    for path in created:
        click.echo(f"created {path}")
    click.echo(f"workspace ready: {ctx.ws.root}")


def _progress_enabled(ctx: Context) -> bool:
    return ctx.verbosity >= 0 and sys.stderr.isatty()


def run_workspace(ctx: Context, show_progress: bool) -> tuple[Any, int]:
    """Process the inbox once; return the summary and the exit code."""
    ws = ctx.ws
    settings = ctx.settings()
    ws.ensure()
    _setup_logging(ctx, ws.var / "log" / "chorus-batch.log", buffered=True)
    store = ctx.store()
    try:
        with ctx.holding():
            processor = Processor(ws, store, settings)
            processor.recover(exclusive=ctx.exclusive)
            summary = _process_inbox(processor, show_progress)
    finally:
        store.close()
        for handler in logging.getLogger("chorus_batch").handlers:
            handler.flush()  # the buffered log lines are in the file when run returns
    return summary, summary.exit_code


def _process_inbox(processor: Processor, show_progress: bool) -> Any:
    if not show_progress:
        return processor.run()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = sum(1 for _ in processor.ws.pending())
    # refreshed from the run's own thread: rich's refresh thread would be running when the run
    # starts its peer processes
    columns = (TextColumn("[bold]processing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, auto_refresh=False) as bar:
        task = bar.add_task("files", total=total)
        last = [0.0]

        def advance(_result: FileResult) -> None:
            bar.advance(task)
            if time.monotonic() - last[0] > 0.1:
                bar.refresh()
                last[0] = time.monotonic()

        return processor.run(on_file=advance)


def _print_summary(summary: Any) -> None:
    counts = summary.counts
    if not summary.total:
        click.echo("nothing to process")
        return
    parts = ", ".join(f"{counts[k]} {k}" for k in ("IN_INTEGRE", "IN_INTEGRE_PARTIEL", "DUPLICATE", "PARKED", "IN_REJETE") if counts[k])
    click.echo(f"{summary.total} file(s): {parts}")
    for result in summary.notable:
        if result.status == "IN_REJETE":
            codes = ", ".join(sorted({e.code for e in result.errors}))
            click.echo(f"  rejected {result.name}: {codes}")


@cli.command()
@click.pass_obj
@guarded
def run(ctx: Context) -> None:
    """Process every pending file in inbox/ once, then print a summary.

    Exit code 0 when every file was integrated (or was a duplicate), 1 when at least one file
    was rejected, 2 on a configuration error.

    Example:

        chorus-batch --workspace /srv/edi run
    """
    summary, code = run_workspace(ctx, _progress_enabled(ctx))
    if ctx.verbosity >= 0:
        _print_summary(summary)
    _RUN_ENDED.append(code)
    sys.exit(code)


@cli.command()
@click.option("--polling/--no-polling", default=None, help="Poll the inbox instead of inotify (default: automatic, polling on network shares).")
@click.pass_obj
@guarded
def watch(ctx: Context, polling: bool | None) -> None:
    """Stay up: process files as they arrive, rescan at start-up and every `rescan_seconds`,
    stop cleanly on SIGINT / SIGTERM (the current file is finished, exit 0).

    Example:

        chorus-batch --workspace /srv/edi watch -v
    """
    from .watch import Watcher

    ws = ctx.ws
    settings = ctx.settings()
    ws.ensure()
    _setup_logging(ctx, ws.var / "log" / "chorus-batch.log")
    store = ctx.store()
    watcher = Watcher(
        Processor(ws, store, settings), settings.stable_seconds, settings.rescan_seconds, polling=polling, exclusive=ctx.exclusive
    )

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping after the current file", signum)
        watcher.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        with ctx.holding():
            count = watcher.run()
    finally:
        store.close()
    if ctx.verbosity >= 0:
        click.echo(f"stopped; {count} file(s) processed")


# -- validate ------------------------------------------------------------------------------------


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--rules", "with_rules", is_flag=True, help="Also run the official business rules (EN 16931, BR-FR, Order-X Schematron).")
@click.option("--strict", is_flag=True, help="Run the rules and count fatal findings as errors (as strict_rules = true).")
@guarded
def validate(files: tuple[Path, ...], fmt: str, with_rules: bool, strict: bool) -> None:
    """Validate documents without storing them and without a workspace: content detection,
    XSD, business rules. Every error is printed with its code, line and XPath.

    Exit code 0 when every file is valid, 1 otherwise.

    Example:

        chorus-batch validate --rules inbox/*.xml
    """
    results = [_validate_one(path, with_rules or strict, strict) for path in files]
    if fmt == "json":
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for res in results:
            head = f"{res['file']}: {'valid' if res['valid'] else 'INVALID'}"
            if res.get("kind"):
                head += f" ({res['syntax']} {res['kind']}{', ' + res['number'] if res.get('number') else ''})"
            click.echo(head)
            for label, found in (("", res["errors"]), ("warning ", res["warnings"])):
                for err in found:
                    where = ", ".join(p for p in (f"line {err['line']}" if err["line"] else "", err["xpath"] or "") if p)
                    click.echo(f"  {label}{err['code']}: {err['message']}" + (f" [{where}]" if where else ""))
    sys.exit(0 if all(r["valid"] for r in results) else 1)


def _validate_one(path: Path, with_rules: bool, strict: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"file": str(path), "valid": False, "kind": None, "syntax": None, "number": None, "errors": [], "warnings": []}
    try:
        data = path.read_bytes()
    except OSError as exc:
        out["errors"] = [Issue("FILE_UNREADABLE", f"cannot read: {exc.strerror}").as_dict()]
        return out
    issues: list[Issue] = []
    try:
        rec = formats.recognise(data)
        out.update(kind=rec.kind, syntax=rec.syntax, number=rec.number)
        issues = formats.schema_issues(rec)
        if not issues:
            if with_rules:
                issues += formats.locate(rec, formats.rule_issues(rec, strict))
            for doc in formats.documents(rec):
                issues += doc.issues if isinstance(doc, DocumentRejected) else formats.locate(rec, rules.check(doc, date.today()))
    except DocumentRejected as exc:
        issues = exc.issues
    out["errors"] = [i.as_dict() for i in issues if i.severity == "error"]
    out["warnings"] = [i.as_dict() for i in issues if i.severity != "error"]
    out["valid"] = not out["errors"]
    return out


# -- orders --------------------------------------------------------------------------------------


@cli.group()
@click.option("--as", "as_partner", metavar="PARTNER", help="Act as this partner: see only its structures, answer with its rights.")
@click.pass_obj
@guarded
def orders(ctx: Context, as_partner: str | None) -> None:
    """Search, consult, download and answer engagements."""
    if as_partner is not None:
        settings = ctx.settings()
        if as_partner not in settings.partners:
            declared = ", ".join(sorted(settings.partners)) or "none"
            _fail(f"unknown partner {as_partner!r} (declared in the configuration: {declared}) [CONFIG_INVALID]", 2)
    ctx.partner = as_partner


def _readable(ctx: Context) -> frozenset[str] | None:
    return readable_structures(ctx.settings().partner(ctx.partner)) if ctx.partner else None


def _visible(ctx: Context, row: Any) -> Any:
    allowed = _readable(ctx)
    if allowed is not None and row.supplier_id not in allowed:
        raise NotFound(f"no engagement {row.number!r} visible to partner {ctx.partner!r}")
    return row


def _emit_rows(fmt: str, columns: list[str], rows: list[dict[str, Any]], title: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for col in columns:
            table.add_column(col, justify="right" if col.startswith("amount") else "left")
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        Console().print(table)


SEARCH_COLUMNS = ["number", "issuer_id", "issuer_name", "supplier_id", "supplier_name", "status", "amount_ht", "amount_ttc", "currency", "created_at"]


@orders.command("search")
@click.option("--status", type=click.Choice(["A_TRAITER", "PRIS_EN_COMPTE", "REFUSE", "A_RECYCLER", "CLOTURE"]))
@click.option("--created-from", type=click.DateTime(["%Y-%m-%d"]), help="Created on or after (YYYY-MM-DD).")
@click.option("--created-to", type=click.DateTime(["%Y-%m-%d"]), help="Created on or before (YYYY-MM-DD).")
@click.option("--number", help="Engagement number (* as wildcard).")
@click.option("--issuer", help="Issuer SIRET / id, or part of its name.")
@click.option("--supplier", help="Supplier SIRET / id, or part of its name.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def orders_search(ctx: Context, status: str | None, created_from: Any, created_to: Any, number: str | None, issuer: str | None, supplier: str | None, fmt: str) -> None:
    """Search engagements.

    Example:

        chorus-batch orders search --status A_TRAITER --issuer 21750001600019 --format csv
    """
    criteria = db.engagements.Criteria(
        status=status,
        number=number,
        issuer=issuer,
        supplier=supplier,
        created_from=created_from.date().isoformat() if created_from else None,
        created_to=created_to.date().isoformat() if created_to else None,
    )
    allowed = _readable(ctx)
    with ctx.reading() as conn:
        rows = [views.engagement_summary(r) for r in db.engagements.search(conn, criteria) if allowed is None or r.supplier_id in allowed]
    columns = SEARCH_COLUMNS if fmt != "table" else ["number", "issuer_name", "supplier_name", "status", "amount_ht", "amount_ttc", "currency"]
    _emit_rows(fmt, columns, rows, f"{len(rows)} engagement(s)")


@orders.command("show")
@click.argument("number")
@click.option("--issuer", help="Issuer id, when several issuers used the number.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def orders_show(ctx: Context, number: str, issuer: str | None, fmt: str) -> None:
    """Everything about one engagement (the portal's "Consulter").

    Example:

        chorus-batch orders show EJ2026-000123 --format json
    """
    with ctx.reading() as conn:
        detail = views.engagement_detail(conn, _visible(ctx, db.engagements.resolve(conn, number, issuer)), ctx.settings().tolerance)
    if fmt == "json":
        click.echo(json.dumps(detail, indent=2, ensure_ascii=False))
    else:
        from .render import engagement_panel

        engagement_panel(detail)


@orders.command("export")
@click.argument("number")
@click.option("--issuer", help="Issuer id, when several issuers used the number.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write into.")
@click.pass_obj
@guarded
def orders_export(ctx: Context, number: str, issuer: str | None, out_dir: Path) -> None:
    """Download the original document of every version and the embedded attachments
    (the portal's "Télécharger").

    Example:

        chorus-batch orders export EJ2026-000123 -o /tmp/ej123
    """
    with ctx.reading() as conn:
        files = views.export_files(conn, _visible(ctx, db.engagements.resolve(conn, number, issuer)))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        target = out_dir / name
        target.write_bytes(data)
        click.echo(str(target))


def _answer(ctx: Context, code: str, number: str, issuer: str | None, reason: str | None, yes: bool, lines: tuple[LineChange, ...] = ()) -> None:
    settings = ctx.settings()
    ctx.ws.ensure()
    store = ctx.store()
    try:
        with store.read() as conn:
            row = _visible(ctx, db.engagements.resolve(conn, number, issuer))
        response = answers.build(code, row.number, row.issuer_id, reason, lines)
        plan = answers.preview(store, ctx.ws, settings, response, ctx.partner)
        if plan.outcome.outcome == "REJETE":
            first = plan.outcome.errors[0]
            _fail(f"{first.message} [{first.code}]", 1)
        click.echo(f"engagement {row.number} ({row.issuer_id}): {plan.before} -> {plan.after}")
        for warning in plan.outcome.errors:
            click.echo(f"  {warning.code}: {warning.message}")
        for name in plan.responses:
            click.echo(f"  order response {name} will be written to {ctx.ws.responses}")
        if not yes and sys.stdin.isatty() and sys.stdout.isatty():
            click.confirm("Confirm?", abort=True)
        done = answers.apply(store, ctx.ws, settings, response, ctx.partner)
    finally:
        store.close()
    if done.outcome.outcome == "REJETE":
        first = done.outcome.errors[0]
        _fail(f"{first.message} [{first.code}]", 1)
    click.echo(f"done: {done.before} -> {done.after}" + (f"; wrote {', '.join(done.responses)}" if done.responses else ""))


_ANSWER_OPTIONS = [
    click.argument("number"),
    click.option("--issuer", help="Issuer id, when several issuers used the number."),
    click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (scripts)."),
]


def _answer_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_ANSWER_OPTIONS):
        fn = option(fn)
    return fn


@orders.command("accept")
@_answer_options
@click.pass_obj
@guarded
def orders_accept(ctx: Context, number: str, issuer: str | None, yes: bool) -> None:
    """Accept (prendre en compte) an engagement: A_TRAITER -> PRIS_EN_COMPTE, and an order
    response AP is written to outbox/responses/. Accepting an accepted order changes nothing.

    Example:

        chorus-batch orders accept EJ2026-000101 --yes
    """
    _answer(ctx, "AP", number, issuer, None, yes)


@orders.command("refuse")
@_answer_options
@click.option("--reason", help="Why the order is refused (mandatory).")
@click.pass_obj
@guarded
def orders_refuse(ctx: Context, number: str, issuer: str | None, yes: bool, reason: str | None) -> None:
    """Refuse an engagement with a reason: A_TRAITER -> REFUSE, order response RE.
    Without --reason nothing changes (REASON_REQUIRED).

    Example:

        chorus-batch orders refuse EJ2026-000101 --reason "Article discontinued" --yes
    """
    _answer(ctx, "RE", number, issuer, reason, yes)


def _line_change(value: str) -> LineChange:
    line_id, _, rest = value.partition("=")
    qty, _, price = rest.partition("@")
    try:
        return LineChange(line_id.strip(), "3", quantity=Decimal(qty) if qty else None, unit_price=Decimal(price) if price else None)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r}: expected LINE=QUANTITY[@UNIT_PRICE], e.g. 2=5@12.50") from None


@orders.command("modify")
@_answer_options
@click.option("--line", "changed", multiple=True, metavar="LINE=QTY[@PRICE]", help="Change a line's quantity (and unit price). Repeatable.")
@click.option("--drop", multiple=True, metavar="LINE", help="Remove a line (not accepted). Repeatable.")
@click.option("--reason", help="A note for the issuer.")
@click.pass_obj
@guarded
def orders_modify(ctx: Context, number: str, issuer: str | None, yes: bool, changed: tuple[str, ...], drop: tuple[str, ...], reason: str | None) -> None:
    """Accept an engagement with changes (order response CA): a new version with the changed
    lines; amounts are recomputed exactly. Works in A_TRAITER and PRIS_EN_COMPTE.

    Example:

        chorus-batch orders modify EJ2026-000101 --line 2=5@12.50 --drop 3 --yes
    """
    lines = tuple(_line_change(v) for v in changed) + tuple(LineChange(d.strip(), "7") for d in drop)
    if not lines:
        raise click.UsageError("give at least one --line or --drop")
    _answer(ctx, "CA", number, issuer, reason, yes, lines)


# -- files ---------------------------------------------------------------------------------------


@cli.group()
def files() -> None:
    """What happened to each input file."""


def _received(ctx: Context, name: str) -> list[Any]:
    """Every processing of the file ``name``, oldest first."""
    with ctx.reading() as conn:
        rows = db.files.by_name(conn, name)
    if not rows:
        raise NotFound(f"no received file named {name!r}", code="FILE_NOT_FOUND")
    return rows


@files.command("list")
@click.option("--status", type=click.Choice(["IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE", "DUPLICATE", "PARKED"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def files_list(ctx: Context, status: str | None, fmt: str) -> None:
    """List received files with their outcome.

    Example:

        chorus-batch files list --status IN_REJETE
    """
    with ctx.reading() as conn:
        rows = db.files.listed(conn, status)
    if fmt == "json":
        click.echo(json.dumps([views.file_summary(r) for r in rows], indent=2, ensure_ascii=False))
        return
    table_rows = [
        {**views.file_detail(r), "kinds": ",".join(views.file_summary(r)["kinds"]),
         "errors": ",".join(sorted({e["code"] for e in json.loads(r.errors)}))}
        for r in rows
    ]
    _emit_rows("table", ["file", "status", "kinds", "errors", "processed_at"], table_rows, f"{len(rows)} file(s)")


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
    rows = _received(ctx, name)
    details = [views.file_detail(r) for r in rows]
    if fmt == "json":
        click.echo(json.dumps(details, indent=2, ensure_ascii=False))
        return
    for d in details:
        click.echo(f"{d['file']}  {d['status']}  {','.join(d['kinds'])}")
        for key in ("partner", "sha256", "size", "received_at", "processed_at", "stored_as", "ack"):
            if d[key] is not None:
                click.echo(f"  {key}: {d[key]}")
        for err in d["errors"]:
            where = f" [line {err['line']}]" if err.get("line") else ""
            click.echo(f"  {err['code']}: {err['message']}{where}" + (f" at {err['xpath']}" if err.get("xpath") else ""))


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
    ctx.ws.ensure()
    rejected = [r for r in _received(ctx, name) if r.status == "IN_REJETE"]
    if not rejected:
        raise NotFound(f"{name!r} was never rejected; only rejected files can be retried", code="FILE_NOT_FOUND")
    target = ctx.ws.retry(rejected[-1].stored_as, name, rejected[-1].partner)
    click.echo(f"re-queued {target}")


# -- reports -------------------------------------------------------------------------------------


@cli.group()
def report() -> None:
    """Reports for accountants, written to outbox/reports/ (or -o DIR): status, reconciliation
    and invoices. CSV by default (UTF-8, comma, one file per report; --excel-fr for French
    Excel); --format xlsx writes ONE workbook reports.xlsx and --format html ONE page
    reports.html, each always holding all three reports."""


_REPORT_OPTIONS = [
    click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder (default outbox/reports)."),
    click.option("--excel-fr", is_flag=True, help="CSV for French Excel: ';' separator, decimal comma, UTF-8 with BOM (CSV only)."),
    click.option(
        "--format",
        "fmt",
        type=click.Choice(reports.FORMATS),
        default="csv",
        show_default=True,
        help="csv: one file per report; xlsx / html: one workbook (reports.xlsx) / one page (reports.html) with ALL three reports.",
    ),
]


def _report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_REPORT_OPTIONS):
        fn = option(fn)
    return fn


def _report(ctx: Context, names: tuple[str, ...], out_dir: Path | None, fmt: str, excel_fr: bool) -> None:
    if excel_fr and fmt != "csv":
        click.echo(f"note: --excel-fr applies to CSV only; the {fmt} file is the same either way", err=True)
    for path in _write_reports(ctx, names, out_dir, fmt, excel_fr):
        click.echo(str(path))


@report.command("status")
@_report_options
@click.pass_obj
@guarded
def report_status(ctx: Context, out_dir: Path | None, excel_fr: bool, fmt: str) -> None:
    """One row per engagement with its status, days in that status and amounts (status.csv).

    Example:

        chorus-batch report status -o /tmp/reports
    """
    _report(ctx, ("status",), out_dir, fmt, excel_fr)


@report.command("reconciliation")
@_report_options
@click.pass_obj
@guarded
def report_reconciliation(ctx: Context, out_dir: Path | None, excel_fr: bool, fmt: str) -> None:
    """One row per engagement: ordered, invoiced net of credit notes, paid, remaining, match
    status within the configured tolerance, anomalies (reconciliation.csv).

    Example:

        chorus-batch report reconciliation --excel-fr
    """
    _report(ctx, ("reconciliation",), out_dir, fmt, excel_fr)


@report.command("invoices")
@_report_options
@click.pass_obj
@guarded
def report_invoices(ctx: Context, out_dir: Path | None, excel_fr: bool, fmt: str) -> None:
    """One row per invoice or credit note received, with its engagement and anomalies
    (invoices.csv).

    Example:

        chorus-batch report invoices -o /tmp/reports
    """
    _report(ctx, ("invoices",), out_dir, fmt, excel_fr)


@report.command("all")
@_report_options
@click.pass_obj
@guarded
def report_all(ctx: Context, out_dir: Path | None, excel_fr: bool, fmt: str) -> None:
    """All three reports: status.csv, reconciliation.csv, invoices.csv (or the one workbook /
    page with --format xlsx / html).

    Example:

        chorus-batch report all --format html
    """
    _report(ctx, reports.REPORTS, out_dir, fmt, excel_fr)


def _write_reports(ctx: Context, names: tuple[str, ...], out_dir: Path | None, fmt: str = "csv", excel_fr: bool = False) -> list[Path]:
    settings = ctx.settings()
    with ctx.reading() as conn:
        return reports.write_reports(conn, settings, out_dir or ctx.ws.reports, date.today(), names, fmt, excel_fr)


# -- demo ----------------------------------------------------------------------------------------


@cli.command()
@click.pass_obj
@guarded
def demo(ctx: Context) -> None:
    """Build a demo workspace from the bundled French examples and run the whole chain:
    orders, then supplier answers, an order change and a cancellation, then invoices, credit
    notes (UBL and Factur-X PDF) and invoice statuses (CPPStatut, CSV); integration reports,
    order responses, the store and every report (CSV, reports.html, reports.xlsx).

    Example:

        chorus-batch --workspace /tmp/demo demo
    """
    from .demo import generate, invoices

    ws = ctx.ws
    ws.init()
    _setup_logging(ctx, ws.var / "log" / "chorus-batch.log")
    unexpected = []
    waves = (
        ("orders", generate.demo_files()),
        ("answers, changes and cancellations", generate.demo_answers()),
        ("invoices, credit notes and invoice statuses", invoices.demo_invoices()),
    )
    for wave, files in waves:
        for name, data in files:
            target = ws.inbox / name
            if not target.exists():
                target.write_bytes(data)
        click.echo(f"dropped {len(files)} example file(s) ({wave}) in {ws.inbox}")
        summary, _code = run_workspace(ctx, _progress_enabled(ctx))
        _print_summary(summary)
        for result in summary.notable:  # invoice anomalies are warnings on integrated files
            if result.status != "IN_REJETE" and result.warnings:
                click.echo(f"  warning {result.name}: {', '.join(sorted({w.code for w in result.warnings}))}")
        unexpected += [r.name for r in summary.notable if not _expected(r)]
        rejected = {r.name for r in summary.notable if r.status == "IN_REJETE"}
        unexpected += sorted(name for name, _data in files if name.startswith("bad-") and name not in rejected)
    written = _write_reports(ctx, reports.REPORTS, None)
    written += _write_reports(ctx, reports.REPORTS, None, "html")
    written += _write_reports(ctx, reports.REPORTS, None, "xlsx")
    click.echo(f"integration reports: {ws.acks}")
    click.echo(f"order responses:     {ws.responses}")
    click.echo(f"reports:             {', '.join(str(p) for p in written)}")
    click.echo("next: chorus-batch --workspace " + str(ws.root) + " orders search")
    if unexpected:
        _fail("unexpected outcome for " + ", ".join(unexpected), 1)


def _expected(result: FileResult) -> bool:
    """Demo files named ``bad-*`` are meant to be rejected; every other one to be integrated
    (``run`` keeps the files to look at: a ``bad-*`` file missing from them is checked apart)."""
    if result.name.startswith("bad-"):
        return result.status == "IN_REJETE" and all(e.code != "INTERNAL_ERROR" for e in result.errors)
    return result.status in ("IN_INTEGRE", "DUPLICATE")


if __name__ == "__main__":  # pragma: no cover
    main()
