"""Historical mode in the engine: the fewest writes per incident, on one tracker or several."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import memory
from syncer import config as config_mod
from syncer import loader, markers, registry
from syncer.engine import Engine, Options
from syncer.model import Incident
from syncer.state.sqlite import SQLiteState
from tests.conftest import BANNER, write_config

THREE = {name: {"type": "memory", "store": name} for name in ("gh", "jira", "notion")}


def engine(tmp_path: Path, trackers: dict[str, dict[str, Any]]) -> Engine:
    cfg = config_mod.load(str(write_config(tmp_path / "c.toml", trackers)))
    return Engine(cfg, registry.build_all(cfg), state=SQLiteState(cfg.state_path()))


def long_incident(events: int = 20, postmortem: bool = False, **changes: Any) -> Incident:
    """The banner incident with ``events`` timeline entries (a long one)."""
    cfg = config_mod.parse({}, None)
    base = loader.load_file(BANNER, cfg).incident
    data = base.to_data()
    start = base.started_at
    assert start is not None
    data["timeline"] = [
        {
            "at": (start + timedelta(minutes=3 * i)).isoformat(),
            "text": f"조치 {i}",
            "kind": "action",
        }
        for i in range(events)
    ]
    data["resolved_at"] = (start + timedelta(minutes=3 * max(events, 20) + 1)).isoformat()
    if not postmortem:
        data.pop("postmortem")
    data.update(changes)
    return Incident.model_validate(data, context=cfg.context())


def incident_issue(store: memory.Store, incident_id: str) -> dict[str, Any]:
    (found,) = [
        i for i in store.issues.values() if i["kind"] == "incident" and i["incident"] == incident_id
    ]
    return found


@pytest.mark.parametrize("trackers", [{"gh": THREE["gh"]}, THREE], ids=["one tracker", "three"])
def test_a_historical_incident_is_created_and_closed_in_two_writes(
    tmp_path: Path, trackers: dict[str, dict[str, Any]]
) -> None:
    eng = engine(tmp_path, trackers)
    inc = long_incident(20)
    results = eng.sync(inc, Options(historical=True, command="backfill"))
    for result in results:
        store = memory.store(result.tracker)
        assert result.ok and result.created
        assert result.writes == store.writes() == 2, result.operations
        issue = incident_issue(store, inc.id)
        assert issue["state"] == "closed"
        assert issue["comments"] == []  # the timeline is in the body, as a table
        assert all(f"조치 {i} |" in issue["body"] for i in range(20))
        snapshot = markers.find_snapshot(issue["body"])
        assert snapshot is not None
        assert sorted(snapshot["embedded"]) == sorted(e.event_id for e in inc.timeline)
        # Every other tracker's issue is linked from this one.
        others = [r for r in results if r.tracker != result.tracker]
        assert all(r.url and r.url in issue["body"] for r in others)
    for name in trackers:
        memory.store(name).calls.clear()
    again = eng.sync(inc, Options(historical=True, command="backfill"))
    assert [r.writes for r in again] == [0] * len(trackers)
    assert all(memory.store(name).writes() == 0 for name in trackers)


def test_one_comment_per_event_costs_twenty_more(tmp_path: Path) -> None:
    eng = engine(tmp_path, {"gh": THREE["gh"]})
    (result,) = eng.sync(long_incident(20), Options(historical=False))
    assert result.writes == 22  # create, 20 comments, close


def test_postmortem_writes_come_on_top_and_the_issue_links_it(tmp_path: Path) -> None:
    eng = engine(tmp_path, THREE)
    inc = long_incident(20, postmortem=True)
    results = eng.sync(inc, Options(historical=True))
    for result in results:
        # create + close/update, postmortem, two action items
        assert result.writes == 2 + 1 + 2, result.operations
        store = memory.store(result.tracker)
        (pm,) = [i for i in store.issues.values() if i["kind"] == "postmortem"]
        assert f"memory://{result.tracker}/{pm['number']}" in incident_issue(store, inc.id)["body"]
    assert all(r.writes == 0 for r in eng.sync(inc, Options(historical=True)))


def test_new_events_after_a_historical_backfill_become_comments(tmp_path: Path) -> None:
    eng = engine(tmp_path, {"gh": THREE["gh"]})
    inc = long_incident(5)
    eng.sync(inc, Options(historical=True))
    data = inc.to_data()
    data["timeline"].append({"at": data["resolved_at"], "text": "회고 일정 공유", "kind": "note"})
    later = Incident.model_validate(data)
    store = memory.store("gh")
    store.calls.clear()
    (result,) = eng.sync(later, Options())  # an ordinary sync afterwards
    issue = incident_issue(store, inc.id)
    assert len(issue["comments"]) == 1 and "회고 일정 공유" in memory.texts(issue)[0]
    assert result.writes == 2  # the comment, and the body's table and snapshot
    store.calls.clear()
    assert eng.sync(later, Options())[0].writes == 0


def test_a_tracker_failing_in_phase_two_stays_journaled(tmp_path: Path) -> None:
    eng = engine(tmp_path, {"a": THREE["gh"], "b": THREE["jira"]})
    inc = long_incident(3)
    store = memory.store("gh")
    original = eng.adapters["a"].update

    def broken(*args: Any, **kwargs: Any) -> None:
        from syncer.errors import TrackerError

        raise TrackerError("boom", tracker="a", status=400)

    eng.adapters["a"].update = broken  # type: ignore[method-assign]
    results = {r.tracker: r for r in eng.sync(inc, Options(historical=True, command="backfill"))}
    assert results["a"].error and results["b"].ok
    assert eng.state is not None
    assert [(p.tracker, p.incident_id) for p in eng.state.journal()] == [("a", inc.id)]
    assert incident_issue(store, inc.id)["state"] == "open"
    eng.adapters["a"].update = original  # type: ignore[method-assign]
    results = {r.tracker: r for r in eng.sync(inc, Options(historical=True, command="backfill"))}
    assert results["a"].ok and incident_issue(store, inc.id)["state"] == "closed"
    assert eng.state.journal() == []


def test_link_order_is_stable_whatever_finishes_first(tmp_path: Path) -> None:
    import itertools
    import threading

    from tests.procs import GUARD

    eng = engine(tmp_path, THREE)
    inc = long_incident(2)
    eng.sync(inc, Options(historical=True))
    order: tuple[str, ...] = ()
    done: dict[str, threading.Event] = {}
    for name, adapter in eng.adapters.items():
        find = adapter.find

        def in_turn(incident_id: str, name: str = name, find: Any = find) -> Any:
            """Each tracker's lookup finishes after the one before it in ``order``."""
            turn = order.index(name)
            if turn:
                assert done[order[turn - 1]].wait(GUARD)  # a guard against a hang only
            try:
                return find(incident_id)
            finally:
                done[name].set()

        adapter.find = in_turn  # type: ignore[method-assign]
    assert eng.state is not None
    for order in itertools.permutations(THREE):  # every order the lookups can finish in
        done = {name: threading.Event() for name in THREE}
        for name in THREE:
            eng.state.drop_ref(name, inc.id)  # locate through the lookup
        results = eng.sync(inc, Options(historical=True))
        assert [(r.tracker, r.writes) for r in results] == [(n, 0) for n in THREE], order
        assert all(event.is_set() for event in done.values())


def test_resuming_after_a_crash_between_create_and_close_costs_one_update(
    tmp_path: Path,
) -> None:
    eng = engine(tmp_path, THREE)
    inc = long_incident(20)
    options = Options(historical=True, command="backfill")
    # The crashed run: the GitHub issue was created, nothing else happened.
    embedded = eng.documents.embedded_events(inc, None, options)
    eng.adapters["gh"].create(eng.documents.issue_doc(inc, [], None, embedded))
    memory.store("gh").calls.clear()
    results = {r.tracker: r for r in eng.sync(inc, options)}
    assert results["gh"].writes == memory.store("gh").writes() == 1  # close, with the links
    assert [results[n].writes for n in ("jira", "notion")] == [2, 2]
    issue = incident_issue(memory.store("gh"), inc.id)
    assert issue["state"] == "closed" and issue["comments"] == []
    assert all(r.url and r.url in issue["body"] for r in results.values() if r.tracker != "gh")
