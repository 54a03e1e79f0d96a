"""Party identifiers: which one names a party, and whether French ones are valid.

SPEC §10: a party's id is its 14-digit SIRET when the document gives one (scheme 0009, or 14
digits under 0002), else ``SCHEME:VALUE``. SIRET, SIREN and French VAT numbers are compared
through their SIREN. Checks use python-stdnum (Luhn, with the La Poste exception).

One legal identity is written in several ways: ``SCHEMES`` maps every spelling of a scheme that
chorus-batch knows (ISO 6523 ICD codes, the older Peppol scheme names, the readers' ``VAT``) to
one canonical scheme, and ``canonical`` rewrites a stored key in that spelling. ``party_key``
always gives the canonical key, so ``0088:…`` and ``GLN:…`` name the same party
(docs/operations.md#parties).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from stdnum import ean
from stdnum.au import abn
from stdnum.be import vat as be_vat
from stdnum.fr import siren, siret, tva
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from ..errors import Issue
from .model import Party, PartyId, kept

SIRET_SCHEME = "0009"
SIREN_SCHEME = "0002"
VAT_SCHEME = "VAT"
# Preference when a party has no SIRET: a registry id before an electronic address.
_SOURCE_RANK = {"id": 0, "legal": 1, "global": 2, "endpoint": 3, "vat": 4}

# Every spelling of a scheme → its canonical spelling (the ISO 6523 ICD code where there is one;
# ``VAT`` for tax numbers, as the readers write them). Spellings are compared in upper case.
SCHEMES: dict[str, str] = {
    "0009": SIRET_SCHEME,
    "SIRET": SIRET_SCHEME,
    "FR:SIRET": SIRET_SCHEME,
    "0002": SIREN_SCHEME,
    "SIREN": SIREN_SCHEME,
    "FR:SIRENE": SIREN_SCHEME,
    "0088": "0088",
    "GLN": "0088",
    "EAN": "0088",
    "0060": "0060",
    "DUNS": "0060",
    "0007": "0007",
    "SE:ORGNR": "0007",
    "VAT": VAT_SCHEME,
    "VA": VAT_SCHEME,
    "9957": VAT_SCHEME,
    "FR:VAT": VAT_SCHEME,
}
# longest first: ``FR:SIRET:…`` is read as the scheme ``FR:SIRET``, not ``FR``
_PREFIXES = sorted(SCHEMES, key=len, reverse=True)


# Schemes whose numbers carry a check (Peppol's PEPPOL-COMMON-R040 to R050 refuse a document that
# types a number with one of them when the check fails): scheme -> the check.
CHECKED_SCHEMES: dict[str, Callable[[str], bool]] = {
    "0088": lambda v: v.isdigit() and ean.is_valid(v),  # GLN, GS1 check digit
    "0007": lambda v: len(v) == 10 and v.isdigit() and se_orgnr.is_valid(v),  # Swedish organisation number
    "0151": lambda v: len(v) == 11 and v.isdigit() and abn.is_valid(v),  # Australian Business Number
    "0192": lambda v: len(v) == 9 and v.isdigit() and no_orgnr.is_valid(v),  # Norwegian organisation number
    "0208": lambda v: len(v) == 10 and v.isdigit() and be_vat.is_valid(v),  # Belgian enterprise number
}


def well_formed(scheme: str, value: str) -> bool:
    """Whether ``value`` passes the check of its (canonical) ``scheme``; true for a scheme that
    has none."""
    check = CHECKED_SCHEMES.get(scheme)
    return check is None or check(value.strip())


def canonical_scheme(scheme: str) -> str:
    """The canonical spelling of ``scheme`` (itself, stripped, when the table does not know it)."""
    written = scheme.strip()
    return SCHEMES.get(written.upper(), written)


def _key(scheme: str, value: str) -> str:
    """The key of ``value`` under an already canonical ``scheme``: a SIRET bare, a known scheme's
    value without spaces (a VAT number in upper case), anything else as given, trimmed."""
    if scheme in SCHEMES.values():
        value = "".join(value.split())
        if scheme == VAT_SCHEME:
            value = value.upper()
        if scheme == SIRET_SCHEME or (scheme == SIREN_SCHEME and len(value) == 14 and value.isdigit()):
            return value
    else:
        value = value.strip()
    return f"{scheme}:{value}" if scheme else value


@lru_cache(maxsize=8192)
def canonical(key: str) -> str:
    """A stored party key (``SCHEME:VALUE``, a bare SIRET or a bare value) in its canonical
    spelling: ``GLN:3011111111111`` → ``0088:3011111111111``, ``FR:SIRET:…`` or ``0009:…`` → the
    bare SIRET, ``9957:fr…`` → ``VAT:FR…``. A key whose scheme the table does not know is kept."""
    upper = key.upper()
    for alias in _PREFIXES:
        if upper.startswith(alias + ":"):
            return _key(SCHEMES[alias], key[len(alias) + 1 :])
    return key


# The same few parties come back in every file: their checks are cached (pure functions of a string).
_digits = lru_cache(maxsize=4096)(siret.compact)
_valid_siret = lru_cache(maxsize=4096)(siret.is_valid)
_valid_siren = lru_cache(maxsize=4096)(siren.is_valid)
_valid_vat = lru_cache(maxsize=4096)(tva.is_valid)


def siret_of(pid: PartyId) -> str | None:
    """The SIRET carried by ``pid`` (valid or not), or ``None`` when it is not a SIRET."""
    return _siret(pid.value, canonical_scheme(pid.scheme))


def _siret(value: str, scheme: str) -> str | None:
    """``siret_of`` an identifier whose scheme is already canonical."""
    compact = _digits(value)
    if scheme == SIRET_SCHEME or (scheme == SIREN_SCHEME and len(compact) == 14 and compact.isdigit()):
        return compact
    return None


def party_key(party: Party) -> str | None:
    """The identifier under which the store knows ``party`` (SPEC §10), in its canonical
    spelling (``canonical``), or ``None`` if it has none. Found once a party (``kept``): it is
    asked for several times a document."""
    return kept(party, "_chorus_party_key", _found_key, party)


def _found_key(party: Party) -> str | None:
    for pid in party.ids:
        value = siret_of(pid)
        if value is not None:
            return value
    ranked = sorted(party.ids, key=lambda p: _SOURCE_RANK.get(p.source.split("@")[0], 9))
    for pid in ranked:
        if not pid.value.strip():
            continue
        return canonical(_key(canonical_scheme(pid.scheme), pid.value))
    return None


def same_identity(a: str, b: str) -> bool:
    """Whether two stored party keys name the same legal identity: the same canonical key, or
    French ids (SIRET, SIREN, French VAT number) with the same SIREN."""
    if a == b:
        return True
    ca, cb = canonical(a), canonical(b)
    if ca == cb:
        return True
    siren = siren_key(ca)
    return siren is not None and siren == siren_key(cb)


def siren_key(identifier: str) -> str | None:
    """The SIREN behind a party key (a bare SIRET, ``0002:SIREN``, ``VAT:FR..``, in any spelling
    of ``SCHEMES``), for comparing parties; ``None`` for any other key (a DUNS of nine digits is
    no SIREN)."""
    key = canonical(identifier)
    scheme, _, value = key.rpartition(":")
    compact = value.replace(" ", "").upper()
    if scheme in ("", SIRET_SCHEME, SIREN_SCHEME) and compact.isdigit() and len(compact) in (9, 14):
        return compact[:9]
    if scheme in ("", VAT_SCHEME) and compact.startswith("FR") and len(compact) == 13 and compact[4:].isdigit():
        return compact[4:]
    return None


def check_party(party: Party, role: str) -> list[Issue]:
    """Check every French identifier of ``party``; ``role`` names it in messages.

    A bad SIRET is an error: the SIRET keys the engagement and routes it. A bad SIREN or VAT
    number is a warning: it is secondary data, and official samples carry placeholder values.
    The issues are kept on the party for its role (``kept``): the same parties come in file
    after file.
    """
    return list(kept(party, f"_chorus_checked:{role}", _party_issues, party, role))


def _party_issues(party: Party, role: str) -> list[Issue]:
    issues = []
    seen: set[tuple[str, str]] = set()
    for pid in party.ids:
        if (pid.scheme, pid.value) in seen:  # the same number given twice (endpoint and id) is one finding
            continue
        seen.add((pid.scheme, pid.value))
        where = pid.source.split("@", 1)[1] if "@" in pid.source else None
        scheme = canonical_scheme(pid.scheme)
        value = _siret(pid.value, scheme)
        if value is not None:
            if not _valid_siret(value):
                issues.append(Issue("SIRET_INVALID", f"{role} SIRET {value!r} is not a valid SIRET", xpath=where))
            continue
        if scheme == SIREN_SCHEME and not _valid_siren(pid.value):
            issues.append(
                Issue(
                    "SIREN_INVALID",
                    f"{role} SIREN {pid.value.strip()!r} is not a valid SIREN",
                    xpath=where,
                    severity="warning",
                )
            )
        elif scheme == VAT_SCHEME and pid.value.strip().upper().startswith("FR") and not _valid_vat(pid.value):
            issues.append(
                Issue(
                    "VAT_INVALID",
                    f"{role} VAT number {pid.value.strip()!r} is not valid",
                    xpath=where,
                    severity="warning",
                )
            )
        elif not well_formed(scheme, pid.value):
            issues.append(
                Issue(
                    "PARTY_ID_INVALID",
                    f"{role} identifier {pid.value.strip()[:60]!r} fails the check of scheme {scheme}",
                    xpath=where,
                    severity="warning",
                )
            )
    return issues
