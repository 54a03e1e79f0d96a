"""Demo material: realistic French public-procurement orders and answers (``generate``),
invoices, credit notes and Factur-X PDFs (``invoices``), CPPStatut flows and statuses CSVs
(``lifecycle``); ``waves`` is what the ``demo`` command drops in the inbox, wave after wave."""

from __future__ import annotations


def waves() -> list[tuple[str, list[tuple[str, bytes]]]]:
    """The demo's three waves of files, each to be run before the next is dropped."""
    from .generate import demo_answers, demo_files
    from .invoices import demo_invoices

    return [
        ("orders", demo_files()),
        ("answers, changes and cancellations", demo_answers()),
        ("invoices, credit notes and invoice statuses", demo_invoices()),
    ]
