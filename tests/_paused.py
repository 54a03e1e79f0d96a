"""A real ``chorus-batch`` process that stops at a chosen point and waits for the test.

``start_paused("claim", "before", "--workspace", ws, "run")`` starts ``python -c`` with the real
console entry point, ``intake.processor.Processor.claim`` wrapped so that its first call prints
``paused`` and waits for a line on stdin: the process then holds the workspace lock (a run
claims files under it), deterministically, for as long as the test needs (no sleep, no race with
a run that would end first). ``"after"``
pauses once the first call has returned instead (``_conclude``: one file concluded, the rest
of its batch committed but not yet concluded — the place to SIGKILL a run). ``resume`` lets it
go on; peer processes come from a fork server that imports the package afresh, unpaused.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    from chorus_batch.cli import main
    from chorus_batch.intake.processor import Processor

    method, when = sys.argv[1], sys.argv[2]
    real = getattr(Processor, method)
    calls = []

    def pause():
        print("paused", flush=True)
        sys.stdin.readline()

    def paused(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1 and when == "before":
            pause()
        result = real(self, *args, **kwargs)
        if len(calls) == 1 and when == "after":
            pause()
        return result

    setattr(Processor, method, paused)
    sys.argv = ["chorus-batch", *sys.argv[3:]]
    main()
    """
)
TIMEOUT = 300  # seconds a resumed process may take to finish


def start_paused(method: str, when: str, *args: str | Path) -> subprocess.Popen[str]:
    """Start ``chorus-batch *args``; return once it is paused at ``when`` (before / after) the
    first call of ``Processor.<method>``. Fails if the process ends without getting there."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, method, when, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    before = []
    for line in proc.stdout:  # blocks until the pause (or the end of the process)
        if line.strip() == "paused":
            return proc
        before.append(line)
    out, err = proc.communicate(timeout=TIMEOUT)
    command, printed = " ".join(map(str, args)), "".join(before)
    raise AssertionError(f"chorus-batch {command} ended (rc={proc.returncode}) before its pause: {printed}{out}{err}")


def resume(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Let a paused process go on; its exit code, stdout and stderr once it has finished."""
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    return finish(proc)


def finish(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``proc`` once it has ended; killed after ``timeout`` s."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n(killed after {timeout} s)"
    return proc.returncode, out, err
