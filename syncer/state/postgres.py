"""The shared state (PostgreSQL, psycopg 3 with a small pool): several replicas, several runners.

* Per-incident serialisation across machines: a transaction-scoped advisory
  lock (``pg_advisory_xact_lock``) on a pooled connection held for the whole
  sync; a lock taken while the same thread already holds one joins that
  transaction (an alert group's lock, then its incident's), so a thread never
  needs two connections. A process that dies loses its connection and with it
  the lock.
* Deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` under a lease.
* Versioned migrations in ``schema_migrations``, applied at start-up under an
  advisory lock, so replicas starting together apply each one once.

The DSN may carry a password only through the environment (``state_url_env``);
messages show it without one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from syncer import secrets
from syncer.errors import ConfigError
from syncer.state.base import PENDING
from syncer.state.sql import (
    Database,
    Migration,
    Now,
    Row,
    SQLDeliveries,
    SQLState,
    migrate,
    run_script,
    tables,
    typed_tables,
)

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

_DELIVERIES = """
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    grp TEXT NOT NULL,
    body BYTEA NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    last_error TEXT,
    updated DOUBLE PRECISION NOT NULL,
    not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION
);
CREATE INDEX deliveries_group ON deliveries (state, grp, id)
"""

# Each group's oldest pending delivery, when no live lease holds it and it is due; rows another
# replica is claiming right now are skipped, not waited for.
_CLAIMABLE = f"""
SELECT d.id FROM deliveries d
JOIN (SELECT DISTINCT ON (grp) id FROM deliveries WHERE state = '{PENDING}' ORDER BY grp, id) h
  ON h.id = d.id
WHERE d.state = '{PENDING}' AND (d.lease_until IS NULL OR d.lease_until < ?)
  AND d.not_before <= ?
ORDER BY d.id LIMIT ?
FOR UPDATE OF d SKIP LOCKED
"""


def _v1(tx: Database) -> None:
    real = "DOUBLE PRECISION"
    run_script(tx, ";".join((tables(real), typed_tables(real), _DELIVERIES)))


MIGRATIONS: list[Migration] = [
    (1, "refs, journal, key/values, alert groups, sync marks, deliveries with leases", _v1),
]


@lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the shared SQL has no literal ``%`` or ``?``)."""
    return sql.replace("?", "%s")


class PostgresDatabase(Database):
    """Statements on pooled autocommit connections; a transaction keeps one for its thread."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool
        self._local = threading.local()

    @contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        held = getattr(self._local, "tx", None)
        if held is not None:
            yield held
            return
        with self.pool.connection() as conn:
            yield conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._connection() as conn:
            cursor = conn.execute(_pg(sql), tuple(args))
            return cursor.fetchall() if cursor.description else []

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._connection() as conn:
            return conn.execute(_pg(sql), tuple(args)).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(_pg(sql), [tuple(r) for r in rows])

    def insert(self, sql: str, args: Sequence[Any]) -> int:
        return int(self.query(sql + " RETURNING id", args)[0][0])

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """The rows in one pipelined round trip and one commit (serve's group commit)."""
        if not rows:
            return []
        with self.transaction(), self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(_pg(sql + " RETURNING id"), [tuple(r) for r in rows], returning=True)
            ids = []
            while True:
                ids.append(int(cursor.fetchone()[0]))  # type: ignore[index]
                if not cursor.nextset():
                    return ids

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        if getattr(self._local, "tx", None) is not None:
            yield self
            return
        with self.pool.connection() as conn, conn.transaction():
            self._local.tx = conn
            try:
                yield self
            finally:
                self._local.tx = None

    def close(self) -> None:
        self.pool.close()


class PostgresState(SQLState):
    """The state in one PostgreSQL schema, shared by every process that names it."""

    shared = True

    def __init__(
        self, dsn: str, *, schema: str, pool_size: int = 8, clock: Now | None = None
    ) -> None:
        try:
            import psycopg
            from psycopg import conninfo, sql
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise ConfigError(
                "a PostgreSQL state needs psycopg: pip install 'incident-syncer[postgresql]'",
                field="syncer.state",
            ) from None
        try:
            params = conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise ConfigError(
                "the PostgreSQL state DSN does not parse (a postgresql:// URL or key=value pairs)",
                field="syncer.state",
            ) from None
        password = params.get("password")
        if password:
            secrets.remember(str(password))
        secrets.remember(dsn)
        self.schema = schema
        self._where = (
            f"postgresql://{params.get('user') or ''}@{params.get('host') or 'localhost'}"
            f":{params.get('port') or 5432}/{params.get('dbname') or ''} (schema {schema})"
        )
        search_path = sql.SQL("SET search_path TO {}").format(sql.Identifier(schema))

        def configure(conn: Connection[Any]) -> None:
            conn.execute(search_path)

        try:
            with (
                psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn,
                conn.transaction(),
            ):
                # Runners starting together: CREATE SCHEMA IF NOT EXISTS alone races (one of
                # them fails on a unique violation), so they take turns.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"incident-syncer:{schema}:create",),
                )
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot open the PostgreSQL state {self._where}: "
                + secrets.redact(str(exc)).strip().replace("\n", " ")
            ) from None
        pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(2, pool_size),
            kwargs={"autocommit": True},
            configure=configure,
            name="incident-syncer-state",
            open=True,
        )
        db = PostgresDatabase(pool)
        try:
            migrate(db, MIGRATIONS, self._version, self._record, self._where)
        except psycopg.Error as exc:
            pool.close()
            raise ConfigError(
                f"cannot prepare the PostgreSQL state {self._where}: "
                + secrets.redact(str(exc)).strip().replace("\n", " ")
            ) from None
        except BaseException:
            pool.close()
            raise
        super().__init__(db, clock)
        self.deliveries = SQLDeliveries(db, _CLAIMABLE, clock)
        self._pool = pool
        self._local = threading.local()

    def describe(self) -> str:
        return f"PostgreSQL {self._where}"

    def _version(self, tx: Database) -> int:
        tx.query("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (self._key("migrate"),))
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)"
        )
        return int(tx.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0])

    @staticmethod
    def _record(tx: Database, version: int, what: str) -> None:
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied) "
            "VALUES (?, ?, EXTRACT(EPOCH FROM now()))",
            (version, what),
        )

    def _key(self, name: str) -> str:
        return f"incident-syncer:{self.schema}:{name}"

    @contextmanager
    def incident_lock(self, key: str) -> Iterator[None]:
        lock = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
        held: Connection[Any] | None = getattr(self._local, "lock", None)
        if held is not None:  # released with the outer lock, at the end of its transaction
            held.execute(lock, (self._key(key),))
            yield
            return
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(lock, (self._key(key),))
            self._local.lock = conn
            try:
                yield
            finally:
                self._local.lock = None

    def reserve_serve(self) -> None:
        """Any number of replicas may serve from one PostgreSQL state."""

    def release_serve(self) -> None:
        """Nothing to release."""
