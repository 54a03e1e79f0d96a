"""The limits of a bundle and the bounded reading every archive reader shares.

Owns: ``Limits`` (what one bundle may hold), ``Budget`` (the counters a bundle and the archives
nested in it share), ``read_member`` (one member read in ``CHUNK``-sized pieces, stopping at the
first piece that crosses a limit), ``Output`` (an archive's overall ratio), and member names
(``safe_name``, refused when they could point outside a folder; ``is_temporary``; ``show``, a
name fit for a message).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import DocumentRejected

MiB = 1024 * 1024
CHUNK = 64 * 1024  # every read, compressed or not, is at most this many bytes
_TEMP_SUFFIXES = (".tmp", ".part", "~")  # the inbox's own temporary names (workspace.is_temporary)
_DRIVE = re.compile(r"^[A-Za-z]:")

# The members of one member that is itself an archive (or the member itself): what a reader
# calls for each member it has read, so that nesting is handled in one place.
Nested = Callable[[str, bytes], list[tuple[str, bytes]]]


@dataclass(frozen=True)
class Limits:
    """What one bundle may hold. ``max_member_size`` should be the workspace's ``max_file_size``.

    ``max_ratio`` (uncompressed / compressed) is checked per member and over the whole archive,
    once more than ``ratio_grace`` bytes came out (tiny, padded archives compress absurdly well).
    ``max_total_size`` bounds every byte decompressed, nested archives included, so it also
    bounds what ``members`` returns.
    """

    max_members: int = 1000
    max_member_size: int = 32 * MiB
    max_total_size: int = 256 * MiB
    max_ratio: int = 200
    max_depth: int = 1
    ratio_grace: int = MiB


class Budget:
    """Counters shared by a bundle and the archives nested in it."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries = 0
        self.total = 0

    def enter(self, count: int) -> None:
        self.entries += count
        if self.entries > self.limits.max_members:
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"the bundle holds more than {self.limits.max_members} entries (max_members)"
            )

    @property
    def entries_left(self) -> int:
        return self.limits.max_members - self.entries

    def spend(self, size: int) -> None:
        self.total += size
        if self.total > self.limits.max_total_size:
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"the bundle expands beyond {self.limits.max_total_size} bytes (max_total_size)"
            )


def show(name: str) -> str:
    """A member name fit for a message: quoted, escaped, shortened."""
    return ascii(name[:120] + ("..." if len(name) > 120 else ""))


def safe_name(raw: str) -> str:
    """``raw`` normalised to ``a/b/c`` (``\\`` and ``/`` both separate, ``.`` and empty parts dropped).

    Raises ARCHIVE_UNSAFE_PATH for anything that could point outside a folder it was put in.
    """
    reason = None
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in raw):
        reason = "NUL or control character"
    else:
        name = raw.replace("\\", "/")
        if name.startswith("/"):
            reason = "absolute path"
        elif _DRIVE.match(name):
            reason = "drive letter"
        else:
            parts = [part for part in name.split("/") if part not in ("", ".")]
            if any(set(part) <= {".", " "} for part in parts):  # "..", and what Windows reads as ".."
                reason = "'..' component (or dots and spaces only)"
            elif parts and _DRIVE.match(parts[0]):
                reason = "drive letter"
            else:
                return "/".join(parts)
    raise DocumentRejected.one("ARCHIVE_UNSAFE_PATH", f"member {show(raw)} has an unsafe path ({reason})")


def is_temporary(name: str) -> bool:
    parts = name.split("/")
    if "__MACOSX" in parts or any(part.startswith(".") for part in parts):
        return True
    return parts[-1].lower().endswith(_TEMP_SUFFIXES)


def read_member(
    read: Callable[[int], bytes], name: str, budget: Budget, *, packed: int | None = None, archive: Output | None = None
) -> bytes:
    """All of one member, read in chunks; stops at the first chunk that crosses a limit.

    ``packed`` is the member's compressed size when known (zip), for its own ratio.
    """
    limits = budget.limits
    out = io.BytesIO()
    size = 0
    while chunk := read(CHUNK):
        size += len(chunk)
        if size > limits.max_member_size:
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE",
                f"member {show(name)} expands beyond {limits.max_member_size} bytes (max_member_size)",
            )
        if packed is not None and size > limits.ratio_grace and size > limits.max_ratio * max(packed, 1):
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"member {show(name)} expands more than {limits.max_ratio} times (max_ratio)"
            )
        budget.spend(len(chunk))
        if archive is not None:
            archive.add(len(chunk))
        out.write(chunk)
    return out.getvalue()


class Output:
    """Bytes out of one archive against its compressed size: the overall ratio."""

    def __init__(self, packed: int, limits: Limits, label: str) -> None:
        self.packed = packed
        self.limits = limits
        self.label = label
        self.size = 0

    def add(self, size: int) -> None:
        self.size += size
        if self.size > self.limits.ratio_grace and self.size > self.limits.max_ratio * max(self.packed, 1):
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"{show(self.label)} expands more than {self.limits.max_ratio} times (max_ratio)"
            )
