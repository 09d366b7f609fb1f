"""Channels end to end through the CLI, as a user runs it: the memory tracker, the fake Slack (real
slack_sdk) and a fake webhook receiver; the exact output asserted (the Slack message ``ts`` in a
permalink is the one variable part, shown as ``TS``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from syncer.cli import main
from tests.conftest import write_config
from tests.fakes.receiver import FakeReceiver
from tests.fakes.slack import TOKEN, FakeSlack, slack_channel

PERMALINK = re.compile(r"/p\d{16}")


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    app = FakeSlack().start()
    try:
        yield app
    finally:
        app.stop()


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
    from syncer import retry

    retry._PACERS.clear()
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


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
