"""Accountants' reports (SPEC §8): status, reconciliation and invoices as CSV, XLSX and HTML.

The store is built directly with SQLAlchemy (``store_url`` fixture): three engagements (two
PRIS_EN_COMPTE, one REFUSE) and invoices covering every rule of the reconciliation — partial
invoicing with a credit note, over-invoicing, a duplicate, an invoice on an unknown number, one
without a number (NA), one on the refused engagement, one MISE_EN_PAIEMENT, one REJETEE.

Golden files live in ``tests/integration/golden/`` and are compared byte for byte; a mismatch shows a
unified diff. After an intended change, regenerate them with::

    REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/integration/test_reports.py

and review the diff of ``tests/integration/golden/`` before committing.

The HTML page is also rendered by headless Chromium when ``/usr/bin/chromium`` exists (the test
is skipped otherwise, or fails when ``CHORUS_REQUIRE_CHROMIUM=1``).
"""

from __future__ import annotations

import ast
import csv
import difflib
import html
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql

import chorus_batch
from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch import reports
from chorus_batch.config import Settings
from chorus_batch.domain.matching import ANOMALIES, ANOMALY_CODES, EXCLUDING
from chorus_batch.reports import build, write
from chorus_batch.shapes import money
from chorus_batch.store import Store
from chorus_batch.store import invoices as invoices_store
from chorus_batch.store import reports as queries
from chorus_batch.store import schema as s

GOLDEN = Path(__file__).parent / "golden"
TODAY = date(2026, 12, 15)
CHROMIUM = Path("/usr/bin/chromium")

ISSUER = "22360001600172"
OTHER_BUYER = "21750001600019"
SUPPLIER = "51293846500311"
OTHER_SELLER = "48215367300249"
MONEY = re.compile(r"^-?\d+\.\d{2}$")


# -- the scenario --------------------------------------------------------------------------------


def _engagement(
    conn: Any, number: str, status: str, ht: str, ttc: str, created: str, moved: str, supplier_name: str
) -> int:
    return int(
        conn.execute(
            insert(s.engagements).values(
                issuer_id=ISSUER,
                number=number,
                supplier_id=SUPPLIER,
                issuer_name="Mairie de Saint-Étienne, Loire",
                supplier_name=supplier_name,
                status=status,
                current_version=1,
                currency="EUR",
                amount_ht=Decimal(ht),
                amount_ttc=Decimal(ttc),
                created_at=created,
                last_transition_at=moved,
            )
        ).inserted_primary_key[0]
    )


def _invoice(
    conn: Any,
    number: str,
    ht: str,
    ttc: str,
    statuses: list[str],
    engagement_id: int | None,
    engagement_ref: str | None,
    *,
    type_: str = "invoice",
    seller: str = SUPPLIER,
    buyer: str = ISSUER,
    duplicate_of: int | None = None,
    anomalies: list[dict[str, str]] | None = None,
) -> int:
    """One invoice (amounts positive, ``type_`` carries the sign) and its status history."""
    at = [f"2026-12-{d:02d}T10:00:00Z" for d in range(1, len(statuses) + 1)]
    invoice_id = int(
        conn.execute(
            insert(s.invoices).values(
                syntax="ubl",
                number=number,
                type=type_,
                type_code="381" if type_ == "credit_note" else "380",
                issue_date="2026-11-30",
                due_date=None if type_ == "credit_note" else "2026-12-30",
                currency="EUR",
                seller_id=seller,
                seller_name="Vendeur",
                buyer_id=buyer,
                buyer_name="Acheteur",
                engagement_ref=engagement_ref,
                engagement_id=engagement_id,
                amount_ht=Decimal(ht),
                amount_ttc=Decimal(ttc),
                status=statuses[-1],
                status_at=at[-1],
                duplicate_of=duplicate_of,
                anomalies=json.dumps(anomalies or [], ensure_ascii=False),
                # as matching stores it: an invoice that does not fit its engagement is left out
                excluded=next((c for c in EXCLUDING if c in {a["code"] for a in anomalies or []}), None),
                created_at="2026-12-01T09:00:00Z",
            )
        ).inserted_primary_key[0]
    )
    conn.execute(
        insert(s.invoice_statuses),
        [dict(invoice_id=invoice_id, status=st, at=a, recorded_at=a) for st, a in zip(statuses, at, strict=True)],
    )
    return invoice_id


def populate(store: Store) -> None:
    with store.begin() as conn:
        e1 = _engagement(
            conn,
            "EJ-0001",
            "PRIS_EN_COMPTE",
            "1000.00",
            "1200.00",
            "2026-11-01T08:00:00Z",
            "2026-11-02T09:00:00Z",
            "Numérique & Services, SARL",
        )
        e2 = _engagement(
            conn,
            "EJ-0002",
            "PRIS_EN_COMPTE",
            "500.00",
            "600.00",
            "2026-12-01T08:00:00Z",
            "2026-12-10T16:30:00Z",
            "Papeteries Réunies",
        )
        e3 = _engagement(
            conn,
            "EJ-0003",
            "REFUSE",
            "250.00",
            "300.00",
            "2026-07-15T08:00:00Z",
            "2026-08-01T12:00:00Z",
            "=SOMME(1;2) SARL",
        )
        # EJ-0001: partially invoiced — two invoices (one paid), one credit note, one REJETEE
        _invoice(conn, "F-001", "500.00", "600.00", ["DEPOSEE", "SERVICE_FAIT", "MISE_EN_PAIEMENT"], e1, "EJ-0001")
        _invoice(conn, "F-002", "250.00", "300.00", ["DEPOSEE", "SERVICE_FAIT"], e1, "EJ-0001")
        _invoice(conn, "AV-001", "60.60", "72.72", ["DEPOSEE"], e1, "EJ-0001", type_="credit_note")
        _invoice(conn, "F-009", "1000.00", "1200.00", ["DEPOSEE", "REJETEE"], e1, "EJ-0001")
        # EJ-0002: over-invoiced, and the same invoice received twice
        first = _invoice(conn, "F-003", "606.00", "727.20", ["DEPOSEE"], e2, "EJ-0002")
        _invoice(conn, "F-003", "606.00", "727.20", ["DEPOSEE"], e2, "EJ-0002", duplicate_of=first)
        # EJ-0003 (REFUSE): invoiced anyway, by a buyer that is not the issuer
        _invoice(
            conn,
            "F-004",
            "100.00",
            "120.00",
            ["MISE_A_DISPOSITION"],
            e3,
            "EJ-0003",
            buyer=OTHER_BUYER,
            anomalies=[{"code": "BUYER_MISMATCH", "reason": f"buyer is not the issuer {ISSUER} of engagement EJ-0003"}],
        )
        # not matched: an unknown number, and NA (no number)
        _invoice(
            conn,
            "G-100",
            "50.00",
            "60.00",
            ["DEPOSEE"],
            None,
            "EJ-9999",
            seller=OTHER_SELLER,
            anomalies=[{"code": "UNKNOWN_ENGAGEMENT", "reason": "no engagement EJ-9999"}],
        )
        _invoice(
            conn,
            "G-101",
            "10.00",
            "12.00",
            ["DEPOSEE"],
            None,
            None,
            seller=OTHER_SELLER,
            anomalies=[{"code": "NO_ENGAGEMENT", "reason": ANOMALIES["NO_ENGAGEMENT"]}],
        )


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    try:
        populate(store)
    finally:
        store.close()
    yield url


