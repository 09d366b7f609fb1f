"""Acceptance: 200 past incidents into GitHub, Jira and Notion at once (the loopback fakes).

The fakes run in this process; the CLI runs as a subprocess pointing at them, so that it can
be killed (SIGKILL) half-way like a real crash. The contract harnesses read the fakes' state.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncer import markers
from tests.conftest import ROOT
from tests.contract import test_github as gh_contract
from tests.contract import test_jira as jira_contract
from tests.contract import test_notion as notion_contract
from tests.fakes.github import FakeGitHub, fresh_pacers, github_tracker
from tests.fakes.jira import FakeJira
from tests.fakes.notion import FakeNotion, notion_tracker
from tests.procs import GUARD, wait_until
from tests.test_backfill_cli import configure, make_folder

pytestmark = pytest.mark.slow  # 200 incidents through subprocesses, several times

COUNT = 200
EVENTS = 4


@dataclass
class Trackers:
    github: gh_contract.GitHubHarness
    jira: jira_contract.JiraHarness
    notion: notion_contract.NotionHarness

    @property
    def harnesses(self) -> dict[str, Any]:
        return {"github": self.github, "jira": self.jira, "notion": self.notion}

    @property
    def apps(self) -> list[Any]:
        return [self.github.app, self.jira.fake, self.notion.app]

    def writes(self) -> dict[str, int]:
        return {name: h.writes() for name, h in self.harnesses.items()}

    def requests(self) -> int:
        return sum(app.calls() for app in self.apps)

    def reset_logs(self) -> None:
        for app in self.apps:
            app.reset_log()

    def faults(self, rate: float, seed: int) -> None:
        # Server errors, half of them after the write happened. (A 429 is a signal to slow
        # down, and the pacer does: at a constant 7 % it would crawl. Real rate limits are
        # enforced by the fakes in test_pacing_keeps_under_the_trackers_limits.)
        for i, app in enumerate(self.apps):
            app.faults(rate, seed + i, statuses=(500, 502, 503))


@pytest.fixture
def trackers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trackers]:
    fresh_pacers(monkeypatch)
    github = FakeGitHub().start()
    jira = FakeJira(cloud=True).start()
    notion = FakeNotion()
    notion.start()
    try:
        yield Trackers(
            gh_contract.GitHubHarness(github),
            jira_contract.JiraHarness(jira, cloud=True),
            notion_contract.NotionHarness(notion),
        )
    finally:
        for app in (github, jira, notion):
            app.stop()


def setup(tmp_path: Path, t: Trackers, *, paced: bool = True) -> tuple[Path, Path, dict[str, str]]:
    """Config for the three fakes, 200 resolved incidents, and the CLI's environment."""
    github = github_tracker(t.github.app)
    notion = notion_tracker(t.notion.app)
    jira = dict(t.jira.table)
    if paced:
        # The documented budgets, scaled up a hundredfold so the test stays fast.
        github.update(writes_per_second=100, writes_per_minute=8000, writes_per_hour=0)
        notion.update(requests_per_second=300, burst=10)
    cfg = configure(tmp_path, {"github": github, "jira": jira, "notion": notion})
    folder = make_folder(tmp_path, COUNT, events=EVENTS)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONPATH": str(ROOT),
        "INCIDENT_SYNCER_RETRY_BASE": "0.01",
        "INCIDENT_SYNCER_RETRY_CAP": "0.05",
        "INCIDENT_SYNCER_RETRY_ATTEMPTS": "6",
        **t.github.env,
        **t.jira.env,
        **t.notion.env,
    }
    return cfg, folder, env


