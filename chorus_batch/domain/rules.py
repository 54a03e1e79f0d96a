"""Business rules applied after XSD validation (SPEC §2). Each failure is an ``Issue`` with a
stable code; the caller decides to reject. Pure: the current date is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from iso4217 import Currency

from ..errors import Issue
from .identifiers import check_party, party_key
from .model import (
    CancellationDocument,
    ChangeDocument,
    Document,
    InvoiceDocument,
    InvoiceStatusUpdate,
    OrderDocument,
    ResponseDocument,
    Totals,
)
from .pricing import amount_problem, check_lines

PLACEHOLDERS = frozenset({"NA", "N/A", "-", ""})
MAX_NUMBER_LENGTH = 50
EARLIEST = date(2000, 1, 1)
CENT = Decimal("0.01")
MAX_INVOICE_NUMBER_LENGTH = 100
# Guidelines whose schema has no element for the prepaid amount (BT-113) or the rounding (BT-114):
# their amount due may differ from the total with VAT without the document being able to say why.
NO_PREPAID_PROFILES = frozenset({"urn:factur-x.eu:1p0:minimum"})
_CURRENCIES = frozenset(c.code for c in Currency)


def engagement_number(raw: str | None) -> str | None:
    """The engagement number in ``raw`` after trimming, or ``None`` for blanks and placeholders
    (``NA``, ``n/a``, ``-``). Length is not checked here.

    >>> engagement_number("  EJ-2026-0042 "), engagement_number("n/a"), engagement_number(None)
    ('EJ-2026-0042', None, None)
    """
    if raw is None:
        return None
    value = raw.strip()
    return None if value.upper() in PLACEHOLDERS else value


def number_of(doc: Document) -> str:
    """The engagement number a document is about (for an invoice: its own number; for a
    status: the invoice's number); ``""`` when it names none."""
    if isinstance(doc, InvoiceDocument):
        return doc.number.strip()
    if isinstance(doc, InvoiceStatusUpdate):
        return doc.invoice_number.strip()
    if isinstance(doc, OrderDocument):
        raw = doc.number
    elif isinstance(doc, ChangeDocument):
        raw = doc.order.number
    else:
        raw = doc.order_number
    return engagement_number(raw) or ""


def check(
    doc: Document,
    today: date,
) -> list[Issue]:
    """The rules for any document kind, those that need nothing but the document (whether its
    engagement exists, and in which state, is for the store to say; a lifecycle status was
    checked by its reader)."""
    if isinstance(doc, InvoiceStatusUpdate):
        return []
    if isinstance(doc, OrderDocument):
        return check_order(doc, today)
    if isinstance(doc, InvoiceDocument):
        return check_invoice(doc, today)
    if isinstance(doc, ChangeDocument):
        issues = check_order(doc.order, today)
        if doc.line_changes:  # a partial change states totals for the whole order: checked after merging
            issues = [i for i in issues if i.code != "TOTALS_MISMATCH"]
        return issues
    issues = []
    for role, party in (("issuer", doc.issuer), ("supplier", doc.supplier)):
        if party is not None:
            issues.extend(check_party(party, role))
    if isinstance(doc, ResponseDocument):
        issues.extend(check_lines(doc.lines, "answer"))
    return issues + check_reference(doc)


ANSWER_CODES = ("AP", "RE", "CA", "AB")


def check_reference(doc: ResponseDocument | CancellationDocument) -> list[Issue]:
    """What an answer or a cancellation must say before its engagement is looked for: a usable
    engagement number; for an answer, a known code and, for a refusal, a reason. The first
    failing rule only (one issue at most): the others depend on it."""
    what = "answer" if isinstance(doc, ResponseDocument) else "cancellation"
    number = number_of(doc)
    if not number:
        return [Issue("ENGAGEMENT_NUMBER_INVALID", f"the {what} does not name a usable engagement number")]
    if not isinstance(doc, ResponseDocument):
        return []
    if doc.code not in ANSWER_CODES:
        return [Issue("RESPONSE_CODE_INVALID", f"answer code {doc.code!r} is not AP, RE, CA or AB")]
    if doc.code == "RE" and not (doc.reason or "").strip():
        return [Issue("REASON_REQUIRED", f"refusal of engagement {number} without a reason; nothing changed")]
    for line in doc.lines:
        for label, value in (("quantity", line.quantity), ("unit price", line.unit_price)):
            if value is not None and (problem := amount_problem(value)):
                message = f"line {line.line_id} of the answer to {number}: {label} {value} {problem}; nothing changed"
                return [Issue("AMOUNT_INVALID", message)]
    return []


def check_order(doc: OrderDocument, today: date) -> list[Issue]:
    """Every rule an order must meet before it is stored; empty list when it is acceptable."""
    issues: list[Issue] = []
    number = engagement_number(doc.number)
    if number is None or len(number) > MAX_NUMBER_LENGTH:
        issues.append(
            Issue(
                "ENGAGEMENT_NUMBER_INVALID",
                f"engagement number {doc.number.strip()[:60]!r} must be 1 to {MAX_NUMBER_LENGTH} characters "
                "and not a placeholder",
                xpath=doc.number_xpath,
            )
        )
    for role, party in (("issuer", doc.issuer), ("supplier", doc.supplier)):
        if party_key(party) is None:
            issues.append(Issue("PARTY_MISSING", f"the {role} has no identifier"))
        issues.extend(check_party(party, role))
    if doc.invoicee is not None:
        issues.extend(check_party(doc.invoicee, "invoice recipient"))
    issues.extend(_check_currency(doc))
    issues.extend(_check_signs(doc))
    issues.extend(check_lines(doc.lines, "order"))
    issues.extend(_check_totals(doc.totals, [line.net_amount for line in doc.lines]))
    issues.extend(
        _check_dates(
            (("issue date", doc.issue_date), ("delivery date", doc.delivery.end if doc.delivery else None)), today
        )
    )
    return issues


def _check_signs(doc: OrderDocument) -> list[Issue]:
    """An order (or the order a change states) orders nothing negative: no line quantity or
    price, no sum of line amounts and no amount due below zero (Peppol BIS Ordering rules
    R004, R005, R007 and R006 of T01 and T114; an engagement's totals are never negative)."""
    found = []
    for line in doc.lines:
        for label, value in (("quantity", line.quantity), ("unit price", line.unit_price)):
            if value is not None and value < 0:
                found.append(
                    Issue("AMOUNT_INVALID", f"line {line.line_id}: {label} {value} is negative", xpath=line.xpath)
                )
    t = doc.totals
    for label, value in (
        ("sum of line amounts", t.line_total),
        ("total without VAT", t.tax_exclusive),
        ("total with VAT", t.tax_inclusive),
        ("amount due", t.payable),
    ):
        if value is not None and value < 0:
            found.append(Issue("AMOUNT_INVALID", f"{label} {value} is negative"))
    return found


def check_invoice(doc: InvoiceDocument, today: date) -> list[Issue]:
    """Every rule an invoice or a credit note must meet before it is stored.

    The order reference (BT-13) is not checked: an invoice without one, or with a placeholder
    (``NA``, ``n/a``), is a matching anomaly for the reconciliation, not a reason to reject it.
    """
    issues: list[Issue] = []
    number = doc.number.strip()
    if not number or len(number) > MAX_INVOICE_NUMBER_LENGTH:
        issues.append(
            Issue(
                "INVOICE_NUMBER_INVALID",
                f"invoice number {number[:60]!r} must be 1 to {MAX_INVOICE_NUMBER_LENGTH} characters",
                xpath=doc.number_xpath,
            )
        )
    for role, party in (("seller", doc.seller), ("buyer", doc.buyer)):
        # An invoice is kept whatever its parties look like (it is reconciled, not routed):
        # a bad SIRET is a warning here, while it rejects an order.
        issues.extend(replace(i, severity="warning") for i in check_party(party, role))
    issues.extend(_check_currency(doc))
    # An invoice is the seller's claim and is kept: a line whose amount disagrees with its quantity,
    # price and base quantity is flagged for the accountant (its stated amount is what the totals,
    # checked below, sum), not a reason to lose the document (docs/formats.md, "Price basis").
    issues.extend(replace(i, severity="warning") for i in check_lines(doc.lines, doc.kind.replace("_", " ")))
    issues.extend(
        _check_totals(
            doc.totals, [line.net_amount for line in doc.lines], check_payable=doc.profile not in NO_PREPAID_PROFILES
        )
    )
    issues.extend(_check_dates((("issue date", doc.issue_date),), today))
    return issues


def _check_currency(doc: OrderDocument | InvoiceDocument) -> list[Issue]:
    if doc.currency is None:
        return []
    if doc.currency not in _CURRENCIES:
        return [Issue("CURRENCY_INVALID", f"currency {doc.currency!r} is not an ISO 4217 code")]
    others = sorted(set(doc.amount_currencies) - {doc.currency})
    if others:
        return [Issue("CURRENCY_INVALID", f"amounts in {', '.join(others)} in a document in {doc.currency}")]
    return []


def _mismatch(label: str, expected: Decimal, found: Decimal) -> Issue:
    return Issue("TOTALS_MISMATCH", f"{label}: expected {expected:.2f} from the lines, found {found:.2f}")


def _check_totals(t: Totals, amounts: Sequence[Decimal | None], check_payable: bool = True) -> list[Issue]:
    """``t`` against itself and the line net ``amounts`` (to the cent). ``check_payable=False``
    skips "amount due = total with VAT - prepaid + rounding" for documents that cannot state the
    prepaid amount."""
    issues = []
    if t.line_total is not None and amounts and all(a is not None for a in amounts):
        expected = sum((a for a in amounts if a is not None), Decimal(0))  # all of them (checked above)
        if abs(expected - t.line_total) >= CENT:
            issues.append(_mismatch("sum of line amounts", expected, t.line_total))
    if t.line_total is not None and t.tax_exclusive is not None:
        expected = t.line_total - (t.allowances or 0) + (t.charges or 0)
        if abs(expected - t.tax_exclusive) >= CENT:
            issues.append(_mismatch("total without VAT (lines - allowances + charges)", expected, t.tax_exclusive))
    if t.tax_exclusive is not None and t.tax_total is not None and t.tax_inclusive is not None:
        expected = t.tax_exclusive + t.tax_total
        if abs(expected - t.tax_inclusive) >= CENT:
            issues.append(_mismatch("total with VAT (without VAT + VAT)", expected, t.tax_inclusive))
    if check_payable and t.tax_inclusive is not None and t.payable is not None:
        expected = t.tax_inclusive - (t.prepaid or 0) + (t.rounding or 0)
        if abs(expected - t.payable) >= CENT:
            issues.append(_mismatch("amount due (with VAT - prepaid + rounding)", expected, t.payable))
    return issues


def _check_dates(dates: Iterable[tuple[str, date | None]], today: date) -> list[Issue]:
    """Each ``(label, date)`` given must lie between 2000 and ten years from ``today``."""
    latest = (
        today.replace(year=today.year + 10)
        if not (today.month == 2 and today.day == 29)
        else date(today.year + 10, 2, 28)
    )
    issues = []
    for label, value in dates:
        if value is not None and not (EARLIEST <= value <= latest):
            issues.append(
                Issue("DATE_INVALID", f"{label} {value.isoformat()} is outside {EARLIEST.year}..{latest.year}")
            )
    return issues
