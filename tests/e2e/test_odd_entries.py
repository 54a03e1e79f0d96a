"""Entries of the inbox that used to stop a workspace (issue "Never stuck"), through the real
command line: names of 239 to 255 bytes, names that are not UTF-8, response names made from a
very long issuer id, entries that are not regular files, unreadable files, folders inside a
partner folder. Each one ends as its own result; the files around it are processed; the next
run has nothing left to recover.

Non-UTF-8 names and long names run on SQLite and PostgreSQL. The unreadable file needs a process
that cannot bypass file permissions: as root (CI) the command runs under ``setpriv`` without the
capabilities that would let it read any file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from _postgres import pg_url  # noqa: F401 -- fixture
from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, responses_csv, ubl_order
from chorus_batch.domain import names
from chorus_batch.domain.names import BASE_MAX, NAME_MAX
from chorus_batch.workspace import Workspace

RunCli = Callable[..., Result]
LINES = [Line("1", "Ramettes A4", Decimal("10"), "C62", Decimal("4.50"), Decimal("20"))]


def order(number: str) -> bytes:
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], LINES, date(2026, 1, 5))


def acks(ws: Path) -> dict[str, dict[str, Any]]:
    """The integration reports by the file name they give."""
    found = {}
    for path in (ws / "outbox" / "acks").iterdir():
        report = json.loads(path.read_text(encoding="utf-8"))
        assert names.size(path.name) + len(".tmp") + 1 <= NAME_MAX
        found[report["file"]] = report | {"_ack": path.name}
    return found


def leftovers(ws: Path) -> list[str]:
    """Entries still claimed in var/processing/ (an interrupted file)."""
    return [str(p) for p in (ws / "var" / "processing").rglob("*") if not p.is_dir()]


def codes(report: dict[str, Any]) -> set[str]:
    return {e["code"] for e in report["errors"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, wcli: RunCli) -> RunCli:
    """``wcli`` on the workspace's SQLite store, and on a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return wcli
    url = request.getfixturevalue("pg_url")
    # the workspace was set up on SQLite (and has an id): it moves to the new database on purpose
    moved = wcli("--db", url, "init", "--new-store")
    assert moved.exit_code == 0, moved.output + moved.stderr

    def invoke(*args: object, **kwargs: Any) -> Result:
        return wcli("--db", url, *args, **kwargs)

    return invoke


def test_names_of_239_to_255_bytes_are_processed_and_shortened(workspace: Path, cli: RunCli) -> None:
    """Integrated and rejected files of every length up to the limit: the names made from them
    fit (acknowledgement, its temporary name, archive, rejected copy and its errors file), the
    report and the store keep the full name, and the next run finds nothing to recover."""
    inbox = workspace / "inbox"
    good = {}
    for length in (239, 246, 250, 255):
        name = f"EJ-{length}-".ljust(length - 4, "x") + ".xml"
        assert len(name.encode()) == length
        good[name] = order(f"EJ2026-{length}")
        (inbox / name).write_bytes(good[name])
        bad = f"bad-{length}-".ljust(length - 4, "y") + ".xml"
        (inbox / bad).write_bytes(b"<not-a-document/>")
    # the same long name twice (a partner folder): the second copy gets ``.1`` and still fits
    (inbox / "acme").mkdir()
    twin = next(iter(good))
    (inbox / "acme" / twin).write_bytes(order("EJ2026-TWIN"))
    result = cli("run")
    assert result.exit_code == 1, result.output + result.stderr
    assert "Traceback" not in result.stderr
    reports = acks(workspace)
    assert len(reports) == 8 and leftovers(workspace) == []
    for name in good:
        assert reports[name]["status"] == "IN_INTEGRE", reports[name]
    assert {r["status"] for n, r in reports.items() if n.startswith("bad-")} == {"IN_REJETE"}
    for path in (workspace / "var").rglob("*"):
        assert names.size(path.name) + len(".tmp") + 1 <= NAME_MAX, path.name
    rejected = [p.name for p in (workspace / "var" / "rejected").iterdir()]
    assert len(rejected) == 8 and all(names.size(n) <= BASE_MAX + len(".errors.json") for n in rejected)
    # the store has the full names: files show finds them, search finds the orders
    shown = json.loads(cli("files", "show", twin, "--format", "json").stdout)
    assert len(shown) == 2 and {r["status"] for r in shown} == {"IN_INTEGRE"}
    assert len(json.loads(cli("orders", "search", "--format", "json").stdout)) == 5
    again = cli("run")
    assert again.exit_code == 0 and "nothing to process" in again.stdout


