"""Jira wiki markup (the ``description`` and comment ``body`` of API v2, Data Center)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from syncer.markup.languages import jira_language
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


def to_jira_wiki(markdown: str) -> str:
    """Markdown → Jira wiki markup (the ``description`` and comment ``body`` of API v2)."""
    text = "\n\n".join(chunk for chunk in _jira_blocks(parse(markdown), quoted=False) if chunk)
    return text + "\n" if text else ""


_LINE_BREAK = " \\\\ "  # Jira's forced line break where a newline would end the construct


def _jira_blocks(blocks: list[Block], *, quoted: bool) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, Heading):
            yield f"h{block.level}. {_jira_inline(block.inline, ' ')}"
        elif isinstance(block, Paragraph):
            yield _jira_line_starts(_jira_inline(block.inline, "\n"))
        elif isinstance(block, ListBlock):
            yield "\n".join(_jira_list(block, ""))
        elif isinstance(block, CodeBlock):
            yield _jira_code(block)
        elif isinstance(block, Quote):
            inner = "\n\n".join(c for c in _jira_blocks(block.children, quoted=True) if c)
            # {quote} does not nest: an inner quote is shown inline in the outer one
            yield inner if quoted else "{quote}\n" + inner + "\n{quote}"
        elif isinstance(block, Rule):
            yield "----"
        elif isinstance(block, Table):
            yield _jira_table(block)


def _jira_list(block: ListBlock, prefix: str) -> Iterator[str]:
    bullet = prefix + ("#" if block.ordered else "*")
    for item in block.items:
        lines: list[str] = []
        after: list[str] = []
        for child in item.children:
            if isinstance(child, Paragraph | Heading) and not after:
                lines.append(_jira_inline(child.inline, _LINE_BREAK))
            elif isinstance(child, ListBlock):
                after.extend(_jira_list(child, bullet))
            else:
                # Jira lists hold one line per item: other blocks follow the list line
                after.extend(_jira_blocks([child], quoted=False))
        text = _LINE_BREAK.join(line for line in lines if line)
        if item.task is not None:
            text = (CHECKED if item.task else UNCHECKED) + (" " + text if text else "")
        yield f"{bullet} {text or '&nbsp;'}"
        yield from after


def _jira_code(block: CodeBlock) -> str:
    language = jira_language(block.language)
    text = block.text
    if "{code" in text and "{noformat" not in text:
        return "{noformat}\n" + text + "\n{noformat}"
    text = text.replace("{code}", "{code }")
    opening = f"{{code:{language}}}" if language else "{code}"
    return f"{opening}\n{text}\n{{code}}"


def _jira_table(table: Table) -> str:
    lines = []
    for n, row in enumerate(table.all_rows()):
        sep = "||" if n == 0 and table.has_header else "|"
        cells = [_jira_inline(cell, _LINE_BREAK) or " " for cell in row]
        lines.append(sep + sep.join(cells) + sep)
    return "\n".join(lines)


_JIRA_LINE_START = re.compile(r"^(\s*)(?:(#)|(h[1-6]|bq)\.)", re.M)


def _jira_line_starts(text: str) -> str:
    """Lines of a paragraph that Jira would read as a numbered list, a heading or a quote."""

    def fix(match: re.Match[str]) -> str:
        if match.group(2):
            return match.group(1) + "&#35;"
        return match.group(1) + match.group(3) + "&#46;"

    return _JIRA_LINE_START.sub(fix, text)


@dataclass(eq=False)
class _Effect:
    """An opening or closing effect character; braces ``{*}`` when it touches a word."""

    char: str
    opening: bool
    braced: bool = False
    partner: _Effect | None = None


_EFFECT_CHAR = {STRONG: "*", EM: "_", STRIKE: "-"}


def _jira_inline(spans: Inline, newline: str) -> str:
    lines: list[list[Span]] = [[]]
    for span in spans:
        if span.br:
            lines.append([])
        else:
            lines[-1].append(span)
    rendered = [_jira_line(line) for line in lines]
    while rendered and not rendered[-1].strip():
        rendered.pop()
    return newline.join(rendered)


def _jira_line(spans: list[Span]) -> str:
    out: list[str | _Effect] = []
    groups: list[tuple[str | None, list[Span]]] = []
    for span in spans:
        if groups and groups[-1][0] == span.href:
            groups[-1][1].append(span)
        else:
            groups.append((span.href, [span]))
    for href, group in groups:
        if href is None:
            _jira_marked(group, out)
            continue
        inner: list[str | _Effect] = []
        _jira_marked(group, inner)
        label = _jira_join(inner)
        url = _jira_url(href)
        if label.replace("\\", "") == href or not label.strip():
            out.append(f"[{url}]")
        else:
            out.append(f"[{label}|{url}]")
    return _jira_join(out)


def _jira_marked(spans: list[Span], out: list[str | _Effect]) -> None:
    stack: list[_Effect] = []
    for span in spans:
        want = [m for m in MARK_ORDER if m in span.marks]
        while stack and not {_mark_of(e) for e in stack} <= set(want):
            _close(stack.pop(), out)
        for mark in want:
            if not any(_mark_of(e) == mark for e in stack):
                effect = _Effect(_EFFECT_CHAR[mark], True)
                stack.append(effect)
                out.append(effect)
        if CODE in span.marks:
            out.append("{{" + _jira_escape(span.text) + "}}")
        else:
            out.append(_jira_escape(span.text))
    while stack:
        _close(stack.pop(), out)


def _mark_of(effect: _Effect) -> str:
    return next(m for m, c in _EFFECT_CHAR.items() if c == effect.char)


def _close(opening: _Effect, out: list[str | _Effect]) -> None:
    # Jira wants the effect to hug its text: whitespace at the edges goes outside.
    index = out.index(opening)
    inner = out[index + 1 :]
    del out[index:]
    text = _jira_join(inner)
    if not text.strip():
        out.append(text)
        return
    stripped = text.strip(" \t")
    lead = text[: len(text) - len(text.lstrip(" \t"))]
    trail = text[len(text.rstrip(" \t")) :]
    closing = _Effect(opening.char, False, partner=opening)
    opening.partner = closing
    out.extend([lead, opening, stripped, closing, trail])


def _jira_join(pieces: list[str | _Effect]) -> str:
    """Resolve effect characters: ``*x*`` normally, ``{*}x{*}`` inside a word."""
    for n, piece in enumerate(pieces):
        if not isinstance(piece, _Effect) or piece.partner is None:
            continue
        if piece.opening:
            before = _neighbour(pieces, n, -1)
            if before.isalnum():
                piece.braced = piece.partner.braced = True
        else:
            after = _neighbour(pieces, n, 1)
            if after.isalnum():
                piece.braced = piece.partner.braced = True
    text = []
    for piece in pieces:
        if isinstance(piece, _Effect):
            if piece.partner is not None:
                text.append("{" + piece.char + "}" if piece.braced else piece.char)
        else:
            text.append(piece)
    return "".join(text)


def _neighbour(pieces: list[str | _Effect], n: int, step: int) -> str:
    n += step
    while 0 <= n < len(pieces):
        piece = pieces[n]
        if isinstance(piece, str) and piece:
            return piece[-1] if step < 0 else piece[0]
        if isinstance(piece, _Effect):
            return piece.char
        n += step
    return ""


_EMOTICON = re.compile(r"\((?:[xyni/!?*+-]|on|off|\*[rgby])\)|[:;]-?[()PDp]")


def _jira_escape(text: str) -> str:
    """Escape what Jira's renderer would read as markup in plain text.

    Backslash escapes work for ``! [ ] ^ ~ + ? { } ( ) * _ - |``; a backslash
    itself (``\\\\`` is a line break) becomes the entity ``&#92;``. Effect
    characters inside a word (``payments-api``, ``snake_case``) cannot start or
    end an effect and are left alone.
    """
    emoticons: dict[int, str] = {}
    for match in _EMOTICON.finditer(text):
        if match.group().startswith("("):
            emoticons[match.start()] = "\\("
        else:  # :) ;-) :D — break the face at its last character
            last = match.end() - 1
            ch = text[last]
            emoticons[last] = "\\" + ch if ch in "()" else f"&#{ord(ch)};"
    out: list[str] = []
    length = len(text)
    for i, ch in enumerate(text):
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < length else ""
        if i in emoticons:
            out.append(emoticons[i])
        elif ch == "\\":
            out.append("&#92;")
        elif ch in "{}[]|":
            out.append("\\" + ch)
        elif ch in "*_-+^~":
            out.append(ch if before.isalnum() and after.isalnum() else "\\" + ch)
        elif ch == "?":
            out.append("\\?" if "?" in (before, after) else ch)
        elif ch == "!":
            out.append("\\!" if after and not after.isspace() else ch)
        else:
            out.append(ch)
    return "".join(out)


def _jira_url(href: str) -> str:
    return (
        href.replace(" ", "%20")
        .replace("|", "%7C")
        .replace("[", "%5B")
        .replace("]", "%5D")
        .replace("{", "%7B")
        .replace("}", "%7D")
    )
