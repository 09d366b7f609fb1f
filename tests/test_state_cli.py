"""The state as a user meets it: one serve per SQLite file, and `journal` showing deliveries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syncer.cli import main
from syncer.state.sqlite import SQLiteState
from tests.conftest import write_config
from tests.test_serve_process import WEBHOOK_TOKEN, ServeProcess


def test_a_second_serve_on_one_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "incident-syncer.toml", {"mem": {"type": "memory", "path": "tracker.json"}}
    )
    first = ServeProcess(config, tmp_path / "serve.log").start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "syncer", "--config", str(config), "serve", "--port", "0"],
            capture_output=True,
            text=True,
            env={**os.environ, "INCIDENT_SYNCER_WEBHOOK_TOKEN": WEBHOOK_TOKEN},
        )
        assert first.health()["status"] == "ok"  # the first one carries on
    finally:
        first.stop()
    state = tmp_path / "state" / "state.db"
    assert second.returncode == 2
    assert second.stderr == (
        f"Error: another `incident-syncer serve` is already running on the state file {state}: "
        "run one serve per SQLite state file, or let several replicas share a PostgreSQL state "
        '([syncer] state = "postgresql://..." or state_url_env; see README, Running several '
        "replicas)\n"
    )
    # Once the first has stopped, the file is free again.
    again = ServeProcess(config, tmp_path / "serve.log").start()
    again.stop()


def test_journal_says_when_a_failed_channel_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel that failed retryably is told again by serve after its backoff or Retry-After
    (whichever is longer); one that needs a person is not retried by itself: journal says which."""
    monkeypatch.setenv("INCIDENT_SYNCER_RETRY_BASE", "30")
    pager = (
        '[channels.pager]\ntype = "webhook"\nurl = "https://pager.example/v2"\ntemplate = "sms"\n'
    )
    config = write_config(tmp_path / "incident-syncer.toml", {"mem": {"type": "memory"}}, pager)
    at = 1_733_300_000.0
    state = SQLiteState(tmp_path / "state" / "state.db", lambda: at)
    late = {"retry": "auto", "retry_after": 600}
    state.journal_put("pager", "INC-1", "sync", {"id": "INC-1"}, late, error="pager: HTTP 429")
    for _ in range(3):  # the third failure: a backoff of 30 s × 2² = 2 min
        state.journal_put(
            "pager", "INC-2", "note", {"id": "INC-2"}, {"retry": "auto"}, "pager: 503"
        )
    person = {"retry": "manual"}
    state.journal_put("pager", "INC-3", "sync", {"id": "INC-3"}, person, error="pager: HTTP 401")
    state.journal_put("pager", "INC-4", "sync", {"id": "INC-4"}, {})  # being told now
    state.close()
    result = CliRunner().invoke(main, ["--config", str(config), "journal"])
    assert result.exit_code == 0, result.output

    def when(delay: float) -> str:
        return datetime.fromtimestamp(at + delay).strftime("%Y-%m-%d %H:%M")  # local time

    now = "`incident-syncer retry` at once"
    assert result.output == (
        "4 pending:\n"
        f"  INC-1 → pager (sync, pending since {when(0)}, failed once; serve retries at "
        f"{when(600)}, {now}): pager: HTTP 429\n"
        f"  INC-2 → pager (note, pending since {when(0)}, failed 3 times; serve retries at "
        f"{when(120)}, {now}): pager: 503\n"
        f"  INC-3 → pager (sync, pending since {when(0)}, failed once; not retried by itself: "
        "fix it, then `incident-syncer retry`): pager: HTTP 401\n"
        f"  INC-4 → pager (sync, pending since {when(0)}): not started yet\n"
    )
    listed = json.loads(
        CliRunner().invoke(main, ["--config", str(config), "journal", "--json"]).output
    )
    iso = datetime.fromtimestamp(at + 600).isoformat(timespec="seconds")
    assert [e.get("next_retry", "-") for e in listed] == [iso, listed[1]["next_retry"], None, "-"]
    assert listed[1]["next_retry"] == datetime.fromtimestamp(at + 120).isoformat(timespec="seconds")


