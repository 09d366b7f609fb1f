"""Convert the rendered Markdown documents into what each tracker takes.

One parse (markdown-it-py, CommonMark with tables and strikethrough) builds a
small intermediate form: blocks, and inline text as flat *spans* (text, marks,
link). Three writers turn it into Jira wiki markup (API v2, Data Center), the
Atlassian Document Format (Jira Cloud API v3) and Notion block objects.

Choices that hold for all three:

- HTML comments (the tool's ``<!-- incident-syncer:... -->`` markers) are
  dropped; other raw HTML tags are dropped and their text kept (``<br>`` is a
  line break).
- A single line break inside a paragraph stays a line break: incident text is
  written by people in YAML, and their lines should survive.
- Bare ``http(s)://`` addresses become links, as GitHub does.
- ``- [ ]`` / ``- [x]`` items are tasks: Notion ``to_do`` blocks, and a
  ``☐``/``☑`` in front of the item in Jira.
- A table whose header row is empty (the key/value tables of the templates)
  is sent without a header row.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

__all__ = [
    "count_blocks",
    "notion_language",
    "notion_text",
    "split_text",
    "text_length",
    "to_adf",
    "to_jira_wiki",
    "to_notion_blocks",
]

NOTION_TEXT_LIMIT = 2000  # characters of one rich_text text.content (and of a link url)
NOTION_RICH_TEXT_ITEMS = 100  # rich_text objects in one array
NOTION_CHILDREN = 100  # blocks in one children array
NOTION_DEPTH = 2  # levels of nesting below a top-level block in one request

UNCHECKED, CHECKED = "☐", "☑"

# --- The intermediate form -------------------------------------------------------------------

STRONG, EM, STRIKE, CODE = "strong", "em", "strike", "code"
_MARK_ORDER = (STRONG, EM, STRIKE)


@dataclass(frozen=True)
class Span:
    """A run of text with one set of marks; ``text == "\\n"`` with ``br`` is a line break."""

    text: str
    marks: frozenset[str] = frozenset()
    href: str | None = None
    br: bool = False


Inline = list[Span]


@dataclass
class Heading:
    level: int
    inline: Inline


@dataclass
class Paragraph:
    inline: Inline


@dataclass
class Item:
    children: list[Block]
    task: bool | None = None  # None: not a task; False: open; True: done


@dataclass
class ListBlock:
    ordered: bool
    items: list[Item]
    start: int = 1


@dataclass
class CodeBlock:
    language: str
    text: str


@dataclass
class Quote:
    children: list[Block]


@dataclass
class Rule:
    pass


@dataclass
class Table:
    header: list[Inline]
    rows: list[list[Inline]] = field(default_factory=list)

    @property
    def has_header(self) -> bool:
        return any(_plain(cell).strip() for cell in self.header)

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(r) for r in self.rows)], default=0) or 1

    def all_rows(self) -> list[list[Inline]]:
        rows = ([self.header] if self.has_header else []) + self.rows
        return [row + [[] for _ in range(self.width - len(row))] for row in rows]


Block = Heading | Paragraph | ListBlock | CodeBlock | Quote | Rule | Table


# --- Parsing ---------------------------------------------------------------------------------


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def parse(markdown: str) -> list[Block]:
    """Markdown → the intermediate blocks the three writers share."""
    from markdown_it.tree import SyntaxTreeNode

    root = SyntaxTreeNode(_parser().parse(markdown))
    return _blocks(root.children)


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_BR_TAG = re.compile(r"<br\s*/?>", re.I)
_TASK = re.compile(r"\[([ xX])\](?:[ \t]+|$)")


def _blocks(nodes: Sequence[SyntaxTreeNode]) -> list[Block]:
    out: list[Block] = []
    for node in nodes:
        kind = node.type
        if kind == "heading":
            out.append(Heading(int(node.tag[1]), _inline_of(node)))
        elif kind == "paragraph":
            inline = _inline_of(node)
            if inline:  # a paragraph of only a marker comment is no paragraph
                out.append(Paragraph(inline))
        elif kind in ("bullet_list", "ordered_list"):
            start = node.attrs.get("start", 1) if kind == "ordered_list" else 1
            items = [_item(child) for child in node.children]
            out.append(ListBlock(kind == "ordered_list", items, int(start)))
        elif kind in ("fence", "code_block"):
            language = (node.info or "").strip().split(" ")[0] if kind == "fence" else ""
            out.append(CodeBlock(language.lower(), node.content.removesuffix("\n")))
        elif kind == "blockquote":
            out.append(Quote(_blocks(node.children)))
        elif kind == "hr":
            out.append(Rule())
        elif kind == "table":
            out.append(_table(node))
        elif kind == "html_block":
            text = _TAG.sub("", _BR_TAG.sub("\n", _COMMENT.sub("", node.content)))
            text = html.unescape(text).strip()
            for part in re.split(r"\n\s*\n", text) if text else []:
                spans = _linkify(_with_breaks(part.strip()))
                out.append(Paragraph(spans))
    return out


def _with_breaks(text: str) -> Inline:
    spans: Inline = []
    for n, line in enumerate(text.split("\n")):
        if n:
            spans.append(Span("\n", br=True))
        if line.strip():
            spans.append(Span(line.strip()))
    return spans


def _item(node: SyntaxTreeNode) -> Item:
    children = _blocks(node.children)
    task: bool | None = None
    if children and isinstance(children[0], Paragraph):
        first = children[0].inline
        if first and not first[0].br and not first[0].marks and first[0].href is None:
            match = _TASK.match(first[0].text)
            if match:
                task = match.group(1) != " "
                rest = first[0].text[match.end() :]
                first[0:1] = [Span(rest)] if rest else []
    return Item(children, task)


def _table(node: SyntaxTreeNode) -> Table:
    header: list[Inline] = []
    rows: list[list[Inline]] = []
    for section in node.children:
        for tr in section.children:
            cells = [_inline_of(cell) for cell in tr.children]
            if section.type == "thead":
                header = cells
            else:
                rows.append(cells)
    return Table(header, rows)


def _inline_of(node: SyntaxTreeNode) -> Inline:
    spans: Inline = []
    for child in node.children:
        if child.type == "inline":
            _walk_inline(child.children, frozenset(), None, spans)
    return _linkify(_merge(spans))


def _walk_inline(
    nodes: Sequence[SyntaxTreeNode], marks: frozenset[str], href: str | None, out: Inline
) -> None:
    for node in nodes:
        kind = node.type
        if kind == "text":
            out.append(Span(node.content, marks, href))
        elif kind in ("softbreak", "hardbreak"):
            out.append(Span("\n", br=True))
        elif kind == "code_inline":
            out.append(Span(node.content, marks | {CODE}, href))
        elif kind in ("strong", "em", "s"):
            mark = {"strong": STRONG, "em": EM, "s": STRIKE}[kind]
            _walk_inline(node.children, marks | {mark}, href, out)
        elif kind == "link":
            _walk_inline(node.children, marks, str(node.attrs.get("href", "")) or href, out)
        elif kind == "image":
            src = str(node.attrs.get("src", ""))
            before = len(out)
            _walk_inline(node.children, marks, src or href, out)
            if len(out) == before and src:
                out.append(Span(src, marks, src))
        elif kind == "html_inline":
            if _BR_TAG.fullmatch(node.content.strip()):
                out.append(Span("\n", br=True))
        elif node.children:
            _walk_inline(node.children, marks, href, out)


def _merge(spans: Iterable[Span]) -> Inline:
    """Join neighbours with the same marks and link; drop empty text."""
    out: Inline = []
    for span in spans:
        if out and out[-1].br and not span.br:  # no spaces at the start of a line
            span = Span(span.text.lstrip(" \t"), span.marks, span.href)
        if span.br and out and not out[-1].br:  # nor at its end
            out[-1] = Span(out[-1].text.rstrip(" \t"), out[-1].marks, out[-1].href)
            if not out[-1].text:
                out.pop()
        if not span.text:
            continue
        if (
            out
            and not span.br
            and not out[-1].br
            and out[-1].marks == span.marks
            and out[-1].href == span.href
        ):
            out[-1] = Span(out[-1].text + span.text, span.marks, span.href)
        else:
            out.append(span)
    while out and out[-1].br:  # a trailing hard break shows nothing
        out.pop()
    return out


# GitHub-style autolinks for bare addresses; Hangul and CJK end an address, so that a
# Korean particle written right after it ("…/home에서") stays text.
_BARE_URL = re.compile(r"(?<![\w/@])https?://[^\s<>\u1100-\u11ff\u3000-\u9fff\uac00-\ud7af]+")


def _linkify(spans: Inline) -> Inline:
    out: Inline = []
    for span in spans:
        if span.br or span.href is not None or CODE in span.marks:
            out.append(span)
            continue
        pos = 0
        for match in _BARE_URL.finditer(span.text):
            url = _trim_url(match.group())
            if len(url) <= len("https://"):
                continue
            if match.start() > pos:
                out.append(Span(span.text[pos : match.start()], span.marks))
            out.append(Span(url, span.marks, url))
            pos = match.start() + len(url)
        if pos < len(span.text):
            out.append(Span(span.text[pos:], span.marks))
    return out


def _trim_url(url: str) -> str:
    while url:
        last = url[-1]
        unbalanced = last == ")" and url.count("(") < url.count(")")
        if last in ".,:;!?'\"*_~" or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def _plain(spans: Inline) -> str:
    return "".join(span.text for span in spans)


# --- Jira wiki markup ------------------------------------------------------------------------


def to_jira_wiki(markdown: str) -> str:
    """Markdown → Jira wiki markup (the ``description`` and comment ``body`` of API v2)."""
    text = "\n\n".join(chunk for chunk in _jira_blocks(parse(markdown), quoted=False) if chunk)
    return text + "\n" if text else ""


_JIRA_LANGUAGES = frozenset(
    [
        "actionscript", "ada", "applescript", "bash", "c", "c#", "c++", "css", "erlang", "go",
        "groovy", "haskell", "html", "java", "javascript", "json", "lua", "nyan", "objc", "perl",
        "php", "python", "r", "ruby", "scala", "sql", "swift", "visualbasic", "xml", "yaml",
    ]
)  # fmt: skip
_JIRA_ALIASES = {
    "js": "javascript",
    "py": "python",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "console": "bash",
    "yml": "yaml",
    "cs": "c#",
    "csharp": "c#",
    "cpp": "c++",
    "golang": "go",
    "rb": "ruby",
    "objective-c": "objc",
    "vb": "visualbasic",
}
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
    language = _JIRA_ALIASES.get(block.language, block.language)
    text = block.text
    if "{code" in text and "{noformat" not in text:
        return "{noformat}\n" + text + "\n{noformat}"
    text = text.replace("{code}", "{code }")
    opening = f"{{code:{language}}}" if language in _JIRA_LANGUAGES else "{code}"
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
        want = [m for m in _MARK_ORDER if m in span.marks]
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


# --- Atlassian Document Format ---------------------------------------------------------------


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
            marks.extend({"type": _ADF_MARK[m]} for m in _MARK_ORDER if m in span.marks)
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


# --- Notion blocks ---------------------------------------------------------------------------


NOTION_LANGUAGES = frozenset(
    [
        "abap", "abc", "agda", "arduino", "ascii art", "assembly", "bash", "basic", "bnf", "c",
        "c#", "c++", "clojure", "coffeescript", "coq", "css", "dart", "dhall", "diff", "docker",
        "ebnf", "elixir", "elm", "erlang", "f#", "flow", "fortran", "gherkin", "glsl", "go",
        "graphql", "groovy", "haskell", "hcl", "html", "idris", "java", "javascript", "json",
        "julia", "kotlin", "latex", "less", "lisp", "livescript", "llvm ir", "lua", "makefile",
        "markdown", "markup", "matlab", "mathematica", "mermaid", "nix", "notion formula",
        "objective-c", "ocaml", "pascal", "perl", "php", "plain text", "powershell", "prolog",
        "protobuf", "purescript", "python", "r", "racket", "reason", "ruby", "rust", "sass",
        "scala", "scheme", "scss", "shell", "smalltalk", "solidity", "sql", "swift", "toml",
        "typescript", "vb.net", "verilog", "vhdl", "visual basic", "webassembly", "xml", "yaml",
        "java/c/c++/c#",
    ]
)  # fmt: skip
_NOTION_ALIASES = {
    "js": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "py": "python",
    "sh": "shell",
    "zsh": "shell",
    "console": "shell",
    "yml": "yaml",
    "cs": "c#",
    "csharp": "c#",
    "cpp": "c++",
    "golang": "go",
    "rb": "ruby",
    "rs": "rust",
    "kt": "kotlin",
    "dockerfile": "docker",
    "md": "markdown",
    "tf": "hcl",
    "text": "plain text",
    "txt": "plain text",
    "plaintext": "plain text",
    "ps1": "powershell",
    "objc": "objective-c",
    "tex": "latex",
}
_ANNOTATIONS = ("bold", "italic", "strikethrough", "underline", "code", "color")
_NOTION_MARK = {STRONG: "bold", EM: "italic", STRIKE: "strikethrough", CODE: "code"}
_NOTION_URL = re.compile(r"^(?:https?://|mailto:)\S+$", re.I)


def notion_language(language: str) -> str:
    """The Notion name of a fence's language; ``plain text`` when Notion has none."""
    language = _NOTION_ALIASES.get(language.lower(), language.lower())
    return language if language in NOTION_LANGUAGES else "plain text"


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


def _children_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    children: list[dict[str, Any]] = block[block["type"]].get("children", [])
    return children


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