@pytest.fixture
def frames(store_url: str) -> dict[str, Any]:
    store = Store(store_url)
    try:
        with store.read() as conn:
            return reports.report_all(conn, Settings(), TODAY)
    finally:
        store.close()


def _rows(df: Any) -> dict[str, dict[str, Any]]:
    return {r["engagement_number"]: r for r in df.to_dict("records")}


# -- golden files ------------------------------------------------------------------------------


def assert_golden(name: str, data: bytes) -> None:
    """``data`` equals ``tests/integration/golden/<name>`` byte for byte (``REGEN_GOLDEN=1`` rewrites it)."""
    path = GOLDEN / name
    if os.environ.get("REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.is_file(), f"golden file {path} is missing: run with REGEN_GOLDEN=1"
    expected = path.read_bytes()
    if data != expected:
        diff = difflib.unified_diff(
            expected.decode("utf-8", "replace").splitlines(keepends=True),
            data.decode("utf-8", "replace").splitlines(keepends=True),
            fromfile=f"golden/{name}",
            tofile=f"{name} (now)",
        )
        pytest.fail(f"{name} differs from its golden file (REGEN_GOLDEN=1 to accept):\n{''.join(diff)}", pytrace=False)


@pytest.mark.parametrize("name", reports.REPORTS)
def test_csv_matches_golden(frames: dict[str, Any], tmp_path: Path, name: str) -> None:
    [path] = write.write({name: frames[name]}, tmp_path)
    assert path == tmp_path / f"{name}.csv"
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data and data.endswith(b"\n")
    header = next(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert tuple(header) == build.COLUMNS[name]
    assert_golden(f"{name}.csv", data)


def test_excel_fr_matches_golden(frames: dict[str, Any], tmp_path: Path) -> None:
    write.write(frames, tmp_path)  # the plain files first: the French form must leave them alone
    plain_bytes = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    paths = write.write(frames, tmp_path, excel_fr=True)
    assert [p.name for p in paths] == [f"{n}.excel-fr.csv" for n in reports.REPORTS]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in plain_bytes} == plain_bytes
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf"), f"{path.name}: no BOM"
        assert b"\r" not in data
        assert_golden(f"excel-fr/{path.name}", data)
    text = (tmp_path / "invoices.excel-fr.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == list(build.INVOICE_COLUMNS)
    f003 = next(r for r in rows if r[0] == '="F-003"')
    assert f003[8:10] == ["606,00", "727,20"]
    recon = list(
        csv.reader(
            io.StringIO((tmp_path / "reconciliation.excel-fr.csv").read_bytes().decode("utf-8-sig")), delimiter=";"
        )
    )
    assert recon[2][build.RECONCILIATION_COLUMNS.index("remaining_ttc")] == "-127,20"  # a number, untouched
    # identifiers as Excel text formulas (no 2,236E+13); a name Excel would run is neutralised
    assert recon[1][:2] == ['="EJ-0001"', f'="{ISSUER}"']
    status_text = (tmp_path / "status.excel-fr.csv").read_bytes().decode("utf-8-sig")
    assert '"\'=SOMME(1;2) SARL"' in status_text
    assert ",00" in status_text and "1200.00" not in status_text


@pytest.mark.parametrize("excel_fr", [False, True])
def test_streamed_csv_matches_golden(store_url: str, tmp_path: Path, excel_fr: bool) -> None:
    """``report all`` writes its CSV files from rows, never a frame: the same bytes as the
    frames give (the golden files)."""
    store = Store(store_url)
    try:
        with store.read() as conn:
            paths = reports.write_reports(conn, Settings(), tmp_path, TODAY, excel_fr=excel_fr)
    finally:
        store.close()
    assert [p.name for p in paths] == [reports.csv_name(n, excel_fr) for n in reports.REPORTS]
    for path in paths:
        assert_golden(f"excel-fr/{path.name}" if excel_fr else path.name, path.read_bytes())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet=st.sampled_from('ab;,"=+-@\t\r\n 1.'), max_size=6), min_size=15, max_size=15),
        max_size=5,
    ),
    st.sampled_from(["plain", "excel_fr", "raw"]),
    st.booleans(),
)
def test_csv_bytes_write_what_the_csv_module_writes(cells: list[list[str]], mode: str, first: bool) -> None:
    """Rows written a column at a time give the bytes the csv module gives them (quotes,
    separators, line ends, lone CRs, formulas, the French form)."""
    name, columns = "invoices", build.INVOICE_COLUMNS
    rows = [tuple(row) for row in cells]
    excel_fr, raw = mode == "excel_fr", mode == "raw"
    money, identifiers = build.MONEY_COLUMNS[name], build.IDENTIFIER_COLUMNS[name]
    sep = ";" if excel_fr else ","
    expected = io.StringIO(newline="")
    if first:
        csv.writer(expected, delimiter=sep, lineterminator="\n").writerow(columns)
    for row in rows:
        values = [
            (v.replace(".", ",") if excel_fr else v)
            if c in money
            else write.excel_text(v)
            if excel_fr and c in identifiers
            else v
            if raw
            else reports.neutral_cell(v)
            for c, v in zip(columns, row, strict=True)
        ]
        one = io.StringIO(newline="")
        csv.writer(one, delimiter=sep, lineterminator="\r\n" if any("\r" in str(v) for v in values) else "\n").writerow(
            values
        )
        expected.write(one.getvalue().removesuffix("\r\n").removesuffix("\n") + "\n")
    text = expected.getvalue()
    data = ("\ufeff" + text if excel_fr and first else text).encode("utf-8")
    assert write.csv_bytes(name, columns, rows, excel_fr, first, raw) == data


