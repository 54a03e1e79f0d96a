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

This module recognises a bundle and flattens nested archives; ``reading`` holds the limits and
the bounded reading every reader shares, ``zips`` reads zip files and ``tars`` tar, tar.gz and
gz streams.
"""

from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib

from ...errors import DocumentRejected
from . import tars, zips
from .reading import Budget, Limits, show

__all__ = ["Limits", "kind_of", "members"]

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


def kind_of(head: bytes) -> str | None:
    """``"zip"``, ``"tar"``, ``"tar.gz"``, ``"gz"`` (one gzipped document) or ``None``.

    ``head`` is the start of the file (64 KiB is plenty; the whole file is fine, only what is
    needed is looked at). A gzip stream is a ``tar.gz`` when its first inflated 512-byte block
    is a tar header (or the all-zero block of an empty tar). Never raises.
    """
    if head.startswith(zips.ZIP_MAGICS):
        return "zip"
    if head.startswith(tars.GZIP_MAGIC):
        block = tars.inflate_head(head, tarfile.BLOCKSIZE)
        if len(block) == tarfile.BLOCKSIZE and (not any(block) or tars.is_tar_header(block, need_magic=False)):
            return "tar.gz"
        return "gz"
    if tars.is_tar_header(head[: tarfile.BLOCKSIZE], need_magic=True):
        return "tar"
    return None


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
    found = _expand(data, kind, "", 0, Budget(limits or Limits()))
    if not found:
        raise DocumentRejected.one("FILE_EMPTY", "the bundle holds no document (only folders or temporary names)")
    return found


def _expand(data: bytes, kind: str, prefix: str, depth: int, budget: Budget) -> list[tuple[str, bytes]]:
    label = prefix.rstrip("/") or "the bundle"

    def nested(name: str, content: bytes) -> list[tuple[str, bytes]]:
        return _nested(name, content, depth, budget)

    try:
        if kind == "zip":
            return zips.read_zip(data, prefix, budget, nested)
        if kind == "gz":
            return tars.read_gz(data, prefix, budget, nested)
        return tars.read_tar(data, kind == "tar.gz", prefix, budget, nested)
    except DocumentRejected:
        raise
    except _CORRUPT as exc:
        raise DocumentRejected.one(
            "ARCHIVE_MALFORMED", f"{show(label)} is corrupt or truncated ({_why(exc)})"
        ) from None


def _nested(name: str, content: bytes, depth: int, budget: Budget) -> list[tuple[str, bytes]]:
    """``content`` itself, or the flattened members when it is an archive (and nesting allows)."""
    kind = kind_of(content)
    if kind is None:
        return [(name, content)]
    if depth >= budget.limits.max_depth:
        raise DocumentRejected.one(
            "ARCHIVE_NESTED",
            f"member {show(name)} is an archive nested more than {budget.limits.max_depth} level(s) deep (max_depth)",
        )
    return _expand(content, kind, name + "/", depth + 1, budget)


def _why(exc: BaseException) -> str:
    """The reader's own wording (library messages, never member content), shortened."""
    text = str(exc) if isinstance(exc, (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError)) else ""
    return type(exc).__name__ + (f": {ascii(text[:100])[1:-1]}" if text else "")
