"""The webhook channel against a fake receiver: the shipped examples, events, idempotency keys, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer import channel_registry, loader
from syncer import config as config_mod
from syncer.config import Config
from syncer.engine import Options
from syncer.errors import ConfigError, InputErrors
from syncer.model import Incident
from syncer.render import TrackerLink
from syncer.telling import Teller
from tests.fakes.receiver import FakeReceiver

LINKS = [TrackerLink("github", "#12", "https://github.example/acme/incidents/issues/12")]
OPEN: dict[str, Any] = {
    "id": "INC-pay",
    "title": '결제 실패 "급증"',
    "grade": "SEV2",
    "status": "investigating",
    "commander": "alice",
    "services": ["payments"],
    "detected_at": "2026-11-25T10:00:00",
    "symptoms": "결제 API 5xx",
    "timeline": [{"at": "2026-11-25T10:00:00", "text": "장애 인지", "kind": "detection"}],
}
LATER = [
    {"at": "2026-11-25T10:10:00", "text": "롤백 시작", "kind": "action"},
    {"at": "2026-11-25T10:30:00", "text": "롤백 완료", "kind": "action"},
]
RESOLVED = {"status": "resolved", "resolved_at": "2026-11-25T11:00:00", "grade": "SEV1"}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReceiver]:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTING-KEY-SECRET")
    monkeypatch.setenv("SMS_AUTH", "Bearer sms-secret-token")
    app = FakeReceiver().start()
    try:
        yield app
    finally:
        app.stop()


def configure(receiver: FakeReceiver, path: Path | None = None, **tables: dict[str, Any]) -> Config:
    data = {"syncer": {"language": "ko", "timezone": "Asia/Seoul"}, "channels": tables}
    return config_mod.parse(data, path)


def pager(receiver: FakeReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "url": receiver.url + "/v2/enqueue",
        "template": "pagerduty",
        "secrets_env": {"routing_key": "PAGERDUTY_ROUTING_KEY"},
        **extra,
    }


def incident(config: Config, **changes: Any) -> Incident:
    return loader.validate({**json.loads(json.dumps(OPEN)), **changes}, "test", {}, config)


def tell(t: Teller, inc: Incident, pm: str | None = None) -> list[Any]:
    return t.tell(inc, LINKS, pm, Options())


def test_pagerduty_triggers_acknowledges_and_resolves_with_the_incident(
    receiver: FakeReceiver,
) -> None:
    config = configure(receiver, pager=pager(receiver))
    t = Teller(config, channel_registry.build_all(config))
    (opened,) = tell(t, incident(config))
    assert opened.operations == ["send: opened (SEV2, investigating)"] and opened.writes == 1
    (again,) = tell(t, incident(config))
    assert again.operations == [] and len(receiver.deliveries) == 1
    (calmer,) = tell(t, incident(config, status="mitigated", mitigated_at="2026-11-25T10:40:00"))
    assert calmer.operations == ["send: status investigating → mitigated"]
    (over,) = tell(t, incident(config, **RESOLVED, mitigated_at="2026-11-25T10:40:00"))
    assert over.operations == ["send: grade SEV2 → SEV1; status mitigated → resolved"]
    bodies = [d["body"] for d in receiver.deliveries]
    assert [(b["event_action"], b["dedup_key"]) for b in bodies] == [
        ("trigger", "INC-pay"),
        ("acknowledge", "INC-pay"),
        ("resolve", "INC-pay"),  # the grade change, told as the incident is now: over
        ("resolve", "INC-pay"),
    ]
    first = bodies[0]
    assert first["routing_key"] == "R0UTING-KEY-SECRET"
    assert first["payload"] == {
        "summary": '[SEV2] 결제 실패 "급증" · 조사 중 · 담당자 alice',
        "source": "payments",
        "severity": "error",
        "custom_details": {
            "incident": "INC-pay",
            "grade": "SEV2",
            "status": "investigating",
            "commander": "alice",
            "event": "open",
        },
    }
    assert bodies[2]["payload"]["severity"] == "critical"
    assert bodies[2]["payload"]["custom_details"]["event"] == "grade"
    assert first["links"] == [{"href": LINKS[0].url, "text": "github #12"}]
    assert receiver.keys() == [
        "incident-syncer/INC-pay/open",
        "incident-syncer/INC-pay/status/investigating-mitigated",
        "incident-syncer/INC-pay/grade/SEV2-SEV1",
        "incident-syncer/INC-pay/status/mitigated-resolved",
    ]
    assert receiver.deliveries[0]["headers"]["content-type"] == "application/json"


def test_entries_are_sent_only_when_asked_and_the_first_message_covers_the_past(
    receiver: FakeReceiver,
) -> None:
    sms = {
        "type": "webhook",
        "url": receiver.url + "/sms",
        "template": "sms",
        "events": ["open", "entry"],
        "vars": {"sender": "0212345678", "recipients": ["01012345678"]},
        "headers_env": {"Authorization": "SMS_AUTH"},
    }
    config = configure(receiver, sms=sms)
    t = Teller(config, channel_registry.build_all(config))
    tell(t, incident(config))
    (later,) = tell(t, incident(config, timeline=[*OPEN["timeline"], *LATER], **RESOLVED))
    ids = [
        e.event_id for e in incident(config, timeline=[*OPEN["timeline"], *LATER]).sorted_timeline
    ]
    assert later.operations == [
        f"send 2 timeline entries: {ids[1]}, {ids[2]}",
        "record: grade SEV2 → SEV1; status investigating → resolved",
    ]
    assert later.writes == 2
    texts = [d["body"]["text"] for d in receiver.deliveries]
    assert texts == [
        '[SEV2] 결제 실패 "급증" · 조사 중 · 담당자 alice https://github.example/acme/incidents/issues/12',
        '[SEV1] 결제 실패 "급증" · 해결 · 담당자 alice - 롤백 시작 https://github.example/acme/incidents/issues/12',
        '[SEV1] 결제 실패 "급증" · 해결 · 담당자 alice - 롤백 완료 https://github.example/acme/incidents/issues/12',
    ]
    assert receiver.deliveries[0]["headers"]["authorization"] == "Bearer sms-secret-token"
    assert receiver.deliveries[0]["body"]["to"] == ["01012345678"]


@pytest.mark.parametrize("name", ["teams", "kakao-alimtalk", "sms", "pagerduty"])
def test_every_shipped_example_renders_valid_json_for_every_event(
    receiver: FakeReceiver, name: str
) -> None:
    table = pager(receiver, template=name, events=["open", "grade", "status", "entry"])
    table["secrets_env"] = {
        "routing_key": "PAGERDUTY_ROUTING_KEY",
        "sender_key": "PAGERDUTY_ROUTING_KEY",
    }
    table["vars"] = {
        "template_code": "INCIDENT",
        "recipients": ["01012345678"],
        "sender": "0212345678",
    }
    config = configure(receiver, hook=table)
    (channel,) = channel_registry.build_all(config).values()
    assert channel.doctor() == []  # type: ignore[attr-defined]
    t = Teller(config, {"hook": channel})
    tell(t, incident(config))
    tell(
        t,
        incident(config, timeline=[*OPEN["timeline"], *LATER], **RESOLVED),
        pm="https://pm.example/1",
    )
    assert len(receiver.deliveries) == 5
    for delivery in receiver.deliveries:
        assert isinstance(delivery["body"], dict)
    if name == "teams":
        card = receiver.deliveries[-1]["body"]["attachments"][0]["content"]
        assert card["type"] == "AdaptiveCard"
        assert card["actions"][-1] == {
            "type": "Action.OpenUrl",
            "title": "Postmortem",
            "url": "https://pm.example/1",
        }
    if name == "kakao-alimtalk":
        params = receiver.deliveries[0]["body"]["recipientList"][0]["templateParameter"]
        assert params == {
            "grade": "SEV2",
            "title": '결제 실패 "급증"',
            "status": "조사 중",
            "commander": "alice",
            "link": LINKS[0].url,
        }


def test_a_lost_answer_is_sent_again_with_the_same_key(receiver: FakeReceiver) -> None:
    config = configure(receiver, pager=pager(receiver))
    t = Teller(config, channel_registry.build_all(config))
    receiver.faults(1.0, seed=1, statuses=(502,))
    receiver.fault_methods = {"POST"}
    receiver.rng.random = lambda: 0.9  # type: ignore[method-assign]  # always after acting
    (failed,) = tell(t, incident(config))
    assert (
        failed.error == 'open notification refused: {"error": "injected fault (after)"} (HTTP 502)'
    )
    assert failed.retryable
    receiver.faults(0.0)
    (done,) = tell(t, incident(config))
    assert done.operations == ["send: opened (SEV2, investigating)"]
    assert len(receiver.deliveries) > 1 and receiver.keys() == ["incident-syncer/INC-pay/open"]


def test_a_refusal_is_reported_not_retried_and_secrets_never_show(receiver: FakeReceiver) -> None:
    config = configure(receiver, pager=pager(receiver))
    t = Teller(config, channel_registry.build_all(config))
    receiver.refuse = (400, "routing key R0UTING-KEY-SECRET is invalid")
    (result,) = tell(t, incident(config))
    assert (
        result.error
        == 'open notification refused: {"error": "routing key <secret> is invalid"} (HTTP 400)'
    )
    assert not result.retryable
    assert receiver.calls() == 1


def test_settings_are_checked_by_name(receiver: FakeReceiver, tmp_path: Path) -> None:
    with pytest.raises(InputErrors) as caught:
        channel_registry.build_all(
            configure(
                receiver,
                hook={"type": "webhook", "template": "sms", "events": ["opened"], "colour": 1},
            )
        )
    assert [str(e) for e in caught.value.errors] == [
        "channels.hook.events.0: expected one of 'open', 'grade', 'status' or 'entry', "
        "found 'opened'",
        "channels.hook.colour: unknown key",
    ]
    with pytest.raises(InputErrors) as both:
        channel_registry.build_all(
            configure(
                receiver,
                hook={"type": "webhook", "template": "sms", "url": "https://x", "url_env": "X"},
            )
        )
    assert str(both.value) == "channels.hook: give exactly one of url and url_env"
    with pytest.raises(ConfigError) as missing:
        channel_registry.build_all(
            configure(
                receiver, hook={"type": "webhook", "template": "mine.json.j2", "url": "https://x"}
            )
        )
    assert (
        str(missing.value)
        == "webhook template 'mine.json.j2' not found (a file, or one of pagerduty, teams, kakao-alimtalk, sms)"
    )


def test_a_users_template_beside_the_config_and_a_broken_one(
    receiver: FakeReceiver, tmp_path: Path
) -> None:
    (tmp_path / "hook.json.j2").write_text(
        '{"text": {{ summary | tojson }}, "n": {{ vars.n }}}', encoding="utf-8"
    )
    (tmp_path / "broken.json.j2").write_text('{"text": {{ summary }}}', encoding="utf-8")
    config_path = tmp_path / "incident-syncer.toml"
    good = {
        "type": "webhook",
        "url": receiver.url + "/x",
        "template": "hook.json.j2",
        "vars": {"n": 3},
    }
    bad = {"type": "webhook", "url": receiver.url + "/y", "template": "broken.json.j2"}
    config = configure(receiver, config_path, good=good, bad=bad)
    channels = channel_registry.build_all(config)
    assert (
        channels["bad"]
        .doctor()[0]
        .startswith("template broken.json.j2 does not render valid JSON for open:")
    )  # type: ignore[attr-defined]
    results = Teller(config, channels).tell(incident(config), LINKS, None, Options())
    assert [r.error is None for r in results] == [True, False]
    assert receiver.deliveries[0]["body"] == {
        "text": '[SEV2] 결제 실패 "급증" · 조사 중 · 담당자 alice',
        "n": 3,
    }


def test_a_third_party_channel_is_loaded_by_entry_point_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.webhook import WebhookChannel
    from syncer.channel_registry import channel_class
    from tests.conftest import install_plugin

    install_plugin(monkeypatch, "incident_syncer.channels", "mine", WebhookChannel)
    assert channel_class("mine") is WebhookChannel
    install_plugin(monkeypatch, "incident_syncer.channels", "half", Half)
    with pytest.raises(ConfigError) as refused:
        channel_class("half")
    assert str(refused.value) == (
        "channel type 'half' (tests.test_webhook:Half) does not implement the channel contract: "
        "missing capabilities, lookup, update_notice, post_entry, open_room, close_room, heal"
    )


class Half:
    """Half a channel: a type, settings and a notice, nothing else."""

    type = "half"
    Settings = object

    def post_notice(self) -> None: ...
