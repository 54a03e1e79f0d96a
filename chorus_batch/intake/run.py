"""``run``: every file pending in the inbox, once. First what an interrupted run left
(``recovery``: claimed files; ``outbox``: unwritten order responses), the parked documents that
expired or whose order another worker committed; then the inbox, lot by lot (``lots``); then
the parked documents once more.

A stop request (``stop``, set by the command line on SIGINT or SIGTERM) is heard between these
steps and, in the inbox, at file boundaries (``lots``): the transaction under way commits and
its files are finished, the files claimed and not committed go back to the inbox, and the rest
of the inbox stays where it is, for the next run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .lots import Inbox, store_in_lots, tuned_collector
from .outbox import recover_responses
from .processor import Processor
from .recovery import prune, recover
from .report import FileResult, RunSummary

log = logging.getLogger("chorus_batch")


def run(
    processor: Processor,
    on_file: Callable[[FileResult], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Process the inbox once (under the workspace lock when the store is SQLite).
    ``on_total`` hears how many files wait in the inbox once recovery has put back the
    interrupted ones, ``on_file`` each file's result. The summary also counts the parked files
    this run concluded (applied, rejected or expired). Once ``stop`` is set the run ends at the
    next file boundary; the summary then says so (``interrupted``) and how many files it left
    in the inbox (``left``)."""
    summary = RunSummary()
    stop = stop or threading.Event()

    def count(results: list[FileResult]) -> None:
        for result in processor.parking.drain() + results:
            summary.add(result)
            if on_file:
                on_file(result)

    with tuned_collector():
        if not stop.is_set():
            resume(processor)
        if not stop.is_set():
            tidy(processor)
        count([])
        inbox = Inbox.listed(processor.ws)
        try:
            if on_total:
                on_total(len(inbox))
            if not stop.is_set():
                for results in store_in_lots(processor, inbox, stop):
                    count(results)
            if not stop.is_set():
                processor.parking.retry()
            count([])
            prune(processor.ws)
            if stop.is_set():
                summary.interrupted = 0
                summary.left = inbox.left()
                log.info("stopped on request: %d file(s) left in the inbox for the next run", summary.left)
        finally:
            inbox.remove()
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
