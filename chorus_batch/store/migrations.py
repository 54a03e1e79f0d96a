"""Versioned schema migrations: named, ordered, each applied once in its own transaction
together with its row in ``schema_migrations``.

Migration 1 creates the first shape of every table. A later change to ``schema.py`` comes with
a new migration here (ALTER/CREATE statements), never with an edit of an applied one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, inspect, select, text, update

from ..domain import matching
from ..domain.identifiers import canonical
from . import schema as s
from .invoices import counted, counted_sums


def _initial(conn: Connection) -> None:
    s.metadata.create_all(
        conn,
        tables=[
            s.blobs,
            s.received_files,
            s.parties,
            s.engagements,
            s.engagement_versions,
            s.engagement_lines,
            s.attachments,
            s.transitions,
        ],
    )


def _answers_and_parking(conn: Connection) -> None:
    s.metadata.create_all(conn, tables=[s.answers, s.parked])


def _invoices(conn: Connection) -> None:
    s.metadata.create_all(conn, tables=[s.invoices, s.invoice_statuses])


def _names_as_text(conn: Connection) -> None:
    """File names and paths without a length limit (their text form may be four times their bytes).
    SQLite never enforced the declared lengths."""
    if conn.dialect.name == "postgresql":
        columns = ", ".join(
            f"ALTER COLUMN {c} TYPE TEXT" for c in ("name", "partner", "stored_as", "ack", "claimed_as")
        )
        conn.execute(text(f"ALTER TABLE received_files {columns}"))


def _store_meta(conn: Connection) -> None:
    """The store's own facts, first of them the id of the workspace it belongs to (``identity``)."""
    s.metadata.create_all(conn, tables=[s.store_meta])


# what documents and people send, unbounded (a supplier's name of 400 characters, a number of 60,
# the document kinds of an answers CSV of hundreds of rows): SQLite never bounded them
_SENT_TEXT = {
    "received_files": ("kinds",),
    "parties": ("party_id", "name"),
    "engagements": ("issuer_id", "number", "supplier_id", "issuer_name", "supplier_name", "currency"),
    "engagement_lines": ("line_id", "name", "unit"),
    "attachments": ("ident", "filename", "mime", "description", "uri"),
    "answers": ("partner", "response_file"),
    "parked": ("order_number",),
    "invoices": (
        "number",
        "type_code",
        "currency",
        "seller_id",
        "seller_name",
        "buyer_id",
        "buyer_name",
        "buyer_reference",
        "engagement_ref",
    ),
}


