"""serve's claiming loop: a wake with every slot busy is not lost, only deferred to the free slot."""

from __future__ import annotations

import threading
from pathlib import Path

from syncer.ingest.worker import Worker
from syncer.state import Delivery
from syncer.state.sqlite import SQLiteState
from tests.procs import GUARD


def test_deliveries_woken_while_every_slot_is_busy_are_claimed_when_one_frees(
    tmp_path: Path,
) -> None:
    state = SQLiteState(tmp_path / "state.db")
    journal = state.deliveries
    first_started, release = threading.Event(), threading.Event()
    handled: list[int] = []
    all_done = threading.Event()

    def handle(delivery: Delivery) -> None:
        if not handled:
            first_started.set()
            release.wait(GUARD)
        handled.append(delivery.id)
        journal.done(delivery.id, {}, owner="me")
        if len(handled) == 4:
            all_done.set()

    # One slot and a poll of an hour: only wakes can move the work along.
    worker = Worker(
        handle, journal, 1, owner="me", lease=600, poll=3600, backoff=lambda attempts: 1.0
    )
    ids = [journal.add("generic", "G1", b"{}")]
    worker.start()
    try:
        assert first_started.wait(GUARD)
        for n in range(3):  # a burst arrives while the only slot is busy
            ids.append(journal.add("generic", f"G{n + 2}", b"{}"))
            worker.wake()
        assert handled == []  # nothing else was claimed meanwhile
        release.set()
        assert all_done.wait(GUARD), handled
        assert handled == ids
    finally:
        release.set()
        worker.stop(0)
        state.close()
