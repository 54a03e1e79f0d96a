"""Where the ``../shared`` reference material lives (official schemas, real-world samples).

Imported by tests as ``from _shared import shared_dir`` (tests/ is on sys.path under pytest's
default "prepend" import mode). ``CHORUS_SHARED`` overrides the location; when the folder is
missing the calling test is skipped, or failed if ``CHORUS_REQUIRE_SHARED=1`` (CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
    if os.environ.get("CHORUS_REQUIRE_SHARED") == "1":
        pytest.fail(f"CHORUS_REQUIRE_SHARED=1 but {reason}", pytrace=False)
    pytest.skip(reason)
