"""The intake: input files from the inbox to the archive, through the store.

* ``read``       one file to ready documents (read once, hash, recognise, bundles and PDFs, XSD,
                 map, rules); ``verdict`` is what ``validate`` says of it
* ``processor``  claim, commit (a savepoint per file and per document: the per-file boundary),
                 finish (responses, report, move)
* ``report``     a file's result, its integration report, a run's summary
* ``parking``    documents waiting for their order or invoice
* ``recovery``   what a killed worker left in ``var/processing/``
* ``outbox``     order responses, written after their commit
* ``run``        ``run``: the inbox once (recover, expire, lots, retry parked)
* ``lots``       the speed protocol of ``run``: lots, turns, peer processes, the collector
* ``watch``      ``watch``: file-system events turned into calls of the above
"""

from .processor import Processor
from .read import Verdict, read, verdict
from .report import FileResult, RunSummary
from .run import run

__all__ = ["FileResult", "Processor", "RunSummary", "Verdict", "read", "run", "verdict"]
