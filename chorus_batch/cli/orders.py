"""``orders``: search, consult, download and answer engagements (``--as`` a partner)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from chorus_batch import Answer, LineChange, OrderQuery, State

from .output import emit_json, emit_rows
from .root import Context, cli, fail, guarded

SEARCH_COLUMNS = [
    "number",
    "issuer_id",
    "issuer_name",
    "supplier_id",
    "supplier_name",
    "status",
    "amount_ht",
    "amount_ttc",
    "currency",
    "created_at",
]
TABLE_COLUMNS = ["number", "issuer_name", "supplier_name", "status", "amount_ht", "amount_ttc", "currency"]


class NumberCommand(click.Command):
    """A command whose one argument is an engagement number, which may start with ``-``
    (``orders show -EJ-2``): a word that starts with ``-`` and is none of the command's options
    is taken as the number when no number was given otherwise, as if it followed ``--`` (a word
    that starts with ``--`` never is: that is a mistyped option). An
    option, an option's value and everything after ``--`` are left as they are, so a typo in a
    real option name still fails as an unknown option once a number is there."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._number_last(ctx, args))

    def _number_last(self, ctx: click.Context, args: list[str]) -> list[str]:
        flags: set[str] = set()  # options that take no value
        valued: set[str] = set()  # options followed by a value
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                names = {*param.opts, *param.secondary_opts}
                (flags if param.is_flag or param.count else valued).update(names)
        positional: list[int] = []
        dashed: list[int] = []
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":
                positional.extend(range(i + 1, len(args)))
                break
            if not word.startswith("-") or word == "-":
                positional.append(i)
            elif word in valued:
                i += 1  # its value, whatever it looks like
            elif not word.startswith("--") and not _is_option(word, flags, valued):
                dashed.append(i)
            i += 1
        if positional or len(dashed) != 1:
            return args  # a number given plainly, or several candidates: click says what is wrong
        number = dashed[0]
        return [*args[:number], *args[number + 1 :], "--", args[number]]


def _is_option(word: str, flags: set[str], valued: set[str]) -> bool:
    """Whether click reads ``word`` as options: a long one (``--issuer=X``), or short ones
    together (``-y``, ``-o/tmp/x``)."""
    if word.startswith("--"):
        return word.partition("=")[0] in flags | valued
    for k in range(1, len(word)):
        short = f"-{word[k]}"
        if short in valued:
            return True  # the rest is its value
        if short not in flags:
            return False
    return True


@cli.group()
@click.option(
    "--as",
    "as_partner",
    metavar="PARTNER",
    help="Act as this partner: see only its structures, answer with its rights.",
)
@click.pass_obj
@guarded
def orders(ctx: Context, as_partner: str | None) -> None:
    """Search, consult, download and answer engagements."""
    ctx.session.partner = as_partner
    ctx.session.check_partner()


@orders.command("search")
@click.option("--status", type=click.Choice([s.value for s in State]))
@click.option("--created-from", type=click.DateTime(["%Y-%m-%d"]), help="Created on or after (YYYY-MM-DD).")
@click.option("--created-to", type=click.DateTime(["%Y-%m-%d"]), help="Created on or before (YYYY-MM-DD).")
@click.option("--number", help="Engagement number (* as wildcard).")
@click.option("--issuer", help="Issuer SIRET / id, or part of its name.")
@click.option("--supplier", help="Supplier SIRET / id, or part of its name.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def orders_search(
    ctx: Context,
    status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    number: str | None,
    issuer: str | None,
    supplier: str | None,
    fmt: str,
) -> None:
    """Search engagements.

    Example:

        chorus-batch orders search --status A_TRAITER --issuer 21750001600019 --format csv
    """
    query = OrderQuery(
        status=status,
        number=number,
        issuer=issuer,
        supplier=supplier,
        created_from=created_from.date() if created_from else None,
        created_to=created_to.date() if created_to else None,
    )
    rows = ctx.session.search_orders(query)
    emit_rows(fmt, SEARCH_COLUMNS if fmt != "table" else TABLE_COLUMNS, rows, f"{len(rows)} engagement(s)")


