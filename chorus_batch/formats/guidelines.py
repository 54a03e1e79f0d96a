"""CII invoice guideline ids (BT-24): which family a guideline belongs to, and so which XSD and
which official rules judge the invoice.

Owns the reading of the guideline id, shared by ``cii`` (the XSD, ``cii_schema``) and
``schematron`` (the rules):

* the **Factur-X family**: a Factur-X profile id (``urn:factur-x.eu:1p0:<level>``), a ZUGFeRD 2
  id (``urn:zugferd.de:2p0:<level>``), each possibly after ``urn:cen.eu:en16931:2017#compliant#``
  or ``#conformant#``, the French CTC EXTENDED id (``urn.cpro.gouv.fr:1p0:extended-ctc-fr``),
  and the bare ``urn:cen.eu:en16931:2017``, which is the EN 16931 profile's own id in Factur-X
  and ZUGFeRD 2. Each level has its profile XSD;
* **other EN 16931 guidelines**: any other ``urn:cen.eu:en16931:2017#...`` id (CIUS and
  extensions: XRechnung, Peppol BIS Billing, national CIUS). They are validated with the widest
  shipped CII XSD and judged by the CEN EN 16931 rules, never by a Factur-X profile's;
* anything else (ZUGFeRD 1 ``urn:ferd:...`` ids reused in CII, unknown ids, none): the widest XSD
  and no rules.

Comparisons ignore case and surrounding spaces.
"""

from __future__ import annotations

CEN = "urn:cen.eu:en16931:2017"
# The prefixes of the Factur-X family, each followed by a level name.
_PROFILE_PREFIXES = ("urn:factur-x.eu:1p0:", "urn:zugferd.de:2p0:", "urn.cpro.gouv.fr:1p0:")
# level -> the name of its XSD in ``schemas.get``
LEVEL_SCHEMAS = {
    "minimum": "facturx-minimum",
    "basicwl": "facturx-basicwl",
    "basic": "facturx-basic",
    "en16931": "facturx-en16931",
    "extended": "facturx-extended",
    "extended-ctc-fr": "cii-extended-ctc-fr",
}
# For any other guideline: the only shipped CII XSD that accepts every CII sample the official
# UN/CEFACT D16B schema accepts (see ``cii``).
DEFAULT_SCHEMA = "cii-extended-ctc-fr"


def _normal(guideline: str | None) -> str:
    return (guideline or "").strip().lower()


def facturx_level(guideline: str | None) -> str | None:
    """The Factur-X / ZUGFeRD 2 level a guideline id names (a key of ``LEVEL_SCHEMAS``), or
    ``None`` when it is not of the Factur-X family.

    ``urn:zugferd.de:2p0:basicwl`` -> ``basicwl``;
    ``urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended`` -> ``extended``;
    ``urn:cen.eu:en16931:2017`` -> ``en16931``; an XRechnung or Peppol id -> ``None``.
    """
    value = _normal(guideline)
    if value == CEN:
        return "en16931"
    last = value.rsplit("#", 1)[-1]
    for prefix in _PROFILE_PREFIXES:
        if last.startswith(prefix):
            level = last.removeprefix(prefix)
            return level if level in LEVEL_SCHEMAS else None
    return None


def is_en16931(guideline: str | None) -> bool:
    """The guideline is EN 16931 or one of its CIUS / extensions (``urn:cen.eu:en16931:2017...``)."""
    value = _normal(guideline)
    return value == CEN or value.startswith(CEN + "#")


def cii_schema(guideline: str | None) -> str:
    """The XSD (``schemas.get`` name) of a CII invoice with this guideline id."""
    level = facturx_level(guideline)
    return LEVEL_SCHEMAS[level] if level else DEFAULT_SCHEMA
