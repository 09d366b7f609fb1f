"""The contract suite on Notion: the real notion-client against the fake Notion server.

Run twice: with Notion-Version 2025-09-03 (the database's data source is discovered, queried
and used as the parent; postmortems are child pages) and with 2022-06-28 (the plain
database is queried and used as the parent; postmortems go to a postmortems database).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncer import markers, pacing
from tests.contract import trust
from tests.contract.suite import ServedHarness, TrackerContract
from tests.fakes.notion import (
    BOT_ID,
    LATEST,
    LEGACY,
    PERSON_ID,
    TOKEN,
    FakeNotion,
    notion_tracker,
)

PERSON_TOKEN = "ntn_FAKEperson0000someoneEditingInNotion"  # not a real token
OTHER_TOKEN = "ntn_FAKEother00000anotherIntegrationToken"
OTHER_BOT = "b0b0b0b0-0000-4000-8000-0000000000b2"
_TAGGED = re.compile(r"(⟨[^⟨⟩]+⟩)")


def rich(text: str) -> list[dict[str, Any]]:
    """Rich text as a person types it: every ``⟨...⟩`` code-styled, like the tool's tags."""
    return [
        {
            "type": "text",
            "text": {"content": part},
            "annotations": {"code": bool(_TAGGED.match(part))},
        }
        for part in _TAGGED.split(text)
        if part
    ]


