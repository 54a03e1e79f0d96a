"""Terminal rendering with rich: one engagement (``orders show``), the change an answer would
make (``orders accept|refuse|modify``), and ``safe``, the one way every value that comes from a
document or a file name reaches the terminal. Reads the JSON shapes the ``Session`` returns;
holds no logic of its own."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

# C0 and C1 controls, DEL, and the invisible characters that move or reorder what a terminal
# shows (zero-width, bidirectional overrides and isolates, line and paragraph separators, BOM)
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, *, markup: bool = True, newlines: bool = False) -> str:
    """``value`` as text that shows what it holds and does nothing else on a terminal: control
    characters and escape sequences made visible (ESC is shown ``\\x1b``, a right-to-left
    override ``\\u202e``; line breaks too unless ``newlines``), and, unless ``markup`` is false
    (text printed with ``click.echo``, which interprets nothing), rich markup escaped so that
    ``[red]`` or ``[/b]`` in a name is printed as it is. ``None`` is ``""``.

    >>> safe("[red]x[bogus]y\\x1b[2J.xml")
    '\\\\[red]x\\\\[bogus]y\\\\x1b[2J.xml'
    >>> safe("a\\x1b]0;title\\x07", markup=False)
    'a\\\\x1b]0;title\\\\x07'
    """
    text = "" if value is None else str(value)
    text = _HIDDEN.sub(lambda m: m.group() if newlines and m.group() == "\n" else _visible(m), text)
    return escape(text) if markup else text


def console() -> Console:
    """A console for documents' values: emoji codes (``:fr:``) and rich's highlighting off, so
    that text from a document is printed as the document has it (markup: ``safe``)."""
    return Console(emoji=False, highlight=False)


def _party(p: dict[str, Any] | None) -> str:
    if not p:
        return "—"
    ids = ", ".join(dict.fromkeys(f"{i['scheme'] + ':' if i['scheme'] else ''}{i['value']}" for i in p.get("ids", [])))
    addr = p.get("address") or {}
    where = " ".join(x for x in (*addr.get("lines", []), addr.get("postcode") or "", addr.get("city") or "") if x)
    parts = [
        safe(p.get("name")) or "(no name)",
        safe(ids),
        safe(where),
        safe(p.get("contact")),
        f"service {safe(p['service'])}" if p.get("service") else "",
    ]
    return "\n".join(x for x in parts if x)


def _kv(rows: list[tuple[str, Any]]) -> Table:
    """Key and value rows; the values are rich text already (made with ``safe``)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        if value not in (None, "", []):
            table.add_row(key, str(value))
    return table


def _cells(*values: object) -> list[str]:
    return [safe(v) for v in values]


def engagement_panel(d: dict[str, Any]) -> None:
    """``orders show``: every value from the document through ``safe``."""
    currency = safe(d["currency"])
    general = _kv(
        [
            ("Engagement", safe(d["number"])),
            ("Status", safe(f"{d['status']} ({d['label']})")),
            ("Version", d["version"]),
            ("Format", safe(d["syntax"])),
            ("Issue date", safe(d["issue_date"])),
            ("Created", safe(d["created_at"])),
            ("Contract", safe(d["contract_reference"])),
            ("Notes", "\n".join(safe(note, newlines=True) for note in d["notes"])),
            ("Allowed actions", ", ".join(d["allowed_actions"]) or "view, download"),
        ]
    )
    pay = d["payment"]
    payment = _kv(
        [
            ("Amount HT", f"{safe(pay['amount_ht'])} {currency}"),
            ("VAT", safe(pay["tax"])),
            ("Amount TTC", f"{safe(pay['amount_ttc'])} {currency}"),
            ("Terms", safe(pay["terms"], newlines=True)),
            ("Means", safe(pay["means"])),
        ]
    )
    parties = _kv(
        [
            ("Issuer", _party(d["issuer"])),
            ("Recipient", _party(d["recipient"])),
            ("Invoice to", _party(d["invoice_recipient"]) if d["invoice_recipient"] else None),
        ]
    )
    lines = Table(title="Lines")
    for col in ("line", "item", "qty", "unit", "unit price", "per", "net amount", "VAT %"):
        lines.add_column(col, justify="right" if col in ("qty", "unit price", "per", "net amount", "VAT %") else "left")
    for ln in d["lines"]:
        lines.add_row(
            *_cells(
                ln["line_id"],
                ln["name"],
                ln["quantity"],
                ln["unit"],
                ln["unit_price"],
                ln.get("base_quantity"),  # the price basis: "30.00 per 2"
                ln["net_amount"],
                ln["tax_rate"],
            )
        )
    parts: list[Any] = [
        Panel(general, title="General information"),
        Panel(payment, title="Payment conditions and amount"),
        Panel(parties, title="Parties"),
        lines,
    ]
    delivery = d.get("delivery")
    if delivery:
        addr = delivery.get("address") or {}
        parts.append(
            Panel(
                _kv(
                    [
                        ("Deliver to", safe(delivery.get("party_name"))),
                        ("Location", safe(delivery.get("location_id"))),
                        (
                            "Address",
                            safe(
                                " ".join(
                                    x
                                    for x in (
                                        *addr.get("lines", []),
                                        addr.get("postcode") or "",
                                        addr.get("city") or "",
                                    )
                                    if x
                                )
                            ),
                        ),
                        ("From", safe(delivery.get("start"))),
                        ("By", safe(delivery.get("end"))),
                    ]
                ),
                title="Delivery",
            )
        )
    if d["attachments"]:
        att = Table(title="Attachments")
        for col in ("id", "file", "type", "description", "where"):
            att.add_column(col)
        for a in d["attachments"]:
            att.add_row(
                *_cells(a["id"], a["filename"], a["mime"], a["description"], "embedded" if a["embedded"] else a["uri"])
            )
        parts.append(att)
    if d["invoices"]:
        inv = Table(title="Invoices")
        for col in ("number", "type", "date", "amount TTC", "counted", "status", "anomalies"):
            inv.add_column(col, justify="right" if col == "amount TTC" else "left", no_wrap=col == "amount TTC")
        for i in d["invoices"]:
            inv.add_row(
                *_cells(
                    i["number"],
                    i["type"],
                    i["issue_date"],
                    f"{i['amount_ttc'] or ''} {i['currency'] or ''}".strip(),
                    "yes" if i["counted"] else "no",
                    i["status"],
                    ", ".join(i["anomalies"]),
                )
            )
        parts.append(inv)
    t = d["totals"]
    parts.append(
        Panel(
            _kv(
                [
                    ("Currency", safe(t["currency"])),
                    ("Invoiced TTC", safe(t["invoiced_ttc"])),
                    ("Credit notes TTC", safe(t["credit_notes_ttc"])),
                    ("Paid TTC", safe(t["paid_ttc"])),
                    ("Remaining TTC", safe(t["remaining_ttc"])),
                    ("Match", safe(t["match_status"])),
                ]
            ),
            title="Totals (net of credit notes)",
        )
    )
    hist = Table(title="History")
    for col in ("at", "from", "to", "event", "actor", "source"):
        hist.add_column(col)
    for h in d["history"]:
        hist.add_row(*_cells(h["at"], h["from"] or "—", h["to"], h["event"], h["actor"], h["source"]))
    parts.append(hist)
    console().print(Group(*parts))


