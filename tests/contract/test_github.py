"""The contract suite on GitHub: the real PyGithub client against the fake GitHub server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from syncer import markers
from tests.contract.suite import ServedHarness, TrackerContract
from tests.fakes.github import TOKEN, FakeGitHub, fresh_pacers, github_tracker


class GitHubHarness(ServedHarness):
    """The suite's view of the fake GitHub: incidents by their markers, writes from the log."""

    name = "gh"

    def __init__(self, app: FakeGitHub) -> None:
        self.server = app
        self.app = app
        self.table: dict[str, Any] = github_tracker(app)
        self.env: dict[str, str] = {"GITHUB_TOKEN": TOKEN}

    def _marked(self, kind: str, incident_id: str) -> list[dict[str, Any]]:
        with self.app.lock:
            return [
                issue
                for _, issue in sorted(self.app.issues.items())
                if (markers.find(issue["body"], kind) or {}).get("id") == incident_id
                and "duplicate" not in issue["labels"]
            ]

    def _incident(self, incident_id: str) -> dict[str, Any]:
        (issue,) = self._marked(markers.BEGIN, incident_id)
        return issue

    def issues(self, incident_id: str) -> list[str]:
        return [f"#{i['number']}" for i in self._marked(markers.BEGIN, incident_id)]

    def events(self, incident_id: str) -> list[str]:
        number = self._incident(incident_id)["number"]
        return [m["id"] for c in self.app.comment_bodies(number) if (m := markers.find(c, "event"))]

    def grades(self, incident_id: str) -> list[str]:
        labels = self._incident(incident_id)["labels"]
        return [x.removeprefix("grade:") for x in labels if x.startswith("grade:")]

    def closed(self, incident_id: str) -> bool:
        issue = self._incident(incident_id)
        return bool(issue["state"] == "closed" and issue["state_reason"] == "completed")

    def postmortems(self, incident_id: str) -> int:
        return len(self._marked("postmortem", incident_id))

    def action_items(self, incident_id: str) -> int:
        return len(self._marked("action", incident_id))

    def delete(self, incident_id: str) -> None:
        self.app.delete_issue(self._incident(incident_id)["number"])

    def comment(self, incident_id: str, text: str) -> None:
        self.app.add_comment(self._incident(incident_id)["number"], text, user="alice")

    def duplicate(self, incident_id: str) -> None:
        """A second issue for the incident, as a racing sync (or a lagging index) would make."""
        issue = self._incident(incident_id)
        number = self.app.add_issue(
            issue["title"], issue["body"], list(issue["labels"]), user=self.app.login
        )
        for body in self.app.comment_bodies(issue["number"])[:2]:
            self.app.add_comment(number, body, user=self.app.login)


class TestGitHubContract(TrackerContract):
    @pytest.fixture
    def harness(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubHarness]:
        fresh_pacers(monkeypatch)
        app = FakeGitHub(users={"alice": "write", "erin": "write"}).start()
        try:
            yield GitHubHarness(app)
        finally:
            app.stop()
