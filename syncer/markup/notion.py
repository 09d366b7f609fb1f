"""Notion block objects and rich text, within the API's limits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from syncer.markup.languages import notion_language
from syncer.markup.tree import (
    CODE,
    EM,
    STRIKE,
    STRONG,
    Block,
    CodeBlock,
    Heading,
    Inline,
    ListBlock,
    Paragraph,
    Quote,
    Rule,
    Span,
    Table,
    parse,
)

NOTION_TEXT_LIMIT = 2000  # characters of one rich_text text.content (and of a link url)
NOTION_RICH_TEXT_ITEMS = 100  # rich_text objects in one array
NOTION_CHILDREN = 100  # blocks in one children array
NOTION_DEPTH = 2  # levels of nesting below a top-level block in one request

_ANNOTATIONS = ("bold", "italic", "strikethrough", "underline", "code", "color")
_NOTION_MARK = {STRONG: "bold", EM: "italic", STRIKE: "strikethrough", CODE: "code"}
_NOTION_URL = re.compile(r"^(?:https?://|mailto:)\S+$", re.I)


def to_notion_blocks(markdown: str) -> list[dict[str, Any]]:
    """Markdown → Notion block objects, within the API's limits.

    Every text object holds at most 2,000 characters, every rich_text array at
    most 100 objects, every children array at most 100 blocks, and nesting goes
    at most two levels below the returned blocks (deeper list items are
    flattened into the second level). The returned list itself is not capped:
    send it in batches of 100 (see ``count_blocks``).
    """
    blocks = _notion_blocks(parse(markdown))
    return _notion_limit(blocks, 0)


def notion_text(text: str, link: str | None = None, **annotations: Any) -> list[dict[str, Any]]:
    """Plain text → a rich_text list, split so that no text object exceeds 2,000 characters."""
    unknown = set(annotations) - set(_ANNOTATIONS)
    if unknown:
        raise ValueError(f"unknown Notion annotation: {', '.join(sorted(unknown))}")
    marks = {k: v for k, v in annotations.items() if v}
    if link is not None and not _notion_link_ok(link):
        link = None
    items = []
    for chunk in split_text(text, NOTION_TEXT_LIMIT):
        item: dict[str, Any] = {"type": "text", "text": {"content": chunk}}
        if link:
            item["text"]["link"] = {"url": link}
        if marks:
            item["annotations"] = dict(marks)
        items.append(item)
    return items


def count_blocks(blocks: Iterable[dict[str, Any]]) -> int:
    """How many blocks there are, nested children included (Notion's per-request count)."""
    total = 0
    for block in blocks:
        total += 1
        body = block.get(block.get("type", ""), {})
        if isinstance(body, dict):
            total += count_blocks(body.get("children", []))
    return total


def _notion_link_ok(url: str) -> bool:
    # Notion rejects relative links and anything it cannot parse as an address
    return len(url) <= NOTION_TEXT_LIMIT and bool(_NOTION_URL.match(url))


def _notion_rich(spans: Inline) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    merged: Inline = []
    for span in spans:  # a line break is text in Notion: join it to its neighbours
        span = Span("\n") if span.br else span
        if merged and merged[-1].marks == span.marks and merged[-1].href == span.href:
            merged[-1] = Span(merged[-1].text + span.text, span.marks, span.href)
        else:
            merged.append(span)
    for span in merged:
        flags = {_NOTION_MARK[m]: True for m in span.marks}
        href = span.href if span.href and _notion_link_ok(span.href) else None
        items.extend(notion_text(span.text, href, **flags))
    return items


def _block(kind: str, **body: Any) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: body}


