"""``demo``: a demo workspace built from the bundled French examples, the whole chain run."""

from __future__ import annotations

import click

from chorus_batch import FileStatus, RunSummary

from .intake import print_summary, run_inbox
from .root import Context, cli, fail, guarded


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
    session = ctx.session
    ws = session.ws

    def run_wave(wave: str, count: int) -> RunSummary:
        click.echo(f"dropped {count} example file(s) ({wave}) in {ws.inbox}")
        summary = run_inbox(ctx)
        print_summary(summary)
        for result in summary.notable:  # the other warnings of integrated files (anomalies have their line)
            said = {code for n in result.notices() if n.what == "anomaly" for code in n.codes}
            others = sorted({w.code for w in result.warnings} - said)
            if result.status != FileStatus.IN_REJETE and others:
                click.echo(f"  warning {result.name}: {', '.join(others)}")
        return summary

    done = session.demo(run_wave)
    click.echo(f"integration reports: {ws.acks}")
    click.echo(f"order responses:     {ws.responses}")
    click.echo(f"reports:             {', '.join(str(p) for p in done.reports)}")
    click.echo("next: chorus-batch --workspace " + str(ws.root) + " orders search")
    if done.unexpected:
        fail("unexpected outcome for " + ", ".join(done.unexpected), 1)
