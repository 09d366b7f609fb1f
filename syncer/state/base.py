"""The state protocol: everything the tool remembers between calls, behind one typed interface.

Two backends implement it: SQLite (:mod:`syncer.state.sqlite`, the embedded
default for one machine) and PostgreSQL (:mod:`syncer.state.postgres`, shared
by ``serve`` replicas and parallel runners). The shared contract suite in
``tests/contract/state_suite.py`` runs against both.

Correctness never depends on the refs cache, the sync marks or the group
generations: the trackers hold markers, and deleting the state changes nothing
but call counts. The journal and the delivery journal are the promises (what
a tracker still needs, what ``serve`` accepted); the per-incident lock is what
keeps two writers from both creating.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

PENDING = "pending"
DONE = "done"
FAILED = "failed"


@dataclass
class Pending:
    """One journal entry: ``incident`` (JSON data) still needs a sync on ``tracker``.

    ``tracker`` is the name of the target the entry is for: a tracker, or a
    chat channel (any ``[trackers.*]`` or ``[channels.*]`` name); the key of
    the journal is (target, incident).
    """

    tracker: str
    incident_id: str
    command: str
    incident: dict[str, Any]
    options: dict[str, Any]
    attempts: int
    last_error: str | None
    created: float
    updated: float


@dataclass
class Delivery:
    """One webhook body ``serve`` accepted (answered 202), and how far it got.

    ``state`` is ``pending`` until a replica applied it (``done``, with the
    ``outcome``) or a permanent, classified error ended it (``failed``, with
    ``last_error``). ``attempts`` counts the tries that failed; ``not_before``
    holds the next try back (epoch seconds). ``claimed_by`` and ``lease_until``
    say which replica works on it, and until when that claim holds without
    being renewed.
    """

    id: int
    source: str
    group: str
    body: bytes
    received: float
    state: str
    attempts: int
    outcome: dict[str, Any] | None
    last_error: str | None
    updated: float
    not_before: float = 0.0
    claimed_by: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True)
class SyncMark:
    """What a backfill last wrote for one incident on one tracker (same fingerprint: skip it)."""

    fingerprint: str
    key: str | None = None
    url: str | None = None


@runtime_checkable
class DeliveryJournal(Protocol):
    """``serve``'s delivery journal: accepted bodies, claimed by replicas under a lease.

    Ordering: a group's deliveries are applied one at a time, in id order. Only
    the oldest pending delivery of a group can be claimed, and only while no
    live lease holds it and its ``not_before`` has passed; the next one of the
    group becomes claimable once it is finished (or failed). Different groups
    go in parallel, on any replica.

    Leases: :meth:`claim` gives the caller ``lease`` seconds; :meth:`renew`
    extends the claims of a replica that is still working. A replica that dies
    (even SIGKILL) stops renewing, and once its leases run out the deliveries
    are claimable by any other. Applying a delivery twice is harmless (the
    engine is idempotent and locks the incident), and :meth:`done` or
    :meth:`failed` by a replica whose claim was taken over are ignored, so the
    journal records each delivery finished exactly once.
    """

    def add(self, source: str, group: str, body: bytes) -> int:
        """Journal one accepted delivery; returns its id. Committed when this returns."""
        ...

    def add_many(self, items: Sequence[tuple[str, str, bytes]]) -> list[int]:
        """Journal several (source, group, body) in one transaction; ids in the same order."""
        ...

    def get(self, delivery_id: int) -> Delivery | None: ...

    def claim(self, owner: str, limit: int, lease: float) -> list[Delivery]:
        """Claim up to ``limit`` claimable deliveries for ``owner`` (oldest first)."""
        ...

    def renew(self, owner: str, ids: Sequence[int], lease: float) -> list[int]:
        """Extend ``owner``'s claims on ``ids``; returns the ids it still holds."""
        ...

    def release(self, owner: str) -> int:
        """Give back every claim of ``owner`` (a clean stop); returns how many."""
        ...

    def done(self, delivery_id: int, outcome: dict[str, Any], owner: str | None = None) -> bool:
        """Mark applied; with ``owner``, only while that owner holds the claim. True if marked."""
        ...

    def failed(
        self,
        delivery_id: int,
        error: str,
        outcome: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> bool:
        """Mark failed for good (a permanent error; the try counts), with the reason shown."""
        ...

    def attempt_failed(
        self, delivery_id: int, error: str, retry_in: float = 0.0, owner: str | None = None
    ) -> int:
        """Count a failed try: stays pending, claim released, next try after ``retry_in`` s.

        Returns the attempts so far.
        """
        ...

    def pending(self) -> list[Delivery]:
        """Every delivery not yet applied, oldest first."""
        ...

    def failures(self) -> list[Delivery]:
        """Every delivery that failed for good, oldest first."""
        ...

    def count(self, state: str = PENDING) -> int: ...

    def prune(self, older_than: float) -> int:
        """Forget applied deliveries finished more than ``older_than`` seconds ago."""
        ...


@runtime_checkable
class State(Protocol):
    """Everything the commands keep between calls: one instance per process, thread-safe.

    * Refs cache: where an incident lives on a target (saves lookups; verified
      by a read before it is trusted).
    * Journal: what a target (tracker or chat channel) still needs after a
      failure or a crash, keyed by (target name, incident id); ``retry`` and
      the next run finish it.
    * Per-incident lock: serialises work on one incident (or one alert group)
      across threads, processes and, with PostgreSQL, machines.
    * Group generations: which incident of an alert group is current (the
      alert state machine's open groups; ``.2``, ``.3`` after the reopen
      window). A cache: the trackers decide.
    * Sync marks: what a backfill last wrote per (tracker, incident).
    * Key/values: small JSON values other parts keep (a channel's record of
      what it sent); namespace the keys (``told:<channel>:<incident>``).
    * :attr:`deliveries`: ``serve``'s delivery journal.
    """

    deliveries: DeliveryJournal

    @property
    def shared(self) -> bool:
        """Whether several machines may use this state at once (PostgreSQL)."""
        ...

    def describe(self) -> str:
        """Where the state lives, for messages (a DSN without its password)."""
        ...

    def close(self) -> None: ...

    def get_ref(self, tracker: str, incident_id: str) -> tuple[str, str, str] | None:
        """The cached (key, url, native id) of the incident on ``tracker``, if any."""
        ...

    def put_ref(self, tracker: str, incident_id: str, key: str, url: str, native: str) -> None: ...

    def drop_ref(self, tracker: str, incident_id: str) -> None: ...

    def journal_put(
        self,
        tracker: str,
        incident_id: str,
        command: str,
        incident: dict[str, Any],
        options: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record (or refresh) a pending entry; with ``error`` a failed attempt is counted."""
        ...

    def journal_put_many(
        self, entries: Sequence[tuple[str, str, str, dict[str, Any], dict[str, Any]]]
    ) -> None:
        """Record many (tracker, incident_id, command, incident, options) in one transaction."""
        ...

    def journal_done(self, tracker: str, incident_id: str) -> None: ...

    def journal(self, tracker: str | None = None) -> list[Pending]:
        """Pending entries, oldest first (all targets, or one)."""
        ...

    def incident_lock(self, key: str) -> AbstractContextManager[None]:
        """Hold the lock of ``key`` (an incident id, or ``group-<id>``) for the block."""
        ...

    def group_generation(self, group: str) -> int | None:
        """The cached current generation of an alert group (1 for the first incident)."""
        ...

    def set_group_generation(self, group: str, generation: int) -> None: ...

    def sync_mark(self, tracker: str, incident_id: str) -> SyncMark | None: ...

    def kv_get(self, key: str) -> Any:
        """The JSON value kept under ``key``, or None."""
        ...

    def kv_put(self, key: str, value: Any) -> None: ...

    def put_sync_mark(self, tracker: str, incident_id: str, mark: SyncMark) -> None: ...

    def reserve_serve(self) -> None:
        """Claim the right to run ``serve`` on this state (SQLite: one at a time).

        Raises :class:`~syncer.errors.ConfigError` naming the state when
        another ``serve`` holds it. PostgreSQL allows any number of replicas.
        """
        ...

    def release_serve(self) -> None: ...
