"""The intake's fast path to the database: statements compiled once and run on the DBAPI
cursor, and the savepoints the intake takes per file and per document.

SQLAlchemy writes the SQL and gives each column's bind processor (money as millionths); what a
``Statement`` skips is its per-execution work (cache keys, parameter and result processing),
which cost more than SQLite itself on a batch of small files. Private to ``store``: the other
store modules build their statements with it; nothing outside ``store`` sees a cursor.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnDefault, Connection, Dialect, Table, bindparam, func, select
from sqlalchemy.exc import DBAPIError

Ordered = Callable[[dict[str, Any]], tuple[Any, ...]]  # a statement's parameter values in their order
Bind = Callable[[dict[str, Any]], Any]  # a row's values -> the parameters the driver takes
Compiled = tuple[str, Bind]  # the SQL, and how a row is bound to it


class Statement:
    """A statement compiled once per dialect and set of columns, then run straight on the DBAPI
    cursor of the caller's connection, inside its transaction. Rows come back as plain named
    tuples, so only columns that need no result processing are selected this way.
    ``statement`` may be a function of the dialect's name, for the statements each dialect
    writes its own way."""

    def __init__(self, statement: Any, table: Table | None = None) -> None:
        self.statement, self.table = statement, table
        self._compiled: dict[tuple[str, tuple[str, ...]], Compiled] = {}

    def _prepare(self, conn: Connection, keys: tuple[str, ...]) -> Compiled:
        found = self._compiled.get((conn.dialect.name, keys))
        if found is None:
            statement = self.statement(conn.dialect.name) if callable(self.statement) else self.statement
            if (
                statement.is_insert
                and self.table is not None
                and "id" in self.table.c
                and conn.dialect.name != "sqlite"
            ):
                statement = statement.returning(self.table.c.id)  # SQLite gives cursor.lastrowid
            compiled = statement.compile(dialect=_positional(conn.dialect), column_keys=list(keys))
            columns = self.table.c if self.table is not None else ()
            processors: dict[str, Callable[[Any], Any]] = {
                c.key: p for c in columns if c.key in keys and (p := c.type.bind_processor(conn.dialect)) is not None
            }
            defaults = dict(compiled.params)  # a column left out has its default (SQLAlchemy's part)
            for c in columns:
                default = c.default
                if c.key in defaults and c.key not in keys and isinstance(default, ColumnDefault) and default.is_scalar:
                    defaults[c.key] = default.arg
            bind = _binder(compiled.positiontup, keys, defaults, processors)
            found = self._compiled[(conn.dialect.name, keys)] = (compiled.string, bind)
        return found

    def _params(self, conn: Connection, values: dict[str, Any]) -> tuple[str, Any]:
        sql, bind = self._prepare(conn, tuple(values))
        return sql, bind(values)

    def run(self, conn: Connection, values: dict[str, Any]) -> Any:
        sql, params = self._params(conn, values)
        return _on_cursor(conn, sql, params, many=False)

    def many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        sql, bind = self._prepare(conn, tuple(rows[0]))  # the rows have the same keys
        _on_cursor(conn, sql, [bind(row) for row in rows], many=True)

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


def _binder(
    order: Sequence[str] | None,
    keys: tuple[str, ...],
    defaults: dict[str, Any],
    processors: dict[str, Callable[[Any], Any]],
) -> Bind:
    """How a row's values become the parameters the driver takes: the columns left out at their
    defaults, each value through its column's bind processor, in the statement's order on
    SQLite (``order``; a dictionary on PostgreSQL). A row that gives every parameter, as the
    intake's inserts do, is taken in order at once and only its processed values replaced."""
    if order is None or not set(order) <= set(keys):
        ordered = None if order is None else _in_order(order)
        return lambda values: _bound(values, defaults, processors, ordered)
    taken = _in_order(order)
    processed = [(i, processors[name]) for i, name in enumerate(order) if name in processors]
    if not processed:
        return taken

    def bind(values: dict[str, Any]) -> list[Any]:
        params = list(taken(values))
        for i, process in processed:
            params[i] = process(params[i])
        return params

    return bind


def _bound(
    values: dict[str, Any],
    defaults: dict[str, Any],
    processors: dict[str, Callable[[Any], Any]],
    ordered: Ordered | None,
) -> Any:
    """The parameters of a row that leaves some out (``_binder``), or of any row on PostgreSQL."""
    params = {**defaults, **values}
    for key, process in processors.items():
        params[key] = process(params[key])
    return params if ordered is None else ordered(params)


def _on_cursor(conn: Connection, sql: str, params: Any, many: bool) -> Any:
    """Run on the DBAPI cursor; a driver error becomes SQLAlchemy's (IntegrityError, ...) as if
    SQLAlchemy had run the statement.

    One cursor per DBAPI connection, kept in its ``info`` (which lives as long as that
    connection: an invalidated connection starts with none), serves every statement: a new
    cursor cost more than the execution of a small statement on SQLite. Each caller reads what
    its statement returns before the next one runs on the connection."""
    info = conn.info
    cursor = info.get(_CURSOR)
    if cursor is None:
        cursor = info[_CURSOR] = conn.connection.cursor()
    dbapi = conn.dialect.loaded_dbapi
    try:
        (cursor.executemany if many else cursor.execute)(sql, params)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect) from exc
    return cursor


