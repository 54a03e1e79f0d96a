"""How many examples the costly property tests try: all of them in the full suite (CI, or
``pytest`` alone), a fifth in the fast loop (``pytest -m "not slow"``), where a change is
checked in seconds. ``tests/conftest.py`` tells which from the ``-m`` expression before the
test modules are imported; ``examples(n)`` is then read by their ``@settings``.
"""

from __future__ import annotations

import re

FAST_SHARE = 5  # the fast loop tries 1 example in FAST_SHARE
_fast: list[bool] = [False]


def fast_loop(markexpr: str) -> bool:
    """Whether ``-m markexpr`` leaves the slow tests out (``not slow``, ``not slow and ...``)."""
    return re.search(r"\bnot\s+slow\b", markexpr) is not None


def set_fast(fast: bool) -> None:
    _fast[0] = fast


def examples(full: int) -> int:
    """``full`` in the full suite; a fifth of it (at least 1) in the fast loop."""
    return max(1, full // FAST_SHARE) if _fast[0] else full
