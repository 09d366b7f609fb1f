"""Channels end to end through the CLI, as a user runs it: the memory tracker, the fake Slack (real
slack_sdk) and a fake webhook receiver; the exact output asserted (the Slack message ``ts`` in a
permalink is the one variable part, shown as ``TS``)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from syncer.cli import main
from tests.conftest import ROOT, write_config
from tests.fakes.receiver import FakeReceiver
from tests.fakes.slack import FakeSlack, slack_channel

PERMALINK = re.compile(r"/p\d{16}")


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


@pytest.fixture
def pager(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReceiver]:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTING-KEY-SECRET")
    app = FakeReceiver().start()
    try:
        yield app
    finally:
        app.stop()


def configure(
    tmp_path: Path, slack: FakeSlack, pager: FakeReceiver | None = None, extra: str = ""
) -> Path:
    tables = [
        "[channels.slack]",
        *(f"{k} = {json.dumps(v)}" for k, v in slack_channel(slack).items()),
        'people = { alice = "alice@acme.example", bob = "U0BOB000001" }',
        'responders = { SEV1 = ["bob"] }',
    ]
    if pager is not None:
        tables += [
            "[channels.pager]",
            'type = "webhook"',
            f'url = "{pager.url}/v2/enqueue"',
            'template = "pagerduty"',
            'secrets_env = { routing_key = "PAGERDUTY_ROUTING_KEY" }',
        ]
    grades = (
        "[grades.SEV1]\nroom = true\n[grades.SEV2]\nroom = true\n"
        '[grades.SEV3]\nchannels = ["slack"]\n[grades.SEV4]\nchannels = ["slack"]\n'
    )
    text = "\n" + "\n".join(tables) + "\n" + grades + extra
    return write_config(
        tmp_path / "incident-syncer.toml", {"mem": {"type": "memory", "store": "cli"}}, extra=text
    )


def run(config: Path, *args: str) -> Result:
    from syncer import pacing

    pacing._PACERS.clear()
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def incident_file(
    tmp_path: Path, incident_id: str, title: str, grade: str, detected: str
) -> tuple[Path, dict[str, Any]]:
    """An incident file under investigation since 10:00 (its data, to change and write again)."""
    data: dict[str, Any] = {
        "id": incident_id,
        "title": title,
        "grade": grade,
        "status": "investigating",
        "detected_at": "2026-11-25T10:00:00",
        "timeline": [{"at": "2026-11-25T10:00:00", "text": detected, "kind": "detection"}],
    }
    path = tmp_path / "inc.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path, data


def shown(result: Result) -> str:
    return PERMALINK.sub("/pTS", result.output)


def test_doctor_checks_channels(tmp_path: Path, slack: FakeSlack, pager: FakeReceiver) -> None:
    config = configure(tmp_path, slack, pager)
    ok = run(config, "doctor")
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines() == [
        f"configuration: {config}: 1 tracker(s), 2 channel(s), 4 grade(s)",
        "✓ templates and state: ok",
        "✓ mem (memory): ok (configuration and secrets only: this tracker type has no online check)",
        "✓ slack (slack): ok",
        "✓ pager (webhook): ok",
    ]
    slack.scopes = "chat:write,channels:history,channels:read"
    slack.incidents.members.discard("U0BOTUSER1")
    bad = run(config, "doctor", "--channel", "slack")
    assert bad.exit_code == 1
    assert bad.output.splitlines()[1:] == [
        "✓ templates and state: ok",
        "✗ slack (slack):",
        f"    - the app is not a member of {slack.incidents.id}: /invite it there so that it can post and read the notices",
        "    - the token lacks the scope channels:manage (needed to create, set up and archive incident rooms)",
        "    - the token lacks the scope bookmarks:read (needed to see the room's bookmarks before adding one)",
        "    - the token lacks the scope bookmarks:write (needed to bookmark the tracker issues in the room)",
        "    - the token lacks the scope users:read.email (needed to turn e-mail addresses into Slack users)",
    ]
    assert run(config, "doctor", "--channel", "nope").output.strip() == (
        "Error: no channel named 'nope'; configured: slack, pager"
    )


OPEN = shlex.split(
    "open --title '결제 실패 급증' --grade SEV2 --id INC-cli --at 2026-11-25T10:00:00 "
    "--commander alice --detection Alertmanager"
)
NOTICE = "https://acme-fake.slack.com/archives/C000000001/pTS"


def test_open_note_grade_resolve_in_slack_and_the_pager(
    tmp_path: Path, slack: FakeSlack, pager: FakeReceiver
) -> None:
    config = configure(tmp_path, slack, pager)
    opened = run(config, *OPEN)
    assert opened.exit_code == 0, opened.output
    assert shown(opened) == (
        "✓ INC-cli → mem #1 memory://mem/1: created\n"
        "    - create issue '[SEV2] 결제 실패 급증' with label grade:SEV2\n"
        "    - add 1 timeline comment(s): e-ab164411ccae\n"
        f"✓ INC-cli → slack C000000001 {NOTICE}: created\n"
        "    - post the notice (SEV2, detected)\n"
        "    - open the incident's room\n"
        "    - post 1 timeline entry: e-ab164411ccae\n"
        "    - update the notice: content\n"
        "✓ INC-cli → pager 127.0.0.1: created\n"
        "    - send: opened (SEV2, detected)\n"
    )
    room = slack.by_name("inc-20261125-gyeolje-silpae-geubjeung")
    assert room is not None and room.members == {"U0BOTUSER1", "U0ALICE0001"}
    notice = slack.incidents.messages[0]
    assert [r["text"] for r in slack.incidents.replies[notice["ts"]]] == [
        f":mega: [SEV2] 결제 실패 급증: 소통 채널을 열었습니다. 장애 대응은 <#{room.id}> 에서 논의합니다.",
        "`10:00` *인지* 장애 인지: Alertmanager (alice)",
    ]
    assert "<memory://mem/1|mem #1>" in json.dumps(notice["blocks"], ensure_ascii=False)

    slack.reset_log()
    noted = run(
        config, "note", "INC-cli", "롤백 시작", "--at", "2026-11-25T10:10:00", "--kind", "action"
    )
    assert shown(noted).splitlines()[3:] == [
        f"✓ INC-cli → slack C000000001 {NOTICE}: updated",
        "    - post 1 timeline entry: e-70c7b18bec0d",
        "✓ INC-cli → pager 127.0.0.1: unchanged",
    ]
    assert slack.writes() == 1  # one reply; the notice does not show the timeline

    slack.reset_log()
    graded = run(config, "grade", "INC-cli", "SEV1", "--at", "2026-11-25T10:20:00")
    assert shown(graded).splitlines()[3:] == [
        f"✓ INC-cli → slack C000000001 {NOTICE}: updated",
        "    - update room #inc-20261125-gyeolje-silpae-geubjeung",
        "    - post 1 timeline entry: grade-SEV2-to-SEV1",
        "    - update the notice: grade SEV2 → SEV1",
        "✓ INC-cli → pager 127.0.0.1: updated",
        "    - send: grade SEV2 → SEV1",
    ]
    # The notice edited in place, one reply; the room's topic follows, SEV1's responders invited.
    assert [m for m in slack.methods() if m in ("chat.postMessage", "chat.update")] == [
        "chat.postMessage",
        "chat.update",
    ]
    assert (
        room.topic == "[SEV1] 결제 실패 급증 · 인지 · 담당자 alice"
        and "U0BOB000001" in room.members
    )
    assert slack.incidents.messages[0]["blocks"][0]["text"]["text"] == "🔴 [SEV1] 결제 실패 급증"

    slack.reset_log()
    resolved = run(
        config, "resolve", "INC-cli", "--at", "2026-11-25T11:00:00", "--resolution", "롤백 완료"
    )
    assert shown(resolved).splitlines()[3:] == [
        f"✓ INC-cli → slack C000000001 {NOTICE}: updated",
        "    - update room #inc-20261125-gyeolje-silpae-geubjeung",
        "    - post 1 timeline entry: e-c7a24c0e02ea",
        "    - update the notice: status detected → resolved",
        "✓ INC-cli → pager 127.0.0.1: updated",
        "    - send: status detected → resolved",
    ]
    header = slack.incidents.messages[0]["blocks"][0]["text"]["text"]
    assert header == "✅ [SEV1] 결제 실패 급증"
    assert [d["body"]["event_action"] for d in pager.deliveries] == [
        "trigger",
        "trigger",
        "resolve",
    ]

    slack.reset_log()
    again = run(config, "resolve", "INC-cli", "--json")
    assert again.exit_code == 0 and slack.writes() == 0 and len(pager.deliveries) == 3
    assert [json.loads(line)["operations"] for line in again.stdout.splitlines()] == [[], [], []]
    assert slack.methods() == ["conversations.history", "auth.test", "conversations.replies"]


def test_a_resolved_file_links_its_postmortem_and_archives_the_room_once_closed(
    tmp_path: Path, slack: FakeSlack
) -> None:
    config = configure(tmp_path, slack)
    path, data = incident_file(tmp_path, "INC-pm", "메인 배너 미노출", "SEV2", "CS 문의로 인지")
    assert run(config, "sync", str(path)).exit_code == 0
    data.update(
        status="closed",
        resolved_at="2026-11-25T11:00:00",
        closed_at="2026-11-26T09:00:00",
        postmortem={"author": "bob", "summary": "배너 등록 누락"},
    )
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    over = run(config, "sync", str(path))
    assert over.exit_code == 0, over.output
    assert shown(over) == (
        "✓ INC-pm → mem #1 memory://mem/1: updated\n"
        "    - publish postmortem\n"
        "    - update issue body; set status → closed\n"
        f"✓ INC-pm → slack C000000001 {NOTICE}: updated\n"
        "    - update room #inc-20261125-mein-baeneo-minochul\n"
        "    - archive room #inc-20261125-mein-baeneo-minochul\n"
        "    - update the notice: status investigating → closed\n"
    )
    blocks = json.dumps(slack.incidents.messages[0]["blocks"], ensure_ascii=False)
    assert "<memory://mem/2|포스트모템>" in blocks
    room = slack.by_name("inc-20261125-mein-baeneo-minochul")
    assert room is not None and room.archived
    slack.reset_log()
    assert run(config, "sync", str(path)).exit_code == 0 and slack.writes() == 0


def test_an_alert_is_announced_in_the_same_run(tmp_path: Path, slack: FakeSlack) -> None:
    config = configure(tmp_path, slack)
    alert = {
        "receiver": "incident-syncer",
        "status": "firing",
        "groupKey": '{}:{alertname="CheckoutErrors"}',
        "groupLabels": {"alertname": "CheckoutErrors"},
        "commonLabels": {
            "alertname": "CheckoutErrors",
            "severity": "critical",
            "service": "checkout",
        },
        "commonAnnotations": {"summary": "checkout 5xx over 5%"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "CheckoutErrors",
                    "severity": "critical",
                    "service": "checkout",
                },
                "annotations": {"summary": "checkout 5xx over 5%"},
                "startsAt": "2026-11-25T01:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "a1b2c3d4",
            }
        ],
        "version": "4",
    }
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps(alert), encoding="utf-8")
    result = run(config, "ingest", "--source", "alertmanager", str(payload))
    assert result.exit_code == 0, result.output
    assert len(slack.incidents.messages) >= 1
    notice = slack.incidents.messages[0]
    assert notice["metadata"]["event_type"] == "incident_syncer_notice"
    assert "CheckoutErrors" in notice["blocks"][0]["text"]["text"]
    # The notice's permalink carries Slack's message time: shown as <ts>.
    assert re.sub(r"/p\d+", "/p<ts>", result.output) == (
        "ALERT-cfa646702e7f: opened (first notification)\n"
        "✓ ALERT-cfa646702e7f → mem #1 memory://mem/1: created\n"
        "    - create issue '[SEV1] CheckoutErrors' with label grade:SEV1\n"
        "    - add 1 timeline comment(s): al-f-34744ef6846d-f912c06f\n"
        "✓ ALERT-cfa646702e7f → slack C000000001 "
        "https://acme-fake.slack.com/archives/C000000001/p<ts>: created\n"
        "    - post the notice (SEV1, detected)\n"
        "    - open the incident's room\n"
        "    - post 1 timeline entry: al-f-34744ef6846d-f912c06f\n"
        "    - update the notice: content\n"
    )


def test_ingest_and_gha_tell_only_the_channels_named(
    tmp_path: Path, slack: FakeSlack, pager: FakeReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--channel` on `ingest` and `gha` as on `sync`: only the channels named are told (the
    output lists them), the others are not even read."""
    config = configure(tmp_path, slack, pager)
    payload = ROOT / "examples" / "alerting" / "payloads" / "generic-settlement-batch.json"
    paged = run(config, "ingest", "--source", "generic", str(payload), "--channel", "pager")
    assert paged.exit_code == 0, paged.output
    told = [line.split(" → ")[-1].split()[0] for line in paged.stdout.splitlines() if "✓" in line]
    assert told == ["mem", "pager"]
    assert len(pager.deliveries) == 1 and slack.writes() == 0

    monkeypatch.chdir(tmp_path)
    event = tmp_path / "event.json"
    form = {"action": "note", "incident_id": paged.output.split(":")[0], "text": "롤백 시작"}
    event.write_text(json.dumps({"inputs": form, "sender": {"login": "erin"}}), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "workflow_dispatch")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    noted = run(config, "gha", "--channel", "slack")
    assert noted.exit_code == 0, noted.output
    told = [line.split(" → ")[-1].split()[0] for line in noted.stdout.splitlines() if "✓" in line]
    assert told == ["mem", "slack"]
    notices = [
        m
        for m in slack.incidents.messages
        if (m.get("metadata") or {}).get("event_type") == "incident_syncer_notice"
    ]
    assert len(pager.deliveries) == 1 and len(notices) == 1
    replies = [r["text"] for r in slack.incidents.replies[notices[0]["ts"]]]
    assert replies[-1].endswith("롤백 시작 (erin)"), replies


