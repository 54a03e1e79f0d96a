"""Report frames → files: CSV (one file per report), one XLSX workbook, or one HTML page.

Every file is written through a temporary dot-name and an atomic rename
(``workspace.write_bytes``): a reader never sees half a report. Output is deterministic — the
same frames give the same bytes:

* CSV: UTF-8, comma, header row, ``\\n`` line ends (SPEC §10). ``excel_fr``: ``;`` separator,
  decimal comma in the money columns (``727,20``), UTF-8 with a BOM so French Excel opens it
  right; text cells that Excel would run as a formula (leading ``= + - @``, tab, CR) get a
  leading ``'`` in that mode only.
* XLSX: ``reports.xlsx``, a sheet per report; money as numeric cells with a two-decimal
  format, every other value as text (a name starting with ``=`` stays text, never a formula).
  The workbook's created/modified properties are fixed (``as_of`` at midnight UTC, else
  2000-01-01) and the zip entries get a fixed timestamp, so the same frames give the same bytes.
* HTML: ``reports.html``, one self-contained page (inline CSS, inline SVG charts drawn here, no
  script, no external resource) in French: a table per report and two bar charts (engagements per
  status; ageing by ``days_in_status``: 0–7, 8–30, 31–90, > 90 days).
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..domain.states import LABELS, State
from ..workspace import write_bytes, write_chunks
from .build import INTEGER_COLUMNS, MONEY_COLUMNS

FORMATS = ("csv", "xlsx", "html")
WORKBOOK = "reports.xlsx"
PAGE = "reports.html"
_FIXED_DAY = date(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write(
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    fmt: str = "csv",
    excel_fr: bool = False,
    as_of: date | None = None,
) -> list[Path]:
    """Write ``frames`` (report name → frame from ``build``) into ``out_dir``; return the paths.

    ``csv`` writes ``<name>.csv`` per frame; ``xlsx`` and ``html`` write one file holding every
    frame given. ``excel_fr`` applies to CSV only (XLSX cells are locale-independent numbers and
    the HTML page is already French). ``as_of`` is the report day shown in the page and used as
    the workbook's date.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "csv":
        return [write_csv(name, [df], out_dir / f"{name}.csv", excel_fr) for name, df in frames.items()]
    target, data = (
        (out_dir / WORKBOOK, to_xlsx(frames, as_of)) if fmt == "xlsx" else (out_dir / PAGE, to_html(frames, as_of))
    )
    write_bytes(target, data)  # temporary dot-name, then atomic rename
    return [target]


# -- CSV -----------------------------------------------------------------------------------------


def write_csv(name: str, chunks: Iterable[pd.DataFrame], target: Path, excel_fr: bool = False) -> Path:
    """One report as a CSV file written chunk by chunk (memory stays flat however many rows),
    through a temporary dot-name renamed at the end: the same bytes as ``to_csv`` of them all."""
    write_chunks(target, (to_csv(name, chunk, excel_fr, first=i == 0) for i, chunk in enumerate(chunks)))
    return target


def to_csv(name: str, df: pd.DataFrame, excel_fr: bool = False, first: bool = True) -> bytes:
    """One report as CSV bytes (see the module docstring for the two dialects); ``first=False``:
    a later chunk of it, without the header row and the BOM."""
    out = df.copy()
    sep = ","
    if excel_fr:
        sep = ";"
        money = MONEY_COLUMNS.get(name, ())
        for col in out.columns:
            if col in money:
                out[col] = out[col].astype(str).str.replace(".", ",", regex=False)
            elif col not in INTEGER_COLUMNS.get(name, ()):
                out[col] = out[col].map(_no_formula)
    buf = io.StringIO(newline="")
    # the csv module, as pandas' to_csv uses it (minimal quoting), fed whole columns: faster
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    if first:
        writer.writerow(out.columns)
    writer.writerows(zip(*(out[col].tolist() for col in out.columns), strict=True))
    text = buf.getvalue()
    return ("\ufeff" + text).encode("utf-8") if excel_fr and first else text.encode("utf-8")


