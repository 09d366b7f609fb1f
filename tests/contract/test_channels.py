"""The channel contract on Slack (the real slack_sdk against the fake Slack) and on a webhook
(against the fake receiver, whose template says what each notification was)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.channels import ChannelContract
from tests.fakes.receiver import FakeReceiver
from tests.fakes.slack import OTHER_BOT, TOKEN, FakeSlack, slack_channel

HERE = Path(__file__).parent


class SlackHarness:
    """The suite's view of the fake Slack: the tool's messages by their metadata."""

    name = "slack"
    threads = True
    reads_back = True

    def __init__(self, app: FakeSlack) -> None:
        self.app = app
        self.table: dict[str, Any] = slack_channel(app, people={"alice": "alice@acme.example"})
        self.env = {"SLACK_BOT_TOKEN": TOKEN}

    def _ours(
        self, messages: list[dict[str, Any]], kind: str, incident_id: str
    ) -> list[dict[str, Any]]:
        return [
            m
            for m in messages
            if m.get("bot_id") == "B0INCIDENTS1"
            and m.get("subtype") != "thread_broadcast"
            and (m.get("metadata") or {}).get("event_type") == f"incident_syncer_{kind}"
            and m["metadata"]["event_payload"].get("incident_id") == incident_id
        ]

    def writes(self) -> int:
        return self.app.writes()

    def reset_log(self) -> None:
        self.app.reset_log()

    def _replies(self) -> list[dict[str, Any]]:
        return [r for rs in self.app.incidents.replies.values() for r in rs]

    def notices(self, incident_id: str) -> int:
        return len(self._ours(self.app.incidents.messages, "notice", incident_id))

    def told(self, incident_id: str) -> tuple[str | None, str | None]:
        (notice,) = self._ours(self.app.incidents.messages, "notice", incident_id)
        payload = notice["metadata"]["event_payload"]
        return payload["grade"], payload["status"]

    def entries(self, incident_id: str) -> list[str]:
        return [
            m["metadata"]["event_payload"]["event_id"]
            for m in self._ours(self._replies(), "entry", incident_id)
        ]

    def race(self, incident_id: str) -> int:
        channel = self.app.incidents
        (kept,) = self._ours(channel.messages, "notice", incident_id)
        told = self._ours(channel.replies.get(kept["ts"], []), "entry", incident_id)
        twin = self.app.say(channel, kept["text"], token=TOKEN, metadata=kept["metadata"])
        copies = [(m["text"], m["metadata"]) for m in told] + [
            (f"`10:{n}0` *메모* 다른 러너가 남긴 기록", _entry(incident_id, f"ev-{n}"))
            for n in (2, 9)
        ]
        for text, metadata in copies:
            self.app.say(channel, text, thread_ts=twin["ts"], token=TOKEN, metadata=metadata)
        first = told[0]
        self.app.say(
            channel, first["text"], thread_ts=kept["ts"], token=TOKEN, metadata=first["metadata"]
        )
        return 1 + len(copies) + 1

    def lag(self, incident_id: str) -> bool:
        (kept,) = self._ours(self.app.incidents.messages, "notice", incident_id)
        self.app.as_of(kept["ts"])
        return True

    def duplicates(self, incident_id: str) -> int:
        messages = self.app.incidents.messages + self._replies()
        return len(self._ours(messages, "duplicate", incident_id))

    def faults(self, rate: float, seed: int = 0) -> None:
        self.app.faults(rate, seed)

    def down(self, on: bool) -> None:
        self.app.outage = 503 if on else None

    def forge(self, incident_id: str) -> None:
        """Another app's bot posts the notice's twin (same metadata) with an entry reply."""
        payload = {
            "incident_id": incident_id,
            "digest": "x",
            "grade": "SEV2",
            "status": "investigating",
        }
        channel = self.app.incidents
        channel.members.add("U0OTHERBOT1")
        twin = self.app.say(
            channel,
            "[SEV2] 결제 실패 급증",
            token=OTHER_BOT,
            metadata={"event_type": "incident_syncer_notice", "event_payload": payload},
        )
        entry = {"incident_id": incident_id, "event_id": "ev-1"}
        self.app.say(
            channel,
            "`10:00` 장애 인지",
            thread_ts=twin["ts"],
            token=OTHER_BOT,
            metadata={"event_type": "incident_syncer_entry", "event_payload": entry},
        )


def _entry(incident_id: str, event_id: str) -> dict[str, Any]:
    payload = {"incident_id": incident_id, "event_id": event_id}
    return {"event_type": "incident_syncer_entry", "event_payload": payload}


class WebhookHarness:
    """The suite's view of the fake receiver: notifications by idempotency key."""

    name = "hook"
    threads = False
    reads_back = False

    def __init__(self, app: FakeReceiver) -> None:
        self.app = app
        self.table: dict[str, Any] = {
            "type": "webhook",
            "url": app.url + "/notify",
            "template": str(HERE / "webhook-contract.json.j2"),
            "events": ["open", "grade", "status", "entry"],
        }
        self.env: dict[str, str] = {}

    def _mine(self, incident_id: str) -> list[dict[str, Any]]:
        return [
            n["body"]
            for n in self.app.notifications.values()
            if n["body"]["incident"] == incident_id
        ]

    def writes(self) -> int:
        return self.app.writes()

    def reset_log(self) -> None:
        self.app.reset_log()

    def notices(self, incident_id: str) -> int:
        return sum(1 for body in self._mine(incident_id) if body["event"] == "open")

    def told(self, incident_id: str) -> tuple[str | None, str | None]:
        last = self._mine(incident_id)[-1]
        return last["grade"], last["status"]

    def entries(self, incident_id: str) -> list[str]:
        return [body["entry"] for body in self._mine(incident_id) if body["event"] == "entry"]

    def faults(self, rate: float, seed: int = 0) -> None:
        self.app.faults(rate, seed)

    def down(self, on: bool) -> None:
        self.app.outage = 503 if on else None

    def forge(self, incident_id: str) -> None:
        return None  # a webhook is never read back: there is nothing to take for its own

    def race(self, incident_id: str) -> int:
        return 0  # never read back: nothing a run could find twice

    def lag(self, incident_id: str) -> bool:
        return False

    def duplicates(self, incident_id: str) -> int:
        return 0


class TestSlackChannel(ChannelContract):
    @pytest.fixture
    def harness(self) -> Iterator[SlackHarness]:
        app = FakeSlack().start()
        try:
            yield SlackHarness(app)
        finally:
            app.stop()


class TestWebhookChannel(ChannelContract):
    @pytest.fixture
    def harness(self) -> Iterator[WebhookHarness]:
        app = FakeReceiver().start()
        try:
            yield WebhookHarness(app)
        finally:
            app.stop()