def test_a_name_that_is_not_utf8_is_carried_end_to_end(workspace: Path, cli: RunCli) -> None:
    """A Windows client writes ``é`` as one byte: the real bytes name the archived file; the
    report, the store and the terminal get the text form ``\\xE9``; ``files retry`` finds the
    real file again from that text."""
    inbox = os.fsencode(workspace / "inbox")
    good, bad = b"commande-caf\xe9.xml", b"rejet\xe9-\\-\xff.xml"
    (Path(os.fsdecode(inbox + b"/" + good))).write_bytes(order("EJ2026-CAFE"))
    (Path(os.fsdecode(inbox + b"/" + bad))).write_bytes(b"<nothing-known/>")
    result = cli("-v", "run")
    assert result.exit_code == 1, result.output + result.stderr
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    reports = acks(workspace)
    assert reports["commande-caf\\xE9.xml"]["status"] == "IN_INTEGRE"
    assert reports["rejet\\xE9-\\\\-\\xFF.xml"]["status"] == "IN_REJETE"
    assert reports["commande-caf\\xE9.xml"]["_ack"] == "commande-caf\\xE9.xml.json"
    assert "rejet\\xE9-\\\\-\\xFF.xml" in result.stdout  # the run's summary names it in text form
    archived = [os.fsencode(p.name) for p in (workspace / "var" / "archive").rglob("*.xml")]
    assert archived == [good]
    assert os.listdir(os.fsencode(workspace / "var" / "rejected")) != []
    assert bad in os.listdir(os.fsencode(workspace / "var" / "rejected"))
    listed = json.loads(cli("files", "list", "--format", "json").stdout)
    assert {f["file"] for f in listed} == {"commande-caf\\xE9.xml", "rejet\\xE9-\\\\-\\xFF.xml"}
    # the text form leads back to the real file
    retried = cli("files", "retry", "rejet\\xE9-\\\\-\\xFF.xml")
    assert retried.exit_code == 0, retried.output + retried.stderr
    assert os.listdir(inbox) == [bad]


@pytest.mark.parametrize("text", ["a.xml", "caf\\xE9", "back\\\\slash", "\\xFF\\xFE", "é€😀"])
def test_text_form_is_reversible(text: str) -> None:
    assert names.as_text(names.from_text(text)) == text


def test_fitting_keeps_the_extension_and_tells_names_apart() -> None:
    long_a, long_b = "a" * 300 + "1.xml", "a" * 300 + "2.xml"
    assert names.fitting("short.xml") == "short.xml"
    assert names.fitting(long_a).endswith(".xml") and names.size(names.fitting(long_a)) <= BASE_MAX
    assert names.fitting(long_a) != names.fitting(long_b)
    assert names.fitting(names.fitting(long_a)) == names.fitting(long_a)
    assert names.size(names.fitting("é" * 200 + "\udce9" * 10)) <= BASE_MAX


def test_a_response_named_after_a_very_long_issuer_id_is_written(workspace: Path, wcli: RunCli) -> None:
    """The order response's name is made of the engagement number and the issuer id: with an
    issuer id of 240 characters it is shortened, and written at once."""
    long_id = "G" * 240
    data = order("EJ2026-LONGID").replace(
        b'<cbc:EndpointID schemeID="0009">21370214500011</cbc:EndpointID>',
        f'<cbc:EndpointID schemeID="0088">{long_id}</cbc:EndpointID>'.encode(),
    )
    data = data.replace(
        b'<cbc:ID schemeID="0009">21370214500011</cbc:ID>', f'<cbc:ID schemeID="0088">{long_id}</cbc:ID>'.encode()
    )
    (workspace / "inbox" / "order.xml").write_bytes(data)
    first = wcli("run")
    assert first.exit_code == 0, first.output + first.stderr
    (workspace / "inbox" / "answers.csv").write_bytes(responses_csv([("EJ2026-LONGID", "accept", "")]))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    written = list((workspace / "outbox" / "responses").iterdir())
    assert len(written) == 1 and names.size(written[0].name) <= BASE_MAX
    assert wcli("run").exit_code == 0  # nothing left to write


