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

    def notices(self, incident_id: str) -> int:
        return len(self._ours(self.app.incidents.messages, "notice", incident_id))

    def told(self, incident_id: str) -> tuple[str | None, str | None]:
        (notice,) = self._ours(self.app.incidents.messages, "notice", incident_id)
        payload = notice["metadata"]["event_payload"]
        return payload["grade"], payload["status"]

    def entries(self, incident_id: str) -> list[str]:
        replies = [r for rs in self.app.incidents.replies.values() for r in rs]
        return [
            m["metadata"]["event_payload"]["event_id"]
            for m in self._ours(replies, "entry", incident_id)
        ]

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