def _no_formula(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


# -- XLSX ----------------------------------------------------------------------------------------


def to_xlsx(frames: Mapping[str, pd.DataFrame], as_of: date | None = None) -> bytes:
    """One workbook, a sheet per report (header row bold and frozen, auto-filter)."""
    day = as_of or _FIXED_DAY
    stamp = datetime(day.year, day.month, day.day)
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]  # a new workbook has its one sheet active
    wb.properties.creator = "chorus-batch"
    wb.properties.title = "chorus-batch reports"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    bold = Font(bold=True)
    for name, df in frames.items():
        ws = wb.create_sheet(name)
        money = set(MONEY_COLUMNS.get(name, ()))
        integers = set(INTEGER_COLUMNS.get(name, ()))
        columns = list(df.columns)
        widths = [len(c) for c in columns]
        for j, col in enumerate(columns, 1):
            ws.cell(row=1, column=j, value=col).font = bold
        # a presentation loop over the finished frame (not over the store)
        for i, row in enumerate(df.itertuples(index=False, name=None), 2):
            for j, (col, value) in enumerate(zip(columns, row, strict=True), 1):
                text = "" if value is None else str(value)
                widths[j - 1] = max(widths[j - 1], len(text))
                if col in money:
                    if text:
                        # Decimal → float only here, at the last presentation step: Excel cells are
                        # binary doubles. Every computation before this used exact Decimals/integers.
                        cell = ws.cell(row=i, column=j, value=float(Decimal(text)))
                        cell.number_format = "#,##0.00"
                elif col in integers:
                    ws.cell(row=i, column=j, value=int(value))
                elif text:
                    cell = ws.cell(row=i, column=j, value=text)
                    cell.data_type = "s"  # text stays text, even "=..." (never a formula)
        for j, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(j)].width = min(width + 2, 60)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(df) + 1}"
    raw = io.BytesIO()
    wb.save(raw)
    return _stable_zip(raw.getvalue(), stamp)


