"""Party identifiers: which one names a party, and whether French ones are valid.

SPEC §10: a party's id is its 14-digit SIRET when the document gives one (scheme 0009, or 14
digits under 0002), else ``SCHEME:VALUE``. SIRET, SIREN and French VAT numbers are compared
through their SIREN. Checks use python-stdnum (Luhn, with the La Poste exception).
"""

from __future__ import annotations

from functools import lru_cache

from stdnum.fr import siren, siret, tva

from ..errors import Issue
from .model import Party, PartyId

SIRET_SCHEME = "0009"
SIREN_SCHEME = "0002"
VAT_SCHEME = "VAT"
# Preference when a party has no SIRET: a registry id before an electronic address.
_SOURCE_RANK = {"id": 0, "legal": 1, "global": 2, "endpoint": 3, "vat": 4}


# The same few parties come back in every file: their checks are cached (pure functions of a string).
_digits = lru_cache(maxsize=4096)(siret.compact)
_valid_siret = lru_cache(maxsize=4096)(siret.is_valid)
_valid_siren = lru_cache(maxsize=4096)(siren.is_valid)
_valid_vat = lru_cache(maxsize=4096)(tva.is_valid)


def siret_of(pid: PartyId) -> str | None:
    """The SIRET carried by ``pid`` (valid or not), or ``None`` when it is not a SIRET."""
    compact = _digits(pid.value)
    if pid.scheme == SIRET_SCHEME or (pid.scheme == SIREN_SCHEME and len(compact) == 14 and compact.isdigit()):
        return compact
    return None


def party_key(party: Party) -> str | None:
    """The identifier under which the store knows ``party`` (SPEC §10), or ``None`` if it has none."""
    for pid in party.ids:
        value = siret_of(pid)
        if value is not None:
            return value
    ranked = sorted(party.ids, key=lambda p: _SOURCE_RANK.get(p.source.split("@")[0], 9))
    for pid in ranked:
        value = pid.value.strip()
        if not value:
            continue
        return f"{pid.scheme}:{value}" if pid.scheme else value
    return None


def siren_key(identifier: str) -> str | None:
    """The SIREN behind a party key (SIRET, ``0002:SIREN``, ``VAT:FR..``), for comparing parties."""
    value = identifier.split(":", 1)[-1]
    compact = value.replace(" ", "").upper()
    if compact.isdigit() and len(compact) in (9, 14):
        return compact[:9]
    if compact.startswith("FR") and len(compact) == 13 and compact[4:].isdigit():
        return compact[4:]
    return None


def check_party(party: Party, role: str) -> list[Issue]:
    """Check every French identifier of ``party``; ``role`` names it in messages.

    A bad SIRET is an error: the SIRET keys the engagement and routes it. A bad SIREN or VAT
    number is a warning: it is secondary data, and official samples carry placeholder values.
    """
    issues = []
    seen: set[tuple[str, str]] = set()
    for pid in party.ids:
        if (pid.scheme, pid.value) in seen:  # the same number given twice (endpoint and id) is one finding
            continue
        seen.add((pid.scheme, pid.value))
        where = pid.source.split("@", 1)[1] if "@" in pid.source else None
        value = siret_of(pid)
        if value is not None:
            if not _valid_siret(value):
                issues.append(Issue("SIRET_INVALID", f"{role} SIRET {value!r} is not a valid SIRET", xpath=where))
            continue
        if pid.scheme == SIREN_SCHEME and not _valid_siren(pid.value):
            issues.append(
                Issue(
                    "SIREN_INVALID",
                    f"{role} SIREN {pid.value.strip()!r} is not a valid SIREN",
                    xpath=where,
                    severity="warning",
                )
            )
        elif pid.scheme == VAT_SCHEME and pid.value.strip().upper().startswith("FR") and not _valid_vat(pid.value):
            issues.append(
                Issue(
                    "VAT_INVALID",
                    f"{role} VAT number {pid.value.strip()!r} is not valid",
                    xpath=where,
                    severity="warning",
                )
            )
    return issues
