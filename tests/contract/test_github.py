"""The contract suite on GitHub: the real PyGithub client against the fake GitHub server."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from syncer import markers
from tests.contract import trust
from tests.contract.suite import ServedHarness, TrackerContract
from tests.fakes.github import TOKEN, FakeGitHub, fresh_pacers, github_tracker

ACTIONS_BOT = "github-actions[bot]"  # who GITHUB_TOKEN writes as in Actions
ACTIONS_TOKEN = "ghs_FAKEactions0000installationTokenForTests"  # not a real token


class GitHubHarness(ServedHarness):
    """The suite's view of the fake GitHub: incidents by their markers, writes from the log."""

    name = "gh"

    def __init__(self, app: FakeGitHub) -> None:
        self.server = app
        self.app = app
        self.table: dict[str, Any] = github_tracker(app)
        self.env: dict[str, str] = {"GITHUB_TOKEN": TOKEN}

    def _marked(self, kind: str, incident_id: str) -> list[dict[str, Any]]:
        """The tool's issues with a ``kind`` marker for the incident (people's imitations left out)."""
        with self.app.lock:
            return [
                issue
                for _, issue in sorted(self.app.issues.items())
                if (markers.find(issue["body"], kind) or {}).get("id") == incident_id
                and "duplicate" not in issue["labels"]
                and issue["user"] in (self.app.login, ACTIONS_BOT)
            ]

    def _incident(self, incident_id: str) -> dict[str, Any]:
        (issue,) = self._marked(markers.BEGIN, incident_id)
        return issue

    def issues(self, incident_id: str) -> list[str]:
        return [f"#{i['number']}" for i in self._marked(markers.BEGIN, incident_id)]

    def events(self, incident_id: str) -> list[str]:
        issue = self._incident(incident_id)
        with self.app.lock:
            comments = [self.app.comments[c] for c in issue["comments"]]
        return [
            m["id"]
            for c in comments
            if c["user"] in (self.app.login, ACTIONS_BOT)
            and (m := markers.find(c["body"], "event"))
        ]

    def said(self, incident_id: str) -> list[str]:
        issue = self._incident(incident_id)
        with self.app.lock:
            comments = [self.app.comments[c] for c in issue["comments"]]
        return [c["body"] for c in comments if c["user"] not in (self.app.login, ACTIONS_BOT)]

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

    def duplicate_note(self, key: str) -> str | None:
        number = int(key.removeprefix("#"))
        with self.app.lock:
            issue = self.app.issues[number]
            notes = [
                self.app.comments[c]["body"]
                for c in issue["comments"]
                if self.app.comments[c]["user"] in (self.app.login, ACTIONS_BOT)
                and markers.find(self.app.comments[c]["body"], "duplicate")
            ]
        if issue["state"] != "closed" or "duplicate" not in issue["labels"] or not notes:
            return None
        return str(notes[-1].splitlines()[0].removeprefix("Duplicate of "))

    # People's writes (the trust tests).

    def forged_event(self, event_id: str) -> str:
        return markers.marker("event", id=event_id)

    def person_body(self, incident_id: str, text: str) -> None:
        issue = self._incident(incident_id)
        self.app.edit_issue(issue["number"], body=f"{text}\n\n{issue['body']}")

    def plant_issue(self, incident_id: str) -> str:
        labels = ["incident", "grade:SEV3", f"incident-id:{incident_id}"]
        number = self.app.add_issue(
            trust.MALLORY_TITLE, trust.owned_forgery(incident_id), labels, user="mallory"
        )
        self.app.add_comment(number, self.forged_event("fired"), user="mallory")
        self.app.edit_issue(number, created_at="2020-01-01T00:00:00Z")  # long before the real one
        return str(number)

    def planted(self, handle: str) -> Any:
        with self.app.lock:
            issue = self.app.issues[int(handle)]
            return {**copy.deepcopy(issue), "comments": self.app.comment_bodies(int(handle))}

    def body(self, incident_id: str) -> str:
        return str(self._incident(incident_id)["body"])

    def title(self, incident_id: str) -> str:
        return str(self._incident(incident_id)["title"])

    def other_identity(self) -> tuple[dict[str, str], dict[str, Any], str]:
        """GITHUB_TOKEN in Actions: an installation token, writing as github-actions[bot]."""
        self.app.add_token(ACTIONS_TOKEN, ACTIONS_BOT, installation=True)
        return {"GITHUB_TOKEN": ACTIONS_TOKEN}, {}, ACTIONS_BOT

    def identity(self) -> str:
        return self.app.login

    def identity_lookups(self) -> int:
        return len(self.app.entries("GET", r"^/user$")) + len(self.app.entries("POST", "graphql$"))


class TestGitHubContract(TrackerContract):
    @pytest.fixture
    def harness(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubHarness]:
        fresh_pacers(monkeypatch)
        app = FakeGitHub(users={"alice": "write", "erin": "write"}).start()
        try:
            yield GitHubHarness(app)
        finally:
            app.stop()
