"""serve's group commit: the deliveries that reach the journal together share one transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from syncer.ingest.groupcommit import GroupCommit
from syncer.state.sqlite import SQLiteState
from tests.procs import GUARD


class Gated:
    """A journal whose first commit waits until the test opens the gate (others queue meanwhile)."""

    def __init__(self, inner: Any, fail: bool = False) -> None:
        self.inner = inner
        self.fail = fail
        self.gate = threading.Event()
        self.calls: list[int] = []

    def add_many(self, items: Sequence[tuple[str, str, bytes]]) -> list[int]:
        if not self.calls:
            self.gate.wait(GUARD)
        self.calls.append(len(items))
        if self.fail:
            raise OSError("disk full")
        ids: list[int] = self.inner.add_many(items)
        return ids


def add_fifty(commit: GroupCommit, gate: threading.Event) -> list[int | BaseException]:
    async def main() -> list[int | BaseException]:
        adds = [
            asyncio.ensure_future(commit.add("alertmanager", f"G{i % 3}", str(i).encode()))
            for i in range(50)
        ]
        await asyncio.sleep(0)  # every add has run up to its wait for the commit
        gate.set()
        return await asyncio.gather(*adds, return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        commit.stop()


@pytest.mark.parametrize("on_loop", [True, False], ids=["on the loop", "writer thread"])
def test_deliveries_that_arrive_together_share_one_commit(tmp_path: Path, on_loop: bool) -> None:
    state = SQLiteState(tmp_path / "state.db")
    journal = Gated(state.deliveries)
    if on_loop:
        journal.gate.set()  # the loop commits after its turn: nothing to hold back
    sizes: list[int] = []
    commit = GroupCommit(journal, on_loop=on_loop, on_commit=sizes.append)  # type: ignore[arg-type]
    ids = add_fifty(commit, journal.gate)
    # Each request got its own delivery's id, all journaled, in far fewer transactions.
    bodies = [d.body for d in map(state.deliveries.get, ids) if d]  # type: ignore[arg-type]
    assert bodies == [str(i).encode() for i in range(50)]
    assert sizes == journal.calls and sum(sizes) == 50
    # On the loop: one commit for the turn. A writer thread: what it took before the others
    # were in line (its commit held at the gate), then all those that queued up meanwhile.
    assert sizes == [50] if on_loop else len(sizes) <= 2


@pytest.mark.parametrize("on_loop", [True, False], ids=["on the loop", "writer thread"])
def test_a_failed_commit_is_every_waiting_requests_error(tmp_path: Path, on_loop: bool) -> None:
    state = SQLiteState(tmp_path / "state.db")
    journal = Gated(state.deliveries, fail=True)
    journal.gate.set()
    answers = add_fifty(GroupCommit(journal, on_loop=on_loop), journal.gate)  # type: ignore[arg-type]
    assert all(isinstance(a, OSError) for a in answers)
    assert state.deliveries.count() == 0