# text a spreadsheet or a CSV reader must not misread, and the separators of a joined line:
# mostly plain, else one odd character (alone, first or inside), else anything of them
_ODD = ',;"=+-@\t\r\n\x1f\x1e'
_ODD_TEXT = st.one_of(
    st.text(alphabet="ab1", max_size=3),
    st.builds(lambda c, where: (c, c + "a", "a" + c + "b")[where], st.sampled_from(_ODD), st.integers(0, 2)),
    st.text(alphabet=st.sampled_from(list(_ODD + "ab é1.")), max_size=5),
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_written_csv_is_the_frames_csv_whatever_the_text(tmp_path: Path, backend: str, request: Any) -> None:
    """``report all`` writes the cells the database joined as they came when none needs care,
    and cell by cell otherwise (``write._chunk_bytes``): with quotes, separators, line ends,
    formula starts, negative amounts, and cells holding the joining characters themselves, its
    files are the bytes the frames give, in every form, on both databases; and ``invoices.csv``
    written alone (its own pass for the over-invoiced engagements) is the same file."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'odd.sqlite'}"
    store = Store(url)

    @settings(max_examples=80, deadline=None)
    @given(
        st.lists(st.tuples(_ODD_TEXT, _ODD_TEXT, _ODD_TEXT, _ODD_TEXT), min_size=1, max_size=4),
        st.sampled_from(["plain", "excel_fr", "raw"]),
        st.sampled_from(["-1.00", "0.10", "1.00", "100.00"]),  # with 1.20 invoiced: over-invoiced or not
    )
    def written(texts: list[tuple[str, str, str, str]], form: str, amount: str) -> None:
        excel_fr, raw = form == "excel_fr", form == "raw"
        with store.begin() as conn:
            for table in (s.invoice_statuses, s.invoices, s.engagement_totals, s.engagements):
                conn.execute(table.delete())
            for i, (number, name, invoice, reason) in enumerate(texts):
                e = _engagement(
                    conn,
                    f"{number}{i}",
                    "A_TRAITER",
                    amount,
                    amount,
                    "2026-12-01T08:00:00Z",
                    "2026-12-02T09:00:00Z",
                    name,
                )
                anomalies = [{"code": "AMBIGUOUS_ENGAGEMENT", "reason": reason}]  # counted: not excluding
                _invoice(conn, invoice, "1.00", "1.20", ["DEPOSEE"], e, number, seller=name, anomalies=anomalies)
        out = tmp_path / form
        with store.read() as conn:
            frames = reports.report_all(conn, Settings(), TODAY)
            paths = reports.write_reports(conn, Settings(), out, TODAY, excel_fr=excel_fr, raw=raw)
            alone = reports.write_reports(conn, Settings(), out / "alone", TODAY, ("invoices",), "csv", excel_fr, raw)
        for name, path in zip(reports.REPORTS, paths, strict=True):
            assert path.read_bytes() == write.to_csv(name, frames[name], excel_fr, raw=raw), name
        assert alone[0].read_bytes() == paths[2].read_bytes()  # its own pass for the over-invoiced

    try:
        written()
    finally:
        store.close()


def test_excel_text_keeps_an_identifier_one_string() -> None:
    assert write.excel_text("00123") == '="00123"'
    assert write.excel_text('a";HYPERLINK("x")') == '="a"";HYPERLINK(""x"")"'
    assert write.excel_text("") == ""
    assert write.excel_text("=" + "9" * 300) == "'=" + "9" * 300  # too long for a formula: neutralised


def test_every_text_cell_is_neutralised_and_numbers_never(tmp_path: Path) -> None:
    """Each trigger, in each text column of each report; money and counts untouched; raw opt-out."""
    import pandas as pd

    for name, columns in build.COLUMNS.items():
        numbers = (*build.MONEY_COLUMNS[name], *build.INTEGER_COLUMNS[name])
        for trigger in ("=", "+", "-", "@", "\t", "\r"):
            row = {
                c: (1 if c in build.INTEGER_COLUMNS[name] else "-1.00" if c in numbers else f"{trigger}X")
                for c in columns
            }
            df = pd.DataFrame([row], columns=list(columns), dtype=object)
            cells = next(csv.DictReader(io.StringIO(write.to_csv(name, df).decode(), newline="")))
            raw = next(csv.DictReader(io.StringIO(write.to_csv(name, df, raw=True).decode(), newline="")))
            for col in columns:
                if col in numbers:
                    assert cells[col] == raw[col] == str(row[col]), (name, col)
                else:
                    assert cells[col] == f"'{trigger}X" and raw[col] == f"{trigger}X", (name, col, trigger)
    with pytest.raises(ValueError, match="choose one"):
        write.write({}, tmp_path, excel_fr=True, raw=True)


# -- reconciliation values, to the cent ------------------------------------------------------------


def test_reconciliation_values(frames: dict[str, Any]) -> None:
    rows = _rows(frames["reconciliation"])
    assert list(rows) == ["EJ-0001", "EJ-0002", "EJ-0003"]

    e1 = rows["EJ-0001"]
    # invoices 600.00 + 300.00, credit note 72.72; F-009 (REJETEE, 1200.00) not counted
    assert (e1["ordered_ht"], e1["ordered_ttc"]) == ("1000.00", "1200.00")
    assert e1["invoiced_ttc"] == str(Decimal("600.00") + Decimal("300.00") - Decimal("72.72")) == "827.28"
    assert e1["credit_notes_ttc"] == "72.72"
    assert e1["paid_ttc"] == "600.00"  # F-001 only is MISE_EN_PAIEMENT
    assert e1["remaining_ttc"] == str(Decimal("1200.00") - Decimal("827.28")) == "372.72"
    assert e1["invoice_count"] == 3
    assert e1["match_status"] == "PARTIALLY_INVOICED"
    assert e1["anomalies"] == ""

    e2 = rows["EJ-0002"]
    # one invoice of 727.20 against 600.00 ordered; its duplicate is not counted
    assert (e2["invoiced_ttc"], e2["credit_notes_ttc"], e2["paid_ttc"]) == ("727.20", "0.00", "0.00")
    assert e2["remaining_ttc"] == "-127.20"
    assert e2["invoice_count"] == 1
    assert e2["match_status"] == "OVER_INVOICED"
    assert (
        e2["anomalies"]
        == f"DUPLICATE_INVOICE: {ANOMALIES['DUPLICATE_INVOICE']}; OVER_INVOICED: {ANOMALIES['OVER_INVOICED']}"
    )

    # F-004's buyer is not EJ-0003's issuer: flagged, and left out of its totals
    e3 = rows["EJ-0003"]
    assert (e3["status"], e3["invoiced_ttc"], e3["remaining_ttc"], e3["invoice_count"]) == (
        "REFUSE",
        "0.00",
        "300.00",
        0,
    )
    assert e3["match_status"] == "NOT_INVOICED"
    assert e3["anomalies"] == f"BUYER_MISMATCH: {ANOMALIES['BUYER_MISMATCH']}"


def test_tolerance_from_settings(store_url: str) -> None:
    store = Store(store_url)
    try:
        with store.read() as conn:
            loose = reports.report(
                conn, replace(Settings(), tolerance_percent=Decimal("25")), TODAY, ["reconciliation"]
            )
            wide = reports.report(
                conn, replace(Settings(), tolerance_amount=Decimal("372.72")), TODAY, ["reconciliation"]
            )
            strict = reports.report(
                conn, replace(Settings(), tolerance_amount=Decimal("372.71")), TODAY, ["reconciliation"]
            )
    finally:
        store.close()
    # 727.20 - 600.00 = 127.20 <= 25 % of 600.00 = 150.00
    assert _rows(loose["reconciliation"])["EJ-0002"]["match_status"] == "FULLY_INVOICED"
    assert "OVER_INVOICED" not in _rows(loose["reconciliation"])["EJ-0002"]["anomalies"]
    # |1200.00 - 827.28| = 372.72: inside a 372.72 tolerance, outside 372.71
    assert _rows(wide["reconciliation"])["EJ-0001"]["match_status"] == "FULLY_INVOICED"
    assert _rows(strict["reconciliation"])["EJ-0001"]["match_status"] == "PARTIALLY_INVOICED"


def test_status_and_invoice_rows(frames: dict[str, Any]) -> None:
    status = _rows(frames["status"])
    assert {k: v["days_in_status"] for k, v in status.items()} == {"EJ-0001": 43, "EJ-0002": 5, "EJ-0003": 136}
    assert status["EJ-0001"]["created_at"] == "2026-11-01T08:00:00Z"

    inv = frames["invoices"]
    keys = list(zip(inv["seller_id"], inv["invoice_number"], strict=True))
    assert keys == sorted(keys)
    rows = inv.to_dict("records")
    f003 = [r for r in rows if r["invoice_number"] == "F-003"]
    assert [r["anomaly"].split(":")[0] for r in f003] == [
        "OVER_INVOICED",
        "DUPLICATE_INVOICE",
    ]  # original first (id order)
    g100 = next(r for r in rows if r["invoice_number"] == "G-100")
    assert (g100["engagement_number"], g100["matched"], g100["anomaly"]) == (
        "EJ-9999",
        "false",
        "UNKNOWN_ENGAGEMENT: no engagement EJ-9999",
    )
    g101 = next(r for r in rows if r["invoice_number"] == "G-101")
    assert (g101["engagement_number"], g101["matched"]) == ("", "false")
    assert g101["anomaly"].startswith("NO_ENGAGEMENT: ")
    f004 = next(r for r in rows if r["invoice_number"] == "F-004")
    assert f004["anomaly"] == (
        f"BUYER_MISMATCH: buyer is not the issuer {ISSUER} of engagement EJ-0003; "
        f"ENGAGEMENT_NOT_ACCEPTED: {ANOMALIES['ENGAGEMENT_NOT_ACCEPTED']}"
    )
    av = next(r for r in rows if r["invoice_number"] == "AV-001")
    assert (av["type"], av["amount_ttc"], av["matched"], av["anomaly"]) == ("credit_note", "72.72", "true", "")
    f009 = next(r for r in rows if r["invoice_number"] == "F-009")
    assert f009["status"] == "REJETEE"


# -- exact money -----------------------------------------------------------------------------------


def test_no_float_reaches_a_csv(tmp_path: Path) -> None:
    """Amounts with up to 6 decimals in the store round half-up to the cent, exactly, also past
    the 2**53 limit where a float would lose the cents."""
    url = f"sqlite:///{tmp_path / 'exact.sqlite'}"
    store = Store(url)
    try:
        with store.begin() as conn:
            e1 = _engagement(
                conn, "EJ-A", "PRIS_EN_COMPTE", "0.125", "2.675", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "S"
            )
            e2 = _engagement(
                conn,
                "EJ-B",
                "PRIS_EN_COMPTE",
                "1.005",
                "98765432109.995",
                "2026-12-01T00:00:00Z",
                "2026-12-01T00:00:00Z",
                "S",
            )
            _invoice(conn, "X-1", "0.10", "0.105", ["DEPOSEE"], e1, "EJ-A")
            _invoice(conn, "X-2", "0.20", "0.2", ["MISE_EN_PAIEMENT"], e1, "EJ-A")
            _invoice(conn, "X-3", "0.000001", "3.670005", ["DEPOSEE"], e1, "EJ-A")
            _invoice(conn, "Y-1", "1", "98765432109.985001", ["MISE_EN_PAIEMENT"], e2, "EJ-B")
        with store.read() as conn:
            frames = reports.report_all(conn, Settings(), TODAY)
    finally:
        store.close()
    write.write(frames, tmp_path / "out")
    recon = list(csv.DictReader(io.StringIO((tmp_path / "out" / "reconciliation.csv").read_text(encoding="utf-8"))))
    a, b = recon
    assert (a["ordered_ht"], a["ordered_ttc"]) == ("0.13", "2.68")  # float: 2.675 → 2.67
    assert a["invoiced_ttc"] == "3.98"  # 0.105 + 0.2 + 3.670005 = 3.975005
    assert a["paid_ttc"] == "0.20"
    assert a["remaining_ttc"] == "-1.30"  # 2.675 - 3.975005 = -1.300005
    assert (b["ordered_ht"], b["ordered_ttc"]) == ("1.01", "98765432110.00")
    assert b["invoiced_ttc"] == "98765432109.99"  # .985001 → .99 (half-up from above .985)
    assert b["remaining_ttc"] == "0.01"  # exactly 0.009999: a float sum would not get this
    inv = list(csv.DictReader(io.StringIO((tmp_path / "out" / "invoices.csv").read_text(encoding="utf-8"))))
    assert [(r["invoice_number"], r["amount_ht"], r["amount_ttc"]) for r in inv] == [
        ("X-1", "0.10", "0.11"),
        ("X-2", "0.20", "0.20"),
        ("X-3", "0.00", "3.67"),
        ("Y-1", "1.00", "98765432109.99"),
    ]
    for name in reports.REPORTS:
        text = (tmp_path / "out" / f"{name}.csv").read_text(encoding="utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            for col in build.MONEY_COLUMNS[name]:
                assert row[col] == "" or MONEY.match(row[col]), (name, col, row[col])
        assert "e+" not in text.lower() and "0000000" not in text


def test_money_cells_are_computed_exactly_by_the_database() -> None:
    from sqlalchemy import BigInteger, create_engine, literal, select

    engine = create_engine("sqlite://")
    values = [727_200_000, None, -5_000, -4_000, 0, 5_000, 4_999, 999_999_999_999_995_000]
    with engine.connect() as conn:
        cells = [conn.execute(select(queries.money_text(conn, literal(v, BigInteger)))).scalar() for v in values]
    # half-up to the cent away from zero, like views.money; exact far beyond a float's 2**53
    assert cells == ["727.20", "", "-0.01", "-0.00", "0.00", "0.01", "0.00", "1000000000000.00"]
    assert [money(Decimal(v) / 10**6) if v is not None else "" for v in values] == cells
    # and the reports' own writing of exact sums (Python ints) agrees with the database's, past 2**63 too
    assert [build.money_text(v) for v in values] == cells
    assert build.money_text(9_999_999_999_996_000_000) == "9999999999996.00"


# -- XLSX ------------------------------------------------------------------------------------------


def test_xlsx_one_workbook_a_sheet_per_report(frames: dict[str, Any], tmp_path: Path) -> None:
    [path] = write.write(frames, tmp_path, fmt="xlsx", as_of=TODAY)
    assert path.name == "reports.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["status", "reconciliation", "invoices", "totals"]
    for name in reports.REPORTS:
        ws = wb[name]
        assert [c.value for c in ws[1]] == list(build.COLUMNS[name])
        assert ws.max_row == len(frames[name]) + 1
    recon = wb["reconciliation"]
    header = [c.value for c in recon[1]]
    values = {row[0]: dict(zip(header, row, strict=True)) for row in recon.iter_rows(min_row=2, values_only=True)}
    e1 = values["EJ-0001"]
    assert e1["invoiced_ttc"] == pytest.approx(827.28) and isinstance(e1["invoiced_ttc"], float)
    assert e1["remaining_ttc"] == pytest.approx(372.72) and e1["invoice_count"] == 3
    assert values["EJ-0002"]["remaining_ttc"] == pytest.approx(-127.20)
    money_cell = recon.cell(row=2, column=header.index("ordered_ttc") + 1)
    assert money_cell.data_type == "n" and money_cell.number_format == "#,##0.00"
    # identifiers stay text (no 2.236E+13), a formula-looking name stays text
    status = wb["status"]
    assert status["B2"].value == ISSUER and status["B2"].data_type == "s"
    names = [r[4] for r in status.iter_rows(min_row=2, values_only=True)]
    assert "=SOMME(1;2) SARL" in names
    cell = next(c for c in status["E"] if c.value == "=SOMME(1;2) SARL")
    assert cell.data_type == "s"
    inv = wb["invoices"]
    assert [r[0] for r in inv.iter_rows(min_row=2, values_only=True)] == list(frames["invoices"]["invoice_number"])


def test_xlsx_bytes_are_deterministic(frames: dict[str, Any], tmp_path: Path) -> None:
    first = write.to_xlsx(frames, TODAY)
    second = write.to_xlsx(frames, TODAY)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        # no trace of the wall clock: fixed entry times and fixed document dates
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert "2026-12-15T00:00:00Z" in core
    assert re.findall(r"<dcterms:(?:created|modified)[^>]*>([^<]*)<", core) == ["2026-12-15T00:00:00Z"] * 2


# -- HTML ------------------------------------------------------------------------------------------


def test_html_page(frames: dict[str, Any], tmp_path: Path) -> None:
    [path] = write.write(frames, tmp_path, fmt="html", as_of=TODAY)
    assert path.name == "reports.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html>\n<html lang="fr">')
    assert page.count("<table>") == 4 and page.count("<svg ") == 4
    assert page.count('<th scope="col">') == sum(len(c) for c in build.COLUMNS.values())
    for heading in ("Statut des engagements", "Rapprochement commandes / factures", "Factures et avoirs"):
        assert f">{heading}</h2>" in page
    # the page opens with the charts, each with a title, axis labels and a legend
    assert page.index('id="graphiques"') < page.index('<section id="status"')
    for title in (
        "Engagements par statut",
        "Ancienneté dans le statut",
        "Commandé, facturé et mis en paiement par mois (EUR)",
        "Anomalies les plus fréquentes",
    ):
        assert f'<text class="chart-title" x="280" y="18" text-anchor="middle">{html.escape(title)}</text>' in page
    assert page.count('class="legend"') == 4 and page.count('class="axis-label"') == 8
    # self-contained: no URL, no script, no external resource, and a policy that forbids any
    for banned in ("http:", "https:", "//", "<script", "<link", "<img", "src=", "@import", "url("):
        assert banned not in page.replace("<!DOCTYPE", ""), banned
    assert "default-src 'none'" in page
    assert "727,20" in page and "−" not in page  # decimal comma in the page
    assert "1\u202f200,00" in page  # thousands separator
    # one language: French labels and values, no English machine names or reasons
    for english in ("engagement_number", "credit_note", ">true<", ">false<", "an invoice with the same seller"):
        assert english not in page, english
    assert ">Avoir<" in page and ">Surfacturé<" in page and ">Pris en compte<" in page
    # full anomaly texts, in French
    for code, text in write.ANOMALIES_FR.items():
        if code in ("DUPLICATE_INVOICE", "OVER_INVOICED", "NO_ENGAGEMENT", "BUYER_MISMATCH"):
            assert f"<li>{code} : {html.escape(text)}</li>" in page
    # chart data: status counts, ageing buckets, money per month (exact), anomalies
    assert "Pris en compte : Engagements 2" in page and "Refusé : Engagements 1" in page
    assert "0 à 7 j : Engagements 1; 8 à 30 j : Engagements 0; 31 à 90 j : Engagements 1" in page
    # 2026-11: ordered 1200.00 (EJ-0001); invoiced 600 + 300 - 72.72 + 727.20 (counted, issued in November)
    assert "2026-11 : Commandé 1\u202f200,00, Facturé (net) 1\u202f554,48, Mis en paiement 0,00" in page
    assert "2026-12 : Commandé 600,00, Facturé (net) 0,00, Mis en paiement 600,00" in page
    assert "OVER_INVOICED : Factures et avoirs 2; BUYER_MISMATCH : Factures et avoirs 1" in page
    assert_golden("reports.html", path.read_bytes())


def test_every_anomaly_and_value_has_its_french_text() -> None:
    assert set(write.ANOMALIES_FR) == set(ANOMALY_CODES)
    from chorus_batch.domain.invoices import InvoiceStatus
    from chorus_batch.domain.reconciliation import MatchStatus
    from chorus_batch.domain.states import State

    for value in [*InvoiceStatus, *MatchStatus, *State]:
        assert value.value in write.VALUES_FR, value
    assert set(write.LABELS_FR) >= {c for cols in build.COLUMNS.values() for c in cols}
    # a reason holding "; CODE: " is not split into a false item; an unknown cell is kept whole
    assert write.anomaly_items("UNKNOWN_ENGAGEMENT: no engagement X; Y: z") == [
        f"UNKNOWN_ENGAGEMENT : {write.ANOMALIES_FR['UNKNOWN_ENGAGEMENT']}"
    ]
    assert write.anomaly_items("SOMETHING: new") == ["SOMETHING: new"]


def test_html_bytes_are_deterministic(frames: dict[str, Any]) -> None:
    assert write.to_html(frames, TODAY) == write.to_html(frames, TODAY)


def test_empty_store_reports(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        with store.read() as conn:
            frames = reports.report_all(conn, Settings(), TODAY)
    finally:
        store.close()
    for fmt in ("csv", "xlsx", "html"):
        write.write(frames, tmp_path / fmt, fmt=fmt, as_of=TODAY)
    assert (tmp_path / "csv" / "invoices.csv").read_text() == ",".join(build.INVOICE_COLUMNS) + "\n"
    assert "Aucune ligne." in (tmp_path / "html" / "reports.html").read_text(encoding="utf-8")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def _need_chromium() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install it (apt-get install chromium) to render reports.html"
        if os.environ.get("CHORUS_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"CHORUS_REQUIRE_CHROMIUM=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def _chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium on ``page`` with its own profile; name resolution off (nothing can leave
    the machine even if the page asked)."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, timeout=180, env={**os.environ, "HOME": str(tmp_path)})


def page_requests(net_log: Path) -> list[str]:
    """The URLs the page itself asked for, from Chromium's net log: requests whose initiator is
    an origin (a page's; a file page's is ``null``). The browser's own background requests say
    ``not an origin``."""
    events = json.loads(net_log.read_text(encoding="utf-8"))["events"]
    return sorted(
        {
            e["params"]["url"]
            for e in events
            if "url" in e.get("params", {}) and e["params"].get("initiator", "not an origin") != "not an origin"
        }
    )


@pytest.mark.slow
def test_html_renders_in_headless_chromium(frames: dict[str, Any], tmp_path: Path) -> None:
    _need_chromium()
    [page] = write.write(frames, tmp_path / "out", fmt="html", as_of=TODAY)
    png = tmp_path / "reports.png"
    done = _chromium(page, tmp_path, "--window-size=1400,2200", f"--screenshot={png}")
    assert png.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}"
    data = png.read_bytes()
    assert _png_size(data) == (1400, 2200)
    assert len(data) > 30_000, f"screenshot suspiciously small ({len(data)} bytes): blank page?"
    keep = os.environ.get("CHORUS_SCREENSHOT")
    if keep:
        shutil.copyfile(png, keep)
    # the DOM as rendered: the charts are there, each with its title, legend and bars; and the
    # page asked for nothing over the network
    net_log = tmp_path / "net.json"
    done = _chromium(page, tmp_path, f"--log-net-log={net_log}", "--dump-dom")
    dom = done.stdout.decode("utf-8")
    assert dom.count('<figure class="chart"') == 4, done.stderr.decode(errors="replace")[-2000:]
    assert dom.count('class="chart-title"') == 4 and dom.count('class="legend"') == 4
    assert dom.count('<rect class="bar') >= 5 + 4 + 3 + 1
    assert "Anomalies les plus fréquentes" in dom and "Factures et avoirs" in dom
    assert net_log.is_file() and page_requests(net_log) == []


@pytest.mark.slow
def test_chromium_network_check_sees_a_page_request(tmp_path: Path) -> None:
    """The guard above fires: a page that loads an image over HTTP is caught."""
    _need_chromium()
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://chorus.invalid/pixel.png"></body></html>')
    net_log = tmp_path / "net.json"
    _chromium(page, tmp_path, f"--log-net-log={net_log}", "--dump-dom")
    assert page_requests(net_log) == ["http://chorus.invalid/pixel.png"]


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_report_commands(run_cli: Any, store_url: str, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    base = ("--workspace", ws, "--db", store_url, "report")
    out = tmp_path / "out"
    result = run_cli(*base, "all", "-o", out)
    assert result.exit_code == 0, result.output + result.stderr
    assert result.output.splitlines() == [str(out / f"{n}.csv") for n in reports.REPORTS]
    header = (out / "reconciliation.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(build.RECONCILIATION_COLUMNS)

    assert run_cli("--workspace", ws, "--db", store_url, "init").exit_code == 0  # outbox/reports is a workspace's
    result = run_cli(*base, "reconciliation")  # default folder: the workspace's outbox/reports
    assert result.output.splitlines() == [str(ws / "outbox" / "reports" / "reconciliation.csv")]
    plain = (out / "invoices.csv").read_bytes()
    result = run_cli(*base, "invoices", "-o", out, "--excel-fr")
    assert result.output.splitlines() == [str(out / "invoices.excel-fr.csv")]
    assert result.exit_code == 0 and (out / "invoices.excel-fr.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (out / "invoices.csv").read_bytes() == plain  # never overwritten by the French form
    result = run_cli(*base, "invoices", "-o", out, "--excel-fr", "--raw")
    assert result.exit_code == 2 and "choose one" in result.stderr
    for fmt, name in (("xlsx", "reports.xlsx"), ("html", "reports.html")):
        result = run_cli(*base, "status", "-o", out, "--format", fmt)  # always every report
        assert result.exit_code == 0 and result.output.splitlines() == [str(out / name)]
    assert openpyxl.load_workbook(out / "reports.xlsx").sheetnames == list(reports.REPORTS)
    result = run_cli(*base, "all", "-o", out, "--format", "pdf")
    assert result.exit_code == 2


def test_same_store_same_bytes(run_cli: Any, store_url: str, tmp_path: Path) -> None:
    """Two runs of every format on the same store give identical files (no temp files left)."""
    outputs = []
    for run in ("a", "b"):
        folder = tmp_path / run
        for args in ((), ("--excel-fr",), ("--format", "xlsx"), ("--format", "html")):
            sub = folder / ("-".join(args) or "csv")
            result = run_cli("--workspace", tmp_path / "ws", "--db", store_url, "report", "all", "-o", sub, *args)
            assert result.exit_code == 0, result.output + result.stderr
        outputs.append({p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 10 and not [p for p in outputs[0] if p.name.startswith(".")]


# -- architecture ------------------------------------------------------------------------------------


def test_pandas_only_under_reports() -> None:
    package = Path(chorus_batch.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        if "reports" in path.relative_to(package).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] in ("pandas", "openpyxl") for n in names):
                offenders.append(str(path.relative_to(package)))
    assert not offenders, offenders


@pytest.mark.slow
def test_cli_start_up_does_not_load_pandas() -> None:
    code = "import sys, chorus_batch.cli; print('pandas' in sys.modules, 'openpyxl' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"


def test_queries_compile_for_postgresql() -> None:
    """The JSON explode and the aggregates have a PostgreSQL form (run for real on PostgreSQL)."""

    class _Conn:
        dialect = postgresql.dialect()

    stored = str(queries.invoice_anomalies(_Conn()).compile(dialect=postgresql.dialect()))  # type: ignore[arg-type]
    assert "jsonb_array_elements(CAST(invoices.anomalies AS JSONB))" in stored
    totals = str(queries.totals(_Conn()).compile(dialect=postgresql.dialect()))  # type: ignore[arg-type]
    assert "LEFT OUTER JOIN engagement_totals ON engagement_totals.engagement_id = engagements.id" in totals
    assert 'engagements.number COLLATE "C"' in totals  # rows leave the database in code-point order


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sums_of_the_largest_amounts_are_exact_on_both_databases(tmp_path: Path, backend: str, request: Any) -> None:
    """Invoices and credit notes at the largest amount the validation admits (just under 10^12,
    6 decimals): the sums pass 2**63 millionths, and come out exact, signs included."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'big.sqlite'}"
    top = "999999999999.999999"
    store = Store(url)
    try:
        with store.begin() as conn:
            e = _engagement(
                conn, "EJ-MAX", "PRIS_EN_COMPTE", top, top, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "S"
            )
            for i in range(10):
                _invoice(conn, f"F-{i}", top, top, ["MISE_EN_PAIEMENT" if i < 4 else "DEPOSEE"], e, "EJ-MAX")
            for i in range(3):
                _invoice(conn, f"A-{i}", top, top, ["DEPOSEE"], e, "EJ-MAX", type_="credit_note")
        with store.read() as conn:
            sums = invoices_store.invoiced_totals(conn, e)
            frames = reports.report_all(conn, Settings(), TODAY)
    finally:
        store.close()
    one = Decimal(top)
    assert (sums.invoiced_ttc, sums.credit_notes_ttc, sums.paid_ttc, sums.invoice_count) == (
        7 * one,
        3 * one,
        4 * one,
        13,
    )
    assert 10 * one * 10**6 > 2**63
    (row,) = frames["reconciliation"].to_dict("records")
    assert (row["invoiced_ttc"], row["credit_notes_ttc"], row["paid_ttc"], row["remaining_ttc"]) == (
        "7000000000000.00",
        "3000000000000.00",
        "4000000000000.00",
        "-6000000000000.00",
    )
    assert row["match_status"] == "OVER_INVOICED"
    (total,) = frames["totals"].to_dict("records")
    assert (total["currency"], total["invoiced_ttc"], total["remaining_ttc"]) == (
        "EUR",
        "7000000000000.00",
        "-6000000000000.00",
    )


# -- end to end, through the CLI: files in, reports out --------------------------------------------


def test_cli_reports_an_accountant_can_open(run_cli: Any, tmp_path: Path) -> None:
    """Orders in SEK and EUR, a supplier whose name is a formula, invoices in UBL and CII with
    due dates (one over-invoicing: a negative remaining amount), then every report form."""
    from dataclasses import replace as with_

    from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, responses_csv, ubl_order
    from chorus_batch.demo.invoices import cii_invoice, ubl_invoice

    mairie, numerique = ISSUERS[0], SUPPLIERS[1]
    formula = with_(numerique, name='=HYPERLINK("x";"y") AB')
    lines = [Line("1", "Clé USB", Decimal("20"), "C62", Decimal("9.90"), Decimal("20"), "REF-1")]
    more = [*lines, Line("2", "Écran", Decimal("2"), "C62", Decimal("159.00"), Decimal("20"), "REF-2")]
    ws = tmp_path / "ws"
    assert run_cli("--workspace", ws, "init").exit_code == 0

    def run(files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (ws / "inbox" / name).write_bytes(data)
        result = run_cli("--workspace", ws, "run")
        assert result.exit_code == 0, result.output + result.stderr

    run(
        {
            "sek.xml": ubl_order("EJ-SEK-1", mairie, formula, lines, date(2026, 11, 20), currency="SEK"),
            "eur.xml": ubl_order("EJ-EUR-1", mairie, numerique, lines, date(2026, 11, 20)),
            "reponses.csv": responses_csv([("EJ-SEK-1", "accept", ""), ("EJ-EUR-1", "accept", "")]),
        }
    )
    run(
        {
            "f-sek.xml": ubl_invoice(
                "F-SEK-1",
                formula,
                mairie,
                lines,
                date(2026, 12, 1),
                engagement="EJ-SEK-1",
                currency="SEK",
                due_date=date(2026, 12, 31),
            ),
            "f-eur.xml": cii_invoice(
                "F-EUR-1", numerique, mairie, more, date(2026, 12, 2), engagement="EJ-EUR-1", due_date=date(2027, 1, 15)
            ),
        }
    )
    out = tmp_path / "out"

    def report(*args: str, env: dict[str, str] | None = None) -> Any:
        result = run_cli("--workspace", ws, "report", "all", "-o", out, *args, env=env)
        assert result.exit_code == 0, result.output + result.stderr
        return result

    def read(name: str, sep: str = ",") -> list[dict[str, str]]:
        text = (out / name).read_bytes().decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=sep))

    report()
    recon = {r["engagement_number"]: r for r in read("reconciliation.csv")}
    # the currency of every money row; the party names; the formula neutralised, the negative kept a number
    assert {k: r["currency"] for k, r in recon.items()} == {"EJ-EUR-1": "EUR", "EJ-SEK-1": "SEK"}
    assert recon["EJ-SEK-1"]["issuer_name"] == mairie.name
    assert recon["EJ-SEK-1"]["supplier_name"] == "'" + formula.name
    assert recon["EJ-EUR-1"]["supplier_name"] == numerique.name
    assert recon["EJ-EUR-1"]["remaining_ttc"] == "-381.60"  # 237.60 ordered, 619.20 invoiced
    invoices = {r["invoice_number"]: r for r in read("invoices.csv")}
    assert (invoices["F-SEK-1"]["issue_date"], invoices["F-SEK-1"]["due_date"]) == ("2026-12-01", "2026-12-31")
    assert (invoices["F-EUR-1"]["issue_date"], invoices["F-EUR-1"]["due_date"]) == ("2026-12-02", "2027-01-15")
    assert {r["currency"] for r in read("status.csv")} == {"EUR", "SEK"}
    plain = {name: (out / f"{name}.csv").read_bytes() for name in reports.REPORTS}

    # the opt-outs for programs: the flag, and the environment
    report("--raw")
    assert {r["engagement_number"]: r for r in read("reconciliation.csv")}["EJ-SEK-1"]["supplier_name"] == formula.name
    report()
    report(env={"CHORUS_BATCH_CSV_RAW": "1"})
    assert {r["engagement_number"]: r for r in read("status.csv")}["EJ-SEK-1"]["supplier_name"] == formula.name
    report()

    # the French Excel form: its own files, the plain ones untouched
    result = report("--excel-fr")
    assert result.output.splitlines() == [str(out / f"{n}.excel-fr.csv") for n in reports.REPORTS]
    assert {name: (out / f"{name}.csv").read_bytes() for name in reports.REPORTS} == plain
    fr = {r["engagement_number"]: r for r in read("reconciliation.excel-fr.csv", ";")}
    assert fr['="EJ-EUR-1"']["issuer_id"] == f'="{mairie.siret}"' and fr['="EJ-EUR-1"']["remaining_ttc"] == "-381,60"
    assert fr['="EJ-SEK-1"']["supplier_name"] == "'" + formula.name

    # the workbook: dates as dates, amounts as numbers with two decimals, identifiers as text
    report("--format", "xlsx")
    book = openpyxl.load_workbook(out / "reports.xlsx")
    sheet = book["invoices"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "F-SEK-1")
    cells = dict(zip(header, row, strict=True))
    assert cells["issue_date"].is_date and cells["issue_date"].value.date() == date(2026, 12, 1)
    assert cells["due_date"].is_date and cells["due_date"].number_format == "yyyy-mm-dd"
    assert cells["status_at"].is_date and cells["status_at"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert cells["amount_ttc"].data_type == "n" and cells["amount_ttc"].number_format == "#,##0.00"
    assert cells["seller_id"].data_type == "s" and cells["seller_id"].value == numerique.siret
    status = book["status"]
    header = [c.value for c in status[1]]
    first = dict(zip(header, status[2], strict=True))
    assert first["created_at"].is_date and first["issuer_id"].data_type == "s"
    recon_sheet = book["reconciliation"]
    header = [c.value for c in recon_sheet[1]]
    eur = dict(zip(header, next(r for r in recon_sheet.iter_rows(min_row=2) if r[0].value == "EJ-EUR-1"), strict=True))
    assert eur["remaining_ttc"].value == pytest.approx(-381.60) and eur["remaining_ttc"].data_type == "n"
    assert eur["supplier_name"].value == numerique.name

    # the page: SEK said as SEK, never euros; a chart per currency
    report("--format", "html")
    page = (out / "reports.html").read_text(encoding="utf-8")
    assert "euro" not in page.lower()
    assert "Commandé, facturé et mis en paiement par mois (SEK)" in page
    assert "Commandé, facturé et mis en paiement par mois (EUR)" in page
    assert "Montant TTC (SEK)" in page

    # orders search --format csv: the same protection, amounts untouched; the same opt-out
    result = run_cli("--workspace", ws, "orders", "search", "--format", "csv")
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(result.output))}
    assert rows["EJ-SEK-1"]["supplier_name"] == "'" + formula.name and rows["EJ-SEK-1"]["currency"] == "SEK"
    result = run_cli("--workspace", ws, "orders", "search", "--format", "csv", env={"CHORUS_BATCH_CSV_RAW": "1"})
    assert {r["number"]: r for r in csv.DictReader(io.StringIO(result.output))}["EJ-SEK-1"]["supplier_name"] == (
        formula.name
    )


