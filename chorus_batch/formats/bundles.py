"""Bundles (SPEC §2): ``.zip``, ``.tar``, ``.tar.gz`` and single-document ``.gz`` files read
safely, in memory, member by member.

``kind_of(head)`` says whether bytes are a bundle (and which kind) from their first bytes;
``members(data, limits)`` returns the regular-file members as ``(name, bytes)`` in archive
order, nested archives (up to ``limits.max_depth`` levels) flattened as ``outer.zip/inner.xml``.
Nothing is ever extracted to disk: each member is read through a bounded reader in 64 KiB
chunks, and the reading stops as soon as a limit is crossed, so a bomb costs at most a few
chunks of memory whatever its headers declare.

A bundle that breaks a rule is rejected WHOLE (``DocumentRejected``), before any of its members
is handed out:

* ``ARCHIVE_UNSAFE_PATH``  absolute path, ``..`` component, drive letter, backslash tricks,
  NUL or control character in a member name;
* ``ARCHIVE_LINK``         symbolic or hard link, device or fifo member;
* ``ARCHIVE_TOO_LARGE``    too many members, a member / the total larger than allowed, a
  compression ratio above ``max_ratio`` (per member and overall), oversized tar headers;
* ``ARCHIVE_NESTED``       an archive inside an archive deeper than ``max_depth``;
* ``ARCHIVE_MALFORMED``    corrupt or truncated archive, CRC error, encrypted zip member,
  compression other than stored / deflate, unsupported tar member type;
* ``FILE_EMPTY``           a bundle holding no document at all.

Folders and temporary names (dot-files, ``*.tmp``, ``*.part``, ``*~``, anything under
``__MACOSX/``) are skipped. Messages name members but never echo their content.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DocumentRejected

MiB = 1024 * 1024
CHUNK = 64 * 1024  # every read, compressed or not, is at most this many bytes

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member's local header; an empty zip's end record
_ZIP_CENTRAL = b"PK\x01\x02"
_HEAD_SCAN = MiB  # kind_of inflates at most this much compressed input to see the first tar block
_TAR_META_MAX = 64 * 1024  # one pax / GNU long-name header
_TAR_HEADER_WINDOW = 256 * 1024  # everything tarfile reads to produce one member header (pax, long names, sparse maps)
_TAR_STREAM_SLACK = 16 * MiB  # headers and padding on top of max_total_size in a tar stream
_TAR_META_TYPES = frozenset({tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE})
_TEMP_SUFFIXES = (".tmp", ".part", "~")  # the inbox's own temporary names (workspace.is_temporary)
_DRIVE = re.compile(r"^[A-Za-z]:")

# What the stdlib readers raise on corrupt input; all become ARCHIVE_MALFORMED.
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    OSError,
    ValueError,  # includes UnicodeDecodeError
    struct.error,
    OverflowError,
    IndexError,
    KeyError,
    RuntimeError,  # includes NotImplementedError, RecursionError
)


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


# -- recognition ---------------------------------------------------------------------------------


def kind_of(head: bytes) -> str | None:
    """``"zip"``, ``"tar"``, ``"tar.gz"``, ``"gz"`` (one gzipped document) or ``None``.

    ``head`` is the start of the file (64 KiB is plenty; the whole file is fine, only what is
    needed is looked at). A gzip stream is a ``tar.gz`` when its first inflated 512-byte block
    is a tar header (or the all-zero block of an empty tar). Never raises.
    """
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if head.startswith(_GZIP_MAGIC):
        block = _inflate_head(head, tarfile.BLOCKSIZE)
        if len(block) == tarfile.BLOCKSIZE and (not any(block) or _is_tar_header(block, need_magic=False)):
            return "tar.gz"
        return "gz"
    if _is_tar_header(head[: tarfile.BLOCKSIZE], need_magic=True):
        return "tar"
    return None


def _inflate_head(data: bytes, size: int) -> bytes:
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


def _is_tar_header(block: bytes, *, need_magic: bool) -> bool:
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


# -- entry point ---------------------------------------------------------------------------------


def members(data: bytes, limits: Limits | None = None) -> list[tuple[str, bytes]]:
    """The documents of bundle ``data``: ``(name, bytes)`` for each regular file, archive order.

    Raises:
        DocumentRejected: ARCHIVE_UNSAFE_PATH, ARCHIVE_LINK, ARCHIVE_TOO_LARGE, ARCHIVE_NESTED,
            ARCHIVE_MALFORMED, or FILE_EMPTY when the bundle holds no document. The whole bundle
            is rejected; no member is returned.
    """
    kind = kind_of(data)
    if kind is None:
        raise DocumentRejected.one("ARCHIVE_MALFORMED", "the file is not a zip, tar, tar.gz or gzip archive")
    found = _expand(data, kind, "", 0, _Budget(limits or Limits()))
    if not found:
        raise DocumentRejected.one("FILE_EMPTY", "the bundle holds no document (only folders or temporary names)")
    return found


class _Budget:
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


def _expand(data: bytes, kind: str, prefix: str, depth: int, budget: _Budget) -> list[tuple[str, bytes]]:
    label = prefix.rstrip("/") or "the bundle"
    try:
        if kind == "zip":
            return _zip(data, prefix, depth, budget)
        if kind == "gz":
            return _gz(data, prefix, depth, budget)
        return _tar(data, kind == "tar.gz", prefix, depth, budget)
    except DocumentRejected:
        raise
    except _CORRUPT as exc:
        raise DocumentRejected.one("ARCHIVE_MALFORMED", f"{_show(label)} is corrupt or truncated ({_why(exc)})") from None


def _nested(name: str, content: bytes, depth: int, budget: _Budget) -> list[tuple[str, bytes]]:
    """``content`` itself, or the flattened members when it is an archive (and nesting allows)."""
    kind = kind_of(content)
    if kind is None:
        return [(name, content)]
    if depth >= budget.limits.max_depth:
        raise DocumentRejected.one(
            "ARCHIVE_NESTED",
            f"member {_show(name)} is an archive nested more than {budget.limits.max_depth} level(s) deep (max_depth)",
        )
    return _expand(content, kind, name + "/", depth + 1, budget)


# -- member names --------------------------------------------------------------------------------


def _show(name: str) -> str:
    """A member name fit for a message: quoted, escaped, shortened."""
    return ascii(name[:120] + ("..." if len(name) > 120 else ""))


def _why(exc: BaseException) -> str:
    """The reader's own wording (library messages, never member content), shortened."""
    text = str(exc) if isinstance(exc, (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError)) else ""
    return type(exc).__name__ + (f": {ascii(text[:100])[1:-1]}" if text else "")


