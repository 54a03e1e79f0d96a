"""Applying documents to engagements (SPEC §3, §4): new orders, supplier answers, issuer
changes and cancellations — one document at a time, inside the caller's transaction.

Files (``ingest``) and operator commands (``cli``) go through these same functions, so the
rules, the history and the emitted order responses are the same whichever way an answer comes.
Nothing here touches files: order responses to emit are collected in ``Context.emitted`` and
written by the caller once the transaction has committed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Row

from .config import Settings
from .domain import amend, matching, rules, states
from .domain.habilitations import Partner, may_modify
from .domain.identifiers import party_key, siren_key
from .domain.model import (
    CancellationDocument,
    ChangeDocument,
    Document,
    InvoiceDocument,
    InvoiceStatusUpdate,
    OrderDocument,
    OrderLine,
    OutgoingResponse,
    Party,
    PartyId,
    ResponseDocument,
    ResponseLine,
    Totals,
    party_from_dict,
    to_dict,
)
from .errors import ChorusError, Issue, Outcome
from .formats import response_writer
from .store import repo
from .store.repo import Source

ANSWER_EVENTS = {"AP": states.Event.ACCEPT, "RE": states.Event.REFUSE, "CA": states.Event.MODIFY}
ANSWER_CODES = (*ANSWER_EVENTS, "AB")


@dataclass(frozen=True)
class Emitted:
    """An order response to write to ``outbox/responses/`` after the commit."""

    name: str
    data: bytes


@dataclass
class Context:
    conn: Connection
    settings: Settings
    src: Source
    today: date
    partner: Partner | None = None
    channel: str = "file"
    emitted: list[Emitted] = field(default_factory=list)
    orders_integrated: list[str] = field(default_factory=list)  # numbers whose parked documents may now apply


def apply(ctx: Context, doc: Document) -> Outcome:
    """Apply one document; the outcome says INTEGRE, REJETE (with errors), PARKED or DUPLICATE.
    Errors found before anything is written leave the store untouched; a REJETE outcome after
    writes must be rolled back by the caller (``ingest`` uses one savepoint per document)."""
    try:
        if isinstance(doc, OrderDocument):
            return apply_order(ctx, doc)
        if isinstance(doc, ResponseDocument):
            return apply_response(ctx, doc)
        if isinstance(doc, ChangeDocument):
            return apply_change(ctx, doc)
        if isinstance(doc, InvoiceDocument):
            return apply_invoice(ctx, doc)
        if isinstance(doc, InvoiceStatusUpdate):
            return apply_status(ctx, doc)
        return apply_cancellation(ctx, doc)
    except states.TransitionNotAllowed as exc:
        return _rejected(doc, Issue("TRANSITION_NOT_ALLOWED", exc.message))
    except ChorusError as exc:
        return _rejected(doc, Issue(exc.code, exc.message))


def number_of(doc: Document) -> str:
    """The engagement number a document is about (for an invoice: its own number; for a
    status: the invoice's number)."""
    if isinstance(doc, InvoiceDocument):
        return doc.number.strip()
    if isinstance(doc, InvoiceStatusUpdate):
        return doc.invoice_number.strip()
    raw = doc.number if isinstance(doc, OrderDocument) else doc.order.number if isinstance(doc, ChangeDocument) else doc.order_number
    return rules.engagement_number(raw) or ""


def _rejected(doc: Document, *issues: Issue) -> Outcome:
    return Outcome(doc.kind, number_of(doc) or None, "REJETE", list(issues))


# -- orders --------------------------------------------------------------------------------------


def apply_order(ctx: Context, doc: OrderDocument) -> Outcome:
    number = number_of(doc)
    issuer_id = party_key(doc.issuer) or ""
    supplier_id = party_key(doc.supplier) or ""
    existing = repo.find_engagement(ctx.conn, issuer_id, number)
    if existing is None:
        event = states.Event.RECEIVED if ctx.settings.serves(supplier_id) else states.Event.RECEIVED_UNROUTED
        repo.create_engagement(ctx.conn, doc, number, event, ctx.src)
        ctx.orders_integrated.append(number)
        rematch_invoices(ctx.conn, number)
        return Outcome(doc.kind, number, "INTEGRE")
    existing = repo.lock_engagement(ctx.conn, existing.id)
    if existing.status == states.State.A_RECYCLER and ctx.settings.serves(supplier_id):
        repo.new_version(ctx.conn, existing, doc.kind, doc.syntax, to_dict(doc), doc.lines, ctx.src)  # type: ignore[arg-type]
        repo.reroute(ctx.conn, existing.id, supplier_id, doc.supplier.name)
        repo.upsert_party(ctx.conn, doc.supplier, ctx.src.now)
        repo.record_transition(ctx.conn, existing.id, states.Event.REROUTED, ctx.src)
        ctx.orders_integrated.append(number)
        return Outcome(doc.kind, number, "INTEGRE")
    if repo.current_document(ctx.conn, existing.id, existing.current_version) == json.loads(doc.as_json):
        return Outcome(doc.kind, number, "DUPLICATE", [Issue("DUPLICATE_DOCUMENT", f"engagement {number} already holds this exact order; nothing applied")])
    issue = Issue(
        "ORDER_ALREADY_EXISTS",
        f"engagement {number} from issuer {issuer_id} already exists (status {existing.status}) with other content; "
        "send an order change to modify it",
        xpath=doc.number_xpath,
    )
    return Outcome(doc.kind, number, "REJETE", [issue])


# -- finding the engagement a document refers to ---------------------------------------------------


def _target(conn: Connection, number: str, issuer: Party | None, strict_issuer: bool) -> Row[Any] | None:
    """The engagement ``number`` refers to. Several issuers may use one number: the document's
    issuer (compared by id, or by SIREN) tells them apart. With ``strict_issuer`` (issuer
    documents) the issuer must match; a supplier's answer naming one engagement is taken as is."""
    rows = repo.by_number(conn, number)
    key = party_key(issuer) if issuer is not None else None
    if key and (strict_issuer or len(rows) > 1):
        siren = siren_key(key)
        rows = [r for r in rows if r.issuer_id == key or (siren is not None and siren_key(r.issuer_id) == siren)]
    if len(rows) > 1:
        raise ChorusError(
            f"engagement {number!r} exists at several issuers ({', '.join(r.issuer_id for r in rows)}); the document must name its issuer",
            code="ORDER_AMBIGUOUS",
        )
    return repo.lock_engagement(conn, rows[0].id) if rows else None


def _parked(doc: Document, number: str) -> Outcome:
    return Outcome(doc.kind, number, "PARKED", [])


# -- supplier answers ----------------------------------------------------------------------------


def apply_response(ctx: Context, resp: ResponseDocument) -> Outcome:
    number = number_of(resp)
    if not number:
        return _rejected(resp, Issue("ENGAGEMENT_NUMBER_INVALID", "the answer does not name a usable engagement number"))
    if resp.code not in ANSWER_CODES:
        return _rejected(resp, Issue("RESPONSE_CODE_INVALID", f"answer code {resp.code!r} is not AP, RE, CA or AB"))
    if resp.code == "RE" and not (resp.reason or "").strip():
        return _rejected(resp, Issue("REASON_REQUIRED", f"refusal of engagement {number} without a reason; nothing changed"))
    engagement = _target(ctx.conn, number, resp.issuer, strict_issuer=False)
    if engagement is None:
        return _parked(resp, number)
    if not may_modify(ctx.partner, engagement.supplier_id):
        name = ctx.partner.name if ctx.partner else ""
        return _rejected(
            resp,
            Issue(
                "HABILITATION_DENIED",
                f"partner {name!r} has no modification right on structure {engagement.supplier_id}; nothing changed",
            ),
        )
    seq = repo.count_answers(ctx.conn, engagement.id, outcome="APPLIED") + 1
    record = dict(
        engagement_id=engagement.id,
        at=ctx.src.now,
        code=resp.code,
        reason=resp.reason,
        channel=resp.syntax,
        partner=ctx.partner.name if ctx.partner else None,
        source_file_id=ctx.src.file_id,
    )
    if resp.code == "AB":
        repo.record_answer(ctx.conn, outcome="RECORDED", **record)
        return Outcome(resp.kind, number, "INTEGRE")
    before = states.State(engagement.status)
    if resp.code == "AP" and before == states.State.PRIS_EN_COMPTE:
        repo.record_answer(ctx.conn, outcome="NO_CHANGE", **record)
        warning = Issue("ALREADY_IN_STATE", f"engagement {number} is already PRIS_EN_COMPTE; nothing changed", severity="warning")
        return Outcome(resp.kind, number, "INTEGRE", [warning])
    event = ANSWER_EVENTS[resp.code]
    states.apply(before, event)  # refuse early, before any write
    old_lines = repo.current_lines(ctx.conn, engagement)
    document = repo.current_document(ctx.conn, engagement.id, engagement.current_version)
    new_lines = old_lines
    if resp.code == "CA":
        new_lines = list(amend.apply_line_changes(old_lines, resp.lines))
        totals = amend.recompute(_totals(document), old_lines, new_lines)
        document = {**document, "kind": resp.kind, "lines": to_dict(tuple(new_lines)), "totals": to_dict(totals)}
        repo.new_version(ctx.conn, engagement, resp.kind, resp.syntax, document, new_lines, ctx.src)
    repo.record_transition(ctx.conn, engagement.id, event, ctx.src)
    emitted = _emit(ctx, engagement, document, resp, old_lines, new_lines, seq)
    repo.record_answer(
        ctx.conn, outcome="APPLIED", response_file=emitted.name, response_sha256=repo.put_blob(ctx.conn, emitted.data), **record
    )
    return Outcome(resp.kind, number, "INTEGRE")


def _totals(document: dict[str, Any]) -> Totals:
    raw = document.get("totals") or {}
    return Totals(**{k: (Decimal(v) if v is not None else None) for k, v in raw.items()})


def _response_lines(code: str, old: list[OrderLine], new: list[OrderLine]) -> tuple[ResponseLine, ...]:
    if code == "AP":
        return tuple(ResponseLine(line, "5") for line in old)
    if code == "RE":
        return tuple(ResponseLine(line, "7") for line in old)
    before = {line.line_id: line for line in old}
    out = [ResponseLine(line, "1" if line.line_id not in before else "5" if before[line.line_id] == line else "3") for line in new]
    kept = {line.line_id for line in new}
    out += [ResponseLine(line, "7") for line in old if line.line_id not in kept]
    return tuple(out)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _emit(
    ctx: Context, engagement: Row[Any], document: dict[str, Any], resp: ResponseDocument, old: list[OrderLine], new: list[OrderLine], seq: int
) -> Emitted:
    """Build the order response toward the issuer, in the syntax of the original order."""
    first = repo.first_version(ctx.conn, engagement.id)
    original = json.loads(first.document)
    issuer = party_from_dict(repo.party_details(ctx.conn, engagement.issuer_id)) or Party(engagement.issuer_name)
    supplier = party_from_dict(repo.party_details(ctx.conn, engagement.supplier_id)) or Party(engagement.supplier_name)
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
        totals=_totals(document),
    )
    writer = response_writer(first.syntax)
    try:
        data = writer.write(out)
    except ValueError as exc:  # the answer lacks data its order response must carry
        raise ChorusError(f"no valid order response can be written for this answer: {exc}", code="RESPONSE_UNWRITABLE") from None
    # number + issuer: two issuers may use the same engagement number
    safe = _UNSAFE_NAME.sub("_", f"{engagement.number}.{engagement.issuer_id}")
    emitted = Emitted(f"{safe}.{seq:03d}.{resp.code}.{writer.tag}.xml", data)
    ctx.emitted.append(emitted)
    return emitted


