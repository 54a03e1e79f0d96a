"""Order responses to ``outbox/responses/``, written after the commit that made them, and
marked written in the store; at start-up, the ones a crash left committed but unwritten."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .. import store as db
from ..apply import Emitted
from ..domain.names import fitting
from ..workspace import Workspace, write_bytes

log = logging.getLogger("chorus_batch")


def write_responses(ws: Workspace, store: db.Store, emitted: Sequence[Emitted]) -> None:
    """Write order responses to outbox/responses/ and record that they are there."""
    for item in emitted:  # (a name recorded by an earlier version may be too long: shortened as any made name)
        write_bytes(ws.responses / fitting(item.name), item.data)
        log.info("order response %s written", item.name)
    if emitted:
        with store.begin() as conn:
            db.answers.mark_responses_written(conn, [item.name for item in emitted])


def recover_responses(ws: Workspace, store: db.Store) -> None:
    """Write the responses that were committed but never marked as written (a crash between
    the commit and the write), so that an emitted response cannot be lost."""
    with store.read() as conn:
        missing = db.answers.unwritten_responses(conn)
        emitted = [Emitted(r.response_file, db.files.get_blob(conn, r.response_sha256) or b"") for r in missing]
    if emitted:
        log.warning("writing %d order response(s) left unwritten by an interrupted run", len(emitted))
    write_responses(ws, store, emitted)
