"""Encodings and limits at intake: ISO-8859-1 and windows-1252 orders (declared) are integrated
with their accented names intact; latin-1 bytes without a matching declaration are
XML_ENCODING; a 40 MB file is FILE_TOO_LARGE (default ``max_file_size``, 32 MiB), kept in
``var/rejected/``, with a bounded peak RSS; empty and truncated files are rejected.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from _workspace import initialised
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order

CLI = [sys.executable, "-m", "chorus_batch"]
UTF8_DECL = '<?xml version="1.0" encoding="UTF-8"?>'

ISSUER = replace(
    ISSUERS[0],
    name="Mairie de Saint-Étienne",
    city="Saint-Étienne",
    street="Place de l'Hôtel de Ville",
    postcode="42000",
)
SUPPLIER = replace(SUPPLIERS[2], name="Crèmerie Française du Forez SAS")
LINES = [
    Line("1", "Crème fraîche épaisse", Decimal("12.00"), "C62", Decimal("3.45"), Decimal("5.5"), "CRE-FR-1"),
    Line("2", "Pâté de campagne à l'ancienne", Decimal("4.00"), "C62", Decimal("6.90"), Decimal("5.5")),
]


def _order(number: str, *, lines: list[Line] = LINES, note: str | None = "Livraison à l'économat, côté cour") -> str:
    return ubl_order(number, ISSUER, SUPPLIER, lines, date(2026, 3, 1), note=note).decode("utf-8")


def _declared(text: str, encoding: str, codec: str) -> bytes:
    assert text.startswith(UTF8_DECL)
    return text.replace(UTF8_DECL, f'<?xml version="1.0" encoding="{encoding}"?>', 1).encode(codec)


def _ack(ws: Path, name: str) -> dict:
    return json.loads((ws / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))


def _codes(ack: dict) -> set[str]:
    return {e["code"] for e in ack["errors"]}


def _show(wcli, number: str) -> dict:
    result = wcli("orders", "show", number, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def _all_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _all_strings(v)]
    return []


def test_iso_8859_1_order_is_integrated_with_its_accents(workspace: Path, wcli) -> None:
    data = _declared(_order("EJ2026-900001"), "ISO-8859-1", "iso-8859-1")
    assert b"Saint-\xc9tienne" in data and b"Cr\xe8me" in data  # one byte per accented letter
    (workspace / "inbox" / "latin1.xml").write_bytes(data)
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert _ack(workspace, "latin1.xml")["status"] == "IN_INTEGRE"

    shown = _show(wcli, "EJ2026-900001")
    assert shown["issuer_name"] == "Mairie de Saint-Étienne"
    assert shown["supplier_name"] == "Crèmerie Française du Forez SAS"
    assert [ln["name"] for ln in shown["lines"]] == ["Crème fraîche épaisse", "Pâté de campagne à l'ancienne"]
    strings = _all_strings(shown)
    assert "Saint-Étienne" in strings  # the city of the issuer's address
    assert any("Livraison à l'économat" in s for s in strings)
    assert not any("\ufffd" in s or "Ã" in s for s in strings), [s for s in strings if "\ufffd" in s or "Ã" in s]
    # the original bytes are kept as received (ISO-8859-1), not re-encoded
    archived = [p for p in (workspace / "var" / "archive").rglob("latin1.xml")]
    assert len(archived) == 1 and archived[0].read_bytes() == data


def test_windows_1252_order_is_integrated_with_its_accents(workspace: Path, wcli) -> None:
    lines = [
        *LINES,
        Line("3", "Bœuf bourguignon – barquette 1 kg", Decimal("3.00"), "C62", Decimal("14.20"), Decimal("5.5")),
    ]
    text = _order("EJ2026-900002", lines=lines, note="Tarif en € TTC – livraison l’après-midi")
    data = _declared(text, "windows-1252", "cp1252")
    assert b"B\x9cuf" in data and b"\x80" in data and b"\x92" in data  # œ, € and ’ exist in cp1252 only
    (workspace / "inbox" / "cp1252.xml").write_bytes(data)
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert _ack(workspace, "cp1252.xml")["status"] == "IN_INTEGRE"

    shown = _show(wcli, "EJ2026-900002")
    assert shown["issuer_name"] == "Mairie de Saint-Étienne"
    assert [ln["name"] for ln in shown["lines"]][-1] == "Bœuf bourguignon – barquette 1 kg"
    assert any("Tarif en € TTC – livraison l’après-midi" in s for s in _all_strings(shown))


@pytest.mark.parametrize(
    "declaration",
    ["", '<?xml version="1.0"?>', UTF8_DECL],
    ids=["no-declaration", "declaration-without-encoding", "declared-utf-8"],
)
def test_latin1_bytes_without_matching_declaration_are_xml_encoding(workspace: Path, wcli, declaration: str) -> None:
    body = _order("EJ2026-900003").replace(UTF8_DECL, declaration, 1)
    data = body.lstrip("\n").encode("iso-8859-1") if not declaration else body.encode("iso-8859-1")
    assert b"\xc9" in data
    (workspace / "inbox" / "undeclared.xml").write_bytes(data)
    result = wcli("run")
    assert result.exit_code == 1, result.output + result.stderr
    ack = _ack(workspace, "undeclared.xml")
    assert ack["status"] == "IN_REJETE" and _codes(ack) == {"XML_ENCODING"}, ack["errors"]
    assert (workspace / "var" / "rejected" / "undeclared.xml").read_bytes() == data
    assert (workspace / "var" / "rejected" / "undeclared.xml.errors.json").exists()


MEASURE = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(json.dumps({"rc": r.returncode, "peak_kb": peak_kb, "stdout": r.stdout, "stderr": r.stderr}))
    """
)