def test_orders_search_csv_cells() -> None:
    """The ``--format csv`` rows: text a spreadsheet would run gets a ``'``; numbers and the text
    of numbers (a negative amount) never; a CR inside a cell stays inside its quoted field."""
    from chorus_batch.cli import output

    rows = [{"a": "=1+1", "b": "-127.20", "c": Decimal("-1.00"), "d": "@x", "e": "x\ry", "f": "-EJ-2"}]
    cells = [{k: output.csv_cell(v) for k, v in row.items()} for row in rows]
    text = output.csv_text(list(rows[0]), cells)
    assert list(csv.DictReader(io.StringIO(text, newline=""))) == [
        {"a": "'=1+1", "b": "-127.20", "c": "-1.00", "d": "'@x", "e": "x\ry", "f": "'-EJ-2"}
    ]
    assert text.endswith("\n") and "\r\n" not in text


def test_migration_9_gives_an_older_store_the_due_date(tmp_path: Path) -> None:
    """A store from before (migrations 1 to 8) gets ``invoices.due_date``, empty for its invoices."""
    from sqlalchemy import create_engine, inspect, text

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    store = Store(url)
    try:
        populate(store)
    finally:
        store.close()
    engine = create_engine(url)
    with engine.begin() as conn:  # as migration 8 left it
        conn.execute(text("ALTER TABLE invoices DROP COLUMN due_date"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 9"))
    store = Store(url)
    try:
        with store.read() as conn:
            rows = reports.report(conn, Settings(), TODAY, ["invoices"])["invoices"].to_dict("records")
    finally:
        store.close()
    with engine.connect() as conn:
        assert "due_date" in {c["name"] for c in inspect(conn).get_columns("invoices")}
        assert 9 in set(conn.execute(text("SELECT version FROM schema_migrations")).scalars())
    engine.dispose()
    assert rows and {r["due_date"] for r in rows} == {""} and {r["issue_date"] for r in rows} == {"2026-11-30"}
