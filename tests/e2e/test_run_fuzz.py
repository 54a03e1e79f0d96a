"""Fuzzing ``run`` (hypothesis, in-process through click's runner for speed): random bytes and
mutated real / generated orders (truncated, flipped bytes, insertions, deletions, encoding
changes) are dropped in a workspace inbox. Whatever comes in, ``run`` exits 0 or 1, prints no
traceback, loses no file (each ends in ``var/archive/`` or ``var/rejected/``, byte-identical),
writes exactly one ack per file, and never reports INTERNAL_ERROR.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from _budget import examples
from _shared import shared_location
from chorus_batch.demo.generate import (
    ISSUERS,
    SUPPLIERS,
    demo_files,
    engagement_number,
    orderx_order,
    random_lines,
    ubl_order,
)


def _bases() -> list[bytes]:
    """Valid (and a few deliberately bad) orders: generated, bundled demo ones, and — when the
    shared reference folder is there — official examples."""
    rng = random.Random(5)
    out = [
        ubl_order(
            engagement_number(910_000),
            ISSUERS[0],
            SUPPLIERS[0],
            random_lines(rng, 3),
            date(2026, 3, 1),
            note="Livraison à l'économat",
        ),
        ubl_order(engagement_number(910_001), ISSUERS[1], SUPPLIERS[1], random_lines(rng, 1), date(2026, 3, 2)),
        orderx_order(
            engagement_number(910_002),
            ISSUERS[2],
            SUPPLIERS[2],
            random_lines(rng, 2),
            date(2026, 3, 3),
            profile="basic",
        ),
        orderx_order(
            engagement_number(910_003),
            ISSUERS[3],
            SUPPLIERS[3],
            random_lines(rng, 2),
            date(2026, 3, 4),
            profile="extended",
        ),
    ]
    out += [data for name, data in demo_files() if "order" in name and not name.endswith(".pdf")][:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("orders/a.xml", out[0])
        zf.writestr("orders/b.xml", out[1])
    out.append(buf.getvalue())
    shared = shared_location() / "samples"
    for rel in (
        "openpeppol-poacc-upgrade-3/examples/Order_Example.xml",
        "openpeppol-poacc-upgrade-3/examples/Order_use_cases/UC2_Order.xml",
        "stafyniaksacha-facturx/order-x/ORDER-X_EX11_ORDER_PICK-UP-BASIC.xml",
    ):
        if (shared / rel).is_file():
            out.append((shared / rel).read_bytes())
    return out


BASES = _bases()
CODECS = ("utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf-8-sig")


def _mutate(data: bytes, ops: list[tuple]) -> bytes:
    for op in ops:
        kind, where = op[0], op[1]
        pos = int(where * len(data)) if data else 0
        if kind == "truncate":
            data = data[:pos]
        elif kind == "flip" and data:
            i = min(pos, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ op[2]]) + data[i + 1 :]
        elif kind == "insert":
            data = data[:pos] + op[2] + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + op[2] :]
        elif kind == "encode":
            text = data.decode("utf-8", errors="replace")
            if op[3]:  # also claim the new encoding in the declaration
                text = text.replace('encoding="UTF-8"', f'encoding="{op[2]}"', 1)
            data = text.encode(op[2], errors="replace")
        elif kind == "bom":
            data = op[2] + data
    return data


_where = st.floats(min_value=0, max_value=1, allow_nan=False)
_op = st.one_of(
    st.tuples(st.just("truncate"), _where),
    st.tuples(st.just("flip"), _where, st.integers(1, 255)),
    st.tuples(
        st.just("insert"),
        _where,
        st.binary(min_size=1, max_size=40)
        | st.sampled_from([b"<", b"&", b"]]>", b"\x00", b"\xff\xfe", b"<!DOCTYPE x>", "é".encode("latin-1")]),
    ),
    st.tuples(st.just("delete"), _where, st.integers(1, 200)),
    st.tuples(st.just("encode"), _where, st.sampled_from(CODECS), st.booleans()),
    st.tuples(
        st.just("bom"), _where, st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"])
    ),
)
_mutated = st.builds(_mutate, st.sampled_from(BASES), st.lists(_op, min_size=0, max_size=4))
_content = st.one_of(st.binary(min_size=1, max_size=3000), _mutated, _mutated, _mutated)
_name = st.sampled_from(["order", "commande", "EJ", "doc", "flux"]).flatmap(
    lambda stem: st.tuples(st.just(stem), st.sampled_from([".xml", ".XML", ".zip", ".pdf", ".csv", "", ".dat"]))
)
_batch = st.lists(st.tuples(_name, _content), min_size=1, max_size=4)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@settings(
    max_examples=examples(30),  # 6 in the fast loop
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(batch=_batch)
def test_run_never_loses_a_file(batch, run_cli, tmp_path_factory) -> None:
    ws = tmp_path_factory.mktemp("fuzz")
    assert run_cli("--workspace", ws, "init").exit_code == 0
    dropped: dict[str, bytes] = {}
    for k, ((stem, ext), data) in enumerate(batch):
        name = f"{stem}-{k}{ext}"
        (ws / "inbox" / name).write_bytes(data)
        dropped[name] = data

    result = run_cli("--workspace", ws, "run")
    output = result.output + result.stderr
    assert result.exit_code in (0, 1), output
    assert "Traceback" not in output
    log = ws / "var" / "log" / "chorus-batch.log"
    assert not log.exists() or "Traceback" not in log.read_text(encoding="utf-8", errors="replace")

    # nothing left behind, nothing lost: every input is in the archive or rejected, as received
    assert _files(ws / "inbox") == [] and _files(ws / "var" / "processing") == []
    kept = [
        p
        for p in _files(ws / "var" / "archive") + _files(ws / "var" / "rejected")
        if not p.name.endswith(".errors.json")
    ]
    digest = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    assert Counter(digest(p.read_bytes()) for p in kept) == Counter(digest(d) for d in dropped.values())
    assert sorted(p.name for p in kept) == sorted(dropped)
    for p in _files(ws / "var" / "rejected"):
        if not p.name.endswith(".errors.json"):
            assert p.with_name(p.name + ".errors.json").exists(), p

    # exactly one ack per file, none INTERNAL_ERROR
    acks = sorted(p.name for p in (ws / "outbox" / "acks").iterdir() if not p.name.startswith("."))
    assert acks == sorted(f"{name}.json" for name in dropped)
    for name in acks:
        ack = json.loads((ws / "outbox" / "acks" / name).read_text(encoding="utf-8"))
        codes = {e["code"] for e in ack["errors"]} | {e["code"] for d in ack["documents"] for e in d["errors"]}
        assert "INTERNAL_ERROR" not in codes, (name, ack)
        assert ack["status"] in ("IN_INTEGRE", "IN_INTEGRE_PARTIEL", "IN_REJETE", "DUPLICATE"), ack["status"]
        event(f"{ack['status']} {','.join(sorted(codes))}"[:60])
