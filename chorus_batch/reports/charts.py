"""Bar charts as inline SVG, for the HTML report: no library, no script, no external resource.

One kind of chart: vertical bars for a few categories, one bar per series in each (grouped), with
a visible title, a legend (one entry per series), a value axis with its label and round ticks, a
category axis with its label, and each bar's value in its tooltip (``<title>``) and in the
chart's description for screen readers. Long category labels are turned at 35° so they never
overlap. Values are ``int`` or ``Decimal`` (money): the scale is computed in exact decimals, and
only the pixel coordinates are written rounded to 0.1.

Deterministic: the same arguments give the same text.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

Number = int | Decimal

WIDTH, PLOT_HEIGHT = 560, 180
_LEFT, _RIGHT, _TOP = 84, 12, 64  # the value axis' labels; the title and the legend above
_CHAR_PX = 7  # a generous average width of one character at 12px
_COS, _SIN = Decimal("0.82"), Decimal("0.58")  # of the 35° of turned labels
_TICKS = 5  # at most this many steps on the value axis
_PALETTE = ("s0", "s1", "s2", "s3")  # CSS classes of the series, in order


@dataclass(frozen=True)
class Series:
    """One legend entry: its name and one value per category."""

    name: str
    values: tuple[Number, ...]


def plain(value: Number) -> str:
    """A count, or an amount, as the page writes it: French grouping (narrow no-break spaces),
    decimal comma, two decimals for a ``Decimal``."""
    text = f"{value.quantize(Decimal('0.01')):f}" if isinstance(value, Decimal) else str(value)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, cents = digits.partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + "\u202f".join(groups) + ("," + cents if cents else "")


def nice_step(span: Decimal, ticks: int = _TICKS) -> Decimal:
    """The smallest step of the form 1, 2 or 5 × 10^k (k ≥ 0 for counts and money alike: no
    tick below 1) with which ``ticks`` steps cover ``span``."""
    if span <= 0:
        return Decimal(1)
    raw = span / ticks
    power = Decimal(1)
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10  # pragma: no cover -- the loop above always returns


def _bounds(values: Sequence[Number]) -> tuple[Decimal, Decimal, Decimal]:
    """The value axis: (low, high, step), low ≤ 0 ≤ high, both multiples of step."""
    low = min([Decimal(0), *(Decimal(v) for v in values)])
    high = max([Decimal(0), *(Decimal(v) for v in values)])
    step = nice_step(high - low)
    low = (low / step).to_integral_value(ROUND_FLOOR) * step
    high = (high / step).to_integral_value(ROUND_CEILING) * step
    if high == low:
        high = low + step
    return low, high, step


def _px(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1')):f}"


def bar_chart(
    chart_id: str,
    title: str,
    caption: str,
    categories: Sequence[str],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    fmt: Callable[[Number], str] = plain,
    hints: Sequence[str] | None = None,
) -> str:
    """One ``<figure>``: the SVG chart and its caption. ``hints`` (one per category) are added
    to each bar's tooltip (e.g. the full text behind a short label)."""
    if not series or any(len(s.values) != len(categories) for s in series):
        raise ValueError("a chart needs at least one series, each with one value per category")
    if len(series) > len(_PALETTE):
        raise ValueError(f"at most {len(_PALETTE)} series in a chart")
    esc = html.escape
    all_values = [v for s in series for v in s.values]
    integral = all(isinstance(v, int) for v in all_values)
    low, high, step = _bounds(all_values)
    longest = Decimal(max([len(c) for c in categories] + [0]) * _CHAR_PX)
    slot = Decimal(WIDTH - _LEFT - _RIGHT) / max(len(categories), 1)
    turned = longest > slot
    left = Decimal(_LEFT)
    if turned:  # the first label, turned, must not leave the picture on the left
        left = max(left, (longest * _COS - slot / 2 + 4).to_integral_value(ROUND_CEILING))
        slot = (WIDTH - _RIGHT - left) / max(len(categories), 1)
    drop = (longest * _SIN).to_integral_value(ROUND_CEILING) if turned else Decimal(0)
    plot_h = Decimal(PLOT_HEIGHT)
    base_y = Decimal(_TOP) + plot_h
    height = int(base_y + 16 + drop + 28)

    def y_of(value: Number) -> Decimal:
        return base_y - plot_h * (Decimal(value) - low) / (high - low)

    summary = "; ".join(
        f"{cat} : " + ", ".join(f"{s.name} {fmt(s.values[i])}" for s in series) for i, cat in enumerate(categories)
    )
    out = [
        f'<figure class="chart" id="{chart_id}">',
        f'<svg role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}">',
        f'<title id="{chart_id}-title">{esc(title)}</title>',
        f'<desc id="{chart_id}-desc">{esc(caption)} {esc(summary or "Aucune donnée")}.</desc>',
        f'<text class="chart-title" x="{WIDTH // 2}" y="18" text-anchor="middle">{esc(title)}</text>',
    ]
    # the legend: one swatch and name per series, left to right
    x = int(left)
    out.append('<g class="legend">')
    for k, s in enumerate(series):
        out.append(f'<rect class="{_PALETTE[k]}" x="{x}" y="28" width="12" height="12"/>')
        out.append(f'<text x="{x + 16}" y="38">{esc(s.name)}</text>')
        x += 16 + len(s.name) * _CHAR_PX + 18
    out.append("</g>")
    # the value axis: grid lines, ticks, label
    tick = low
    while tick <= high:
        y = _px(y_of(tick))
        out.append(f'<line class="grid" x1="{left}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}"/>')
        label = fmt(int(tick) if integral else tick)  # counts as whole numbers, amounts with two decimals
        out.append(f'<text x="{left - 6}" y="{_px(y_of(tick) + 4)}" text-anchor="end">{esc(label)}</text>')
        tick += step
    middle = _px(Decimal(_TOP) + plot_h / 2)
    out.append(
        f'<text class="axis-label" x="14" y="{middle}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle})">{esc(y_label)}</text>'
    )
    zero = _px(y_of(0))
    out.append(f'<line class="axis" x1="{left}" y1="{zero}" x2="{WIDTH - _RIGHT}" y2="{zero}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{_TOP}" x2="{left}" y2="{_px(base_y)}"/>')
    # the bars, grouped by category
    bar_w = slot * Decimal("0.7") / len(series)
    for i, cat in enumerate(categories):
        start = left + slot * i + slot * Decimal("0.15")
        hint = f" ({hints[i]})" if hints else ""
        out.append("<g>")
        for k, s in enumerate(series):
            value = s.values[i]
            top, bottom_y = sorted((y_of(value), y_of(0)))
            out += [
                f'<rect class="bar {_PALETTE[k]}" x="{_px(start + bar_w * k)}" y="{_px(top)}" '
                f'width="{_px(bar_w)}" height="{_px(bottom_y - top)}">'
                f"<title>{esc(cat)}{esc(hint)}, {esc(s.name)} : {esc(fmt(value))}</title></rect>",
            ]
            if len(series) == 1:
                out.append(
                    f'<text x="{_px(start + bar_w / 2)}" y="{_px(top - 6)}" text-anchor="middle">'
                    f"{esc(fmt(value))}</text>"
                )
        centre = _px(left + slot * i + slot / 2)
        label_y = _px(base_y + 16)
        if turned:
            out.append(
                f'<text x="{centre}" y="{label_y}" text-anchor="end" transform="rotate(-35 {centre} {label_y})">'
                f"{esc(cat)}</text>"
            )
        else:
            out.append(f'<text x="{centre}" y="{label_y}" text-anchor="middle">{esc(cat)}</text>')
        out.append("</g>")
    out.append(
        f'<text class="axis-label" x="{_px(left + (WIDTH - _RIGHT - left) / 2)}" y="{height - 8}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
    )
    out += ["</svg>", f"<figcaption>{esc(caption)}</figcaption>", "</figure>"]
    return "\n".join(out)
