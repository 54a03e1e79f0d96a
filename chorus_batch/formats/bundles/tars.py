"""Tar, tar.gz and single-document gzip bundles, read as forward-only streams through the shared
limits (``reading``).

Owns: telling a tar or a gzip stream from its first bytes (``is_tar_header``, ``inflate_head``),
the bounded stream tarfile reads from (inflated lazily, its size, ratio and header window
checked as it goes), the tar member rules, and the gzip header's file name.
"""

from __future__ import annotations

import struct
import tarfile
import zlib
from typing import ClassVar, Self

from ...errors import DocumentRejected
from .reading import CHUNK, Budget, Limits, MiB, Nested, is_temporary, read_member, safe_name, show

GZIP_MAGIC = b"\x1f\x8b"
_HEAD_SCAN = MiB  # kind_of inflates at most this much compressed input to see the first tar block
_TAR_META_MAX = 64 * 1024  # one pax / GNU long-name header
_TAR_HEADER_WINDOW = 256 * 1024  # everything tarfile reads to produce one member header (pax, long names, sparse maps)
_TAR_STREAM_SLACK = 16 * MiB  # headers and padding on top of max_total_size in a tar stream
_TAR_META_TYPES = frozenset(
    {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE}
)


def inflate_head(data: bytes, size: int) -> bytes:
    """The first ``size`` inflated bytes of a gzip stream (fewer if it is shorter or corrupt)."""
    inflater = zlib.decompressobj(31)
    view = memoryview(data)[:_HEAD_SCAN]
    out = b""
    pos = 0
    try:
        while len(out) < size and not inflater.eof:
            pending = inflater.unconsumed_tail
            if not pending:
                pending = bytes(view[pos : pos + CHUNK])
                pos += len(pending)
                if not pending:
                    break
            out += inflater.decompress(pending, size - len(out))
    except zlib.error:
        pass
    return out


def is_tar_header(block: bytes, *, need_magic: bool) -> bool:
    if len(block) < tarfile.BLOCKSIZE:
        return False
    if need_magic and block[257:262] != b"ustar":
        return False
    field = block[148:156].replace(b"\x00", b" ").strip()
    if not field:
        return False
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:512])
    signed = sum(struct.unpack("148b", block[:148])) + 8 * 0x20 + sum(struct.unpack("356b", block[156:512]))
    return stored in (unsigned, signed)


