"""Bad and hostile input files (SPEC §1, §7): every one is rejected with a stable code, kept
byte-identical in ``var/rejected/`` with its ``.errors.json``, reported in ``outbox/acks/``,
and nothing of its content (nor of files it points at, like ``/etc/passwd``) leaks into any
report, console output or log. A run never crashes; temporary names are left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from _workspace import initialised
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, _tiny_pdf, ubl_order
from chorus_batch.errors import CODES

MARKER = "SECRET-MARKER-123"
CONSOLE_SCRIPT = Path(sys.executable).parent / "chorus-batch"
UBL_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
LINES = [
    Line(
        "1",
        "Ramette papier A4 80 g/m² blanc (500 feuilles)",
        Decimal("10.00"),
        "C62",
        Decimal("4.25"),
        Decimal("20"),
        "PAP-A4-80",
    ),
    Line("2", "Classeurs à levier A4 dos 80 mm", Decimal("12.00"), "C62", Decimal("3.10"), Decimal("20")),
]


def _passwd_secret() -> str:
    """A piece of /etc/passwd that must never show up anywhere."""
    try:
        first = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return "root:x:0:0"
    return first[: first.find(":", first.find(":") + 1) + 1] or "root:"


def order(
    number: str = "EJ2026-424242", *, supplier: Any = SUPPLIERS[0], currency: str = "EUR", note: str = MARKER
) -> bytes:
    return ubl_order(number, ISSUERS[0], supplier, LINES, date(2026, 1, 5), currency=currency, note=note)


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, old
    return data.replace(old, new, 1)


def _without_issue_date(data: bytes) -> bytes:
    start = data.index(b"<cbc:IssueDate>")
    end = data.index(b"</cbc:IssueDate>") + len(b"</cbc:IssueDate>\n")
    return data[:start] + data[end:].lstrip(b" ")


def _totals_mismatch(data: bytes) -> bytes:
    for tag in (b"TaxInclusiveAmount", b"PayableAmount"):
        start = data.index(b"<cbc:" + tag)
        value_start = data.index(b">", start) + 1
        value_end = data.index(b"</cbc:" + tag, value_start)
        bumped = f"{Decimal(data[value_start:value_end].decode()) + 10:.2f}".encode()
        data = data[:value_start] + bumped + data[value_end:]
    return data


def _truncated(data: bytes) -> bytes:
    """Cut at about 3/5, on an ASCII byte (a cut inside a multi-byte char is tested apart)."""
    cut = len(data) * 3 // 5
    while data[cut] >= 0x80 or data[cut - 1] >= 0x80:
        cut += 1
    return data[:cut]


def _latin1_no_declaration() -> bytes:
    text = order(note=f"Livraison à l'économat — {MARKER}".replace("—", "-")).decode("utf-8")
    body = text.removeprefix(UBL_DECL.decode())
    raw = body.encode("latin-1")
    assert b"\xe9" in raw  # é as one latin-1 byte
    return raw


def _binary() -> bytes:
    rng = random.Random(99)
    noise = bytes(rng.randrange(256) for _ in range(2000))
    return b"\x00\x01\x02\x03" + noise[:700] + MARKER.encode() + b"\x00" * 16 + noise[700:]


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n'
    b"<!DOCTYPE lolz [\n"
    b' <!ENTITY lol "lol">\n'
    b' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
    b' <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n'
    b' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
    b' <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">\n'
    b' <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">\n'
    b' <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">\n'
    b' <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">\n'
    b' <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">\n'
    b' <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">\n'
    b"]>\n"
    b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"><Note>'
    + MARKER.encode()
    + b"&lol9;</Note></Order>\n"
)


def _xxe(encoding: str = "utf-8") -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        '<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f"<cbc:ID>&e;</cbc:ID><cbc:Note>{MARKER}</cbc:Note></Order>\n"
    )
    return text.encode(encoding)


_PAD = b"<!--" + b"padding " * 9000 + b"-->\n"  # pushes a DOCTYPE beyond a 64 KiB prefix scan
XXE_LATE = (
    b'<?xml version="1.0"?>\n' + _PAD + b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
    b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"><Note>'
    + MARKER.encode()
    + b"&e;</Note></Order>\n"
)
LAUGHS_LATE = BILLION_LAUGHS.replace(b"<!DOCTYPE", _PAD + b"<!DOCTYPE", 1)
DEEP = b"<a>" * 50_000 + MARKER.encode() + b"</a>" * 50_000


# name -> (content, expected code)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "malformed.xml": (
        b'<?xml version="1.0"?>\n<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"><ID>'
        + MARKER.encode()
        + b"</Order>\n",
        "XML_MALFORMED",
    ),
    "empty.xml": (b"", "FILE_EMPTY"),
    "blank.xml": (b" \n\t\r\n ", "FILE_EMPTY"),
    "binary.dat": (_binary(), "UNKNOWN_DOCUMENT"),
    "unknown-root.xml": (f"<foo><bar>{MARKER}</bar></foo>".encode(), "UNKNOWN_DOCUMENT"),
    "xxe.xml": (_xxe(), "UNSAFE_XML"),
    "xxe-utf16.xml": (_xxe("utf-16"), "UNSAFE_XML"),
    "billion-laughs.xml": (BILLION_LAUGHS, "UNSAFE_XML"),
    "xxe-after-64k.xml": (XXE_LATE, "UNSAFE_XML"),
    "billion-laughs-after-64k.xml": (LAUGHS_LATE, "UNSAFE_XML"),
    "deep-nesting.xml": (DEEP, "XML_MALFORMED"),
    "xsd-invalid.xml": (_without_issue_date(order()), "XSD_INVALID"),
    "bad-siret.xml": (order(supplier=replace(SUPPLIERS[0], siret=SUPPLIERS[0].siret[:-1] + "0")), "SIRET_INVALID"),
    "truncated.xml": (_truncated(order()), "XML_MALFORMED"),
    "latin1.xml": (_latin1_no_declaration(), "XML_ENCODING"),
    "totals.xml": (_totals_mismatch(order()), "TOTALS_MISMATCH"),
    "engagement-na.xml": (order("NA"), "ENGAGEMENT_NUMBER_INVALID"),
    "engagement-na-lower.xml": (order(" n/a "), "ENGAGEMENT_NUMBER_INVALID"),
    "engagement-dash.xml": (order("-"), "ENGAGEMENT_NUMBER_INVALID"),
    "engagement-51.xml": (order("E" * 51), "ENGAGEMENT_NUMBER_INVALID"),
    "currency-xxy.xml": (order(currency="XXY"), "CURRENCY_INVALID"),
    "currency-mixed.xml": (
        _replace_once(
            order(), b'<cbc:LineExtensionAmount currencyID="EUR">', b'<cbc:LineExtensionAmount currencyID="USD">'
        ),
        "CURRENCY_INVALID",
    ),
    "no-xml.pdf": (_tiny_pdf(f"just a letter {MARKER}"), "PDF_WITHOUT_XML"),
}
TEMP_NAMES = ("x.tmp", "x.part", ".hidden", "x~")


def _codes(errors: list[dict[str, Any]]) -> set[str]:
    return {e["code"] for e in errors}


def _assert_no_leak(ws: Path, *outputs: str) -> None:
    """Neither the marker nor /etc/passwd content appears in reports, errors.json, logs, outputs."""
    secret = _passwd_secret()
    texts = list(outputs)
    texts += [p.read_text(encoding="utf-8") for p in (ws / "outbox").rglob("*") if p.is_file()]
    texts += [p.read_text(encoding="utf-8") for p in (ws / "var" / "rejected").glob("*.errors.json")]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in (ws / "var" / "log").rglob("*") if p.is_file()]
    for text in texts:
        assert MARKER not in text
        assert secret not in text
        assert "root:" not in text


def _files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def hostile_run(workspace: Path, wcli: Any) -> dict[str, Any]:
    for name, (data, _code) in HOSTILE.items():
        (workspace / "inbox" / name).write_bytes(data)
    for name in TEMP_NAMES:
        (workspace / "inbox" / name).write_bytes(order())
    result = wcli("run")
    listed = wcli("files", "list", "--format", "json")
    return {"ws": workspace, "result": result, "files_list": listed}


def test_run_exits_1_and_rejects_everything(hostile_run: dict[str, Any]) -> None:
    result = hostile_run["result"]
    assert result.exit_code == 1, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert f"{len(HOSTILE)} file(s)" in result.stdout


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_file_rejected_with_its_code(hostile_run: dict[str, Any], name: str) -> None:
    ws = hostile_run["ws"]
    data, code = HOSTILE[name]
    ack_path = ws / "outbox" / "acks" / f"{name}.json"
    assert ack_path.is_file(), f"no integration report for {name}"
    ack = json.loads(ack_path.read_text(encoding="utf-8"))
    assert (
        {"file", "sha256", "status", "received_at", "processed_at", "documents", "errors"}
        <= set(ack)
        <= {"file", "sha256", "status", "received_at", "processed_at", "documents", "errors", "warnings"}
    )
    assert ack["file"] == name
    assert ack["status"] == "IN_REJETE"
    assert ack["sha256"] == hashlib.sha256(data).hexdigest()
    for err in ack["errors"]:
        assert {"code", "message", "line", "xpath"} <= set(err), err
        if err["code"] in ("XML_MALFORMED", "XML_ENCODING", "XSD_INVALID"):
            assert isinstance(err["line"], int) and err["line"] > 0, err
    assert code in _codes(ack["errors"]), ack["errors"]
    assert _codes(ack["errors"]) <= set(CODES)
    assert "INTERNAL_ERROR" not in _codes(ack["errors"])
    for doc in ack["documents"]:
        assert doc["outcome"] == "REJETE"
    rejected = ws / "var" / "rejected" / name
    assert rejected.is_file() and rejected.read_bytes() == data, "the rejected file must be kept unchanged"
    companion = ws / "var" / "rejected" / f"{name}.errors.json"
    assert companion.is_file()
    errors_json = json.loads(companion.read_text(encoding="utf-8"))
    assert errors_json["errors"] == ack["errors"]
    listed = {r["file"]: r for r in json.loads(hostile_run["files_list"].stdout)}
    assert listed[name]["status"] == "IN_REJETE" and code in _codes(listed[name]["errors"])


def test_xsd_errors_have_line_and_xpath(hostile_run: dict[str, Any]) -> None:
    ack = json.loads((hostile_run["ws"] / "outbox" / "acks" / "xsd-invalid.xml.json").read_text(encoding="utf-8"))
    xsd = [e for e in ack["errors"] if e["code"] == "XSD_INVALID"]
    assert xsd
    for err in xsd:
        assert isinstance(err["line"], int) and err["line"] > 0, err
        assert err["xpath"] and err["xpath"].startswith("/"), err
    assert any("IssueDate" in e["message"] for e in xsd)


def test_nothing_left_behind_and_temp_names_untouched(hostile_run: dict[str, Any]) -> None:
    ws = hostile_run["ws"]
    assert sorted(p.name for p in _files_in(ws / "inbox")) == sorted(TEMP_NAMES)
    for name in TEMP_NAMES:
        assert (ws / "inbox" / name).read_bytes() == order()
        assert not (ws / "outbox" / "acks" / f"{name}.json").exists()
    assert _files_in(ws / "var" / "processing") == []
    assert _files_in(ws / "var" / "archive") == []
    assert len(list((ws / "outbox" / "acks").glob("*.json"))) == len(HOSTILE)


def test_no_content_leaks(hostile_run: dict[str, Any]) -> None:
    result = hostile_run["result"]
    _assert_no_leak(hostile_run["ws"], result.stdout, result.stderr, hostile_run["files_list"].stdout)


def test_truncated_inside_a_multibyte_character_is_malformed(workspace: Path, wcli: Any) -> None:
    """A transfer cut in the middle of 'è' is a truncated file (XML_MALFORMED, 'or is truncated'),
    not an encoding problem: the sender's encoding is fine, advising to 'declare the real encoding'
    misleads the operator."""
    data = order()
    cut = data.index("è".encode()) + 1
    (workspace / "inbox" / "cut.xml").write_bytes(data[:cut])
    assert wcli("run").exit_code == 1
    ack = json.loads((workspace / "outbox" / "acks" / "cut.xml.json").read_text(encoding="utf-8"))
    assert ack["status"] == "IN_REJETE"
    assert _codes(ack["errors"]) == {"XML_MALFORMED"}, ack["errors"]


def test_symlink_in_inbox_is_not_followed(workspace: Path, wcli: Any, tmp_path: Path) -> None:
    """A link dropped in the inbox is never read through (it could point at any file): it is
    rejected with NOT_A_REGULAR_FILE, moved to var/rejected/ as a link, its target untouched."""
    target = tmp_path / "outside.xml"
    target.write_bytes(order())
    (workspace / "inbox" / "link.xml").symlink_to(target)
    (workspace / "inbox" / "passwd.xml").symlink_to("/etc/passwd")
    result = wcli("run")
    assert result.exit_code == 1
    assert target.read_bytes() == order()
    for name in ("link.xml", "passwd.xml"):
        ack = json.loads((workspace / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))
        assert ack["status"] == "IN_REJETE" and _codes(ack["errors"]) == {"NOT_A_REGULAR_FILE"}, ack
        assert "symbolic link" in ack["errors"][0]["message"]
        assert (workspace / "var" / "rejected" / name).is_symlink()
    assert os.readlink(workspace / "var" / "rejected" / "link.xml") == str(target)
    assert list((workspace / "inbox").iterdir()) == []
    assert wcli("orders", "search", "--format", "json").stdout.strip() == "[]"
    _assert_no_leak(workspace, result.stdout, result.stderr)


def test_file_too_large(workspace: Path, wcli: Any) -> None:
    (workspace / "chorus-batch.toml").write_text("max_file_size = 1000\n", encoding="utf-8")
    big = order()
    assert len(big) > 1000
    small = b"<foo/>"
    (workspace / "inbox" / "big.xml").write_bytes(big)
    (workspace / "inbox" / "small.xml").write_bytes(small)
    result = wcli("run")
    assert result.exit_code == 1
    ack = json.loads((workspace / "outbox" / "acks" / "big.xml.json").read_text(encoding="utf-8"))
    assert ack["status"] == "IN_REJETE" and _codes(ack["errors"]) == {"FILE_TOO_LARGE"}
    assert (workspace / "var" / "rejected" / "big.xml").read_bytes() == big
    assert (
        json.loads((workspace / "var" / "rejected" / "big.xml.errors.json").read_text(encoding="utf-8"))["errors"]
        == ack["errors"]
    )
    small_ack = json.loads((workspace / "outbox" / "acks" / "small.xml.json").read_text(encoding="utf-8"))
    assert _codes(small_ack["errors"]) == {"UNKNOWN_DOCUMENT"}, "the limit applies per file"
    _assert_no_leak(workspace, result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("unknown_key = 1\n", "unknown_key"),
        ("[routing]\nbogus = true\n", "routing.bogus"),
        ('max_file_size = "big"\n', "max_file_size"),
        ('[routing]\nserved = ["1234"]\n', "routing.served"),
    ],
)
def test_bad_configuration_exits_2_naming_the_key(workspace: Path, wcli: Any, toml: str, key: str) -> None:
    (workspace / "chorus-batch.toml").write_text(toml, encoding="utf-8")
    (workspace / "inbox" / "a.xml").write_bytes(order())
    result = wcli("run")
    assert result.exit_code == 2
    assert key in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert (workspace / "inbox" / "a.xml").read_bytes() == order(), "nothing is processed with a bad configuration"
    assert list((workspace / "outbox" / "acks").iterdir()) == []


@pytest.mark.slow
def test_console_script_over_the_hostile_set(tmp_path: Path) -> None:
    """The real entry point, in a subprocess: no traceback ever reaches the terminal."""
    if not CONSOLE_SCRIPT.is_file():
        pytest.skip(f"console script not installed at {CONSOLE_SCRIPT}")
    ws = tmp_path / "ws"
    initialised(ws)
    for name, (data, _code) in HOSTILE.items():
        (ws / "inbox" / name).write_bytes(data)
    (ws / "inbox" / "cut.xml").write_bytes(order()[: order().index("è".encode()) + 1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_BATCH_")}
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "--workspace", str(ws), "run"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert list((ws / "inbox").iterdir()) == []
    assert len(list((ws / "outbox" / "acks").glob("*.json"))) == len(HOSTILE) + 1
    _assert_no_leak(ws, proc.stdout, proc.stderr)
    log = ws / "var" / "log" / "chorus-batch.log"
    if log.exists():
        assert "Traceback" not in log.read_text(encoding="utf-8"), "a hostile file hit an internal error"
