"""Zip bundles, read member by member through the shared limits (``reading``).

Owns: the zip member rules (no links, devices, encryption, or compression other than stored and
deflate), the checks on declared sizes before any byte is inflated, and counting the central
directory before ``zipfile`` builds an object per entry.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile

from ...errors import DocumentRejected
from .reading import Budget, Nested, Output, is_temporary, read_member, safe_name, show

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member's local header; an empty zip's end record
_ZIP_CENTRAL = b"PK\x01\x02"


def read_zip(data: bytes, prefix: str, budget: Budget, nested: Nested) -> list[tuple[str, bytes]]:
    """The documents of the zip ``data``, nested archives through ``nested``."""
    limits = budget.limits
    label = prefix.rstrip("/") or "the zip archive"
    # ZipFile builds an object per central-directory entry: count them before it does.
    if data.count(_ZIP_CENTRAL) > budget.entries_left and _central_entries(data) > budget.entries_left:
        raise DocumentRejected.one(
            "ARCHIVE_TOO_LARGE", f"the bundle holds more than {limits.max_members} entries (max_members)"
        )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        budget.enter(len(infos))
        wanted: list[tuple[zipfile.ZipInfo, str]] = []
        declared = 0
        for info in infos:
            name = safe_name(info.orig_filename)
            fmt = stat.S_IFMT(info.external_attr >> 16)
            if info.orig_filename.endswith(("/", "\\")) or fmt == stat.S_IFDIR:
                continue
            if fmt not in (0, stat.S_IFREG):
                what = "a symbolic link" if fmt == stat.S_IFLNK else "a device, fifo or socket"
                raise DocumentRejected.one("ARCHIVE_LINK", f"member {show(prefix + name)} is {what}")
            if info.flag_bits & 0x41:  # traditional or strong encryption
                raise DocumentRejected.one("ARCHIVE_MALFORMED", f"member {show(prefix + name)} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise DocumentRejected.one(
                    "ARCHIVE_MALFORMED",
                    f"member {show(prefix + name)} uses compression method {info.compress_type} "
                    "(only stored and deflate are read)",
                )
            # fast path on the declared sizes; the reading below checks the real ones again
            if info.file_size > limits.max_member_size:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE",
                    f"member {show(prefix + name)} declares {info.file_size} bytes; "
                    f"the limit is {limits.max_member_size} (max_member_size)",
                )
            if info.file_size > limits.ratio_grace and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE",
                    f"member {show(prefix + name)} expands more than {limits.max_ratio} times (max_ratio)",
                )
            if is_temporary(name):
                continue
            declared += info.file_size
            wanted.append((info, name))
        if budget.total + declared > limits.max_total_size:
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE",
                f"{show(label)} declares {declared} bytes; the limit is {limits.max_total_size} (max_total_size)",
            )
        if declared > limits.ratio_grace and declared > limits.max_ratio * len(data):
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"{show(label)} expands more than {limits.max_ratio} times (max_ratio)"
            )
        output = Output(len(data), limits, label)
        found: list[tuple[str, bytes]] = []
        for info, name in wanted:
            with archive.open(info) as member:
                content = read_member(member.read, prefix + name, budget, packed=info.compress_size, archive=output)
            found.extend(nested(prefix + name, content))
        return found


def _central_entries(data: bytes) -> int:
    """How many central-directory records ``zipfile`` would parse (an upper bound), found the way
    it finds them: end record without comment, else the last one in the final 64 KiB."""
    end = len(data) - 22
    if not (end >= 0 and data[end : end + 4] == b"PK\x05\x06" and data[-2:] == b"\x00\x00"):
        end = data.rfind(b"PK\x05\x06", max(len(data) - 65536 - 22, 0))
    if end < 0 or len(data) < end + 22:
        return data.count(_ZIP_CENTRAL)
    size, offset = struct.unpack("<LL", data[end + 12 : end + 20])
    stop = end
    locator = end - 20
    if locator >= 56 and data[locator : locator + 4] == b"PK\x06\x07":
        record = locator - 56
        if data[record : record + 4] == b"PK\x06\x06":
            size = struct.unpack("<Q", data[record + 40 : record + 48])[0]
            stop = record
    del offset  # zipfile places the directory just before its end record, whatever the offset says
    start = stop - size
    if start < 0:
        return data.count(_ZIP_CENTRAL)
    return data.count(_ZIP_CENTRAL, start, stop)