# -- issuer documents ----------------------------------------------------------------------------


def apply_change(ctx: Context, change: ChangeDocument) -> Outcome:
    number = number_of(change)
    if not number:
        return _rejected(change, Issue("ENGAGEMENT_NUMBER_INVALID", "the change does not name a usable engagement number"))
    engagement = _target(ctx.conn, number, change.order.issuer, strict_issuer=True)
    if engagement is None:
        return _parked(change, number)
    states.apply(states.State(engagement.status), states.Event.CHANGE)
    order = change.order
    if change.line_changes:
        old_lines = repo.current_lines(ctx.conn, engagement)
        lines = list(amend.apply_line_changes(old_lines, change.line_changes))
        order = replace(order, lines=tuple(lines), totals=amend.recompute(order.totals, old_lines, lines))
    document = {**to_dict(order), "kind": change.kind}  # type: ignore[dict-item]
    repo.new_version(ctx.conn, engagement, change.kind, order.syntax, document, order.lines, ctx.src)
    repo.record_transition(ctx.conn, engagement.id, states.Event.CHANGE, ctx.src)
    return Outcome(change.kind, number, "INTEGRE")


def apply_cancellation(ctx: Context, cancel: CancellationDocument) -> Outcome:
    number = number_of(cancel)
    if not number:
        return _rejected(cancel, Issue("ENGAGEMENT_NUMBER_INVALID", "the cancellation does not name a usable engagement number"))
    engagement = _target(ctx.conn, number, cancel.issuer, strict_issuer=True)
    if engagement is None:
        return _parked(cancel, number)
    repo.record_transition(ctx.conn, engagement.id, states.Event.CANCEL, ctx.src)
    return Outcome(cancel.kind, number, "INTEGRE")


