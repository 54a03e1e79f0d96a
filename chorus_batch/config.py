"""``chorus-batch.toml``: every key, its type and its default, checked on load.

An unknown key or a value of the wrong type is a ``ConfigError`` that names the key (exit 2).
``docs/configuration.md`` documents the same keys; a test keeps the two in step.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from stdnum.fr import siret

from .domain.habilitations import PROFILES, Partner, Right
from .domain.reconciliation import Tolerance
from .errors import ConfigError

DEFAULT_MAX_FILE_SIZE = 32 * 1024 * 1024
DEFAULT_PARK_DAYS = 30
MAX_FILE_SIZE_BOUND = 2 * 1024 * 1024 * 1024  # a file is read whole into memory
DEFAULT_TOLERANCE_AMOUNT = Decimal("1.00")
DEFAULT_TOLERANCE_PERCENT = Decimal("0")
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux
# Official rule files chorus-batch does not ship: the setting naming their folder, and the
# compiled files that folder must hold (formats.schematron.EN16931_CII / PEPPOL, checked by a test).
RULE_FOLDERS: dict[str, tuple[str, ...]] = {
    "en16931_cii_rules": ("EN16931-CII-validation.xslt",),
    "peppol_rules": tuple(f"PEPPOLBIS-{t}.xslt" for t in ("T01", "T76", "T110", "T114", "T115")),
}

TEMPLATE = """\
# chorus-batch configuration. Every key is optional; the values below are the defaults.
# Reference: docs/configuration.md

# Largest input file accepted, in bytes (bigger files are rejected with FILE_TOO_LARGE).
max_file_size = 33554432

# Days an answer or an issuer change waits for its order (an invoice status for its invoice)
# before it is rejected.
park_days = 30

# Official business rules (EN 16931, BR-FR, Order-X Schematron): findings are warnings;
# true makes fatal findings reject the document.
strict_rules = false

# Close (CLOTURE) an accepted engagement once it is fully invoiced and fully paid.
close_when_paid = false

# Folder of the CEN EN 16931 CII rules (EN16931-CII-validation.xslt, cii/xslt/ of the CEN
# eInvoicing-EN16931 release): run on CII invoices of EN 16931 guidelines other than Factur-X /
# ZUGFeRD 2 (XRechnung...). Absent = those invoices are checked against their XSD only.
# en16931_cii_rules = "/opt/rules/eInvoicing-EN16931/cii/xslt"

# Folder of the compiled Peppol BIS Ordering rules (PEPPOLBIS-T01/T76/T110/T114/T115.xslt): set,
# incoming UBL orders, changes, cancellations and responses are checked against them (10 to 35 ms
# a document). Absent = they are not.
# peppol_rules = "/opt/rules/peppol-ordering/xslt"

# Peer processes that share a big run's lots: each reads and checks a lot, then stores it
# in its turn. Absent = one less than the CPUs (at most 4); 0 = the run's own process alone,
# and the reports of a big store written by one process (not invoices.csv by a helper).
# helpers = 1

[reconciliation]
# An engagement is FULLY_INVOICED when |ordered - invoiced| is within the larger of these
# two tolerances; above it is OVER_INVOICED, below PARTIALLY_INVOICED. Amounts TTC.
tolerance_amount = "1.00"     # in the engagement's currency
tolerance_percent = "0"       # percent of the ordered amount

[watch]
# A file written in place is processed once closed (inotify) or, where the platform gives no
# close event (network shares, polling), once its size and time are unchanged this long.
stable_seconds = 2
# The inbox is also scanned this often (events can be lost; network shares give none).
rescan_seconds = 60
# A file still open for writing this long is taken anyway (a writer that never closes it).
close_timeout_seconds = 600

[routing]
# Recipient SIRETs served by this workspace. Orders to other structures go to A_RECYCLER.
# Absent (or commented out) = every recipient is served.
# served = ["12345678200010"]

