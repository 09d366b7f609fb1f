"""Real-world payloads (tests/payloads/, sources in its README): what the incident says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters import memory
from syncer import clock, markers
from syncer import config as config_mod
from syncer.cli import main
from syncer.ingest.mapping import Mapping
from syncer.ingest.payloads import parse
from syncer.serve import Receiver
from tests.conftest import ROOT, write_config
from tests.test_gha import github, jira, repository_dispatch, runner, step  # noqa: F401
from tests.test_ingest_flow import Clock
from tests.test_serve import BEARER, Server, TestClient, make_config, secrets_env  # noqa: F401

PAYLOADS = ROOT / "tests" / "payloads"
RECEIVED = "2025-11-03T06:15:30+00:00"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


@pytest.fixture
def received() -> Iterator[None]:
    previous = clock.use(Clock(RECEIVED))
    try:
        yield
    finally:
        clock.use(previous)


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    request.getfixturevalue("secrets_env")
    receiver = Receiver(make_config(tmp_path))
    with TestClient(receiver.app()) as client:
        yield Server(receiver, client)


def ingest(tmp_path: Path, name: str, extra: str = "") -> tuple[Any, dict[str, Any] | None, str]:
    """`ingest` one fixture into the memory tracker: the result, the snapshot, the comment."""
    config = write_config(
        tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}}, extra=extra
    )
    source = "grafana" if name.startswith("grafana") else "alertmanager"
    result = CliRunner().invoke(
        main, ["--config", str(config), "ingest", "--source", source, str(PAYLOADS / name)]
    )
    issues = [i for i in memory.store("t").issues.values() if i["kind"] == "incident"]
    if not issues:
        return result, None, ""
    (issue,) = issues
    snap = markers.find_snapshot(issue["body"])
    assert snap is not None
    (comment,) = memory.texts(issue)
    return result, snap["incident"], markers.strip(comment).strip()


OPENED = {
    "alertmanager-zulip-cpu-temperature.json": (
        "ALERT-0916c9fccf20",
        "2020-02-06T00:17:58.432911Z",
        "**2020-02-06 09:17 KST** · 인지\n\n"
        "알림 발생: High CPU Temperature (2건 발생 중)\n"
        "- 🔥 High CPU core temperature (host=andromeda): CPU core temperature is 34.75C\n"
        "- 🔥 High CPU core temperature (host=andromeda): CPU core temperature is 17.625C",
    ),
    "alertmanager-msteams-two-alerts.json": (
        "ALERT-1310141414ca",
        "2018-03-07T06:33:21.873077-05:00",
        "**2018-03-07 20:33 KST** · 인지\n\n"
        "알림 발생: high_memory_load (2건 발생 중)\n"
        "- 🔥 Server High Memory usage: 10.80.40.11 reported high memory usage with 23.28%.\n"
        "- 🔥 Server High Memory usage: 10.80.40.12 reported high memory usage with 61.54%.",
    ),
    "alertmanager-alertmonitor-icmp.json": (
        "ALERT-6f82a80332e2",
        "2019-09-27T16:27:56.612666Z",
        "**2019-09-28 01:27 KST** · 인지\n\n"
        "알림 발생: ICMP ping failed (3건 발생 중)\n"
        "- 🔥 ICMP ping failed (instance=172.29.254.30, summary=No physical connection to "
        "172.29.254.30): 172.29.254.30 does not reply to ICMP pings\n"
        "- 🔥 ICMP ping failed (instance=172.29.254.50, summary=No physical connection to "
        "172.29.254.50): 172.29.254.50 does not reply to ICMP pings\n"
        "- 🔥 ICMP ping failed (instance=172.29.254.66, summary=No physical connection to "
        "172.29.254.66): 172.29.254.66 does not reply to ICMP pings",
    ),
    "grafana-docs-two-alerts.json": (
        "ALERT-674227f5c8ac",
        "2021-10-12T09:51:03.157076+02:00",
        "**2021-10-12 16:51 KST** · 인지\n\n"
        "알림 발생: High CPU usage, High memory usage (2건 발생 중)\n"
        "- 🔥 This alert was triggered for zone us-1 (zone=us-1): The system has high memory "
        "usage · B=44.23943738, C=1\n"
        "- 🔥 This alert was triggered for zone eu-1 (zone=eu-1): The system has high CPU usage "
        "· B=44.23943738, C=1",
    ),
    "grafana-zulip-values-v11.json": (
        "ALERT-5fa6c71d3b2b",
        "2024-03-01T02:09:00Z",
        "**2024-03-01 11:09 KST** · 인지\n\n"
        "알림 발생: Memory (copy) (1건 발생 중)\n"
        "- 🔥 High memory usage: A=2473545728, B=0, C=1, minute=9",
    ),
}


@pytest.mark.usefixtures("received")
@pytest.mark.parametrize("name", sorted(OPENED))
def test_a_real_firing_payload_opens_an_incident_that_says_what_fired(
    tmp_path: Path, name: str
) -> None:
    incident_id, started, comment = OPENED[name]
    result, snap, text = ingest(tmp_path, name)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"{incident_id}: opened (first notification)"
    assert snap is not None
    # 장애 발생 시간: the earliest startsAt; 장애 인지 시간: when the notification arrived.
    assert (snap["started_at"], snap["detected_at"]) == (started, "2025-11-03T06:15:30Z")
    assert text == comment


@pytest.mark.usefixtures("received")
@pytest.mark.parametrize(
    "name", ["alertmanager-relative-generator-url.json", "grafana-zulip-resolved.json"]
)
def test_a_real_resolved_payload_with_nothing_open_is_ignored(tmp_path: Path, name: str) -> None:
    result, snap, _ = ingest(tmp_path, name)
    assert result.exit_code == 0 and snap is None
    assert result.stdout.endswith(": ignored (no incident is open for this alert group)\n")


def test_links_back_to_alertmanager_and_a_silence(tmp_path: Path) -> None:
    mapping = Mapping(config_mod.parse({}, None))
    zulip = parse("alertmanager", payload("alertmanager-zulip-cpu-temperature.json"))
    assert mapping.links(zulip)[-2:] == [
        {
            "title": "사일런스 만들기",
            "url": "http://ops1:9093/#/silences/new?filter=%7Balertname%3D%22High%20CPU%20"
            "Temperature%22%2C%20severity%3D%22critical%22%7D",
        },
        {"title": "Alertmanager 알림 목록", "url": "http://ops1:9093/#/alerts?receiver=ops-zulip"},
    ]
    # A relative generatorURL is joined to externalURL (it was dropped).
    relative = parse("alertmanager", payload("alertmanager-relative-generator-url.json"))
    rule = mapping.links(relative)[0]
    assert rule["title"] == "알림 규칙"
    assert rule["url"].startswith("http://localhost:9093/metrics/viewer/graph?g0.expr=")
    # Made from externalURL, so they differ between HA peers: not added after the first one.
    assert mapping.links(relative, first=False) == []
    assert "receiver=web%5C.hook" in mapping.links(relative)[-1]["url"]
    # "http://:9093" names no host: no link is made from it.
    icmp = parse("alertmanager", payload("alertmanager-alertmonitor-icmp.json"))
    assert [x["title"] for x in mapping.links(icmp)] == ["알림 규칙"]


def test_the_current_alertmanager_body_has_twelve_keys() -> None:
    data = json.loads(payload("alertmanager-current-twelve-keys.json"))
    assert len(data) == 12  # more than the 10 a repository_dispatch client_payload may hold
    group = parse("alertmanager", payload("alertmanager-current-twelve-keys.json"))
    assert group.status == "resolved" and group.alerts[0].fingerprint == "dab43189276e5f48"
    assert len(json.loads(payload("grafana-zulip-values-v11.json"))) == 14  # Grafana 11


# Grafana's contact point "Test" button.


def test_the_grafana_test_button_opens_nothing(tmp_path: Path) -> None:
    result, snap, _ = ingest(tmp_path, "grafana-contact-point-test.json")
    assert (result.exit_code, snap) == (0, None)
    assert result.stdout == (
        "ALERT-8e344ac9b7bd: test (a Grafana contact point test: a real alert like it would "
        "open ALERT-8e344ac9b7bd [SEV4] 'TestAlert' in every tracker; nothing was written)\n"
    )
    assert memory.store("t").calls == []


@pytest.mark.usefixtures("received")
def test_the_grafana_test_button_can_open_an_incident_when_asked(tmp_path: Path) -> None:
    result, snap, text = ingest(
        tmp_path, "grafana-contact-point-test.json", '[ingest]\ntest_notifications = "open"\n'
    )
    assert result.stdout.splitlines()[0] == "ALERT-8e344ac9b7bd: opened (first notification)"
    assert snap is not None and snap["title"] == "TestAlert"
    assert text.endswith("- 🔥 Notification test: foo=10")


def test_serve_answers_the_grafana_test_with_a_summary(served: Server) -> None:
    server = served
    response = server.post("/grafana", payload("grafana-contact-point-test.json"), **BEARER)
    assert response.status_code == 200
    assert response.json() == {
        "status": "test",
        "group": "ALERT-8e344ac9b7bd",
        "message": "a Grafana contact point test: a real alert like it would open "
        "ALERT-8e344ac9b7bd [SEV4] 'TestAlert' in every tracker; nothing was written",
    }
    assert server.total_journaled() == 0 and server.store.calls == []
    real = server.post("/grafana", payload("grafana-zulip-values-v11.json"), **BEARER)
    assert real.status_code == 202


# Grafana's legacy alerting.


def test_legacy_grafana_gets_a_reason(tmp_path: Path, served: Server) -> None:
    server = served
    reason = (
        "legacy Grafana alerting (ruleName, evalMatches: Grafana 7 and earlier) is not "
        "supported: use Grafana Alerting (8 and later) with a webhook contact point"
    )
    result, _, _ = ingest(tmp_path, "grafana-legacy-zulip.json")
    where = PAYLOADS / "grafana-legacy-zulip.json"
    assert (result.exit_code, result.stderr) == (2, f"Error: {where}:3: evalMatches: {reason}\n")
    for route in ("/grafana", "/alertmanager"):
        response = server.post(route, payload("grafana-legacy-zulip.json"), **BEARER)
        assert (response.status_code, response.json()) == (400, {"error": reason})
    assert server.total_journaled() == 0


# Relayed into GitHub Actions (repository_dispatch), the way docs/github-actions.md says.


@pytest.mark.parametrize(
    "name, source, title",
    [
        ("alertmanager-zulip-cpu-temperature.json", "alertmanager", "High CPU Temperature"),
        ("grafana-zulip-values-v11.json", "grafana", "Memory (copy)"),
    ],
)
def test_a_real_body_relayed_in_the_documented_wrapper(
    request: pytest.FixtureRequest, name: str, source: str, title: str
) -> None:
    env: dict[str, Any] = request.getfixturevalue("runner")
    body = json.loads(payload(name))
    wrapped = {"source": source, "payload": body}
    assert len(wrapped) <= 10  # what GitHub allows in client_payload; the bodies have 12 and 14
    done = step(env, "repository_dispatch", repository_dispatch("alert", wrapped))
    assert done.exit_code == 0, done.stdout + done.stderr
    assert (done.outputs["outcome"], done.outputs["source"]) == ("ingested", source)
    (number,) = [
        n
        for n in env["github"].issues_with_label("incident")
        if n  # the incident's issue
    ]
    assert env["github"].issue(number)["title"].endswith(title)


def test_the_docs_and_the_example_relay_wrapped_bodies() -> None:
    docs = (ROOT / "docs" / "github-actions.md").read_text(encoding="utf-8")
    example = (ROOT / "examples" / "github-actions" / "alert-dispatch.yml").read_text()
    wrapper = '"client_payload": {"source": "alertmanager", "payload": <body>}'
    assert wrapper in docs and wrapper in example
    assert "exactly the 10 top-level keys" not in docs


def test_the_example_config_grades_unlabelled_grafana_rules_on_purpose() -> None:
    example = config_mod.load(str(ROOT / "examples" / "alerting" / "incident-syncer.toml"))
    docs = parse("grafana", payload("grafana-docs-two-alerts.json"))  # no severity label
    assert Mapping(example).grade(docs) == "SEV2"
    assert Mapping(config_mod.parse({}, None)).grade(docs) == "SEV4"  # without a choice
    policy = (ROOT / "examples" / "alerting" / "grafana-contact-point.yaml").read_text()
    assert '["severity", "=", ""]' in policy  # unlabelled alerts are routed, not dropped


# Grafana 9's resolved body carries the value only in valueString (var and metric named).


def test_a_value_only_in_the_value_string_is_shown_when_firing_and_when_resolved(
    tmp_path: Path,
) -> None:
    resolved = json.loads(payload("grafana-zulip-resolved.json"))
    firing = json.loads(json.dumps(resolved))  # the same group, as it fired ten minutes before
    firing["status"] = "firing"
    firing["alerts"][0].update(status="firing", endsAt="0001-01-01T00:00:00Z")
    (tmp_path / "firing.json").write_text(json.dumps(firing), encoding="utf-8")
    config = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "vs"}})
    for body in (tmp_path / "firing.json", PAYLOADS / "grafana-zulip-resolved.json"):
        result = CliRunner().invoke(
            main, ["--config", str(config), "ingest", "--source", "grafana", str(body)]
        )
        assert result.exit_code == 0, result.output
    (issue,) = [i for i in memory.store("vs").issues.values() if i["kind"] == "incident"]
    assert [markers.strip(t).strip() for t in memory.texts(issue)] == [
        "**2022-06-17 09:41 KST** · 인지\n\n알림 발생: Test alert (1건 발생 중)\n"
        "- 🔥 This is a summary field, failure on <no value>: B0=24",
        "**2022-06-17 09:51 KST** · 상태\n\n알림 해소: Test alert (1건 해소)\n"
        "- ✅ This is a summary field, failure on <no value>: B0=24",
    ]