# -- invoices ------------------------------------------------------------------------------------


def _candidates(conn: Connection, reference: str | None) -> list[matching.Candidate]:
    if reference is None:
        return []
    return [matching.Candidate(r.id, r.issuer_id, r.supplier_id, r.currency) for r in repo.by_number(conn, reference)]


def _reference(raw: str | None) -> str | None:
    ref = rules.engagement_number(raw)
    return ref if ref is not None and len(ref) <= rules.MAX_NUMBER_LENGTH else None


def apply_invoice(ctx: Context, inv: InvoiceDocument) -> Outcome:
    """Store an invoice or credit note — always, even when it matches nothing — with its
    engagement (if any) and the anomalies the invoice alone shows. A second invoice with the
    same seller and number is stored as a duplicate of the first and never counted."""
    seller_id, buyer_id = party_key(inv.seller), party_key(inv.buyer)
    reference = _reference(inv.order_reference)
    found = matching.match(reference, inv.seller, inv.buyer, inv.currency, _candidates(ctx.conn, reference))
    anomalies = list(found.anomalies)
    first = repo.first_invoice(ctx.conn, seller_id, inv.number.strip())
    if first is not None:
        anomalies.append(matching.Anomaly("DUPLICATE_INVOICE", f"same seller and number as the invoice received {first.created_at}"))
    ttc, ht = inv.totals.amount_ttc, inv.totals.amount_ht
    invoice_id = repo.insert_invoice(
        ctx.conn,
        file_id=ctx.src.file_id,
        document_sha256=ctx.src.blob_sha256,
        syntax=inv.syntax,
        number=inv.number.strip(),
        type=inv.kind,
        type_code=inv.type_code,
        issue_date=inv.issue_date.isoformat() if inv.issue_date else None,
        currency=inv.currency,
        seller_id=seller_id,
        seller_name=inv.seller.name,
        buyer_id=buyer_id,
        buyer_name=inv.buyer.name,
        buyer_reference=inv.buyer_reference,
        engagement_ref=reference,
        engagement_id=found.engagement_id,
        amount_ht=abs(ht) if ht is not None else None,
        amount_ttc=abs(ttc) if ttc is not None else None,
        status="DEPOSEE",
        status_at=ctx.src.now,
        duplicate_of=first.id if first is not None else None,
        anomalies=json.dumps([a.as_dict() for a in found.anomalies], ensure_ascii=False),
        identities=json.dumps(
            {"seller": sorted(matching.identities(inv.seller)), "buyer": sorted(matching.identities(inv.buyer))}, ensure_ascii=False
        ),
        created_at=ctx.src.now,
    )
    # DEPOSEE dates from the invoice's own date when it has one: later statuses dated before
    # chorus-batch received the invoice must still become current.
    deposited = instant(inv.issue_date.isoformat()) if inv.issue_date and inv.issue_date <= ctx.today else ctx.src.now
    repo.add_invoice_status(ctx.conn, invoice_id, "DEPOSEE", deposited, None, ctx.src.file_id, ctx.src.now)
    ctx.orders_integrated.append(inv.number.strip())  # statuses parked for this invoice may now apply
    if ctx.settings.close_when_paid and found.engagement_id is not None:
        _close_if_paid(ctx, found.engagement_id)  # a credit note can settle an engagement too
    warnings = [Issue(a.code, a.reason, severity="warning") for a in anomalies]
    return Outcome(inv.kind, inv.number.strip(), "INTEGRE", warnings)