# Partners acting through inbox/<name>/ (absent = single tenant: every file acts on every structure).
# [[partners]]
# name = "acme"
# rights = [{ structure = "12345678200010", profile = "modification" },
#           { structure = "98765432100015", profile = "consultation" }]
"""


@dataclass(frozen=True)
class Settings:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    park_days: int = DEFAULT_PARK_DAYS
    served: frozenset[str] | None = None  # None = every recipient served
    partners: dict[str, Partner] = field(default_factory=dict)
    strict_rules: bool = False
    close_when_paid: bool = False
    tolerance_amount: Decimal = DEFAULT_TOLERANCE_AMOUNT
    tolerance_percent: Decimal = DEFAULT_TOLERANCE_PERCENT
    stable_seconds: float = 2.0
    rescan_seconds: float = 60.0
    close_timeout_seconds: float = 600.0
    helpers: int | None = None  # None = one less than the CPUs, at most 4
    busy_timeout_seconds: float = 30.0  # how long a command waits for a store another process writes
    en16931_cii_rules: Path | None = None  # folder of the CEN EN 16931 CII rules (None: not run)
    peppol_rules: Path | None = None  # folder of the Peppol BIS Ordering rules (None: not run)
    source: Path | None = None

    @property
    def tolerance(self) -> Tolerance:
        """The allowed gap between ordered and invoiced amounts for an engagement."""
        return Tolerance(self.tolerance_amount, self.tolerance_percent)

    def serves(self, supplier_id: str) -> bool:
        return self.served is None or supplier_id in self.served

    def partner(self, name: str | None) -> Partner | None:
        """The partner acting through ``inbox/<name>/``. ``None`` (every right) for the inbox root,
        which is the workspace operator's own folder, and for any folder of a single-tenant
        workspace (no partner declared). An undeclared folder gets a partner without rights."""
        if name is None or not self.partners:
            return None
        return self.partners.get(name, Partner(name))  # an undeclared folder has no rights


@dataclass(frozen=True)
class _Key:
    kind: type | tuple[type, ...]
    check: Any = None
    doc: str = ""


_TOP = {
    "max_file_size": _Key(int, lambda v: 1 <= v <= MAX_FILE_SIZE_BOUND, "a number of bytes (1 to 2147483648, 2 GiB)"),
    "park_days": _Key(int, lambda v: 0 <= v <= 3650, "a number of days (0 to 3650)"),
    "routing": _Key(dict, None, "a table ([routing])"),
    "partners": _Key(list, None, "an array of tables ([[partners]])"),
    "strict_rules": _Key(bool, None, "true or false"),
    "close_when_paid": _Key(bool, None, "true or false"),
    "reconciliation": _Key(dict, None, "a table ([reconciliation])"),
    "watch": _Key(dict, None, "a table ([watch])"),
    "helpers": _Key(int, lambda v: 0 <= v <= 16, "a number of processes (0 to 16)"),
    "busy_timeout_seconds": _Key((int, float), lambda v: 1 <= v <= 3600, "a number of seconds (1 to 3600)"),
    **{
        key: _Key(str, lambda v: _is_path(v), f"a folder path (1 to {MAX_PATH_BYTES} bytes, no control character)")
        for key in RULE_FOLDERS
    },
}
_WATCH = {
    "stable_seconds": _Key((int, float), lambda v: 0 <= v <= 3600, "a number of seconds (0 to 3600)"),
    "rescan_seconds": _Key((int, float), lambda v: 1 <= v <= 86400, "a number of seconds (1 to 86400)"),
    "close_timeout_seconds": _Key((int, float), lambda v: 1 <= v <= 86400, "a number of seconds (1 to 86400)"),
}
_RECONCILIATION = {
    "tolerance_amount": _Key(
        (str, int, float),
        lambda v: _is_decimal(v, Decimal(1_000_000_000)),
        'an amount from 0 to 1000000000 with at most 6 decimals, e.g. "1.00"',
    ),
    "tolerance_percent": _Key(
        (str, int, float),
        lambda v: _is_decimal(v, Decimal(100)),
        'a percentage from 0 to 100 with at most 6 decimals, e.g. "0.5"',
    ),
}
_ROUTING = {"served": _Key(list, None, "a list of 14-digit SIRETs")}
_PARTNER = {
    "name": _Key(str, lambda v: _is_folder_name(v), "a folder name (no '/', no control character, at most 255 bytes)"),
    "rights": _Key(list, None, "an array of tables"),
}
_RIGHT = {
    "structure": _Key(str, lambda v: _is_siret_shape(v), "a SIRET (14 digits)"),
    "profile": _Key(str, lambda v: v in PROFILES, "'modification' or 'consultation'"),
    "service": _Key(str, lambda v: _is_text(v), "a string without control characters"),
}


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
    recon = data.get("reconciliation", {})
    _check(recon, _RECONCILIATION, "reconciliation.", path)
    watch = data.get("watch", {})
    _check(watch, _WATCH, "watch.", path)
    served = None
    if "served" in routing:
        served_list = []
        for value in routing["served"]:
            if not isinstance(value, str) or not _is_siret_shape(value):
                raise ConfigError(f"{path}: key 'routing.served': {value!r} is not a SIRET (14 digits)")
            served_list.append(siret.compact(value))
        served = frozenset(served_list)
    return Settings(
        max_file_size=data.get("max_file_size", DEFAULT_MAX_FILE_SIZE),
        park_days=data.get("park_days", DEFAULT_PARK_DAYS),
        served=served,
        partners=_partners(data.get("partners", []), path),
        strict_rules=data.get("strict_rules", False),
        close_when_paid=data.get("close_when_paid", False),
        # str() first: a TOML float like 0.1 becomes the decimal the user wrote, never a binary float
        tolerance_amount=Decimal(str(recon.get("tolerance_amount", DEFAULT_TOLERANCE_AMOUNT))),
        tolerance_percent=Decimal(str(recon.get("tolerance_percent", DEFAULT_TOLERANCE_PERCENT))),
        stable_seconds=float(watch.get("stable_seconds", 2.0)),
        rescan_seconds=float(watch.get("rescan_seconds", 60.0)),
        close_timeout_seconds=float(watch.get("close_timeout_seconds", 600.0)),
        helpers=data.get("helpers"),
        busy_timeout_seconds=float(data.get("busy_timeout_seconds", 30.0)),
        en16931_cii_rules=_rule_folder(data, "en16931_cii_rules", path),
        peppol_rules=_rule_folder(data, "peppol_rules", path),
        source=path,
    )


def _is_decimal(value: str | float, most: Decimal) -> bool:
    """A decimal from 0 to ``most`` with at most 6 decimals (the store keeps millionths)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return False
    if not number.is_finite() or not 0 <= number <= most:
        return False
    exponent = number.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -6


