"""The state protocol over SQL, written once: SQLite and PostgreSQL differ only below :class:`Database`.

Statements use ``?`` placeholders and portable SQL (``ON CONFLICT`` upserts,
no ``RETURNING``); each backend supplies a :class:`Database` (connections,
transactions, placeholder style), its schema migrations, the query that
picks claimable deliveries, and its per-incident lock.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from syncer.errors import ConfigError
from syncer.secrets import redact
from syncer.state.base import DONE, FAILED, PENDING, Delivery, DeliveryJournal, Pending, SyncMark

# Seconds since the epoch; injected by tests (leases, retries later) instead of time.time.
Now = Callable[[], float]
Row = tuple[Any, ...]


class Database(ABC):
    """A source of connections speaking ``?``-placeholder SQL; thread-safe."""

    @abstractmethod
    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement (committed unless inside :meth:`transaction`); the row count."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def insert(self, sql: str, args: Sequence[Any]) -> int:
        """Run one INSERT into a table with an ``id`` key; the new id."""

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Run one INSERT per row (in one transaction); the new ids in order."""
        with self.transaction() as tx:
            return [tx.insert(sql, row) for row in rows]

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Database]:
        """A transaction (writers serialised where the backend needs it); commits on success."""

    @abstractmethod
    def close(self) -> None: ...


Migration = tuple[int, str, Callable[[Database], None]]


def tables(real: str) -> str:
    """The tables both backends share, in their dialect's float type (``IF NOT EXISTS``)."""
    return f"""
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
    options TEXT NOT NULL DEFAULT '{{}}',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created {real} NOT NULL,
    updated {real} NOT NULL,
    PRIMARY KEY (tracker, incident_id)
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated {real} NOT NULL
)
"""


def typed_tables(real: str) -> str:
    """The alert groups' generations and the backfill's sync marks."""
    return f"""
CREATE TABLE alert_groups (
    grp TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    updated {real} NOT NULL
);
CREATE TABLE sync_marks (
    tracker TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    key TEXT,
    url TEXT,
    updated {real} NOT NULL,
    PRIMARY KEY (tracker, incident_id)
)
"""


def run_script(tx: Database, script: str) -> None:
    """Each ``;``-separated statement of ``script`` (no ``;`` inside one)."""
    for statement in script.split(";"):
        if statement.strip():
            tx.execute(statement)


def migrate(
    db: Database,
    migrations: Sequence[Migration],
    version: Callable[[Database], int],
    record: Callable[[Database, int, str], None],
    where: str,
) -> None:
    """Apply the migrations the state lacks, in order, each in a transaction of its own.

    ``version`` reads the state's schema version inside that transaction (after
    taking whatever lock serialises start-ups), so replicas starting together
    apply each migration once; ``record`` notes it in the same transaction. A
    state written by a newer release is refused rather than misread.
    """
    newest = migrations[-1][0]
    for number, what, apply in migrations:
        with db.transaction() as tx:
            current = version(tx)
            if current > newest:
                raise ConfigError(
                    f"the state {where} has schema version {current}, newer than this release "
                    f"of incident-syncer knows ({newest}); upgrade incident-syncer"
                )
            if current < number:
                apply(tx)
                record(tx, number, what)


_PENDING_COLUMNS = (
    "tracker, incident_id, command, incident, options, attempts, last_error, created, updated"
)


