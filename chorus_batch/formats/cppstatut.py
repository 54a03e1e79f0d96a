"""CPPStatut: the invoice lifecycle flow Chorus Pro sends (AIFE "CPPStatutPivot" V1.19).

Owns: recognising a CPPStatut document, and mapping its invoice-status records to
``InvoiceStatusUpdate``; registers ``CppStatut`` (syntax ``cppstatut``). The schema is ours,
``schemas/cppstatut/CPPStatut-chorus-batch.xsd`` (registry name ``cppstatut``); it covers the
invoice-status branch ``CPPFactureStatuts`` only.

The documents have **no XML namespace**: the root is the bare element ``CPPStatut``. After its
``Enveloppe`` it holds either ``CPPFactureStatuts`` (statuses of invoices, codes 01-41: what
chorus-batch reads) or ``CPPFluxStatuts`` (statuses of a deposited flow, codes 90-96: not
integrated; ``check_supported`` reports it as ``DOCUMENT_NOT_SUPPORTED``, before XSD validation).

One ``CPPFactureStatutUnitaire`` record = one update:

* ``status``: ``DonneesStatut/IdStatut`` through ``CPP_STATUS_CODES`` (01-12). The code is an
  integer as in the AIFE schema (``7`` = ``07``). Codes 13-41 are schema-valid but have no
  meaning chorus-batch knows: that record alone becomes a ``DocumentRejected`` (STATUS_UNKNOWN).
* ``invoice_number``: ``DonneesStatut/IdFacture``, trimmed.
* ``supplier_id``: ``Fournisseur/Identifiant`` written as SPEC §10 writes party ids, by
  ``Fournisseur/TypeIdentifiant``: 1 -> the bare 14-digit SIRET (anything else than 14 digits is
  SIRET_INVALID; the check digit is left to the business rules: Chorus Pro's qualification
  platform issues SIRETs that fail it); otherwise ``SCHEME:VALUE`` with the schemes of
  ``SUPPLIER_SCHEMES``: 2 ``VAT`` (as the rest of chorus-batch writes VAT numbers, so SIREN
  comparison works), 3 ``HORS_UE``, 4 ``RIDET``, 5 ``TAHITI``, 6 ``EN_COURS_IMMATRICULATION``,
  7 ``PARTICULIER``. A blank identifier gives ``None``.
* ``at``: ``DonneesStatut/Horodatage`` (when the status was produced), normalised to ISO 8601 by
  ``datetime.isoformat`` (offset kept, zero fractions dropped); without it ``DateFacture``.
  A value Python cannot represent (year 10000, ``24:00:00``) is DATE_INVALID for that record.
* ``comment``: ``Commentaire`` then ``ComplementStatut``, joined by `` - `` (one of them when
  they are equal or the other is blank).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from lxml import etree

from ..domain.model import Document, InvoiceStatusUpdate
from ..errors import DocumentRejected, Issue
from .common import compact, cpp_status, each
from .registry import REGISTRY, Recognised
from .xml import path_of, sourceline, text

ROOT = "CPPStatut"  # no namespace: the Clark name is the bare local name
ROOT_TAGS: tuple[str, ...] = (ROOT,)
SCHEMA = "cppstatut"
SYNTAX = "cppstatut"
KIND = "invoice_status"

INVOICE_BRANCH = "CPPFactureStatuts"
FLOW_BRANCH = "CPPFluxStatuts"
RECORD = "CPPFactureStatutUnitaire"

SIRET_KIND = "1"
# Fournisseur/TypeIdentifiant -> the scheme written before the value (SPEC §10 "SCHEME:VALUE")
SUPPLIER_SCHEMES = {
    "2": "VAT",  # TVA intracommunautaire
    "3": "HORS_UE",  # pays hors UE
    "4": "RIDET",  # New Caledonia company register
    "5": "TAHITI",  # French Polynesia company number
    "6": "EN_COURS_IMMATRICULATION",  # tiers en cours d'immatriculation
    "7": "PARTICULIER",  # tiers physique
}
MAX_CODE = 41  # the AIFE list goes from 01 to 41
_INTEGER = re.compile(r"\+?0*[0-9]{1,9}")  # xs:nonNegativeInteger as it can appear here (ASCII digits)


def matches(root: etree._Element) -> bool:
    """True when ``root`` is a CPPStatut document (either branch: see ``check_supported``)."""
    return isinstance(root.tag, str) and root.tag in ROOT_TAGS


def check_supported(root: etree._Element) -> None:
    """Refuse a CPPStatut that carries flow statuses (``CPPFluxStatuts``) instead of invoice statuses.

    Raises:
        DocumentRejected: DOCUMENT_NOT_SUPPORTED.
    """
    if root.find(FLOW_BRANCH) is not None and root.find(INVOICE_BRANCH) is None:
        raise DocumentRejected.one(
            "DOCUMENT_NOT_SUPPORTED",
            "CPPStatut flow statuses (CPPFluxStatuts, codes 90-96) are not integrated; "
            "chorus-batch reads invoice statuses (CPPFactureStatuts)",
            line=sourceline(root),
            xpath=f"/{ROOT}/{FLOW_BRANCH}",
        )


def flow_id(root: etree._Element) -> str | None:
    """The flow identifier of the envelope (parameter ``IdFlx``), for the integration report."""
    for param in root.iterfind("Enveloppe/EnveloppeUnitaire/Parametres/ParametreIndiv"):
        if text(param.find("Code")) == "IdFlx":
            return text(param.find("Valeurparametre"))
    return None


def parse(root: etree._Element) -> list[InvoiceStatusUpdate | DocumentRejected]:
    """One ``InvoiceStatusUpdate`` per status record, or a ``DocumentRejected`` in its place.

    Meant for a document valid against the ``cppstatut`` schema, but safe on any tree: whatever
    is missing is reported, never raised as anything else than ``DocumentRejected``.

    Raises:
        DocumentRejected: the whole document, when it holds no invoice-status record at all
        (DOCUMENT_NOT_SUPPORTED for a flow-status document, else XSD_INVALID).
    """
    check_supported(root)
    records = root.findall(f"{INVOICE_BRANCH}/{RECORD}")
    if not records:
        raise DocumentRejected.one(
            "XSD_INVALID", f"no {INVOICE_BRANCH}/{RECORD} in the document", line=sourceline(root)
        )
    return each(records, _record)


def _record(record: etree._Element) -> InvoiceStatusUpdate:
    data = record.find("DonneesStatut")
    if data is None:
        raise _reject("XSD_INVALID", "the status record has no DonneesStatut", record)
    number = text(data.find("IdFacture"))
    if number is None:
        raise _reject("XSD_INVALID", "the status record names no invoice (IdFacture)", data.find("IdFacture"), record)
    status = _status(data, number)
    return InvoiceStatusUpdate(
        syntax=SYNTAX,
        invoice_number=number,
        supplier_id=_supplier_id(record.find("Fournisseur"), number, record),
        status=status,
        at=_at(data, number),
        comment=_comment(data),
    )


def _status(data: etree._Element, number: str) -> str:
    node = data.find("IdStatut")
    raw = text(node)
    value = _integer(raw)
    if value is None or not 1 <= value <= MAX_CODE:
        raise _reject(
            "STATUS_UNKNOWN",
            f"invoice {number!r}: IdStatut {(raw or '')[:10]!r} is not a CPPStatut code 01-41",
            node,
            data,
        )
    status = cpp_status(value)
    if status is None:
        raise _reject(
            "STATUS_UNKNOWN",
            f"invoice {number!r}: status code {value:02d} has no meaning in chorus-batch (it maps codes 01-12)",
            node,
            data,
        )
    return status


def _supplier_id(party: etree._Element | None, number: str, record: etree._Element) -> str | None:
    if party is None:
        return None
    value = text(party.find("Identifiant"))
    if value is None:
        return None
    kind_value = _integer(text(party.find("TypeIdentifiant")))
    kind = str(kind_value) if kind_value is not None else None
    if kind == SIRET_KIND:
        siret = compact(value).replace(".", "")
        if len(siret) != 14 or not siret.isdigit():
            raise _reject(
                "SIRET_INVALID",
                f"invoice {number!r}: supplier SIRET {value[:20]!r} is not 14 digits",
                party.find("Identifiant"),
                record,
            )
        return siret
    scheme = SUPPLIER_SCHEMES.get(kind or "")
    written = compact(value)
    if scheme == "VAT":
        written = written.upper()
    return f"{scheme}:{written}" if scheme else written


def _at(data: etree._Element, number: str) -> str | None:
    stamp = data.find("Horodatage")
    raw = text(stamp)
    if raw is not None:
        try:
            return datetime.fromisoformat(raw).isoformat()
        except ValueError:
            raise _reject(
                "DATE_INVALID", f"invoice {number!r}: Horodatage {raw[:40]!r} is not a usable date-time", stamp, data
            ) from None
    day = data.find("DateFacture")
    raw = text(day)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise _reject(
            "DATE_INVALID", f"invoice {number!r}: DateFacture {raw[:20]!r} is not a calendar date", day, data
        ) from None


def _integer(raw: str | None) -> int | None:
    if raw is None or not _INTEGER.fullmatch(raw):
        return None
    return int(raw)


def _comment(data: etree._Element) -> str | None:
    parts: list[str] = []
    for name in ("Commentaire", "ComplementStatut"):
        value = text(data.find(name))
        if value is not None and value not in parts:
            parts.append(value)
    return " - ".join(parts) or None


def _reject(
    code: str, message: str, node: etree._Element | None, fallback: etree._Element | None = None
) -> DocumentRejected:
    where = node if node is not None else fallback
    if where is None:
        return DocumentRejected([Issue(code, message)])
    return DocumentRejected([Issue(code, message, sourceline(where), path_of(where))])


class CppStatut:
    """CPPStatut invoice-status flows (``cppstatut``)."""

    name = SYNTAX
    markers = ((b"<CPPStatut", KIND),)
    roots = ROOT_TAGS

    def schema(self, root: etree._Element) -> str:
        return SCHEMA

    def identify(self, root: etree._Element) -> Recognised:
        check_supported(root)  # the flow-status branch is not integrated
        return Recognised(KIND, SYNTAX, SCHEMA, flow_id(root), root)

    def read(self, doc: Recognised) -> list[Document | DocumentRejected]:
        assert doc.root is not None
        return list(parse(doc.root))


REGISTRY.register(CppStatut())