def _stable_zip(data: bytes, stamp: datetime) -> bytes:
    """Re-pack the workbook with fixed entry timestamps and a fixed ``dcterms:modified`` (openpyxl
    stamps both with the current time), entries in the same order: same content, same bytes."""
    fixed = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + fixed.encode() + rb"\g<2>",
                    content,
                )
                content = re.sub(
                    rb"(<dcterms:created[^>]*>)[^<]*(</dcterms:created>)",
                    rb"\g<1>" + fixed.encode() + rb"\g<2>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, content)
    return out.getvalue()


# -- HTML ----------------------------------------------------------------------------------------

TITLES = {
    "status": ("Statut des engagements", "status.csv : un engagement par ligne, son statut et ses montants."),
    "reconciliation": (
        "Rapprochement commandes / factures",
        "reconciliation.csv : par engagement, le commandé, le facturé net des avoirs (hors REJETEE et doublons), "
        "le mis en paiement, le reste à facturer et les anomalies.",
    ),
    "invoices": (
        "Factures et avoirs",
        "invoices.csv : une ligne par facture ou avoir reçu, doublons et rejets compris.",
    ),
    "totals": (
        "Totaux par devise",
        "totals.csv : une ligne par devise ; les montants de deux devises ne sont jamais additionnés.",
    ),
}
LABELS_FR = {
    "engagement_number": "N° d'engagement",
    "issuer_id": "Émetteur (id)",
    "issuer_name": "Émetteur",
    "supplier_id": "Fournisseur (id)",
    "supplier_name": "Fournisseur",
    "status": "Statut",
    "created_at": "Créé le",
    "last_transition_at": "Dernière transition",
    "days_in_status": "Jours dans le statut",
    "amount_ht": "Montant HT",
    "amount_ttc": "Montant TTC",
    "currency": "Devise",
    "ordered_ht": "Commandé HT",
    "ordered_ttc": "Commandé TTC",
    "invoiced_ttc": "Facturé TTC (net)",
    "credit_notes_ttc": "Avoirs TTC",
    "paid_ttc": "Mis en paiement TTC",
    "remaining_ttc": "Reste à facturer TTC",
    "invoice_count": "Nb de documents",
    "match_status": "Rapprochement",
    "anomalies": "Anomalies",
    "invoice_number": "N° de facture",
    "type": "Type",
    "seller_id": "Vendeur (id)",
    "buyer_id": "Acheteur (id)",
    "matched": "Rapprochée",
    "counted": "Comptée",
    "engagement_count": "Nb d'engagements",
    "anomaly": "Anomalies",
}
AGEING = (("0 à 7 j", 0, 7), ("8 à 30 j", 8, 30), ("31 à 90 j", 31, 90), ("plus de 90 j", 91, None))
_ANOMALY_SPLIT = re.compile(r"; (?=[A-Z][A-Z_]+: )")  # between two "CODE: reason" items
_CODE_COLUMNS = ("status", "match_status")
_NNBSP = "\u202f"  # narrow no-break space: the French thousands separator

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 1.5rem; color: #161616; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #000091; padding-bottom: .2rem; }
p.lead { margin: 0 0 1rem; color: #3a3a3a; }
nav ul { list-style: none; padding: 0; display: flex; gap: 1.25rem; flex-wrap: wrap; }
a { color: #000091; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; border: 1px solid #ddd; padding: .5rem; background: #fafafa; flex: 0 1 560px; min-width: 0; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #3a3a3a; margin-top: .25rem; }
svg text { font-family: inherit; font-size: 12px; fill: #161616; }
svg .bar { fill: #000091; }
svg .bar.old { fill: #b34000; }
svg .grid { stroke: #ddd; stroke-width: 1; }
svg .axis { stroke: #666; stroke-width: 1; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .8rem; margin-bottom: .5rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; caption-side: top; }
th, td { border: 1px solid #ccc; padding: .2rem .35rem; vertical-align: top; }
thead th { background: #e3e3fd; position: sticky; top: 0; text-align: left; }
th small { display: block; font-weight: normal; color: #555; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
tbody tr:nth-child(even) { background: #f6f6f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.anomaly { min-width: 15rem; max-width: 30rem; color: #8a1c00; }
td.empty { color: #777; font-style: italic; }
@media print { thead th { position: static; } .scroll { overflow: visible; } }
""".strip()  # noqa: E501 -- the page's CSS, byte for byte as the golden page has it


def to_html(frames: Mapping[str, pd.DataFrame], as_of: date | None = None) -> bytes:
    """The page: a heading, a table of contents, the two charts (when the status report is
    given) and one table per report."""
    esc = html.escape
    day = f" au {as_of.isoformat()}" if as_of else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="chorus-batch">',
        f"<title>Rapports chorus-batch{esc(day)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>Engagements et factures{esc(day)}</h1>",
        '<p class="lead">Rapports pour la comptabilité : montants dans la devise de leur ligne (colonne Devise), '
        "jamais additionnés d'une devise à l'autre, avec deux décimales "
        "(arrondi au plus proche, demi vers le haut), dates ISO 8601 (UTC).</p>",
        '<nav aria-label="Sommaire"><ul>',
    ]
    if "status" in frames:
        parts.append('<li><a href="#graphiques">Graphiques</a></li>')
    for name in frames:
        parts.append(f'<li><a href="#{esc(name)}">{esc(TITLES.get(name, (name, ""))[0])}</a></li>')
    parts += ["</ul></nav>", "</header>", "<main>"]
    if "status" in frames:
        parts += _charts(frames["status"])
    for name, df in frames.items():
        parts += _table(name, df)
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts).encode("utf-8")


def _charts(df: pd.DataFrame) -> list[str]:
    statuses = [s.value for s in State]
    present = sorted(set(df["status"].astype(str)) - set(statuses))
    counts = df["status"].astype(str).value_counts()
    by_status = [
        (LABELS.get(State(st), st) if st in statuses else st, int(counts.get(st, 0))) for st in statuses + present
    ]
    days = df["days_in_status"].astype("int64")
    ageing = [
        (label, int(((days >= low) & (days <= high if high is not None else True)).sum()))
        for label, low, high in AGEING
    ]
    return [
        '<section id="graphiques" aria-labelledby="graphiques-titre">',
        '<h2 id="graphiques-titre">Graphiques</h2>',
        '<div class="charts">',
        _figure(
            "chart-status",
            "Engagements par statut",
            "Nombre d'engagements dans chaque statut.",
            by_status,
            old_from=None,
        ),
        _figure(
            "chart-ageing",
            "Ancienneté dans le statut",
            "Nombre d'engagements selon le nombre de jours passés dans leur statut actuel.",
            ageing,
            old_from=3,
        ),
        "</div>",
        "</section>",
    ]


def _figure(chart_id: str, title: str, caption: str, bars: Sequence[tuple[str, int]], old_from: int | None) -> str:
    """A bar chart as inline SVG (no library): integer axis, value above each bar, labels below."""
    esc = html.escape
    width, height, left, right, top, bottom = 560, 280, 44, 12, 28, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([count for _, count in bars] + [1])
    step = max(1, math.ceil(peak / 5))
    ceiling = step * math.ceil(peak / step)
    slot = plot_w / max(len(bars), 1)
    bar_w = slot * 0.6
    summary = ", ".join(f"{label} : {count}" for label, count in bars)
    out = [
        "<figure>",
        f'<svg role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        f'<title id="{chart_id}-title">{esc(title)}</title>',
        f'<desc id="{chart_id}-desc">{esc(caption)} {esc(summary)}.</desc>',
    ]
    for value in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * value / ceiling
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    out.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}"/>')
    for i, (label, count) in enumerate(bars):
        x = left + i * slot + (slot - bar_w) / 2
        h = plot_h * count / ceiling
        y = top + plot_h - h
        css = "bar old" if old_from is not None and i >= old_from else "bar"
        centre = x + bar_w / 2
        out += [
            "<g>",
            f"<title>{esc(label)} : {count}</title>",
            f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}"/>',
            f'<text x="{centre:.1f}" y="{y - 6:.1f}" text-anchor="middle">{count}</text>',
            f'<text x="{centre:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{esc(label)}</text>',
            "</g>",
        ]
    out += ["</svg>", f"<figcaption>{esc(title)} — {esc(caption)}</figcaption>", "</figure>"]
    return "\n".join(out)


def _table(name: str, df: pd.DataFrame) -> list[str]:
    esc = html.escape
    title, caption = TITLES.get(name, (name, ""))
    money = set(MONEY_COLUMNS.get(name, ()))
    numbers = money | set(INTEGER_COLUMNS.get(name, ()))
    columns = list(df.columns)
    out = [
        f'<section id="{esc(name)}" aria-labelledby="{esc(name)}-titre">',
        f'<h2 id="{esc(name)}-titre">{esc(title)}</h2>',
        '<div class="scroll">',
        "<table>",
        f"<caption>{esc(caption)} {len(df)} ligne{'s' if len(df) != 1 else ''}.</caption>",
        "<thead><tr>"
        + "".join(f'<th scope="col">{esc(LABELS_FR.get(c, c))}<small>{esc(c)}</small></th>' for c in columns)
        + "</tr></thead>",
        "<tbody>",
    ]
    if df.empty:
        out.append(f'<tr><td class="empty" colspan="{len(columns)}">Aucune ligne.</td></tr>')
    for row in df.itertuples(index=False, name=None):  # presentation of the finished frame
        cells = []
        for col, value in zip(columns, row, strict=True):
            text = "" if value is None else str(value)
            if col in money:
                cells.append(f'<td class="num">{esc(_french_money(text))}</td>')
            elif col in numbers:
                cells.append(f'<td class="num">{esc(text)}</td>')
            elif col in ("anomalies", "anomaly") and text:
                cells.append(f'<td class="anomaly">{"<br>".join(esc(a) for a in _ANOMALY_SPLIT.split(text))}</td>')
            elif col in _CODE_COLUMNS:  # UPPER_SNAKE codes may break after "_" (no visible change)
                cells.append(f"<td>{esc(text).replace('_', '_<wbr>')}</td>")
            else:
                cells.append(f"<td>{esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>", "</div>", "</section>"]
    return out


def _french_money(text: str) -> str:
    """``"-1234567.20"`` → ``"-1 234 567,20"`` (narrow no-break spaces); ``""`` stays empty."""
    if not text:
        return ""
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, cents = digits.partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + _NNBSP.join(groups) + ("," + cents if cents else "")
