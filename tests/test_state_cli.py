"""The state as a user meets it: one serve per SQLite file, and `journal` showing deliveries."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

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
            timeout=60,
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
    lines = result.output.splitlines()
    assert lines[0] == "1 pending:"
    assert lines[1].startswith("  INC-1 → mem (sync, 1 attempt(s) since ")
    assert lines[1].endswith("): mem: 503")
    assert lines[2] == "webhook deliveries: 1 pending, 1 failed:"
    when = datetime.fromtimestamp(1_733_300_000.0).strftime("%Y-%m-%d %H:%M")  # local time
    assert lines[3:] == [
        f"  delivery {waiting} (alertmanager, ALERT-3f9c) pending, 1 attempt(s) since {when}: "
        "unexpected KeyError: 'x' (see the server log)",
        f"  delivery {broken} (grafana, ALERT-77aa) failed at {when}: "
        "grafana: alerts[0].labels: expected an object",
    ]
    as_json = CliRunner().invoke(main, ["--config", str(config), "journal", "--json"])
    assert '"delivery": 1' in as_json.output and '"state": "failed"' in as_json.output
