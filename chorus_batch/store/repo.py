"""The only module that reads and writes the store. Functions take a SQLAlchemy ``Connection``
inside the caller's transaction; ``Store`` opens the engine and applies migrations.

``record_transition`` is the only writer of an engagement's status: it checks the event
against the domain table and appends the history row in the same transaction.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, and_, bindparam, case, create_engine, event, func, insert, or_, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import DBAPIError

from ..domain import states
from ..domain.identifiers import party_key
from ..domain.model import Attachment, OrderDocument, OrderLine, Party, party_json
from ..errors import ChorusError, NotFound
from . import migrations
from . import schema as s


class Store:
    """An engine on the store URL, migrated to the latest schema on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        # SQLite takes named parameters (``:name``) so that the intake path's statements (``_Hot``)
        # pass the same dictionaries to both databases (psycopg takes ``%(name)s``).
        named = {"paramstyle": "named"} if make_url(url).get_backend_name() == "sqlite" else {}
        self.engine: Engine = create_engine(url, future=True, **named)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        # what a transaction remembers of the parties it wrote is forgotten when the next one begins
        # (another process may change them in between) and on any rollback (a savepoint's too:
        # Savepoint.rollback)
        event.listen(self.engine, "begin", _forget_parties)
        event.listen(self.engine, "rollback", _forget_parties)
        migrations.migrate(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, open transactions (so SAVEPOINTs work).
    dbapi_conn.isolation_level = None
    dbapi_conn.create_function("casefold", 1, lambda v: v.casefold() if isinstance(v, str) else v, deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # A batch's savepoints keep their journal in memory, not in files under /var/tmp, and its
    # pages in a 16 MiB cache rather than spilling them to the WAL before the commit.
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-16384")
    cur.close()


# -- statements of the intake path ---------------------------------------------------------------


class _Hot:
    """A statement of the intake path (run for every file), compiled once per dialect and set of
    columns, then run straight on the DBAPI cursor of the caller's connection, inside its
    transaction. SQLAlchemy still writes the SQL and gives each column's bind processor (money
    as millionths); what is skipped is its per-execution work (cache keys, parameter and result
    processing), which cost more than SQLite itself. Rows come back as plain named tuples, so
    only columns that need no result processing are selected this way. ``statement`` may be a
    function of the dialect's name, for the statements each dialect writes its own way."""

    def __init__(self, statement: Any, table: Any = None) -> None:
        self.statement, self.table = statement, table
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Any], dict[str, Any]]] = {}

    def _prepare(self, conn: Connection, keys: tuple[str, ...]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        found = self._compiled.get((conn.dialect.name, keys))
        if found is None:
            statement = self.statement(conn.dialect.name) if callable(self.statement) else self.statement
            if statement.is_insert and "id" in self.table.c and conn.dialect.name != "sqlite":
                statement = statement.returning(self.table.c.id)  # SQLite gives cursor.lastrowid
            compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
            columns = self.table.c if self.table is not None else ()
            processors = {c.key: p for c in columns if c.key in keys and (p := c.type.bind_processor(conn.dialect)) is not None}
            found = self._compiled[(conn.dialect.name, keys)] = (compiled.string, dict(compiled.params), processors)
        return found

    def _params(self, conn: Connection, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        sql, defaults, processors = self._prepare(conn, tuple(values))
        params = {**defaults, **values}
        for key, process in processors.items():
            params[key] = process(params[key])
        return sql, params

    def run(self, conn: Connection, values: dict[str, Any]) -> Any:
        sql, params = self._params(conn, values)
        return _on_cursor(conn, sql, params, many=False)

    def many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        prepared = [self._params(conn, row) for row in rows]  # the rows have the same keys: one SQL
        _on_cursor(conn, prepared[0][0], [params for _sql, params in prepared], many=True)

    def insert(self, conn: Connection, values: dict[str, Any]) -> int:
        """Insert one row and return its id."""
        cursor = self.run(conn, values)
        return int(cursor.lastrowid if conn.dialect.name == "sqlite" else cursor.fetchone()[0])

    def first(self, conn: Connection, values: dict[str, Any]) -> Any:
        cursor = self.run(conn, values)
        row = cursor.fetchone()
        if row is None:
            return None
        return _row_type(tuple(d[0] for d in cursor.description))(*row)


def _on_cursor(conn: Connection, sql: str, params: Any, many: bool) -> Any:
    """Run on the DBAPI cursor; a driver error becomes SQLAlchemy's (IntegrityError, ...) as if
    SQLAlchemy had run the statement."""
    cursor = conn.connection.cursor()
    dbapi = conn.dialect.loaded_dbapi
    try:
        (cursor.executemany if many else cursor.execute)(sql, params)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect) from exc
    return cursor


class Savepoint:
    """A SAVEPOINT taken on the DBAPI cursor, the only kind the intake takes (a file, a document
    of a file): SQLAlchemy's nested transaction costs more than the two statements themselves.
    Its rollback forgets the parties remembered in the transaction."""

    _names = itertools.count()

    def __init__(self, conn: Connection) -> None:
        self.conn, self.name = conn, f"chorus_{next(self._names)}"
        _on_cursor(conn, f"SAVEPOINT {self.name}", {}, many=False)

    def commit(self) -> None:
        _on_cursor(self.conn, f"RELEASE SAVEPOINT {self.name}", {}, many=False)

    def rollback(self) -> None:
        _on_cursor(self.conn, f"ROLLBACK TO SAVEPOINT {self.name}", {}, many=False)
        _on_cursor(self.conn, f"RELEASE SAVEPOINT {self.name}", {}, many=False)
        _forget_parties(self.conn)


@lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("HotRow", names)  # type: ignore[misc]


_DIALECTS: dict[str, Any] = {"sqlite": sqlite, "postgresql": postgresql}
INTEGRATED = ("IN_INTEGRE", "IN_INTEGRE_PARTIEL", "PARKED")
_f, _e, _p = s.received_files, s.engagements, s.parties
_INTEGRATED_FILE = _Hot(
    select(_f.c.id, _f.c.name, _f.c.processed_at, _f.c.kinds)
    .where(_f.c.sha256 == bindparam("sha"), or_(*(_f.c.status == v for v in INTEGRATED)))
    .order_by(_f.c.id)
    .limit(1)
)
_INSERT_FILE = _Hot(insert(_f), _f)
_UPDATE_FILE = _Hot(update(_f).where(_f.c.id == bindparam("_file_id")), _f)
# INSERT ... ON CONFLICT DO NOTHING: written the same way by both dialects, built per dialect
_INSERT_BLOB = _Hot(lambda dialect: _DIALECTS[dialect].insert(s.blobs).on_conflict_do_nothing(index_elements=["sha256"]), s.blobs)
_PARTY = _Hot(select(_p.c.id, _p.c.details).where(_p.c.party_id == bindparam("key")))
_INSERT_PARTY = _Hot(insert(_p), _p)
_UPDATE_PARTY = _Hot(update(_p).where(_p.c.id == bindparam("_party_id")), _p)
_FIND_ENGAGEMENT = _Hot(select(_e.c.id).where(_e.c.issuer_id == bindparam("issuer"), _e.c.number == bindparam("number")))
_INSERT_ENGAGEMENT = _Hot(insert(_e), _e)
_INSERT_VERSION = _Hot(insert(s.engagement_versions), s.engagement_versions)
_INSERT_LINE = _Hot(insert(s.engagement_lines), s.engagement_lines)
_INSERT_TRANSITION = _Hot(insert(s.transitions), s.transitions)
_UNMATCHED_INVOICE = _Hot(
    select(s.invoices.c.id).where(s.invoices.c.engagement_ref == bindparam("ref"), s.invoices.c.engagement_id.is_(None)).limit(1)
)


# -- files and blobs ---------------------------------------------------------------------------


def integrated_file(conn: Connection, sha256: str) -> Row[Any] | None:
    """The first integrated (or parked) file with these bytes, if any (content-hash idempotency)."""
    return _INTEGRATED_FILE.first(conn, {"sha": sha256})


def insert_file(conn: Connection, **values: Any) -> int:
    return _INSERT_FILE.insert(conn, values)


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    _UPDATE_FILE.run(conn, {"_file_id": file_id, **values})


def put_blob(conn: Connection, data: bytes, sha: str | None = None) -> str:
    """Store ``data`` once under its SHA-256 (``sha`` when the caller has it) and return the hash."""
    sha = sha or hashlib.sha256(data).hexdigest()
    _INSERT_BLOB.run(conn, {"sha256": sha, "size": len(data), "content": data})
    return sha


def get_blob(conn: Connection, sha256: str) -> bytes | None:
    return conn.execute(select(s.blobs.c.content).where(s.blobs.c.sha256 == sha256)).scalar()


def list_files(conn: Connection, status: str | None = None) -> list[Row[Any]]:
    q = select(s.received_files).order_by(s.received_files.c.id)
    if status:
        q = q.where(s.received_files.c.status == status)
    return list(conn.execute(q))


def file_by_claim(conn: Connection, claimed_as: str) -> Row[Any] | None:
    """The latest file record of a claim path in var/processing/ (its processing committed)."""
    t = s.received_files
    return conn.execute(select(t).where(t.c.claimed_as == claimed_as).order_by(t.c.id.desc()).limit(1)).first()


def file_rows(conn: Connection, name: str) -> list[Row[Any]]:
    """Every processing of a file with this name (a name can be received several times)."""
    q = select(s.received_files).where(s.received_files.c.name == name).order_by(s.received_files.c.id)
    return list(conn.execute(q))


# -- parties -----------------------------------------------------------------------------------


def upsert_party(conn: Connection, party: Party, now: str) -> str | None:
    """Keep the latest details of a party under its key. The same parties come back in file
    after file: what this transaction already wrote is remembered in ``conn.info`` (forgotten
    when the next transaction begins and on any rollback), and a row is only rewritten when its
    details changed."""
    key = party_key(party)
    if key is None:
        return None
    details = party_json(party)
    written = conn.info.setdefault(_PARTIES, {})
    if written.get(key) == details:
        return key
    row = _PARTY.first(conn, {"key": key})
    if row is None:
        _INSERT_PARTY.run(conn, {"party_id": key, "name": party.name, "details": details, "updated_at": now})
    elif row.details != details:
        _UPDATE_PARTY.run(conn, {"_party_id": row.id, "name": party.name, "details": details, "updated_at": now})
    written[key] = details
    return key


_PARTIES = "chorus_batch.parties"


def _forget_parties(conn: Connection, *_args: Any) -> None:
    conn.info.pop(_PARTIES, None)


# -- engagements -------------------------------------------------------------------------------


def find_engagement(conn: Connection, issuer_id: str, number: str) -> Row[Any] | None:
    found = _FIND_ENGAGEMENT.first(conn, {"issuer": issuer_id, "number": number})
    return None if found is None else conn.execute(select(_e).where(_e.c.id == found.id)).one()


def current_document(conn: Connection, engagement_id: int, version: int) -> dict[str, Any]:
    q = select(s.engagement_versions.c.document).where(
        s.engagement_versions.c.engagement_id == engagement_id, s.engagement_versions.c.version == version
    )
    return json.loads(conn.execute(q).scalar_one())


@dataclass(frozen=True)
class Source:
    """Where a change comes from: the received file, its stored bytes, and when."""

    file_id: int | None
    blob_sha256: str | None
    now: str


def create_engagement(conn: Connection, doc: OrderDocument, number: str, event_: states.Event, src: Source) -> tuple[int, states.State]:
    """Store a new engagement from an order document, version 1, and its first transition."""
    issuer_id = upsert_party(conn, doc.issuer, src.now)
    supplier_id = upsert_party(conn, doc.supplier, src.now)
    if doc.invoicee is not None and party_key(doc.invoicee) not in (issuer_id, supplier_id):
        upsert_party(conn, doc.invoicee, src.now)  # the same party as the issuer keeps the issuer's details
    if issuer_id is None or supplier_id is None:
        raise ChorusError("order without party identifiers reached the store", code="PARTY_MISSING")
    status = states.apply(None, event_)
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
    _add_version(conn, engagement_id, 1, doc, src)
    _history(conn, engagement_id, None, status, event_, src, 1)
    return engagement_id, status


def _add_version(conn: Connection, engagement_id: int, version: int, doc: OrderDocument, src: Source) -> int:
    issued = doc.issue_date.isoformat() if doc.issue_date else None
    amounts = (doc.totals.amount_ht, doc.totals.amount_ttc)
    return add_version(conn, engagement_id, version, doc.kind, doc.syntax, (doc.as_json, issued, *amounts), doc.lines, doc.attachments, src)


def add_version(
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
    document_json, issue_date, amount_ht, amount_ttc = document
    version_id = _INSERT_VERSION.insert(
        conn,
        dict(
            engagement_id=engagement_id,
            version=version,
            kind=kind,
            syntax=syntax,
            source_file_id=src.file_id,
            document_sha256=src.blob_sha256,
            document=document_json,
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
        return totals["tax_inclusive"]
    if totals.get("payable") is not None:
        return totals["payable"]
    ht = totals.get("tax_exclusive") or totals.get("line_total")
    if ht is not None and totals.get("tax_total") is not None:
        return str(Decimal(ht) + Decimal(totals["tax_total"]))
    return None


def new_version(
    conn: Connection, engagement: Row[Any], kind: str, syntax: str, document: dict[str, Any], lines_: Sequence[OrderLine], src: Source
) -> int:
    """Add the next version of ``engagement`` and make it current (amounts included)."""
    version = engagement.current_version + 1
    totals = document.get("totals") or {}
    amount_ht, amount_ttc = totals.get("tax_exclusive") or totals.get("line_total"), _ttc(totals)
    stored = (json.dumps(document, ensure_ascii=False, sort_keys=True), document.get("issue_date"), amount_ht, amount_ttc)
    add_version(conn, engagement.id, version, kind, syntax, stored, lines_, (), src)
    conn.execute(
        update(s.engagements).where(s.engagements.c.id == engagement.id).values(current_version=version, amount_ht=amount_ht, amount_ttc=amount_ttc)
    )
    return version


def current_lines(conn: Connection, engagement: Row[Any]) -> list[OrderLine]:
    v = s.engagement_versions
    version_id = conn.execute(
        select(v.c.id).where(v.c.engagement_id == engagement.id, v.c.version == engagement.current_version)
    ).scalar_one()
    return [
        OrderLine(r.line_id, r.name, r.quantity, r.unit, r.unit_price, r.net_amount, tax_rate=r.tax_rate)
        for r in lines(conn, version_id)
    ]


def first_version(conn: Connection, engagement_id: int) -> Row[Any]:
    v = s.engagement_versions
    return conn.execute(select(v).where(v.c.engagement_id == engagement_id, v.c.version == 1)).one()


def _history(
    conn: Connection,
    engagement_id: int,
    before: states.State | None,
    after: states.State,
    event_: states.Event,
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
            event=event_.value,
            actor=states.ACTORS[event_],
            source_file_id=src.file_id,
            version=version,
        ),
    )


def record_transition(conn: Connection, engagement_id: int, event_: states.Event, src: Source) -> states.State:
    """Move an engagement by ``event_`` (checked against the table) and append its history row.

    Raises:
        TransitionNotAllowed: nothing was written.
    """
    row = conn.execute(select(s.engagements).where(s.engagements.c.id == engagement_id)).one()
    before = states.State(row.status)
    after = states.apply(before, event_)
    conn.execute(
        update(s.engagements).where(s.engagements.c.id == engagement_id).values(status=after.value, last_transition_at=src.now)
    )
    _history(conn, engagement_id, before, after, event_, src, row.current_version)
    return after


# -- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criteria:
    status: str | None = None
    number: str | None = None
    issuer: str | None = None  # SIRET / party id, or a part of the name
    supplier: str | None = None
    created_from: str | None = None  # ISO date, inclusive
    created_to: str | None = None  # ISO date, inclusive


def search(conn: Connection, c: Criteria) -> list[Row[Any]]:
    e = s.engagements
    q = select(e).order_by(e.c.number, e.c.issuer_id)
    if c.status:
        q = q.where(e.c.status == c.status)
    if c.number:
        if "*" in c.number:
            pattern = c.number.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_").replace("*", "%")
            q = q.where(e.c.number.like(pattern, escape="\\"))
        else:
            q = q.where(e.c.number == c.number)
    fold = func.casefold if conn.dialect.name == "sqlite" else func.lower  # SQLite's lower() is ASCII-only
    for col_id, col_name, value in ((e.c.issuer_id, e.c.issuer_name, c.issuer), (e.c.supplier_id, e.c.supplier_name, c.supplier)):
        if value:
            compact = value.replace(" ", "")
            q = q.where(or_(col_id == compact, fold(col_name).contains(value.casefold(), autoescape=True)))
    if c.created_from:
        q = q.where(e.c.created_at >= c.created_from)
    if c.created_to:
        q = q.where(e.c.created_at < _next_day(c.created_to))
    return list(conn.execute(q))


def _next_day(iso_date: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(iso_date) + timedelta(days=1)).isoformat()


def resolve(conn: Connection, number: str, issuer: str | None = None) -> Row[Any]:
    """The one engagement with this number (and issuer, when several issuers used the number).

    Raises:
        NotFound: ORDER_NOT_FOUND, or ORDER_AMBIGUOUS naming the issuers.
    """
    q = select(s.engagements).where(s.engagements.c.number == number.strip())
    if issuer:
        q = q.where(s.engagements.c.issuer_id == issuer.replace(" ", ""))
    rows = list(conn.execute(q))
    if not rows:
        raise NotFound(f"no engagement {number!r}" + (f" from issuer {issuer}" if issuer else ""))
    if len(rows) > 1:
        issuers = ", ".join(r.issuer_id for r in rows)
        raise NotFound(f"engagement {number!r} exists at several issuers ({issuers}); add --issuer", code="ORDER_AMBIGUOUS")
    return rows[0]


def versions(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    v = s.engagement_versions
    return list(conn.execute(select(v).where(v.c.engagement_id == engagement_id).order_by(v.c.version)))


def lines(conn: Connection, version_id: int) -> list[Row[Any]]:
    t = s.engagement_lines
    return list(conn.execute(select(t).where(t.c.version_id == version_id).order_by(t.c.position)))


def attachments(conn: Connection, version_id: int) -> list[Row[Any]]:
    t = s.attachments
    return list(conn.execute(select(t).where(t.c.version_id == version_id).order_by(t.c.id)))


def _with_source(conn: Connection, table: Any, engagement_id: int) -> list[Row[Any]]:
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
    return _with_source(conn, s.transitions, engagement_id)


def by_number(conn: Connection, number: str) -> list[Row[Any]]:
    return list(conn.execute(select(s.engagements).where(s.engagements.c.number == number).order_by(s.engagements.c.id)))


def lock_engagement(conn: Connection, engagement_id: int) -> Row[Any]:
    """Re-read an engagement inside the transaction (row-locked where the database can)."""
    q = select(s.engagements).where(s.engagements.c.id == engagement_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).one()


def reroute(conn: Connection, engagement_id: int, supplier_id: str, supplier_name: str | None) -> None:
    """The corrected recipient of an engagement that was A_RECYCLER (the status moves separately)."""
    conn.execute(update(s.engagements).where(s.engagements.c.id == engagement_id).values(supplier_id=supplier_id, supplier_name=supplier_name))


def party_details(conn: Connection, party_id: str) -> dict[str, Any] | None:
    raw = conn.execute(select(s.parties.c.details).where(s.parties.c.party_id == party_id)).scalar()
    return json.loads(raw) if raw else None


def record_answer(conn: Connection, **values: Any) -> int:
    return int(conn.execute(insert(s.answers).values(**values)).inserted_primary_key[0])  # type: ignore[index]


def unwritten_responses(conn: Connection) -> list[Row[Any]]:
    """Order responses committed but not yet confirmed written to outbox/responses/ (a crash in between)."""
    t = s.answers
    q = select(t.c.response_file, t.c.response_sha256).where(t.c.response_written == 0, t.c.response_file.is_not(None))
    return list(conn.execute(q))


def mark_responses_written(conn: Connection, names: Sequence[str]) -> None:
    if names:
        conn.execute(update(s.answers).where(s.answers.c.response_file.in_(list(names))).values(response_written=1))


def answers_of(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    return _with_source(conn, s.answers, engagement_id)


def count_answers(conn: Connection, engagement_id: int, outcome: str) -> int:
    t = s.answers
    q = select(func.count()).select_from(t).where(t.c.engagement_id == engagement_id, t.c.outcome == outcome)
    return int(conn.execute(q).scalar_one())


# -- parking -----------------------------------------------------------------------------------


def park(conn: Connection, file_id: int, position: int, kind: str, order_number: str, now: str) -> None:
    conn.execute(
        insert(s.parked).values(file_id=file_id, position=position, kind=kind, order_number=order_number, parked_at=now, state="WAITING")
    )


def _parked_rows(*where: Any) -> Any:
    p, f = s.parked, s.received_files
    return (
        select(p, f.c.name, f.c.partner, f.c.sha256, f.c.received_at, f.c.stored_as, f.c.ack)
        .select_from(p.join(f, p.c.file_id == f.c.id))
        .where(p.c.state == "WAITING", *where)
        .order_by(p.c.id)
    )


def waiting_for(conn: Connection, order_numbers: Sequence[str]) -> list[Row[Any]]:
    """The documents parked for any of these numbers, oldest first."""
    found: list[Row[Any]] = []
    wanted = sorted(set(order_numbers))
    for start in range(0, len(wanted), 500):  # a bounded IN list per query
        found += conn.execute(_parked_rows(s.parked.c.order_number.in_(wanted[start : start + 500])))
    return sorted(found, key=lambda row: row.id)


def expired_parked(conn: Connection, before: str) -> list[Row[Any]]:
    return list(conn.execute(_parked_rows(s.parked.c.parked_at <= before)))


def parked_now_resolvable(conn: Connection) -> list[str]:
    """References of waiting parked documents that an engagement or an invoice now carries."""
    p = s.parked
    known = or_(
        select(s.engagements.c.id).where(s.engagements.c.number == p.c.order_number).exists(),
        select(s.invoices.c.id).where(s.invoices.c.number == p.c.order_number).exists(),
    )
    return list(conn.execute(select(p.c.order_number).where(p.c.state == "WAITING", known).distinct()).scalars())


def take_parked(conn: Connection, parked_id: int) -> bool:
    """Lock a parked document for this transaction if it is still waiting (another worker may
    be taking it up at the same moment on PostgreSQL: it skips it then)."""
    q = select(s.parked.c.id).where(s.parked.c.id == parked_id, s.parked.c.state == "WAITING")
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return conn.execute(q).first() is not None


def resolve_parked(conn: Connection, parked_id: int, state: str, now: str) -> None:
    conn.execute(update(s.parked).where(s.parked.c.id == parked_id).values(state=state, resolved_at=now))


def parked_states(conn: Connection, file_id: int) -> list[str]:
    return list(conn.execute(select(s.parked.c.state).where(s.parked.c.file_id == file_id).order_by(s.parked.c.position)).scalars())


def file_by_id(conn: Connection, file_id: int) -> Row[Any]:
    return conn.execute(select(s.received_files).where(s.received_files.c.id == file_id)).one()


# -- invoices ------------------------------------------------------------------------------------


def insert_invoice(conn: Connection, **values: Any) -> int:
    return int(conn.execute(insert(s.invoices).values(**values)).inserted_primary_key[0])  # type: ignore[index]


def first_invoice(conn: Connection, seller_id: str | None, number: str) -> Row[Any] | None:
    """The first invoice received with this seller and number (duplicates point to it)."""
    t = s.invoices
    seller = t.c.seller_id.is_(None) if seller_id is None else t.c.seller_id == seller_id
    q = select(t).where(seller, t.c.number == number, t.c.duplicate_of.is_(None)).order_by(t.c.id).limit(1)
    return conn.execute(q).first()


def invoices_by_number(conn: Connection, number: str) -> list[Row[Any]]:
    t = s.invoices
    return list(conn.execute(select(t).where(t.c.number == number, t.c.duplicate_of.is_(None)).order_by(t.c.id)))


def unmatched_invoices(conn: Connection, engagement_ref: str) -> list[Row[Any]]:
    if _UNMATCHED_INVOICE.first(conn, {"ref": engagement_ref}) is None:  # the usual answer, cheaply
        return []
    t = s.invoices
    return list(conn.execute(select(t).where(t.c.engagement_ref == engagement_ref, t.c.engagement_id.is_(None)).order_by(t.c.id)))


def update_invoice(conn: Connection, invoice_id: int, **values: Any) -> None:
    conn.execute(update(s.invoices).where(s.invoices.c.id == invoice_id).values(**values))


def add_invoice_status(conn: Connection, invoice_id: int, status: str, at: str, comment: str | None, file_id: int | None, now: str) -> None:
    """Record a lifecycle status; the invoice's current status is the one with the latest date."""
    conn.execute(
        insert(s.invoice_statuses).values(invoice_id=invoice_id, status=status, at=at, comment=comment, source_file_id=file_id, recorded_at=now)
    )
    t = s.invoice_statuses
    latest = conn.execute(select(t.c.status, t.c.at).where(t.c.invoice_id == invoice_id).order_by(t.c.at.desc(), t.c.id.desc()).limit(1)).one()
    update_invoice(conn, invoice_id, status=latest.status, status_at=latest.at)


def invoices_of(conn: Connection, engagement_id: int) -> list[Row[Any]]:
    t = s.invoices
    return list(conn.execute(select(t).where(t.c.engagement_id == engagement_id).order_by(t.c.issue_date, t.c.id)))


@dataclass(frozen=True)
class InvoicedTotals:
    invoiced_ttc: Decimal  # invoices minus credit notes, REJETEE and duplicates excluded
    credit_notes_ttc: Decimal
    paid_ttc: Decimal  # invoices minus credit notes in MISE_EN_PAIEMENT


def invoiced_totals(conn: Connection, engagement_id: int) -> InvoicedTotals:
    """SPEC §8 sums for one engagement, computed in SQL."""
    t = s.invoices
    signed = case((t.c.type == "credit_note", -t.c.amount_ttc), else_=t.c.amount_ttc)
    counted = and_(t.c.engagement_id == engagement_id, t.c.duplicate_of.is_(None), t.c.status != "REJETEE")
    sums = (
        func.sum(signed),
        func.sum(case((t.c.type == "credit_note", t.c.amount_ttc), else_=0)),
        func.sum(case((t.c.status == "MISE_EN_PAIEMENT", signed), else_=0)),
    )
    # the raw millionths, summed exactly by the database, then one conversion to Decimal
    row = conn.execute(select(*(type_coerce(func.coalesce(x, 0), BigInteger) for x in sums)).where(counted)).one()
    return InvoicedTotals(*(Decimal(int(v)) / s.SCALE for v in row))
