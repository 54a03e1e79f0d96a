"""Matching an invoice to its engagement (SPEC §5), as pure functions.

An engagement is an issuer plus a number. An invoice names the number in BT-13 and usually
its buyer and seller; parties are the same when they share an identifier in its canonical
spelling (``identifiers.canonical``: ``0088`` and ``GLN`` are one scheme), SIRET / SIREN /
French VAT numbers being compared through their SIREN (SPEC §10).

``match`` decides which engagement an invoice belongs to and the anomalies that can be told
from the invoice alone. Anomalies that depend on what happens later — the engagement's state,
duplicates, over-invoicing — are computed by the reports from the store, so they are always
current (``ANOMALIES`` lists all of them, with the reason an accountant reads).

An invoice counts toward its engagement's totals only when it fits it: its currency is the
engagement's, its seller is the engagement's supplier and its buyer the engagement's issuer
(an invoice naming no seller or no buyer identifier does not show that it fits).
``Match.excluded`` is the code of the first misfit (``EXCLUDING`` order), stored on the invoice
and read by the store's one counting rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import CODES
from .identifiers import SIREN_SCHEME, canonical, party_key, siren_key, siret_of
from .model import Party, PartyId

ANOMALY_CODES = (
    "NO_ENGAGEMENT",
    "UNKNOWN_ENGAGEMENT",
    "AMBIGUOUS_ENGAGEMENT",
    "ENGAGEMENT_NOT_ACCEPTED",
    "SELLER_MISMATCH",
    "BUYER_MISMATCH",
    "CURRENCY_MISMATCH",
    "DUPLICATE_INVOICE",
    "OVER_INVOICED",
)
# the reason an accountant reads, from the one catalogue of codes
ANOMALIES: dict[str, str] = {code: CODES[code].meaning.removeprefix("Anomaly: ").rstrip(".") for code in ANOMALY_CODES}


@dataclass(frozen=True)
class Anomaly:
    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class Candidate:
    """An engagement with the invoice's number, as the store knows it."""

    engagement_id: int
    issuer_id: str
    supplier_id: str
    currency: str | None


# the misfits that leave an invoice out of its engagement's totals, the first found is stored
EXCLUDING = ("CURRENCY_MISMATCH", "SELLER_MISMATCH", "BUYER_MISMATCH")


@dataclass(frozen=True)
class Match:
    engagement_id: int | None
    anomalies: tuple[Anomaly, ...] = ()

    @property
    def excluded(self) -> str | None:
        """Why the invoice does not count toward its engagement (a code of ``EXCLUDING``), or
        ``None`` when it counts (or matches no engagement: then it counts toward nothing)."""
        if self.engagement_id is None:
            return None
        codes = {a.code for a in self.anomalies}
        return next((code for code in EXCLUDING if code in codes), None)


def identities(party: Party | None) -> frozenset[str]:
    """Every identifier ``party`` can be recognised by, in canonical spelling: its key, each id
    as ``SCHEME:VALUE`` (and the bare SIRET), and ``0002:SIREN`` for the SIREN behind any
    French id. A party read back from stored identities (``PartyId("", key)``) gives them again."""
    if party is None:
        return frozenset()
    found: set[str] = set()
    key = party_key(party)
    if key:
        found.add(key)
    for pid in party.ids:
        siret = siret_of(pid)
        if siret:
            found.add(siret)
        value = pid.value.replace(" ", "")
        if value:
            found.add(canonical(f"{pid.scheme}:{value}" if pid.scheme else value))
    found |= {_siren(s) for s in (siren_key(i) for i in list(found)) if s}
    return frozenset(found)


def _siren(siren: str) -> str:
    return f"{SIREN_SCHEME}:{siren}"


def known_party(keys: Iterable[str]) -> Party | None:
    """A party rebuilt from identifiers stored by ``identities`` (the ``SIREN:`` markers of
    earlier versions left out: ``identities`` finds the SIREN again), ``None`` when there are none."""
    ids = tuple(PartyId("", key) for key in keys if not key.startswith("SIREN:"))
    return Party(None, ids) if ids else None


def same_party(known: frozenset[str], party_id: str) -> bool:
    """Is the stored ``party_id`` one of ``known`` (by id in any spelling, or by SIREN)?"""
    if party_id in known or canonical(party_id) in known:
        return True
    siren = siren_key(party_id)
    return siren is not None and _siren(siren) in known


def match(
    reference: str | None,
    seller: Party | None,
    buyer: Party | None,
    currency: str | None,
    candidates: Sequence[Candidate],
) -> Match:
    """The engagement an invoice belongs to, and what does not fit.

    Args:
        reference: BT-13 after trimming, ``None`` when absent or a placeholder.
        candidates: the engagements with that number (every issuer).
    """
    if reference is None:
        return Match(None, (Anomaly("NO_ENGAGEMENT", ANOMALIES["NO_ENGAGEMENT"]),))
    if not candidates:
        return Match(None, (Anomaly("UNKNOWN_ENGAGEMENT", f"no engagement {reference}"),))
    buyers, sellers = identities(buyer), identities(seller)
    chosen = list(candidates)
    anomalies: list[Anomaly] = []
    if buyers:
        by_buyer = [c for c in candidates if same_party(buyers, c.issuer_id)]
        if by_buyer:
            chosen = by_buyer
        elif len(candidates) == 1:
            anomalies.append(
                Anomaly(
                    "BUYER_MISMATCH", f"buyer is not the issuer {candidates[0].issuer_id} of engagement {reference}"
                )
            )
    elif len(candidates) == 1:
        anomalies.append(Anomaly("BUYER_MISMATCH", f"the invoice names no buyer identifier (engagement {reference})"))
    if len(chosen) > 1:
        issuers = ", ".join(sorted(c.issuer_id for c in chosen))
        return Match(None, (Anomaly("AMBIGUOUS_ENGAGEMENT", f"engagement {reference} exists at issuers {issuers}"),))
    engagement = chosen[0]
    if not sellers:
        anomalies.append(Anomaly("SELLER_MISMATCH", f"the invoice names no seller identifier (engagement {reference})"))
    elif not same_party(sellers, engagement.supplier_id):
        anomalies.append(
            Anomaly("SELLER_MISMATCH", f"seller is not the supplier {engagement.supplier_id} of engagement {reference}")
        )
    if currency != engagement.currency:
        anomalies.append(
            Anomaly(
                "CURRENCY_MISMATCH",
                f"invoice in {currency or 'no currency'}, engagement {reference} in {engagement.currency or 'none'}",
            )
        )
    return Match(engagement.engagement_id, tuple(anomalies))


def first_of(anomalies: Iterable[Anomaly]) -> str:
    """The anomalies as one readable cell: ``CODE: reason; CODE: reason``."""
    return "; ".join(f"{a.code}: {a.reason}" for a in anomalies)
