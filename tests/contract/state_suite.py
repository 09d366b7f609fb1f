"""The contract every state backend passes (SQLite and PostgreSQL alike).

A backend joins by subclassing :class:`StateContract` and providing an
``opener`` fixture: a function that opens one more instance on the same store
(another process, another replica) with an optional injected clock. Leases
run on that clock, so no test waits a lease out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from syncer import secrets
from syncer.errors import ConfigError
from syncer.state import State, SyncMark
from tests.procs import GUARD

Opener = Callable[..., State]


class Clock:
    """A hand-moved clock (epoch seconds)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StateContract:
    """Refs, journal, locks, alert groups, sync marks and the delivery journal with leases."""

    shared: bool

    @pytest.fixture
    def state(self, opener: Opener) -> Iterator[State]:
        state = opener()
        yield state
        state.close()

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def pair(self, opener: Opener, clock: Clock) -> Iterator[tuple[State, State]]:
        """Two instances on one store (two processes or replicas), on one clock."""
        a, b = opener(clock=clock), opener(clock=clock)
        yield a, b
        a.close()
        b.close()

    # Refs cache, journal, groups, marks.

    def test_refs_round_trip_per_tracker(self, pair: tuple[State, State]) -> None:
        a, b = pair
        assert a.get_ref("gh", "INC-1") is None
        a.put_ref("gh", "INC-1", "#1", "https://x/1", "1")
        a.put_ref("jira", "INC-1", "OPS-7", "https://j/OPS-7", "10007")
        a.put_ref("gh", "INC-1", "#2", "https://x/2", "2")  # replaced, not added
        assert b.get_ref("gh", "INC-1") == ("#2", "https://x/2", "2")
        b.drop_ref("gh", "INC-1")
        assert a.get_ref("gh", "INC-1") is None
        assert a.get_ref("jira", "INC-1") == ("OPS-7", "https://j/OPS-7", "10007")

    def test_journal_counts_attempts_keeps_the_newest_copy_and_redacts(
        self, pair: tuple[State, State], clock: Clock
    ) -> None:
        a, b = pair
        secrets.remember("sekrit-token-123")
        a.journal_put(
            "gh", "INC-2", "sync", {"id": "INC-2", "title": "배너"}, {"postmortem": "auto"}
        )
        clock.now += 5
        a.journal_put("slack", "INC-1", "ingest", {"id": "INC-1"})  # a channel name works alike
        clock.now += 5
        b.journal_put(
            "gh", "INC-2", "note", {"id": "INC-2", "title": "v2"}, error="401 sekrit-token-123"
        )
        b.journal_put("gh", "INC-2", "note", {"id": "INC-2", "title": "v3"}, error="503")
        entries = a.journal()
        assert [(e.tracker, e.incident_id) for e in entries] == [
            ("gh", "INC-2"),
            ("slack", "INC-1"),
        ]
        first = entries[0]
        assert (first.command, first.incident["title"], first.attempts) == ("note", "v3", 2)
        assert first.last_error == "503" and first.updated > first.created
        assert first.options == {}
        assert [e.incident_id for e in b.journal("slack")] == ["INC-1"]
        b.journal_put("gh", "INC-3", "sync", {"id": "INC-3"}, error="boom sekrit-token-123")
        assert b.journal("gh")[-1].last_error == "boom <secret>"
        a.journal_done("gh", "INC-2")
        assert [e.incident_id for e in b.journal("gh")] == ["INC-3"]

    def test_journal_put_many_is_one_pending_entry_each(self, state: State) -> None:
        state.journal_put_many(
            [
                ("gh", f"INC-{i}", "backfill", {"id": f"INC-{i}"}, {"historical": True})
                for i in range(3)
            ]
        )
        state.journal_put_many([])
        assert [(e.incident_id, e.attempts, e.options) for e in state.journal()] == [
            (f"INC-{i}", 0, {"historical": True}) for i in range(3)
        ]

    def test_group_generations_and_sync_marks(self, pair: tuple[State, State]) -> None:
        a, b = pair
        assert a.group_generation("ALERT-1") is None
        a.set_group_generation("ALERT-1", 1)
        b.set_group_generation("ALERT-1", 3)
        assert a.group_generation("ALERT-1") == 3
        assert a.sync_mark("gh", "INC-1") is None
        a.put_sync_mark("gh", "INC-1", SyncMark("f1", "#1", "https://x/1"))
        b.put_sync_mark("gh", "INC-1", SyncMark("f2"))
        assert a.sync_mark("gh", "INC-1") == SyncMark("f2", None, None)
        assert a.kv_get("told:slack:INC-1") is None
        a.kv_put("told:slack:INC-1", {"ts": "1712.0001", "text": "장애"})
        b.kv_put("told:slack:INC-1", {"ts": "1712.0002", "text": "장애"})
        assert a.kv_get("told:slack:INC-1") == {"ts": "1712.0002", "text": "장애"}

    def test_reopening_migrates_nothing_twice_and_keeps_the_data(self, opener: Opener) -> None:
        first = opener()
        first.put_ref("gh", "INC-1", "#1", "u", "1")
        first.close()
        again = opener()
        assert again.get_ref("gh", "INC-1") == ("#1", "u", "1")
        again.close()

    def test_a_state_written_by_a_newer_release_is_refused(self, opener: Opener) -> None:
        opener().close()
        self.pretend_newer()
        with pytest.raises(ConfigError, match="schema version 99, newer than this release"):
            opener()

    def pretend_newer(self) -> None:
        raise NotImplementedError

    # The per-incident lock.

    def test_the_incident_lock_excludes_other_instances_not_other_incidents(
        self, pair: tuple[State, State]
    ) -> None:
        a, b = pair
        held, tried, got = threading.Event(), threading.Event(), threading.Event()
        release, released = threading.Event(), threading.Event()
        got_while_held: list[bool] = []

        def holder() -> None:
            with a.incident_lock("INC-1"):
                held.set()
                release.wait(GUARD)
                released.set()  # from here on the contender may have it

        def contender() -> None:
            held.wait(GUARD)
            tried.set()
            with b.incident_lock("INC-1"):
                got_while_held.append(not released.is_set())
                got.set()

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(holder), pool.submit(contender)]
            assert held.wait(GUARD) and tried.wait(GUARD)  # guards against a hang only
            with b.incident_lock("INC-2"):  # another incident goes ahead
                pass
            release.set()
            assert got.wait(GUARD)
            for future in futures:
                future.result()
        assert got_while_held == [False]  # INC-1 was the other instance's until it let go

    def test_a_group_lock_then_its_incident_lock_in_one_thread(self, state: State) -> None:
        with state.incident_lock("group-ALERT-1"), state.incident_lock("ALERT-1"):
            state.put_ref("gh", "ALERT-1", "#1", "u", "1")  # other statements go on meanwhile
        with state.incident_lock("ALERT-1"):
            assert state.get_ref("gh", "ALERT-1") == ("#1", "u", "1")

    # The delivery journal.

    def test_deliveries_round_trip(self, state: State) -> None:
        body = b'{"a": "\xec\xa3\xbc\xeb\xac\xb8"}\x00\xff'
        first = state.deliveries.add("alertmanager", "G1", body)
        more = state.deliveries.add_many([("grafana", "G2", b"{}"), ("generic", "G1", b"[]")])
        assert first < more[0] < more[1]
        got = state.deliveries.get(first)
        assert got is not None
        assert (got.source, got.group, got.body, got.state, got.attempts) == (
            "alertmanager",
            "G1",
            body,
            "pending",
            0,
        )
        assert state.deliveries.get(more[-1] + 1000) is None
        # One transaction for several (serve's group commit): each id is its own delivery's.
        assert [(d.source, d.body) for d in map(state.deliveries.get, more) if d] == [
            ("grafana", b"{}"),
            ("generic", b"[]"),
        ]
        assert state.deliveries.add_many([]) == []
        assert state.deliveries.count() == 3
        assert [d.id for d in state.deliveries.pending()] == [first, *more]

    def test_one_group_at_a_time_in_order_groups_in_parallel(
        self, pair: tuple[State, State]
    ) -> None:
        a, b = pair
        g1 = [
            a.deliveries.add("alertmanager", "G1", b"1"),
            b.deliveries.add("alertmanager", "G1", b"2"),
        ]
        g2 = a.deliveries.add("alertmanager", "G2", b"3")
        claimed = a.deliveries.claim("r1", 10, lease=30)
        assert [d.id for d in claimed] == [g1[0], g2]  # only each group's oldest
        assert all(d.claimed_by == "r1" for d in claimed)
        assert b.deliveries.claim("r2", 10, lease=30) == []  # both groups busy
        assert b.deliveries.done(g1[0], {"action": "opened"}, owner="r2") is False  # not r2's
        assert a.deliveries.done(g1[0], {"action": "opened"}, owner="r1") is True
        assert a.deliveries.done(g1[0], {"action": "opened"}, owner="r1") is False  # once only
        (next_one,) = b.deliveries.claim("r2", 10, lease=30)
        assert next_one.id == g1[1]
        finished = a.deliveries.get(g1[0])
        assert finished is not None and finished.state == "done"
        assert finished.outcome == {"action": "opened"} and finished.claimed_by is None

    def test_a_dead_replicas_claims_go_to_others_after_the_lease(
        self, pair: tuple[State, State], clock: Clock
    ) -> None:
        a, b = pair
        ids = [a.deliveries.add("alertmanager", f"G{i}", b"x") for i in range(3)]
        assert [d.id for d in a.deliveries.claim("dead", 2, lease=30)] == ids[:2]
        assert [d.id for d in b.deliveries.claim("alive", 5, lease=30)] == ids[2:]
        clock.now += 20
        assert b.deliveries.renew("alive", ids[2:], lease=30) == ids[2:]
        clock.now += 11  # the dead one's lease is over; the renewed one is not
        taken = b.deliveries.claim("alive", 5, lease=30)
        assert [d.id for d in taken] == ids[:2]
        assert a.deliveries.renew("dead", ids[:2], lease=30) == []  # it comes back: too late
        assert a.deliveries.done(ids[0], {}, owner="dead") is False
        assert b.deliveries.done(ids[0], {}, owner="alive") is True

    def test_a_failed_attempt_stays_pending_and_waits_its_turn(
        self, pair: tuple[State, State], clock: Clock
    ) -> None:
        a, b = pair
        first = a.deliveries.add("alertmanager", "G", b"1")
        second = a.deliveries.add("alertmanager", "G", b"2")
        a.deliveries.claim("r1", 5, lease=30)
        secrets.remember("hunter2-hunter2")
        assert a.deliveries.attempt_failed(first, "boom hunter2-hunter2", 10, owner="r1") == 1
        again = b.deliveries.get(first)
        assert again is not None and again.state == "pending" and again.claimed_by is None
        assert again.last_error == "boom <secret>" and again.not_before == clock.now + 10
        assert b.deliveries.claim("r2", 5, lease=30) == []  # not due, and the group waits
        clock.now += 10
        assert [d.id for d in b.deliveries.claim("r2", 5, lease=30)] == [first]
        assert b.deliveries.failed(first, "bad payload", owner="r2") is True
        failed = a.deliveries.get(first)
        assert failed is not None and (failed.state, failed.attempts) == ("failed", 2)
        assert [d.id for d in a.deliveries.failures()] == [first]
        assert [d.id for d in a.deliveries.claim("r1", 5, lease=30)] == [second]

    def test_release_and_prune(self, state: State, clock: Clock, opener: Opener) -> None:
        timed = opener(clock=clock)
        done, waiting = (timed.deliveries.add("alertmanager", f"G{i}", b"x") for i in range(2))
        timed.deliveries.claim("r1", 5, lease=30)
        timed.deliveries.done(done, {})
        assert timed.deliveries.release("r1") == 1
        assert [d.id for d in timed.deliveries.claim("r2", 5, lease=30)] == [waiting]
        assert timed.deliveries.prune(older_than=60) == 0
        clock.now += 61
        assert timed.deliveries.prune(older_than=60) == 1
        assert timed.deliveries.get(done) is None and timed.deliveries.count() == 1
        timed.close()

    def test_replicas_racing_apply_every_delivery_exactly_once_in_group_order(
        self, opener: Opener
    ) -> None:
        replicas = [opener() for _ in range(4)]
        ids = replicas[0].deliveries.add_many(
            [("alertmanager", f"G{i % 5}", str(i).encode()) for i in range(60)]
        )
        applied: list[tuple[str, int]] = []
        lock = threading.Lock()

        def run(index: int) -> None:
            state = replicas[index]
            while state.deliveries.count() > 0:
                for delivery in state.deliveries.claim(f"r{index}", 3, lease=30):
                    with lock:
                        applied.append((delivery.group, delivery.id))
                    assert state.deliveries.done(delivery.id, {}, owner=f"r{index}")

        with ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(run, i) for i in range(4)]:
                future.result()
        assert sorted(i for _, i in applied) == ids  # each once
        for group in {g for g, _ in applied}:
            order = [i for g, i in applied if g == group]
            assert order == sorted(order)
        for state in replicas:
            state.close()

    # serve on this state.

    def test_serve_reservation(self, pair: tuple[State, State]) -> None:
        a, b = pair
        a.reserve_serve()
        a.reserve_serve()  # again in the same process: already held
        if self.shared:
            b.reserve_serve()
        else:
            with pytest.raises(ConfigError) as refused:
                b.reserve_serve()
            assert "another `incident-syncer serve` is already running on the state file" in str(
                refused.value
            )
            assert "PostgreSQL" in str(refused.value)
        a.release_serve()
        b.reserve_serve()
        b.release_serve()
