"""Store rows → the JSON shapes of SPEC §10 (``orders search``, ``orders show``, ``files list``).

These shapes are a contract with other tools: keys change only with a documented migration.
Money is a string with two decimals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import store as db
from .domain import invoices as lifecycle
from .domain import states
from .domain.model import OrderLine, Totals
from .domain.reconciliation import Tolerance

CENTS = Decimal("0.01")


def money(value: Decimal | str | None) -> str | None:
    """``Decimal('727.2')`` → ``'727.20'`` (half-up); ``None`` stays ``None``."""
    if value is None:
        return None
    return str(Decimal(value).quantize(CENTS, rounding=ROUND_HALF_UP))


def number(value: Decimal | None) -> str | None:
    """A quantity or price without trailing zeros (``Decimal('6.000000')`` → ``'6'``)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text


def engagement_summary(row: Any) -> dict[str, Any]:
    return {
        "number": row.number,
        "issuer_id": row.issuer_id,
        "issuer_name": row.issuer_name,
        "supplier_id": row.supplier_id,
        "supplier_name": row.supplier_name,
        "status": row.status,
        "amount_ht": money(row.amount_ht),
        "amount_ttc": money(row.amount_ttc),
        "currency": row.currency,
        "created_at": row.created_at,
    }


def engagement_detail(conn: db.Connection, row: Any, tolerance: Tolerance) -> dict[str, Any]:
    """Everything the portal's "Consulter" shows about one engagement."""
    out = engagement_summary(row)
    all_versions = db.engagements.versions(conn, row.id)
    current = next(v for v in all_versions if v.version == row.current_version)
    doc = json.loads(current.document)
    out.update(
        {
            "label": states.LABELS[states.State(row.status)],
            "version": row.current_version,
            "syntax": current.syntax,
            "issue_date": doc.get("issue_date"),
            "type_code": doc.get("type_code"),
            "validity_end": doc.get("validity_end"),
            "notes": doc.get("notes", []),
            "service": doc.get("buyer_reference"),
            "contract_reference": doc.get("contract_reference"),
            "payment": {
                "terms": doc.get("payment_terms"),
                "means": doc.get("payment_means"),
                "amount_ht": money(current.amount_ht),
                "tax": money(Decimal(doc["totals"]["tax_total"])) if doc.get("totals", {}).get("tax_total") else None,
                "amount_ttc": money(current.amount_ttc),
            },
            "issuer": doc.get("issuer"),
            "recipient": doc.get("supplier"),
            "invoice_recipient": doc.get("invoicee"),
            "delivery": doc.get("delivery"),
            "lines": [
                {
                    "line_id": ln.line_id,
                    "name": ln.name,
                    "quantity": number(ln.quantity),
                    "unit": ln.unit,
                    "unit_price": number(ln.unit_price),
                    "base_quantity": number(ln.base_quantity),
                    "net_amount": money(ln.net_amount),
                    "tax_rate": number(ln.tax_rate),
                }
                for ln in db.engagements.lines(conn, current.id)
            ],
            "attachments": [
                {
                    "id": a.ident,
                    "filename": a.filename,
                    "mime": a.mime,
                    "description": a.description,
                    "uri": a.uri,
                    "embedded": a.blob_sha256 is not None,
                }
                for a in db.engagements.attachments(conn, current.id)
            ],
            "versions": [
                {
                    "version": v.version,
                    "kind": v.kind,
                    "syntax": v.syntax,
                    "issue_date": v.issue_date,
                    "amount_ht": money(v.amount_ht),
                    "amount_ttc": money(v.amount_ttc),
                    "created_at": v.created_at,
                }
                for v in all_versions
            ],
            "history": [
                {
                    "at": h.at,
                    "from": h.from_status,
                    "to": h.to_status,
                    "event": h.event,
                    "actor": h.actor,
                    "source": h.source_name or "cli",
                    "version": h.version,
                }
                for h in db.engagements.history(conn, row.id)
            ],
            "answers": [
                {
                    "at": a.at,
                    "code": a.code,
                    "reason": a.reason,
                    "channel": a.channel,
                    "partner": a.partner,
                    "outcome": a.outcome,
                    "source": a.source_name or "cli",
                    "response_file": a.response_file,
                }
                for a in db.answers.of_engagement(conn, row.id)
            ],
            "allowed_actions": [
                e.value for e in states.allowed_events(states.State(row.status)) if states.ACTORS[e] == "supplier"
            ],
            "invoices": [
                {
                    "number": i.number,
                    "type": i.type,
                    "issue_date": i.issue_date,
                    "seller_id": i.seller_id,
                    "amount_ht": money(i.amount_ht),
                    "amount_ttc": money(i.amount_ttc),
                    "currency": i.currency,
                    "status": i.status,
                    "status_at": i.status_at,
                    "counted": i.excluded is None and lifecycle.counts(i.status, duplicate=i.duplicate_of is not None),
                    "excluded": i.excluded,
                    "anomalies": [a["code"] for a in db.invoices.anomalies(i)]
                    + (["DUPLICATE_INVOICE"] if i.duplicate_of else []),
                }
                for i in db.invoices.of_engagement(conn, row.id)
            ],
            "totals": _totals(conn, row, tolerance),
        }
    )
    return out


