"""Operator answers (``orders accept|refuse|modify``): the same rules, history and emitted
order response as an answer file, through ``engagements.apply``.

``preview`` runs the answer in a transaction that is rolled back, so the operator sees exactly
what will happen before confirming ("enregistrer, valider, confirmer" in the portal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from . import engagements
from .config import Settings
from .domain.model import LineChange, Party, PartyId, ResponseDocument
from .errors import Outcome
from .ingest import iso, write_responses
from . import store as db
from .workspace import Workspace


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    before: str
    after: str
    responses: list[str]  # order responses written (or that would be written) to outbox/responses/


def build(code: str, number: str, issuer_id: str, reason: str | None, lines: tuple[LineChange, ...] = ()) -> ResponseDocument:
    return ResponseDocument(
        syntax="cli",
        number=None,
        order_number=number,
        code=code,
        reason=reason,
        issuer=Party(None, (PartyId("", issuer_id, "id@cli"),)),
        lines=lines,
    )


class _Preview(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__("preview")
        self.result = result


def _run(store: db.Store, ws: Workspace, settings: Settings, response: ResponseDocument, partner: str | None, commit: bool) -> Result:
    now = datetime.now(UTC)
    try:
        with store.begin() as conn:
            row = db.engagements.resolve(conn, response.order_number, party_id(response))
            ctx = engagements.Context(conn, settings, db.Source(None, None, iso(now)), now.date(), settings.partner(partner), "cli")
            outcome = engagements.apply(ctx, response)
            after = db.engagements.lock(conn, row.id).status
            result = Result(outcome, row.status, after, [e.name for e in ctx.emitted])
            if not commit or outcome.outcome == "REJETE":
                raise _Preview(result)
    except _Preview as preview:
        return preview.result
    write_responses(ws, store, ctx.emitted)
    return result


def party_id(response: ResponseDocument) -> str | None:
    return response.issuer.ids[0].value if response.issuer and response.issuer.ids else None


def preview(store: db.Store, ws: Workspace, settings: Settings, response: ResponseDocument, partner: str | None = None) -> Result:
    """What ``apply`` would do; nothing is written."""
    return _run(store, ws, settings, response, partner, commit=False)


def apply(store: db.Store, ws: Workspace, settings: Settings, response: ResponseDocument, partner: str | None = None) -> Result:
    """Apply the answer; the emitted order response is written after the commit."""
    return _run(store, ws, settings, response, partner, commit=True)
