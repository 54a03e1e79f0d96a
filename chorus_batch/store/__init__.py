"""The store: every SQL statement and every difference between the databases lives here.

* ``engine``      ``Store`` (an engine on the store URL, migrated on open), ``Source``, savepoints
* ``schema``, ``migrations``  the tables and their numbered migrations
* ``identity``    what a store holds, looked at without opening it as a store; the id of its
                  workspace; SQLite's integrity check and online backup
* ``codec``       domain objects as the store keeps them (JSON)
* ``files``       received files and blobs
* ``parties``     the latest details of every party
* ``engagements`` engagements, versions, lines, attachments, transitions; search
* ``answers``     supplier answers and the order responses to write
* ``parking``     documents waiting for their order or invoice
* ``invoices``    invoices, credit notes, their statuses, and the sums they add up to
* ``reports``     the accountants' report queries, streamed
* ``_fast``       statements compiled once and run on the DBAPI cursor (private)

Callers import the package (``from .. import store as db``) and call ``db.files.add(conn,
...)``: functions take a ``Connection`` inside the caller's transaction. No other room imports
SQLAlchemy: the types it needs (``Connection``, ``Row``, ``Query``, ``URL``) and the errors that mean
another worker got there first (``CONFLICTS``) are named here.
"""

from sqlalchemy import URL, Connection
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql import Select as Query

from . import answers, codec, engagements, files, identity, invoices, parking, parties, reports
from .engine import Source, Store, describe, savepoint, sqlite_file, sqlite_url

# a concurrent worker's row or lock (PostgreSQL), or a busy database: the file is tried again
CONFLICTS = (IntegrityError, OperationalError)

__all__ = [
    "CONFLICTS",
    "URL",
    "Connection",
    "Query",
    "Row",
    "Source",
    "Store",
    "answers",
    "codec",
    "describe",
    "engagements",
    "files",
    "identity",
    "invoices",
    "parking",
    "parties",
    "reports",
    "savepoint",
    "sqlite_file",
    "sqlite_url",
]
