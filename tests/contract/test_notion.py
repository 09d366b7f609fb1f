"""The contract suite on Notion: the real notion-client against the fake Notion server.

Run twice: with Notion-Version 2025-09-03 (the database's data source is discovered, queried
and used as the parent; postmortems are child pages) and with 2022-06-28 (the plain
database is queried and used as the parent; postmortems go to a postmortems database).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from syncer import retry
from tests.contract.suite import ServedHarness, TrackerContract
from tests.fakes.notion import LEGACY, TOKEN, FakeNotion, notion_tracker


class NotionHarness(ServedHarness):
    """The suite's view of the fake Notion: pages by their Incident ID, blocks by their tags."""

    name = "notion"

    def __init__(self, app: FakeNotion, **overrides: Any) -> None:
        self.server = app
        self.app = app
        self.table: dict[str, Any] = notion_tracker(app, **overrides)
        self.env: dict[str, str] = {"NOTION_TOKEN": TOKEN}
        self.pm_database = "postmortem_database_id" in overrides

    def _page(self, incident_id: str) -> dict[str, Any]:
        (page,) = self.app.incident_pages(incident_id)
        return page

    def issues(self, incident_id: str) -> list[str]:
        return [p["id"][:8] for p in self.app.incident_pages(incident_id)]

    def events(self, incident_id: str) -> list[str]:
        blocks = self.app.live(self._page(incident_id)["id"])
        tags = [self.app.tag(b) for b in blocks if b["type"] != "to_do"]
        return [t for t in tags if t and not t.startswith("incident-syncer")]

    def grades(self, incident_id: str) -> list[str]:
        grade = self.app.choice(self._page(incident_id), "Grade")
        return [grade] if grade else []

    def closed(self, incident_id: str) -> bool:
        return self.app.choice(self._page(incident_id), "Status") in ("Resolved", "Closed")

    def _postmortems(self, incident_id: str) -> list[dict[str, Any]]:
        if self.pm_database:
            return self.app.incident_pages(incident_id, self.app.pm_db_id)
        pages = [
            b for b in self.app.live(self._page(incident_id)["id"]) if b["type"] == "child_page"
        ]
        return [
            self.app.pages[b["id"]]
            for b in pages
            if (head := self.app.live(b["id"]))
            and (self.app.tag(head[0]) or "").startswith(
                f"incident-syncer postmortem {incident_id} "
            )
        ]

    def postmortems(self, incident_id: str) -> int:
        return len(self._postmortems(incident_id))

    def action_items(self, incident_id: str) -> int:
        return sum(
            1
            for pm in self._postmortems(incident_id)
            for block in self.app.live(pm["id"])
            if block["type"] == "to_do" and self.app.tag(block)
        )

    def delete(self, incident_id: str) -> None:
        self.app.trash_page(self._page(incident_id)["id"])

    def comment(self, incident_id: str, text: str) -> None:
        self.app.add_block(self._page(incident_id)["id"], text)

    def duplicate(self, incident_id: str) -> None:
        """A second page for the incident with two of its events, as a racing sync leaves."""
        events: list[str] = []

        def keep(block: dict[str, Any]) -> bool:
            mark = self.app.tag(block) or ""
            if mark.startswith("incident-syncer"):
                return True
            if mark and len(events) < 2:
                events.append(mark)
                return True
            return False

        self.app.copy_page(self._page(incident_id)["id"], keep)


@pytest.fixture(params=["data_source", "database"])
def notion_harness(request: pytest.FixtureRequest) -> Iterator[NotionHarness]:
    retry._PACERS.pop("notion", None)  # a 429 slows the process-wide pacer: not across tests
    app = FakeNotion()
    app.start()
    try:
        if request.param == "data_source":
            yield NotionHarness(app)
        else:
            yield NotionHarness(app, notion_version=LEGACY, postmortem_database_id=app.pm_db_id)
    finally:
        app.stop()


class TestNotionContract(TrackerContract):
    @pytest.fixture
    def harness(self, notion_harness: NotionHarness) -> NotionHarness:
        return notion_harness
