"""What a workspace is, through the CLI: every command that works on one refuses a folder that is
not one (exit 2, WORKSPACE_NOT_FOUND, "run `chorus-batch init PATH` first") and creates nothing
there; ``init`` makes one, refuses ``/``, the home folder and a non-empty folder unless
``--force``; ``demo`` makes its own; ``validate`` needs none; ``--workspace`` is taken after the
command too."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order

RunCli = Callable[..., Result]
ORDER = ubl_order(
    "EJ1",
    ISSUERS[0],
    SUPPLIERS[0],
    [Line("1", "Ramettes", Decimal("2"), "C62", Decimal("10"), Decimal("20"))],
    date(2026, 1, 5),
)

# every command that works on a workspace (``validate`` and ``demo`` apart)
COMMANDS: list[tuple[str, ...]] = [
    ("run",),
    ("watch",),
    ("files", "list"),
    ("files", "show", "x.xml"),
    ("files", "retry", "x.xml"),
    ("orders", "search"),
    ("orders", "show", "EJ1"),
    ("orders", "export", "EJ1", "-o", "OUT"),
    ("orders", "accept", "EJ1", "--yes"),
    ("orders", "refuse", "EJ1", "--reason", "non", "--yes"),
    ("report", "all"),
    ("store", "check"),
    ("store", "backup", "OUT/b.sqlite"),
]


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def refused(result: Result, code: str = "WORKSPACE_NOT_FOUND") -> str:
    assert result.exit_code == 2, result.output + result.stderr
    assert f"[{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.output + result.stderr and "internal error" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_typo_is_refused_and_nothing_is_created(tmp_path: Path, run_cli: RunCli, command: tuple[str, ...]) -> None:
    typo = tmp_path / "srv" / "ed"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    message = refused(run_cli("--workspace", typo, *args))
    assert "not a chorus-batch workspace" in message and f"run `chorus-batch init {typo}` first" in message
    assert tree(tmp_path) == []  # no folder, no store, no log


@pytest.mark.parametrize(
    "command", [("run",), ("files", "list"), ("orders", "search"), ("store", "check")], ids=" ".join
)
def test_a_folder_inside_a_workspace_is_not_one(workspace: Path, run_cli: RunCli, command: tuple[str, ...]) -> None:
    """The incident of the issue: ``--workspace`` pointing into the inbox made a store there."""
    (workspace / "inbox" / "order.xml").write_bytes(ORDER)
    before = tree(workspace)
    refused(run_cli("--workspace", workspace / "inbox", *command))
    assert tree(workspace) == before


def test_the_current_folder_is_not_taken_for_a_workspace(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHORUS_BATCH_WORKSPACE", raising=False)
    assert "not a chorus-batch workspace" in refused(run_cli("run"))
    assert tree(tmp_path) == ["notes.txt"]


def test_the_root_folder_is_refused(run_cli: RunCli) -> None:
    message = refused(run_cli("--workspace", "/", "run"))
    assert "run `chorus-batch init PATH` first" in message  # never suggests `init /`
    assert not Path("/inbox").exists() and not Path("/var/store.sqlite").exists()
    for args in (("init", "/"), ("--workspace", "/", "init"), ("init", "/", "--force"), ("init", "/", "--new-store")):
        assert "is the root folder" in refused(run_cli(*args), "WORKSPACE_REFUSED")
    assert not Path("/inbox").exists() and not Path("/outbox").exists()
    assert not Path("/var/workspace.id").exists() and not Path("/var/store.sqlite").exists()


def test_the_home_folder_is_refused(tmp_path: Path, run_cli: RunCli) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    for args in (("init", home), ("init", home, "--force"), ("--workspace", home, "demo")):
        assert "is your home folder" in refused(run_cli(*args, env=env), "WORKSPACE_REFUSED")
    assert tree(home) == []


def test_a_non_empty_folder_is_refused_unless_forced(tmp_path: Path, run_cli: RunCli) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "budget.ods").write_bytes(b"x")
    message = refused(run_cli("init", folder), "WORKSPACE_REFUSED")
    assert "not empty (budget.ods)" in message and "--force" in message
    assert tree(folder) == ["budget.ods"]
    result = run_cli("init", folder, "--force")
    assert result.exit_code == 0, result.output + result.stderr
    assert (folder / "var" / "workspace.id").is_file() and (folder / "budget.ods").exists()
    assert run_cli("--workspace", folder, "run").exit_code == 0


def test_init_makes_a_workspace_and_is_idempotent(tmp_path: Path, run_cli: RunCli) -> None:
    ws = tmp_path / "new" / "edi"
    result = run_cli("init", ws)
    assert result.exit_code == 0, result.output + result.stderr
    assert f"workspace ready: {ws}" in result.stdout
    assert (ws / "var" / "workspace.id").is_file() and (ws / "var" / "store.sqlite").is_file()
    wid = (ws / "var" / "workspace.id").read_text(encoding="utf-8")
    # again: a workspace (no longer empty) is never refused, nothing is made again
    for args in (("init", ws), ("--workspace", ws, "init")):
        again = run_cli(*args)
        assert again.exit_code == 0, again.output + again.stderr
        assert "created" not in again.stdout
    assert (ws / "var" / "workspace.id").read_text(encoding="utf-8") == wid
    # a folder holding only what a workspace is made of (a configuration written first) is not refused
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "chorus-batch.toml").write_text("helpers = 0\n", encoding="utf-8")
    assert run_cli("init", prepared).exit_code == 0
    assert (prepared / "chorus-batch.toml").read_text(encoding="utf-8") == "helpers = 0\n"


def test_workspace_after_the_command(workspace: Path, run_cli: RunCli, tmp_path: Path) -> None:
    (workspace / "inbox" / "order.xml").write_bytes(ORDER)
    result = run_cli("run", "--workspace", workspace)
    assert result.exit_code == 0, result.output + result.stderr
    assert (workspace / "outbox" / "acks" / "order.xml.json").is_file()
    found = run_cli("orders", "search", "--format", "json", "--workspace", workspace)
    assert [o["number"] for o in json.loads(found.stdout)] == ["EJ1"]
    shown = run_cli("orders", "--workspace", workspace, "show", "EJ1", "--format", "json")
    assert json.loads(shown.stdout)["number"] == "EJ1"
    listed = run_cli("files", "list", "--workspace", workspace, "--format", "json")
    assert [f["file"] for f in json.loads(listed.stdout)] == ["order.xml"]
    # after the command, it wins over the one before; a typo there is refused the same way
    assert run_cli("--workspace", tmp_path / "elsewhere", "store", "check", "--workspace", workspace).exit_code == 0
    refused(run_cli("--workspace", workspace, "files", "list", "--workspace", tmp_path / "typo"))
    assert not (tmp_path / "typo").exists() and not (tmp_path / "elsewhere").exists()
    assert "--workspace" in run_cli("run", "--help").stdout


def test_validate_needs_no_workspace(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "order.xml"
    path.write_bytes(ORDER)
    result = run_cli("--workspace", tmp_path / "none", "validate", path)
    assert result.exit_code == 0, result.output + result.stderr
    assert tree(tmp_path) == ["order.xml"]


def test_demo_makes_its_own_workspace(tmp_path: Path, run_cli: RunCli) -> None:
    ws = tmp_path / "demo"
    result = run_cli("--workspace", ws, "demo")
    assert result.exit_code == 0, result.output + result.stderr
    assert (ws / "var" / "workspace.id").is_file()
    assert run_cli("--workspace", ws, "orders", "search").exit_code == 0