def rematch_invoices(conn: Connection, reference: str) -> None:
    """Invoices that named ``reference`` before its engagement existed are matched now."""
    for row in repo.unmatched_invoices(conn, reference):
        known = json.loads(row.identities or "{}")
        seller = Party(None, tuple(PartyId("", i) for i in known.get("seller", []) if not i.startswith("SIREN:")))
        buyer = Party(None, tuple(PartyId("", i) for i in known.get("buyer", []) if not i.startswith("SIREN:")))
        found = matching.match(reference, seller if seller.ids else None, buyer if buyer.ids else None, row.currency, _candidates(conn, reference))
        repo.update_invoice(conn, row.id, engagement_id=found.engagement_id, anomalies=json.dumps([a.as_dict() for a in found.anomalies], ensure_ascii=False))


def apply_status(ctx: Context, upd: InvoiceStatusUpdate) -> Outcome:
    """A lifecycle status for an invoice (found by number, and supplier when given); a status
    for an invoice not received yet is parked. ``close_when_paid`` may then close the engagement."""
    number = upd.invoice_number.strip()
    rows = repo.invoices_by_number(ctx.conn, number)
    if upd.supplier_id:
        wanted = upd.supplier_id.replace(" ", "")
        rows = [r for r in rows if matching.same_party(frozenset(json.loads(r.identities or "{}").get("seller", [])) | {r.seller_id or ""}, wanted)]
    if not rows:
        return Outcome(upd.kind, number, "PARKED")
    if len(rows) > 1:
        sellers = ", ".join(sorted(r.seller_id or "?" for r in rows))
        return _rejected(upd, Issue("INVOICE_AMBIGUOUS", f"invoice {number} exists for several sellers ({sellers}); give supplier_id"))
    invoice = rows[0]
    at = instant(upd.at) if upd.at else ctx.src.now
    repo.add_invoice_status(ctx.conn, invoice.id, upd.status, at, upd.comment, ctx.src.file_id, ctx.src.now)
    if ctx.settings.close_when_paid and invoice.engagement_id is not None:
        _close_if_paid(ctx, invoice.engagement_id)
    return Outcome(upd.kind, number, "INTEGRE")


def instant(value: str) -> str:
    """A date or date-time as the store compares them: UTC ``YYYY-MM-DDTHH:MM:SSZ`` (a bare
    date is its midnight UTC; a date-time without offset is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ChorusError(f"{value[:40]!r} is not an ISO 8601 date", code="DATE_INVALID") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _close_if_paid(ctx: Context, engagement_id: int) -> None:
    engagement = repo.lock_engagement(ctx.conn, engagement_id)
    if engagement.status != states.State.PRIS_EN_COMPTE or engagement.amount_ttc is None:
        return
    totals = repo.invoiced_totals(ctx.conn, engagement_id)
    tolerance = ctx.settings.tolerance(engagement.amount_ttc)
    fully_invoiced = abs(engagement.amount_ttc - totals.invoiced_ttc) <= tolerance
    if fully_invoiced and totals.paid_ttc >= totals.invoiced_ttc:
        repo.record_transition(ctx.conn, engagement_id, states.Event.PAID, ctx.src)
