"""What the tool keeps on a Notion page: the layout read back, the properties and blocks written."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import EventDoc, IssueDoc, PostmortemDoc
from adapters.notion.blocks import (
    ITEM_ID,
    MAX_RICH,
    body_of,
    plain,
    rich_of,
    tag,
    tag_of,
    text_of,
    walk,
)
from adapters.notion.settings import NotionSettings
from syncer import markers, markup
from syncer.model import ActionItem, Status
from syncer.texts import Texts

# The notes on the boxes the tool writes (texts.j2's ``notion``); Notion joins rich texts as they
# come, so each note ends with a space before what follows it.
NOTES = (
    "data",
    "notice",
    "timeline",
    "postmortem",
    "end",
    "duplicate",
    "duplicate_postmortem",
    "duplicate_item",
)


@dataclass
class Layout:
    page_id: str
    incident_id: str = ""
    data: dict[str, Any] | None = None
    data_codes: list[dict[str, Any]] = field(default_factory=list)
    data_json: dict[str, Any] | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    heading: str | None = None
    events: list[str] = field(default_factory=list)
    copies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # later same-id blocks
    last_event: str | None = None
    child_pages: list[str] = field(default_factory=list)
    unmarked: list[str] = field(default_factory=list)
    last_text: str | None = None
    before_notice: str | None = None
    fresh: bool = False  # created by this process, nothing after the timeline heading yet


@dataclass
class PostmortemLayout:
    page: dict[str, Any]
    head: dict[str, Any] | None = None
    digest: str | None = None
    content: list[str] = field(default_factory=list)  # top-level block ids after the head
    items: dict[str, str] = field(default_factory=dict)  # item id -> to-do block id


def scan(
    page_id: str,
    incident_id: str,
    blocks: list[dict[str, Any]],
    ours: Callable[[dict[str, Any]], bool],
) -> Layout:
    """The tool's blocks on an incident page; ``ours`` says whether a tagged block is the
    tool's (signed, or created by it): a look-alike a person made is people's text."""
    layout = Layout(page_id, incident_id)
    in_timeline = False
    previous: str | None = None
    seen: set[str] = set()
    for block in blocks:
        kind = block.get("type", "")
        mark = tag_of(block)
        if mark is not None and not ours(block):
            mark = None
        block_id = str(block["id"])
        if kind == "toggle" and mark == f"incident-syncer data {incident_id}":
            layout.data = layout.data or block
        elif (
            kind == "callout" and mark and mark.startswith(f"incident-syncer notice {incident_id} ")
        ):
            if not layout.notices:
                layout.before_notice = previous
            layout.notices.append(block)
        elif kind.startswith("heading") and mark == "incident-syncer timeline":
            layout.heading = layout.heading or block_id
            in_timeline = True
        elif mark and kind != "to_do" and ITEM_ID.match(mark):
            if mark not in seen:
                seen.add(mark)
                layout.events.append(mark)
            else:
                layout.copies.append((mark, block))
            layout.last_event = block_id
            layout.last_text = text_of(block)
        elif kind == "child_page":
            layout.child_pages.append(block_id)
        elif in_timeline and not (mark or "").startswith("incident-syncer"):
            text = text_of(block)
            if text:
                layout.unmarked.append(text)
                layout.last_text = text
        previous = block_id
    return layout


class Pages:
    """The properties and tagged blocks the tool writes, in the configured language."""

    def __init__(self, settings: NotionSettings, texts: Texts, trust: markers.Trust) -> None:
        self.settings = settings
        self.trust = trust
        self.text = {key: texts("notion", key) + " " for key in NOTES}
        self.props = settings.properties
        self.pm_props = settings.postmortem_properties

    def status_key(self, status: Status) -> str | None:
        return str(getattr(self.settings.statuses, status.value))

    def incident_properties(self, doc: IssueDoc) -> dict[str, Any]:
        p, incident = self.props, doc.incident
        props: dict[str, Any] = {
            p.name: {"title": markup.notion_text(doc.title)},
            p.incident_id: {"rich_text": markup.notion_text(incident.id)},
            p.grade: {"select": {"name": doc.grade}},
            p.status: {self.settings.status_type: {"name": self.status_key(doc.status)}},
        }
        if p.commander:
            props[p.commander] = {"rich_text": markup.notion_text(incident.commander or "")}
        if p.services:
            props[p.services] = {
                "multi_select": [
                    {"name": s.replace(",", " ").strip()[:100]}
                    for s in dict.fromkeys(incident.services)
                    if s.replace(",", " ").strip()
                ]
            }
        for prop_name, value in (
            (p.started, incident.started_at),
            (p.detected, incident.detected_at),
            (p.mitigated, incident.mitigated_at),
            (p.resolved, incident.resolved_at),
        ):
            if prop_name:
                props[prop_name] = {"date": {"start": value.isoformat()} if value else None}
        if p.link:
            props[p.link] = {"url": doc.links[0].url if doc.links else None}
        return props

    def postmortem_properties(self, doc: PostmortemDoc, in_database: bool) -> dict[str, Any]:
        title = {"title": markup.notion_text(doc.title)}
        if not in_database:
            return {"title": title}
        p, incident = self.pm_props, doc.incident
        props: dict[str, Any] = {
            p.name: title,
            p.incident_id: {"rich_text": markup.notion_text(incident.id)},
        }
        if p.grade:
            props[p.grade] = {"select": {"name": incident.grade}}
        if p.author:
            author = incident.postmortem.author if incident.postmortem else None
            props[p.author] = {"rich_text": markup.notion_text(author or "")}
        if p.date:
            when = incident.opened_at
            props[p.date] = {"date": {"start": when.date().isoformat()} if when else None}
        return props

    def data_block(self, incident_id: str, digest: str, snapshot: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "toggle",
            "toggle": {
                "rich_text": markup.notion_text(self.text["data"], color="gray")
                + self.tag(f"incident-syncer data {incident_id}", incident_id),
                "children": self.data_codes(incident_id, digest, snapshot),
            },
        }

    def tag(self, text: str, incident_id: str) -> list[dict[str, Any]]:
        """A tag for a block of ``incident_id``'s, signed when a marker key is set."""
        sig = self.trust.sign("tag", {"tag": text}, {"incident": incident_id}).get(markers.SIG)
        return tag(text, sig)

    def data_codes(
        self, incident_id: str, digest: str, snapshot: dict[str, Any]
    ) -> list[dict[str, Any]]:
        value = {"id": incident_id, "digest": digest, "snapshot": markers.encode_snapshot(snapshot)}
        text = json.dumps(self.trust.sign_value("data", value), separators=(",", ":"))
        rich = markup.notion_text(text)
        return [
            {"type": "code", "code": {"rich_text": rich[i : i + MAX_RICH], "language": "json"}}
            for i in range(0, len(rich), MAX_RICH)
        ]

    def notice_block(self, doc: IssueDoc) -> dict[str, Any]:
        return {
            "type": "callout",
            "callout": {
                "rich_text": markup.notion_text(self.text["notice"])
                + self.tag(
                    f"incident-syncer notice {doc.incident.id} {doc.digest}", doc.incident.id
                ),
                "icon": {"type": "emoji", "emoji": "📣"},
                "color": "gray_background",
                "children": markup.to_notion_blocks(doc.body),
            },
        }

    def timeline_heading(self, incident_id: str) -> dict[str, Any]:
        return {
            "type": "heading_2",
            "heading_2": {
                "rich_text": markup.notion_text(self.text["timeline"])
                + self.tag("incident-syncer timeline", incident_id)
            },
        }

    def event_block(self, event: EventDoc) -> dict[str, Any]:
        """One top-level block per event: its paragraphs joined by line breaks, anything
        else nested below, and the event id as a tag at the end of the first line."""
        blocks = markup.to_notion_blocks(event.body)
        head: dict[str, Any] | None = None
        rest: list[dict[str, Any]] = []
        for block in blocks:
            kind = block["type"]
            if head is None and "rich_text" in body_of(block):
                head = block
                continue
            if (
                head is not None
                and not rest
                and kind == "paragraph"
                and head["type"] == "paragraph"
                and "children" not in body_of(head)
                and len(rich_of(head)) + len(rich_of(block)) < MAX_RICH - 1
            ):
                body_of(head)["rich_text"] = [
                    *rich_of(head),
                    *markup.notion_text("\n"),
                    *rich_of(block),
                ]
                if "children" in body_of(block):
                    rest.extend(body_of(block)["children"])
                continue
            rest.append(block)
        if head is None or len(rich_of(head)) >= MAX_RICH:
            if head is not None:
                rest.insert(0, head)
            head = {"type": "paragraph", "paragraph": {"rich_text": []}}
        body = body_of(head)
        mark = self.tag(event.event_id, event.incident_id)
        body["rich_text"] = [*rich_of(head), *markup.notion_text(" "), *mark]
        if rest:
            body["children"] = [*body.get("children", []), *rest]
        return head

    def postmortem_blocks(self, doc: PostmortemDoc) -> list[dict[str, Any]]:
        """The postmortem's blocks; each action item's to-do tagged with its item id."""
        blocks = markup.to_notion_blocks(doc.body)
        items = list(doc.incident.postmortem.action_items) if doc.incident.postmortem else []
        todos = [b for b in walk(blocks) if b["type"] == "to_do" and tag_of(b) is None]
        for item in items:
            match = next(
                (t for t in todos if plain(rich_of(t)).strip().startswith(item.title)), None
            )
            if match is None:  # a template without the action items: list them at the end
                blocks.append(self.todo(item, doc.incident.id))
                continue
            todos.remove(match)
            body = body_of(match)
            rich = body["rich_text"]
            if len(rich) > MAX_RICH - 3:  # room for the tag: same text, fewer objects
                rich = markup.notion_text(plain(rich))
            mark = self.tag(item.item_id, doc.incident.id)
            body["rich_text"] = [*rich, *markup.notion_text(" "), *mark]
        return blocks

    def postmortem_head(self, incident_id: str, digest: str, hashes: list[str]) -> dict[str, Any]:
        return {
            "type": "toggle",
            "toggle": {
                "rich_text": markup.notion_text(self.text["postmortem"], color="gray")
                + self.tag(f"incident-syncer postmortem {incident_id} {digest}", incident_id),
                "children": [
                    {
                        "type": "code",
                        "code": {
                            "rich_text": markup.notion_text(json.dumps({"blocks": hashes})),
                            "language": "json",
                        },
                    }
                ],
            },
        }

    def postmortem_end(self, incident_id: str, digest: str) -> dict[str, Any]:
        return {
            "type": "paragraph",
            "paragraph": {
                "rich_text": markup.notion_text(self.text["end"], color="gray")
                + self.tag(f"incident-syncer end {digest}", incident_id)
            },
        }

    def todo(self, item: ActionItem, incident_id: str) -> dict[str, Any]:
        text = item.title + (f" ({item.owner})" if item.owner else "")
        text += f", {item.due.isoformat()}" if item.due else ""
        return {
            "type": "to_do",
            "to_do": {
                "rich_text": markup.notion_text(text)
                + markup.notion_text(" ")
                + self.tag(item.item_id, incident_id),
                "checked": False,
            },
        }
