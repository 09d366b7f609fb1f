"""The local state store (SQLite): a cache of where incidents live, and the journal.

Correctness never depends on this file: the trackers hold markers. The ref
cache saves lookups; the journal keeps what a tracker still needs after a
failure (or a crash) so that the next run or ``retry`` finishes it.
Deleting the file changes nothing but call counts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from syncer.secrets import redact

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refs (
    tracker TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    key TEXT NOT NULL,
    url TEXT NOT NULL,
    native TEXT NOT NULL,
    PRIMARY KEY (tracker, incident_id)
);
CREATE TABLE IF NOT EXISTS journal (
    tracker TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    command TEXT NOT NULL,
    incident TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (tracker, incident_id)
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated REAL NOT NULL
);
"""


@dataclass
class Pending:
    """One journal entry: ``incident`` (JSON data) still needs a sync on ``tracker``."""

    tracker: str
    incident_id: str
    command: str
    incident: dict[str, Any]
    options: dict[str, Any]
    attempts: int
    last_error: str | None
    created: float
    updated: float


class State:
    """Thread-safe access to the state file; several processes may share it (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), timeout=30, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._incident_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Refs cache.

    def get_ref(self, tracker: str, incident_id: str) -> tuple[str, str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, url, native FROM refs WHERE tracker=? AND incident_id=?",
                (tracker, incident_id),
            ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def put_ref(self, tracker: str, incident_id: str, key: str, url: str, native: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO refs VALUES (?, ?, ?, ?, ?)",
                (tracker, incident_id, key, url, native),
            )

    def drop_ref(self, tracker: str, incident_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM refs WHERE tracker=? AND incident_id=?", (tracker, incident_id)
            )

    # Journal.

    def journal_put(
        self,
        tracker: str,
        incident_id: str,
        command: str,
        incident: dict[str, Any],
        options: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                """INSERT INTO journal (tracker, incident_id, command, incident, options,
                                        attempts, last_error, created, updated)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (tracker, incident_id) DO UPDATE SET
                     command=excluded.command, incident=excluded.incident, options=excluded.options,
                     attempts=journal.attempts + excluded.attempts,
                     last_error=excluded.last_error, updated=excluded.updated""",
                (
                    tracker,
                    incident_id,
                    command,
                    json.dumps(incident, ensure_ascii=False),
                    json.dumps(options or {}),
                    1 if error else 0,
                    redact(error) if error else None,
                    now,
                    now,
                ),
            )

    def journal_put_many(
        self, entries: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]]
    ) -> None:
        """Record many (tracker, incident_id, command, incident, options) as pending, in one transaction."""
        now = time.time()
        rows = [
            (
                tracker,
                incident_id,
                command,
                json.dumps(incident, ensure_ascii=False),
                json.dumps(options),
                now,
                now,
            )
            for tracker, incident_id, command, incident, options in entries
        ]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    """INSERT INTO journal (tracker, incident_id, command, incident, options,
                                            attempts, last_error, created, updated)
                       VALUES (?, ?, ?, ?, ?, 0, NULL, ?, ?)
                       ON CONFLICT (tracker, incident_id) DO UPDATE SET
                         command=excluded.command, incident=excluded.incident,
                         options=excluded.options, updated=excluded.updated""",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def journal_done(self, tracker: str, incident_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM journal WHERE tracker=? AND incident_id=?", (tracker, incident_id)
            )

    def journal(self, tracker: str | None = None) -> list[Pending]:
        query = "SELECT tracker, incident_id, command, incident, options, attempts, last_error, created, updated FROM journal"
        args: tuple[Any, ...] = ()
        if tracker:
            query += " WHERE tracker=?"
            args = (tracker,)
        with self._lock:
            rows = self._db.execute(
                query + " ORDER BY created, incident_id, tracker", args
            ).fetchall()
        return [
            Pending(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5], r[6], r[7], r[8])
            for r in rows
        ]

    # Small key/value store (ingest bookkeeping and the like).

    def kv_get(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def kv_put(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, json.dumps(value), time.time())
            )

    # Serialising work on one incident: across threads, and across processes sharing the file.

    @contextmanager
    def incident_lock(self, incident_id: str) -> Iterator[None]:
        with self._lock:
            lock = self._incident_locks.setdefault(incident_id, threading.Lock())
        lock_dir = self.path.parent / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with lock, FileLock(str(lock_dir / f"{incident_id}.lock")):
            yield