def _chunks(items: list[dict[str, Any]], size: int = NOTION_RICH_TEXT_ITEMS) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _text_blocks(kind: str, rich: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    """One block of ``kind``, or several when the text needs more than 100 rich_text objects."""
    return [_block(kind, rich_text=chunk, **extra) for chunk in _chunks(rich)]


def _notion_blocks(blocks: list[Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Heading):
            kind = f"heading_{min(block.level, 3)}"
            out.extend(_text_blocks(kind, _notion_rich(block.inline)))
        elif isinstance(block, Paragraph):
            out.extend(_text_blocks("paragraph", _notion_rich(block.inline)))
        elif isinstance(block, ListBlock):
            out.extend(_notion_list(block))
        elif isinstance(block, CodeBlock):
            language = notion_language(block.language)
            out.extend(_text_blocks("code", notion_text(block.text), language=language))
        elif isinstance(block, Quote):
            rich, children = _lead_and_rest(block.children)
            quotes = _text_blocks("quote", rich)
            if children:
                quotes[-1]["quote"]["children"] = children
            out.extend(quotes)
        elif isinstance(block, Rule):
            out.append(_block("divider"))
        elif isinstance(block, Table):
            out.extend(_notion_tables(block))
    return out


def _notion_list(block: ListBlock) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in block.items:
        kind = "numbered_list_item" if block.ordered else "bulleted_list_item"
        extra: dict[str, Any] = {}
        if item.task is not None:
            kind, extra = "to_do", {"checked": item.task}
        rich, children = _lead_and_rest(item.children)
        items = _text_blocks(kind, rich, **extra)
        if children:
            items[-1][kind]["children"] = children
        out.extend(items)
    return out


def _lead_and_rest(blocks: list[Block]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A list item's or quote's own text (its first paragraph) and its children blocks."""
    if blocks and isinstance(blocks[0], Paragraph):
        return _notion_rich(blocks[0].inline), _notion_blocks(blocks[1:])
    return [], _notion_blocks(blocks)


def _notion_tables(table: Table) -> list[dict[str, Any]]:
    rows = table.all_rows()
    if not rows:
        return []
    header = rows[:1] if table.has_header else []
    body = rows[1:] if table.has_header else rows
    per_table = NOTION_CHILDREN - len(header)
    out = []
    for start in range(0, max(len(body), 1), per_table):
        part = header + body[start : start + per_table]
        out.append(
            _block(
                "table",
                table_width=table.width,
                has_column_header=table.has_header,
                has_row_header=False,
                children=[_block("table_row", cells=[_cell(c) for c in row]) for row in part],
            )
        )
    return out


def _cell(spans: Inline) -> list[dict[str, Any]]:
    rich = _notion_rich(spans)
    if len(rich) <= NOTION_RICH_TEXT_ITEMS:
        return rich
    # A cell cannot be split in two: keep the text, drop the formatting.
    return notion_text("".join(item["text"]["content"] for item in rich))


def _notion_limit(blocks: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Enforce nesting depth and children counts, flattening what does not fit."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        body = block[block["type"]]
        children = body.get("children")
        if not children:
            out.append(block)
            continue
        if depth >= NOTION_DEPTH:
            del body["children"]
            if block["type"] == "table":
                out.extend(_table_as_paragraphs(children))
                continue
            out.append(block)
            out.extend(_notion_limit(children, depth))
            continue
        children = _notion_limit(children, depth + 1)
        body["children"] = children[:NOTION_CHILDREN]
        out.append(block)
        out.extend(_notion_limit(children[NOTION_CHILDREN:], depth))
    return out


def _table_as_paragraphs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        rich: list[dict[str, Any]] = []
        for n, cell in enumerate(row["table_row"]["cells"]):
            if n:
                rich.extend(notion_text(" | "))
            rich.extend(cell)
        out.extend(_text_blocks("paragraph", rich))
    return out


# --- Text splitting --------------------------------------------------------------------------


def _units(ch: str) -> int:
    # Notion counts like JavaScript: characters outside the BMP take two UTF-16 units.
    return 2 if ord(ch) > 0xFFFF else 1


def text_length(text: str) -> int:
    """Length as Notion (JavaScript) counts it: in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _joined(before: str, ch: str) -> bool:
    """Whether a cut between ``before`` and ``ch`` would split one visible character."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == "\u200d"
        or before == "\u200d"
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0x1160 <= code <= 0x11FF
        or (0x1F1E6 <= code <= 0x1F1FF and 0x1F1E6 <= ord(before) <= 0x1F1FF)
        or (before == "\r" and ch == "\n")
    )


def split_text(text: str, limit: int = NOTION_TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-16 units whose concatenation is ``text``.

    A cut goes after whitespace when there is some in the second half of the
    piece, else between two visible characters (never inside an emoji
    sequence or a surrogate pair); only a single "character" longer than the
    limit is cut inside.
    """
    if text_length(text) <= limit:
        return [text] if text else []
    pieces = []
    start, size = 0, len(text)
    while start < size:
        units, end = 0, start
        while end < size and units + _units(text[end]) <= limit:
            units += _units(text[end])
            end += 1
        if end >= size:
            pieces.append(text[start:])
            break
        cut = end
        half = start + (end - start) // 2
        space = max(text.rfind(" ", half, end), text.rfind("\n", half, end))
        if space >= half and space > start:
            cut = space + 1
        else:
            while cut > start + 1 and _joined(text[cut - 1], text[cut]):
                cut -= 1
            if cut == start + 1 and _joined(text[cut - 1], text[cut]):
                cut = end  # one enormous grapheme: cutting inside it is all that is left
        pieces.append(text[start:cut])
        start = cut
    return pieces