def _sent_text(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for table, columns in _SENT_TEXT.items():
            changes = ", ".join(f"ALTER COLUMN {c} TYPE TEXT" for c in columns)
            conn.execute(text(f"ALTER TABLE {table} {changes}"))


def _base_quantity(conn: Connection) -> None:
    """Each line's price basis (the quantity its unit price is for). A store made by migration 1
    from this version's tables has the column already."""
    if "base_quantity" not in {c["name"] for c in inspect(conn).get_columns("engagement_lines")}:
        conn.execute(text("ALTER TABLE engagement_lines ADD COLUMN base_quantity BIGINT"))


def _party_keys(conn: Connection) -> None:
    """Every stored party key in its canonical spelling (``identifiers.canonical``: ``GLN:…`` →
    ``0088:…``). A key whose canonical form is already taken (the same party or engagement stored
    twice under two spellings) is left as it was: new documents go to the row under the
    canonical key, and comparisons canonicalise both sides, so the old row is still found."""
    p, e, i = s.parties, s.engagements, s.invoices
    for party in conn.execute(select(p.c.id, p.c.party_id)).all():
        key = canonical(party.party_id)
        if key != party.party_id and conn.execute(select(p.c.id).where(p.c.party_id == key)).first() is None:
            conn.execute(update(p).where(p.c.id == party.id).values(party_id=key))
    for row in conn.execute(select(e.c.id, e.c.issuer_id, e.c.supplier_id, e.c.number)).all():
        issuer, supplier = canonical(row.issuer_id), canonical(row.supplier_id)
        if supplier != row.supplier_id:
            conn.execute(update(e).where(e.c.id == row.id).values(supplier_id=supplier))
        if issuer != row.issuer_id:
            taken = select(e.c.id).where(e.c.issuer_id == issuer, e.c.number == row.number)
            if conn.execute(taken).first() is None:
                conn.execute(update(e).where(e.c.id == row.id).values(issuer_id=issuer))
    for column in (i.c.seller_id, i.c.buyer_id):
        for (key,) in conn.execute(select(column).where(column.is_not(None)).distinct()).all():
            if canonical(key) != key:
                conn.execute(update(i).where(column == key).values({column.name: canonical(key)}))


def _invoices_that_fit(conn: Connection) -> None:
    """Invoices know why they are left out of their engagement's totals (``excluded``): the
    currency, seller and buyer of every matched invoice are checked again against its engagement
    (``matching.match``, party keys in canonical spelling), and its anomalies rewritten."""
    i, e = s.invoices, s.engagements
    if "excluded" not in {c["name"] for c in inspect(conn).get_columns("invoices")}:
        conn.execute(text("ALTER TABLE invoices ADD COLUMN excluded TEXT"))
    _party_keys(conn)
    matched = (
        select(i.c.id, i.c.currency, i.c.identities, e.c.id.label("engagement_id"), e.c.number, e.c.issuer_id)
        .add_columns(e.c.supplier_id, e.c.currency.label("engagement_currency"))
        .select_from(i.join(e, e.c.id == i.c.engagement_id))
        .order_by(i.c.id)
    )
    for row in conn.execute(matched).all():
        known = json.loads(row.identities or "{}")
        engagement = matching.Candidate(row.engagement_id, row.issuer_id, row.supplier_id, row.engagement_currency)
        found = matching.match(
            row.number,
            matching.known_party(known.get("seller", [])),
            matching.known_party(known.get("buyer", [])),
            row.currency,
            [engagement],
        )
        anomalies = json.dumps([a.as_dict() for a in found.anomalies], ensure_ascii=False)
        conn.execute(update(i).where(i.c.id == row.id).values(anomalies=anomalies, excluded=found.excluded))


def _due_date(conn: Connection) -> None:
    """Each invoice's due date (BT-9), NULL for those received before. A store made by
    migration 3 from this version's tables has the column already."""
    if "due_date" not in {c["name"] for c in inspect(conn).get_columns("invoices")}:
        conn.execute(text("ALTER TABLE invoices ADD COLUMN due_date VARCHAR(10)"))


# -- migration 10: each engagement's totals, kept by the database as invoices are written ---------
#
# The counting rule of ``invoices.counted_sums`` for one row (``NEW`` or ``OLD`` in a trigger),
# frozen here as a migration is: a row counts when it is matched, not a duplicate, not REJETEE
# and fits its engagement (no ``excluded`` reason); it adds its signed TTC (a credit note
# subtracts) to ``invoiced``, its TTC to ``credit_notes`` when a credit note, its signed TTC to
# ``paid`` when MISE_EN_PAIEMENT, and 1 to ``invoice_count``; each sum in its two exact parts
# (whole units truncated toward zero, millionth remainders with the sign of the amount).

_TOTALS = (
    "invoiced_units",
    "invoiced_rest",
    "credit_notes_units",
    "credit_notes_rest",
    "paid_units",
    "paid_rest",
    "invoice_count",
)
# the invoice columns the rule reads: an update of any other column leaves the totals alone
_RULE_COLUMNS = ("engagement_id", "duplicate_of", "status", "excluded", "type", "amount_ttc")


def _counts(row: str) -> str:
    return (
        f"{row}.engagement_id IS NOT NULL AND {row}.duplicate_of IS NULL"
        f" AND {row}.status <> 'REJETEE' AND {row}.excluded IS NULL"
    )


def _adds(row: str, dialect: str) -> list[str]:
    """What the row adds to each of ``_TOTALS``, as SQL."""
    ttc, credit = f"{row}.amount_ttc", f"{row}.type = 'credit_note'"
    signed = f"(CASE WHEN {credit} THEN -{ttc} ELSE {ttc} END)"
    sums = (
        signed,
        f"(CASE WHEN {credit} THEN {ttc} ELSE 0 END)",
        f"(CASE WHEN {row}.status = 'MISE_EN_PAIEMENT' THEN {signed} ELSE 0 END)",
    )
    parts = []
    for value in sums:
        rest = f"mod({value}, 1000000)" if dialect == "postgresql" else f"({value} % 1000000)"
        parts += [f"COALESCE({value} / 1000000, 0)", f"COALESCE({rest}, 0)"]
    return [*parts, "1"]


def _add_row(row: str, dialect: str, sign: str) -> list[str]:
    """The statements that add (``sign`` ``+``) or take away (``-``) ``row`` from its
    engagement's totals."""
    changes = ", ".join(f"{c} = {c} {sign} {v}" for c, v in zip(_TOTALS, _adds(row, dialect), strict=True))
    statements = [f"UPDATE engagement_totals SET {changes} WHERE engagement_id = {row}.engagement_id"]
    if sign == "+":  # the engagement's first counted invoice: its row, at zero, first
        ignore = "ON CONFLICT (engagement_id) DO NOTHING" if dialect == "postgresql" else ""
        verb = "INSERT" if dialect == "postgresql" else "INSERT OR IGNORE"
        statements.insert(0, f"{verb} INTO engagement_totals (engagement_id) VALUES ({row}.engagement_id) {ignore}")
    return statements


def _engagement_totals(conn: Connection) -> None:
    """``engagement_totals``: the sums the reconciliation reports per engagement, filled from
    the invoices already stored, then kept by triggers on ``invoices`` in the same transaction
    as every write (insert, an update of a column the counting rule reads, delete), however
    the row is written. ``invoices.kept_totals`` and ``recounted_totals`` compare them."""
    s.metadata.create_all(conn, tables=[s.engagement_totals])
    conn.execute(s.engagement_totals.delete())  # made again from the invoices (a store rolled back to before 10)
    i, sums = s.invoices, counted_sums()
    present = (
        select(i.c.engagement_id, *(func.coalesce(sums[name], 0) for name in _TOTALS))
        .where(i.c.engagement_id.is_not(None), counted())
        .group_by(i.c.engagement_id)
    )
    conn.execute(insert(s.engagement_totals).from_select(["engagement_id", *_TOTALS], present))
    dialect = conn.dialect.name
    columns = ", ".join(_RULE_COLUMNS)
    if dialect == "postgresql":
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _RULE_COLUMNS)
        body = f"""
            IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN
                RETURN NULL;
            END IF;
            IF TG_OP <> 'INSERT' THEN
                IF {_counts("OLD")} THEN
                    {"; ".join(_add_row("OLD", dialect, "-"))};
                END IF;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                IF {_counts("NEW")} THEN
                    {"; ".join(_add_row("NEW", dialect, "+"))};
                END IF;
            END IF;
            RETURN NULL;"""
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION chorus_engagement_totals() RETURNS trigger LANGUAGE plpgsql"
                f" AS $$ BEGIN {body} END $$"
            )
        )
        conn.execute(text("DROP TRIGGER IF EXISTS invoices_engagement_totals ON invoices"))
        conn.execute(
            text(
                f"CREATE TRIGGER invoices_engagement_totals AFTER INSERT OR DELETE OR UPDATE OF {columns}"
                " ON invoices FOR EACH ROW EXECUTE FUNCTION chorus_engagement_totals()"
            )
        )
        return
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _RULE_COLUMNS)
    triggers = {
        "invoice_totals_inserted": ("INSERT", f"{_counts('NEW')}", _add_row("NEW", dialect, "+")),
        "invoice_totals_deleted": ("DELETE", f"{_counts('OLD')}", _add_row("OLD", dialect, "-")),
        "invoice_totals_left": (
            f"UPDATE OF {columns}",
            f"({_counts('OLD')}) AND ({changed})",
            _add_row("OLD", dialect, "-"),
        ),
        "invoice_totals_joined": (
            f"UPDATE OF {columns}",
            f"({_counts('NEW')}) AND ({changed})",
            _add_row("NEW", dialect, "+"),
        ),
    }
    for name, (event, when, statements) in triggers.items():
        body = "".join(f"{statement}; " for statement in statements)
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        conn.execute(text(f"CREATE TRIGGER {name} AFTER {event} ON invoices WHEN {when} BEGIN {body}END"))


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial: files, blobs, parties, engagements, versions, lines, attachments, transitions", _initial),
    (2, "supplier answers and parked documents", _answers_and_parking),
    (3, "invoices, credit notes and their lifecycle", _invoices),
    (4, "file names and paths as text of any length", _names_as_text),
    (5, "the store's identity: the workspace it belongs to", _store_meta),
    (6, "what documents and people send as text of any length", _sent_text),
    (7, "the price basis of each order line (base quantity)", _base_quantity),
    (8, "party keys in one spelling; invoices left out of their engagement's totals, and why", _invoices_that_fit),
    (9, "the due date of invoices", _due_date),
    (10, "each engagement's invoiced, credit notes and paid totals, kept as invoices are written", _engagement_totals),
]


def applied(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        if not inspect(conn).has_table("schema_migrations"):
            return []
        return list(
            conn.execute(select(s.schema_migrations.c.version).order_by(s.schema_migrations.c.version)).scalars()
        )


def migrate(engine: Engine) -> list[int]:
    """Apply every pending migration; return the versions applied now.

    One transaction for the lot: on PostgreSQL, where DDL is transactional and several workers
    may start together, an advisory lock makes the others wait and then find nothing to do.
    """
    now = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(726350142)"))
        s.metadata.create_all(conn, tables=[s.schema_migrations])
        done = set(conn.execute(select(s.schema_migrations.c.version)).scalars())
        for version, name, step in MIGRATIONS:
            if version in done:
                continue
            step(conn)
            conn.execute(
                s.schema_migrations.insert().values(
                    version=version, name=name, applied_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                )
            )
            now.append(version)
    return now
