"""The console examples of ``docs/`` are what the commands print today (``tools/examples.py``).

The slow test runs every example block marked ``<!-- example: SCENARIO -->`` (the demo
included) and fails with the diff when one is out of date; the fast ones check the tool's
parsing and normalisation without running anything. After a change of behaviour::

    python tools/examples.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import examples
import pytest

from _shared import REPO


def test_every_marked_block_names_a_known_scenario() -> None:
    count = 0
    for name in examples.DOC_FILES:
        for block in examples.blocks((REPO / "docs" / name).read_text(encoding="utf-8")):
            assert block.scenario in examples.SCENARIOS, f"docs/{name}: {block.label}"
            assert "run" in block.options or any(line.startswith("$ ") for line in block.body.splitlines()), block.label
            count += 1
    assert count >= 30


def test_marker_options_are_read_as_a_shell_would() -> None:
    text = '<!-- example: demo setup="mkdir -p /tmp/x" run="cat a b" keys="x y" -->\n```json\n{}\n```\n'
    (block,) = examples.blocks(text)
    assert (block.scenario, block.fence, block.body) == ("demo", "```json", "{}\n")
    assert block.options == {"setup": "mkdir -p /tmp/x", "run": "cat a b", "keys": "x y"}


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(examples.ExampleError, match="unknown example option"):
        list(examples.blocks("<!-- example: demo colour=red -->\n```\n$ ls\n```\n"))


def test_unmarked_blocks_are_left_alone() -> None:
    assert list(examples.blocks("```\n$ chorus-batch --workspace /srv/edi watch\n```\n")) == []


def test_normaliser_fixes_what_changes_between_runs(tmp_path: Path) -> None:
    norm = examples.Normaliser(tmp_path)
    norm.days.add(dt.date(2027, 3, 4))
    out = norm.output(
        f"{tmp_path}/docs-demo/var/archive/2027/03/04/a.xml 2027-03-04T17:45:12Z 2027-03-04T17-45-12.old\n"
        "id 0b7c3f9e-1111-4222-8333-944445555666 then 0b7c3f9e-1111-4222-8333-944445555777, "
        "0b7c3f9e-1111-4222-8333-944445555666 again; held by PID 91 on box7 since\n"
        "issue date 2026-02-16T00:00:00Z kept; until 2027-04-03T17:45:12Z\n"
    )
    first, second = str(examples.FIRST_UUID), norm.uuids["0b7c3f9e-1111-4222-8333-944445555777"]
    assert out == (
        "/tmp/docs-demo/var/archive/2026/12/06/a.xml 2026-12-06T09:00:00Z 2026-12-06T09-00-00.old\n"
        f"id {first} then {second}, {first} again; held by PID 4242 on edi-prod since\n"
        "issue date 2026-02-16T00:00:00Z kept; until 2027-01-05T09:00:00Z\n"  # 30 days after the run
    )
    assert norm.command("chorus-batch validate /tmp/docs-demo/var/archive/2026/12/06/a.xml") == (
        f"chorus-batch validate {tmp_path}/docs-demo/var/archive/2027/03/04/a.xml"
    )


@pytest.mark.parametrize(
    ("command", "outside"),
    [
        ("chorus-batch init /srv/documents", "/srv/documents"),
        ("chorus-batch --db sqlite:////srv/edi/var/copy.sqlite store check", "/srv/edi/var/copy.sqlite"),
        ("chorus-batch init /tmp/edi", None),
        ("chorus-batch init /", None),
        ("chorus-batch --db postgresql+psycopg://edi@db.example/chorus store check", None),
        ("chorus-batch --db sqlite:////tmp/docs-demo/var/copy.sqlite store check > /dev/null", None),
    ],
)
def test_examples_may_only_write_under_tmp(command: str, outside: str | None) -> None:
    # the examples run for real: a path outside the scenario's folder stops the tool
    block = next(examples.blocks(f"<!-- example: empty -->\n```\n$ {command}\n```\n"))
    if outside is None:
        examples._confined(block, command)
    else:
        with pytest.raises(examples.ExampleError, match=f"names {outside}, outside /tmp"):
            examples._confined(block, command)


def test_selection_keeps_the_keys_and_lines_asked_for() -> None:
    block = examples.Block("demo", {"run": "x", "keys": "b a"}, "```json", "", 0, 0)
    assert examples.Runner._select(block, '{"a": 1, "b": 2, "c": 3}') == '{\n  "b": 2,\n  "a": 1\n}\n'
    block = examples.Block("demo", {"run": "x", "start": "Two", "stop": "Four"}, "```", "", 0, 0)
    assert examples.Runner._select(block, "One\nTwo\nThree\nFour\n") == "Two\nThree\n"


@pytest.mark.slow
def test_docs_examples_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    code = examples.main(["--check"])
    out, err = capsys.readouterr()
    assert code == 0, f"the examples of docs/ are out of date: run python tools/examples.py\n{out}{err}"
