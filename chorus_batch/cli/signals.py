"""SIGINT and SIGTERM as a stop request, caught from the first instant of the command line.

Importing the command takes most of a second; a Ctrl-C or a ``systemctl stop`` in that time
must neither print a traceback nor kill ``watch`` by the signal. So ``cli/__init__`` installs
``catch`` before it imports anything else, and this module imports nothing heavy. The handler
only notes the first signal and sets ``stop``: ``run`` and ``watch`` take ``stop`` as their stop
request and end at a file boundary; every other command gives the signals back to Python
(``release``) and, if one came during start-up, ends at once with 128 + its number.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

TYPE_CHECKING = False  # not typing's: importing typing would cost more than this whole module
if TYPE_CHECKING:
    from typing import Any

STOPPING = (signal.SIGINT, signal.SIGTERM)

stop = threading.Event()  # set by the first SIGINT / SIGTERM caught
_noted: list[int] = []  # the signals caught, first first
_replaced: dict[int, Any] = {}  # the handlers ours replaced, while ours are installed


def _note(signum: int, _frame: object) -> None:
    _noted.append(signum)
    stop.set()


def command_line() -> bool:
    """Whether this process is the ``chorus-batch`` command (its console script, or ``python -m
    chorus_batch``) rather than a program or a test that imports the package: only the command
    takes the signals over as soon as it is imported (``main`` takes them over anyway)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "chorus_batch.__main__":
        return True
    return os.path.basename(getattr(main, "__file__", None) or "") == "chorus-batch"


def catch() -> bool:
    """Install the handlers, with a fresh stop request, unless they are installed; return
    whether this call installed them. Only the main thread can (another gets ``False``). A
    signal this process was started with ignored stays ignored, as Unix programs leave it (a
    job started with ``&`` by a script, ``nohup``: its starter chose that Ctrl-C not reach it)."""
    if _replaced or threading.current_thread() is not threading.main_thread():
        return False
    _noted.clear()
    stop.clear()
    for signum in STOPPING:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            _replaced[signum] = signal.signal(signum, _note)
    return bool(_replaced)


def release() -> int | None:
    """Put back the handlers ours replaced (for the command, Python's own: SIGINT raises
    KeyboardInterrupt, SIGTERM ends the process); return the signal caught meanwhile, if any."""
    if not _replaced:
        return None
    for signum, handler in _replaced.items():
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
    _replaced.clear()
    return received()


def ignore() -> None:
    """The command is over, its exit status decided: from now on SIGINT and SIGTERM are ignored.
    Python gives them their default actions back while it shuts down, and one arriving then
    would kill a process that had done all its work (a status of -15 instead of its own)."""
    for signum in STOPPING:
        signal.signal(signum, signal.SIG_IGN)
    _replaced.clear()


def caught() -> bool:
    """Whether our handlers are installed."""
    return bool(_replaced)


def received() -> int | None:
    """The number of the first signal caught since the handlers were installed."""
    return _noted[0] if _noted else None
