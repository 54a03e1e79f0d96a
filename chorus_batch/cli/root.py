"""The ``chorus-batch`` command group: its global options, the ``Session`` they make, logging,
and how errors reach the user.

No business logic lives in ``cli``: every command calls the public API (``chorus_batch``) and
renders what it returns. Every ``ChorusError`` becomes a one-line message and an exit code
(SPEC §6: 0 good, 1 a file was rejected / a thing was not found, 2 usage or configuration, the
workspace or its store cannot be used, 3 the workspace is held); any other exception is logged
with its traceback to ``var/log/chorus-batch.log`` and shown as one line — a user never sees a
traceback. A store that fails (busy beyond ``busy_timeout_seconds``, unreachable, driver
missing, not writable, full, damaged) reaches the command as a ``StoreError`` (a
``WorkspaceError``), its message naming the store, the cause and the fix.

SIGINT and SIGTERM are caught from the start (``signals``): ``run`` and ``watch`` hear them as a
stop request; every other command has Python's own handling back, so that a Ctrl-C ends it as
click does ("Aborted!", exit 1), and one that came during start-up ends it at once, 128 + the
signal's number.
"""

from __future__ import annotations

import functools
import logging
import logging.handlers
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from chorus_batch import ChorusError, ConfigError, Session, WorkspaceError, WorkspaceLocked

from . import signals

log = logging.getLogger("chorus_batch")

STOPPABLE = ("run", "watch")  # the commands that hear SIGINT / SIGTERM as a stop request

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Context:
    """What the global options say: the workspace session and how much to print."""

    session: Session
    verbosity: int

    @property
    def progress(self) -> bool:
        """A progress bar on a terminal (never with ``-q``)."""
        return self.verbosity >= 0 and sys.stderr.isatty()


class _ConsoleFormatter(logging.Formatter):
    """Each line of a record's message after its level (a batch's record has a line a file);
    tracebacks go to the log file only; file names and documents' values with their control
    characters made visible (``render.safe``)."""

    def format(self, record: logging.LogRecord) -> str:
        from .render import safe

        level = record.levelname.lower()
        lines = record.getMessage().split("\n")
        return safe("\n".join(f"{level}: {line}" for line in lines), markup=False, newlines=True)


class _FileFormatter(logging.Formatter):
    """The log file's lines: time, process, level, message; each line of a message of several
    lines (a batch's record: a line a file) gets the same beginning."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(process)d %(levelname)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        lines = record.message.split("\n")
        if len(lines) == 1:
            return super().formatMessage(record)
        head = super().formatMessage(logging.makeLogRecord({**record.__dict__, "message": ""}))
        return "\n".join(head + line for line in lines)


class _Buffer(logging.handlers.MemoryHandler):
    """The log file's records kept until there are a thousand, or a warning or a record of
    several lines (a batch's files) comes: then written at once."""

    def shouldFlush(self, record: logging.LogRecord) -> bool:
        return super().shouldFlush(record) or "\n" in record.getMessage()


def setup_logging(verbosity: int, log_file: Path | None, buffered: bool = False) -> None:
    """Console (by verbosity) and ``var/log/chorus-batch.log`` (INFO and above). ``buffered``
    (``run``): the file gets its records 1,000 at a time, a batch's lines at once (``_Buffer``),
    and a warning at once."""
    logging.logThreads = logging.logMultiprocessing = False  # not in the formats: each record is made cheaper
    logger = logging.getLogger("chorus_batch")
    crash = logging.getLogger("chorus_batch.crash")  # tracebacks of internal errors: the log file only
    # a command may set its logging up again: the old handlers closed, a buffer before its file
    for handler in [*logger.handlers, *crash.handlers]:
        handler.close()
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_ConsoleFormatter())
    console.setLevel({-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))
    logger.addHandler(console)
    crash.handlers, crash.propagate = [logging.NullHandler()], False
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, encoding="utf-8", errors="backslashreplace")
        except OSError:
            return
        handler.setFormatter(_FileFormatter())
        handler.setLevel(logging.INFO)
        if buffered:
            memory = _Buffer(1000, flushLevel=logging.WARNING, target=handler)
            memory.setLevel(logging.INFO)
            logger.addHandler(memory)
        else:
            logger.addHandler(handler)
        crash.handlers = [handler]