RESPONSE_LABELS = {"AP": "accepted", "RE": "refused", "CA": "accepted with changes"}


def _arrow(before: str | None, after: str | None) -> str:
    """``before → after``, or the one value when it did not change ("—": none)."""
    old, new = safe(before) or "—", safe(after) or "—"
    return old if old == new else f"{old} → {new}"


def _price(line: dict[str, Any] | None) -> str | None:
    """A line's unit price with its basis when there is one: ``30 per 2``."""
    if line is None or line["unit_price"] is None:
        return None
    base = line["base_quantity"]
    return f"{line['unit_price']}" + (f" per {base}" if base not in (None, "1") else "")


def change_tables(change: dict[str, Any]) -> list[Table]:
    """The lines and the totals of an answer with changes, before → after (``shapes.amendment``)."""
    lines = Table(title="Lines, before → after")
    for col in ("line", "item", "change", "quantity", "unit price", "amount"):
        numeric = col in ("quantity", "unit price", "amount")
        lines.add_column(col, justify="right" if numeric else "left", no_wrap=numeric or col in ("line", "change"))
    for row in change["lines"]:
        old, new = row["before"], row["after"]
        what = "added" if old is None else "dropped" if new is None else "unchanged" if old == new else "changed"
        lines.add_row(
            safe(row["line_id"]),
            safe(row["name"]),
            what,
            _arrow(old and old["quantity"], new and new["quantity"]),
            _arrow(_price(old), _price(new)),
            _arrow(old and old["net_amount"], new and new["net_amount"]),
        )
    currency = safe(change["currency"])
    totals = Table(title=f"Totals{' (' + currency + ')' if currency else ''}")
    totals.add_column("total")
    totals.add_column("before", justify="right", no_wrap=True)
    totals.add_column("after", justify="right", no_wrap=True)
    for key, label in (("ht", "HT"), ("vat", "VAT"), ("ttc", "TTC")):
        pair = change["totals"][key]
        totals.add_row(label, safe(pair["before"]) or "—", safe(pair["after"]) or "—")
    return [lines, totals]


def answer_plan(
    number: str,
    issuer_id: str,
    before: str,
    after: str,
    warnings: list[tuple[str, str]],
    change: dict[str, Any] | None,
    code: str,
    responses: list[str],
    where: str,
) -> None:
    """What an answer will do, before it is asked for: the state change, any warning, the
    lines and totals before → after (``modify``), the order response it will write."""
    out = console()
    out.print(f"engagement {safe(number)} ({safe(issuer_id)}): {safe(before)} -> {safe(after)}", soft_wrap=True)
    for warning_code, message in warnings:
        out.print(f"  {safe(warning_code)}: {safe(message)}", soft_wrap=True)
    if change is not None:
        for table in change_tables(change):
            out.print(table)
    label = RESPONSE_LABELS.get(code, code)
    for name in responses:
        out.print(
            f"  order response {safe(code)} ({label}) {safe(name)} will be written to {safe(where)}", soft_wrap=True
        )
