"""The contract suite on Jira: the real ``jira`` client against the fake, as Data Center and as Cloud."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.suite import ServedHarness, TrackerContract
from tests.fakes.jira import FakeJira, Issue, jira_tracker

EVENT = re.compile(r"incident-syncer:event id=([A-Za-z0-9._-]+)")
# The fake's workflow is a chain (To Do → In Progress → Done): resolving takes two steps.
TRANSITIONS = {
    "detected": "Reopen",
    "investigating": ["Stop Progress", "Reopen"],
    "mitigated": "Start Progress",
    "resolved": ["Start Progress", "Resolve"],
    "closed": ["Start Progress", "Resolve"],
}


class JiraHarness(ServedHarness):
    name = "jira"

    def __init__(self, fake: FakeJira, cloud: bool) -> None:
        self.server = fake
        self.fake = fake
        self.env = {"JIRA_EMAIL": fake.email, "JIRA_API_TOKEN": fake.token}
        # The fake asks for Retry-After: 0; a generous rate keeps the pacer's 429
        # slow-downs (halving, down to 1/16) from stretching the fault tests.
        self.table: dict[str, Any] = jira_tracker(
            fake, transitions=TRANSITIONS, requests_per_second=1000, burst=50
        )

    def _issues(self, incident_id: str) -> list[Issue]:
        return self.fake.issues_labelled(f"incident-id-{incident_id}")

    def _of_kind(self, incident_id: str, kind: str) -> list[Issue]:
        return [
            i
            for i in self.fake.issues.values()
            if (i.properties.get("incident-syncer") or {}).get("kind") == kind
            and i.properties["incident-syncer"].get("id") == incident_id
        ]

    def issues(self, incident_id: str) -> list[str]:
        return [i.key for i in self._issues(incident_id)]

    def events(self, incident_id: str) -> list[str]:
        (issue,) = self._issues(incident_id)
        return [m.group(1) for t in self.fake.comment_texts(issue) if (m := EVENT.search(t))]

    def grades(self, incident_id: str) -> list[str]:
        (issue,) = self._issues(incident_id)
        return [
            label.removeprefix("grade:") for label in issue.labels if label.startswith("grade:")
        ]

    def closed(self, incident_id: str) -> bool:
        (issue,) = self._issues(incident_id)
        return self.fake.category(issue) == "done"

    def postmortems(self, incident_id: str) -> int:
        return len(self._of_kind(incident_id, "postmortem"))

    def action_items(self, incident_id: str) -> int:
        return len(self._of_kind(incident_id, "action"))

    def delete(self, incident_id: str) -> None:
        (issue,) = self._issues(incident_id)
        with self.fake.lock:
            del self.fake.issues[issue.key]

    def comment(self, incident_id: str, text: str) -> None:
        (issue,) = self._issues(incident_id)
        self.fake.add_person_comment(issue.key, text)

    def duplicate(self, incident_id: str) -> None:
        """A second issue for the incident, as a racing run or a lagging search index leaves."""
        (issue,) = self._issues(incident_id)
        with self.fake.lock:
            self.fake._next_id += 1
            key = f"{self.fake.project}-{self.fake._next_id - 10000}"
            dup = Issue(
                id=str(self.fake._next_id),
                key=key,
                fields=copy.deepcopy(issue.fields),
                properties=copy.deepcopy(issue.properties),
                comments=copy.deepcopy(issue.comments[:2]),
                created=issue.created + timedelta(seconds=5),
            )
            dup.fields["status"] = "10000"
            self.fake.issues[key] = dup


def _harness(cloud: bool) -> Iterator[JiraHarness]:
    fake = FakeJira(cloud=cloud).start()
    try:
        yield JiraHarness(fake, cloud)
    finally:
        fake.stop()


class TestJiraDataCenterContract(TrackerContract):
    @pytest.fixture
    def harness(self) -> Iterator[JiraHarness]:
        yield from _harness(cloud=False)


class TestJiraCloudContract(TrackerContract):
    @pytest.fixture
    def harness(self) -> Iterator[JiraHarness]:
        yield from _harness(cloud=True)