def test_injected_faults_converge_with_nothing_posted_twice(
    tmp_path: Path, slack: FakeSlack
) -> None:
    config = configure(tmp_path, slack)
    slack.faults(0.3, seed=5)
    codes = [run(config, *OPEN).exit_code]
    for args in (
        ["note", "INC-cli", "롤백 시작", "--at", "2026-11-25T10:10:00"],
        ["grade", "INC-cli", "SEV1", "--at", "2026-11-25T10:20:00"],
    ):
        codes.append(run(config, *args).exit_code)
    while codes[-1] != 0 and len(codes) < 20:
        codes.append(run(config, "retry").exit_code)
    slack.faults(0.0)
    assert codes[-1] == 0, codes
    ours = [m for m in slack.incidents.messages if m.get("bot_id") and m.get("subtype") is None]
    assert len(ours) == 1
    replies = slack.incidents.replies[ours[0]["ts"]]
    kinds = [r["metadata"]["event_type"] for r in replies]
    assert kinds.count("incident_syncer_room") == 1
    ids = [
        r["metadata"]["event_payload"]["event_id"]
        for r in replies
        if "event_id" in r["metadata"]["event_payload"]
    ]
    assert ids == ["e-ab164411ccae", "e-70c7b18bec0d", "grade-SEV2-to-SEV1"][: len(ids)] and len(
        ids
    ) == len(set(ids))
    assert len([c for c in slack.channels.values() if c.name.startswith("inc-")]) == 1
    slack.reset_log()
    assert run(config, "retry").exit_code == 0
    assert run(config, "grade", "INC-cli", "SEV1").exit_code == 0 and slack.writes() == 0


