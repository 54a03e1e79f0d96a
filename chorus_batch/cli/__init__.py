"""The ``chorus-batch`` command line, one module per command group, over the public API
(``chorus_batch``) only: ``root`` (the group, its options, errors and logging), ``intake``
(init, run, watch, validate), ``orders``, ``files``, ``reports``, ``demo``; ``output`` and
``render`` print what the API returns."""

from . import demo, files, intake, orders, reports  # noqa: F401 -- each registers its commands on ``cli``
from .root import cli, main

__all__ = ["cli", "main"]