def test_names_that_did_not_fit_before_are_finished_by_recovery(
    workspace: Path, wcli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace left wedged by a version that did not shorten names (the file committed,
    its report's name too long, the file left in var/processing/): the next run finishes it
    under names that fit, and goes on with the inbox."""
    import chorus_batch.workspace as workspace_module

    name = "W" * 250 + ".xml"
    (workspace / "inbox" / name).write_bytes(order("EJ2026-WEDGED"))
    with monkeypatch.context() as patch:
        patch.setattr(workspace_module, "fitting", lambda name, limit=0: name)  # the old naming
        wedged = wcli("run")
    assert wedged.exit_code == 2 and "File name too long" in wedged.stderr
    assert len(leftovers(workspace)) == 1
    (workspace / "inbox" / "next.xml").write_bytes(order("EJ2026-NEXT"))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert leftovers(workspace) == []
    reports = acks(workspace)
    assert reports[name]["status"] == "IN_INTEGRE" and reports["next.xml"]["status"] == "IN_INTEGRE"
    shown = json.loads(wcli("files", "show", name, "--format", "json").stdout)
    assert (workspace / shown[0]["stored_as"]).is_file() and (workspace / shown[0]["ack"]).is_file()


def test_entries_that_are_not_regular_files_are_rejected_unopened(workspace: Path, wcli: RunCli) -> None:
    """A named pipe (opening it would wait for a writer), a socket, a link to a device and a
    dangling link are rejected with NOT_A_REGULAR_FILE and moved to var/rejected/ as they are;
    a folder inside a partner folder stays where it is, with a warning; good files go on."""
    inbox = workspace / "inbox"
    os.mkfifo(inbox / "pipe.xml")
    (inbox / "zero.xml").symlink_to("/dev/zero")
    (inbox / "dangling.xml").symlink_to(workspace / "nowhere.xml")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(inbox / "socket.xml"))
    (inbox / "acme" / "folder.xml").mkdir(parents=True)
    (inbox / "acme" / "good.xml").write_bytes(order("EJ2026-GOOD"))
    (inbox / "empty.xml").write_bytes(b"")
    try:
        result = wcli("run")
    finally:
        server.close()
    assert result.exit_code == 1, result.output + result.stderr
    reports = acks(workspace)
    for name in ("pipe.xml", "zero.xml", "dangling.xml", "socket.xml"):
        assert reports[name]["status"] == "IN_REJETE" and codes(reports[name]) == {"NOT_A_REGULAR_FILE"}
        assert os.path.lexists(workspace / "var" / "rejected" / name)
    assert (workspace / "var" / "rejected" / "zero.xml").is_symlink()
    assert reports["good.xml"]["status"] == "IN_INTEGRE"
    assert codes(reports["empty.xml"]) == {"FILE_EMPTY"}
    assert "acme/folder.xml: a folder inside a partner folder" in result.stderr
    assert sorted(p.name for p in inbox.rglob("*")) == ["acme", "folder.xml"]
    assert wcli("run").stdout.strip() == "nothing to process"


@pytest.mark.slow
def test_an_unreadable_file_is_rejected_and_the_others_go_on(workspace: Path) -> None:
    """Another user's mode-600 file, as a service user meets it: FILE_UNREADABLE, moved to
    var/rejected/; the good files of the batch are processed; nothing stays claimed."""
    inbox = workspace / "inbox"
    secret = inbox / "b-secret.xml"
    secret.write_bytes(order("EJ2026-SECRET"))
    secret.chmod(0)
    for n in range(3):
        (inbox / f"c-good-{n}.xml").write_bytes(order(f"EJ2026-GOOD{n}"))
    command = [sys.executable, "-m", "chorus_batch", "--workspace", str(workspace), "run"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a file cannot be made unreadable")
        command = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    reports = acks(workspace)
    assert codes(reports["b-secret.xml"]) == {"FILE_UNREADABLE"}
    assert "Permission denied" in reports["b-secret.xml"]["errors"][0]["message"]
    assert [reports[f"c-good-{n}.xml"]["status"] for n in range(3)] == ["IN_INTEGRE"] * 3
    assert (workspace / "var" / "rejected" / "b-secret.xml").exists()
    assert leftovers(workspace) == [] and list(inbox.iterdir()) == []


def test_a_long_name_put_back_after_an_interruption_keeps_its_name(workspace: Path, wcli: RunCli) -> None:
    """A claim keeps the file's own name: put back in the inbox by recovery (its run killed
    before the commit), the file is processed under the name it was sent with."""
    from chorus_batch.workspace import Workspace

    name = "commande-".ljust(250, "x") + ".xml"
    (workspace / "inbox" / name).write_bytes(order("EJ2026-BACK"))
    ws = Workspace(workspace)
    claimed = ws.claim(next(ws.pending()))  # as a run killed right after its claim leaves it
    assert claimed is not None and claimed.path.name == name
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert acks(workspace)[name]["status"] == "IN_INTEGRE"


def test_a_var_folder_that_cannot_take_the_sorted_inbox_stops_the_run_and_loses_nothing(
    workspace: Path, wcli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run sorts its inbox in a scratch file of ``var/`` (``lots.Inbox``): a disk full there
    is a failure of the workspace, not of a file: exit 2 with the folder named, every file still
    in the inbox for the next run. (As root, a read-only ``var/`` could not be shown: the disk
    full is made by refusing the scratch file.)"""
    for i in range(3):
        (workspace / "inbox" / f"o{i}.xml").write_bytes(order(f"EJ-TMP-{i}"))

    def full(_ws: Workspace, _kind: str) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Workspace, "scratch", full)
    result = wcli("run")
    assert result.exit_code == 2, result.output + result.stderr
    assert f"cannot sort its inbox in {workspace / 'var'}: No space left on device" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert sorted(p.name for p in (workspace / "inbox").iterdir()) == ["o0.xml", "o1.xml", "o2.xml"]
    monkeypatch.undo()
    assert wcli("run").exit_code == 0
    assert len(acks(workspace)) == 3


