"""chorus-batch: batch EDI processing of Chorus Pro orders ("engagements").

The public API: everything a command needs, so that no command reaches past it. A
``Session`` is one workspace (folders, configuration, store, acting partner); its methods set
it up, run the inbox once, watch it, validate files, search / show / export / answer
engagements, follow and retry files, write the reports and build the demo::

    from chorus_batch import Session
    summary = Session(Path("/srv/edi")).run()

The rooms behind it, each importing only what ``tests/unit/test_architecture.py`` allows:

* ``domain``     the pure core: models, identifiers, rules, the state machine table, outcomes,
                 matching and reconciliation
* ``formats``    one module per document syntax behind one interface and a registry
* ``store``      every SQL statement and every difference between the databases
* ``identity``   which workspace a store belongs to, checked before it is opened
* ``apply``      a document applied to engagements, inside the caller's transaction
* ``intake``     files from the inbox to the archive (read, processor, parking, lots, watch...)
* ``reports``    the accountants' reports
* ``shapes``     store rows as the JSON shapes of the command line
* ``session``    the service behind this API
* ``cli``        the command line, over this API only

The names are imported on first use (PEP 562): importing the package costs nothing, so that
the command line can catch SIGINT and SIGTERM before the most of a second its imports take.
"""

from __future__ import annotations

import importlib

# typing.TYPE_CHECKING without importing typing (a third of the package's start-up); type
# checkers know the name: for them, the names below are imported here
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .domain.invoices import InvoiceStatus
    from .domain.model import LineChange
    from .domain.outcomes import DocumentOutcome, FileStatus, Waiting
    from .domain.reconciliation import MatchStatus
    from .domain.states import State
    from .errors import ChorusError, ConfigError, NotFound, StoreError, WorkspaceError, WorkspaceLocked
    from .intake import FileResult, RunSummary, Verdict
    from .reports import FORMATS as REPORT_FORMATS
    from .reports import RAW_CSV_ENV, REPORTS, neutral_cell
    from .session import Answer, Demo, OrderQuery, Session

__version__ = "0.1.0"

__all__ = [
    "RAW_CSV_ENV",
    "REPORTS",
    "REPORT_FORMATS",
    "Answer",
    "ChorusError",
    "ConfigError",
    "Demo",
    "DocumentOutcome",
    "FileResult",
    "FileStatus",
    "InvoiceStatus",
    "LineChange",
    "MatchStatus",
    "NotFound",
    "OrderQuery",
    "RunSummary",
    "Session",
    "State",
    "StoreError",
    "Verdict",
    "Waiting",
    "WorkspaceError",
    "WorkspaceLocked",
    "__version__",
    "neutral_cell",
]

# public name -> (module, its name there)
_WHERE = {
    "InvoiceStatus": (".domain.invoices", "InvoiceStatus"),
    "LineChange": (".domain.model", "LineChange"),
    "DocumentOutcome": (".domain.outcomes", "DocumentOutcome"),
    "FileStatus": (".domain.outcomes", "FileStatus"),
    "Waiting": (".domain.outcomes", "Waiting"),
    "MatchStatus": (".domain.reconciliation", "MatchStatus"),
    "State": (".domain.states", "State"),
    "ChorusError": (".errors", "ChorusError"),
    "ConfigError": (".errors", "ConfigError"),
    "NotFound": (".errors", "NotFound"),
    "StoreError": (".errors", "StoreError"),
    "WorkspaceError": (".errors", "WorkspaceError"),
    "WorkspaceLocked": (".errors", "WorkspaceLocked"),
    "FileResult": (".intake", "FileResult"),
    "RunSummary": (".intake", "RunSummary"),
    "Verdict": (".intake", "Verdict"),
    "REPORT_FORMATS": (".reports", "FORMATS"),
    "REPORTS": (".reports", "REPORTS"),
    "RAW_CSV_ENV": (".reports", "RAW_CSV_ENV"),
    "neutral_cell": (".reports", "neutral_cell"),
    "Answer": (".session", "Answer"),
    "Demo": (".session", "Demo"),
    "OrderQuery": (".session", "OrderQuery"),
    "Session": (".session", "Session"),
}


def __getattr__(name: str) -> Any:
    """A public name, imported the first time it is asked for, then kept in the module."""
    try:
        module, attribute = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