class NotionHarness(ServedHarness):
    """The suite's view of the fake Notion: pages by their Incident ID, blocks by their tags."""

    name = "notion"

    def __init__(self, app: FakeNotion, **overrides: Any) -> None:
        self.server = app
        self.app = app
        self.table: dict[str, Any] = notion_tracker(app, **overrides)
        self.env: dict[str, str] = {"NOTION_TOKEN": TOKEN}
        self.pm_database = "postmortem_database_id" in overrides
        self.tools = {BOT_ID}  # the bot users the tool writes as
        app.add_token(PERSON_TOKEN, PERSON_ID)

    def _mine(self, incident_id: str) -> list[dict[str, Any]]:
        """The tool's pages of the incident (people's imitations left out)."""
        return [
            p for p in self.app.incident_pages(incident_id) if p["created_by"]["id"] in self.tools
        ]

    def _page(self, incident_id: str) -> dict[str, Any]:
        (page,) = self._mine(incident_id)
        return page

    def issues(self, incident_id: str) -> list[str]:
        return [p["id"][:8] for p in self._mine(incident_id)]

    def events(self, incident_id: str) -> list[str]:
        blocks = self.app.live(self._page(incident_id)["id"])
        tags = [
            self.app.tag(b)
            for b in blocks
            if b["type"] != "to_do" and b["created_by"]["id"] in self.tools
        ]
        return [t for t in tags if t and not t.startswith("incident-syncer")]

    def said(self, incident_id: str) -> list[str]:
        blocks = self.app.live(self._page(incident_id)["id"])
        return [self.app.text(b) for b in blocks if b["created_by"]["id"] not in self.tools]

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

    def _key_of(self, url: str) -> str:
        """The key the tool prints for a page's link (``#block``: the to-do's item there)."""
        page, _, block = url.removeprefix("https://www.notion.so/").partition("#")
        if not block:
            return page[:8]
        (todo,) = [b for b in self.app.blocks.values() if b["id"].replace("-", "") == block]
        return f"{page[:8]}/{self.app.tag(todo)}"

    def _by_key(self, key: str) -> dict[str, Any]:
        page, _, item = key.partition("/")
        (found,) = [p for p in self.app.pages.values() if p["id"].replace("-", "")[:8] == page]
        if not item:
            return found
        (todo,) = [
            b
            for b in self.app.live(found["id"])
            if b["type"] == "to_do" and self.app.tag(b) == item
        ]
        return todo

    def duplicate_note(self, key: str) -> str | None:
        """The link in the tool's callout on the page (or under the to-do) it closed."""
        with self.app.lock:
            where = self._by_key(key)
            notes = [
                r["href"]
                for b in self.app.live(where["id"])
                if b["type"] == "callout" and b["created_by"]["id"] in self.tools
                for r in b["callout"]["rich_text"]
                if r.get("href")
            ]
            return self._key_of(notes[-1]) if notes else None

    def delete(self, incident_id: str) -> None:
        self.app.trash_page(self._page(incident_id)["id"])

    def comment(self, incident_id: str, text: str) -> None:
        self.app.add_block(self._page(incident_id)["id"], rich(text))

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

    # People's writes (the trust tests): through the API with a person's token.

    def _as_person(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {PERSON_TOKEN}", "Notion-Version": LATEST}
        return httpx.Client(base_url=self.app.url, headers=headers)

    def _append(self, parent: str, blocks: list[dict[str, Any]], first: bool = False) -> None:
        with self._as_person() as http:
            answer = http.patch(f"/v1/blocks/{parent}/children", json={"children": blocks})
            assert answer.status_code == 200, answer.text
        if first:  # a person may drag a block to the top of the page
            with self.app.lock:
                kids = self.app.children[parent]
                kids.insert(0, kids.pop())

    @staticmethod
    def _data_toggle(incident_id: str, snapshot: dict[str, Any]) -> dict[str, Any]:
        blob = json.dumps({"digest": "0" * 16, "snapshot": markers.encode_snapshot(snapshot)})
        code = {"type": "code", "code": {"rich_text": rich(blob), "language": "json"}}
        head = rich(f"incident-syncer sync data ⟨incident-syncer data {incident_id}⟩")
        return {"type": "toggle", "toggle": {"rich_text": head, "children": [code]}}

    def forged_event(self, event_id: str) -> str:
        return f"⟨{event_id}⟩"

    def person_body(self, incident_id: str, text: str) -> None:
        page = self._page(incident_id)["id"]
        snapshot = markers.find_snapshot(text)
        if snapshot is not None:  # the Notion form of a snapshot: a data toggle, on top
            self._append(page, [self._data_toggle(incident_id, snapshot)], first=True)
        else:
            self._append(page, [{"type": "paragraph", "paragraph": {"rich_text": rich(text)}}])

    def plant_issue(self, incident_id: str) -> str:
        snapshot = markers.find_snapshot(trust.owned_forgery(incident_id)) or {}
        notice = rich(f"Notice ⟨incident-syncer notice {incident_id} {'0' * 16}⟩")
        blocks = [
            self._data_toggle(incident_id, snapshot),
            {"type": "callout", "callout": {"rich_text": notice}},
            {
                "type": "heading_2",
                "heading_2": {"rich_text": rich("Timeline ⟨incident-syncer timeline⟩")},
            },
            {"type": "paragraph", "paragraph": {"rich_text": rich("Alert fired ⟨fired⟩")}},
        ]
        body = {
            "parent": {"database_id": self.app.db_id},
            "properties": {
                "Name": {"title": [{"type": "text", "text": {"content": trust.MALLORY_TITLE}}]},
                "Incident ID": {"rich_text": [{"type": "text", "text": {"content": incident_id}}]},
            },
            "children": blocks,
        }
        with self._as_person() as http:
            answer = http.post("/v1/pages", json=body)
            assert answer.status_code == 200, answer.text
        page_id = str(answer.json()["id"])
        with self.app.lock:  # made long before the tool's
            self.app.pages[page_id]["created_time"] = "2020-01-01T00:00:00.000Z"
            self.app.pages[page_id]["_seq"] = -1
        return page_id

    def planted(self, handle: str) -> Any:
        with self.app.lock:
            return copy.deepcopy((self.app.pages[handle], self.app.live(handle)))

    def body(self, incident_id: str) -> str:
        def text(parent: str) -> list[str]:
            out = []
            for block in self.app.live(parent):
                inner = block.get(block["type"], {})
                out.append("".join(r["plain_text"] for r in inner.get("rich_text") or []))
                out.extend(text(block["id"]))
            return out

        return "\n".join(text(self._page(incident_id)["id"]))

    def title(self, incident_id: str) -> str:
        prop = self._page(incident_id)["properties"]["Name"]
        return "".join(r["plain_text"] for r in prop["title"])

    def other_identity(self) -> tuple[dict[str, str], dict[str, Any], str]:
        """Another integration's token (e.g. a second workspace bot)."""
        self.app.add_token(OTHER_TOKEN, OTHER_BOT)
        self.tools.add(OTHER_BOT)
        return {"NOTION_TOKEN": OTHER_TOKEN}, {}, OTHER_BOT

    def identity(self) -> str:
        return BOT_ID

    def identity_lookups(self) -> int:
        return sum(1 for e in self.app.log if e.path == "/v1/users/me")


@pytest.fixture(params=["data_source", "database"])
def notion_harness(request: pytest.FixtureRequest) -> Iterator[NotionHarness]:
    pacing._PACERS.pop("notion", None)  # a 429 slows the process-wide pacer: not across tests
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
