"""An issuer's documents applied to engagements (SPEC §3): a new order, a change, a
cancellation. A new order creates its engagement, or re-routes one that was ``A_RECYCLER``;
invoices that named it before it existed are matched now (``invoices.rematch``)."""

from __future__ import annotations

import json
from dataclasses import replace

from .. import store as db
from ..domain import amend, states
from ..domain.identifiers import party_key
from ..domain.model import CancellationDocument, ChangeDocument, OrderDocument
from ..domain.outcomes import DocumentOutcome, Outcome
from ..domain.rules import check_reference, number_of
from ..errors import Issue
from .context import Context, parked, rejected, target
from .invoices import rematch


def apply_order(ctx: Context, doc: OrderDocument) -> Outcome:
    number = number_of(doc)
    issuer_id = party_key(doc.issuer) or ""
    supplier_id = party_key(doc.supplier) or ""
    encoded = db.codec.order_json(doc)
    existing = db.engagements.find(ctx.conn, issuer_id, number)
    if existing is None:
        event = states.Event.RECEIVED if ctx.settings.serves(supplier_id) else states.Event.RECEIVED_UNROUTED
        db.engagements.create(ctx.conn, doc, encoded, number, event, ctx.src)
        ctx.released.append(number)
        rematch(ctx.conn, number)
        return Outcome(doc.kind, number, DocumentOutcome.INTEGRE)
    existing = db.engagements.lock(ctx.conn, existing.id)
    if existing.status == states.State.A_RECYCLER and ctx.settings.serves(supplier_id):
        db.engagements.new_version(ctx.conn, existing, doc.kind, doc.syntax, db.codec.to_dict(doc), doc.lines, ctx.src)
        db.engagements.reroute(ctx.conn, existing.id, supplier_id, doc.supplier.name)
        db.parties.upsert(ctx.conn, doc.supplier, ctx.src.now)
        db.engagements.record_transition(ctx.conn, existing.id, states.Event.REROUTED, ctx.src)
        ctx.released.append(number)
        return Outcome(doc.kind, number, DocumentOutcome.INTEGRE)
    if db.engagements.current_document(ctx.conn, existing.id, existing.current_version) == json.loads(encoded):
        issue = Issue("DUPLICATE_DOCUMENT", f"engagement {number} already holds this exact order; nothing applied")
        return Outcome(doc.kind, number, DocumentOutcome.DUPLICATE, [issue])
    issue = Issue(
        "ORDER_ALREADY_EXISTS",
        f"engagement {number} from issuer {issuer_id} already exists (status {existing.status}) with other content; "
        "send an order change to modify it",
        xpath=doc.number_xpath,
    )
    return Outcome(doc.kind, number, DocumentOutcome.REJETE, [issue])


def apply_change(ctx: Context, change: ChangeDocument) -> Outcome:
    number = number_of(change)
    if not number:
        return rejected(
            change, Issue("ENGAGEMENT_NUMBER_INVALID", "the change does not name a usable engagement number")
        )
    engagement = target(ctx.conn, number, change.order.issuer, strict_issuer=True)
    if engagement is None:
        return parked(change, number, change.order.issuer)
    states.apply(states.State(engagement.status), states.Event.CHANGE)
    order = change.order
    if change.line_changes:
        old_lines = db.engagements.current_lines(ctx.conn, engagement)
        lines = list(amend.apply_line_changes(old_lines, change.line_changes))
        order = replace(order, lines=tuple(lines), totals=amend.recompute(order.totals, old_lines, lines))
    document = {**db.codec.to_dict(order), "kind": change.kind}
    db.engagements.new_version(ctx.conn, engagement, change.kind, order.syntax, document, order.lines, ctx.src)
    db.engagements.record_transition(ctx.conn, engagement.id, states.Event.CHANGE, ctx.src)
    return Outcome(change.kind, number, DocumentOutcome.INTEGRE)


def apply_cancellation(ctx: Context, cancel: CancellationDocument) -> Outcome:
    refused = check_reference(cancel)  # checked on reading: a safety net
    if refused:
        return rejected(cancel, *refused)
    number = number_of(cancel)
    engagement = target(ctx.conn, number, cancel.issuer, strict_issuer=True)
    if engagement is None:
        return parked(cancel, number, cancel.issuer)
    db.engagements.record_transition(ctx.conn, engagement.id, states.Event.CANCEL, ctx.src)
    return Outcome(cancel.kind, number, DocumentOutcome.INTEGRE)