class Savepoint:
    """A SAVEPOINT taken on the DBAPI cursor, the only kind the intake takes (a file, a document
    of a file): SQLAlchemy's nested transaction costs more than the two statements themselves.
    ``on_rollback`` runs after a rollback (the store forgets what the transaction remembered).

    Named by how many the connection holds when it is taken (``chorus_0`` for a file's,
    ``chorus_1`` for a document's within it), so that the same few statements come back, each
    prepared once by the driver. A new one is always numbered above those still open, even
    after one was left open by an error (its enclosing one's rollback or release ends it): each
    name means one savepoint."""

    def __init__(self, conn: Connection, on_rollback: Callable[[Connection], None] | None = None) -> None:
        taken = conn.info.get(_TAKEN, 0)
        conn.info[_TAKEN] = taken + 1
        self.conn, self.name, self.on_rollback = conn, f"chorus_{taken}", on_rollback
        _on_cursor(conn, f"SAVEPOINT {self.name}", {}, many=False)

    def commit(self) -> None:
        _on_cursor(self.conn, f"RELEASE SAVEPOINT {self.name}", {}, many=False)
        self._ended()

    def rollback(self) -> None:
        _on_cursor(self.conn, f"ROLLBACK TO SAVEPOINT {self.name}", {}, many=False)
        _on_cursor(self.conn, f"RELEASE SAVEPOINT {self.name}", {}, many=False)
        self._ended()
        if self.on_rollback is not None:
            self.on_rollback(self.conn)

    def _ended(self) -> None:
        self.conn.info[_TAKEN] -= 1


_CURSOR = "chorus_batch.cursor"  # in the connection's ``info``: the cursor ``_on_cursor`` runs on
_TAKEN = "chorus_batch.savepoints"  # in the connection's ``info``: savepoints taken and not ended
TRANSACTION_KEYS = [_TAKEN]  # what ``forget_transaction`` drops; other store modules add theirs


def forget_transaction(conn: Connection, *_args: Any) -> None:
    """A transaction begins with none of what an earlier one kept in the connection's ``info``
    under ``TRANSACTION_KEYS``: no savepoint (those a failed one left open ended with it), no
    party remembered as written (``parties.upsert``), nothing its batch asked ahead (``among``).
    An invalidated connection has no ``info``."""
    if not conn.invalidated:
        for key in TRANSACTION_KEYS:
            conn.info.pop(key, None)


def among(conn: Connection, statement: Statement, name: str, values: Iterable[str]) -> list[Any] | None:
    """The rows ``statement`` gives for ``values`` (distinct, sorted), passed as the one JSON
    parameter ``name`` (``json_values``): what a batch asks ahead, on SQLite, whose write
    transaction holds the store's only write lock from its start, so the answer holds until the
    commit but for the batch's own writes. ``None`` on PostgreSQL, where another worker may
    commit meanwhile: there each value is asked about when its turn comes."""
    if conn.dialect.name != "sqlite":
        return None
    return list(statement.run(conn, {name: json.dumps(sorted(set(values)))}))


def json_values(name: str) -> Any:
    """The values of a list given as one JSON text parameter ``name``, for an ``IN`` on SQLite
    (``SELECT value FROM json_each(:name)``): one statement however long the list. A list of
    bound values (``IN (?, ?, ...)``) ran once a batch made the run's memory grow with its inbox
    (107 → 131 MB from 20,000 to 200,000 files); this one does not."""
    return select(func.json_each(bindparam(name)).table_valued("value").c.value).scalar_subquery()


def conflict_insert(dialect: str) -> Any:
    """The ``insert`` of SQLite or PostgreSQL (it writes ``ON CONFLICT``), its dialect module
    imported when first asked: a run on SQLite never loads PostgreSQL's (a start that much shorter)."""
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert


def _positional(dialect: Dialect) -> Dialect:
    """SQLite's dialect writing ``?`` parameters (the engine's is set to ``:name``, the style of
    SQLAlchemy's own statements there): the sqlite3 module binds a tuple faster than it looks
    each name up in a dictionary. PostgreSQL's is left as it is (psycopg takes a dictionary)."""
    if dialect.name != "sqlite":
        return dialect
    positional = copy.copy(dialect)
    positional.paramstyle, positional.positional = "qmark", True
    return positional


def _in_order(names: Sequence[str]) -> Ordered:
    """The values of ``names`` in a parameters' dictionary, as a tuple in that order."""
    if len(names) == 1:
        name = names[0]
        return lambda params: (params[name],)
    return itemgetter(*names)


@lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("FastRow", names)
