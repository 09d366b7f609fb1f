"""The state contract on the embedded SQLite backend, and its upgrade from older state files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from syncer.state import SyncMark
from syncer.state.sqlite import SQLiteState
from tests.contract.state_suite import Opener, StateContract


class TestSQLiteState(StateContract):
    shared = False

    @pytest.fixture
    def opener(self, tmp_path: Path) -> Opener:
        self.path = tmp_path / "state" / "state.db"

        def open_one(clock: Any = None) -> SQLiteState:
            return SQLiteState(self.path, clock)

        return open_one

    def pretend_newer(self) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("PRAGMA user_version = 99")


def test_a_state_file_from_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    from syncer.state.sql import tables
    from syncer.state.sqlite import _V1_DELIVERIES

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:  # what the previous release left: no version, a kv table
        db.executescript(tables("REAL") + ";" + _V1_DELIVERIES)
        rows = [
            ("told:pager:INC-1", json.dumps({"sent": 1})),
            ("ingest:generation:ALERT-3f9c", json.dumps(2)),
            ("backfill:gh:INC-1", json.dumps({"fingerprint": "f", "key": "#1", "url": "u"})),
            ("backfill:my:team:INC-2", json.dumps({"fingerprint": "g", "key": None, "url": None})),
        ]
        db.executemany("INSERT INTO kv VALUES (?, ?, 0)", rows)
        db.execute(
            "INSERT INTO deliveries (source, grp, body, received, updated) "
            "VALUES ('alertmanager', 'G', x'7b7d', 1, 1)"
        )
    state = SQLiteState(path)
    assert state.group_generation("ALERT-3f9c") == 2
    assert state.sync_mark("gh", "INC-1") == SyncMark("f", "#1", "u")
    assert state.sync_mark("my:team", "INC-2") == SyncMark("g")
    (pending,) = state.deliveries.claim("r1", 5, lease=30)
    assert (pending.group, pending.body, pending.claimed_by) == ("G", b"{}", "r1")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert db.execute("SELECT key FROM kv").fetchall() == [("told:pager:INC-1",)]
