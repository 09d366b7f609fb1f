"""Tier 1: the engine's logic against the in-memory tracker (table-driven where it helps)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters import memory
from syncer import config as config_mod
from syncer import loader, markers, registry
from syncer.cli import main
from syncer.engine import Engine, Options
from syncer.engine.plan import plan
from syncer.model import Incident
from syncer.state.sqlite import SQLiteState
from tests.conftest import BANNER, CHECKOUT, write_config


def engine(
    tmp_path: Path, trackers: dict[str, dict[str, Any]] | None = None, state: bool = True
) -> Engine:
    trackers = trackers or {"mem": {"type": "memory", "store": "e"}}
    path = write_config(tmp_path / "c.toml", trackers)
    cfg = config_mod.load(str(path))
    return Engine(
        cfg, registry.build_all(cfg), state=SQLiteState(cfg.state_path()) if state else None
    )


def incident(path: Path = BANNER, **changes: Any) -> Incident:
    cfg = config_mod.parse({}, None)
    data = loader.load_file(path, cfg).incident.to_data() | changes
    return Incident.model_validate(data, context=cfg.context())


def issue(store: memory.Store, incident_id: str) -> dict[str, Any]:
    (found,) = [
        i for i in store.issues.values() if i["kind"] == "incident" and i["incident"] == incident_id
    ]
    return found


PLANS = [
    (
        "new resolved incident",
        {},
        ["create", "add_events", "postmortem", "action_item", "action_item", "update"],
    ),
    (
        "new open incident",
        {"status": "detected", "resolved_at": None, "mitigated_at": None},
        ["create", "add_events"],
    ),
    (
        "new mitigated incident without timeline",
        {"status": "mitigated", "resolved_at": None, "timeline": []},
        ["create"],
    ),
]


@pytest.mark.parametrize(("case", "changes", "kinds"), PLANS, ids=[p[0] for p in PLANS])
def test_plans_for_a_new_issue(
    tmp_path: Path, case: str, changes: dict[str, Any], kinds: list[str]
) -> None:
    eng = engine(tmp_path)
    inc = incident(**changes)
    ops = plan(eng.documents, eng.adapters["mem"], inc, None, Options(), [])
    assert [op.kind for op in ops] == kinds, case


def test_a_dry_run_plans_and_writes_nothing(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    (result,) = eng.sync(incident(), Options(dry_run=True))
    assert (
        result.operations[0]
        == "create issue '[SEV3] 메인 배너가 홈에 노출되지 않음' with label grade:SEV3"
    )
    assert memory.store("e").writes() == 0 and memory.store("e").issues == {}


def test_resolved_incident_is_closed_and_linked_to_its_postmortem(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    (result,) = eng.sync(incident())
    assert result.created and result.error is None
    store = memory.store("e")
    found = issue(store, "INC-2024-0212-banner")
    assert found["state"] == "closed"
    pm = next(i for i in store.issues.values() if i["kind"] == "postmortem")
    assert f"memory://mem/{pm['number']}" in found["body"]
    assert f"memory://mem/{found['number']}" in pm["body"]
    # create + 1 comment per event (6) + postmortem + 2 action items + one update (body link + close)
    assert result.writes == 1 + 6 + 1 + 2 + 1 == store.writes()


def test_peoples_edits_outside_the_owned_section_survive(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    eng.sync(incident(status="mitigated", resolved_at=None))
    store = memory.store("e")
    found = issue(store, "INC-2024-0212-banner")
    found["body"] = "People wrote this first.\n\n" + found["body"] + "\n\nAnd this after."
    found["labels"].append("team:frontend")
    eng.sync(incident())
    assert found["body"].startswith("People wrote this first.\n\n<!-- incident-syncer:begin")
    assert found["body"].endswith("<!-- incident-syncer:end -->\n\nAnd this after.")
    assert "**해결**" in markers.strip(found["body"])
    assert "team:frontend" in found["labels"]


def test_an_event_a_person_already_posted_is_not_posted_again(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    inc = incident(status="mitigated", resolved_at=None)
    eng.sync(inc)
    store = memory.store("e")
    found = issue(store, inc.id)
    found["comments"].append({"author": "alice", "body": "롤백 완료 확인"})
    data = inc.to_data()
    data["timeline"].append({"at": "2024-02-12T01:00:00+09:00", "text": "롤백 완료 확인"})
    cfg = config_mod.parse({}, None)
    (result,) = eng.sync(Incident.model_validate(data, context=cfg.context()))
    assert result.error is None
    assert len(found["comments"]) == 7


def test_one_failing_tracker_does_not_stop_the_others_and_is_journaled(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        {"good": {"type": "memory", "store": "g"}, "bad": {"type": "memory", "store": "b"}},
    )
    memory.store("b").fail_rate = 1.0
    results = {r.tracker: r for r in eng.sync(incident())}
    assert results["good"].error is None and results["good"].created
    assert results["bad"].error is not None and "injected failure" in results["bad"].error
    assert memory.store("b").issues == {}
    assert eng.state is not None
    (pending,) = eng.state.journal()
    assert (pending.tracker, pending.incident_id, pending.attempts) == (
        "bad",
        "INC-2024-0212-banner",
        1,
    )
    memory.store("b").fail_rate = 0.0
    results = {r.tracker: r for r in eng.sync(incident())}
    assert results["bad"].created and eng.state.journal() == []


def test_two_trackers_link_to_each_other(tmp_path: Path) -> None:
    eng = engine(
        tmp_path, {"a": {"type": "memory", "store": "a"}, "b": {"type": "memory", "store": "b"}}
    )
    eng.sync(incident())
    body_a = issue(memory.store("a"), "INC-2024-0212-banner")["body"]
    body_b = issue(memory.store("b"), "INC-2024-0212-banner")["body"]
    assert "- b: [#1](memory://b/1)" in body_a
    assert "- a: [#1](memory://a/1)" in body_b
    memory.store("a").calls.clear()
    memory.store("b").calls.clear()
    eng.sync(incident())
    assert memory.store("a").writes() == memory.store("b").writes() == 0


def test_concurrent_syncs_of_one_incident_create_it_once(tmp_path: Path) -> None:
    engines = [engine(tmp_path) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(e: Engine) -> None:
        try:
            barrier.wait()
            e.sync(incident())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = memory.store("e")
    assert len([i for i in store.issues.values() if i["kind"] == "incident"]) == 1
    assert len(issue(store, "INC-2024-0212-banner")["comments"]) == 6


def test_different_incidents_sync_in_parallel(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    results = eng.sync_many([incident(), incident(CHECKOUT)], concurrency=2)
    assert sorted(r.incident for r in results) == ["INC-2024-0212-banner", "INC-2024-0305-checkout"]
    assert all(r.created for r in results)


def test_load_merges_events_seen_on_any_tracker(tmp_path: Path) -> None:
    eng = engine(
        tmp_path, {"a": {"type": "memory", "store": "a"}, "b": {"type": "memory", "store": "b"}}
    )
    base = incident(status="mitigated", resolved_at=None)
    eng.sync(base)
    data = base.to_data()
    data["timeline"].append({"at": "2024-02-12T01:10:00+09:00", "text": "only on a"})
    cfg = config_mod.parse({}, None)
    Engine(eng.config, {"a": eng.adapters["a"]}).sync(
        Incident.model_validate(data, context=cfg.context())
    )
    loaded = eng.load(base.id)
    assert [e.text for e in loaded.timeline][-1] == "only on a"
    assert len(loaded.timeline) == 7


def test_sync_json_output_says_which_tracker_failed(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c.toml",
        {"ok": {"type": "memory", "store": "o"}, "down": {"type": "memory", "store": "d"}},
    )
    memory.store("d").fail_rate = 1.0
    result = CliRunner().invoke(main, ["--config", str(cfg), "sync", str(BANNER), "--json"])
    assert result.exit_code == 1
    error = "cannot tell whether INC-2024-0212-banner exists: injected failure in find (HTTP 503)"
    ok, down = (json.loads(line) for line in result.stdout.splitlines())
    assert (ok["tracker"], ok["created"], ok["error"]) == ("ok", True, None)
    assert down == {
        "incident": "INC-2024-0212-banner",
        "tracker": "down",
        "key": None,
        "url": None,
        "created": False,
        "operations": [],
        "error": error,
    }
    assert result.stderr == ""  # the failure is said once, in its result
    journal = CliRunner().invoke(main, ["--config", str(cfg), "journal"])
    since = re.sub(r"since \d{4}-\d\d-\d\d \d\d:\d\d", "since <when>", journal.stdout)
    assert since == (
        f"1 pending:\n  INC-2024-0212-banner → down (sync, pending since <when>, failed once): "
        f"{error}\n"
    )


def test_historical_mode_keeps_the_timeline_in_the_body_for_good(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    (first,) = eng.sync(incident(postmortem=None), Options(historical=True))
    store = memory.store("e")
    found = issue(store, "INC-2024-0212-banner")
    assert found["comments"] == [] and found["state"] == "closed"
    assert first.writes == 2  # create + close
    assert "CS팀 문의로 배너 미노출 인지" in found["body"]
    # A later ordinary sync neither posts the embedded entries nor forgets them; a new entry is a comment.
    store.calls.clear()
    (again,) = eng.sync(incident(postmortem=None))
    assert again.operations == [] and store.writes() == 0
    data = incident(postmortem=None).to_data()
    data["timeline"].append({"at": "2024-02-12T02:00:00+09:00", "text": "추가 확인", "id": "late"})
    cfg = config_mod.parse({}, None)
    eng.sync(Incident.model_validate(data, context=cfg.context()))
    assert [markers.find(c, "event")["id"] for c in memory.texts(found)] == ["late"]  # type: ignore[index]
    store.calls.clear()
    eng.sync(Incident.model_validate(data, context=cfg.context()))
    assert store.writes() == 0