def _safe_name(raw: str) -> str:
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
    raise DocumentRejected.one("ARCHIVE_UNSAFE_PATH", f"member {_show(raw)} has an unsafe path ({reason})")


def _is_temporary(name: str) -> bool:
    parts = name.split("/")
    if "__MACOSX" in parts or any(part.startswith(".") for part in parts):
        return True
    return parts[-1].lower().endswith(_TEMP_SUFFIXES)


# -- bounded reading -----------------------------------------------------------------------------


def _read_member(
    read: Callable[[int], bytes], name: str, budget: _Budget, *, packed: int | None = None, archive: _Output | None = None
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
                "ARCHIVE_TOO_LARGE", f"member {_show(name)} expands beyond {limits.max_member_size} bytes (max_member_size)"
            )
        if packed is not None and size > limits.ratio_grace and size > limits.max_ratio * max(packed, 1):
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"member {_show(name)} expands more than {limits.max_ratio} times (max_ratio)"
            )
        budget.spend(len(chunk))
        if archive is not None:
            archive.add(len(chunk))
        out.write(chunk)
    return out.getvalue()


class _Output:
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
                "ARCHIVE_TOO_LARGE", f"{_show(self.label)} expands more than {self.limits.max_ratio} times (max_ratio)"
            )


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
            raise DocumentRejected.one("ARCHIVE_TOO_LARGE", f"{_show(self.label)} expands beyond {self.cap} bytes")
        consumed = self._pos - len(self._pending)
        if self._gz and self.size > self.limits.ratio_grace and self.size > self.limits.max_ratio * max(consumed, 1):
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"{_show(self.label)} expands more than {self.limits.max_ratio} times (max_ratio)"
            )
        if self.window is not None:
            self.window -= size
            if self.window < 0:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE", f"{_show(self.label)} has tar headers larger than {_TAR_HEADER_WINDOW} bytes"
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


# -- zip -----------------------------------------------------------------------------------------


def _zip(data: bytes, prefix: str, depth: int, budget: _Budget) -> list[tuple[str, bytes]]:
    limits = budget.limits
    label = prefix.rstrip("/") or "the zip archive"
    # ZipFile builds an object per central-directory entry: count them before it does.
    if data.count(_ZIP_CENTRAL) > budget.entries_left and _central_entries(data) > budget.entries_left:
        raise DocumentRejected.one("ARCHIVE_TOO_LARGE", f"the bundle holds more than {limits.max_members} entries (max_members)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        budget.enter(len(infos))
        wanted: list[tuple[zipfile.ZipInfo, str]] = []
        declared = 0
        for info in infos:
            name = _safe_name(info.orig_filename)
            fmt = stat.S_IFMT(info.external_attr >> 16)
            if info.orig_filename.endswith(("/", "\\")) or fmt == stat.S_IFDIR:
                continue
            if fmt not in (0, stat.S_IFREG):
                what = "a symbolic link" if fmt == stat.S_IFLNK else "a device, fifo or socket"
                raise DocumentRejected.one("ARCHIVE_LINK", f"member {_show(prefix + name)} is {what}")
            if info.flag_bits & 0x41:  # traditional or strong encryption
                raise DocumentRejected.one("ARCHIVE_MALFORMED", f"member {_show(prefix + name)} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise DocumentRejected.one(
                    "ARCHIVE_MALFORMED",
                    f"member {_show(prefix + name)} uses compression method {info.compress_type} (only stored and deflate are read)",
                )
            # fast path on the declared sizes; the reading below checks the real ones again
            if info.file_size > limits.max_member_size:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE",
                    f"member {_show(prefix + name)} declares {info.file_size} bytes; the limit is {limits.max_member_size} (max_member_size)",
                )
            if info.file_size > limits.ratio_grace and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE", f"member {_show(prefix + name)} expands more than {limits.max_ratio} times (max_ratio)"
                )
            if _is_temporary(name):
                continue
            declared += info.file_size
            wanted.append((info, name))
        if budget.total + declared > limits.max_total_size:
            raise DocumentRejected.one(
                "ARCHIVE_TOO_LARGE", f"{_show(label)} declares {declared} bytes; the limit is {limits.max_total_size} (max_total_size)"
            )
        if declared > limits.ratio_grace and declared > limits.max_ratio * len(data):
            raise DocumentRejected.one("ARCHIVE_TOO_LARGE", f"{_show(label)} expands more than {limits.max_ratio} times (max_ratio)")
        output = _Output(len(data), limits, label)
        found: list[tuple[str, bytes]] = []
        for info, name in wanted:
            with archive.open(info) as member:
                content = _read_member(member.read, prefix + name, budget, packed=info.compress_size, archive=output)
            found.extend(_nested(prefix + name, content, depth, budget))
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


