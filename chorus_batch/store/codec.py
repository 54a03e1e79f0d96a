"""How domain objects are kept in the store as JSON: an engagement version's document, a
party's details, lines and totals read back.

``to_dict`` gives the JSON-ready form of any domain object (Decimals as strings, dates in ISO
8601, embedded bytes left out: they are stored as content-addressed blobs). ``order_json`` is
an order as its version stores it; its parties, which come back in document after document, are
encoded once each (``party_json``, shared with the parties table). The JSON is orjson's, several
times faster than the standard library's on a whole order.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

from ..domain.model import Address, OrderDocument, Party, PartyId, Totals, kept


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


def _decimal(value: object) -> str:
    """What orjson leaves to its caller: a ``Decimal``, as its string (as ``to_dict`` gives it)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json(value: object, sort_keys: bool = False) -> str:
    """``value`` as the store's JSON (orjson: no blanks, UTF-8 as it is; a dataclass's keys in
    the order of its fields, a dictionary's as they are or ``sort_keys``)."""
    return orjson.dumps(value, default=_decimal, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()


def party_json(party: Party) -> str:
    """A party as documents and the parties table store it, made once a party (``kept``: the
    readers give the same party back document after document; a cache keyed by the party
    itself hashed and compared its every field at each call)."""
    return kept(party, "_chorus_party_json", _json, party)


def order_json(doc: OrderDocument) -> str:
    """The order as its engagement version stores it (what ``to_dict`` gives, its attachments'
    bytes left out). Each party is put in as ``party_json`` made it, so a party met in many
    orders is encoded once. The text is kept on the document (``kept``), so that the intake
    makes it while reading a lot, before its turn to store, and the store reuses it."""
    return kept(doc, "_chorus_order_json", _order_json, doc)


def _order_json(doc: OrderDocument) -> str:
    values: dict[str, object] = {}
    for name in _field_names(OrderDocument) or ():
        value = getattr(doc, name)
        if type(value) is Party:
            value = orjson.Fragment(party_json(value))
        elif name == "attachments":  # the only field holding bytes, which the blobs keep
            value = to_dict(value)
        values[name] = value
    return _json(values)


def document_json(document: dict[str, Any]) -> str:
    """A document already in its JSON-ready form (a version made by an answer or a change)."""
    return _json(document, sort_keys=True)


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The fields ``to_dict`` copies from a dataclass, in their order, or ``None`` for any other type."""
    if not is_dataclass(cls):
        return None
    return tuple(f.name for f in fields(cls) if f.name != "content")


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
