"""A real PostgreSQL for the tests that need one: a schema of its own per test, dropped afterwards.

The server comes from ``INCIDENT_SYNCER_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Without one the tests skip,
saying how to enable them; with ``INCIDENT_SYNCER_REQUIRE_PG=1`` (as in
``.ci/run``) a missing server fails them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import pytest

DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class PG:
    """A DSN and a fresh schema on it."""

    dsn: str
    schema: str

    def syncer_keys(self) -> dict[str, str]:
        """The ``[syncer]`` keys of a config that uses this schema as its state."""
        return {"state": self.dsn, "state_schema": self.schema}


def dsn() -> str:
    return os.environ.get("INCIDENT_SYNCER_TEST_PG") or DEFAULT


@cache
def _unreachable() -> str | None:
    try:
        import psycopg

        psycopg.connect(dsn(), connect_timeout=3).close()
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def require() -> str:
    """The DSN, or skip (fail under INCIDENT_SYNCER_REQUIRE_PG=1) when no server answers."""
    problem = _unreachable()
    if problem is not None:
        message = (
            f"no PostgreSQL at {dsn()} ({problem}); set INCIDENT_SYNCER_TEST_PG="
            "postgresql://USER@HOST:PORT/DB to run the PostgreSQL tests"
        )
        if os.environ.get("INCIDENT_SYNCER_REQUIRE_PG") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return dsn()


def drop(pg: PG) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg.schema)))


@pytest.fixture
def pg() -> Iterator[PG]:
    """A schema of this test's own on the test server, dropped when the test ends."""
    here = PG(require(), f"t_{os.getpid()}_{uuid.uuid4().hex[:10]}")
    try:
        yield here
    finally:
        drop(here)