@pytest.mark.slow
def test_40_mb_file_is_file_too_large_kept_and_memory_bounded(tmp_path: Path) -> None:
    """A valid order made 40 MB by a huge ``cbc:Note``: FILE_TOO_LARGE under the default
    ``max_file_size``, kept byte-identical in ``var/rejected/``; the ``run`` process (measured
    alone, in a fresh parent) never goes above 300 MB of RSS."""
    ws = tmp_path / "ws"
    initialised(ws)
    data = _order("EJ2026-900004", note="x" * (40 * 1024 * 1024)).encode("utf-8")
    assert len(data) > 40 * 1024 * 1024
    (ws / "inbox" / "huge.xml").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    del data

    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *CLI, "--workspace", str(ws), "run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    measured = json.loads(out.stdout)
    assert measured["rc"] == 1, measured
    assert "Traceback" not in measured["stderr"] + measured["stdout"]
    ack = _ack(ws, "huge.xml")
    assert ack["status"] == "IN_REJETE" and _codes(ack) == {"FILE_TOO_LARGE"}, ack["errors"]
    assert ack["sha256"] == digest
    kept = ws / "var" / "rejected" / "huge.xml"
    with open(kept, "rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == digest
    assert (ws / "var" / "rejected" / "huge.xml.errors.json").exists()
    assert not any((ws / "inbox").iterdir()) and not any(p.is_file() for p in (ws / "var" / "processing").rglob("*"))
    assert measured["peak_kb"] < 300 * 1024, f"peak RSS {measured['peak_kb'] // 1024} MB"


def test_empty_and_truncated_files_are_rejected(workspace: Path, wcli) -> None:
    full = _order("EJ2026-900005").encode("utf-8")
    cut = len(full) * 3 // 5
    while full[cut] >= 0x80 or full[cut - 1] >= 0x80:  # cut on an ASCII byte
        cut += 1
    files = {
        "empty.xml": b"",
        "truncated.xml": full[:cut],
        "truncated-in-a-character.xml": full[: full.index("Étienne".encode()) + 1],
    }
    for name, data in files.items():
        (workspace / "inbox" / name).write_bytes(data)
    result = wcli("run")
    assert result.exit_code == 1, result.output + result.stderr
    expected = {
        "empty.xml": {"FILE_EMPTY"},
        "truncated.xml": {"XML_MALFORMED"},
        "truncated-in-a-character.xml": {"XML_MALFORMED"},
    }
    for name, data in files.items():
        ack = _ack(workspace, name)
        assert ack["status"] == "IN_REJETE" and _codes(ack) == expected[name], (name, ack["errors"])
        assert (workspace / "var" / "rejected" / name).read_bytes() == data
    assert not any((workspace / "inbox").iterdir())
