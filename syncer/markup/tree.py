"""The intermediate form the three writers share, and the Markdown parser that builds it."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from syncer.markers import neutralise

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

UNCHECKED, CHECKED = "☐", "☑"

STRONG, EM, STRIKE, CODE = "strong", "em", "strike", "code"
MARK_ORDER = (STRONG, EM, STRIKE)


@dataclass(frozen=True)
class Span:
    """A run of text with one set of marks; ``text == "\\n"`` with ``br`` is a line break.

    Its text is neutralised (:func:`syncer.markers.neutralise`) as it is made: Markdown's
    entities and escapes are decoded by now, so ``incident&#45;syncer&#58;`` cannot
    become a marker in wiki markup, ADF or Notion text.
    """

    text: str
    marks: frozenset[str] = frozenset()
    href: str | None = None
    br: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", neutralise(self.text))


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

    def __post_init__(self) -> None:
        self.text = neutralise(self.text)


@dataclass
class Quote:
    children: list[Block]


@dataclass
class Rule:
    """A thematic break (``---``): it holds nothing."""


@dataclass
class Table:
    header: list[Inline]
    rows: list[list[Inline]] = field(default_factory=list)

    @property
    def has_header(self) -> bool:
        return any(plain(cell).strip() for cell in self.header)

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(r) for r in self.rows)], default=0) or 1

    def all_rows(self) -> list[list[Inline]]:
        rows = ([self.header] if self.has_header else []) + self.rows
        return [row + [[] for _ in range(self.width - len(row))] for row in rows]


Block = Heading | Paragraph | ListBlock | CodeBlock | Quote | Rule | Table


_PARSER_LOCK = threading.Lock()


@cache
def _parser() -> MarkdownIt:
    """The parser, made once. mdurl fills its percent-encoding tables lazily and publishes each
    before filling it, so a thread reading a link while another fills it fails (IndexError):
    they are filled here, under a lock, before any thread gets the parser."""
    import mdurl
    from markdown_it import MarkdownIt

    with _PARSER_LOCK:
        mdurl.encode("%20")  # normalizeLink's table
        mdurl.decode("%20", mdurl.DECODE_DEFAULT_CHARS + "%")  # normalizeLinkText's
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


def plain(spans: Inline) -> str:
    return "".join(span.text for span in spans)
