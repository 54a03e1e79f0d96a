"""The layers of chorus_batch import only downwards (see chorus_batch/__init__.py); the domain
imports no I/O or framework package and never reads the clock (``clock_reads``: the time of day
comes in as an argument, so the rules are the same in a test and in production)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chorus_batch

PACKAGE = Path(chorus_batch.__file__).parent

# module (or package) -> the chorus_batch modules it may import
ALLOWED = {
    "errors": set(),
    "domain": {"errors", "domain"},
    "formats": {"errors", "domain", "formats"},
    "store": {"errors", "domain", "store"},
    "config": {"errors", "domain"},
    "workspace": {"errors", "config", "domain"},
    "engagements": {"errors", "domain", "formats", "store", "config"},
    "preparation": {"errors", "domain", "formats", "config"},
    "ingest": {"errors", "domain", "formats", "store", "config", "workspace", "engagements", "preparation"},
    "watch": {"errors", "formats", "ingest", "workspace"},
    "answers": {"errors", "domain", "store", "config", "workspace", "engagements", "ingest"},
    "views": {"errors", "domain", "store"},
    "reports": {"errors", "domain", "store", "config", "workspace", "views"},
    "render": set(),
    "docgen": {"errors", "domain", "config", "cli"},
    "demo": {"demo"},
    "cli": {"errors", "domain", "formats", "store", "config", "workspace", "ingest", "answers", "watch", "views", "reports", "render", "demo"},
    "__main__": {"cli"},
    "__init__": set(),
}
# packages the pure core must never touch (top-level module names)
FORBIDDEN_IN_DOMAIN = {"lxml", "sqlalchemy", "click", "rich", "pandas", "watchdog", "os", "pathlib"}
# what reads the clock, by full name, however it is imported: ``datetime.now()`` after
# ``from datetime import datetime``, ``dt.datetime.now()`` after ``import datetime as dt``...
CLOCK_READS = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
    }
)


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(chorus_batch top-level modules, other top-level modules) imported by ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PACKAGE).parts
    ours, others = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")
                (ours.add(top[1]) if top[0] == "chorus_batch" and len(top) > 1 else others.add(top[0]))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")
                (ours.add(top[1]) if top[0] == "chorus_batch" and len(top) > 1 else others.add(top[0]))
                continue
            base = list(rel[:-1])[: len(rel) - node.level]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                ours.add(target[0])
            else:  # "from . import x" at the package top
                ours.update(alias.name for alias in node.names)
    return ours, others


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The full name ``node`` stands for (``datetime.datetime.now``), or ``None``."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(attributes)])


def clock_reads(source: str) -> list[str]:
    """``line: name`` of each use of a clock function (``CLOCK_READS``) in ``source``: called or
    passed on, under any import form or alias."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> full name, from the imports of the module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            name = _dotted(node, aliases)
            if name in CLOCK_READS:
                found.append(f"{node.lineno}: {name}")
    return sorted(set(found), key=lambda f: (int(f.split(":")[0]), f))


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


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from datetime import datetime\nx = datetime.now()", ["2: datetime.datetime.now"]),
        ("from datetime import datetime as DT\nx = DT.utcnow()", ["2: datetime.datetime.utcnow"]),
        ("import datetime\nx = datetime.datetime.now(datetime.UTC)", ["2: datetime.datetime.now"]),
        ("import datetime as dt\nx = dt.date.today()", ["2: datetime.date.today"]),
        ("from datetime import date\nx = date.today()", ["2: datetime.date.today"]),
        ("import time\nx = time.time()", ["2: time.time"]),
        ("import time as t\nx = t.monotonic()", ["2: time.monotonic"]),
        ("from time import perf_counter\nx = perf_counter()", ["2: time.perf_counter"]),
        ("from time import time as now\n\ndef f(clock=now):\n    return clock()", ["3: time.time"]),  # passed on
        (
            "import datetime, time\na = datetime.date.today()\nb = time.time()",
            ["2: datetime.date.today", "3: time.time"],
        ),
    ],
)
def test_the_clock_rule_fires(source: str, expected: list[str]) -> None:
    assert clock_reads(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import date, datetime\n\ndef f(today: date) -> datetime:\n    return datetime(today.year, 1, 1)",
        "import datetime\nx = datetime.date(2026, 1, 5) + datetime.timedelta(days=1)",
        "from datetime import datetime\nx = datetime.fromisoformat('2026-01-05')",
        "import time\nx = time.strftime('%Y', time.gmtime(0))",
        "def now():\n    return 1\nx = now()\ntoday = 3",  # names of our own, not the clock
        "class Clock:\n    def time(self):\n        return 0\nx = Clock().time()",
    ],
)
def test_the_clock_rule_lets_dates_and_times_pass(source: str) -> None:
    assert clock_reads(source) == []


def test_every_module_says_what_it_owns() -> None:
    missing = [p.name for p in PACKAGE.rglob("*.py") if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text()))]
    assert not missing, missing
