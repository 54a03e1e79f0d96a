"""``read_all`` prepares a group of files step by step (all parsed, then all validated, then all
mapped and checked): each file gets what reading it alone gives, whatever its neighbours are or
do, and a group never holds more than ``GROUP_FILES`` files, nor more than ``GROUP_BYTES`` of
them once its last file is in."""

from __future__ import annotations

import hashlib
import importlib
import io
import random
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chorus_batch import formats
from chorus_batch.config import Settings
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, demo_files, random_lines, ubl_order

reading = importlib.import_module("chorus_batch.intake.read")  # the package's ``read`` is the function

TODAY = date(2026, 12, 7)
BUG = "EJ-BUG-1"  # mapping this order meets a bug (``_buggy``)


def _zip(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def _order(number: str) -> bytes:
    """An order of three lines, the same for every number."""
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], random_lines(random.Random(3), 3), date(2026, 1, 5))


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Documents good and bad, a bundle, an order whose mapping meets a bug, bytes that are no
    document, an empty file and an entry that is no regular file."""
    folder = tmp_path_factory.mktemp("pool")
    files = [
        *demo_files(),
        ("bug.xml", _order(BUG)),
        ("bundle.zip", _zip(("a.xml", _order("EJ-ZIP-1")), ("b.xml", b"<broken"))),
        ("noise.bin", bytes(range(256)) * 8),
        ("empty.xml", b""),
    ]
    for name, data in files:
        (folder / name).write_bytes(data)
    (folder / "link.xml").symlink_to(folder / "bug.xml")
    return sorted(folder.iterdir())


def _buggy(real: Any) -> Any:
    def documents(rec: formats.Recognised) -> Any:
        if rec.number == BUG:
            raise RuntimeError("a bug met while mapping")
        return real(rec)

    return documents


def _outcome(ready: reading.Ready) -> tuple[Any, ...]:
    prepared = [(p.doc, p.kind, p.errors, p.warnings, p.member, p.syntax, p.reference) for p in ready.prepared or []]
    failed = ready.failure is not None and "a bug met while mapping" in ready.failure
    return (ready.size, ready.sha, ready.data, ready.bundle, ready.rejected, prepared, failed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, 15), max_size=30), group=st.integers(1, 5))
def test_a_file_read_in_a_group_gets_what_it_gets_alone(pool: list[Path], picks: list[int], group: int) -> None:
    paths = [pool[i % len(pool)] for i in picks]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formats, "documents", _buggy(formats.documents))
        patch.setattr(reading, "GROUP_FILES", group)
        together = reading.read_all(paths, Settings(), TODAY)
        alone = [reading.read(path, Settings(), TODAY) for path in paths]
    assert [_outcome(r) for r in together] == [_outcome(r) for r in alone]
    assert any(r.failure for r in together) == any(p.name == "bug.xml" for p in paths)


def _steps_seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """The parse and XSD steps as they happen, with each document's number."""
    seen: list[tuple[str, str | None]] = []
    recognise, schema_issues = formats.recognise, formats.schema_issues

    def parsed(data: bytes) -> formats.Recognised:
        rec = recognise(data)
        seen.append(("parse", rec.number))
        return rec

    def validated(rec: formats.Recognised) -> Any:
        seen.append(("xsd", rec.number))
        return schema_issues(rec)

    monkeypatch.setattr(formats, "recognise", parsed)
    monkeypatch.setattr(formats, "schema_issues", validated)
    return seen


def _groups(seen: list[tuple[str, str | None]]) -> Iterator[list[str | None]]:
    """The documents parsed together: each run of parses, checked to be validated after it."""
    run: list[str | None] = []
    for step, number in [*seen, ("end", None)]:
        if step == "parse":
            run.append(number)
        elif run:
            validated = [n for s, n in seen if s == "xsd" and n in run]
            assert validated == run  # all parsed, then all validated, in their order
            yield run
            run = []


def test_a_group_holds_at_most_its_files_and_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"EJ-GRP-{i:02d}" for i in range(11)]  # files of the same size
    paths = []
    for number in numbers:
        paths.append(tmp_path / f"{number}.xml")
        paths[-1].write_bytes(_order(number))
    seen = _steps_seen(monkeypatch)
    monkeypatch.setattr(reading, "GROUP_FILES", 4)
    reading.read_all(paths, Settings(), TODAY)
    assert list(_groups(seen)) == [numbers[0:4], numbers[4:8], numbers[8:11]]

    seen.clear()  # two files' bytes reach the cap: groups of two
    monkeypatch.setattr(reading, "GROUP_BYTES", 2 * paths[0].stat().st_size)
    reading.read_all(paths, Settings(), TODAY)
    assert [len(g) for g in _groups(seen)] == [2, 2, 2, 2, 2, 1]


@pytest.mark.parametrize("told", [0, 100, 1 << 20])
def test_a_file_is_read_to_its_end_whatever_size_it_had_when_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, told: int
) -> None:
    """One read of the size ``fstat`` gave (plus a byte) takes a file whole; a file that has grown
    since is read on to its end, and its hash is that of all its bytes."""
    data = _order("EJ-GROWN-1") * 40  # over 100 bytes, under 1 MiB
    path = tmp_path / "grown.xml"
    path.write_bytes(data)
    real = reading.os.fstat

    def older(fd: int) -> Any:  # the size the file had when it was opened
        info = real(fd)
        return type(info)((*info[:6], told, *info[7:]))

    monkeypatch.setattr(reading.os, "fstat", older)
    ready = reading._bytes_of(path, 10 << 20)
    assert ready.data == data and ready.sha == hashlib.sha256(data).hexdigest()
