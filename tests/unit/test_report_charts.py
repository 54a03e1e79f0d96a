"""The HTML report's SVG bar charts (``reports.charts``): scale, legend, labels, exact values."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from lxml import etree

from chorus_batch.reports.charts import Series, bar_chart, nice_step, plain

D = Decimal


def _svg(figure: str) -> etree._Element:
    return etree.fromstring(figure.encode())


def test_nice_steps() -> None:
    assert [nice_step(D(v)) for v in (0, 1, 2, 5, 7, 10, 11, 49, 1554.48, 2_000_000)] == [
        D(1), D(1), D(1), D(1), D(2), D(2), D(5), D(10), D(500), D(500_000)
    ]  # fmt: skip


def test_plain_numbers_in_french() -> None:
    assert plain(3) == "3" and plain(1234) == "1\u202f234"
    assert plain(D("-1234567.2")) == "-1\u202f234\u202f567,20" and plain(D("0")) == "0,00"


def test_a_chart_has_its_title_axes_legend_and_every_value() -> None:
    figure = bar_chart(
        "c",
        "Titre",
        "Légende.",
        ["2026-11", "2026-12"],
        [Series("Commandé", (D("1200.00"), D("600.00"))), Series("Facturé", (D("1554.48"), D("-72.72")))],
        x_label="Mois",
        y_label="Montant TTC (SEK)",
    )
    root = _svg(figure)
    assert root.tag == "figure"
    texts = ["".join(t.itertext()) for t in root.iter("text")]
    assert "Titre" in texts and "Mois" in texts and "Montant TTC (SEK)" in texts
    assert "Commandé" in texts and "Facturé" in texts  # the legend
    bars = [r for r in root.iter("rect") if "bar" in (r.get("class") or "")]
    assert len(bars) == 4
    tips = ["".join(b.itertext()) for b in bars]
    assert "2026-11, Facturé : 1\u202f554,48" in tips and "2026-12, Facturé : -72,72" in tips
    # a negative value goes below the zero line, which is then above the bottom of the value axis
    ticks = [t for t in texts if t in ("-500,00", "0,00")]
    assert ticks == ["-500,00", "0,00"]
    assert "1\u202f554,48" in figure and "2\u202f000,00" in figure  # the scale reaches past the peak


def test_counts_get_whole_ticks_and_labels_turn_when_long() -> None:
    short = bar_chart("a", "T", "C.", ["A", "B"], [Series("N", (2, 1))], x_label="x", y_label="y")
    assert re.search(r'text-anchor="end">2</text>', short) and "rotate(-35" not in short
    long = bar_chart(
        "b", "T", "C.", ["ENGAGEMENT_NOT_ACCEPTED"] * 6, [Series("N", (1,) * 6)], x_label="x", y_label="y",
        hints=["h"] * 6,
    )  # fmt: skip
    assert "rotate(-35" in long and "(h), N : 1" in long
    # the first turned label stays inside the picture: the plot starts far enough right
    first_bar_x = float(re.findall(r'<rect class="bar s0" x="([\d.]+)"', long)[0])
    assert first_bar_x > len("ENGAGEMENT_NOT_ACCEPTED") * 7 * 0.82 - 60


def test_an_empty_chart_and_bad_input() -> None:
    empty = bar_chart("e", "T", "C.", [], [Series("N", ())], x_label="x", y_label="y")
    assert "Aucune donnée" in empty and '<rect class="bar' not in empty
    with pytest.raises(ValueError):
        bar_chart("e", "T", "C.", ["a"], [Series("N", (1, 2))], x_label="x", y_label="y")
    with pytest.raises(ValueError):
        bar_chart("e", "T", "C.", ["a"], [Series(str(i), (1,)) for i in range(5)], x_label="x", y_label="y")


def test_text_is_escaped() -> None:
    figure = bar_chart("x", "<b>&", "C.", ["<i>"], [Series("<s>", (1,))], x_label="x", y_label="y")
    assert "<b>" not in figure and "&lt;i&gt;" in figure and "&lt;s&gt;" in figure
    _svg(figure)  # well-formed
