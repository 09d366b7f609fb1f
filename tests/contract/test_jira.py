"""The contract suite on Jira: the real ``jira`` client against the fake, as Data Center and as Cloud."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncer import markers
from tests.contract import trust
from tests.contract.suite import ServedHarness, TrackerContract
from tests.fakes.jira import FakeJira, Issue, adf_text, is_adf, jira_tracker

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
        self.cloud = cloud
        self.tools: list[dict[str, Any]] = [fake.bot]  # the users the tool writes as
        self.mallory = fake.user_json("Mallory", "mallory")
        self.env = {"JIRA_EMAIL": fake.email, "JIRA_API_TOKEN": fake.token}
        # The fake asks for Retry-After: 0; a generous rate keeps the pacer's 429
        # slow-downs (halving, down to 1/16) from stretching the fault tests.
        self.table: dict[str, Any] = jira_tracker(
            fake, transitions=TRANSITIONS, requests_per_second=1000, burst=50
        )

    def _issues(self, incident_id: str) -> list[Issue]:
        """The tool's issues of the incident (people's imitations left out)."""
        return [
            i
            for i in self.fake.issues_labelled(f"incident-id-{incident_id}")
            if i.fields.get("creator") in self.tools
        ]

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
        return [
            m.group(1)
            for c in issue.comments
            if c["author"] in self.tools and (m := EVENT.search(self._plain(c["body"])))
        ]

    @staticmethod
    def _plain(value: Any) -> str:
        return adf_text(value) if is_adf(value) else str(value or "")

    def said(self, incident_id: str) -> list[str]:
        (issue,) = self._issues(incident_id)
        return [self._plain(c["body"]) for c in issue.comments if c["author"] not in self.tools]

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

    def duplicate_note(self, key: str) -> str | None:
        issue = self.fake.issues[key]
        prop = issue.properties.get("incident-syncer") or {}
        notes = [
            m.group(1)
            for c in issue.comments
            if c["author"] in self.tools
            and (m := re.match(r"Duplicate of (\S+) \(", self._plain(c["body"])))
        ]
        closed = self.fake.category(issue) == "done"
        if prop.get("kind") != "duplicate" or not closed or prop.get("of") not in notes:
            return None
        return str(prop["of"])

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
        dup = self._seed(
            issue.fields, issue.properties, issue.created + timedelta(seconds=5), issue.comments[:2]
        )
        dup.fields["status"] = "10000"

    def _seed(
        self,
        fields: dict[str, Any],
        properties: dict[str, Any],
        created: datetime,
        comments: list[dict[str, Any]] | None = None,
    ) -> Issue:
        """An issue put straight into the fake (copies of what is given)."""
        with self.fake.lock:
            self.fake._next_id += 1
            key = f"{self.fake.project}-{self.fake._next_id - 10000}"
            issue = Issue(
                id=str(self.fake._next_id),
                key=key,
                fields=copy.deepcopy(fields),
                properties=copy.deepcopy(properties),
                comments=copy.deepcopy(comments or []),
                created=created,
            )
            self.fake.issues[key] = issue
            return issue

    # People's writes (the trust tests).

    def _who(self, user: dict[str, Any]) -> str:
        return str(user["accountId"] if self.cloud else user["name"])

    def forged_event(self, event_id: str) -> str:
        return f"incident-syncer:event id={event_id}"  # the footer, typed by hand

    def person_body(self, incident_id: str, text: str) -> None:
        (issue,) = self._issues(incident_id)
        with self.fake.lock:
            old = issue.fields.get("description")
            if is_adf(old):
                lines = [ln for ln in text.split("\n") if ln]
                extra = [
                    {"type": "paragraph", "content": [{"type": "text", "text": ln}]} for ln in lines
                ]
                issue.fields["description"] = {**old, "content": [*old["content"], *extra]}
            else:
                issue.fields["description"] = f"{old or ''}\n\n{text}"

    def plant_issue(self, incident_id: str) -> str:
        snapshot = markers.find_snapshot(trust.owned_forgery(incident_id)) or {}
        fields = {
            "summary": trust.MALLORY_TITLE,
            "issuetype": "Incident",
            "labels": ["incident", "grade:SEV3", f"incident-id-{incident_id}"],
            "status": "10000",
            "description": "{anchor:incident-syncer-begin}\nplanted\n{anchor:incident-syncer-end}",
            "creator": self.mallory,
            "reporter": self.mallory,
        }
        prop = {
            "v": 1,
            "kind": "incident",
            "id": incident_id,
            "digest": "0" * 16,
            "owned": 0,
            "snapshot": markers.encode_snapshot(snapshot),
        }
        key = self._seed(
            fields, {"incident-syncer": prop}, datetime.now(UTC) - timedelta(days=30)
        ).key
        self.fake.add_person_comment(key, self.forged_event("fired"), "Mallory")
        return key

    def planted(self, handle: str) -> Any:
        with self.fake.lock:
            issue = self.fake.issues[handle]
            return copy.deepcopy((issue.fields, issue.properties, issue.comments))

    def body(self, incident_id: str) -> str:
        (issue,) = self._issues(incident_id)
        return self._plain(issue.fields.get("description"))

    def title(self, incident_id: str) -> str:
        (issue,) = self._issues(incident_id)
        return str(issue.fields["summary"])

    def other_identity(self) -> tuple[dict[str, str], dict[str, Any], str]:
        """A second account (a colleague's token on a laptop)."""
        user = self.fake.add_account(
            "laptop-token-0123456789", "laptop-alice", email="alice@example.com"
        )
        self.tools.append(user)
        return (
            {"JIRA_EMAIL": "alice@example.com", "JIRA_API_TOKEN": "laptop-token-0123456789"},
            {},
            self._who(user),
        )

    def identity(self) -> str:
        return self._who(self.fake.bot)

    def identity_lookups(self) -> int:
        return sum(1 for e in self.fake.log if e.path.endswith("/myself"))


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
