"""The ``chorus-batch`` command line, one module per command group, over the public API
(``chorus_batch``) only: ``root`` (the group, its options, errors and logging), ``intake``
(init, run, watch, validate), ``orders``, ``files``, ``reports``, ``store``, ``demo``; ``output`` and
``render`` print what the API returns; ``signals`` turns SIGINT and SIGTERM into a stop request.

The command takes the signals over before it imports the rest (most of a second): a signal in
that time is then a stop request like any other, never a traceback (``signals``)."""

from . import signals

if signals.command_line():
    signals.catch()

from . import demo, files, intake, orders, reports, store  # noqa: F401 -- each registers its commands on ``cli``
from .root import cli, main

__all__ = ["cli", "main"]