def test_journal_shows_pending_and_failed_deliveries_with_the_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path / "incident-syncer.toml", {"mem": {"type": "memory"}})
    state = SQLiteState(tmp_path / "state" / "state.db", lambda: 1_733_300_000.0)
    waiting = state.deliveries.add("alertmanager", "ALERT-3f9c", b"{}")
    state.deliveries.claim("replica-1", 5, lease=30)
    state.deliveries.attempt_failed(waiting, "unexpected KeyError: 'x' (see the server log)", 1.0)
    broken = state.deliveries.add("grafana", "ALERT-77aa", b"{}")
    state.deliveries.failed(broken, "grafana: alerts[0].labels: expected an object")
    state.journal_put("mem", "INC-1", "sync", {"id": "INC-1"}, error="mem: 503")
    state.close()
    result = CliRunner().invoke(main, ["--config", str(config), "journal"])
    assert result.exit_code == 0, result.output
    when = datetime.fromtimestamp(1_733_300_000.0).strftime("%Y-%m-%d %H:%M")  # local time
    assert result.output == (
        "1 pending:\n"
        f"  INC-1 → mem (sync, pending since {when}, failed once): mem: 503\n"
        "webhook deliveries: 1 pending, 1 failed:\n"
        f"  delivery {waiting} (alertmanager, ALERT-3f9c) pending since {when}, failed once: "
        "unexpected KeyError: 'x' (see the server log)\n"
        f"  delivery {broken} (grafana, ALERT-77aa) failed at {when}: "
        "grafana: alerts[0].labels: expected an object\n"
    )
    as_json = CliRunner().invoke(main, ["--config", str(config), "journal", "--json"])
    assert '"delivery": 1' in as_json.output and '"state": "failed"' in as_json.output


def test_journal_reads_naturally_before_the_first_try_after_one_and_after_several(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "incident-syncer.toml", {"mem": {"type": "memory"}})
    state = SQLiteState(tmp_path / "state" / "state.db", lambda: 1_733_300_000.0)
    state.journal_put("mem", "INC-1", "backfill", {"id": "INC-1"})  # queued, not tried yet
    state.journal_put("mem", "INC-2", "sync", {"id": "INC-2"}, error="mem: 503")
    for _ in range(2):
        state.journal_put("mem", "INC-3", "sync", {"id": "INC-3"}, error="mem: 503")
    for _ in range(3):
        state.journal_put("mem", "INC-4", "sync", {"id": "INC-4"}, error="mem: 502")
    fresh = state.deliveries.add("alertmanager", "ALERT-1", b"{}")
    tried = state.deliveries.add("alertmanager", "ALERT-2", b"{}")
    for _ in range(3):
        state.deliveries.claim("replica-1", 5, lease=30)
        state.deliveries.attempt_failed(tried, "mem: 503")
    state.close()
    result = CliRunner().invoke(main, ["--config", str(config), "journal"])
    assert result.exit_code == 0, result.output
    when = datetime.fromtimestamp(1_733_300_000.0).strftime("%Y-%m-%d %H:%M")  # local time
    assert result.output == (
        "4 pending:\n"
        f"  INC-1 → mem (backfill, pending since {when}): not started yet\n"
        f"  INC-2 → mem (sync, pending since {when}, failed once): mem: 503\n"
        f"  INC-3 → mem (sync, pending since {when}, failed twice): mem: 503\n"
        f"  INC-4 → mem (sync, pending since {when}, failed 3 times): mem: 502\n"
        "webhook deliveries: 2 pending, 0 failed:\n"
        f"  delivery {fresh} (alertmanager, ALERT-1) pending since {when}: not applied yet\n"
        f"  delivery {tried} (alertmanager, ALERT-2) pending since {when}, failed 3 times: "
        "mem: 503\n"
    )


def test_a_bug_in_serve_leaves_the_delivery_pending_and_journal_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real unexpected exception while applying: the delivery answered 202 stays pending with
    its attempt and the error, and `incident-syncer journal` (another process's view: the
    state file) shows why."""
    from syncer.retry import Policy
    from syncer.serve import Receiver
    from tests.procs import wait_until
    from tests.test_ingest_helpers import AM_EXAMPLE
    from tests.test_serve import BEARER, SERVE, TOKEN, TestClient, make_config

    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    for name in ("USER", "PASSWORD", "HMAC"):
        monkeypatch.setenv(f"TEST_WEBHOOK_{name}", "x")
    config = make_config(tmp_path, SERVE)
    receiver = Receiver(config, policy=Policy(base=3600.0, cap=3600.0))  # the retry: an hour on

    def bug(group: Any, **kwargs: Any) -> Any:
        raise KeyError("labels")

    monkeypatch.setattr(receiver.ingestor, "process", bug)
    with TestClient(receiver.app()) as client:
        answer = client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        assert answer.status_code == 202
        delivery = wait_until(
            "the first attempt to fail",
            lambda: (d := receiver.deliveries.get(1)) is not None and d.attempts == 1 and d,
        )
    assert delivery.state == "pending"
    result = CliRunner().invoke(main, ["--config", str(config.path), "journal"])
    assert result.exit_code == 0, result.output
    when = datetime.fromtimestamp(delivery.received).strftime("%Y-%m-%d %H:%M")
    assert result.output == (
        "webhook deliveries: 1 pending, 0 failed:\n"
        f"  delivery 1 (alertmanager, {delivery.group}) pending since {when}, failed once: "
        "unexpected KeyError: 'labels' (see the server log)\n"
    )
