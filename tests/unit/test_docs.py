"""The operator docs in ``docs/`` stay true to the code.

* the generated files (``errors.md``, ``state-machine.md``) equal the generator's output;
* every error code the source emits is in the ``errors.CODES`` catalogue (which generates
  ``errors.md``), and the warning codes the catalogue announces are the ones the source emits
  as warnings;
* every command, sub-command and option of the CLI has help text and is in ``docs/cli.md``;
* every key ``config.py`` accepts is in ``docs/configuration.md``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import docgen
import pytest

from _shared import REPO
from chorus_batch import config
from chorus_batch.cli import cli
from chorus_batch.errors import CODES

DOCS = REPO / "docs"
PACKAGE = REPO / "chorus_batch"
REGENERATE = "run python tools/docgen.py"


# -- (a) generated documents ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(docgen.OUTPUTS))
def test_generated_doc_is_up_to_date(name: str) -> None:
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == docgen.OUTPUTS[name](), f"docs/{name} is out of date: {REGENERATE}"


def test_generator_is_deterministic() -> None:
    for generate in docgen.OUTPUTS.values():
        assert generate() == generate()


def test_every_code_is_in_errors_md() -> None:
    text = docgen.errors_markdown()
    for code in CODES:
        assert f"| `{code}` |" in text


# -- (b) codes used in the source are catalogued ------------------------------------------------


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _callee(node: ast.Call) -> str:
    """``Issue`` for ``Issue(...)`` / ``errors.Issue(...)``; ``DocumentRejected.one`` for that call."""
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in ("DocumentRejected", "cls") and func.attr == "one":
            return "DocumentRejected.one"
        return func.attr
    return ""


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _emitted_codes() -> Iterator[tuple[str, str, bool]]:
    """``(code, where, is_warning)`` for every literal code the source passes around.

    Covers: the first argument (or ``code=``) of ``Issue(...)`` and ``DocumentRejected.one(...)``,
    any ``code="..."`` keyword, and class attributes ``code = "..."`` (ChorusError subclasses).
    """
    for path, tree in _sources():
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _callee(node)
                where = f"{rel}:{node.lineno}"
                keywords = {k.arg: k.value for k in node.keywords if k.arg}
                warning = _literal(keywords.get("severity")) == "warning"
                if name in ("Issue", "DocumentRejected.one"):
                    first = _literal(node.args[0]) if node.args else _literal(keywords.get("code"))
                    if first is not None:
                        yield first, where, warning
                elif "code" in keywords and _literal(keywords["code"]) is not None:
                    yield _literal(keywords["code"]), where, warning  # type: ignore[misc]
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    target = stmt.target if isinstance(stmt, ast.AnnAssign) else None
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                        target = stmt.targets[0]
                    if isinstance(target, ast.Name) and target.id == "code" and _literal(stmt.value) is not None:  # type: ignore[union-attr]
                        yield _literal(stmt.value), f"{rel}:{stmt.lineno}", False  # type: ignore[misc, union-attr]


def test_scanner_sees_the_source() -> None:
    found = {code for code, _, _ in _emitted_codes()}
    # a few codes known to be emitted in different ways; if these vanish the scanner is broken
    assert {"UNSAFE_XML", "XSD_INVALID", "SIRET_INVALID", "CONFIG_INVALID", "FILE_NOT_FOUND"} <= found


def test_every_emitted_code_is_catalogued() -> None:
    unknown = sorted({f"{code} ({where})" for code, where, _ in _emitted_codes() if code not in CODES})
    assert not unknown, f"codes used in chorus_batch/ but missing from errors.CODES: {unknown}"


def test_warning_codes_match_the_catalogue() -> None:
    emitted_as_warning = {code for code, _, warning in _emitted_codes() if warning}
    announced = {code for code in CODES if docgen.is_warning(code)}
    assert emitted_as_warning == announced, (
        "codes emitted with severity='warning' must be exactly those whose meaning in errors.CODES "
        f"starts with 'Warning:' (emitted {sorted(emitted_as_warning)}, catalogue {sorted(announced)})"
    )


def test_upper_snake_literals_that_look_like_codes_are_catalogued() -> None:
    """A string literal shaped like an error code (``*_INVALID``, ``*_NOT_FOUND``...) is one."""
    suffixes = (
        "_INVALID",
        "_MISMATCH",
        "_NOT_FOUND",
        "_NOT_SUPPORTED",
        "_MALFORMED",
        "_DENIED",
        "_REQUIRED",
        "_NOT_ALLOWED",
    )
    pattern = re.compile(r"^[A-Z][A-Z_]{3,}$")
    unknown = set()
    for path, tree in _sources():
        for node in ast.walk(tree):
            value = _literal(node)
            if value and pattern.match(value) and value.endswith(suffixes) and value not in CODES:
                unknown.add(f"{value} ({path.relative_to(REPO).as_posix()}:{node.lineno})")  # type: ignore[attr-defined]
    assert not unknown, f"error-code-like literals missing from errors.CODES: {sorted(unknown)}"


# -- (c) the command line ------------------------------------------------------------------------


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(cli))


def test_cli_has_commands() -> None:
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), f"'chorus-batch {' '.join(path)}' has no help text"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_is_in_cli_md(path: tuple[str, ...], command: click.Command) -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    phrase = " ".join(path)
    assert re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text), f"docs/cli.md does not mention '{phrase}'"


def _options(command: click.Command) -> Iterator[str]:
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            yield longest


@pytest.mark.parametrize(
    "path,option",
    [((), o) for o in _options(cli)] + [(p, o) for p, c in COMMANDS for o in _options(c)],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_option_is_in_cli_md(path: tuple[str, ...], option: str) -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert f"`{option}" in text, f"docs/cli.md does not document option {option} of 'chorus-batch {' '.join(path)}'"


# -- (d) the configuration file ------------------------------------------------------------------


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for key in config._TOP:
        assert any(form in text for form in (f"`{key}`", f"`[{key}]`", f"`[[{key}]]`")), (
            f"docs/configuration.md does not document top-level key '{key}'"
        )
    for key in config._ROUTING:
        assert f"`routing.{key}`" in text, f"docs/configuration.md does not document [routing] key `routing.{key}`"
    # keys of nested tables (e.g. [[partners]] and their rights), whatever config.py calls them
    for name, spec in vars(config).items():
        nested = name.startswith("_") and name not in ("_TOP", "_ROUTING") and isinstance(spec, dict) and spec
        if nested and all(type(v).__name__ == "_Key" for v in spec.values()):
            for key in spec:
                assert f"`{key}`" in text, f"docs/configuration.md does not document key '{key}' ({name} in config.py)"


def test_config_env_vars_are_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for param in cli.params:
        envvar = getattr(param, "envvar", None)
        if envvar:
            assert f"`{envvar}`" in text, f"docs/configuration.md does not mention {envvar}"
