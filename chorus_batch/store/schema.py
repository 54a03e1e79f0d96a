"""The store's tables (SQLAlchemy Core), at the shape the latest migration leaves them.

Money and quantities are exact: ``Micros`` keeps a ``Decimal`` as a whole number of millionths in
a BIGINT column, so SUM() in SQL is exact on SQLite and PostgreSQL alike; no REAL/float column
holds an amount. Timestamps are ISO 8601 UTC strings (``2026-11-26T17:30:00Z``), which sort.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

SCALE = 10**6


class Micros(TypeDecorator[Decimal]):
    """A ``Decimal`` with at most 6 decimals stored as an integer count of millionths."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return _micros(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], int | None] | None:
        """``_micros`` itself, without SQLAlchemy's wrapper, when the integer column's own
        type processes nothing (SQLite, psycopg): it runs for every amount of every line."""
        if self.impl_instance.bind_processor(dialect) is not None:
            return super().bind_processor(dialect)
        return _micros

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)) / SCALE


def _micros(value: Any) -> int | None:
    """A decimal value as its whole number of millionths (``None`` stays ``None``).

    Raises:
        ValueError: not a finite number, or more than 6 decimals.
    """
    if value is None:
        return None
    number = value if type(value) is Decimal else Decimal(value)
    if number.is_finite():
        scaled = number * SCALE
        whole = int(scaled)
        if whole == scaled:
            return whole
    raise ValueError(f"{value} is not a finite number of at most 6 decimals")


metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_at", String(32), nullable=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

received_files = Table(
    "received_files",
    metadata,
    Column("id", Integer, primary_key=True),
    # names and paths in text form (domain.names): a name of 255 bytes that are not UTF-8 is 1,020 characters
    Column("name", Text, nullable=False),
    Column("partner", Text),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("received_at", String(32), nullable=False),
    Column("processed_at", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("kinds", Text, nullable=False, default=""),
    Column("errors", Text, nullable=False, default="[]"),  # JSON list of {code, message, line, xpath}
    Column("stored_as", Text),  # archive or rejected path, relative to the workspace
    Column("ack", Text),
    Column("claimed_as", Text),  # its path in var/processing/ while being processed
    Column("report", Text),  # the integration report (JSON), rewritten by recovery if a crash lost it
    Index("ix_received_files_sha256", "sha256"),
    Index("ix_received_files_name", "name"),
)

parties = Table(
    "parties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("details", Text, nullable=False),  # JSON: identifiers, address, contact as last received
    Column("updated_at", String(32), nullable=False),
)

engagements = Table(
    "engagements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issuer_id", Text, nullable=False),
    Column("number", Text, nullable=False),
    Column("supplier_id", Text, nullable=False),
    Column("issuer_name", Text),
    Column("supplier_name", Text),
    Column("status", String(20), nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("currency", Text),
    Column("amount_ht", Micros),
    Column("amount_ttc", Micros),
    Column("created_at", String(32), nullable=False),
    Column("last_transition_at", String(32), nullable=False),
    UniqueConstraint("issuer_id", "number", name="uq_engagement_issuer_number"),
    Index("ix_engagements_number", "number"),
    Index("ix_engagements_status", "status"),
    Index("ix_engagements_supplier", "supplier_id"),
)

engagement_versions = Table(
    "engagement_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("engagement_id", Integer, ForeignKey("engagements.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(30), nullable=False),  # the document kind that made this version
    Column("syntax", String(20), nullable=False),
    Column("source_file_id", Integer, ForeignKey("received_files.id")),
    Column("document_sha256", String(64), ForeignKey("blobs.sha256")),  # the original bytes
    Column("document", Text, nullable=False),  # JSON of the domain document
    Column("issue_date", String(10)),
    Column("amount_ht", Micros),
    Column("amount_ttc", Micros),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("engagement_id", "version", name="uq_version"),
)

engagement_lines = Table(
    "engagement_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("engagement_versions.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("line_id", Text, nullable=False),
    Column("name", Text),
    Column("quantity", Micros),
    Column("unit", Text),
    Column("unit_price", Micros),
    Column("net_amount", Micros),
    Column("tax_rate", Micros),
    Column("base_quantity", Micros),  # the quantity unit_price is for; NULL: 1 (migration 7)
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version_id", Integer, ForeignKey("engagement_versions.id"), nullable=False, index=True),
    Column("ident", Text),
    Column("filename", Text),
    Column("mime", Text),
    Column("description", Text),
    Column("uri", Text),
    Column("blob_sha256", String(64), ForeignKey("blobs.sha256")),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("engagement_id", Integer, ForeignKey("engagements.id"), nullable=False, index=True),
    Column("at", String(32), nullable=False),
    Column("from_status", String(20)),
    Column("to_status", String(20), nullable=False),
    Column("event", String(30), nullable=False),
    Column("actor", String(30), nullable=False),
    Column("source_file_id", Integer, ForeignKey("received_files.id")),
    Column("version", Integer, nullable=False),
)

