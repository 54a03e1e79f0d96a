"""What processing did: to each document of a file, to the file as a whole, to a parked
document, to a supplier's answer. Every status the store, the integration reports and the
command line show is one of these enums; no status literal is written anywhere else.

``file_status`` and ``after_parking`` are the rules that derive a file's status from its
documents'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..errors import Issue


class DocumentOutcome(StrEnum):
    """What one document of a file became (an integration report's ``documents[].outcome``)."""

    INTEGRE = "INTEGRE"
    REJETE = "REJETE"
    PARKED = "PARKED"  # waits for its order (or its invoice)
    DUPLICATE = "DUPLICATE"


class FileStatus(StrEnum):
    """A received file's status (an integration report's ``status``)."""

    IN_INTEGRE = "IN_INTEGRE"
    IN_INTEGRE_PARTIEL = "IN_INTEGRE_PARTIEL"  # some documents integrated, some rejected
    IN_REJETE = "IN_REJETE"
    DUPLICATE = "DUPLICATE"  # the same bytes were integrated before
    PARKED = "PARKED"  # every document that was not rejected waits


# a file with these statuses is in the store: the same bytes again are a duplicate
STORED = (FileStatus.IN_INTEGRE, FileStatus.IN_INTEGRE_PARTIEL, FileStatus.PARKED)


class ParkState(StrEnum):
    """A parked document's state."""

    WAITING = "WAITING"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"  # waited more than ``park_days``


class AnswerOutcome(StrEnum):
    """What a supplier's answer did to its engagement."""

    APPLIED = "APPLIED"  # a transition, and an order response toward the issuer
    NO_CHANGE = "NO_CHANGE"  # an acceptance of an accepted order
    RECORDED = "RECORDED"  # an acknowledgement (AB): kept, nothing changes


@dataclass(frozen=True)
class Waiting:
    """What a parked document waits for: an order (``what`` = ``order``: its engagement number
    and, when the document names it, its issuer) or an invoice (``invoice``: its number)."""

    what: str
    number: str
    issuer: str | None = None  # the issuer's identifier (party key), when the document names one
    issuer_name: str | None = None
    until: str | None = None  # from then (parked_at + park_days, UTC), a run rejects it: PARK_EXPIRED

    def sentence(self) -> str:
        """``waits for order EJ1 of issuer 0009:... (Mairie) until 2027-01-05T10:00:00Z``."""
        text = f"waits for {self.what} {self.number}"
        if self.issuer:
            text += f" of issuer {self.issuer}" + (f" ({self.issuer_name})" if self.issuer_name else "")
        elif self.issuer_name:
            text += f" of issuer {self.issuer_name}"
        return text + (f" until {self.until}" if self.until else "")


@dataclass
class Outcome:
    """What processing did with one document inside a file (mirrors the report's ``documents``)."""

    kind: str
    number: str | None
    outcome: DocumentOutcome
    errors: list[Issue] = field(default_factory=list)
    member: str | None = None  # the member of a bundle (zip / tar.gz) the document came from
    waiting: Waiting | None = None  # a parked document: what it waits for
    engagement: str | None = None  # an invoice: the engagement number it names (when usable)


def file_status(outcomes: Iterable[DocumentOutcome]) -> FileStatus:
    """A file's status from the outcomes of its documents."""
    kinds = set(outcomes)
    if not kinds or kinds == {DocumentOutcome.REJETE}:
        return FileStatus.IN_REJETE
    if DocumentOutcome.REJETE in kinds:
        return FileStatus.IN_INTEGRE_PARTIEL
    if kinds == {DocumentOutcome.DUPLICATE}:
        return FileStatus.DUPLICATE
    if DocumentOutcome.INTEGRE not in kinds:
        return FileStatus.PARKED
    return FileStatus.IN_INTEGRE


def after_parking(before: FileStatus, concluded: ParkState, states: Sequence[ParkState]) -> FileStatus:
    """A file's status once one of its parked documents is ``concluded``; ``states`` are the
    states of all its parked documents, that one included. Only what is known changes it: a
    wholly parked file gets its final status once none of its documents waits; a file that was
    integrated becomes partly integrated when a parked document of it is refused."""
    if before == FileStatus.PARKED:
        if ParkState.WAITING in states:
            return before
        applied = list(states).count(ParkState.APPLIED)
        if applied == len(states):
            return FileStatus.IN_INTEGRE
        return FileStatus.IN_REJETE if applied == 0 else FileStatus.IN_INTEGRE_PARTIEL
    return before if concluded == ParkState.APPLIED else FileStatus.IN_INTEGRE_PARTIEL
