"""``serve`` retries a failing channel on its own (syncer.retelling): Slack down, then healthy,
and every notice and entry arrives exactly once, with no ``retry`` run; on restart the journaled
channel work is resumed; with several replicas on one PostgreSQL state, one retries at a time.

The receiver runs in-process (Starlette's test client) against the fake Slack through the real
slack_sdk; waits run on the injected clock, and the tests wait for the retries by condition,
never by sleeping."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters import memory
from syncer import channel_registry
from syncer import config as config_mod
from syncer.config import Config
from syncer.engine import Options
from syncer.serve import Receiver
from syncer.state import open_state
from syncer.telling import Teller
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.slack import FakeSlack, slack_channel
from tests.pg import PG
from tests.procs import GUARD
from tests.test_ingest_helpers import AM_EXAMPLE

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx is what we install
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

BEARER = {"Authorization": "Bearer tok-serve-channel-retries"}
ENTRY = "al-f-54ca4aa3d615-1815e882"  # the example alert's first timeline entry
WAIT = GUARD  # a guard against a hang only: a loaded machine is slow, not wrong


@pytest.fixture
def slack(fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> FakeSlack:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", BEARER["Authorization"].removeprefix("Bearer "))
    return fake_slack


def configure(tmp_path: Path, slack: FakeSlack, **syncer: Any) -> Config:
    lines = [
        "\n[channels.slack]",
        *(f"{k} = {json.dumps(v)}" for k, v in slack_channel(slack).items()),
    ]
    extra = "\n".join(lines) + '\n[serve]\ntoken_env = "TEST_WEBHOOK_TOKEN"\npoll_interval = 5\n'
    path = write_config(
        tmp_path / "incident-syncer.toml",
        {"mem": {"type": "memory", "store": "serve"}},
        extra=extra,
        **syncer,
    )
    return config_mod.load(str(path))


def told(slack: FakeSlack) -> list[tuple[str, str]]:
    """The tool's messages in #incidents and their threads: (event type, event id or '')."""
    out = []
    for message in slack.incidents.messages:
        for m in [message, *slack.incidents.replies.get(message["ts"], [])]:
            meta = m.get("metadata") or {}
            if m.get("bot_id") and m.get("subtype") is None:
                out.append((meta["event_type"], meta["event_payload"].get("event_id", "")))
    return out


def channel_failed(receiver: Receiver) -> bool:
    return any(p.tracker == "slack" and p.last_error for p in receiver.state.journal())


def opened(slack: FakeSlack) -> list[tuple[str, str]]:
    """What the example alert's incident (SEV1) looks like in Slack once told, each once: the
    notice, its room announced in the thread, the first entry; and one room."""
    assert len([c for c in slack.channels.values() if c.name.startswith("inc-")]) == 1
    return [
        ("incident_syncer_notice", ""),
        ("incident_syncer_room", ""),
        ("incident_syncer_entry", ENTRY),
    ]


def test_a_channel_down_during_serve_is_retried_until_told_once(
    tmp_path: Path, slack: FakeSlack
) -> None:
    receiver = Receiver(configure(tmp_path, slack))
    assert receiver.retrier is not None
    slack.outage = 503
    with TestClient(receiver.app()) as client:
        answer = client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        assert answer.status_code == 202  # answered while Slack is down
        assert receiver.retrier.wait_until(lambda: channel_failed(receiver), WAIT)
        # The tracker had the incident before Slack was even tried: it never waits for a channel.
        issues = [i for i in memory.store("serve").issues.values() if i["kind"] == "incident"]
        assert len(issues) == 1 and told(slack) == []
        failures = slack.calls()
        slack.outage = None  # Slack is back; nobody runs `retry`
        assert receiver.retrier.settled(WAIT)
        assert told(slack) == opened(slack)
        assert receiver.state.journal() == []
        metrics = client.get("/metrics").text
    assert 'incident_syncer_channel_retries_total{channel="slack",outcome="told"} 1.0' in metrics
    assert failures > 1 and all(e.status == 503 for e in slack.log[:failures])
    assert told(slack) == opened(slack)  # stopping told nothing again


