"""The state contract on PostgreSQL (a real server; see tests/pg.py), plus its DSN handling."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import config as config_mod
from syncer.errors import ConfigError, InputError
from syncer.state import open_state
from syncer.state.postgres import PostgresState
from tests.contract.state_suite import Opener, StateContract
from tests.pg import PG


class TestPostgresState(StateContract):
    shared = True

    @pytest.fixture
    def opener(self, pg: PG) -> Opener:
        self.pg = pg

        def open_one(clock: Any = None) -> PostgresState:
            return PostgresState(pg.dsn, schema=pg.schema, pool_size=4, clock=clock)

        return open_one

    def pretend_newer(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.pg.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.schema_migrations VALUES (99, 'from the future', 0)"
                ).format(sql.Identifier(self.pg.schema))
            )


def test_the_dsn_comes_from_the_environment_and_is_never_shown(
    pg: PG, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg.dsn)
    # A password the trust-auth server ignores: it must appear nowhere.
    with_password = urlunsplit(
        parts._replace(
            netloc=f"{parts.username or 'postgres'}:pw-9f8e7d6c@{parts.hostname}:{parts.port or 5432}"
        )
    )
    monkeypatch.setenv("TEST_STATE_URL", with_password)
    config = config_mod.parse(
        {"syncer": {"state_url_env": "TEST_STATE_URL", "state_schema": pg.schema}}, None
    )
    state = open_state(config)
    try:
        assert state.shared and "pw-9f8e7d6c" not in state.describe()
        assert state.describe().startswith("PostgreSQL postgresql://")
        assert f"(schema {pg.schema})" in state.describe()
    finally:
        state.close()


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://app:pw-1234abcd@db/incidents",
        "postgresql://app@db/incidents?password=pw-1234abcd",  # libpq reads it here too
        "postgres://db/incidents?sslmode=require&password=pw-1234abcd",
    ],
)
def test_a_password_in_the_config_file_is_refused_without_echoing_it(dsn: str) -> None:
    with pytest.raises(InputError) as refused:
        config_mod.parse({"syncer": {"state": dsn}}, None)
    assert "pw-1234abcd" not in str(refused.value)
    assert "syncer.state: the DSN holds a password" in str(refused.value)


def test_an_unreachable_server_is_a_clear_error(pg: PG) -> None:
    with pytest.raises(ConfigError) as refused:
        PostgresState("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", schema=pg.schema)
    assert str(refused.value).startswith(
        "cannot open the PostgreSQL state postgresql://nobody@127.0.0.1:1/none (schema "
    )


def test_runners_starting_together_on_a_new_schema_all_open_it(pg: PG) -> None:
    """Eight runners' first start on one new schema: PostgreSQL's CREATE SCHEMA IF NOT EXISTS
    is not safe against a concurrent one (a unique violation), so the creation is serialised."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    together = threading.Barrier(8)

    def start(_: int) -> str:
        together.wait()
        state = PostgresState(pg.dsn, schema=pg.schema, pool_size=2)
        try:
            return state.describe()
        finally:
            state.close()

    for attempt in range(5):  # a fresh schema each time: the race is at its creation
        if attempt:
            from tests.pg import drop

            drop(pg)
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert len(set(pool.map(start, range(8)))) == 1


def test_the_pool_grows_to_the_busiest_setting_plus_four(pg: PG) -> None:
    """As the README says: one connection, up to the largest of serve's workers, the sync's and
    the backfill's concurrency (each may hold an incident lock on a connection), plus four."""
    config = config_mod.parse(
        {
            "syncer": {"state": pg.dsn, "state_schema": pg.schema, "concurrency": 3},
            "serve": {"workers": 7},
            "backfill": {"concurrency": 5},
        },
        None,
    )
    state = open_state(config)
    try:
        assert isinstance(state, PostgresState)
        assert (state._pool.min_size, state._pool.max_size) == (1, 11)
    finally:
        state.close()
