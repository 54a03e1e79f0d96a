"""Throw-away PostgreSQL databases for the tests that run the store on PostgreSQL.

``postgres_url()`` creates a database ``chorus_test_<random hex>`` on the server at
``127.0.0.1:5432`` (user ``postgres``; ``CHORUS_PG_HOST`` / ``CHORUS_PG_PORT`` override the host
and port) and returns its SQLAlchemy URL (``postgresql+psycopg://...``); the database is dropped
``WITH (FORCE)`` by ``drop_database(url)`` and, as a safety net, when the test process exits.
The ``pg_url`` fixture gives each test its own database and drops it afterwards; import it into a
test module (``from _postgres import pg_url``) to use it there.

When psycopg is not installed or no server answers within 2 s, the calling test is skipped with
the reason — or failed when ``CHORUS_REQUIRE_POSTGRES=1`` (CI, see ``.ci/run``).
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

USER = "postgres"
ADMIN_DB = "postgres"
CONNECT_TIMEOUT = 2  # seconds


def host() -> str:
    return os.environ.get("CHORUS_PG_HOST", "127.0.0.1")


def port() -> int:
    return int(os.environ.get("CHORUS_PG_PORT", "5432"))


def _unavailable(reason: str) -> None:
    """Skip the caller (or fail it when PostgreSQL is mandatory)."""
    if os.environ.get("CHORUS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"CHORUS_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _problem() -> str | None:
    """Why PostgreSQL cannot be used here, or ``None`` (asked once per test process)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]' or 'psycopg[binary]')"
    try:
        with _admin() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server: refused, timeout, auth
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL server answered at {host()}:{port()} as {USER} within {CONNECT_TIMEOUT} s ({first})"
    return None


def _admin() -> Any:
    """An autocommit connection to the maintenance database (CREATE / DROP DATABASE)."""
    import psycopg

    return psycopg.connect(
        host=host(), port=port(), user=USER, dbname=ADMIN_DB, connect_timeout=CONNECT_TIMEOUT, autocommit=True
    )


def url_of(name: str) -> str:
    return f"postgresql+psycopg://{USER}@{host()}:{port()}/{name}"


def postgres_url() -> str:
    """Create an empty throw-away database and return its URL (skip / fail when unavailable).
    Its drop is registered for the end of the test process; ``drop_database`` drops it sooner."""
    problem = _problem()
    if problem is not None:
        _unavailable(problem)
    name = f"chorus_test_{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = url_of(name)
    atexit.register(drop_database, url)
    return url


def drop_database(url: str) -> None:
    """Drop a database made by ``postgres_url`` (idempotent; closes whatever is still connected)."""
    name = url.rsplit("/", 1)[1]
    if not name.startswith("chorus_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    try:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # the server went away: nothing left to clean here
        pass


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped after it."""
    url = postgres_url()
    try:
        yield url
    finally:
        drop_database(url)
