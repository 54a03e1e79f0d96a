"""What applying a document needs and gives: the ``Context`` (the transaction, the settings,
where the change comes from, the acting partner) and the order responses to emit once the
transaction has committed; and the steps shared by the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .. import store as db
from ..config import Settings
from ..domain.habilitations import Partner
from ..domain.identifiers import party_key, same_identity
from ..domain.model import Document, Party
from ..domain.outcomes import DocumentOutcome, Outcome, Waiting
from ..domain.rules import number_of
from ..errors import ChorusError, Issue


@dataclass(frozen=True)
class Emitted:
    """An order response to write to ``outbox/responses/`` after the commit."""

    name: str
    data: bytes


@dataclass
class Context:
    conn: db.Connection
    settings: Settings
    src: db.Source
    today: date
    partner: Partner | None = None
    channel: str = "file"
    emitted: list[Emitted] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # numbers whose parked documents may now apply


def rejected(doc: Document, *issues: Issue) -> Outcome:
    return Outcome(doc.kind, number_of(doc) or None, DocumentOutcome.REJETE, list(issues))


def parked(doc: Document, number: str, issuer: Party | None) -> Outcome:
    """A document that waits for the order ``number`` (of ``issuer``, when it names one)."""
    key = party_key(issuer) if issuer is not None else None
    waiting = Waiting("order", number, key, issuer.name if issuer is not None else None)
    return Outcome(doc.kind, number, DocumentOutcome.PARKED, [], waiting=waiting)


def target(conn: db.Connection, number: str, issuer: Party | None, strict_issuer: bool) -> db.Row[Any] | None:
    """The engagement ``number`` refers to. Several issuers may use one number: the document's
    issuer (compared by id, or by SIREN) tells them apart. With ``strict_issuer`` (issuer
    documents) the issuer must match; a supplier's answer naming one engagement is taken as is.
    Keys are compared as one legal identity in any spelling (``identifiers.same_identity``)."""
    rows = db.engagements.by_number(conn, number)
    key = party_key(issuer) if issuer is not None else None
    if key and (strict_issuer or len(rows) > 1):
        rows = [r for r in rows if same_identity(r.issuer_id, key)]
    if len(rows) > 1:
        raise ChorusError(
            f"engagement {number!r} exists at several issuers ({', '.join(r.issuer_id for r in rows)}); "
            "the document must name its issuer",
            code="ORDER_AMBIGUOUS",
        )
    return db.engagements.lock(conn, rows[0].id) if rows else None