def test_serve_tells_slack_in_the_background_and_stop_waits(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from syncer import config as config_mod
    from syncer.serve import Receiver
    from tests.test_ingest_helpers import AM_EXAMPLE

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", "tok-serve-channels")
    extra = '\n[serve]\ntoken_env = "TEST_WEBHOOK_TOKEN"\n'
    receiver = Receiver(config_mod.load(str(configure(tmp_path, slack, extra=extra))))
    with TestClient(receiver.app()) as client:
        answer = client.post(
            "/alertmanager",
            content=AM_EXAMPLE.read_bytes(),
            headers={"Authorization": "Bearer tok-serve-channels"},
        )
        assert answer.status_code == 202
    # Leaving the client stops the server: the channels' work is finished (or journaled).
    notices = [m for m in slack.incidents.messages if m.get("metadata")]
    assert [m["metadata"]["event_type"] for m in notices][:1] == ["incident_syncer_notice"]
    assert receiver.state.journal() == []


def test_two_runners_without_shared_state_leave_one_notice(
    tmp_path: Path, slack: FakeSlack
) -> None:
    path, _ = incident_file(tmp_path, "INC-race", "검색 지연", "SEV3", "지연 인지")
    (tmp_path / "b").mkdir()
    runner_a, runner_b = configure(tmp_path, slack), configure(tmp_path / "b", slack)
    first = run(runner_a, "sync", str(path))
    assert first.exit_code == 0, first.output
    # Runner B looked before runner A's notice was there, and posts its own.
    slack.as_of(slack.incidents.messages[0]["ts"])
    second = run(runner_b, "sync", str(path))
    assert second.exit_code == 0, second.output
    assert shown(second) == (
        "✓ INC-race → mem #1 memory://mem/1: unchanged\n"
        f"✓ INC-race → slack C000000001 {NOTICE}: created\n"
        "    - post the notice (SEV3, investigating)\n"
        "    - heal duplicates: a younger notice\n"
    )
    kept, younger = slack.incidents.messages
    assert second.output.count(kept["ts"].replace(".", "")) == 1
    assert younger["text"] == (
        ":link: 중복 공지입니다. 장애 INC-race 소식은 "
        f"<https://acme-fake.slack.com/archives/C000000001/p{kept['ts'].replace('.', '')}"
        "|먼저 올린 공지>에서 이어집니다."
    )
    assert len(slack.incidents.replies[kept["ts"]]) == 1
    for runner in (runner_a, runner_b):
        slack.reset_log()
        again = run(runner, "sync", str(path))
        assert shown(again) == (
            "✓ INC-race → mem #1 memory://mem/1: unchanged\n"
            f"✓ INC-race → slack C000000001 {NOTICE}: unchanged\n"
        )
        assert slack.writes() == 0