def test_an_entry_listed_as_a_regular_file_is_judged_again_once_open(tmp_path: Path) -> None:
    """The sort opens each entry its listing types as a regular file without asking ``lstat``
    first (``listed_regular``); should it have been replaced by a named pipe or a symbolic link
    since, the open neither blocks nor follows it: the pipe is refused by ``fstat``, the link
    by ``O_NOFOLLOW``."""
    from chorus_batch.workspace import NotRegular, open_regular

    (tmp_path / "real.xml").write_bytes(b"<x/>")
    os.mkfifo(tmp_path / "pipe.xml")
    (tmp_path / "link.xml").symlink_to(tmp_path / "real.xml")
    os.close(open_regular(tmp_path / "real.xml", listed_regular=True)[0])
    with pytest.raises(NotRegular, match="named pipe"):
        open_regular(tmp_path / "pipe.xml", listed_regular=True)
    with pytest.raises(OSError) as link:
        open_regular(tmp_path / "link.xml", listed_regular=True)
    assert link.value.errno == errno.ELOOP
    with pytest.raises(NotRegular, match="symbolic link"):
        open_regular(tmp_path / "link.xml")


def test_a_dangling_link_where_a_report_or_an_archived_file_would_go_is_never_replaced(
    workspace: Path, wcli: RunCli
) -> None:
    """A symbolic link whose target is gone still takes its name (``workspace._lexists``): the
    report and the archived file of a file of that name go beside it, under the next free name."""
    ws = Workspace(workspace)
    day = datetime.now(UTC).date()
    archive = ws.archive / f"{day.year:04d}" / f"{day.month:02d}" / f"{day.day:02d}"
    archive.mkdir(parents=True)
    (archive / "a.xml").symlink_to(workspace / "gone")
    (ws.acks / "a.xml.json").symlink_to(workspace / "gone")
    (workspace / "inbox" / "a.xml").write_bytes(order("EJ-LINK-1"))
    result = wcli("run")
    assert result.exit_code == 0, result.output + result.stderr
    assert (archive / "a.xml").is_symlink() and (ws.acks / "a.xml.json").is_symlink()
    assert (archive / "a.xml.1").read_bytes() == order("EJ-LINK-1")
    assert json.loads((ws.acks / "a.xml.1.json").read_text(encoding="utf-8"))["status"] == "IN_INTEGRE"
