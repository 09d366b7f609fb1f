"""The alert → incident state machine, end to end through `incident-syncer ingest` on the memory tracker."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adapters import memory
from syncer import clock, markers
from syncer.cli import main
from syncer.clock import SystemClock
from tests.conftest import write_config
from tests.test_ingest_helpers import (
    AM_EXAMPLE,
    GENERIC_EXAMPLE,
    GRAFANA_EXAMPLE,
    am_alert,
    am_group,
    body,
    load,
)

T0 = "2025-11-03T06:14:52.517Z"


class Env:
    def __init__(self, tmp: Path, ingest: str = "", trackers: dict[str, Any] | None = None) -> None:
        self.tmp = tmp
        self.config = write_config(
            tmp / "incident-syncer.toml",
            trackers or {"mem": {"type": "memory", "store": "t"}},
            extra=ingest,
        )
        self.store = memory.store("t")
        self.count = 0

    def ingest(
        self, data: dict[str, Any] | bytes, source: str = "alertmanager", *args: str
    ) -> Result:
        self.count += 1
        path = self.tmp / f"payload-{self.count}.json"
        path.write_bytes(data if isinstance(data, bytes) else body(data))
        return CliRunner().invoke(
            main, ["--config", str(self.config), "ingest", "--source", source, str(path), *args]
        )

    def outcome(self, data: dict[str, Any] | bytes, source: str = "alertmanager") -> dict[str, Any]:
        result = self.ingest(data, source, "--json")
        assert result.exit_code == 0, result.output
        out: dict[str, Any] = json.loads(result.stdout)
        return out

    def issues(self) -> list[dict[str, Any]]:
        return [i for i in self.store.issues.values() if i["kind"] == "incident"]

    def issue(self, incident_id: str) -> dict[str, Any]:
        (issue,) = [i for i in self.issues() if i["incident"] == incident_id]
        return issue

    def snapshot(self, incident_id: str) -> dict[str, Any]:
        snap = markers.find_snapshot(self.issue(incident_id)["body"])
        assert snap is not None
        incident: dict[str, Any] = {"status": "detected"} | snap[
            "incident"
        ]  # defaults are left out
        return incident

    def events(self, incident_id: str) -> list[str]:
        return [
            m["id"]
            for c in memory.texts(self.issue(incident_id))
            if (m := markers.find(c, "event"))
        ]


class Clock(SystemClock):
    """The wall clock at a chosen time: when a notification is received."""

    def __init__(self, at: str) -> None:
        self.at = datetime.fromisoformat(at).timestamp()

    def time(self) -> float:
        return self.at


RECEIVED = "2025-11-03T06:15:30+00:00"  # 38 s after the first alert of the examples began


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    previous = clock.use(Clock(RECEIVED))
    try:
        yield Env(tmp_path)
    finally:
        clock.use(previous)


def firing(*pods: str, **kw: Any) -> dict[str, Any]:
    return am_group([am_alert(p) for p in pods], **kw)


def resolved(*pods: str, ends: str = "2025-11-03T07:02:00Z") -> dict[str, Any]:
    return am_group([am_alert(p, status="resolved", ends=ends) for p in pods])


def test_a_firing_group_opens_one_incident_with_where_it_came_from(env: Env) -> None:
    result = env.ingest(load(AM_EXAMPLE))
    assert result.exit_code == 0, result.output
    (issue,) = env.issues()
    incident_id = issue["incident"]
    assert result.stdout.splitlines()[0] == f"{incident_id}: opened (first notification)"
    assert issue["title"] == "[SEV1] OrderApiHigh5xxRate"
    assert "grade:SEV1" in issue["labels"] and issue["state"] == "open"
    snap = env.snapshot(incident_id)
    assert snap["status"] == "detected"
    assert snap["started_at"].startswith("2025-11-03T06:14:52.517")  # the first alert began
    assert snap["detected_at"] == "2025-11-03T06:15:30Z"  # the first notification arrived
    assert snap["services"] == ["order-api"]
    assert snap["detection"] == "Alertmanager 알림 (수신자: shop-prod/order-api/incident.sync)"
    assert snap["symptoms"].startswith("order-api HTTP 5xx 비율 12.4%")
    assert [x["title"] for x in snap["links"]] == [
        "런북",
        "알림 규칙",
        "사일런스 만들기",
        "Alertmanager 알림 목록",
    ]
    (comment,) = memory.texts(issue)
    assert "알림 발생: OrderApiHigh5xxRate (1건 발생 중, 1건 해소)" in comment
    assert (
        "런북" in issue["body"] and "wiki.shop.example.kr/runbooks/order-api-5xx" in issue["body"]
    )


def test_repeats_and_the_ha_peer_add_nothing(env: Env) -> None:
    first = env.outcome(firing("p1", "p2"))
    assert first["action"] == "opened"
    writes = env.store.writes()
    for data in (
        firing("p1", "p2"),  # repeat_interval
        firing("p2", "p1", external_url="http://alertmanager-1.monitoring:9093"),  # HA peer
        firing("p1", "p2"),
    ):
        again = env.outcome(data)
        assert again["action"] == "unchanged" and again["incident"] == first["incident"]
        assert again["event"] == first["event"]
    assert env.store.writes() == writes
    assert len(env.issues()) == 1 and len(env.events(first["incident"])) == 1


def test_a_change_adds_one_entry_and_a_dropped_resolved_alert_is_no_change(env: Env) -> None:
    opened = env.outcome(firing("p1"))
    inc = opened["incident"]
    joined = env.outcome(am_group([am_alert("p1"), am_alert("p2", starts="2025-11-03T06:20:00Z")]))
    assert joined["action"] == "updated"
    assert len(env.events(inc)) == 2
    assert "알림 변경: OrderApiHigh5xxRate (2건 발생 중)" in memory.texts(env.issue(inc))[-1]
    one_resolved = am_group(
        [
            am_alert("p1"),
            am_alert(
                "p2", status="resolved", starts="2025-11-03T06:20:00Z", ends="2025-11-03T06:40:00Z"
            ),
        ]
    )
    assert env.outcome(one_resolved)["action"] == "updated"
    assert "(1건 발생 중, 1건 해소)" in memory.texts(env.issue(inc))[-1]
    writes = env.store.writes()
    # Alertmanager drops a resolved alert after notifying it once: same firing set, no change.
    assert env.outcome(firing("p1"))["action"] == "unchanged"
    assert env.store.writes() == writes and len(env.events(inc)) == 3


def test_resolved_then_firing_again_within_the_window_reopens(env: Env) -> None:
    inc = env.outcome(firing("p1"))["incident"]
    done = env.outcome(resolved("p1"))
    assert done["action"] == "resolved"
    assert done["reason"] == "all alerts resolved (on_resolved = mitigated)"
    snap = env.snapshot(inc)
    assert snap["status"] == "mitigated" and snap["mitigated_at"].startswith("2025-11-03T07:02")
    assert env.issue(inc)["state"] == "open"  # mitigated is not over: closing is a person's call
    assert "알림 해소" in memory.texts(env.issue(inc))[-1]
    writes = env.store.writes()
    assert env.outcome(resolved("p1"))["action"] == "unchanged"  # redelivered resolve
    assert env.store.writes() == writes

    again = env.outcome(
        firing("p1", **{}) | {"alerts": [am_alert("p1", starts="2025-11-03T09:00:00Z")]}
    )
    assert again["action"] == "reopened" and again["incident"] == inc
    snap = env.snapshot(inc)
    assert snap["status"] == "investigating" and "mitigated_at" not in snap
    assert len(env.issues()) == 1 and len(env.events(inc)) == 3
    assert "알림 재발생" in memory.texts(env.issue(inc))[-1]


def test_firing_after_the_window_opens_a_new_incident(env: Env) -> None:
    first = env.outcome(firing("p1"))["incident"]
    env.outcome(resolved("p1"))
    later = firing("p1") | {"alerts": [am_alert("p1", starts="2025-11-05T07:02:01Z")]}
    new = env.outcome(later)
    assert new["action"] == "opened" and new["reason"] == "firing after the reopen window"
    assert new["incident"] == f"{first}.2"
    assert len(env.issues()) == 2
    assert env.snapshot(first)["status"] == "mitigated"
    assert env.snapshot(f"{first}.2")["status"] == "detected"
    # A late redelivery of the first incident's resolve is not applied to the second.
    stale = env.outcome(resolved("p1"))
    assert stale["action"] == "ignored" and stale["incident"] == f"{first}.2"
    assert stale["reason"] == "older than the incident (a late redelivery)"


def test_a_fresh_runner_finds_the_incident_in_the_tracker(env: Env) -> None:
    first = env.outcome(firing("p1"))["incident"]
    env.outcome(resolved("p1"))
    env.outcome(firing("p1") | {"alerts": [am_alert("p1", starts="2025-11-05T07:02:01Z")]})
    shutil.rmtree(env.tmp / "state")  # an ephemeral runner: no local state at all
    writes = env.store.writes()
    again = env.outcome(firing("p1") | {"alerts": [am_alert("p1", starts="2025-11-05T07:02:01Z")]})
    assert again == again | {"action": "unchanged", "incident": f"{first}.2"}
    assert env.store.writes() == writes and len(env.issues()) == 2


@pytest.mark.parametrize(
    "on_resolved, status, state",
    [("resolved", "resolved", "closed"), ("comment", "detected", "open")],
)
def test_on_resolved(tmp_path: Path, on_resolved: str, status: str, state: str) -> None:
    env = Env(tmp_path, f'\n[ingest]\non_resolved = "{on_resolved}"\n')
    inc = env.outcome(firing("p1"))["incident"]
    assert env.outcome(resolved("p1"))["action"] == "resolved"
    assert env.snapshot(inc)["status"] == status and env.issue(inc)["state"] == state
    assert len(env.events(inc)) == 2
    back = env.outcome(firing("p1") | {"alerts": [am_alert("p1", starts="2025-11-03T08:00:00Z")]})
    assert back["action"] == "reopened" and env.issue(inc)["state"] == "open"
    assert env.snapshot(inc)["status"] == (
        "investigating" if on_resolved == "resolved" else "detected"
    )


def test_resolved_with_nothing_open_is_ignored(env: Env) -> None:
    out = env.outcome(resolved("p1"))
    assert (
        out["action"] == "ignored" and out["reason"] == "no incident is open for this alert group"
    )
    assert env.store.writes() == 0 and not env.issues()


def test_the_grade_only_goes_up(env: Env) -> None:
    warn = am_group([am_alert("p1", severity="warning")])
    inc = env.outcome(warn)["incident"]
    assert env.snapshot(inc)["grade"] == "SEV3"
    worse = am_group(
        [
            am_alert("p1", severity="warning"),
            am_alert("p2", severity="critical", starts="2025-11-03T06:30:00Z"),
        ]
    )
    assert env.outcome(worse)["action"] == "updated"
    assert env.snapshot(inc)["grade"] == "SEV1"
    assert "grade:SEV1" in env.issue(inc)["labels"] and "grade:SEV3" not in env.issue(inc)["labels"]
    assert "grade-SEV3-to-SEV1" in env.events(inc)
    better = am_group(
        [
            am_alert("p1", severity="warning"),
            am_alert("p3", severity="info", starts="2025-11-03T06:40:00Z"),
        ]
    )
    assert env.outcome(better)["action"] == "updated"
    assert env.snapshot(inc)["grade"] == "SEV1"


def test_grafana_and_generic_sources(env: Env) -> None:
    graf = env.outcome(load(GRAFANA_EXAMPLE), "grafana")
    assert graf["action"] == "opened"
    snap = env.snapshot(graf["incident"])
    assert snap["title"] == "PaymentDBConnectionPoolExhausted" and snap["grade"] == "SEV1"
    assert [x["title"] for x in snap["links"]] == [
        "런북",
        "알림 규칙",
        "대시보드",
        "패널",
        "사일런스 만들기",
    ]
    gen = env.outcome(load(GENERIC_EXAMPLE), "generic")
    assert gen["action"] == "opened" and gen["incident"] != graf["incident"]
    snap = env.snapshot(gen["incident"])
    assert snap["title"] == "[야간배치] settlement-batch 정산 작업 실패" and snap["grade"] == "SEV2"
    assert snap["services"] == ["settlement"]
    done = load(GENERIC_EXAMPLE) | {"status": "resolved", "ended_at": "2025-11-04T04:10:00+09:00"}
    assert env.outcome(done, "generic")["action"] == "resolved"
    assert env.snapshot(gen["incident"])["mitigated_at"].startswith("2025-11-04T04:10:00")


def test_dry_run_writes_nothing(env: Env) -> None:
    result = env.ingest(firing("p1"), "alertmanager", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": would be opened (first notification)")
    assert "would do 2 operation(s)" in lines[1]
    assert env.store.writes() == 0


def test_bad_payload_exit_2_and_writes_nothing(env: Env) -> None:
    result = env.ingest(b'{"status": "firing", "alerts": [{"status": "firing"}]}')
    assert result.exit_code == 2
    where = env.tmp / "payload-1.json"
    assert result.stderr == (
        f"Error: {where}:1: alerts[0].labels: required field is missing\n"
        f"Error: {where}:1: alerts[0].startsAt: required field is missing\n"
    )
    assert env.store.calls == []


def test_a_failing_tracker_exits_1_and_the_next_delivery_heals_it(tmp_path: Path) -> None:
    env = Env(
        tmp_path,
        trackers={
            "mem": {"type": "memory", "store": "t"},
            "down": {"type": "memory", "store": "d"},
        },
    )
    down = memory.store("d")
    down.fail_rate = 1.0
    result = env.ingest(firing("p1"), "alertmanager", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["action"] == "opened"
    assert [r["error"] is None for r in out["results"]] == [True, False]
    down.fail_rate = 0.0
    again = env.outcome(firing("p1"))  # a repeat: nothing new, but the missing issue is made
    assert again["action"] == "unchanged"
    assert [r["created"] for r in again["results"]] == [False, True]
    assert len([i for i in down.issues.values() if i["kind"] == "incident"]) == 1


def test_concurrent_deliveries_of_one_group_make_one_incident(env: Env) -> None:
    from syncer import config as config_mod
    from syncer.app import engine_for
    from syncer.ingest.machine import Ingestor
    from syncer.ingest.payloads import parse

    config = config_mod.load(str(env.config))
    ingestors = [Ingestor(engine_for(config)) for _ in range(4)]  # as if four runners
    group = parse("alertmanager", body(firing("p1", "p2")))
    actions: list[str] = []
    barrier = threading.Barrier(8)

    def deliver(i: int) -> None:
        barrier.wait()
        actions.append(ingestors[i % 4].process(group).action)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(actions) == ["opened"] + ["unchanged"] * 7
    assert len(env.issues()) == 1 and len(env.events(env.issues()[0]["incident"])) == 1
