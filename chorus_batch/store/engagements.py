"""Engagements and what hangs from them: versions (each document that changed the content,
with its JSON, lines and attachments) and transitions (the append-only history of statuses).

``record_transition`` (and ``create`` for the first row) is the only writer of an engagement's
status: it checks the event against the domain table and appends the history row in the same
transaction. ``search`` and ``resolve`` answer the operator's queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Row

from ..domain import states
from ..domain.identifiers import canonical, party_key
from ..domain.model import Attachment, OrderDocument, OrderLine
from ..errors import ChorusError, NotFound
from . import parties
from . import schema as s
from ._fast import TRANSACTION_KEYS, Statement, among, json_values
from .codec import document_json
from .engine import Source
from .files import put_blob

_e, _v = s.engagements, s.engagement_versions
_FIND = Statement(select(_e.c.id).where(_e.c.issuer_id == bindparam("issuer"), _e.c.number == bindparam("number")))
_EXISTING = Statement(select(_e.c.issuer_id, _e.c.number).where(_e.c.number.in_(json_values("numbers"))))  # SQLite
_INSERT_ENGAGEMENT = Statement(insert(_e), _e)
_INSERT_VERSION = Statement(insert(_v), _v)
_INSERT_LINE = Statement(insert(s.engagement_lines), s.engagement_lines)
_INSERT_TRANSITION = Statement(insert(s.transitions), s.transitions)


_EXPECTED = "chorus_batch.engagements"  # in ``conn.info``: the numbers ``expect`` looked up, the engagements found
TRANSACTION_KEYS.append(_EXPECTED)  # forgotten when the next transaction begins


def expect(conn: Connection, numbers: Iterable[str]) -> None:
    """Look up the engagements of these numbers (a batch's orders) in one query. On SQLite, whose
    write transaction holds the store's only write lock from its start, ``find`` then knows an
    engagement of one of them to be new without a query of its own, until the transaction ends
    (``_fast.forget_transaction``). On PostgreSQL, where another worker may create one
    meanwhile, nothing is done."""
    wanted = set(numbers)
    found = among(conn, _EXISTING, "numbers", wanted)
    if found is not None:
        conn.info[_EXPECTED] = (wanted, {(issuer, number) for issuer, number in found})


def find(conn: Connection, issuer_id: str, number: str) -> Row[Any] | None:
    expected: tuple[set[str], set[tuple[str, str]]] | None = conn.info.get(_EXPECTED)
    if expected is not None and number in expected[0] and (issuer_id, number) not in expected[1]:
        expected[1].add((issuer_id, number))  # it is created next, maybe: asked again, the store answers
        return None
    found = _FIND.first(conn, {"issuer": issuer_id, "number": number})
    return None if found is None else conn.execute(select(_e).where(_e.c.id == found.id)).one()


def current_document(conn: Connection, engagement_id: int, version: int) -> dict[str, Any]:
    q = select(_v.c.document).where(_v.c.engagement_id == engagement_id, _v.c.version == version)
    document: dict[str, Any] = json.loads(conn.execute(q).scalar_one())
    return document


def create(
    conn: Connection, doc: OrderDocument, encoded: str, number: str, event: states.Event, src: Source
) -> tuple[int, states.State]:
    """Store a new engagement from an order document (``encoded``: its ``codec.order_json``),
    version 1, and its first transition."""
    issuer_id = parties.upsert(conn, doc.issuer, src.now)
    supplier_id = parties.upsert(conn, doc.supplier, src.now)
    if doc.invoicee is not None and party_key(doc.invoicee) not in (issuer_id, supplier_id):
        parties.upsert(conn, doc.invoicee, src.now)  # the same party as the issuer keeps the issuer's details
    if issuer_id is None or supplier_id is None:
        raise ChorusError("order without party identifiers reached the store", code="PARTY_MISSING")
    status = states.apply(None, event)
    engagement_id = _INSERT_ENGAGEMENT.insert(
        conn,
        dict(
            issuer_id=issuer_id,
            number=number,
            supplier_id=supplier_id,
            issuer_name=doc.issuer.name,
            supplier_name=doc.supplier.name,
            status=status.value,
            current_version=1,
            currency=doc.currency,
            amount_ht=doc.totals.amount_ht,
            amount_ttc=doc.totals.amount_ttc,
            created_at=src.now,
            last_transition_at=src.now,
        ),
    )
    issued = doc.issue_date.isoformat() if doc.issue_date else None
    stored = (encoded, issued, doc.totals.amount_ht, doc.totals.amount_ttc)
    _add_version(conn, engagement_id, 1, doc.kind, doc.syntax, stored, doc.lines, doc.attachments, src)
    _history(conn, engagement_id, None, status, event, src, 1)
    return engagement_id, status


def _add_version(
    conn: Connection,
    engagement_id: int,
    version: int,
    kind: str,
    syntax: str,
    document: tuple[str, str | None, Decimal | str | None, Decimal | str | None],
    lines_: Sequence[OrderLine],
    attachments_: Sequence[Attachment],
    src: Source,
) -> int:
    """Store one version: its ``document`` (its JSON, issue date, amounts HT and TTC), its lines
    and its attachments."""
    document_text, issue_date, amount_ht, amount_ttc = document
    version_id = _INSERT_VERSION.insert(
        conn,
        dict(
            engagement_id=engagement_id,
            version=version,
            kind=kind,
            syntax=syntax,
            source_file_id=src.file_id,
            document_sha256=src.blob_sha256,
            document=document_text,
            issue_date=issue_date,
            amount_ht=amount_ht,
            amount_ttc=amount_ttc,
            created_at=src.now,
        ),
    )
    if lines_:
        _INSERT_LINE.many(
            conn,
            [
                dict(
                    version_id=version_id,
                    position=i,
                    line_id=line.line_id,
                    name=line.name,
                    quantity=line.quantity,
                    unit=line.unit,
                    unit_price=line.unit_price,
                    net_amount=line.net_amount,
                    tax_rate=line.tax_rate,
                    base_quantity=line.base_quantity,
                )
                for i, line in enumerate(lines_, 1)
            ],
        )
    for att in attachments_:
        sha = put_blob(conn, att.content) if att.content is not None else None
        conn.execute(
            insert(s.attachments).values(
                version_id=version_id,
                ident=att.ident,
                filename=att.filename,
                mime=att.mime,
                description=att.description,
                uri=att.uri,
                blob_sha256=sha,
            )
        )
    return version_id


def _ttc(totals: dict[str, Any]) -> str | None:
    """TTC from a totals dict, with the same precedence as ``Totals.amount_ttc``."""
    if totals.get("tax_inclusive") is not None:
        return str(totals["tax_inclusive"])
    if totals.get("payable") is not None:
        return str(totals["payable"])
    ht = totals.get("tax_exclusive") or totals.get("line_total")
    if ht is not None and totals.get("tax_total") is not None:
        return str(Decimal(ht) + Decimal(totals["tax_total"]))
    return None


def new_version(
    conn: Connection,
    engagement: Row[Any],
    kind: str,
    syntax: str,
    document: dict[str, Any],
    lines_: Sequence[OrderLine],
    src: Source,
) -> int:
    """Add the next version of ``engagement`` and make it current (amounts included)."""
    version: int = engagement.current_version + 1
    totals = document.get("totals") or {}
    amount_ht, amount_ttc = totals.get("tax_exclusive") or totals.get("line_total"), _ttc(totals)
    stored = (document_json(document), document.get("issue_date"), amount_ht, amount_ttc)
    _add_version(conn, engagement.id, version, kind, syntax, stored, lines_, (), src)
    conn.execute(
        update(_e)
        .where(_e.c.id == engagement.id)
        .values(current_version=version, amount_ht=amount_ht, amount_ttc=amount_ttc)
    )
    return version


def current_lines(conn: Connection, engagement: Row[Any]) -> list[OrderLine]:
    version_id = conn.execute(
        select(_v.c.id).where(_v.c.engagement_id == engagement.id, _v.c.version == engagement.current_version)
    ).scalar_one()
    return [
        OrderLine(
            r.line_id,
            r.name,
            r.quantity,
            r.unit,
            r.unit_price,
            r.net_amount,
            tax_rate=r.tax_rate,
            base_quantity=r.base_quantity,
        )
        for r in lines(conn, version_id)
    ]


def first_version(conn: Connection, engagement_id: int) -> Row[Any]:
    return conn.execute(select(_v).where(_v.c.engagement_id == engagement_id, _v.c.version == 1)).one()


def _history(
    conn: Connection,
    engagement_id: int,
    before: states.State | None,
    after: states.State,
    event: states.Event,
    src: Source,
    version: int,
) -> None:
    _INSERT_TRANSITION.run(
        conn,
        dict(
            engagement_id=engagement_id,
            at=src.now,
            from_status=before.value if before else None,
            to_status=after.value,
            event=event.value,
            actor=states.ACTORS[event],
            source_file_id=src.file_id,
            version=version,
        ),
    )


def record_transition(conn: Connection, engagement_id: int, event: states.Event, src: Source) -> states.State:
    """Move an engagement by ``event`` (checked against the table) and append its history row.

    Raises:
        TransitionNotAllowed: nothing was written.
    """
    row = conn.execute(select(_e).where(_e.c.id == engagement_id)).one()
    before = states.State(row.status)
    after = states.apply(before, event)
    conn.execute(update(_e).where(_e.c.id == engagement_id).values(status=after.value, last_transition_at=src.now))
    _history(conn, engagement_id, before, after, event, src, row.current_version)
    return after


@dataclass(frozen=True)
class Criteria:
    status: str | None = None
    number: str | None = None
    issuer: str | None = None  # SIRET / party id, or a part of the name
    supplier: str | None = None
    created_from: str | None = None  # ISO date, inclusive
    created_to: str | None = None  # ISO date, inclusive


def search(conn: Connection, c: Criteria) -> list[Row[Any]]:
    q = select(_e).order_by(_e.c.number, _e.c.issuer_id)
    if c.status:
        q = q.where(_e.c.status == c.status)
    if c.number:
        if "*" in c.number:
            pattern = c.number.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_").replace("*", "%")
            q = q.where(_e.c.number.like(pattern, escape="\\"))
        else:
            q = q.where(_e.c.number == c.number)
    fold = func.casefold if conn.dialect.name == "sqlite" else func.lower  # SQLite's lower() is ASCII-only
    for col_id, col_name, value in (
        (_e.c.issuer_id, _e.c.issuer_name, c.issuer),
        (_e.c.supplier_id, _e.c.supplier_name, c.supplier),
    ):
        if value:
            compact = value.replace(" ", "")
            named = fold(col_name).contains(value.casefold(), autoescape=True)
            q = q.where(or_(col_id.in_({compact, canonical(compact)}), named))
    if c.created_from:
        q = q.where(_e.c.created_at >= c.created_from)
    if c.created_to:
        q = q.where(_e.c.created_at < (date.fromisoformat(c.created_to) + timedelta(days=1)).isoformat())
    return list(conn.execute(q))


def resolve(conn: Connection, number: str, issuer: str | None = None) -> Row[Any]:
    """The one engagement with this number (and issuer, when several issuers used the number).

    Raises:
        NotFound: ORDER_NOT_FOUND, or ORDER_AMBIGUOUS naming the issuers.
    """
    q = select(_e).where(_e.c.number == number.strip())
    if issuer:
        q = q.where(_e.c.issuer_id.in_({issuer.replace(" ", ""), canonical(issuer.replace(" ", ""))}))
    rows = list(conn.execute(q))
    if not rows:
        raise NotFound(f"no engagement {number!r}" + (f" from issuer {issuer}" if issuer else ""))
    if len(rows) > 1:
        issuers = ", ".join(r.issuer_id for r in rows)
        raise NotFound(
            f"engagement {number!r} exists at several issuers ({issuers}); add --issuer", code="ORDER_AMBIGUOUS"
        )
    return rows[0]


def versions(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(_v).where(_v.c.engagement_id == engagement_id).order_by(_v.c.version)))


def lines(conn: Connection, version_id: int) -> list[Row[Any]]:
    t = s.engagement_lines
    return list(conn.execute(select(t).where(t.c.version_id == version_id).order_by(t.c.position)))


def attachments(conn: Connection, version_id: int) -> list[Row[Any]]:
    t = s.attachments
    return list(conn.execute(select(t).where(t.c.version_id == version_id).order_by(t.c.id)))


def with_source(conn: Connection, table: Table, engagement_id: int) -> list[Row[Any]]:
    """Rows of ``table`` for an engagement, with the name of the file each came from."""
    f = s.received_files
    q = (
        select(table, f.c.name.label("source_name"))
        .select_from(table.outerjoin(f, table.c.source_file_id == f.c.id))
        .where(table.c.engagement_id == engagement_id)
        .order_by(table.c.id)
    )
    return list(conn.execute(q))


def history(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    return with_source(conn, s.transitions, engagement_id)


def by_number(conn: Connection, number: str) -> list[Row[Any]]:
    return list(conn.execute(select(_e).where(_e.c.number == number).order_by(_e.c.id)))


def lock(conn: Connection, engagement_id: int) -> Row[Any]:
    """Re-read an engagement inside the transaction (row-locked where the database can)."""
    q = select(_e).where(_e.c.id == engagement_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).one()


def reroute(conn: Connection, engagement_id: int, supplier_id: str, supplier_name: str | None) -> None:
    """The corrected recipient of an engagement that was A_RECYCLER (the status moves separately)."""
    conn.execute(
        update(_e).where(_e.c.id == engagement_id).values(supplier_id=supplier_id, supplier_name=supplier_name)
    )
