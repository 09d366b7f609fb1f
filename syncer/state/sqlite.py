"""The embedded state (SQLite, WAL): one machine, any number of commands, one ``serve``.

Processes on one machine share the file: SQLite serialises writers, the
per-incident lock is a file lock beside it. ``serve`` takes an exclusive lock
of its own, so a second ``serve`` on the same file refuses to start (its
deliveries would be claimed by both, with no lease to settle it); several
replicas share a PostgreSQL state instead.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

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

# Deliveries as the previous release made them (its state files have no version yet).
_V1_DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    grp TEXT NOT NULL,
    body BLOB NOT NULL,
    received REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    last_error TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, id)
"""

_V2_LEASES = """
ALTER TABLE deliveries ADD COLUMN not_before REAL NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until REAL;
CREATE INDEX deliveries_group ON deliveries (state, grp, id)
"""

# Each group's oldest pending delivery, when no live lease holds it and it is due.
_CLAIMABLE = f"""
SELECT id FROM deliveries d
WHERE state = '{PENDING}'
  AND id = (SELECT MIN(id) FROM deliveries e WHERE e.grp = d.grp AND e.state = '{PENDING}')
  AND (lease_until IS NULL OR lease_until < ?) AND not_before <= ?
ORDER BY id LIMIT ?
"""


def _v1(tx: Database) -> None:
    run_script(tx, tables("REAL") + ";" + _V1_DELIVERIES)


def _v2(tx: Database) -> None:
    """Leases on deliveries; what the previous release kept as key/values gets typed tables."""
    run_script(tx, _V2_LEASES + ";" + typed_tables("REAL"))
    for key, value, updated in tx.query("SELECT key, value, updated FROM kv"):
        data = json.loads(value)
        if key.startswith("ingest:generation:") and isinstance(data, int):
            tx.execute(
                "INSERT INTO alert_groups (grp, generation, updated) VALUES (?, ?, ?)",
                (key.removeprefix("ingest:generation:"), data, updated),
            )
        elif key.startswith("backfill:") and isinstance(data, dict) and "fingerprint" in data:
            tracker, _, incident_id = key.removeprefix("backfill:").rpartition(":")
            tx.execute(
                "INSERT INTO sync_marks (tracker, incident_id, fingerprint, key, url, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    tracker,
                    incident_id,
                    data["fingerprint"],
                    data.get("key"),
                    data.get("url"),
                    updated,
                ),
            )
    tx.execute("DELETE FROM kv WHERE key LIKE 'ingest:generation:%' OR key LIKE 'backfill:%'")


MIGRATIONS: list[Migration] = [
    (1, "refs, journal, key/value, deliveries", _v1),
    (2, "delivery leases, alert groups, sync marks", _v2),
]


class SQLiteDatabase(Database):
    """One connection shared by the process's threads (SQLite serialises writers anyway)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(
            str(path), timeout=30, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed row survives the process being killed.
        self._db.execute("PRAGMA synchronous=NORMAL")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, tuple(args)).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            self._db.executemany(sql, [tuple(r) for r in rows])

    def insert(self, sql: str, args: Sequence[Any]) -> int:
        with self._lock:
            return int(self._db.execute(sql, tuple(args)).lastrowid or 0)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        with self._lock:
            if self._depth:
                yield self
                return
            # IMMEDIATE: take the write lock now, so that a read-then-write cannot interleave.
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SQLiteState(SQLState):
    """The state in one SQLite file (created with its folder if missing)."""

    shared = False

    def __init__(self, path: Path, clock: Now | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        db = SQLiteDatabase(path)
        migrate(db, MIGRATIONS, _version, _record, f"file {path}")
        super().__init__(db, clock)
        # The delivery journal on a connection of its own: accepting is never queued behind
        # the engine's writes in this process.
        self._deliveries_db = SQLiteDatabase(path)
        self.deliveries = SQLDeliveries(self._deliveries_db, _CLAIMABLE, clock)
        self._incident_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._serve_lock: FileLock | None = None

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    def close(self) -> None:
        self.release_serve()
        self._deliveries_db.close()
        super().close()

    @contextmanager
    def incident_lock(self, key: str) -> Iterator[None]:
        with self._locks_lock:
            lock = self._incident_locks.setdefault(key, threading.Lock())
        lock_dir = self.path.parent / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with lock, FileLock(str(lock_dir / f"{key}.lock")):
            yield

    def reserve_serve(self) -> None:
        if self._serve_lock is not None:
            return
        lock = FileLock(str(self.path) + ".serve.lock", timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise ConfigError(
                f"another `incident-syncer serve` is already running on the state file "
                f"{self.path}: run one serve per SQLite state file, or let several replicas "
                'share a PostgreSQL state ([syncer] state = "postgresql://..." or state_url_env; '
                "see README, Running several replicas)"
            ) from None
        self._serve_lock = lock
        # Whoever claimed deliveries before is gone (the lock was free): no lease to wait out.
        self._deliveries_db.execute(
            "UPDATE deliveries SET claimed_by=NULL, lease_until=NULL WHERE state=?", (PENDING,)
        )

    def release_serve(self) -> None:
        if self._serve_lock is not None:
            self._serve_lock.release()
            self._serve_lock = None


def _version(tx: Database) -> int:
    return int(tx.query("PRAGMA user_version")[0][0])


def _record(tx: Database, version: int, _what: str) -> None:
    tx.execute(f"PRAGMA user_version = {int(version)}")
