"""``run``: every file pending in the inbox, once. First what an interrupted run left
(``recovery``: claimed files; ``outbox``: unwritten order responses), the parked documents that
expired or whose order another worker committed; then the inbox, lot by lot (``lots``); then
the parked documents once more."""

from __future__ import annotations

from collections.abc import Callable

from .lots import store_in_lots, tuned_collector
from .outbox import recover_responses
from .processor import Processor
from .recovery import recover
from .report import FileResult, RunSummary


def run(
    processor: Processor,
    on_file: Callable[[FileResult], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunSummary:
    """Process the inbox once (under the workspace lock when the store is SQLite).
    ``on_total`` hears how many files wait in the inbox once recovery has put back the
    interrupted ones, ``on_file`` each file's result. The summary also counts the parked files
    this run concluded (applied, rejected or expired)."""
    summary = RunSummary()

    def count(results: list[FileResult]) -> None:
        for result in processor.parking.drain() + results:
            summary.add(result)
            if on_file:
                on_file(result)

    with tuned_collector():
        resume(processor)
        tidy(processor)
        count([])
        pending = list(processor.ws.pending())
        if on_total:
            on_total(len(pending))
        for results in store_in_lots(processor, pending):
            count(results)
        processor.parking.retry()
        count([])
    return summary


def resume(processor: Processor) -> None:
    """Before any new file: finish or put back what an interrupted run left (claimed files,
    order responses committed but not written)."""
    recover(processor.ws, processor.store)
    recover_responses(processor.ws, processor.store)


def tidy(processor: Processor) -> None:
    """The parked documents that waited too long, and those whose order (or invoice) another
    worker committed while they were being parked (or a killed run, before its commit)."""
    processor.parking.expire()
    processor.parking.retry()
