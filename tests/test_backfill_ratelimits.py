"""Pacing against fakes that enforce the trackers' own kinds of rate limit (scaled down).

GitHub: a secondary limit on writes per window (403 + Retry-After). Notion: an average of
requests a second with short bursts (429 + Retry-After). Jira: a budget that answers ``X-RateLimit-NearLimit:
true`` when it is nearly spent and 429 when it is spent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syncer.cli import main
from tests.contract import test_jira as jira_contract
from tests.fakes.base import Response
from tests.fakes.github import TOKEN as GITHUB_TOKEN
from tests.fakes.github import FakeGitHub, fresh_pacers, github_tracker
from tests.fakes.jira import FakeJira
from tests.fakes.notion import TOKEN as NOTION_TOKEN
from tests.fakes.notion import FakeNotion, notion_tracker
from tests.test_backfill_cli import configure, make_folder

COUNT = 20


class BudgetJira(FakeJira):
    """Jira Cloud's behaviour in small: a budget of requests a second, near-limit at 80 %."""

    def __init__(self, per_second: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.per_second = per_second
        self.recent: deque[float] = deque()
        self.budget_lock = threading.Lock()
        self.limited = 0
        self.warned = 0

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        with self.budget_lock:
            now = time.monotonic()
            while self.recent and self.recent[0] <= now - 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.per_second:
                self.limited += 1
                return Response(
                    429, {"errorMessages": ["Rate limit exceeded."], "errors": {}},
                    {"Retry-After": "0.2"},
                )  # fmt: skip
            self.recent.append(now)
            near = len(self.recent) >= 0.8 * self.per_second
        response = super().handle(method, raw_path, headers, body)
        if near:
            self.warned += 1
            response.headers = {**response.headers, "X-RateLimit-NearLimit": "true"}
        return response


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeGitHub, BudgetJira, FakeNotion]]:
    fresh_pacers(monkeypatch)
    github = FakeGitHub().start()
    github.secondary_limit(10, 0.25, status=403, retry_after="0.2")  # 40 writes a second
    jira = BudgetJira(60, cloud=True).start()
    notion = FakeNotion(rate_limit=60, burst=10)  # an average, with "some bursts" allowed
    notion.retry_after = "0.2"
    notion.start()
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("NOTION_TOKEN", NOTION_TOKEN)
    for key, value in jira_contract.JiraHarness(jira, cloud=True).env.items():
        monkeypatch.setenv(key, value)
    try:
        yield github, jira, notion
    finally:
        for app in (github, jira, notion):
            app.stop()


def tables(apps: tuple[FakeGitHub, BudgetJira, FakeNotion], paced: bool) -> dict[str, Any]:
    github, jira, notion = apps
    jira_table = dict(jira_contract.JiraHarness(jira, cloud=True).table)
    jira_table.pop("requests_per_second")  # Jira: no fixed rate, only its signals
    jira_table.pop("burst")
    if paced:  # under the (scaled) limits, as the documented defaults are set
        return {
            "github": github_tracker(github, writes_per_second=16, writes_per_minute=0),
            "jira": jira_table,
            "notion": notion_tracker(notion, requests_per_second=40, burst=1),
        }
    # No pacing at all (a user who lifted the limits): only the trackers' answers slow it.
    return {
        "github": github_tracker(github),
        "jira": jira_table,
        "notion": notion_tracker(notion, requests_per_second=0, burst=1),
    }


def tripped(app: Any) -> int:
    return sum(1 for e in app.log if e.status in (403, 429))


def backfill(tmp_path: Path, apps: Any, paced: bool) -> tuple[str, float]:
    cfg = configure(tmp_path, tables(apps, paced))
    folder = make_folder(tmp_path, COUNT, events=3)
    began = time.monotonic()
    result = CliRunner().invoke(
        main, ["--config", str(cfg), "backfill", str(folder), "--progress", "off"]
    )
    elapsed = time.monotonic() - began
    assert result.exit_code == 0, result.output
    github, jira, notion = apps
    for i in range(COUNT):
        incident_id = f"INC-BF-{i:03d}"
        assert len(jira.issues_labelled(f"incident-id-{incident_id}")) == 1
        assert len(notion.incident_pages(incident_id)) == 1
    assert len(github.issues) == COUNT
    return result.stdout, elapsed


def test_paced_at_the_limits_never_trips_them(
    tmp_path: Path, limited: tuple[FakeGitHub, BudgetJira, FakeNotion]
) -> None:
    github, jira, notion = limited
    table, elapsed = backfill(tmp_path, limited, paced=True)
    assert tripped(github) == 0 and tripped(notion) == 0
    # Notion is the slowest budget here: every one of its requests waited its turn.
    notion_requests = notion.calls()
    assert elapsed >= (notion_requests - 1) / 40 * 0.95
    lines = {
        line.split(":")[0].strip(): line for line in table.splitlines() if "request(s)" in line
    }
    assert "rate-limit answer" not in lines["github"] + lines["notion"]
    # Jira publishes no rate: its near-limit signal slowed the pacer before the budget ran out.
    assert jira.warned > 0 and "near-limit signal(s)" in table
    assert jira.limited <= 3


def test_when_a_limit_trips_everyone_waits_and_slows_down(
    tmp_path: Path, limited: tuple[FakeGitHub, BudgetJira, FakeNotion]
) -> None:
    github, _, notion = limited
    table, _ = backfill(tmp_path, limited, paced=False)
    assert tripped(github) > 0 and tripped(notion) > 0  # unpaced, the limits were hit...
    lines = {
        line.split(":")[0].strip(): line for line in table.splitlines() if "request(s)" in line
    }
    assert "rate-limit answer(s)" in lines["github"] and "rate-limit answer(s)" in lines["notion"]
    # ...and slowing down kept it to a few: far fewer 429s than requests.
    assert tripped(notion) < notion.calls() / 4
    assert tripped(github) < github.writes() / 4