class SQLState:
    """Refs, journal, group generations and sync marks over one :class:`Database`."""

    deliveries: DeliveryJournal

    def __init__(self, db: Database, clock: Now | None = None) -> None:
        self._db = db
        self._clock = clock or time.time

    def close(self) -> None:
        self._db.close()

    # Refs cache.

    def get_ref(self, tracker: str, incident_id: str) -> tuple[str, str, str] | None:
        rows = self._db.query(
            "SELECT key, url, native FROM refs WHERE tracker=? AND incident_id=?",
            (tracker, incident_id),
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def put_ref(self, tracker: str, incident_id: str, key: str, url: str, native: str) -> None:
        self._db.execute(
            "INSERT INTO refs (tracker, incident_id, key, url, native) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tracker, incident_id) DO UPDATE SET "
            "key=excluded.key, url=excluded.url, native=excluded.native",
            (tracker, incident_id, key, url, native),
        )

    def drop_ref(self, tracker: str, incident_id: str) -> None:
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
        now = self._clock()
        self._db.execute(
            f"""INSERT INTO journal ({_PENDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        self, entries: Sequence[tuple[str, str, str, dict[str, Any], dict[str, Any]]]
    ) -> None:
        if not entries:
            return
        now = self._clock()
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
        with self._db.transaction() as tx:
            tx.executemany(
                f"""INSERT INTO journal ({_PENDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, NULL, ?, ?)
                   ON CONFLICT (tracker, incident_id) DO UPDATE SET
                     command=excluded.command, incident=excluded.incident,
                     options=excluded.options, updated=excluded.updated""",
                rows,
            )

    def journal_done(self, tracker: str, incident_id: str) -> None:
        self._db.execute(
            "DELETE FROM journal WHERE tracker=? AND incident_id=?", (tracker, incident_id)
        )

    def journal(self, tracker: str | None = None) -> list[Pending]:
        query = f"SELECT {_PENDING_COLUMNS} FROM journal"
        args: tuple[Any, ...] = ()
        if tracker:
            query += " WHERE tracker=?"
            args = (tracker,)
        rows = self._db.query(query + " ORDER BY created, incident_id, tracker", args)
        return [
            Pending(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5], r[6], r[7], r[8])
            for r in rows
        ]

    # Small JSON values other parts keep (a channel's record of what it sent, say).

    def kv_get(self, key: str) -> Any:
        rows = self._db.query("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def kv_put(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO kv (key, value, updated) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value, updated=excluded.updated",
            (key, json.dumps(value, ensure_ascii=False), self._clock()),
        )

    # Alert groups and backfill marks.

    def group_generation(self, group: str) -> int | None:
        rows = self._db.query("SELECT generation FROM alert_groups WHERE grp=?", (group,))
        return int(rows[0][0]) if rows else None

    def set_group_generation(self, group: str, generation: int) -> None:
        self._db.execute(
            "INSERT INTO alert_groups (grp, generation, updated) VALUES (?, ?, ?) "
            "ON CONFLICT (grp) DO UPDATE SET generation=excluded.generation, "
            "updated=excluded.updated",
            (group, generation, self._clock()),
        )

    def sync_mark(self, tracker: str, incident_id: str) -> SyncMark | None:
        rows = self._db.query(
            "SELECT fingerprint, key, url FROM sync_marks WHERE tracker=? AND incident_id=?",
            (tracker, incident_id),
        )
        return SyncMark(rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def put_sync_mark(self, tracker: str, incident_id: str, mark: SyncMark) -> None:
        self._db.execute(
            "INSERT INTO sync_marks (tracker, incident_id, fingerprint, key, url, updated) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tracker, incident_id) DO UPDATE SET "
            "fingerprint=excluded.fingerprint, key=excluded.key, url=excluded.url, "
            "updated=excluded.updated",
            (tracker, incident_id, mark.fingerprint, mark.key, mark.url, self._clock()),
        )


_DELIVERY_COLUMNS = (
    "id, source, grp, body, received, state, attempts, outcome, last_error, updated, "
    "not_before, claimed_by, lease_until"
)
_OWNED = " AND (CAST(? AS TEXT) IS NULL OR claimed_by = ?)"


class SQLDeliveries:
    """The delivery journal over one :class:`Database`; ``claimable`` is the backend's query.

    ``claimable`` selects the ids that may be claimed now, given ``(now, now,
    limit)``: each group's oldest pending delivery, not under a live lease,
    due; PostgreSQL adds ``FOR UPDATE SKIP LOCKED``.
    """

    def __init__(self, db: Database, claimable: str, clock: Now | None = None) -> None:
        self._db = db
        self._claimable = claimable
        self._clock = clock or time.time

    def add(self, source: str, group: str, body: bytes) -> int:
        now = self._clock()
        return self._db.insert(
            "INSERT INTO deliveries (source, grp, body, received, updated) VALUES (?, ?, ?, ?, ?)",
            (source, group, body, now, now),
        )

    def add_many(self, items: Sequence[tuple[str, str, bytes]]) -> list[int]:
        now = self._clock()
        return self._db.insert_many(
            "INSERT INTO deliveries (source, grp, body, received, updated) VALUES (?, ?, ?, ?, ?)",
            [(source, group, body, now, now) for source, group, body in items],
        )

    def get(self, delivery_id: int) -> Delivery | None:
        rows = self._db.query(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id=?", (delivery_id,)
        )
        return _delivery(rows[0]) if rows else None

    def claim(self, owner: str, limit: int, lease: float) -> list[Delivery]:
        if limit <= 0:
            return []
        now = self._clock()
        with self._db.transaction() as tx:
            ids = [int(r[0]) for r in tx.query(self._claimable, (now, now, limit))]
            if not ids:
                return []
            marks = ", ".join("?" for _ in ids)
            tx.execute(
                f"UPDATE deliveries SET claimed_by=?, lease_until=? WHERE id IN ({marks})",
                (owner, now + lease, *ids),
            )
            rows = tx.query(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id IN ({marks}) ORDER BY id",
                ids,
            )
        return [_delivery(r) for r in rows]

    def renew(self, owner: str, ids: Sequence[int], lease: float) -> list[int]:
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        with self._db.transaction() as tx:
            tx.execute(
                f"UPDATE deliveries SET lease_until=? WHERE claimed_by=? AND state=? "
                f"AND id IN ({marks})",
                (self._clock() + lease, owner, PENDING, *ids),
            )
            rows = tx.query(
                f"SELECT id FROM deliveries WHERE claimed_by=? AND state=? AND id IN ({marks})",
                (owner, PENDING, *ids),
            )
        return sorted(int(r[0]) for r in rows)

    def release(self, owner: str) -> int:
        return self._db.execute(
            "UPDATE deliveries SET claimed_by=NULL, lease_until=NULL WHERE claimed_by=? AND state=?",
            (owner, PENDING),
        )

    def done(self, delivery_id: int, outcome: dict[str, Any], owner: str | None = None) -> bool:
        return self._finish(delivery_id, DONE, outcome, None, owner)

    def failed(
        self,
        delivery_id: int,
        error: str,
        outcome: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> bool:
        return self._finish(delivery_id, FAILED, outcome, error, owner)

    def attempt_failed(
        self, delivery_id: int, error: str, retry_in: float = 0.0, owner: str | None = None
    ) -> int:
        now = self._clock()
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE deliveries SET attempts=attempts+1, last_error=?, updated=?, "
                "not_before=?, claimed_by=NULL, lease_until=NULL WHERE id=? AND state=?" + _OWNED,
                (redact(error), now, now + retry_in, delivery_id, PENDING, owner, owner),
            )
            rows = tx.query("SELECT attempts FROM deliveries WHERE id=?", (delivery_id,))
        return int(rows[0][0]) if rows else 0

    def pending(self) -> list[Delivery]:
        return self._list(PENDING)

    def failures(self) -> list[Delivery]:
        return self._list(FAILED)

    def count(self, state: str = PENDING) -> int:
        rows = self._db.query("SELECT COUNT(*) FROM deliveries WHERE state=?", (state,))
        return int(rows[0][0])

    def prune(self, older_than: float) -> int:
        return self._db.execute(
            "DELETE FROM deliveries WHERE state=? AND updated < ?",
            (DONE, self._clock() - older_than),
        )

    def _list(self, state: str) -> list[Delivery]:
        rows = self._db.query(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state=? ORDER BY id", (state,)
        )
        return [_delivery(r) for r in rows]

    def _finish(
        self,
        delivery_id: int,
        state: str,
        outcome: dict[str, Any] | None,
        error: str | None,
        owner: str | None,
    ) -> bool:
        changed = self._db.execute(
            "UPDATE deliveries SET state=?, outcome=?, last_error=COALESCE(?, last_error), "
            "attempts=attempts+?, updated=?, claimed_by=NULL, lease_until=NULL "
            "WHERE id=? AND state=?" + _OWNED,
            (
                state,
                json.dumps(outcome, ensure_ascii=False) if outcome is not None else None,
                redact(error) if error else None,
                1 if state == FAILED else 0,
                self._clock(),
                delivery_id,
                PENDING,
                owner,
                owner,
            ),
        )
        return changed > 0


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=int(row[0]),
        source=row[1],
        group=row[2],
        body=bytes(row[3]),
        received=row[4],
        state=row[5],
        attempts=row[6],
        outcome=json.loads(row[7]) if row[7] else None,
        last_error=row[8],
        updated=row[9],
        not_before=row[10] or 0.0,
        claimed_by=row[11],
        lease_until=row[12],
    )