def flush_logs() -> None:
    """The buffered log lines into their file (``run`` returns with its log written)."""
    for handler in logging.getLogger("chorus_batch").handlers:
        handler.flush()


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _exit_code(exc: ChorusError) -> int:
    if isinstance(exc, WorkspaceLocked):
        return 3
    return 2 if isinstance(exc, ConfigError | WorkspaceError) else 1


def guarded(fn: F) -> F:
    """Turn library errors into messages and exit codes; never let a traceback through."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChorusError as exc:
            fail(f"{exc.message} [{exc.code}]", _exit_code(exc))
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 2)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: keep the traceback for the log, show one line
            log.debug("internal error", exc_info=True)
            logging.getLogger("chorus_batch.crash").error("internal error", exc_info=True)
            fail(f"internal error ({type(exc).__name__}); details in var/log/chorus-batch.log", 1)

    return wrapper  # type: ignore[return-value]  # same signature as fn


def _late_workspace(click_ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """``--workspace`` given after the command (``chorus-batch run --workspace W``): the session
    is made again on that folder, with the other global options (and ``--as``) as they were."""
    ctx = click_ctx.find_object(Context)
    if value is None or ctx is None:
        return
    old = ctx.session
    ctx.session = Session(value.resolve(), old.config_path, old.db_url, old.partner)
    setup_logging(ctx.verbosity, ctx.session.log_file if ctx.session.ws.is_workspace() else None)


def _accept_workspace(command: click.Command) -> None:
    """Give ``command`` (and, for a group, each of its commands) its own ``--workspace``, the same
    as the global one: an option is found wherever it is put."""
    if not any(p.name == "late_workspace" for p in command.params):
        command.params.append(
            click.Option(
                ["--workspace", "late_workspace"],
                type=click.Path(file_okay=False, path_type=Path),
                expose_value=False,
                callback=_late_workspace,
                help="Workspace folder (the same as before the command).",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_workspace(sub)


class _Root(click.Group):
    """The command group whose commands all take ``--workspace`` after their name too."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            _accept_workspace(found)
        return found


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CHORUS_BATCH_WORKSPACE",
    default=".",
    show_default=True,
    help="Workspace folder (env CHORUS_BATCH_WORKSPACE).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default WORKSPACE/chorus-batch.toml).",
)
@click.option(
    "--db", envvar="CHORUS_BATCH_DB", help="Store URL (env CHORUS_BATCH_DB; default the workspace's var/store.sqlite)."
)
@click.option("-v", "--verbose", count=True, help="More output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="chorus-batch")
@click.pass_context
def cli(
    click_ctx: click.Context, workspace: Path, config_path: Path | None, db: str | None, verbose: int, quiet: bool
) -> None:
    """Batch EDI processor for Chorus Pro orders ("engagements"): intake of order files,
    integration reports, and a searchable store.

    Example:

        chorus-batch --workspace /srv/edi run
    """
    if click_ctx.invoked_subcommand not in STOPPABLE and (signum := signals.release()) is not None:
        sys.exit(128 + signum)  # a signal during start-up: ended as the shell would say
    ctx = Context(Session(workspace.resolve(), config_path, db), -1 if quiet else verbose)
    click_ctx.obj = ctx
    session = ctx.session
    setup_logging(ctx.verbosity, session.log_file if session.ws.is_workspace() else None)


def main() -> None:
    """The console script (the signals are usually caught already, when ``cli`` was imported)."""
    signals.catch()
    try:
        cli(prog_name="chorus-batch")
    except KeyboardInterrupt:  # a Ctrl-C past click's own handling of it: no traceback either
        sys.exit(130)
    finally:
        signals.ignore()  # its exit status decided: a late signal cannot change it