class _BoundedStream:
    """A file-like view of an in-memory tar (or gzip) stream: inflated lazily, ``CHUNK`` at a time.

    Everything read counts against ``cap``; for gzip the running ratio (bytes out / compressed
    bytes consumed) is checked too; ``window``, when set, bounds the bytes read while tarfile
    parses one member's headers. The gzip CRC and length are checked when the stream ends.
    """

    def __init__(self, data: bytes, *, gz: bool, cap: int, limits: Limits, label: str) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._gz = gz
        self._inflater = zlib.decompressobj(31) if gz else None
        self._pending = b""
        self._finished = False
        self.cap = cap
        self.limits = limits
        self.label = label
        self.size = 0
        self.window: int | None = None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release: the data belongs to the caller."""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > CHUNK:
            size = CHUNK
        if self._gz:
            chunk = self._inflate(size)
        else:
            chunk = bytes(self._data[self._pos : self._pos + size])
            self._pos += len(chunk)
        self._count(len(chunk))
        return chunk

    def drain(self) -> None:
        """Read to the end (through the limits): checks the gzip trailer, refuses hidden bulk."""
        while self.read(CHUNK):
            pass

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > self.cap:
            raise DocumentRejected.one("ARCHIVE_TOO_LARGE", f"{show(self.label)} expands beyond {self.cap} bytes")
        consumed = self._pos - len(self._pending)
        if self._gz and self.size > self.limits.ratio_grace and self.size > self.limits.max_ratio * max(consumed, 1):
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"{show(self.label)} expands more than {self.limits.max_ratio} times (max_ratio)"
            )
        if self.window is not None:
            self.window -= size
            if self.window < 0:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE", f"{show(self.label)} has tar headers larger than {_TAR_HEADER_WINDOW} bytes"
                )

    def _feed(self) -> bytes:
        chunk = bytes(self._data[self._pos : self._pos + CHUNK])
        self._pos += len(chunk)
        return chunk

    def _inflate(self, size: int) -> bytes:
        assert self._inflater is not None
        parts: list[bytes] = []
        wanted = size
        while wanted > 0 and not self._finished:
            if not self._pending:
                self._pending = self._feed()
                if not self._pending:
                    raise EOFError("the gzip stream ends before its end marker")
            piece = self._inflater.decompress(self._pending, wanted)
            if self._inflater.eof:
                self._pending = self._inflater.unused_data
                self._next_member()
            else:
                self._pending = self._inflater.unconsumed_tail
            parts.append(piece)
            wanted -= len(piece)
        return b"".join(parts)

    def _next_member(self) -> None:
        """After one gzip member: zero padding and the end, or another member (``cat a.gz b.gz``)."""
        while True:
            self._pending = self._pending.lstrip(b"\x00")
            if self._pending:
                self._inflater = zlib.decompressobj(31)
                return
            self._pending = self._feed()
            if not self._pending:
                self._finished = True
                return


class _EndingTarInfo(tarfile.TarInfo):
    ending: ClassVar[str | None] = None  # how the archive ended: set by the class _guarded_tarinfo makes


def _guarded_tarinfo(stream: _BoundedStream) -> type[_EndingTarInfo]:
    """A TarInfo class that bounds header parsing and remembers how the archive ended."""

    class GuardedTarInfo(_EndingTarInfo):
        depth = 0

        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
            info = super().frombuf(buf, encoding, errors)
            if info.type in _TAR_META_TYPES and info.size > _TAR_META_MAX:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE",
                    f"{show(stream.label)} has a {info.size}-byte tar extended header (limit {_TAR_META_MAX})",
                )
            return info

        @classmethod
        def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
            outer = cls.depth == 0
            if outer:
                stream.window = _TAR_HEADER_WINDOW
            cls.depth += 1
            try:
                return super().fromtarfile(tar)
            except tarfile.EOFHeaderError:  # type: ignore[attr-defined]  # typeshed leaves it out (not in __all__)
                if outer:
                    cls.ending = "end-of-archive"
                raise
            except tarfile.HeaderError:
                if outer:
                    cls.ending = "bad header"
                raise
            finally:
                cls.depth -= 1
                if outer:
                    stream.window = None

    return GuardedTarInfo


def read_tar(data: bytes, gz: bool, prefix: str, budget: Budget, nested: Nested) -> list[tuple[str, bytes]]:
    """The documents of the tar (or tar.gz) ``data``, nested archives through ``nested``."""
    limits = budget.limits
    label = prefix.rstrip("/") or ("the tar.gz archive" if gz else "the tar archive")
    cap = limits.max_total_size - budget.total + _TAR_STREAM_SLACK + budget.entries_left * 2 * tarfile.BLOCKSIZE
    stream = _BoundedStream(data, gz=gz, cap=cap, limits=limits, label=label)
    info_class = _guarded_tarinfo(stream)
    found: list[tuple[str, bytes]] = []
    # "r|": a forward-only stream, so tarfile never seeks back nor reads ahead of what it parses
    with tarfile.open(  # type: ignore[call-overload]  # typeshed wants a file to seek and write; "r|" only reads
        fileobj=stream, mode="r|", tarinfo=info_class, encoding="utf-8", errors="replace"
    ) as archive:
        for info in archive:
            budget.enter(1)
            name = safe_name(info.name)
            where = show(prefix + name)
            if info.issym() or info.islnk():
                raise DocumentRejected.one(
                    "ARCHIVE_LINK", f"member {where} is a {'symbolic' if info.issym() else 'hard'} link"
                )
            if info.ischr() or info.isblk() or info.isfifo():
                raise DocumentRejected.one("ARCHIVE_LINK", f"member {where} is a device or a fifo")
            if info.isdir():
                continue
            if not info.isreg():
                raise DocumentRejected.one(
                    "ARCHIVE_MALFORMED", f"member {where} has unsupported tar type {info.type!r}"
                )
            if info.size > limits.max_member_size:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE",
                    f"member {where} declares {info.size} bytes; "
                    f"the limit is {limits.max_member_size} (max_member_size)",
                )
            if is_temporary(name):
                continue  # tarfile skips its data, through the stream's limits
            if budget.total + info.size > limits.max_total_size:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE", f"{show(label)} expands beyond {limits.max_total_size} bytes (max_total_size)"
                )
            member = archive.extractfile(info)
            if member is None:  # pragma: no cover - isreg() members always have a file object
                raise DocumentRejected.one("ARCHIVE_MALFORMED", f"member {where} cannot be read")
            content = read_member(member.read, prefix + name, budget)
            found.extend(nested(prefix + name, content))
        if info_class.ending != "end-of-archive":
            raise DocumentRejected.one("ARCHIVE_MALFORMED", f"{show(label)} is truncated or has a corrupt header")
    if gz:
        stream.drain()
    return found


# -- single-document gzip ------------------------------------------------------------------------


def read_gz(data: bytes, prefix: str, budget: Budget, nested: Nested) -> list[tuple[str, bytes]]:
    """A ``.gz`` of one document: a one-member bundle named after the gzip header's name."""
    limits = budget.limits
    budget.enter(1)
    name = safe_name(_gzip_name(data)) or "member"
    label = prefix + name
    stream = _BoundedStream(data, gz=True, cap=limits.max_member_size + CHUNK, limits=limits, label=label)
    content = read_member(stream.read, label, budget)
    return nested(label, content)


def _gzip_name(data: bytes) -> str:
    """FNAME of the gzip header (RFC 1952), or ``"member"``."""
    if len(data) < 10 or not data[3] & 0x08:
        return "member"
    pos = 10
    if data[3] & 0x04:  # FEXTRA
        if len(data) < 12:
            return "member"
        pos = 12 + int.from_bytes(data[10:12], "little")
    end = data.find(b"\x00", pos, pos + 1024)
    if end < 0:
        return "member"
    return data[pos:end].decode("latin-1") or "member"