@orders.command("show", cls=NumberCommand)
@click.argument("number")
@click.option("--issuer", help="Issuer id, when several issuers used the number.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
@guarded
def orders_show(ctx: Context, number: str, issuer: str | None, fmt: str) -> None:
    """Everything about one engagement (the portal's "Consulter"). NUMBER may start with "-".

    Example:

        chorus-batch orders show EJ2026-000123 --format json
    """
    detail = ctx.session.show_order(number, issuer)
    if fmt == "json":
        emit_json(detail)
    else:
        from .render import engagement_panel

        engagement_panel(detail)


@orders.command("export", cls=NumberCommand)
@click.argument("number")
@click.option("--issuer", help="Issuer id, when several issuers used the number.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into.",
)
@click.pass_obj
@guarded
def orders_export(ctx: Context, number: str, issuer: str | None, out_dir: Path) -> None:
    """Download the original document of every version and the embedded attachments
    (the portal's "Télécharger").

    Example:

        chorus-batch orders export EJ2026-000123 -o /tmp/ej123
    """
    for target in ctx.session.export_order(number, issuer, out_dir):
        click.echo(str(target))


# refusals that are about the command's own arguments: a usage error (exit 2), like click's
ARGUMENT_CODES = frozenset(
    {
        "AMOUNT_INVALID",
        "QUANTITY_NOT_POSITIVE",
        "LINE_UNKNOWN",
        "LINE_REPEATED",
        "ALL_LINES_DROPPED",
        "REASON_REQUIRED",
        "ENGAGEMENT_NUMBER_INVALID",
        "BASE_QUANTITY_INVALID",
    }
)


def _interactive() -> bool:
    """Whether someone can answer ``Confirm?``: standard input is a terminal (the tests
    replace this to play one)."""
    return sys.stdin.isatty()


def _answer(
    ctx: Context,
    code: str,
    number: str,
    issuer: str | None,
    reason: str | None,
    yes: bool,
    lines: tuple[LineChange, ...] = (),
) -> None:
    """Check the arguments, show what the answer will do, ask (unless ``--yes``), apply.

    A change is confirmed on a terminal, or by ``--yes``; without a terminal and without
    ``--yes`` nothing is done (``CONFIRMATION_REQUIRED``, exit 2). Declining exits 0."""
    from . import render  # rich: only for the commands that print with it

    session = ctx.session
    declined = False

    def confirm(plan: Answer) -> bool:
        nonlocal declined
        warnings = [(w.code, w.message) for w in plan.outcome.errors]
        where = str(session.ws.responses)
        render.answer_plan(
            plan.number, plan.issuer_id, plan.before, plan.after, warnings, plan.change, code, plan.responses, where
        )
        if yes or not plan.responses:  # --yes, or nothing would change (e.g. accepting an accepted order)
            return True
        if not _interactive():
            fail(
                "not on a terminal, nobody can confirm this change; add --yes to apply it; "
                "nothing changed [CONFIRMATION_REQUIRED]",
                2,
            )
        try:
            accepted = click.confirm("Confirm?", default=False)
        except click.exceptions.Abort:  # Ctrl-C or end of input at the question
            click.echo("", err=True)
            fail("no answer; nothing changed", 1)
        declined = not accepted
        return accepted

    done = session.answer(code, number, issuer, reason, lines, confirm)
    if done.refused:
        fail(
            f"{render.safe(done.refused.message, markup=False)} [{done.refused.code}]", _refusal_exit(done.refused.code)
        )
    if declined:
        click.echo("nothing changed")
        return
    click.echo(
        f"done: {done.before} -> {done.after}" + (f"; wrote {', '.join(done.responses)}" if done.responses else "")
    )


def _refusal_exit(code: str) -> int:
    return 2 if code in ARGUMENT_CODES else 1


_ANSWER_OPTIONS = [
    click.argument("number"),
    click.option("--issuer", help="Issuer id, when several issuers used the number."),
    click.option(
        "--yes", "-y", is_flag=True, help="Do not ask; needed to change anything without a terminal (scripts, cron)."
    ),
]


def _answer_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_ANSWER_OPTIONS):
        fn = option(fn)
    return fn


@orders.command("accept", cls=NumberCommand)
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


@orders.command("refuse", cls=NumberCommand)
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
    if not (qty.strip() or price.strip()):
        raise click.BadParameter(f"{value!r}: give a quantity or a price, e.g. 2=5@12.50 or 2=@12.50")
    try:
        return LineChange(
            line_id.strip(), "3", quantity=Decimal(qty) if qty else None, unit_price=Decimal(price) if price else None
        )
    except InvalidOperation:
        raise click.BadParameter(f"{value!r}: expected LINE=QUANTITY[@UNIT_PRICE], e.g. 2=5@12.50") from None


@orders.command("modify", cls=NumberCommand)
@_answer_options
@click.option(
    "--line",
    "changed",
    multiple=True,
    metavar="LINE=QTY[@PRICE]",
    help="Change a line's quantity (and unit price). Repeatable.",
)
@click.option("--drop", multiple=True, metavar="LINE", help="Remove a line (not accepted). Repeatable.")
@click.option("--reason", help="A note for the issuer.")
@click.pass_obj
@guarded
def orders_modify(
    ctx: Context,
    number: str,
    issuer: str | None,
    yes: bool,
    changed: tuple[str, ...],
    drop: tuple[str, ...],
    reason: str | None,
) -> None:
    """Accept an engagement with changes (order response CA): a new version with the changed
    lines; amounts are recomputed exactly. Works in A_TRAITER and PRIS_EN_COMPTE. Every line
    named must be one of the order's, a quantity above 0. The lines and totals before -> after
    are shown, then Confirm? is asked (without a terminal: --yes is needed).

    Example:

        chorus-batch orders modify EJ2026-000101 --line 2=5@12.50 --drop 3 --yes
    """
    lines = tuple(_line_change(v) for v in changed) + tuple(LineChange(d.strip(), "7") for d in drop)
    if not lines:
        raise click.UsageError("give at least one --line or --drop")
    _answer(ctx, "CA", number, issuer, reason, yes, lines)
