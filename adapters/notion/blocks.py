"""Notion blocks: reading what Notion returns, and requests within its limits."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncer import markup

# Notion's request limits (developers.notion.com/reference/request-limits).
MAX_CHILDREN = 100  # blocks in one children array
MAX_BLOCKS = 1000  # blocks in one request, nested ones included
MAX_BYTES = 450_000  # of block JSON in one request (the limit is 500 KB for the whole body)
MAX_DEPTH = 2  # levels of nesting below the top-level blocks of one request
MAX_RICH = 100  # rich_text objects in one array

_TAG = re.compile(r"^⟨([^⟨⟩]+?)(?: sig:([0-9a-f]+))?⟩$")
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def plain(rich: list[dict[str, Any]] | None) -> str:
    return "".join(
        str(item.get("plain_text", item.get("text", {}).get("content", ""))) for item in rich or []
    )


def rich_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    body = block.get(block.get("type", ""), {})
    rich = body.get("rich_text") if isinstance(body, dict) else None
    return rich if isinstance(rich, list) else []


def tag_parts(block: dict[str, Any]) -> tuple[str, str] | None:
    """The tag on a block (the last rich text item, code-styled, ``⟨text sig:…⟩``): its text
    and its signature ("" when unsigned); None if the block has no tag."""
    rich = rich_of(block)
    if not rich:
        return None
    last = rich[-1]
    if not (last.get("annotations") or {}).get("code"):
        return None
    match = _TAG.match(plain([last]).strip())
    return (match.group(1), match.group(2) or "") if match else None


def tag_of(block: dict[str, Any]) -> str | None:
    """The text of the tag on a block (its signature left out), or None."""
    parts = tag_parts(block)
    return parts[0] if parts else None


def text_of(block: dict[str, Any]) -> str:
    """What a block says, without the tool's tag."""
    if block.get("type") == "child_page":
        return str(block.get("child_page", {}).get("title", ""))
    rich = rich_of(block)
    if rich and tag_of(block) is not None:
        rich = rich[:-1]
    return plain(rich).strip()


def tag(text: str, sig: str | None = None) -> list[dict[str, Any]]:
    """A small gray code-styled tag ``⟨text⟩``, with its signature when there is one."""
    signed = f"{text} sig:{sig}" if sig else text
    return markup.notion_text(f"⟨{signed}⟩", code=True, color="gray")


def prop(page: dict[str, Any], name: str) -> dict[str, Any]:
    value = page.get("properties", {}).get(name)
    return value if isinstance(value, dict) else {}


def prop_text(page: dict[str, Any], name: str) -> str:
    value = prop(page, name)
    return plain(value.get(value.get("type", "rich_text")) or [])


def choice(page: dict[str, Any], name: str) -> str | None:
    value = prop(page, name)
    chosen = value.get(value.get("type", "select"))
    return str(chosen["name"]) if isinstance(chosen, dict) and chosen.get("name") else None


def created(page: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(page.get("created_time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


def trashed(obj: dict[str, Any]) -> bool:
    return bool(obj.get("in_trash") or obj.get("archived"))


def short(page_id: str) -> str:
    return page_id.replace("-", "")[:8]


def page_url(page_id: str, block_id: str | None = None) -> str:
    """A page's link that does not change with its title (Notion's own URL carries the title)."""
    url = f"https://www.notion.so/{page_id.replace('-', '')}"
    return f"{url}#{block_id.replace('-', '')}" if block_id else url


def block_hash(block: dict[str, Any]) -> str:
    blob = json.dumps(block, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def body_of(block: dict[str, Any]) -> dict[str, Any]:
    body = block.get(block["type"])
    return body if isinstance(body, dict) else {}


def _size(block: dict[str, Any]) -> int:
    return len(json.dumps(block, ensure_ascii=False).encode())


def _table_rows_as_paragraphs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A table that would lose its rows to the nesting limit, as one paragraph per row."""
    out = []
    for row in rows:
        rich: list[dict[str, Any]] = []
        for n, cell in enumerate(row.get("table_row", {}).get("cells", [])):
            if n:
                rich.extend(markup.notion_text(" | "))
            rich.extend(cell)
        for start in range(0, max(len(rich), 1), MAX_RICH):
            out.append(
                {"type": "paragraph", "paragraph": {"rich_text": rich[start : start + MAX_RICH]}}
            )
    return out


Path = tuple[int, ...]
Deferred = list[tuple[Path, list[dict[str, Any]]]]


def _shape(
    block: dict[str, Any], depth: int, path: Path, deferred: Deferred
) -> list[dict[str, Any]]:
    """``block`` as it can go in one request, within the nesting and children limits.

    Children that do not fit (deeper than two levels, or beyond 100 in one array) go to
    ``deferred`` as (path below the request's top level, blocks), to be appended to that
    block once it exists. A table that would lose its rows becomes one paragraph per row
    (Notion creates no table without rows), so the result may be several blocks.
    """
    kind = block["type"]
    body = dict(body_of(block))
    children = body.pop("children", None)
    out = {k: v for k, v in block.items() if k != kind} | {kind: body}
    if not children:
        return [out]
    if depth >= MAX_DEPTH:
        if kind == "table":
            return _table_rows_as_paragraphs(children)
        deferred.append((path, children))
        return [out]
    kept: list[dict[str, Any]] = []
    for n, child in enumerate(children):
        mine: Deferred = []
        shaped = _shape(child, depth + 1, (*path, len(kept)), mine)
        if len(kept) + len(shaped) > MAX_CHILDREN:
            deferred.append((path, children[n:]))
            break
        kept.extend(shaped)
        deferred.extend(mine)
    body["children"] = kept
    return [out]


@dataclass
class Request:
    """One request's worth of top-level blocks, and what must follow once they exist."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    deferred: Deferred = field(default_factory=list)
    count: int = 0
    size: int = 0


def plan_requests(blocks: list[dict[str, Any]]) -> list[Request]:
    """Split blocks into requests: ≤100 top-level, ≤1000 in all, ≤450 KB, ≤2 levels deep."""
    requests: list[Request] = []
    current = Request()
    for block in blocks:
        deferred: Deferred = []
        (shaped,) = _shape(block, 0, (), deferred)
        count, size = markup.count_blocks([shaped]), _size(shaped)
        if count > MAX_BLOCKS or size > MAX_BYTES:  # too big alone: its children follow
            children = body_of(block).get("children", [])
            shaped = {k: v for k, v in block.items() if k != block["type"]}
            shaped[block["type"]] = {k: v for k, v in body_of(block).items() if k != "children"}
            deferred = [((), children)]
            count, size = 1, _size(shaped)
        if current.blocks and (
            len(current.blocks) >= MAX_CHILDREN
            or current.count + count > MAX_BLOCKS
            or current.size + size > MAX_BYTES
        ):
            requests.append(current)
            current = Request()
        index = len(current.blocks)
        current.blocks.append(shaped)
        current.deferred.extend(((index, *p), kids) for p, kids in deferred)
        current.count += count
        current.size += size
    if current.blocks:
        requests.append(current)
    return requests


def recorded_hashes(codes: list[dict[str, Any]]) -> list[str]:
    """The block hashes a postmortem's tag keeps (empty if a person edited them away)."""
    try:
        data = json.loads("".join(plain(rich_of(c)) for c in codes))
        return [str(h) for h in data.get("blocks", [])]
    except (ValueError, AttributeError):
        return []


def walk(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        yield block
        yield from walk(body_of(block).get("children", []))
