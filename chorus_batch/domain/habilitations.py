"""Who may act on which structure (SPEC §4), as plain data and two questions.

A partner is a name (its inbox sub-folder ``inbox/<name>/``) with rights; a right names a
structure (the recipient SIRET of orders), a profile (``modification`` or ``consultation``)
and optionally a service. With no partner declared the workspace is single-tenant: every file
may act on every structure.
"""

from __future__ import annotations

from dataclasses import dataclass

MODIFICATION = "modification"
CONSULTATION = "consultation"
PROFILES = (MODIFICATION, CONSULTATION)


@dataclass(frozen=True)
class Right:
    structure: str
    profile: str
    service: str | None = None


@dataclass(frozen=True)
class Partner:
    name: str
    rights: tuple[Right, ...] = ()


def may_modify(partner: Partner | None, structure: str, service: str | None = None) -> bool:
    """May ``partner`` answer orders sent to ``structure`` (and ``service``, when the right names one)?
    ``None`` stands for the operator of a single-tenant workspace or a file in the inbox root."""
    if partner is None:
        return True
    return any(
        r.profile == MODIFICATION
        and r.structure == structure
        and (r.service is None or service is None or r.service == service)
        for r in partner.rights
    )


def may_read(partner: Partner | None, structure: str) -> bool:
    if partner is None:
        return True
    return any(r.structure == structure for r in partner.rights)


def readable_structures(partner: Partner | None) -> frozenset[str] | None:
    """The structures ``partner`` may see; ``None`` means all."""
    return None if partner is None else frozenset(r.structure for r in partner.rights)
