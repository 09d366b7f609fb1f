"""Closing what two racing runs made twice on Notion: an incident page, a postmortem (a page of
the postmortem database, or a child page of the incident page) or an action item (a to-do of a
postmortem). Each says so with a callout linking the one kept, once however often it is retried,
and is then taken out of what the tool reads as the incident's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.base import IssueRef, TrackerError
from adapters.notion.blocks import prop_text, tag_of
from adapters.notion.trust import author
from syncer import markup
from syncer.model import Status

if TYPE_CHECKING:
    from adapters.notion.adapter import NotionAdapter
    from adapters.notion.pages import Layout

POSTMORTEM_TAG = "incident-syncer postmortem "


def already_archived(exc: TrackerError) -> bool:
    """Notion's 400 for deleting (or editing) a block or page already in the trash: done."""
    return exc.status == 400 and "archived" in exc.message


def repeats(adapter: NotionAdapter, layout: Layout) -> list[tuple[str, str]]:
    """The event blocks that repeat an older one's tag, those the tool's bot created (a
    signed tag a person copied stays: the trust rule decides what counts, not what goes)."""
    return [(m, str(b["id"])) for m, b in layout.copies if adapter.trust.is_tool(author(b))]


def remove_repeats(adapter: NotionAdapter, ref: IssueRef, entries: list[str]) -> None:
    """Delete each repeated event block (one already in the trash counts as deleted); the
    page's layout is read again next time, its last block may be one of them."""
    for block_id in entries:
        adapter._delete(block_id)
    adapter.layouts.put(ref.native, None)


def close_duplicate(adapter: NotionAdapter, duplicate: IssueRef, keep: IssueRef) -> None:
    """Say so on ``duplicate`` (a callout linking ``keep``), then take it out of the incident."""
    if "/" in duplicate.key:  # "page/item": a to-do of a postmortem
        _say_duplicate(adapter, duplicate.native, "duplicate_item", keep)
        _checked(adapter, duplicate.native)
        return
    page = adapter.api.call(
        "read the page", lambda: adapter.client.pages.retrieve(duplicate.native)
    )
    present = page.get("properties") or {}
    if adapter.props.status in present:  # an incident page
        incident_id = prop_text(page, adapter.props.incident_id)
        _say_duplicate(adapter, duplicate.native, "duplicate", keep)
        _rename(
            adapter, duplicate.native, adapter.props.incident_id, incident_id, keep, closed=True
        )
    elif adapter.pm_props.incident_id in present:  # a postmortem in the postmortem database
        incident_id = prop_text(page, adapter.pm_props.incident_id)
        _say_duplicate(adapter, duplicate.native, "duplicate_postmortem", keep)
        _rename(adapter, duplicate.native, adapter.pm_props.incident_id, incident_id, keep)
    else:  # a postmortem as a child page: its tag goes, so it is no postmortem any more
        _say_duplicate(adapter, duplicate.native, "duplicate_postmortem", keep)
        blocks = adapter._children(duplicate.native, "read the postmortem")
        head = blocks[0] if blocks and blocks[0].get("type") == "toggle" else None
        text = (tag_of(head) or "") if head else ""
        incident_id = text.removeprefix(POSTMORTEM_TAG).split(" ")[0]
        if head and text.startswith(POSTMORTEM_TAG) and adapter.checks.tag(head, incident_id):
            adapter._delete(str(head["id"]))


def _say_duplicate(adapter: NotionAdapter, block_id: str, key: str, keep: IssueRef) -> None:
    """The callout linking ``keep`` under ``block_id``, unless the tool already wrote it."""
    for block in adapter._children(block_id, "read the duplicate"):
        links = [r.get("href") for r in (block.get("callout") or {}).get("rich_text") or []]
        if keep.url in links and adapter.trust.is_tool(author(block)):
            return
    callout = {
        "type": "callout",
        "callout": {
            "rich_text": markup.notion_text(adapter.pages.text[key])
            + markup.notion_text(keep.url, link=keep.url),
            "icon": {"type": "emoji", "emoji": "🔁"},
            "color": "yellow_background",
        },
    }
    adapter.append(block_id, [callout])


def _rename(
    adapter: NotionAdapter,
    page_id: str,
    prop: str,
    incident_id: str,
    keep: IssueRef,
    closed: bool = False,
) -> None:
    """Out of the incident: the Incident ID gets a suffix (and the status is closed), once: a
    retry, or another run healing the same race, finds it renamed (the same update closed it)."""
    suffix = f" (duplicate of {keep.key})"
    if incident_id.endswith(suffix):
        return
    properties: dict[str, Any] = {prop: {"rich_text": markup.notion_text(incident_id + suffix)}}
    if closed:
        status = {adapter.settings.status_type: {"name": adapter.status_key(Status.closed)}}
        properties[adapter.props.status] = status
    adapter.api.call(
        "close the duplicate",
        lambda: adapter.client.pages.update(page_id, properties=properties),
    )


def _checked(adapter: NotionAdapter, block_id: str) -> None:
    """A duplicate to-do is done: ticked."""
    try:
        adapter.api.call(
            "close the duplicate",
            lambda: adapter.client.blocks.update(block_id, to_do={"checked": True}),
        )
    except TrackerError as exc:
        if not already_archived(exc):  # someone deleted it meanwhile: nothing to close
            raise
