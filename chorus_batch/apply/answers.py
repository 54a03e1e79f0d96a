"""A supplier's answer applied to its engagement (SPEC §4): accepted (AP), refused with a
reason (RE), accepted with changes (CA, a new version with the lines recomputed exactly), or
only acknowledged (AB). An applied answer makes an order response toward the issuer, in the
syntax of the original order, collected in ``Context.emitted``; files (UBL, Order-X, CSV) and
the operator's commands go through the same code."""

from __future__ import annotations

import json
import re
from typing import Any

from .. import store as db
from ..domain import amend, states
from ..domain.habilitations import may_modify
from ..domain.model import OrderLine, OutgoingResponse, Party, ResponseDocument, ResponseLine
from ..domain.names import fitting
from ..domain.outcomes import AnswerOutcome, DocumentOutcome, Outcome
from ..domain.rules import check_reference, number_of
from ..errors import ChorusError, Issue
from ..formats import response_writer
from .context import Context, Emitted, parked, rejected, target

ANSWER_EVENTS = {"AP": states.Event.ACCEPT, "RE": states.Event.REFUSE, "CA": states.Event.MODIFY}


def apply_response(ctx: Context, resp: ResponseDocument) -> Outcome:
    refused = check_reference(resp)  # already checked on a file's answers; not on the operator's
    if refused:
        return rejected(resp, *refused)
    number = number_of(resp)
    engagement = target(ctx.conn, number, resp.issuer, strict_issuer=False)
    if engagement is None:
        return parked(resp, number, resp.issuer)
    if not may_modify(ctx.partner, engagement.supplier_id):
        name = ctx.partner.name if ctx.partner else ""
        message = f"partner {name!r} has no modification right on structure {engagement.supplier_id}; nothing changed"
        return rejected(resp, Issue("HABILITATION_DENIED", message))
    seq = db.answers.count(ctx.conn, engagement.id, outcome=AnswerOutcome.APPLIED) + 1
    record: dict[str, Any] = dict(
        engagement_id=engagement.id,
        at=ctx.src.now,
        code=resp.code,
        reason=resp.reason,
        channel=resp.syntax,
        partner=ctx.partner.name if ctx.partner else None,
        source_file_id=ctx.src.file_id,
    )
    if resp.code == "AB":
        db.answers.record(ctx.conn, outcome=AnswerOutcome.RECORDED, **record)
        return Outcome(resp.kind, number, DocumentOutcome.INTEGRE)
    before = states.State(engagement.status)
    if resp.code == "AP" and before == states.State.PRIS_EN_COMPTE:
        db.answers.record(ctx.conn, outcome=AnswerOutcome.NO_CHANGE, **record)
        warning = Issue(
            "ALREADY_IN_STATE", f"engagement {number} is already PRIS_EN_COMPTE; nothing changed", severity="warning"
        )
        return Outcome(resp.kind, number, DocumentOutcome.INTEGRE, [warning])
    event = ANSWER_EVENTS[resp.code]
    states.apply(before, event)  # refuse early, before any write
    old_lines = db.engagements.current_lines(ctx.conn, engagement)
    document = db.engagements.current_document(ctx.conn, engagement.id, engagement.current_version)
    new_lines = old_lines
    if resp.code == "CA":
        new_lines = list(amend.apply_line_changes(old_lines, resp.lines))
        totals = amend.recompute(db.codec.totals_from_dict(document.get("totals")), old_lines, new_lines)
        lines_and_totals = {"lines": db.codec.to_dict(tuple(new_lines)), "totals": db.codec.to_dict(totals)}
        document = {**document, "kind": resp.kind, **lines_and_totals}
        db.engagements.new_version(ctx.conn, engagement, resp.kind, resp.syntax, document, new_lines, ctx.src)
    db.engagements.record_transition(ctx.conn, engagement.id, event, ctx.src)
    emitted = _emit(ctx, engagement, document, resp, old_lines, new_lines, seq)
    response = {"response_file": emitted.name, "response_sha256": db.files.put_blob(ctx.conn, emitted.data)}
    db.answers.record(ctx.conn, outcome=AnswerOutcome.APPLIED, **response, **record)
    return Outcome(resp.kind, number, DocumentOutcome.INTEGRE)


def _response_lines(code: str, old: list[OrderLine], new: list[OrderLine]) -> tuple[ResponseLine, ...]:
    if code == "AP":
        return tuple(ResponseLine(line, "5") for line in old)
    if code == "RE":
        return tuple(ResponseLine(line, "7") for line in old)
    before = {line.line_id: line for line in old}
    out = [
        ResponseLine(line, "1" if line.line_id not in before else "5" if before[line.line_id] == line else "3")
        for line in new
    ]
    kept = {line.line_id for line in new}
    out += [ResponseLine(line, "7") for line in old if line.line_id not in kept]
    return tuple(out)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
RESPONSE_KEY_MAX = 150  # bytes of number and issuer in a response's name; ".001.CA.ubl.xml" follows


def _emit(
    ctx: Context,
    engagement: db.Row[Any],
    document: dict[str, Any],
    resp: ResponseDocument,
    old: list[OrderLine],
    new: list[OrderLine],
    seq: int,
) -> Emitted:
    """Build the order response toward the issuer, in the syntax of the original order."""
    first = db.engagements.first_version(ctx.conn, engagement.id)
    original = json.loads(first.document)
    issuer = db.codec.party_from_dict(db.parties.details(ctx.conn, engagement.issuer_id)) or Party(
        engagement.issuer_name
    )
    supplier = db.codec.party_from_dict(db.parties.details(ctx.conn, engagement.supplier_id)) or Party(
        engagement.supplier_name
    )
    out = OutgoingResponse(
        response_id=f"{engagement.number}-R{seq}",
        order_number=engagement.number,
        code=resp.code,
        issue_date=ctx.today,
        issuer=issuer,
        supplier=supplier,
        currency=engagement.currency,
        reason=resp.reason,
        profile=original.get("profile"),
        lines=_response_lines(resp.code, old, new),
        totals=db.codec.totals_from_dict(document.get("totals")),
    )
    writer = response_writer(first.syntax)
    try:
        data = writer.write(out)
    except ValueError as exc:  # the answer lacks data its order response must carry
        message = f"no valid order response can be written for this answer: {exc}"
        raise ChorusError(message, code="RESPONSE_UNWRITABLE") from None
    # number + issuer: two issuers may use the same engagement number
    # (shortened, as every name made from senders' data, to leave room for the rest and a temporary name)
    safe = fitting(_UNSAFE_NAME.sub("_", f"{engagement.number}.{engagement.issuer_id}"), RESPONSE_KEY_MAX)
    emitted = Emitted(f"{safe}.{seq:03d}.{resp.code}.{writer.tag}.xml", data)
    ctx.emitted.append(emitted)
    return emitted
