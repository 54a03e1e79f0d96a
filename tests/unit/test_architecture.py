"""The layers of chorus_batch import only downwards (see chorus_batch/__init__.py); the domain
imports no I/O or framework package and never reads the clock (``clock_reads``: the time of day
comes in as an argument, so the rules are the same in a test and in production)."""

from __future__ import annotations

import ast
from pathlib import Path

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
    "workspace": {"errors", "config"},
    "apply": {"errors", "domain", "formats", "store", "config"},
    "intake": {"errors", "domain", "formats", "store", "config", "workspace", "apply"},
    "shapes": {"errors", "domain", "store"},
    "reports": {"errors", "domain", "store", "config", "workspace"},
    "session": {"errors", "domain", "store", "config", "workspace", "apply", "intake", "shapes", "reports", "demo"},
    "demo": set(),
    "cli": {"__init__"},
    "__init__": {"errors", "domain", "intake", "reports", "session"},
    "__main__": {"cli"},
}
# packages the pure core must never touch (top-level module names)
FORBIDDEN_IN_DOMAIN = {"lxml", "sqlalchemy", "click", "rich", "pandas", "watchdog", "os", "pathlib"}


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(chorus_batch top-level modules, other top-level modules) imported by ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PACKAGE).parts
    ours, others = set(), set()
    for node in ast.walk(tree):
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


def _layer(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first[:-3] if first.endswith(".py") else first


def test_layers_import_downwards() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        ours, _ = _imports(path)
        extra = ours - ALLOWED[layer] - {layer}
        if extra:
            wrong.append(f"{path.relative_to(PACKAGE)} imports {sorted(extra)}")
    assert not wrong, "\n".join(wrong)


def test_domain_is_pure() -> None:
    for path in sorted((PACKAGE / "domain").rglob("*.py")):
        _, others = _imports(path)
        assert not (others & FORBIDDEN_IN_DOMAIN), f"{path.name} imports {sorted(others & FORBIDDEN_IN_DOMAIN)}"


def test_domain_never_reads_the_clock() -> None:
    reads = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted((PACKAGE / "domain").rglob("*.py"))
        if (found := clock_reads(path.read_text(encoding="utf-8")))
    }
    assert not reads, reads


def test_sql_only_under_store() -> None:
    """SQLAlchemy (and so any SQL) is imported by ``store`` alone; the others use its names."""
    wrong = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if _layer(path) != "store" and "sqlalchemy" in _imports(path)[1]
    ]
    assert not wrong, wrong


def test_the_public_api_is_all_a_command_needs() -> None:
    """The command line imports names of ``chorus_batch`` only, and only those in ``__all__``;
    every name of ``__all__`` exists."""
    missing = [name for name in chorus_batch.__all__ if not hasattr(chorus_batch, name)]
    assert not missing, missing
    wrong = []
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "chorus_batch":
                wrong += [f"{path.name}: {a.name}" for a in node.names if a.name not in chorus_batch.__all__]
            elif (
                isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("chorus_batch.")
            ):
                wrong.append(f"{path.name}: {node.module}")
    assert not wrong, wrong


def test_every_module_says_what_it_owns() -> None:
    missing = [
        p.name
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not missing, missing
