"""A workspace made as ``chorus-batch init`` makes it, for tests that drive the command in a
subprocess on a folder of their own: ``run``, ``watch`` and the other commands refuse a folder
that is not a workspace (WORKSPACE_NOT_FOUND). Made in this process, through the public API
(quicker than a subprocess).

Imported as ``from _workspace import initialised`` (tests/ is on sys.path).
"""

from __future__ import annotations

from pathlib import Path

from chorus_batch import Session


def initialised(ws: Path) -> Path:
    """``ws`` made a workspace (folders, configuration, store, id), as ``chorus-batch init ws``."""
    Session(ws.absolute()).init()
    return ws
