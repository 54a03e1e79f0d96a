"""The invoice lifecycle (SPEC §5): the statuses an invoice goes through on the portal, and
which invoices count toward an engagement's totals.

Counted: not a duplicate (same seller and number as an earlier invoice) and not ``REJETEE``.
A credit note counts negative (the store keeps every amount positive; the kind gives the
sign). Paid: ``MISE_EN_PAIEMENT``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class InvoiceStatus(StrEnum):
    """Chorus Pro's invoice statuses, in lifecycle order (CPPStatut codes 01 to 12)."""

    DEPOSEE = "DEPOSEE"
    EN_COURS_ACHEMINEMENT = "EN_COURS_ACHEMINEMENT"
    MISE_A_DISPOSITION = "MISE_A_DISPOSITION"
    A_RECYCLER = "A_RECYCLER"
    REJETEE = "REJETEE"
    SUSPENDUE = "SUSPENDUE"
    SERVICE_FAIT = "SERVICE_FAIT"
    MANDATEE = "MANDATEE"
    MISE_A_DISPOSITION_COMPTABLE = "MISE_A_DISPOSITION_COMPTABLE"
    COMPTABILISEE = "COMPTABILISEE"
    MISE_EN_PAIEMENT = "MISE_EN_PAIEMENT"
    COMPLETEE = "COMPLETEE"


# CPPStatut codes 01-12 (AIFE lifecycle format)
CPP_STATUS_CODES = {f"{i:02d}": status.value for i, status in enumerate(InvoiceStatus, start=1)}

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
FIRST_STATUS = InvoiceStatus.DEPOSEE  # every invoice has it from its receipt
NOT_COUNTED = InvoiceStatus.REJETEE
PAID = InvoiceStatus.MISE_EN_PAIEMENT


def counts(status: str, duplicate: bool) -> bool:
    """Whether an invoice counts toward its engagement's totals."""
    return not duplicate and status != NOT_COUNTED


def is_paid_in_full(paid: Decimal, invoiced: Decimal) -> bool:
    """Whether what was paid covers what was invoiced (both net of credit notes)."""
    return paid >= invoiced
