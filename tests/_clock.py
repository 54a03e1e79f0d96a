"""The domain's clock rule, for ``tests/unit/test_architecture.py``: where a source text reads
the clock (``clock_reads``). ``tests/unit/test_clock_rule.py`` shows the rule firing."""

from __future__ import annotations

import ast

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
