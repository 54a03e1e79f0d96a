"""Each room of chorus_batch imports only the rooms ``ALLOWED`` names (docs/architecture.md);
the domain imports no I/O or framework package and never reads the clock (``clock_reads``: the
time of day comes in as an argument, so the rules are the same in a test and in production);
only the store imports SQLAlchemy; the command line imports nothing but the public API. Every
rule is shown firing on a module written to break it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chorus_batch
from _clock import clock_reads

PACKAGE = Path(chorus_batch.__file__).parent

# module (or package) -> the chorus_batch modules it may import ("__init__": the public API)
ALLOWED = {
    "errors": set(),
    "domain": {"errors"},
    "formats": {"errors", "domain"},
    "store": {"errors", "domain"},
    "config": {"errors", "domain"},
    "workspace": {"errors", "domain", "config"},
    "apply": {"errors", "domain", "formats", "store", "config"},
    "intake": {"errors", "domain", "formats", "store", "config", "workspace", "apply"},
    "shapes": {"errors", "domain", "store"},
    "reports": {"errors", "domain", "store", "config", "workspace"},
    "identity": {"errors", "domain", "store", "config", "workspace"},
    "session": {
        "errors",
        "domain",
        "store",
        "config",
        "workspace",
        "apply",
        "intake",
        "shapes",
        "reports",
        "demo",
        "identity",
    },
    "demo": set(),
    "cli": {"__init__"},
    "__init__": {"errors", "domain", "intake", "reports", "session"},
    "__main__": {"cli"},
}
# packages the pure core must never touch (top-level module names)
FORBIDDEN_IN_DOMAIN = {"lxml", "sqlalchemy", "click", "rich", "pandas", "watchdog", "os", "pathlib"}


def _imports(rel: tuple[str, ...], source: str) -> tuple[set[str], set[str]]:
    """(chorus_batch top-level modules, other top-level modules) imported by the module at
    ``rel`` (its path under the package) whose text is ``source``."""
    ours, others = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")
                (ours.add(top[1] if len(top) > 1 else "__init__") if top[0] == "chorus_batch" else others.add(top[0]))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")
                (ours.add(top[1] if len(top) > 1 else "__init__") if top[0] == "chorus_batch" else others.add(top[0]))
                continue
            base = list(rel[:-1])[: len(rel) - node.level]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                ours.add(target[0])
            else:  # "from . import x" at the package top
                ours.update(alias.name for alias in node.names)
    return ours, others


def _public_names_missing(source: str) -> list[str]:
    """What a module of the command line imports from chorus_batch that is not its public API."""
    wrong = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "chorus_batch":
            wrong += [a.name for a in node.names if a.name not in chorus_batch.__all__]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("chorus_batch."):
            wrong.append(node.module or "")
    return wrong


def violations(rel: tuple[str, ...], source: str) -> list[str]:
    """Every rule of the rooms a module breaks: rooms it may not import, an I/O or framework
    package in the domain, SQLAlchemy outside the store, the command line past the public API."""
    room = rel[0].removesuffix(".py")
    ours, others = _imports(rel, source)
    found = [f"imports {name}" for name in sorted(ours - ALLOWED[room] - {room})]
    if room == "domain":
        found += [f"imports {name} (the domain is pure)" for name in sorted(others & FORBIDDEN_IN_DOMAIN)]
    if room != "store" and "sqlalchemy" in others:
        found.append("imports sqlalchemy (only the store does)")
    if room == "cli":
        found += [f"imports {name} (not in chorus_batch.__all__)" for name in _public_names_missing(source)]
    return found


def test_every_module_keeps_to_its_room() -> None:
    wrong = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        if found := violations(rel, path.read_text(encoding="utf-8")):
            wrong["/".join(rel)] = found
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("rel", "source", "broken"),
    [
        (("apply", "x.py"), "from ..intake import run", "imports intake"),
        (("formats", "x.py"), "from ..store import files", "imports store"),
        (("domain", "x.py"), "import lxml.etree", "imports lxml (the domain is pure)"),
        (("domain", "x.py"), "from pathlib import Path", "imports pathlib (the domain is pure)"),
        (("apply", "x.py"), "from sqlalchemy import select", "imports sqlalchemy (only the store does)"),
        (
            ("cli", "x.py"),
            "from chorus_batch.store import files",
            "imports chorus_batch.store (not in chorus_batch.__all__)",
        ),
        (("cli", "x.py"), "from chorus_batch import Processor", "imports Processor (not in chorus_batch.__all__)"),
        (("cli", "x.py"), "from .. import store", "imports store"),
    ],
)
def test_each_rule_fires(rel: tuple[str, ...], source: str, broken: str) -> None:
    assert any(found.startswith(broken) for found in violations(rel, source))
    assert violations(rel, "from __future__ import annotations") == []


def test_the_public_api_names_exist() -> None:
    missing = [name for name in chorus_batch.__all__ if not hasattr(chorus_batch, name)]
    assert not missing, missing


def test_domain_never_reads_the_clock() -> None:
    reads = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted((PACKAGE / "domain").rglob("*.py"))
        if (found := clock_reads(path.read_text(encoding="utf-8")))
    }
    assert not reads, reads


def test_every_module_says_what_it_owns() -> None:
    missing = [
        p.name
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not missing, missing