# -- tar, tar.gz ---------------------------------------------------------------------------------


def _guarded_tarinfo(stream: _BoundedStream) -> type[tarfile.TarInfo]:
    """A TarInfo class that bounds header parsing and remembers how the archive ended."""

    class GuardedTarInfo(tarfile.TarInfo):
        depth = 0
        ending: str | None = None

        @classmethod
        def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
            info = super().frombuf(buf, encoding, errors)
            if info.type in _TAR_META_TYPES and info.size > _TAR_META_MAX:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE", f"{_show(stream.label)} has a {info.size}-byte tar extended header (limit {_TAR_META_MAX})"
                )
            return info

        @classmethod
        def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
            outer = cls.depth == 0
            if outer:
                stream.window = _TAR_HEADER_WINDOW
            cls.depth += 1
            try:
                return super().fromtarfile(tar)
            except tarfile.EOFHeaderError:
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


def _tar(data: bytes, gz: bool, prefix: str, depth: int, budget: _Budget) -> list[tuple[str, bytes]]:
    limits = budget.limits
    label = prefix.rstrip("/") or ("the tar.gz archive" if gz else "the tar archive")
    cap = limits.max_total_size - budget.total + _TAR_STREAM_SLACK + budget.entries_left * 2 * tarfile.BLOCKSIZE
    stream = _BoundedStream(data, gz=gz, cap=cap, limits=limits, label=label)
    info_class = _guarded_tarinfo(stream)
    found: list[tuple[str, bytes]] = []
    # "r|": a forward-only stream, so tarfile never seeks back nor reads ahead of what it parses
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=info_class, encoding="utf-8", errors="replace") as archive:  # type: ignore[call-overload]
        for info in archive:
            budget.enter(1)
            name = _safe_name(info.name)
            where = _show(prefix + name)
            if info.issym() or info.islnk():
                raise DocumentRejected.one("ARCHIVE_LINK", f"member {where} is a {'symbolic' if info.issym() else 'hard'} link")
            if info.ischr() or info.isblk() or info.isfifo():
                raise DocumentRejected.one("ARCHIVE_LINK", f"member {where} is a device or a fifo")
            if info.isdir():
                continue
            if not info.isreg():
                raise DocumentRejected.one("ARCHIVE_MALFORMED", f"member {where} has unsupported tar type {info.type!r}")
            if info.size > limits.max_member_size:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE",
                    f"member {where} declares {info.size} bytes; the limit is {limits.max_member_size} (max_member_size)",
                )
            if _is_temporary(name):
                continue  # tarfile skips its data, through the stream's limits
            if budget.total + info.size > limits.max_total_size:
                raise DocumentRejected.one(
                    "ARCHIVE_TOO_LARGE", f"{_show(label)} expands beyond {limits.max_total_size} bytes (max_total_size)"
                )
            member = archive.extractfile(info)
            if member is None:  # pragma: no cover - isreg() members always have a file object
                raise DocumentRejected.one("ARCHIVE_MALFORMED", f"member {where} cannot be read")
            content = _read_member(member.read, prefix + name, budget)
            found.extend(_nested(prefix + name, content, depth, budget))
        if info_class.ending != "end-of-archive":  # type: ignore[attr-defined]
            raise DocumentRejected.one("ARCHIVE_MALFORMED", f"{_show(label)} is truncated or has a corrupt header")
    if gz:
        stream.drain()
    return found


# -- single-document gzip ------------------------------------------------------------------------


def _gz(data: bytes, prefix: str, depth: int, budget: _Budget) -> list[tuple[str, bytes]]:
    """A ``.gz`` of one document: a one-member bundle named after the gzip header's name."""
    limits = budget.limits
    budget.enter(1)
    name = _safe_name(_gzip_name(data)) or "member"
    label = prefix + name
    stream = _BoundedStream(data, gz=True, cap=limits.max_member_size + CHUNK, limits=limits, label=label)
    content = _read_member(stream.read, label, budget)
    return _nested(label, content, depth, budget)


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
