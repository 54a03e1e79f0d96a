"""Generators of invoice lifecycle inputs: CPPStatut XML flows and operator statuses CSVs.

Used by the demo, the tests and the benchmark, like ``generate``. Pure and deterministic: the
output depends only on the arguments.

* ``cppstatut_document`` writes a CPPStatut invoice-status flow (no XML namespace) valid
  against ``schemas/cppstatut/CPPStatut-chorus-batch.xsd``: one envelope (parameters ``DtPrd``
  = the date of the latest status, ``IdFlx`` = ``flow_id``; sender ``AIFE`` / Chorus Pro,
  receiver ``CHBATCH``), then one ``CPPFactureStatutUnitaire`` per update. The supplier is
  identified by SIRET (``TypeIdentifiant`` 1) with its name from ``generate.SUPPLIERS`` when it
  is one of them; the debtor is ``debtor`` (a demo public entity by default). Each record
  carries ``ComplementStatut`` = the status label and, for codes 04-06 (rejections and
  suspension, where Chorus Pro requires a reason), a ``Commentaire``.
* ``statuses_csv`` writes the operator statuses CSV (SPEC §6): header
  ``invoice_number;supplier_id;status;date``, UTF-8 without BOM, ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape as _escape

from .generate import ISSUERS, SUPPLIERS

__all__ = ["STATUS_LABELS", "cppstatut_document", "statuses_csv"]

DEFAULT_FLOW_ID = "CPPSTATUT-DEMO-0001"
STATUS_COLUMNS = ("invoice_number", "supplier_id", "status", "date")

# Our own short labels for the CPPStatut codes chorus-batch maps (French, as the portal speaks).
STATUS_LABELS = {
    "01": "Déposée",
    "02": "En cours d'acheminement",
    "03": "Mise à disposition du destinataire",
    "04": "Rejetée : données d'acheminement erronées",
    "05": "Rejetée",
    "06": "Suspendue",
    "07": "Service fait",
    "08": "Mandatée",
    "09": "Mise à disposition du comptable",
    "10": "Comptabilisée",
    "11": "Mise en paiement",
    "12": "Complétée",
}
_REASONS = {
    "04": "Le code service indiqué n'existe pas pour ce destinataire.",
    "05": "Le montant facturé ne correspond pas au bon de commande.",
    "06": "Pièce justificative manquante : joindre le bon de livraison signé.",
}
_CODE = re.compile(r"[0-9]{2}")
_SIRET = re.compile(r"[0-9]{14}")
_NAMES = {org.siret: org.name for org in SUPPLIERS}


def _x(text: str) -> str:
    return _escape(text)


def _stamp(value: str) -> str:
    """An xs:dateTime from an ISO date-time (a bare date is taken at midnight)."""
    value = value.strip()
    return f"{value}T00:00:00" if len(value) == 10 else value


def cppstatut_document(
    updates: Sequence[tuple[str, str, str, str]],
    *,
    flow_id: str = DEFAULT_FLOW_ID,
    debtor: str = ISSUERS[0].siret,
) -> bytes:
    """A CPPStatut invoice-status flow with one record per ``(invoice number, supplier SIRET,
    CPP code, ISO date-time)``.

    The code is two digits, normally ``"01"``-``"12"``; ``"13"``-``"41"`` are accepted too (valid
    against the schema, rejected by chorus-batch as STATUS_UNKNOWN), which tests use.

    Raises:
        ValueError: no update, a code outside 01-41, or a supplier or debtor that is not 14 digits.
    """
    if not updates:
        raise ValueError("a CPPStatut flow needs at least one status")
    if not _SIRET.fullmatch(debtor):
        raise ValueError(f"debtor {debtor!r} is not a 14-digit SIRET")
    records = []
    for position, (number, siret, code, at) in enumerate(updates, start=1):
        if not _CODE.fullmatch(code) or not 1 <= int(code) <= 41:
            raise ValueError(f"CPPStatut code {code!r} is not 01-41")
        if not _SIRET.fullmatch(siret):
            raise ValueError(f"supplier {siret!r} is not a 14-digit SIRET")
        optional = ""
        if code in STATUS_LABELS:
            optional += f"\n        <ComplementStatut>{_x(STATUS_LABELS[code])}</ComplementStatut>"
        if code in _REASONS:
            optional += f"\n        <Commentaire>{_x(_REASONS[code])}</Commentaire>"
        records.append(
            f"""    <CPPFactureStatutUnitaire NumOrdre="{position}">
      <Fournisseur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>{siret}</Identifiant>
        <RaisonSociale>{_x(_NAMES.get(siret, f"Fournisseur {siret}"))}</RaisonSociale>
        <CodePays>FR</CodePays>
      </Fournisseur>
      <Debiteur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>{debtor}</Identifiant>
      </Debiteur>
      <DonneesStatut>
        <IdStatut>{code}</IdStatut>{optional}
        <Horodatage>{_x(_stamp(at))}</Horodatage>
        <IdFacture>{_x(number)}</IdFacture>
      </DonneesStatut>
    </CPPFactureStatutUnitaire>"""
        )
    produced = max(_stamp(u[3])[:10] for u in updates)
    body = "\n".join(records)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CPPStatut Version="V1_19">
  <Enveloppe>
    <EnveloppeUnitaire NumOrdre="1">
      <Parametres>
        <ParametreIndiv NumOrdre="0001">
          <Code>DtPrd</Code>
          <Valeurparametre>{_x(produced)}</Valeurparametre>
        </ParametreIndiv>
        <ParametreIndiv NumOrdre="0002">
          <Code>IdFlx</Code>
          <Valeurparametre>{_x(flow_id)}</Valeurparametre>
        </ParametreIndiv>
      </Parametres>
      <Partenaires>
        <Recepteur>
          <Id>CHBATCH</Id>
          <Libelle>chorus-batch</Libelle>
        </Recepteur>
        <Emetteur>
          <Id>AIFE</Id>
          <Libelle>Chorus Pro</Libelle>
        </Emetteur>
      </Partenaires>
    </EnveloppeUnitaire>
  </Enveloppe>
  <CPPFactureStatuts compteur="{len(updates)}">
{body}
  </CPPFactureStatuts>
</CPPStatut>
""".encode()


def statuses_csv(rows: Iterable[Sequence[str]], sep: str = ";") -> bytes:
    """The operator statuses CSV for ``rows`` of ``(invoice_number, supplier_id, status, date)``
    (status a name or a code; any cell may be blank)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    writer.writerow(STATUS_COLUMNS)
    for row in rows:
        writer.writerow(list(row))
    return out.getvalue().encode("utf-8")
