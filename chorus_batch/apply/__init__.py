"""Documents applied to engagements, one at a time, inside the caller's transaction: orders,
changes and cancellations (``orders``), supplier answers (``answers``), invoices and their
statuses (``invoices``). Files (the intake) and the operator's commands go through ``apply``,
so the rules, the history and the emitted order responses are the same whichever way a
document comes. Nothing here touches files: order responses are collected in
``Context.emitted`` and written by the caller once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import store as db
from ..domain import states
from ..domain.model import (
    CancellationDocument,
    ChangeDocument,
    Document,
    InvoiceDocument,
    InvoiceStatusUpdate,
    OrderDocument,
    ResponseDocument,
)
from ..domain.outcomes import Outcome
from ..domain.rules import number_of
from ..errors import ChorusError, Issue
from .answers import apply_response
from .context import Context, Emitted, rejected
from .invoices import apply_invoice, apply_status
from .orders import apply_cancellation, apply_change, apply_order

__all__ = ["HANDLERS", "Context", "Emitted", "apply", "expect"]

# the handler of each kind of document; a document of another type is a programming error
HANDLERS: dict[type, Callable[[Context, Any], Outcome]] = {
    OrderDocument: apply_order,
    ChangeDocument: apply_change,
    CancellationDocument: apply_cancellation,
    ResponseDocument: apply_response,
    InvoiceDocument: apply_invoice,
    InvoiceStatusUpdate: apply_status,
}


def expect(conn: db.Connection, docs: Iterable[Document]) -> None:
    """Tell the store, before a batch's documents are applied one by one in its transaction,
    what they will look up, for it to find at once what it can: the engagements of its orders
    (``store.engagements.expect``) and the invoices that named them first (``rematch``)."""
    numbers = [number_of(d) for d in docs if isinstance(d, OrderDocument)]
    db.engagements.expect(conn, numbers)
    db.invoices.expect_unmatched(conn, numbers)


def apply(ctx: Context, doc: Document) -> Outcome:
    """Apply one document; the outcome says INTEGRE, REJETE (with errors), PARKED or DUPLICATE.
    Errors found before anything is written leave the store untouched; a REJETE outcome after
    writes must be rolled back by the caller (the intake takes a savepoint per document).

    Raises:
        TypeError: no handler for this type of document.
    """
    handler = HANDLERS.get(type(doc))
    if handler is None:
        raise TypeError(f"no handler for a {type(doc).__name__}")
    try:
        return handler(ctx, doc)
    except states.TransitionNotAllowed as exc:
        return rejected(doc, Issue("TRANSITION_NOT_ALLOWED", exc.message))
    except ChorusError as exc:
        return rejected(doc, Issue(exc.code, exc.message))