def test_a_long_retry_after_is_waited_by_serve_not_by_the_delivery(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    receiver = Receiver(configure(tmp_path, slack))
    assert receiver.retrier is not None
    slack.rate_limit("chat.postMessage", times=1, retry_after="600")
    with TestClient(receiver.app()) as client:
        answer = client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        assert answer.status_code == 202
        assert receiver.retrier.wait_until(lambda: channel_failed(receiver), WAIT)
        (entry,) = receiver.state.journal()
        assert entry.options["retry"] == "auto" and entry.options["retry_after"] == 600
        assert receiver.retrier.settled(WAIT)
    posts = [e for e in slack.log if e.path == "/api/chat.postMessage"]
    assert [e.status for e in posts[:2]] == [429, 200]
    assert posts[1].at - posts[0].at >= 600  # Retry-After honoured, on the injected clock
    assert told(slack) == opened(slack)


def test_on_restart_the_journaled_channel_work_is_resumed(tmp_path: Path, slack: FakeSlack) -> None:
    config = configure(tmp_path, slack)
    first = Receiver(config)
    assert first.retrier is not None
    slack.outage = 503
    with TestClient(first.app()) as client:
        answer = client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        assert answer.status_code == 202
        assert first.retrier.wait_until(lambda: channel_failed(first), WAIT)
    # Stopped while Slack is down: the channel's part stays in the journal, with its links.
    (entry,) = first.state.journal()
    assert entry.tracker == "slack" and entry.options["links"] == [["mem", "#1", "memory://mem/1"]]
    slack.outage = None
    second = Receiver(configure(tmp_path, slack))
    assert second.retrier is not None
    with TestClient(second.app()):
        assert second.retrier.settled(WAIT)
        assert second.deliveries.count() == 0  # nothing new was delivered to it
    assert told(slack) == opened(slack)
    assert second.state.journal() == []


def test_one_replica_retries_a_channel_at_a_time(pg: PG, tmp_path: Path, slack: FakeSlack) -> None:
    config = configure(tmp_path, slack, **pg.syncer_keys())
    replicas = [open_state(config) for _ in range(2)]
    tellers = [Teller(config, channel_registry.build_all(config), state=s) for s in replicas]
    from tests.test_slack import LINKS, incident

    inc = incident(config, id="INC-replicas")
    slack.outage = 503
    (failed,) = tellers[0].tell(inc, LINKS, None, Options())
    assert failed.error is not None
    (entry,) = replicas[1].journal()
    assert entry.options["retry"] == "auto"
    slack.outage = None
    slack.reset_log()
    start = threading.Barrier(2)
    results: list[Any] = [None, None]

    def retry(n: int) -> None:
        start.wait()
        results[n] = tellers[n].retell(entry)

    threads = [threading.Thread(target=retry, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [r for r in results if r is not None]
    assert len(done) == 1 and done[0].created and done[0].error is None
    # One lookup, one notice, one room and its announcement, one entry: the other replica found
    # the entry gone once it had the lock, and read nothing from Slack.
    methods = slack.methods()
    assert methods.count("chat.postMessage") == 3 and methods.count("conversations.create") == 1
    assert [m for m in methods if m == "conversations.history"] == [
        "conversations.history",
        "conversations.history",  # the look again right after posting
    ]
    assert replicas[0].journal() == []
    for state in replicas:
        state.close()


@pytest.fixture
def two_replicas(pg: PG, tmp_path: Path, slack: FakeSlack) -> Iterator[list[Receiver]]:
    receivers = [Receiver(configure(tmp_path, slack, **pg.syncer_keys())) for _ in range(2)]
    yield receivers
    for receiver in receivers:
        receiver.state.close()


def test_replicas_on_one_state_tell_a_channel_once(
    two_replicas: list[Receiver], slack: FakeSlack
) -> None:
    slack.outage = 503
    first, second = two_replicas
    with TestClient(first.app()) as one, TestClient(second.app()) as other:
        answer = one.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        assert answer.status_code == 202
        assert first.retrier is not None and second.retrier is not None
        assert first.retrier.wait_until(lambda: channel_failed(first), WAIT)
        slack.outage = None
        assert first.retrier.settled(WAIT) and second.retrier.settled(WAIT)
        texts = [one.get("/metrics").text, other.get("/metrics").text]
    told_by = [
        'incident_syncer_channel_retries_total{channel="slack",outcome="told"} 1.0' in t
        for t in texts
    ]
    assert sorted(told_by) == [False, True]
    assert told(slack) == opened(slack)


def test_an_entry_an_older_version_journaled_is_synced_again(
    tmp_path: Path, slack: FakeSlack
) -> None:
    from tests.test_slack import incident

    config = configure(tmp_path, slack)
    state = open_state(config)
    data = incident(config, id="INC-old", grade="SEV3").to_data()
    # What the version before serve's retries kept: no trackers' links, no schedule.
    state.journal_put("slack", "INC-old", "ingest", data, {"postmortem": "auto"}, error="down")
    state.close()
    receiver = Receiver(config)
    assert receiver.retrier is not None
    with TestClient(receiver.app()):
        assert receiver.retrier.settled(WAIT)
    assert [(i["kind"], i["incident"]) for i in memory.store("serve").issues.values()] == [
        ("incident", "INC-old")
    ]
    notice = slack.incidents.messages[0]
    assert "<memory://mem/1|mem #1>" in json.dumps(notice["blocks"], ensure_ascii=False)
    assert receiver.state.journal() == []
