"""Where the ``../shared`` reference material lives (official schemas, real-world samples).

Imported by tests as ``from _shared import shared_dir`` (tests/ is on sys.path: ``pythonpath``
in pyproject.toml). ``CHORUS_SHARED`` overrides the location (the one variable every test reads
for it); when the folder is missing the calling test is skipped, or failed if
``CHORUS_REQUIRE_SHARED=1`` (CI). ``shared_if_present`` serves the optional checks (a test that
also runs without the folder, and checks more with it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]  # this file stays at tests/ (the test files may move)


def shared_location() -> Path:
    """The configured location, whether or not it exists (for collection-time discovery)."""
    configured = os.environ.get("CHORUS_SHARED")
    return Path(configured) if configured else REPO.parent / "shared"


def shared_dir() -> Path:
    """The shared folder; skip the caller if it is absent (fail if CHORUS_REQUIRE_SHARED=1)."""
    location = shared_location()
    if location.is_dir():
        return location
    reason = (
        f"shared reference folder not found at {location} "
        "(set CHORUS_SHARED to its path; official UBL schemas and samples live there)"
    )
    if _required():
        pytest.fail(f"CHORUS_REQUIRE_SHARED=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def shared_if_present() -> Path | None:
    """The shared folder for an optional check, ``None`` when it is absent; under
    ``CHORUS_REQUIRE_SHARED=1`` an absent folder fails the caller instead."""
    return shared_dir() if shared_location().is_dir() or _required() else None


def _required() -> bool:
    return os.environ.get("CHORUS_REQUIRE_SHARED") == "1"


def sample_xml(path: Path) -> bytes | None:
    """The XML of a sample: the file itself, or the XML a PDF embeds (``None`` when it has none)."""
    data = path.read_bytes()
    if data.startswith(b"%PDF"):
        from facturx import get_xml_from_pdf

        try:
            _name, xml = get_xml_from_pdf(data, check_xsd=False)
        except Exception:  # any PDF facturx cannot read: no XML to judge
            return None
        return xml or None
    return data
