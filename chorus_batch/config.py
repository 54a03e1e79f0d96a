"""``chorus-batch.toml``: every key, its type and its default, checked on load.

An unknown key or a value of the wrong type is a ``ConfigError`` that names the key (exit 2).
``docs/configuration.md`` documents the same keys; a test keeps the two in step.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stdnum.fr import siret

from .errors import ConfigError

DEFAULT_MAX_FILE_SIZE = 32 * 1024 * 1024

TEMPLATE = """\
# chorus-batch configuration. Every key is optional; the values below are the defaults.
# Reference: docs/configuration.md

# Largest input file accepted, in bytes (bigger files are rejected with FILE_TOO_LARGE).
max_file_size = 33554432

[routing]
# Recipient SIRETs served by this workspace. Orders to other structures go to A_RECYCLER.
# Absent (or commented out) = every recipient is served.
# served = ["12345678200010"]
"""


@dataclass(frozen=True)
class Settings:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    served: frozenset[str] | None = None  # None = every recipient served
    source: Path | None = None

    def serves(self, supplier_id: str) -> bool:
        return self.served is None or supplier_id in self.served


@dataclass(frozen=True)
class _Key:
    kind: type
    check: Any = None
    doc: str = ""


_TOP = {"max_file_size": _Key(int, lambda v: v > 0, "a positive number of bytes"), "routing": _Key(dict)}
_ROUTING = {"served": _Key(list, None, "a list of 14-digit SIRETs")}


def load(path: Path | None) -> Settings:
    """Read and check the configuration; a missing file gives the defaults."""
    if path is None or not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    _check(data, _TOP, "", path)
    routing = data.get("routing", {})
    _check(routing, _ROUTING, "routing.", path)
    served = None
    if "served" in routing:
        served_list = []
        for value in routing["served"]:
            if not isinstance(value, str) or not siret.is_valid(value):
                raise ConfigError(f"{path}: key 'routing.served': {value!r} is not a valid SIRET")
            served_list.append(siret.compact(value))
        served = frozenset(served_list)
    return Settings(max_file_size=data.get("max_file_size", DEFAULT_MAX_FILE_SIZE), served=served, source=path)


def _check(data: dict[str, Any], spec: dict[str, _Key], prefix: str, path: Path) -> None:
    for key, value in data.items():
        if key not in spec:
            raise ConfigError(f"{path}: unknown key '{prefix}{key}'")
        want = spec[key]
        if not isinstance(value, want.kind) or isinstance(value, bool) and want.kind is int:
            raise ConfigError(f"{path}: key '{prefix}{key}' must be {want.doc or want.kind.__name__}")
        if want.check is not None and not want.check(value):
            raise ConfigError(f"{path}: key '{prefix}{key}' must be {want.doc}")