def _totals(conn: db.Connection, row: Any, tolerance: Tolerance) -> dict[str, str | None]:
    sums = db.invoices.invoiced_totals(conn, row.id)
    ordered = row.amount_ttc if row.amount_ttc is not None else Decimal(0)  # unknown: as the reports do
    return {
        "currency": row.currency,  # the engagement's: invoices in another currency are not in these sums
        "invoiced_ttc": money(sums.invoiced_ttc),
        "credit_notes_ttc": money(sums.credit_notes_ttc),
        "paid_ttc": money(sums.paid_ttc),
        "remaining_ttc": money(row.amount_ttc - sums.invoiced_ttc) if row.amount_ttc is not None else None,
        "match_status": tolerance.matcher()(sums.invoice_count, sums.invoiced_ttc, ordered),
    }


def file_summary(row: Any) -> dict[str, Any]:
    return {
        "file": row.name,
        "status": row.status,
        "kinds": [k for k in row.kinds.split(",") if k],
        "errors": json.loads(row.errors),
    }


def file_detail(row: Any) -> dict[str, Any]:
    out = file_summary(row)
    out.update(
        {
            "partner": row.partner,
            "sha256": row.sha256,
            "size": row.size,
            "received_at": row.received_at,
            "processed_at": row.processed_at,
            "stored_as": row.stored_as,
            "ack": row.ack,
        }
    )
    return out


def safe_name(name: str) -> str:
    """A file name that cannot leave the folder it is written to."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    return cleaned or "file"


def export_files(conn: db.Connection, row: Any) -> list[tuple[str, bytes]]:
    """The portal's "Télécharger": the original document of every version (named by its
    syntax: .xml, .pdf or .csv) and every embedded attachment, as (safe file name, bytes)."""
    files = []
    for version in db.engagements.versions(conn, row.id):
        if version.document_sha256:
            data = db.files.get_blob(conn, version.document_sha256) or b""
            # the received file: a PDF, a bundle the document came in, or the document itself
            magic = {b"%PDF": "pdf", b"PK\x03\x04": "zip", b"\x1f\x8b": "gz"}
            ext = next((e for m, e in magic.items() if data.startswith(m)), "csv" if version.syntax == "csv" else "xml")
            files.append((safe_name(f"{row.number}.v{version.version}.{ext}"), data))
        for att in db.engagements.attachments(conn, version.id):
            if att.blob_sha256:
                name = att.filename or f"{att.ident or 'attachment'}.bin"
                files.append((safe_name(f"v{version.version}-{name}"), db.files.get_blob(conn, att.blob_sha256) or b""))
    return files


def amendment(
    lines_before: Sequence[OrderLine],
    lines_after: Sequence[OrderLine],
    totals_before: Totals,
    totals_after: Totals,
    currency: str | None,
) -> dict[str, Any]:
    """What an answer with changes (``orders modify``) does to an engagement's lines and totals,
    before → after, as it shows it before asking: one row a line (``after`` ``None``: dropped;
    ``before`` ``None``: added), each value a pair of texts; the totals HT, VAT and TTC."""

    def line(ln: OrderLine | None) -> dict[str, str | None] | None:
        if ln is None:
            return None
        return {
            "quantity": number(ln.quantity),
            "unit": ln.unit,
            "unit_price": number(ln.unit_price),
            "base_quantity": number(ln.base_quantity),
            "net_amount": money(ln.net_amount),
        }

    after = {ln.line_id: ln for ln in lines_after}
    rows = [
        {"line_id": ln.line_id, "name": ln.name, "before": line(ln), "after": line(after.pop(ln.line_id, None))}
        for ln in lines_before
    ]
    rows += [{"line_id": ln.line_id, "name": ln.name, "before": None, "after": line(ln)} for ln in after.values()]
    return {
        "currency": currency,
        "lines": rows,
        "totals": {
            key: {"before": money(getattr(totals_before, attr)), "after": money(getattr(totals_after, attr))}
            for key, attr in (("ht", "amount_ht"), ("vat", "tax_total"), ("ttc", "amount_ttc"))
        },
    }
