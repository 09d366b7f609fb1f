"""The delivery journal: ``serve`` writes each accepted webhook body here before it answers 202.

A table in the state file (its own connection; SQLite WAL lets the engine's
connection write alongside). A delivery is ``pending`` until a worker has
applied it (``done``) or given up (``failed``, with the reason); on start-up
every pending one is processed again, so a crash (even SIGKILL) after the
202 loses nothing. Processing is idempotent, so doing one twice is harmless.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncer.secrets import redact

PENDING = "pending"
DONE = "done"
FAILED = "failed"

_SCHEMA = """
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
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, id);
"""


@dataclass
class Delivery:
    id: int
    source: str
    group: str
    body: bytes
    received: float
    state: str
    attempts: int
    outcome: dict[str, Any] | None
    last_error: str | None


class Deliveries:
    """Thread-safe access to the ``deliveries`` table."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), timeout=30, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed row survives the process being killed.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, source: str, group: str, body: bytes) -> int:
        """Journal one accepted delivery; returns its id (committed when this returns)."""
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO deliveries (source, grp, body, received, updated) VALUES (?, ?, ?, ?, ?)",
                (source, group, body, now, now),
            )
        return int(cursor.lastrowid or 0)

    def get(self, delivery_id: int) -> Delivery | None:
        with self._lock:
            row = self._db.execute(_SELECT + " WHERE id=?", (delivery_id,)).fetchone()
        return _row(row) if row else None

    def pending(self) -> list[Delivery]:
        """Every delivery not yet applied, oldest first."""
        with self._lock:
            rows = self._db.execute(_SELECT + " WHERE state=? ORDER BY id", (PENDING,)).fetchall()
        return [_row(r) for r in rows]

    def count(self, state: str = PENDING) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE state=?", (state,)
            ).fetchone()
        return int(row[0])

    def done(self, delivery_id: int, outcome: dict[str, Any]) -> None:
        self._finish(delivery_id, DONE, outcome, None)

    def failed(self, delivery_id: int, error: str, outcome: dict[str, Any] | None = None) -> None:
        self._finish(delivery_id, FAILED, outcome, error)

    def attempt_failed(self, delivery_id: int, error: str) -> int:
        """Count a failed attempt (the delivery stays pending); returns the attempts so far."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET attempts=attempts+1, last_error=?, updated=? WHERE id=?",
                (redact(error), time.time(), delivery_id),
            )
            row = self._db.execute(
                "SELECT attempts FROM deliveries WHERE id=?", (delivery_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def prune(self, older_than: float) -> int:
        """Forget applied deliveries older than ``older_than`` seconds."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM deliveries WHERE state=? AND updated < ?",
                (DONE, time.time() - older_than),
            )
        return cursor.rowcount

    def _finish(
        self, delivery_id: int, state: str, outcome: dict[str, Any] | None, error: str | None
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET state=?, outcome=?, last_error=COALESCE(?, last_error), "
                "updated=? WHERE id=?",
                (
                    state,
                    json.dumps(outcome, ensure_ascii=False) if outcome is not None else None,
                    redact(error) if error else None,
                    time.time(),
                    delivery_id,
                ),
            )


_SELECT = (
    "SELECT id, source, grp, body, received, state, attempts, outcome, last_error FROM deliveries"
)


def _row(row: Any) -> Delivery:
    return Delivery(
        id=row[0],
        source=row[1],
        group=row[2],
        body=bytes(row[3]),
        received=row[4],
        state=row[5],
        attempts=row[6],
        outcome=json.loads(row[7]) if row[7] else None,
        last_error=row[8],
    )
