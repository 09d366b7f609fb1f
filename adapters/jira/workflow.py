"""Jira workflows: where each incident status sits, and the transitions that lead there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.base import IssueRef
from adapters.jira.client import JiraClient
from adapters.jira.settings import JiraSettings
from syncer.errors import TrackerError
from syncer.model import Status

# Where each incident status sits in a Jira workflow when no status name is configured.
CATEGORY = {
    Status.detected: "new",
    Status.investigating: "new",
    Status.mitigated: "indeterminate",
    Status.resolved: "done",
    Status.closed: "done",
}
CATEGORY_NAME = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
_CATEGORY_SUFFIX = " (category)"
# Jira's simplified workflow names its transitions after the target status.
DEFAULT_TRANSITIONS: dict[Status, list[str]] = {
    Status.detected: ["To Do"],
    Status.investigating: ["To Do"],
    Status.mitigated: ["In Progress"],
    Status.resolved: ["Done"],
    Status.closed: ["Done"],
}


class Workflow:
    """The statuses of one tracker's configuration, and the walk from one to another."""

    def __init__(self, name: str, settings: JiraSettings, client: JiraClient) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    def status_key(self, status: Status) -> str | None:
        configured = self.settings.statuses.get(status)
        if configured is not None:
            return configured or None
        return CATEGORY_NAME[CATEGORY[status]] + _CATEGORY_SUFFIX

    def status_key_of(self, status: dict[str, Any]) -> str | None:
        for value in self.settings.statuses.values():
            if value and self.satisfies(status, value):
                return value
        category = str((status.get("statusCategory") or {}).get("key", ""))
        if category in CATEGORY_NAME:
            return CATEGORY_NAME[category] + _CATEGORY_SUFFIX
        return str(status.get("name") or "") or None

    @staticmethod
    def satisfies(status: dict[str, Any] | None, want: str) -> bool:
        if not status:
            return False
        if want.endswith(_CATEGORY_SUFFIX):
            name = want[: -len(_CATEGORY_SUFFIX)]
            category = str((status.get("statusCategory") or {}).get("key", ""))
            return CATEGORY_NAME.get(category) == name
        return str(status.get("name", "")).lower() == want.lower() or str(status.get("id")) == want

    def path(self, status: Status) -> list[str]:
        configured = self.settings.transitions.get(status)
        if configured is None:
            return list(DEFAULT_TRANSITIONS[status])
        return [configured] if isinstance(configured, str) else list(configured)

    @staticmethod
    def step(available: list[dict[str, Any]], step: str) -> dict[str, Any] | None:
        wanted = step.strip().lower()
        for t in available:
            target = t.get("to") or {}
            if wanted in (
                str(t.get("name", "")).lower(),
                str(t.get("id", "")),
                str(target.get("name", "")).lower(),
                str(target.get("id", "")),
            ):
                return t
        return None

    def move(
        self,
        ref: IssueRef,
        status: Status,
        current: dict[str, Any] | None,
        moved: Callable[[dict[str, Any]], None],
    ) -> None:
        """Walk the workflow to ``status``'s Jira status, from wherever the issue is."""
        want = self.status_key(status)
        if want is None:
            return
        client = self.client.get()
        path = self.path(status)
        position = 0
        for _ in range(len(path) + 4):
            if self.satisfies(current, want):
                return
            available: list[dict[str, Any]] = self.client.call(
                f"read transitions of {ref.key}", lambda: client.transitions(ref.native)
            )
            choice: tuple[int, dict[str, Any]] | None = None
            for n in range(len(path) - 1, position - 1, -1):
                found = self.step(available, path[n])
                if found is not None:
                    choice = (n, found)
                    break
            if choice is None:
                direct = next((t for t in available if self.satisfies(t.get("to"), want)), None)
                if direct is not None:
                    choice = (len(path) - 1, direct)
            if choice is None:
                raise self.no_way(ref, status, want, current, path[position:], available)
            position, transition = choice[0] + 1, choice[1]
            # Posted directly: the library's transition_issue sends the id as a number.
            self.client.request(
                f"transition {ref.key} ({transition.get('name')})",
                "POST",
                f"issue/{ref.native}/transitions",
                body={"transition": {"id": str(transition["id"])}},
            )
            current = transition.get("to") or {}
            moved(current)
        raise self.no_way(ref, status, want, current, [], [])

    def no_way(
        self,
        ref: IssueRef,
        status: Status,
        want: str,
        current: dict[str, Any] | None,
        path: list[str],
        available: list[dict[str, Any]],
    ) -> TrackerError:
        where = (current or {}).get("name")
        offered = (
            ", ".join(
                f"{t.get('name')!r} (→ {(t.get('to') or {}).get('name', '?')})" for t in available
            )
            or "none"
        )
        if path:
            steps = " → ".join(repr(p) for p in path)
            missing = f"no transition {steps}" + (f" from {where!r}" if where else " available")
        else:
            missing = f"{where or 'its status'!r} is several transitions away"
        return TrackerError(
            f"cannot move {ref.key} to {want} for status {status.value}: {missing}; "
            f"available transitions: {offered}. Set [trackers.{self.name}] "
            f'transitions.{status.value} = ["…", "…"] to the path to take',
            tracker=self.name,
            retryable=False,
        )
