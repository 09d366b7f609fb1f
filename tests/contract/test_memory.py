"""The contract suite on the in-memory reference tracker."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters import memory
from syncer import markers
from tests.contract import trust
from tests.contract.suite import TrackerContract

MALLORY = "mallory"
LAPTOP = "laptop-alice"  # the other identity (what a second token would be)


class MemoryHarness:
    name = "mem"
    table: dict[str, Any] = {"type": "memory", "store": "contract"}
    env: dict[str, str] = {}

    def __init__(self) -> None:
        self.store = memory.store("contract")

    def _incidents(self, incident_id: str) -> list[dict[str, Any]]:
        return [
            i
            for i in self.store.issues.values()
            if i["kind"] == "incident"
            and i["incident"] == incident_id
            and i["author"] in (memory.TOOL, LAPTOP)
        ]

    def writes(self) -> int:
        return self.store.writes()

    def requests(self) -> int:
        return len(self.store.calls)

    def reset_log(self) -> None:
        self.store.calls.clear()

    def issues(self, incident_id: str) -> list[str]:
        return [f"#{i['number']}" for i in self._incidents(incident_id)]

    def events(self, incident_id: str) -> list[str]:
        (issue,) = self._incidents(incident_id)
        return [
            m["id"]
            for c in issue["comments"]
            if c["author"] in (memory.TOOL, LAPTOP) and (m := markers.find(c["body"], "event"))
        ]

    def said(self, incident_id: str) -> list[str]:
        (issue,) = self._incidents(incident_id)
        return [c["body"] for c in issue["comments"] if c["author"] == MALLORY]

    def grades(self, incident_id: str) -> list[str]:
        (issue,) = self._incidents(incident_id)
        return [
            label.removeprefix("grade:") for label in issue["labels"] if label.startswith("grade:")
        ]

    def closed(self, incident_id: str) -> bool:
        (issue,) = self._incidents(incident_id)
        return bool(issue["state"] == "closed")

    def postmortems(self, incident_id: str) -> int:
        return sum(
            1
            for i in self.store.issues.values()
            if i["kind"] == "postmortem" and i["incident"] == incident_id
        )

    def action_items(self, incident_id: str) -> int:
        return sum(
            1
            for i in self.store.issues.values()
            if i["kind"] == "action_item" and i["incident"] == incident_id
        )

    def faults(self, rate: float, seed: int = 0) -> None:
        import random

        self.store.fail_rate = rate
        self.store.fail_after_write = rate > 0
        self.store.rng = random.Random(seed)

    def reads_down(self, down: bool) -> None:
        self.store.reads_down = down

    def unreachable(self, down: bool) -> None:
        self.store.unreachable = down

    def delete(self, incident_id: str) -> None:
        (issue,) = self._incidents(incident_id)
        del self.store.issues[issue["number"]]

    def comment(self, incident_id: str, text: str) -> None:
        (issue,) = self._incidents(incident_id)
        issue["comments"].append({"author": MALLORY, "body": text})

    def duplicate(self, incident_id: str) -> None:
        (issue,) = self._incidents(incident_id)
        number = max(self.store.issues) + 1
        dup = copy.deepcopy(issue)
        dup.update(number=number, comments=dup["comments"][:2])
        self.store.issues[number] = dup

    def duplicate_note(self, key: str) -> str | None:
        issue = self.store.issues[int(key.removeprefix("#"))]
        notes = [
            c["body"]
            for c in issue["comments"]
            if c["author"] in (memory.TOOL, LAPTOP) and markers.find(c["body"], "duplicate")
        ]
        if issue["kind"] != "duplicate" or not notes:
            return None
        return str(notes[-1].splitlines()[0].removeprefix("Duplicate of "))

    # People's writes (the trust tests).

    def _issue(self, incident_id: str) -> dict[str, Any]:
        (issue,) = self._incidents(incident_id)
        return issue

    def forged_event(self, event_id: str) -> str:
        return markers.marker("event", id=event_id)

    def person_body(self, incident_id: str, text: str) -> None:
        issue = self._issue(incident_id)
        issue["body"] = f"{text}\n\n{issue['body']}"

    def plant_issue(self, incident_id: str) -> str:
        number = min(self.store.issues, default=1) - 1  # older than anything the tool made
        self.store.issues[number] = {
            "number": number,
            "kind": "incident",
            "incident": incident_id,
            "title": trust.MALLORY_TITLE,
            "body": trust.owned_forgery(incident_id),
            "labels": ["incident"],
            "state": "open",
            "comments": [{"author": MALLORY, "body": self.forged_event("fired")}],
            "author": MALLORY,
        }
        return str(number)

    def planted(self, handle: str) -> Any:
        return copy.deepcopy(self.store.issues[int(handle)])

    def body(self, incident_id: str) -> str:
        return str(self._issue(incident_id)["body"])

    def title(self, incident_id: str) -> str:
        return str(self._issue(incident_id)["title"])

    def other_identity(self) -> tuple[dict[str, str], dict[str, Any], str]:
        return {}, {"identity": LAPTOP}, LAPTOP

    def identity(self) -> str:
        return memory.TOOL

    def identity_lookups(self) -> int:
        return sum(1 for kind, what in self.store.calls if what == "whoami")


class TestMemoryContract(TrackerContract):
    @pytest.fixture
    def harness(self) -> MemoryHarness:
        return MemoryHarness()
