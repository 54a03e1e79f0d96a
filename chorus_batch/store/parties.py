"""The parties table: the latest details of every party, under its key."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from ..domain.identifiers import party_key
from ..domain.model import Party
from . import schema as s
from ._fast import TRANSACTION_KEYS, Statement
from .codec import party_json

_p = s.parties
_PARTY = Statement(select(_p.c.id, _p.c.details).where(_p.c.party_id == bindparam("key")))
_INSERT_PARTY = Statement(insert(_p), _p)
_UPDATE_PARTY = Statement(update(_p).where(_p.c.id == bindparam("_party_id")), _p)
_REMEMBERED = "chorus_batch.parties"
TRANSACTION_KEYS.append(_REMEMBERED)  # forgotten when the next transaction begins (``forget``: on a rollback)


def upsert(conn: Connection, party: Party, now: str) -> str | None:
    """Keep the latest details of a party under its key. The same parties come back in file
    after file: what this transaction already wrote is remembered in ``conn.info`` (forgotten
    when the next transaction begins and on any rollback), and a row is only rewritten when its
    details changed."""
    key = party_key(party)
    if key is None:
        return None
    details = party_json(party)
    written = conn.info.setdefault(_REMEMBERED, {})
    if written.get(key) == details:
        return key
    row = _PARTY.first(conn, {"key": key})
    if row is None:
        _INSERT_PARTY.run(conn, {"party_id": key, "name": party.name, "details": details, "updated_at": now})
    elif row.details != details:
        _UPDATE_PARTY.run(conn, {"_party_id": row.id, "name": party.name, "details": details, "updated_at": now})
    written[key] = details
    return key


def forget(conn: Connection, *_args: Any) -> None:
    """Forget what the transaction remembered of the parties it wrote. An invalidated
    connection (an interrupt inside a statement) has nothing left to forget, and asking for its
    ``info`` would raise while SQLAlchemy rolls it back."""
    if not conn.invalidated:
        conn.info.pop(_REMEMBERED, None)


def details(conn: Connection, party_id: str) -> dict[str, Any] | None:
    raw = conn.execute(select(_p.c.details).where(_p.c.party_id == party_id)).scalar()
    return json.loads(raw) if raw else None
