"""Bundles through a real ``run``: each member reported on its own, hostile archives rejected
whole, nothing written outside the workspace, memory bounded (issue "always on" Done when)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tarfile
import zipfile
from datetime import date
from pathlib import Path

import pytest

from _workspace import initialised
from chorus_batch.demo import generate as g

pytestmark = pytest.mark.slow  # real processes


def _order(i: int) -> bytes:
    rng = random.Random(i)
    return g.ubl_order(
        g.engagement_number(80_000 + i), g.ISSUERS[i % 2], g.SUPPLIERS[i % 3], g.random_lines(rng, 2), date(2026, 3, 2)
    )


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _zip_bomb(size: int = 1_500_000_000) -> bytes:
    """One member expanding to ``size`` zero bytes, written without holding it in memory."""
    buf = io.BytesIO()
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.xml", "w", force_zip64=True) as member:
        for _ in range(size // len(chunk)):
            member.write(chunk)
    return buf.getvalue()


def _tar_with_symlink() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = _order(1)
        info = tarfile.TarInfo("ok.xml")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("passwd.xml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    return buf.getvalue()


def _run(ws: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chorus_batch", "--workspace", str(ws), "run"],
        capture_output=True,
        text=True,
        timeout=600,
    )


_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_pid, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _run_measured(ws: Path) -> tuple[int, int]:
    """Run once; return its exit code and its peak RSS in KiB, measured by a small wrapper
    process (a child forked from this big test process would inherit its high-water mark)."""
    cmd = [sys.executable, "-m", "chorus_batch", "--workspace", str(ws), "run"]
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, timeout=600, check=True
    )
    code, peak = out.stdout.split()
    return int(code), int(peak)


def _ack(ws: Path, name: str) -> dict:
    return json.loads((ws / "outbox" / "acks" / f"{name}.json").read_text(encoding="utf-8"))


def test_zip_of_three_orders_and_a_broken_one_is_partly_integrated(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    initialised(ws)
    (ws / "inbox" / "lot.zip").write_bytes(
        _zip({f"o{i}.xml": _order(i) for i in range(3)} | {"broken.xml": b"<Order><oops"})
    )
    result = _run(ws)
    assert result.returncode == 1, result.stderr  # partly integrated: the operator must look
    ack = _ack(ws, "lot.zip")
    assert ack["status"] == "IN_INTEGRE_PARTIEL"
    members = {d["member"]: d for d in ack["documents"]}
    assert sorted(members) == ["broken.xml", "o0.xml", "o1.xml", "o2.xml"]
    assert [members[f"o{i}.xml"]["outcome"] for i in range(3)] == ["INTEGRE"] * 3
    assert (
        members["broken.xml"]["outcome"] == "REJETE" and members["broken.xml"]["errors"][0]["code"] == "XML_MALFORMED"
    )
    assert "Traceback" not in result.stderr
    found = subprocess.run(
        [sys.executable, "-m", "chorus_batch", "--workspace", str(ws), "orders", "search", "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert len(json.loads(found.stdout)) == 3
    assert list((ws / "var" / "archive").rglob("lot.zip"))  # the bundle itself is kept unchanged


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("traversal.zip", lambda: _zip({"../../escaped.xml": _order(7), "ok.xml": _order(8)}), "ARCHIVE_UNSAFE_PATH"),
        ("absolute.zip", lambda: _zip({"/tmp/escaped-abs.xml": _order(9)}), "ARCHIVE_UNSAFE_PATH"),
        ("symlink.tar.gz", _tar_with_symlink, "ARCHIVE_LINK"),
        ("bomb.zip", _zip_bomb, "ARCHIVE_TOO_LARGE"),
    ],
)
def test_hostile_bundle_is_rejected_whole(tmp_path: Path, name: str, make: object, code: str) -> None:
    ws = tmp_path / "ws"
    initialised(ws)
    (ws / "inbox" / name).write_bytes(make())  # type: ignore[operator]
    exit_code, peak_kib = _run_measured(ws)
    assert exit_code == 1
    ack = _ack(ws, name)
    assert ack["status"] == "IN_REJETE" and {e["code"] for e in ack["errors"]} == {code}
    assert (ws / "var" / "rejected" / name).exists() and (ws / "var" / "rejected" / f"{name}.errors.json").exists()
    assert not (tmp_path / "escaped.xml").exists() and not Path("/tmp/escaped-abs.xml").exists()
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and ws not in p.parents]
    assert outside == []
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB"  # a 1.5 GB bomb never expands
