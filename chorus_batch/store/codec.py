"""How domain objects are kept in the store as JSON: an engagement version's document, a
party's details, lines and totals read back.

``to_dict`` gives the JSON-ready form of any domain object (Decimals as strings, dates in ISO
8601, embedded bytes left out: they are stored as content-addressed blobs). ``order_json`` is
an order as its version stores it, keys sorted; its parties, which come back in document after
document, are encoded once each (``party_json``, shared with the parties table).
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from ..domain.model import Address, OrderDocument, Party, PartyId, Totals


def to_dict(value: object) -> Any:
    """A JSON-ready copy of a domain object."""
    if value is None or isinstance(value, str):
        return value
    names = _field_names(type(value))  # type: ignore[arg-type]  # mypy deems type[object] unhashable
    if names is not None:
        return {name: to_dict(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [to_dict(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _json_default(value: object) -> object:
    """``to_dict`` one level at a time, for ``json.dumps``: its C encoder does the rest (tuples,
    strings, numbers), which is several times faster than building the whole dict first."""
    names = _field_names(type(value))  # type: ignore[arg-type]  # mypy deems type[object] unhashable
    if names is not None:  # its Decimals and dates turned here: a call back from the encoder less for each
        fields_ = {}
        for name in names:
            field = getattr(value, name)
            kind = type(field)
            fields_[name] = str(field) if kind is Decimal else field.isoformat() if kind is date else field
        return fields_
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# keys sorted without the encoder sorting them: ``_field_names`` gives each dataclass's fields in
# sorted order, and the domain's documents hold no plain dict (test_parsers_fuzz checks real orders)
_encode = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode


@lru_cache(maxsize=4096)
def party_json(party: Party) -> str:
    """A party as documents and the parties table store it (``to_dict``, keys sorted)."""
    return _encode(party)


_MEMO = "_chorus_order_json"


def order_json(doc: OrderDocument) -> str:
    """The order as its engagement version stores it (``to_dict``, keys sorted). Each party is
    encoded by ``party_json`` and put in place of a marker (a NUL character, which XML never
    holds), so a party met in many orders is encoded once. The text is kept on the document (an
    attribute outside its fields: equality, hashing and ``replace`` ignore it), so that the
    intake makes it while reading a lot, before its turn to store, and the store reuses it."""
    memo: str | None = doc.__dict__.get(_MEMO)
    if memo is None:
        memo = _order_json(doc)
        object.__setattr__(doc, _MEMO, memo)  # a frozen dataclass: its fields stay as they are
    return memo


def _order_json(doc: OrderDocument) -> str:
    values: dict[str, object] = {}
    parties: list[Party] = []
    for name in _field_names(OrderDocument) or ():
        value = getattr(doc, name)
        if type(value) is Party:
            values[name] = f"\0{len(parties)}\0"
            parties.append(value)
        else:
            values[name] = value
    text = _encode(values)
    for i, party in enumerate(parties):
        text = text.replace(f'"\\u0000{i}\\u0000"', party_json(party), 1)
    return text


def document_json(document: dict[str, Any]) -> str:
    """A document already in its JSON-ready form (a version made by an answer or a change)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True)


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The fields ``to_dict`` copies from a dataclass, by name, or ``None`` for any other type."""
    if not is_dataclass(cls):
        return None
    return tuple(sorted(f.name for f in fields(cls) if f.name != "content"))


def party_from_dict(data: dict[str, Any] | None) -> Party | None:
    """Inverse of ``to_dict`` for a ``Party`` (as stored with an engagement version)."""
    if not data:
        return None
    addr = data.get("address")
    address = None
    if isinstance(addr, dict):
        address = Address(tuple(addr.get("lines") or ()), addr.get("city"), addr.get("postcode"), addr.get("country"))
    ids = tuple(PartyId(i["scheme"], i["value"], i.get("source", "")) for i in data.get("ids") or ())
    return Party(data.get("name"), ids, address, data.get("contact"), data.get("service"))


def totals_from_dict(raw: dict[str, Any] | None) -> Totals:
    """Inverse of ``to_dict`` for ``Totals``."""
    return Totals(**{k: (Decimal(v) if v is not None else None) for k, v in (raw or {}).items()})
