"""What the intake says about each file: its result (``FileResult``), the integration report
of SPEC §10 (``payload``: the JSON of ``outbox/acks/NAME.json``), and the summary of a run."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..domain.outcomes import DocumentOutcome, FileStatus, Outcome, Waiting
from ..errors import Issue

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=1024)  # a run gives the same moments to many files' reports and rows
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

    def notices(self) -> list[Notice]:
        """The lines an operator should read about this file (``notices``)."""
        return notices(self)


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
        if (
            result.status not in (FileStatus.IN_INTEGRE, FileStatus.DUPLICATE)
            or result.warnings
            or any(d.outcome == DocumentOutcome.PARKED for d in result.documents)
        ):
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
            | ({"waiting": waiting(d.waiting)} if d.waiting and d.outcome == DocumentOutcome.PARKED else {})
            for d in result.documents
        ],
        "errors": [located(e, _owner(e, result.documents)) for e in result.errors],
        "warnings": [w.as_dict() for w in result.warnings],
    }


def waiting(found: Waiting) -> dict[str, str | None]:
    """What a parked document waits for, as its report says it (``documents[].waiting``)."""
    return {
        "for": found.what,
        "number": found.number,
        "issuer": found.issuer,
        "issuer_name": found.issuer_name,
        "until": found.until,
    }


def dumps(value: object) -> str:
    """Compact JSON for the store's ``errors`` column (``[]`` for most files, without encoding it)."""
    return "[]" if value == [] else json.dumps(value, ensure_ascii=False)


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


# -- what ``run`` and ``watch`` print under a file's result -------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One line an operator reads about a file: a rejection (of the file or of one of its
    documents), an invoice anomaly or a parked document. ``details`` are the messages ``-v``
    adds below it."""

    what: str  # rejected, anomaly, parked
    file: str  # the file's name, with where in it (document N, member M) when it holds several
    text: str
    details: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # the codes it is about (none for a parked document)

    def line(self) -> str:
        return f"{self.what} {self.file}: {self.text}"


def notices(result: FileResult) -> list[Notice]:
    """The lines about ``result`` an operator should read: one for a file rejected whole, one
    per rejected document of a partly integrated file, one per invoice anomaly, one per parked
    document. A cleanly integrated file or a duplicate has none."""
    found: list[Notice] = []
    if result.status == FileStatus.IN_REJETE:
        codes = tuple(sorted({e.code for e in result.errors}))
        numbers = sorted({d.number for d in result.documents if d.number})
        text = ", ".join(codes) + (f" (engagement {', '.join(numbers)})" if numbers else "")
        found.append(Notice("rejected", result.name, text, _details(result.errors), codes))
        return found
    several = len(result.documents) > 1
    for index, doc in enumerate(result.documents):
        where = _where(result.name, index, doc, several)
        if doc.outcome == DocumentOutcome.REJETE:
            errors = [e for e in doc.errors if e.severity == "error"]
            codes = tuple(sorted({e.code for e in errors}))
            text = (", ".join(codes) or "?") + _engagement(doc.number)
            found.append(Notice("rejected", where, text, _details(errors), codes))
        elif doc.outcome == DocumentOutcome.PARKED and doc.waiting is not None:
            found.append(Notice("parked", where, f"{doc.kind} {doc.waiting.sentence()}"))
        if doc.kind in ("invoice", "credit_note") and doc.outcome == DocumentOutcome.INTEGRE:
            for issue in doc.errors:
                if issue.severity == "error":
                    continue
                about = f"{doc.kind} {doc.number or '?'}" + (f", engagement {doc.engagement}" if doc.engagement else "")
                found.append(Notice("anomaly", where, f"{issue.code} ({about})", (issue.message,), (issue.code,)))
    return found


def _where(name: str, index: int, doc: Outcome, several: bool) -> str:
    if doc.member:
        return f"{name} member {doc.member}"
    return f"{name} document {index + 1}" if several else name


def _engagement(number: str | None) -> str:
    return f" (engagement {number})" if number else ""


def _details(errors: list[Issue]) -> tuple[str, ...]:
    out = []
    for issue in errors:
        where = f" [line {issue.line}]" if issue.line else ""
        out.append(f"{issue.code}: {issue.message}{where}")
    return tuple(out)