# -- migration 2: supplier answers, parked documents, emitted order responses ---------------------

answers = Table(
    "answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("engagement_id", Integer, ForeignKey("engagements.id"), nullable=False, index=True),
    Column("at", String(32), nullable=False),
    Column("code", String(2), nullable=False),  # AP, RE, CA, AB
    Column("reason", Text),
    Column("channel", String(10), nullable=False),  # ubl, order-x, csv, cli
    Column("partner", Text),
    Column("source_file_id", Integer, ForeignKey("received_files.id")),
    Column("outcome", String(30), nullable=False),  # APPLIED, NO_CHANGE, RECORDED
    Column("response_file", Text),  # the order response for outbox/responses/
    Column("response_sha256", String(64), ForeignKey("blobs.sha256")),  # its bytes, until written
    Column("response_written", Integer, nullable=False, default=0),  # 1 once the file is in outbox/responses/
)

parked = Table(
    "parked",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("received_files.id"), nullable=False),
    Column("position", Integer, nullable=False),  # which document of the file (CSV row), from 0
    Column("kind", String(30), nullable=False),
    Column("order_number", Text, nullable=False, index=True),
    Column("parked_at", String(32), nullable=False),
    Column("state", String(10), nullable=False),  # WAITING, APPLIED, REJECTED, EXPIRED
    Column("resolved_at", String(32)),
)

# -- migration 3: invoices, credit notes and their lifecycle ---------------------------------------

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("received_files.id")),
    Column("document_sha256", String(64), ForeignKey("blobs.sha256")),
    Column("syntax", String(20), nullable=False),
    Column("number", Text, nullable=False),
    Column("type", String(20), nullable=False),  # invoice, credit_note
    Column("type_code", Text),
    Column("issue_date", String(10)),
    Column("due_date", String(10)),  # migration 9: BT-9, when the document gives one
    Column("currency", Text),
    Column("seller_id", Text),
    Column("seller_name", Text),
    Column("buyer_id", Text),
    Column("buyer_name", Text),
    Column("buyer_reference", Text),  # BT-10, the service code
    Column("engagement_ref", Text),  # BT-13 after trimming; NULL for none / placeholders
    Column("engagement_id", Integer, ForeignKey("engagements.id")),  # the matched engagement
    Column("amount_ht", Micros),  # positive; the type carries the sign
    Column("amount_ttc", Micros),
    Column("status", String(40), nullable=False),  # lifecycle (DEPOSEE ... COMPLETEE)
    Column("status_at", String(32), nullable=False),
    Column("duplicate_of", Integer, ForeignKey("invoices.id")),  # same seller and number seen before
    Column("anomalies", Text, nullable=False, default="[]"),  # JSON [{code, reason}] from matching
    Column("identities", Text, nullable=False, default="{}"),  # JSON {"seller": [...], "buyer": [...]} for re-matching
    # migration 8: why the invoice is left out of its engagement's totals (CURRENCY_MISMATCH,
    # SELLER_MISMATCH, BUYER_MISMATCH: domain.matching.EXCLUDING); NULL when it fits it
    Column("excluded", Text),
    Column("created_at", String(32), nullable=False),
    Index("ix_invoices_seller_number", "seller_id", "number"),
    Index("ix_invoices_engagement", "engagement_id"),
    Index("ix_invoices_engagement_ref", "engagement_ref"),
    Index("ix_invoices_number", "number"),
)

invoice_statuses = Table(
    "invoice_statuses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False, index=True),
    Column("status", String(40), nullable=False),
    Column("at", String(32), nullable=False),  # the status's own date (or the receipt time)
    Column("comment", Text),
    Column("source_file_id", Integer, ForeignKey("received_files.id")),
    Column("recorded_at", String(32), nullable=False),
)

# -- migration 5: what the store says about itself -------------------------------------------------

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(50), primary_key=True),  # ``workspace_id``: the workspace this store belongs to
    Column("value", Text, nullable=False),
)

# -- migration 10: each engagement's counted invoices, added up as they are written --------------

engagement_totals = Table(
    "engagement_totals",
    metadata,
    # the sums of ``invoices.counted_sums`` over the engagement's invoices, each in its two exact
    # parts (whole units, millionth remainders), kept by triggers on ``invoices`` (migration 10)
    Column("engagement_id", Integer, ForeignKey("engagements.id"), primary_key=True, autoincrement=False),
    Column("invoiced_units", BigInteger, nullable=False, server_default=text("0")),
    Column("invoiced_rest", BigInteger, nullable=False, server_default=text("0")),
    Column("credit_notes_units", BigInteger, nullable=False, server_default=text("0")),
    Column("credit_notes_rest", BigInteger, nullable=False, server_default=text("0")),
    Column("paid_units", BigInteger, nullable=False, server_default=text("0")),
    Column("paid_rest", BigInteger, nullable=False, server_default=text("0")),
    Column("invoice_count", BigInteger, nullable=False, server_default=text("0")),
)
