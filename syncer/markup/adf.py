"""The Atlassian Document Format (Jira Cloud API v3)."""

from __future__ import annotations

from typing import Any

from syncer.markup.tree import (
    CHECKED,
    CODE,
    EM,
    MARK_ORDER,
    STRIKE,
    STRONG,
    UNCHECKED,
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


def to_adf(markdown: str) -> dict[str, Any]:
    """Markdown → an Atlassian Document Format document (Jira Cloud API v3)."""
    return {"type": "doc", "version": 1, "content": _adf_blocks(parse(markdown), "doc")}


_ADF_MARK = {STRONG: "strong", EM: "em", STRIKE: "strike"}


def _adf_inline(spans: Inline, prefix: str = "") -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    if prefix:
        nodes.append({"type": "text", "text": prefix})
    for span in spans:
        if span.br:
            nodes.append({"type": "hardBreak"})
            continue
        if not span.text:
            continue
        node: dict[str, Any] = {"type": "text", "text": span.text}
        marks: list[dict[str, Any]] = []
        if CODE in span.marks:
            marks.append({"type": "code"})  # code combines with link only
        else:
            marks.extend({"type": _ADF_MARK[m]} for m in MARK_ORDER if m in span.marks)
        if span.href:
            marks.append({"type": "link", "attrs": {"href": span.href}})
        if marks:
            node["marks"] = marks
        nodes.append(node)
    return nodes


def _adf_paragraph(spans: Inline, prefix: str = "") -> dict[str, Any]:
    return {"type": "paragraph", "content": _adf_inline(spans, prefix)}


def _adf_blocks(blocks: list[Block], parent: str) -> list[dict[str, Any]]:
    """ADF nodes for ``blocks`` inside ``parent`` (doc, listItem, blockquote or tableCell).

    listItem and blockquote take only paragraphs, lists and code blocks: other
    blocks are lowered to those (a heading to a bold paragraph, a table to one
    paragraph a row).
    """
    out: list[dict[str, Any]] = []
    rich = parent in ("doc", "tableCell")
    for block in blocks:
        if isinstance(block, Heading):
            if rich:
                out.append(
                    {
                        "type": "heading",
                        "attrs": {"level": block.level},
                        "content": _adf_inline(block.inline),
                    }
                )
            else:
                bold = [Span(s.text, s.marks | {STRONG}, s.href, s.br) for s in block.inline]
                out.append(_adf_paragraph(bold))
        elif isinstance(block, Paragraph):
            out.append(_adf_paragraph(block.inline))
        elif isinstance(block, ListBlock):
            out.append(_adf_list(block))
        elif isinstance(block, CodeBlock):
            code: dict[str, Any] = {"type": "codeBlock", "attrs": {}}
            if block.language:
                code["attrs"]["language"] = block.language
            if block.text:
                code["content"] = [{"type": "text", "text": block.text}]
            out.append(code)
        elif isinstance(block, Quote):
            inner = _adf_blocks(block.children, "blockquote")
            if parent == "doc":
                out.append({"type": "blockquote", "content": inner or [_adf_paragraph([])]})
            else:
                out.extend(inner)
        elif isinstance(block, Rule):
            if rich:
                out.append({"type": "rule"})
        elif isinstance(block, Table):
            if parent == "doc":
                out.append(_adf_table(block))
            else:
                out.extend(_adf_paragraph(_row_text(row)) for row in block.all_rows())
    return out


def _row_text(row: list[Inline]) -> Inline:
    spans: Inline = []
    for n, cell in enumerate(row):
        if n:
            spans.append(Span(" | "))
        spans.extend(cell)
    return spans


def _adf_list(block: ListBlock) -> dict[str, Any]:
    items = []
    for item in block.items:
        content = _adf_blocks(item.children, "listItem")
        if not content or content[0]["type"] not in ("paragraph", "codeBlock"):
            content.insert(0, _adf_paragraph([]))
        if item.task is not None:
            mark = (CHECKED if item.task else UNCHECKED) + " "
            if content[0]["type"] == "paragraph":
                inline = content[0]["content"]
                if inline and inline[0]["type"] == "text" and "marks" not in inline[0]:
                    inline[0]["text"] = mark + inline[0]["text"]
                else:
                    inline.insert(0, {"type": "text", "text": mark})
            else:
                content.insert(0, _adf_paragraph([], mark))
        items.append({"type": "listItem", "content": content})
    node: dict[str, Any] = {"type": "orderedList" if block.ordered else "bulletList"}
    if block.ordered:
        node["attrs"] = {"order": block.start}
    node["content"] = items
    return node


def _adf_table(table: Table) -> dict[str, Any]:
    rows = []
    for n, row in enumerate(table.all_rows()):
        cell_type = "tableHeader" if n == 0 and table.has_header else "tableCell"
        cells = [
            {"type": cell_type, "attrs": {}, "content": [_adf_paragraph(cell)]} for cell in row
        ]
        rows.append({"type": "tableRow", "content": cells})
    return {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": rows,
    }
