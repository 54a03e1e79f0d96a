"""File names as senders choose them, and the names chorus-batch makes from them.

A name on Linux is up to 255 bytes, any bytes but ``/`` and NUL; Python gives it as a ``str``
in which each byte that is not UTF-8 is a lone surrogate (``surrogateescape``). Two rules:

* **Text form** (``as_text`` / ``from_text``): the one way a name is written where text is
  needed (integration reports, the store, the terminal). A backslash becomes ``\\\\`` and each
  byte that is not UTF-8 becomes ``\\xHH``; every other character is itself. The form is
  reversible, so the store's text leads back to the real file.
* **Fitting** (``fitting``): a name made from a sender's name (an acknowledgement, an archived
  or rejected copy, a claim, an order response) keeps at most ``BASE_MAX`` bytes of it, so that
  what is appended (``.N``, ``.json``, ``.errors.json``) and the temporary name of a write
  (``.NAME.tmp``) stay within the 255-byte limit. A longer name keeps its beginning and its
  extension, with a hash of the whole name between them: the same name is always shortened
  the same way, and two names never meet by being shortened.
"""

from __future__ import annotations

import hashlib
import re

NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, tmpfs)
BASE_MAX = 200  # bytes of a sender's name kept in the names made from it; the rest is room for suffixes
_HASH = 16  # hex digits of the hash that stands for the part cut out
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
_ESCAPED = re.compile(r"\\(\\|x[0-9A-F]{2})")


def as_text(name: str) -> str:
    """The text form of a name given by the system (``surrogateescape``)."""
    if name.isascii() and "\\" not in name:
        return name  # the usual case, as it is
    out = []
    for char in name:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02X}")
        else:
            out.append(char)
    return "".join(out)


def from_text(text: str) -> str:
    """The name (``surrogateescape``) whose text form is ``text``."""
    if "\\" not in text:
        return text
    return _ESCAPED.sub(lambda m: "\\" if m[1] == "\\" else chr(0xDC00 + int(m[1][1:], 16)), text)


def size(name: str) -> int:
    """The name's length in bytes, as the system counts it."""
    return len(name.encode("utf-8", "surrogateescape"))


def fitting(name: str, limit: int = BASE_MAX) -> str:
    """``name`` if it is at most ``limit`` bytes, else its first characters, ``~``, a hash of
    the whole name and its extension (``.xml``), ``limit`` bytes at most."""
    if size(name) <= limit:
        return name
    raw = name.encode("utf-8", "surrogateescape")
    found = _EXTENSION.search(name)
    extension = found[0] if found else ""
    tail = f"~{hashlib.sha256(raw).hexdigest()[:_HASH]}{extension}"
    room = limit - len(tail)
    kept, used = [], 0
    for char in name:
        width = size(char)
        if used + width > room:
            break
        kept.append(char)
        used += width
    return "".join(kept) + tail
