"""Pacing against fakes that enforce the trackers' own kinds of rate limit, at their documented size.

GitHub: a secondary limit of 80 writes a minute (403 + Retry-After). Notion: an average of
three requests a second with short bursts (429 + Retry-After). Jira: a budget that answers
``X-RateLimit-NearLimit: true`` when it is nearly spent and 429 when it is spent.

The pacer and the fakes' limits share the test's fake clock (tests/conftest.py): a backfill
that takes minutes at these limits takes no wall time, and the request log says exactly how
many requests each window saw.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syncer.cli import main
from tests.contract import test_jira as jira_contract
from tests.fakes.base import Response
from tests.fakes.clock import FakeClock
from tests.fakes.github import TOKEN as GITHUB_TOKEN
from tests.fakes.github import FakeGitHub, fresh_pacers, github_tracker
from tests.fakes.jira import FakeJira
from tests.fakes.notion import TOKEN as NOTION_TOKEN
from tests.fakes.notion import FakeNotion, notion_tracker
from tests.test_backfill_cli import configure, make_folder

COUNT = 20
GITHUB_PER_MINUTE = 80  # GitHub's secondary limit on content-creating requests
NOTION_RATE, NOTION_BURST = 3.0, 10  # "an average of three requests per second", some bursts


class BudgetJira(FakeJira):
    """Jira Cloud's behaviour in small: a budget of requests a second, near-limit at 80 %."""

    def __init__(self, per_second: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.per_second = per_second
        self.recent: deque[float] = deque()
        self.limited = 0
        self.warned = 0

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        with self.lock:
            now = self.clock.monotonic()
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
    github.secondary_limit(GITHUB_PER_MINUTE, 60.0, status=403, retry_after="60")
    jira = BudgetJira(12, cloud=True).start()
    notion = FakeNotion(rate_limit=NOTION_RATE, burst=NOTION_BURST)
    notion.retry_after = "1"
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
    if paced:  # at 100 % of the limits the fakes enforce
        return {
            "github": github_tracker(github, writes_per_minute=GITHUB_PER_MINUTE),
            "jira": jira_table,
            "notion": notion_tracker(notion, requests_per_second=NOTION_RATE, burst=3),
        }
    # No pacing at all (a user who lifted the limits): only the trackers' answers slow it.
    return {
        "github": github_tracker(github),
        "jira": jira_table,
        "notion": notion_tracker(notion, requests_per_second=0, burst=1),
    }


def tripped(app: Any) -> int:
    return sum(1 for e in app.log if e.status in (403, 429))


def most_in_a_window(times: list[float], seconds: float) -> int:
    """The most requests a window of ``seconds`` (both ends counted) ever held."""
    times = sorted(times)
    return max(
        bisect.bisect_right(times, t) - bisect.bisect_left(times, t - seconds) for t in times
    )


def backfill(tmp_path: Path, apps: Any, paced: bool, clock: FakeClock) -> tuple[str, float]:
    cfg = configure(tmp_path, tables(apps, paced))
    folder = make_folder(tmp_path, COUNT, events=8)
    began = clock.monotonic()
    result = CliRunner().invoke(
        main,
        ["--config", str(cfg), "backfill", str(folder), "--no-historical", "--progress", "off"],
    )
    elapsed = clock.monotonic() - began
    assert result.exit_code == 0, result.output
    github, jira, notion = apps
    for i in range(COUNT):
        incident_id = f"INC-BF-{i:03d}"
        assert len(jira.issues_labelled(f"incident-id-{incident_id}")) == 1
        assert len(notion.incident_pages(incident_id)) == 1
    assert len(github.issues) == COUNT
    return result.stdout, elapsed


def test_paced_at_the_limits_never_trips_them(
    tmp_path: Path, limited: tuple[FakeGitHub, BudgetJira, FakeNotion], clock: FakeClock
) -> None:
    github, jira, notion = limited
    table, elapsed = backfill(tmp_path, limited, paced=True, clock=clock)
    assert tripped(github) == 0 and tripped(notion) == 0
    # At 100 % of the limits: GitHub's minute filled up to its 80 writes (a write counts
    # until its answer is in, so one still in flight as the window slides may keep the next
    # slot back a moment), and Notion's requests went no faster than its average.
    github_writes = [e.at for e in github.log if e.write]
    assert len(github_writes) > 2 * GITHUB_PER_MINUTE
    assert GITHUB_PER_MINUTE - 3 <= most_in_a_window(github_writes, 60.0) <= GITHUB_PER_MINUTE
    assert elapsed >= (notion.calls() - 3) / NOTION_RATE
    lines = {
        line.split(":")[0].strip(): line for line in table.splitlines() if "request(s)" in line
    }
    assert "rate-limit answer" not in lines["github"] + lines["notion"]
    # Jira publishes no rate: its near-limit signal slowed the pacer before the budget ran out.
    assert jira.warned > 0 and "near-limit signal(s)" in table
    assert jira.limited <= 3


def test_when_a_limit_trips_everyone_waits_and_slows_down(
    tmp_path: Path, limited: tuple[FakeGitHub, BudgetJira, FakeNotion], clock: FakeClock
) -> None:
    github, _, notion = limited
    table, _ = backfill(tmp_path, limited, paced=False, clock=clock)
    assert tripped(github) > 0 and tripped(notion) > 0  # unpaced, the limits were hit...
    lines = {
        line.split(":")[0].strip(): line for line in table.splitlines() if "request(s)" in line
    }
    assert "rate-limit answer(s)" in lines["github"] and "rate-limit answer(s)" in lines["notion"]
    # ...and slowing down kept it to a few: far fewer 429s than requests.
    assert tripped(notion) < notion.calls() / 4
    assert tripped(github) < github.writes() / 4