def cli(cfg: Path, env: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-m", "syncer", "--config", str(cfg), *args]


def run(
    cfg: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(cfg, env, *args), env=env, capture_output=True, text=True, timeout=timeout
    )


def ids() -> list[str]:
    return [f"INC-BF-{i:03d}" for i in range(COUNT)]


def assert_exactly_once_and_closed(t: Trackers) -> None:
    for name, harness in t.harnesses.items():
        for incident_id in ids():
            assert len(harness.issues(incident_id)) == 1, (name, incident_id)
            assert harness.closed(incident_id), (name, incident_id)
    # The timeline is in the body: no comment per event on GitHub.
    with t.github.app.lock:
        assert all(not t.github.app.comment_bodies(n) for n in t.github.app.issues)


def github_issue_writes(t: Trackers) -> int:
    """Creates and updates of incident issues (not the one-off grade label set-up)."""
    return sum(
        1
        for e in t.github.app.log
        if e.status < 400
        and re.fullmatch(
            r"(POST|PATCH) /repos/acme/incidents/issues(/\d+)?", f"{e.method} {e.path}"
        )
    )


def test_200_incidents_killed_half_way_then_resumed_exactly_once(
    tmp_path: Path, trackers: Trackers
) -> None:
    cfg, folder, env = setup(tmp_path, trackers)
    proc = subprocess.Popen(
        cli(cfg, env, "backfill", str(folder), "--progress", "off"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(
        "half the incidents on GitHub", lambda: len(trackers.github.app.issues) >= COUNT // 2
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=GUARD)
    half = len(trackers.github.app.issues)
    assert COUNT // 2 <= half < COUNT, half

    pending = json.loads(run(cfg, env, "journal", "--json").stdout)
    assert len({p["incident"] for p in pending}) >= COUNT - half  # nothing lost

    resumed = run(cfg, env, "backfill", str(folder), "--progress", "off")
    assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once_and_closed(trackers)
    # At most 2 writes per historical incident on GitHub: create + close, across both runs.
    assert github_issue_writes(trackers) == 2 * COUNT
    assert run(cfg, env, "journal").stdout.strip() == "nothing pending"

    trackers.reset_logs()
    again = run(cfg, env, "backfill", str(folder), "--progress", "off")
    assert again.returncode == 0
    assert again.stderr == (
        f"{COUNT} incident(s) already done by an earlier run: skipped "
        "(--recheck reads them again)\n"
    )
    assert trackers.requests() == 0

    shutil.rmtree(tmp_path / "state")  # no journal, no cache: only the markers
    recheck = run(cfg, env, "backfill", str(folder), "--recheck", "--progress", "off")
    assert recheck.returncode == 0, recheck.stderr
    assert trackers.writes() == {"github": 0, "jira": 0, "notion": 0}
    table = recheck.stdout.splitlines()
    assert [row.split()[:7] for row in table[1:4]] == [
        [name, "0", "0", str(COUNT), "0", "0", "0"] for name in ("github", "jira", "notion")
    ]


def test_20_percent_faults_converge_after_retry(tmp_path: Path, trackers: Trackers) -> None:
    cfg, folder, env = setup(tmp_path, trackers, paced=False)
    trackers.faults(0.2, seed=11)
    # Few in-run attempts, so that failures are left in the journal for `retry`.
    first = run(
        cfg,
        env | {"INCIDENT_SYNCER_RETRY_ATTEMPTS": "2"},
        "backfill",
        str(folder),
        "--progress",
        "off",
    )
    assert first.returncode == 1, first.stderr
    # Which incidents fail is up to the faults: each failure line of the summary is whole.
    failures = [x for x in first.stdout.splitlines() if x.startswith("✗")]
    assert failures and all(
        re.fullmatch(r"✗ (github|jira|notion): \d+ failed: .+ \(INC-BF-\d{3}.*\)", x)
        for x in failures
    ), failures
    pending = json.loads(run(cfg, env, "journal", "--json").stdout)
    assert pending and all(p["last_error"] for p in pending)
    codes = []
    for _ in range(8):
        codes.append(run(cfg, env, "retry").returncode)
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes
    trackers.faults(0.0, seed=0)
    assert_exactly_once_and_closed(trackers)
    for incident_id in ids()[:20]:
        for name in ("github", "jira", "notion"):
            assert trackers.harnesses[name].events(incident_id) == [], (name, incident_id)
    (issue,) = [
        i
        for i in trackers.github.app.issues.values()
        if (markers.find(i["body"], markers.BEGIN) or {}).get("id") == "INC-BF-007"
    ]
    snapshot = markers.find_snapshot(issue["body"])
    assert snapshot is not None and len(snapshot["embedded"]) == EVENTS
    assert run(cfg, env, "journal").stdout.strip() == "nothing pending"
