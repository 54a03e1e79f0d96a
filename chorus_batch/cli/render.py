"""Terminal rendering of one engagement (``orders show``) with rich. Reads the JSON shape
that ``Session.show_order`` returns; holds no logic of its own."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table


def _party(p: dict[str, Any] | None) -> str:
    if not p:
        return "—"
    ids = ", ".join(dict.fromkeys(f"{i['scheme'] + ':' if i['scheme'] else ''}{i['value']}" for i in p.get("ids", [])))
    addr = p.get("address") or {}
    where = " ".join(x for x in (*addr.get("lines", []), addr.get("postcode") or "", addr.get("city") or "") if x)
    parts = [
        p.get("name") or "(no name)",
        ids,
        where,
        p.get("contact") or "",
        f"service {p['service']}" if p.get("service") else "",
    ]
    return "\n".join(x for x in parts if x)


def _kv(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        if value not in (None, "", []):
            table.add_row(key, str(value))
    return table


def engagement_panel(d: dict[str, Any]) -> None:
    console = Console()
    general = _kv(
        [
            ("Engagement", d["number"]),
            ("Status", f"{d['status']} ({d['label']})"),
            ("Version", d["version"]),
            ("Format", d["syntax"]),
            ("Issue date", d["issue_date"]),
            ("Created", d["created_at"]),
            ("Contract", d["contract_reference"]),
            ("Notes", "\n".join(d["notes"])),
            ("Allowed actions", ", ".join(d["allowed_actions"]) or "view, download"),
        ]
    )
    pay = d["payment"]
    payment = _kv(
        [
            ("Amount HT", f"{pay['amount_ht']} {d['currency'] or ''}"),
            ("VAT", pay["tax"]),
            ("Amount TTC", f"{pay['amount_ttc']} {d['currency'] or ''}"),
            ("Terms", pay["terms"]),
            ("Means", pay["means"]),
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
            ln["line_id"],
            ln["name"] or "",
            ln["quantity"] or "",
            ln["unit"] or "",
            ln["unit_price"] or "",
            ln.get("base_quantity") or "",  # the price basis: "30.00 per 2"
            ln["net_amount"] or "",
            ln["tax_rate"] or "",
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
                        ("Deliver to", delivery.get("party_name")),
                        ("Location", delivery.get("location_id")),
                        (
                            "Address",
                            " ".join(
                                x
                                for x in (*addr.get("lines", []), addr.get("postcode") or "", addr.get("city") or "")
                                if x
                            ),
                        ),
                        ("From", delivery.get("start")),
                        ("By", delivery.get("end")),
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
                a["id"] or "",
                a["filename"] or "",
                a["mime"] or "",
                a["description"] or "",
                "embedded" if a["embedded"] else (a["uri"] or ""),
            )
        parts.append(att)
    if d["invoices"]:
        inv = Table(title="Invoices")
        for col in ("number", "type", "date", "amount TTC", "counted", "status", "anomalies"):
            inv.add_column(col, justify="right" if col == "amount TTC" else "left", no_wrap=col == "amount TTC")
        for i in d["invoices"]:
            inv.add_row(
                i["number"],
                i["type"],
                i["issue_date"] or "",
                f"{i['amount_ttc'] or ''} {i['currency'] or ''}".strip(),
                "yes" if i["counted"] else "no",
                i["status"],
                ", ".join(i["anomalies"]),
            )
        parts.append(inv)
    t = d["totals"]
    parts.append(
        Panel(
            _kv(
                [
                    ("Currency", t["currency"]),
                    ("Invoiced TTC", t["invoiced_ttc"]),
                    ("Credit notes TTC", t["credit_notes_ttc"]),
                    ("Paid TTC", t["paid_ttc"]),
                    ("Remaining TTC", t["remaining_ttc"]),
                    ("Match", t["match_status"]),
                ]
            ),
            title="Totals (net of credit notes)",
        )
    )
    hist = Table(title="History")
    for col in ("at", "from", "to", "event", "actor", "source"):
        hist.add_column(col)
    for h in d["history"]:
        hist.add_row(h["at"], h["from"] or "—", h["to"], h["event"], h["actor"], h["source"] or "")
    parts.append(hist)
    console.print(Group(*parts))
