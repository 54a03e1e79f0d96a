"""What the intake says about each file: its result (``FileResult``), the integration report
of SPEC §10 (``payload``: the JSON of ``outbox/acks/NAME.json``), and the summary of a run."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..domain.outcomes import DocumentOutcome, FileStatus, Outcome
from ..errors import Issue

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-26T21:43:03Z`` (isoformat is several times cheaper than strftime: per file)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass
class FileResult:
    name: str
    status: FileStatus
    documents: list[Outcome] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    ack: Path | None = None


@dataclass
class RunSummary:
    """What a run did: counts by status, and the files an operator should look at (rejected,
    partly integrated, parked or with warnings). Cleanly integrated files are only counted, so
    memory stays flat however many files a run takes."""

    counts: Counter[str] = field(default_factory=Counter)
    notable: list[FileResult] = field(default_factory=list)
    # a stop was requested during the run: the number of the signal that asked for it (the
    # command line, which caught it, says which), 0 for a stop requested otherwise
    interrupted: int | None = None
    left: int = 0  # files of the inbox as the run listed it that it left there (a stop)

    def add(self, result: FileResult) -> None:
        self.counts[result.status] += 1
        if result.status not in (FileStatus.IN_INTEGRE, FileStatus.DUPLICATE) or result.warnings:
            self.notable.append(result)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """128 + the signal's number after a signal (as a shell says of a command it ended),
        else 1 when a file was rejected or partly integrated, else 0."""
        if self.interrupted:
            return 128 + self.interrupted
        return 1 if self.counts[FileStatus.IN_REJETE] or self.counts[FileStatus.IN_INTEGRE_PARTIEL] else 0


def payload(name: str, sha: str, received: datetime, now: datetime, result: FileResult) -> dict[str, Any]:
    """The integration report of SPEC §10 (plus ``warnings``) for one file."""
    return {
        "file": name,
        "sha256": sha,
        "status": result.status,
        "received_at": iso(received),
        "processed_at": iso(now),
        "documents": [
            {
                "kind": d.kind,
                "number": d.number,
                "outcome": d.outcome,
                "errors": [e.as_dict() for e in d.errors if e.severity == "error"],
            }
            | ({"member": d.member} if d.member else {})
            for d in result.documents
        ],
        "errors": [located(e, _owner(e, result.documents)) for e in result.errors],
        "warnings": [w.as_dict() for w in result.warnings],
    }


def dumps(value: object) -> str:
    """Compact JSON for the store's ``errors`` column."""
    return json.dumps(value, ensure_ascii=False)


def _owner(issue: Issue, documents: list[Outcome]) -> Outcome | None:
    return next((d for d in documents if any(e is issue for e in d.errors)), None)


def located(issue: Issue, document: Outcome | None) -> dict[str, object]:
    """An error of the report: its fields plus the document (number) it belongs to (SPEC §7)."""
    return {**issue.as_dict(), "document": document.number if document else None}


def warnings_of(outcomes: list[Outcome]) -> list[Issue]:
    return [e for o in outcomes for e in o.errors if e.severity != "error"]


def errors_of(outcomes: list[Outcome]) -> list[Issue]:
    """The errors a file's report lists: every document's errors, and a duplicate's notice."""
    return [e for o in outcomes for e in o.errors if e.severity == "error" or o.outcome == DocumentOutcome.DUPLICATE]
