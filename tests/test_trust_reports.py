"""What is ignored is said with ``-v``: a snapshot pasted outside the tool's section.

Snapshots are read only from the tool's own section of its issue (``markers.owned``); one
a person pastes elsewhere in the body is never read, and ``-v`` says so, once a run, naming
the tracker and the issue. End to end through the CLI against the fake GitHub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from syncer.cli import main
from tests.conftest import write_config
from tests.contract.trust import incident_data, snapshot_of, write_incident
from tests.fakes.github import TOKEN, FakeGitHub, fresh_pacers, github_tracker

SAID = (
    "INFO syncer.trust: gh: ignored 2 snapshot marker(s) in #1 outside incident-syncer's "
    "section (people's text: only the tool's own section is read)"
)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fresh_pacers(monkeypatch)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_a_pasted_snapshot_is_ignored_and_said_with_v(app: FakeGitHub, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {"gh": github_tracker(app)})

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(config), *args])

    path = write_incident(tmp_path, incident_data("INC-A"), "a.yaml")
    assert run("sync", str(path)).exit_code == 0
    pasted = [snapshot_of("INC-B", "Renamed by mallory"), snapshot_of("INC-A", "Doctored")]
    app.edit_issue(1, body=f"{pasted[0]}\n\n{app.issue(1)['body']}\n\n{pasted[1]}")
    quiet = run("note", "INC-A", "Checked", "--at", "2026-03-05T10:40:00+09:00", "--dry-run")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    told = run("-v", "note", "INC-A", "Checked", "--at", "2026-03-05T10:40:00+09:00")
    assert told.exit_code == 0, told.output
    assert [line for line in told.stderr.splitlines() if "snapshot" in line] == [SAID]
    assert app.issue(1)["title"].endswith("Checkout errors (INC-A)")
