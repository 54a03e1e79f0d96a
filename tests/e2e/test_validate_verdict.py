"""``validate`` gives the verdict the intake gives, under the same settings.

Every file of several workspaces — the demo's three waves (orders, answers, changes,
cancellations, invoices, credit notes, Factur-X PDFs, CPPStatut flows, CSVs, the bad examples),
bundles (member by member, hostile ones rejected whole), broken and oversized files, every real
sample of ``../shared`` — is run once; then ``validate`` is asked about the copy the intake kept
(in ``var/archive/`` or ``var/rejected/``), under the workspace's configuration, and must agree
with the file's integration report, document by document. What only the store can tell
(``STORE_CODES``: an engagement that exists or not, its state, duplicates...) is the one
difference: a document the store refused for such a reason is valid to ``validate``.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from _shared import shared_dir
from chorus_batch.demo import generate as g
from chorus_batch.demo import waves

# what only the store can decide, and so only ``run`` reports (docs/cli.md#validate)
STORE_CODES = frozenset(
    {
        "ORDER_ALREADY_EXISTS",
        "DUPLICATE_DOCUMENT",
        "TRANSITION_NOT_ALLOWED",
        "HABILITATION_DENIED",
        "ORDER_AMBIGUOUS",
        "INVOICE_AMBIGUOUS",
        "PARK_EXPIRED",
        "INVOICE_NOT_FOUND",
        "RESPONSE_UNWRITABLE",
    }
)


def _order(i: int) -> bytes:
    rng = random.Random(i)
    return g.ubl_order(
        g.engagement_number(70_000 + i), g.ISSUERS[i % 2], g.SUPPLIERS[i % 3], g.random_lines(rng, 2), date(2026, 3, 2)
    )


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _odd_files() -> dict[str, bytes]:
    broken = _order(9).replace(b"</Order>", b"")
    invalid = _order(10).replace(b"<cbc:IssueDate>", b"<cbc:Unknown>x</cbc:Unknown><cbc:IssueDate>", 1)
    refusal = g.responses_csv([(g.engagement_number(70_001), "refuse", "")])
    return {
        "bundle.zip": _zip({"a.xml": _order(1), "b.xml": _order(2), "broken.xml": broken, "refus.csv": refusal}),
        "bundle.tar.gz": _tar_gz({"c.xml": _order(3), "d.xml": _order(4)}),
        "nested.zip": _zip({"inner.zip": _zip({"e.xml": _order(5)}), "f.xml": _order(6)}),
        "evil.zip": _zip({"../../etc/evil.xml": _order(7)}),
        "empty.xml": b"",
        "binary.dat": bytes(range(256)) * 4,
        "broken.xml": broken,
        "invalid.xml": invalid,
        "big.xml": _order(11).replace(b"</Order>", b"<!--" + b"x" * 300_000 + b"--></Order>"),
        "refusal-without-reason.csv": refusal,
        "again.xml": _order(1),  # the same order, other bytes: the store says ORDER_ALREADY_EXISTS or DUPLICATE
    }


def _samples() -> dict[str, bytes]:
    shared = shared_dir()
    found = {}
    for path in sorted(p for p in (shared / "samples").rglob("*") if p.is_file()):
        if (
            path.suffix.lower() in (".xml", ".pdf")
            and "schematron" not in path.parts
            and "xsd" not in path.name.lower()
        ):
            found[f"s{len(found):03d}-{path.name}"] = path.read_bytes()
    return found


def _kept(root: Path) -> dict[str, Path]:
    """The copy the intake kept of each file it processed, by SHA-256."""
    kept = {}
    for folder in (root / "var" / "archive", root / "var" / "rejected"):
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.endswith(".errors.json"):
                kept[hashlib.sha256(path.read_bytes()).hexdigest()] = path
    return kept


def _codes(issues: list[dict[str, Any]]) -> set[str]:
    return {i["code"] for i in issues}


def _compare(ack: dict[str, Any], verdict: dict[str, Any]) -> None:
    where = (ack["file"], ack["status"], verdict)
    if ack["status"] == "DUPLICATE":  # the same bytes were integrated first: valid to read
        assert verdict["valid"], where
        return
    if not ack["documents"]:  # rejected before any document was read
        assert ack["status"] == "IN_REJETE" and not verdict["valid"], where
        assert _codes(ack["errors"]) == _codes(verdict["errors"]), where
        return
    assert len(ack["documents"]) == len(verdict["documents"]), where
    for mine, theirs in zip(ack["documents"], verdict["documents"], strict=True):
        assert (mine["kind"], mine.get("member")) == (theirs["kind"], theirs.get("member")), where
        refused = mine["outcome"] == "REJETE" and not _codes(mine["errors"]) <= STORE_CODES
        assert theirs["valid"] is not refused, (mine, theirs)
        if refused:
            assert _codes(mine["errors"]) == _codes(theirs["errors"]), (mine, theirs)
    store_only = all(d["outcome"] != "REJETE" or _codes(d["errors"]) <= STORE_CODES for d in ack["documents"])
    assert verdict["valid"] is store_only, where


def _run_and_validate(run_cli: Any, root: Path, waves_: list[dict[str, bytes]], config: str) -> int:
    assert run_cli("--workspace", root, "init").exit_code == 0
    (root / "chorus-batch.toml").write_text("helpers = 0\n" + config, encoding="utf-8")  # no peer process
    for files in waves_:
        for name, data in files.items():
            (root / "inbox" / name).write_bytes(data)
        result = run_cli("--workspace", root, "-q", "run")
        assert result.exit_code in (0, 1), result.output + result.stderr
    acks = [json.loads(p.read_text(encoding="utf-8")) for p in (root / "outbox" / "acks").glob("*.json")]
    kept = _kept(root)
    paths = [kept[ack["sha256"]] for ack in acks]
    result = run_cli("--workspace", root, "validate", "--format", "json", *paths)
    assert result.exit_code in (0, 1), result.output + result.stderr
    verdicts = json.loads(result.stdout)
    for ack, verdict in zip(acks, verdicts, strict=True):
        _compare(ack, verdict)
    return len(acks)


def test_validate_agrees_with_the_intake_on_the_demo_and_odd_files(run_cli: Any, tmp_path: Path) -> None:
    demo = [dict(files) for _wave, files in waves()]
    checked = _run_and_validate(run_cli, tmp_path / "ws", [*demo, _odd_files()], "max_file_size = 200000\n")
    assert checked >= 35


@pytest.mark.slow  # every shared sample through the official rules twice: the full suite's, not the fast loop's
@pytest.mark.parametrize("strict", [False, True])
def test_validate_agrees_with_the_intake_on_every_shared_sample(run_cli: Any, tmp_path: Path, strict: bool) -> None:
    samples = _samples()
    assert sum(1 for name in samples if name.lower().endswith(".pdf")) >= 3
    orders = dict(waves()[0][1])
    checked = _run_and_validate(run_cli, tmp_path / "ws", [orders, samples], f"strict_rules = {str(strict).lower()}\n")
    assert checked >= len(samples)


def test_validate_takes_the_size_limit_and_strictness_of_the_configuration(run_cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "order.xml"
    path.write_bytes(_order(1))
    config = tmp_path / "small.toml"
    config.write_text("max_file_size = 100\n", encoding="utf-8")
    result = run_cli("--config", config, "validate", "--format", "json", path)
    assert result.exit_code == 1
    [verdict] = json.loads(result.stdout)
    assert _codes(verdict["errors"]) == {"FILE_TOO_LARGE"} and verdict["status"] == "IN_REJETE"
    assert run_cli("validate", path).exit_code == 0
