"""A person's text stays in its section: an unclosed code fence (or HTML block) in a field
cannot swallow the rest of the document, in Markdown, Jira wiki markup, ADF or Notion blocks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer import config as config_mod
from syncer import markup
from syncer.model import Incident
from syncer.render import Renderer, confine

NOTICE_HEADINGS = ["장애 증상", "고객 영향도", "장애 원인", "장애 처리 방법", "장애 타임라인"]


def notice(symptoms: str, cause: str = "원인") -> str:
    incident = Incident.model_validate(
        {
            "id": "INC-F",
            "title": "펜스",
            "grade": "SEV2",
            "symptoms": symptoms,
            "cause": cause,
            "timeline": [{"at": "2024-02-12T00:25:00+09:00", "text": symptoms}],
        }
    )
    return Renderer(config_mod.parse({}, None)).render("notice", incident, lang="ko")


def headings(document: str) -> dict[str, list[str]]:
    """The level-2 headings each format ends up with."""
    adf = markup.to_adf(document)
    blocks = markup.to_notion_blocks(document)
    return {
        "markdown": [line[3:] for line in markup_lines(document) if line.startswith("## ")],
        "jira": [
            line[4:]
            for line in markup.to_jira_wiki(document).splitlines()
            if line.startswith("h2. ")
        ],
        "adf": [
            "".join(part.get("text", "") for part in node.get("content", []))
            for node in adf["content"]
            if node["type"] == "heading" and node["attrs"]["level"] == 2
        ],
        "notion": [
            "".join(t["text"]["content"] for t in b["heading_2"]["rich_text"])
            for b in blocks
            if b["type"] == "heading_2"
        ],
    }


def markup_lines(document: str) -> list[str]:
    """The lines markdown-it reads as headings (not those inside a code block)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark", {"html": True}).enable(["table"]).parse(document)
    lines = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            lines.append("## " + tokens[i + 1].content)
    return lines


@pytest.mark.parametrize(
    "text",
    [
        "로그를 붙입니다:\n```\nERROR pool exhausted",
        "~~~~python\nraise Boom()",
        "```` nested\n```\nstill open",
        "<!-- 임시 메모\n나중에 지우기",
        "<pre>\nstack trace",
        "  ```\n들여쓴 펜스",
    ],
)
def test_an_unclosed_block_stays_in_its_section_in_every_format(text: str) -> None:
    found = headings(notice(text))
    assert found == dict.fromkeys(found, NOTICE_HEADINGS)


def test_the_text_is_kept_as_written_and_only_closed() -> None:
    assert confine("a\n```py\ncode") == "a\n```py\ncode\n```"
    assert confine("```\nclosed\n```") == "```\nclosed\n```"
    assert confine("~~~~\nx\n~~~") == "~~~~\nx\n~~~\n~~~~"  # a shorter fence does not close it
    assert confine("<!-- a -->\nb") == "<!-- a -->\nb"
    assert confine("``` a`b\nnot a fence") == "``` a`b\nnot a fence"
    assert confine("    ```\nindented code") == "    ```\nindented code"


pieces = st.sampled_from(
    [
        "```", "````", "~~~", "~~~~", "`", "~", "<!--", "-->", "<pre>", "</pre>", "<script>",
        "<textarea>", "\n", "\n\n", " ", "    ", "> ", "- ", "1. ", "a", "장애", "# h", "|", "*",
    ]
)  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(pieces, min_size=1, max_size=30).map("".join).filter(str.strip))
def test_no_text_swallows_the_sections_after_it(text: str) -> None:
    found: dict[str, Any] = headings(notice(text, cause=text))
    for fmt, names in found.items():
        # Every section of the template is still there, in order (a person's text may add
        # headings of its own: it is Markdown, but it may not take the template's away).
        rest = iter(names)
        assert all(name in rest for name in NOTICE_HEADINGS), (fmt, text, names)