def _is_path(value: str) -> bool:
    return bool(value.strip()) and len(value.encode("utf-8", "surrogatepass")) <= MAX_PATH_BYTES and _is_text(value)


def _rule_folder(data: dict[str, Any], key: str, path: Path) -> Path | None:
    """The folder ``key`` names (relative to the configuration file's folder), checked now: it
    exists and holds every rule file ``RULE_FOLDERS`` lists for it."""
    if key not in data:
        return None
    folder = (path.parent / Path(data[key]).expanduser()).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{path}: key '{key}': {folder} is not a folder")
    missing = [name for name in RULE_FOLDERS[key] if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{path}: key '{key}': {folder} does not hold {', '.join(missing)}")
    return folder


def _is_text(value: str) -> bool:
    """Text an operator can read and type: no control character (NUL, escape, newline...)."""
    return not any(unicodedata.category(c) == "Cc" for c in value)


def _is_folder_name(value: str) -> bool:
    name = value.strip()
    return bool(name) and name not in (".", "..") and "/" not in name and _is_text(name) and len(name.encode()) <= 255


def _is_siret_shape(value: str) -> bool:
    """14 digits once spaces are removed. The check digit is not enforced here: the
    configuration names structures, and documents are checked when they arrive."""
    compact = siret.compact(value)
    return len(compact) == 14 and compact.isdigit()


def _partners(entries: list[Any], path: Path) -> dict[str, Partner]:
    partners: dict[str, Partner] = {}
    for i, entry in enumerate(entries):
        where = f"partners[{i}]."
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: key 'partners[{i}]' must be a table")
        _check(entry, _PARTNER, where, path)
        if "name" not in entry:
            raise ConfigError(f"{path}: key '{where}name' is required")
        rights = []
        for j, right in enumerate(entry.get("rights", [])):
            rwhere = f"{where}rights[{j}]."
            if not isinstance(right, dict):
                raise ConfigError(f"{path}: key '{where}rights[{j}]' must be a table")
            _check(right, _RIGHT, rwhere, path)
            for required in ("structure", "profile"):
                if required not in right:
                    raise ConfigError(f"{path}: key '{rwhere}{required}' is required")
            rights.append(Right(siret.compact(right["structure"]), right["profile"], right.get("service")))
        name = entry["name"].strip()
        if name in partners:
            raise ConfigError(f"{path}: key '{where}name': partner {name!r} is declared twice")
        partners[name] = Partner(name, tuple(rights))
    return partners


def _check(data: dict[str, Any], spec: dict[str, _Key], prefix: str, path: Path) -> None:
    for key, value in data.items():
        if key not in spec:
            raise ConfigError(f"{path}: unknown key '{prefix}{key}'")
        want = spec[key]
        if not isinstance(value, want.kind) or (isinstance(value, bool) and want.kind is int):
            raise ConfigError(f"{path}: key '{prefix}{key}' must be {want.doc}")
        if want.check is not None and not want.check(value):
            raise ConfigError(f"{path}: key '{prefix}{key}' must be {want.doc}")
