"""The store: every SQL statement and every difference between the databases lives here.

* ``engine``      ``Store`` (an engine on the store URL, migrated on open), ``Source``, savepoints
* ``schema``, ``migrations``  the tables and their numbered migrations
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
...)``: functions take a SQLAlchemy ``Connection`` inside the caller's transaction.
"""

from sqlalchemy import Connection

from . import answers, codec, engagements, files, invoices, parking, parties, reports
from .engine import Source, Store, savepoint

__all__ = [
    "Connection",
    "Source",
    "Store",
    "answers",
    "codec",
    "engagements",
    "files",
    "invoices",
    "parking",
    "parties",
    "reports",
    "savepoint",
]
