"""Invoices, credit notes and their lifecycle statuses applied to the store (SPEC §5).

An invoice is always stored, even when it matches nothing, with its engagement (matched by
``domain.matching``) and the anomalies the invoice alone shows; a second invoice with the same
seller and number is stored as a duplicate of the first and never counted. An invoice that does
not fit its engagement (another currency, seller or buyer: ``Match.excluded``) is stored with
that reason and never counted either. A status for an invoice not received yet is parked.
``close_when_paid`` closes an accepted engagement once it is fully invoiced
(``domain.reconciliation``) and fully paid; an invoice left out of the totals never closes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import store as db
from ..domain import invoices as lifecycle
from ..domain import matching, rules, states
from ..domain.identifiers import party_key
from ..domain.model import InvoiceDocument, InvoiceStatusUpdate
from ..domain.outcomes import DocumentOutcome, Outcome, Waiting
from ..errors import ChorusError, Issue
from .context import Context, rejected


def _candidates(conn: db.Connection, reference: str | None) -> list[matching.Candidate]:
    if reference is None:
        return []
    rows = db.engagements.by_number(conn, reference)
    return [matching.Candidate(r.id, r.issuer_id, r.supplier_id, r.currency) for r in rows]


def _reference(raw: str | None) -> str | None:
    ref = rules.engagement_number(raw)
    return ref if ref is not None and len(ref) <= rules.MAX_NUMBER_LENGTH else None


def apply_invoice(ctx: Context, inv: InvoiceDocument) -> Outcome:
    seller_id, buyer_id = party_key(inv.seller), party_key(inv.buyer)
    number = inv.number.strip()
    reference = _reference(inv.order_reference)
    found = matching.match(reference, inv.seller, inv.buyer, inv.currency, _candidates(ctx.conn, reference))
    anomalies = list(found.anomalies)
    first = db.invoices.first_with(ctx.conn, seller_id, number)
    if first is not None:
        reason = f"same seller and number as the invoice received {first.created_at}"
        anomalies.append(matching.Anomaly("DUPLICATE_INVOICE", reason))
    ttc, ht = inv.totals.amount_ttc, inv.totals.amount_ht
    invoice_id = db.invoices.add(
        ctx.conn,
        file_id=ctx.src.file_id,
        document_sha256=ctx.src.blob_sha256,
        syntax=inv.syntax,
        number=number,
        type=inv.kind,
        type_code=inv.type_code,
        issue_date=inv.issue_date.isoformat() if inv.issue_date else None,
        due_date=inv.due_date.isoformat() if inv.due_date else None,
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
        status=lifecycle.FIRST_STATUS,
        status_at=ctx.src.now,
        duplicate_of=first.id if first is not None else None,
        anomalies=db.invoices.encode([a.as_dict() for a in found.anomalies]),
        excluded=found.excluded,
        identities=db.invoices.encode(
            {"seller": sorted(matching.identities(inv.seller)), "buyer": sorted(matching.identities(inv.buyer))}
        ),
        created_at=ctx.src.now,
    )
    # the first status dates from the invoice's own date when it has one: later statuses dated
    # before chorus-batch received the invoice must still become current.
    deposited = instant(inv.issue_date.isoformat()) if inv.issue_date and inv.issue_date <= ctx.today else ctx.src.now
    db.invoices.add_status(ctx.conn, invoice_id, lifecycle.FIRST_STATUS, deposited, None, ctx.src.file_id, ctx.src.now)
    ctx.released.append(number)  # statuses parked for this invoice may now apply
    if ctx.settings.close_when_paid and found.engagement_id is not None and found.excluded is None:
        _close_if_paid(ctx, found.engagement_id)  # a credit note can settle an engagement too
    warnings = [Issue(a.code, a.reason, severity="warning") for a in anomalies]
    return Outcome(inv.kind, number, DocumentOutcome.INTEGRE, warnings, engagement=reference)


def rematch(conn: db.Connection, reference: str) -> None:
    """Invoices that named ``reference`` before its engagement existed are matched now."""
    for row in db.invoices.unmatched(conn, reference):
        known = db.invoices.identities(row)
        found = matching.match(
            reference,
            matching.known_party(known.get("seller", [])),
            matching.known_party(known.get("buyer", [])),
            row.currency,
            _candidates(conn, reference),
        )
        anomalies = db.invoices.encode([a.as_dict() for a in found.anomalies])
        db.invoices.change(
            conn, row.id, engagement_id=found.engagement_id, anomalies=anomalies, excluded=found.excluded
        )


def apply_status(ctx: Context, upd: InvoiceStatusUpdate) -> Outcome:
    """A lifecycle status for an invoice, found by number (and supplier when given)."""
    number = upd.invoice_number.strip()
    rows = db.invoices.by_number(ctx.conn, number)
    if upd.supplier_id:
        wanted = upd.supplier_id.replace(" ", "")
        rows = [r for r in rows if matching.same_party(_sellers(r), wanted)]
    if not rows:
        return Outcome(upd.kind, number, DocumentOutcome.PARKED, waiting=Waiting("invoice", number))
    if len(rows) > 1:
        sellers = ", ".join(sorted(r.seller_id or "?" for r in rows))
        message = f"invoice {number} exists for several sellers ({sellers}); give supplier_id"
        return rejected(upd, Issue("INVOICE_AMBIGUOUS", message))
    invoice = rows[0]
    at = instant(upd.at) if upd.at else ctx.src.now
    db.invoices.add_status(ctx.conn, invoice.id, upd.status, at, upd.comment, ctx.src.file_id, ctx.src.now)
    if ctx.settings.close_when_paid and invoice.engagement_id is not None and invoice.excluded is None:
        _close_if_paid(ctx, invoice.engagement_id)  # an invoice left out of the totals never closes it
    return Outcome(upd.kind, number, DocumentOutcome.INTEGRE)


def _sellers(row: db.Row[Any]) -> frozenset[str]:
    """Every identifier of a stored invoice's seller, in canonical spelling."""
    keys = [*db.invoices.identities(row).get("seller", []), *([row.seller_id] if row.seller_id else [])]
    return matching.identities(matching.known_party(keys))


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
    engagement = db.engagements.lock(ctx.conn, engagement_id)
    if engagement.status != states.State.PRIS_EN_COMPTE or engagement.amount_ttc is None:
        return
    totals = db.invoices.invoiced_totals(ctx.conn, engagement_id)
    fully_invoiced = ctx.settings.tolerance.within(totals.invoiced_ttc - engagement.amount_ttc, engagement.amount_ttc)
    if fully_invoiced and lifecycle.is_paid_in_full(totals.paid_ttc, totals.invoiced_ttc):
        db.engagements.record_transition(ctx.conn, engagement_id, states.Event.PAID, ctx.src)
