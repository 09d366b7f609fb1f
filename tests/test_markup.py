"""The Markdown converters: Jira wiki markup, Atlassian Document Format, Notion blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer import markup
from syncer.markup import count_blocks, notion_text, to_adf, to_jira_wiki, to_notion_blocks
from tests.conftest import BANNER, CHECKOUT

# --- Helpers ---------------------------------------------------------------------------------


@cache
def postmortem(path: Path, lang: str) -> str:
    from syncer import config as config_mod
    from syncer.loader import load_file
    from syncer.render import Renderer

    config = config_mod.parse({}, None)
    incident = load_file(path, config).incident
    return Renderer(config).render("postmortem", incident, lang=lang)


def ko() -> str:
    return postmortem(BANNER, "ko")


def en() -> str:
    return postmortem(CHECKOUT, "en")


def walk_notion(blocks: list[dict[str, Any]], depth: int = 0) -> Iterator[tuple[dict, int]]:
    for block in blocks:
        yield block, depth
        yield from walk_notion(block[block["type"]].get("children", []), depth + 1)


def rich_texts(block: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    body = block[block["type"]]
    if "rich_text" in body:
        yield body["rich_text"]
    yield from body.get("cells", [])


def plain(rich: list[dict[str, Any]]) -> str:
    return "".join(item["text"]["content"] for item in rich)


def block_text(block: dict[str, Any]) -> str:
    return plain(block[block["type"]]["rich_text"])


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_notion_limits(blocks: list[dict[str, Any]]) -> None:
    """What the Notion API would reject: oversized text, arrays, children, nesting."""
    assert count_blocks(blocks) == sum(1 for _ in walk_notion(blocks))
    for block, depth in walk_notion(blocks):
        kind = block["type"]
        assert block["object"] == "block"
        assert set(block) == {"object", "type", kind}
        body = block[kind]
        children = body.get("children", [])
        assert len(children) <= 100
        if children:
            assert depth < 2, f"{kind} at depth {depth} has children"
        if kind == "table":
            assert children and all(c["type"] == "table_row" for c in children)
            assert all(len(c["table_row"]["cells"]) == body["table_width"] for c in children)
        if kind == "code":
            assert body["language"] in markup.NOTION_LANGUAGES
        for rich in rich_texts(block):
            assert len(rich) <= 100
            for item in rich:
                assert item["type"] == "text"
                assert 0 < utf16(item["text"]["content"]) <= 2000
                link = item["text"].get("link")
                if link is not None:
                    assert re.match(r"https?://|mailto:", link["url"])
                assert set(item.get("annotations", {})) <= {
                    "bold",
                    "italic",
                    "strikethrough",
                    "underline",
                    "code",
                    "color",
                }


INLINE = {"text", "hardBreak"}
ADF_CHILDREN: dict[str, set[str]] = {
    "doc": {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote"}
    | {"rule", "table"},
    "paragraph": INLINE,
    "heading": INLINE,
    "bulletList": {"listItem"},
    "orderedList": {"listItem"},
    "listItem": {"paragraph", "bulletList", "orderedList", "codeBlock"},
    "blockquote": {"paragraph", "bulletList", "orderedList", "codeBlock"},
    "codeBlock": {"text"},
    "table": {"tableRow"},
    "tableRow": {"tableHeader", "tableCell"},
    "tableHeader": {"paragraph", "bulletList", "orderedList", "codeBlock", "heading", "rule"},
    "tableCell": {"paragraph", "bulletList", "orderedList", "codeBlock", "heading", "rule"},
    "rule": set(),
    "hardBreak": set(),
    "text": set(),
}
NEEDS_CONTENT = {"bulletList", "orderedList", "listItem", "blockquote", "table", "tableRow"}
NEEDS_CONTENT |= {"tableHeader", "tableCell"}


def validate_adf(node: dict[str, Any], parent: str | None = None) -> None:
    """A small ADF validator: node types, allowed children, marks."""
    kind = node["type"]
    assert kind in ADF_CHILDREN, kind
    if parent is None:
        assert kind == "doc" and node["version"] == 1
    else:
        assert kind in ADF_CHILDREN[parent], f"{kind} inside {parent}"
    content = node.get("content", [])
    if kind in NEEDS_CONTENT:
        assert content, f"empty {kind}"
    if kind == "listItem":
        assert content[0]["type"] in ("paragraph", "codeBlock")
    if kind == "heading":
        assert 1 <= node["attrs"]["level"] <= 6
    if kind == "text":
        assert isinstance(node["text"], str) and node["text"], "empty text node"
        marks = [m["type"] for m in node.get("marks", [])]
        assert len(marks) == len(set(marks)), marks
        assert set(marks) <= {"strong", "em", "code", "strike", "link"}
        if "code" in marks:
            assert set(marks) <= {"code", "link"}
        if "marks" in node:
            assert marks, "empty marks list"
        for mark in node.get("marks", []):
            if mark["type"] == "link":
                assert mark["attrs"]["href"]
        if parent == "codeBlock":
            assert not marks
    for child in content:
        validate_adf(child, kind)


def adf_text(node: dict[str, Any]) -> str:
    if node["type"] == "text":
        return str(node["text"])
    if node["type"] == "hardBreak":
        return "\n"
    return "".join(adf_text(child) for child in node.get("content", []))


def adf_find(node: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found = [node] if node["type"] == kind else []
    for child in node.get("content", []):
        found.extend(adf_find(child, kind))
    return found


def adf_marked(node: dict[str, Any], mark: str) -> list[dict[str, Any]]:
    return [t for t in adf_find(node, "text") if any(m["type"] == mark for m in t.get("marks", []))]


def after_heading(nodes: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """The ADF node right after the heading with ``title``."""
    for n, node in enumerate(nodes):
        if node["type"] == "heading" and adf_text(node) == title:
            return nodes[n + 1]
    raise AssertionError(f"no heading {title!r}")


def notion_section(blocks: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
    """The top-level Notion blocks between the heading ``title`` and the next heading."""
    out: list[dict[str, Any]] = []
    inside = False
    for block in blocks:
        if block["type"].startswith("heading_"):
            if inside:
                break
            inside = block_text(block) == title
        elif inside:
            out.append(block)
    assert out, f"nothing under {title!r}"
    return out


KO_WHYS = [
    ("왜 메인 배너가 홈에 노출되지 않았나?", "Frontend 시스템에서 노출할 배너를 조회했지만"),
    ("왜 Frontend 시스템에서 노출할 배너를 조회했지만 조회되지 않았나?", "등록하지 않았다."),
    ("왜 담당자는 배너를 등록하지 않았나?", "인지하지 못했다."),
    ("담당자는 왜 배너 등록해야 하는 것을 인지하지 못했나?", "수동으로 하다보니"),
    ("왜 담당자는 배너 등록 관리를 수동으로 했나?", "관리 도구가 없어서"),
]
EN_WHYS = [
    ("Why did checkout return 500?", "Payments rejected the currency field checkout sent."),
    ("Why did payments reject it?", "v2.14 made the field a strict enum of uppercase codes."),
    ("Why did checkout send lowercase?", "It always had; the old API normalised the case."),
    ("Why was the change not caught before deploy?", "no consumer-driven contract test"),
    ("Why is there no contract test?", "never part of the deploy pipeline."),
]
KO_ACTIONS = [
    "배너 노출 대상이 0건이면 알림 보내기 (담당: carol), 기한 2024-02-20",
    "배너 만료 7일 전 담당자에게 알림 (담당: dave), 기한 2024-02-29",
]
EN_ACTIONS = [
    "Add consumer contract tests between checkout and payments (owner: grace), due 2024-03-15",
    "Canary payments deploys at 5% for 10 minutes (owner: heidi), due 2024-03-22",
]


# --- The full postmortems: Jira wiki markup --------------------------------------------------


def test_jira_korean_postmortem() -> None:
    wiki = to_jira_wiki(ko())
    lines = wiki.splitlines()
    assert lines[0] == "h1. 포스트모템: 메인 배너가 홈에 노출되지 않음"
    for heading in (
        "h2. 장애 요약",
        "h2. 다섯 번의 왜",
        "h3. 잘 진행된 부분",
        "h2. 재발 방지 대책",
    ):
        assert heading in lines
    # the key/value table has an empty header row in Markdown: no header in Jira
    assert "|장애 식별자|{{INC-2024-0212-banner}}|" in lines
    assert "|| || ||" not in wiki and "|||" not in wiki
    # 5 whys: a numbered list, question and answer on one item with a line break
    whys = [line for line in lines if line.startswith("# ")]
    assert len(whys) == 5
    for n, ((question, answer), line) in enumerate(zip(KO_WHYS, whys, strict=True), 1):
        assert line.startswith(f"# *Q{n}* {question} \\\\ *A{n}* ")
        assert answer in line
    # lessons, each under its heading
    well = lines.index("h3. 잘 진행된 부분")
    assert lines[well + 2] == "* CS팀 문의 후 15분 안에 정상화 방안을 찾았다."
    lucky = lines.index("h3. 운이 좋았던 부분")
    assert lines[lucky + 2] == "* 새벽 시간대라 방문자가 적었다."
    # action items are readable open tasks
    for action in KO_ACTIONS:
        assert f"* ☐ {action}" in lines
    # the timeline table
    assert "||시간||구분||내용||" in lines
    assert "|2024-02-12 00:31 KST|조치|장애 채널 #inc-banner 생성, frontend 팀 전파|" in lines
    assert "|2024-02-12 01:30 KST|상태|담당자가 신규 배너 등록, 장애 종료|" in lines
    # the mermaid diagram is kept as a code block with its text
    start = lines.index("{code}")
    assert lines[start + 1 : start + 3] == ["timeline", "    title INC-2024-0212-banner"]
    assert "        00∶25 : CS팀 문의로 배너 미노출 인지" in lines[start:]
    assert lines[start + 1 :].index("{code}") > 3
    # links keep their address
    assert "* [Grafana 홈 대시보드|https://grafana.example.com/d/home]" in lines
    assert "* [배너 관리자|https://admin.example.com/banners]" in lines
    assert "* 참석자: alice, bob, carol, dave" in lines
    assert "<!--" not in wiki and "**" not in wiki


def test_jira_english_postmortem() -> None:
    wiki = to_jira_wiki(en())
    lines = wiki.splitlines()
    assert lines[0] == "h1. Postmortem: Checkout returns HTTP 500 after the payments deploy"
    assert "h2. 5 whys" in lines and "h3. Where we got lucky" in lines
    whys = [line for line in lines if line.startswith("# ")]
    assert len(whys) == 5
    for (question, answer), line in zip(EN_WHYS, whys, strict=True):
        assert line.startswith(f"# *Why?* {question} \\\\ *Because:* ")
        assert answer in line
    assert (
        "The API contract between checkout and payments was not tested: {{currency}} "
        "changed type without a consumer test." in lines
    )
    for action in EN_ACTIONS:
        assert f"* ☐ {action}" in lines
    assert "||Time||Kind||What happened||" in lines
    assert "|2024-03-05 23:04 KST|detection|Alert: CheckoutHTTP5xx firing (7.8% of requests)|" in (
        lines
    )
    assert "* [Runbook|https://wiki.example.com/runbooks/checkout]" in lines
    assert "{code}" in lines and "        23∶02 : payments-api v2.14 deployed" in lines


# --- The full postmortems: ADF ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "whys", "actions", "title"),
    [
        (ko, KO_WHYS, KO_ACTIONS, "다섯 번의 왜"),
        (en, EN_WHYS, EN_ACTIONS, "5 whys"),
    ],
    ids=["ko", "en"],
)
def test_adf_postmortem(source: Any, whys: Any, actions: list[str], title: str) -> None:
    doc = to_adf(source())
    validate_adf(doc)
    nodes = doc["content"]
    headings = [(h["attrs"]["level"], adf_text(h)) for h in adf_find(doc, "heading")]
    assert headings[0][0] == 1 and (2, title) in headings
    assert sum(1 for level, _ in headings if level == 3) == 3
    # 5 whys: an ordered list of five items, question, line break, answer
    five = after_heading(nodes, title)
    assert five["type"] == "orderedList" and len(five["content"]) == 5
    for item, (question, answer) in zip(five["content"], whys, strict=True):
        para = item["content"][0]
        assert para["type"] == "paragraph"
        assert {"type": "hardBreak"} in para["content"]
        text = adf_text(para)
        assert question in text.split("\n")[0] and answer in text.split("\n")[1]
        assert para["content"][0]["marks"] == [{"type": "strong"}]
    # action items: bullets that read as open tasks
    action_texts = [adf_text(item) for item in adf_find(doc, "listItem")]
    for action in actions:
        assert f"☐ {action}" in action_texts
    # timeline table: a header row and one row an event
    tables = adf_find(doc, "table")
    assert len(tables) == 2
    assert all(c["type"] == "tableCell" for c in adf_find(tables[0], "tableRow")[0]["content"])
    timeline = adf_find(tables[1], "tableRow")
    assert [c["type"] for c in timeline[0]["content"]] == ["tableHeader"] * 3
    assert len(timeline) == 7
    # the mermaid diagram
    (code,) = adf_find(doc, "codeBlock")
    assert code["attrs"] == {"language": "mermaid"}
    assert adf_text(code).startswith("timeline\n    title INC-")
    # links and inline marks
    links = {m["attrs"]["href"] for t in adf_marked(doc, "link") for m in t["marks"]}
    assert {m for m in links if "grafana" in m}
    assert any(t["text"].startswith("INC-2024-") for t in adf_marked(doc, "code"))


def test_adf_korean_content() -> None:
    doc = to_adf(ko())
    rows = [
        [adf_text(c) for c in r["content"]] for r in adf_find(adf_find(doc, "table")[1], "tableRow")
    ]
    assert rows[0] == ["시간", "구분", "내용"]
    assert rows[3] == [
        "2024-02-12 00:31 KST",
        "조치",
        "장애 채널 #inc-banner 생성, frontend 팀 전파",
    ]
    links = [t for t in adf_marked(doc, "link")]
    assert links[0]["text"] == "Grafana 홈 대시보드"
    assert links[0]["marks"] == [
        {"type": "link", "attrs": {"href": "https://grafana.example.com/d/home"}}
    ]
    lessons = after_heading(doc["content"], "미흡했던 부분")
    assert adf_text(lessons) == "배너 미노출을 감지하는 알림이 없어 고객 문의로 인지했다."


def test_adf_english_inline_code() -> None:
    doc = to_adf(en())
    (currency,) = [t for t in adf_marked(doc, "code") if t["text"] == "currency"]
    assert currency["marks"] == [{"type": "code"}]


# --- The full postmortems: Notion blocks -----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "whys", "actions", "title"),
    [
        (ko, KO_WHYS, KO_ACTIONS, "다섯 번의 왜"),
        (en, EN_WHYS, EN_ACTIONS, "5 whys"),
    ],
    ids=["ko", "en"],
)
def test_notion_postmortem(source: Any, whys: Any, actions: list[str], title: str) -> None:
    blocks = to_notion_blocks(source())
    check_notion_limits(blocks)
    kinds = [b["type"] for b in blocks]
    assert kinds[0] == "heading_1"
    assert kinds.count("heading_3") == 3
    five = notion_section(blocks, title)
    assert [b["type"] for b in five] == ["numbered_list_item"] * 5
    for block, (question, answer) in zip(five, whys, strict=True):
        first, second = block_text(block).split("\n")
        assert question in first and answer in second
        assert block["numbered_list_item"]["rich_text"][0]["annotations"] == {"bold": True}
    todos = [b for b in blocks if b["type"] == "to_do"]
    assert [block_text(b) for b in todos] == actions
    assert all(b["to_do"]["checked"] is False for b in todos)
    tables = [b for b in blocks if b["type"] == "table"]
    assert [t["table"]["has_column_header"] for t in tables] == [False, True]
    timeline = tables[1]["table"]
    assert timeline["table_width"] == 3 and len(timeline["children"]) == 7
    (code,) = [b for b in blocks if b["type"] == "code"]
    assert code["code"]["language"] == "mermaid"
    assert block_text(code).startswith("timeline\n    title INC-")
    urls = [
        item["text"]["link"]["url"]
        for block, _ in walk_notion(blocks)
        for rich in rich_texts(block)
        for item in rich
        if item["text"].get("link")
    ]
    assert len(urls) == 2 and all(u.startswith("https://") for u in urls)


def test_notion_korean_content() -> None:
    blocks = to_notion_blocks(ko())
    headings = [block_text(b) for b in blocks if b["type"] == "heading_2"]
    assert headings[:3] == ["장애 요약", "영향도", "장애 탐지"]
    timeline = [b for b in blocks if b["type"] == "table"][1]["table"]["children"]
    cells = [[plain(c) for c in row["table_row"]["cells"]] for row in timeline]
    assert cells[0] == ["시간", "구분", "내용"]
    assert cells[3] == [
        "2024-02-12 00:31 KST",
        "조치",
        "장애 채널 #inc-banner 생성, frontend 팀 전파",
    ]
    well = notion_section(blocks, "잘 진행된 부분")
    assert [(b["type"], block_text(b)) for b in well] == [
        ("bulleted_list_item", "CS팀 문의 후 15분 안에 정상화 방안을 찾았다.")
    ]
    (link,) = [
        item
        for b in notion_section(blocks, "추가 정보 (링크)")
        for item in b["bulleted_list_item"]["rich_text"]
        if item["text"]["content"] == "Grafana 홈 대시보드"
    ]
    assert link["text"]["link"] == {"url": "https://grafana.example.com/d/home"}
    key_values = next(b for b in blocks if b["type"] == "table")["table"]["children"]
    incident_id = key_values[0]["table_row"]["cells"][1]
    assert incident_id == [
        {"type": "text", "text": {"content": "INC-2024-0212-banner"}, "annotations": {"code": True}}
    ]


def test_korean_notice_in_all_formats() -> None:
    from syncer import config as config_mod
    from syncer.loader import load_file
    from syncer.render import Renderer

    config = config_mod.parse({}, None)
    notice = Renderer(config).render("notice", load_file(BANNER, config).incident, lang="ko")
    wiki = to_jira_wiki(notice).splitlines()
    assert wiki[0] == "h1. \\[SEV3\\] 메인 배너가 홈에 노출되지 않음"
    assert "|장애 상태|*해결*|" in wiki
    assert wiki[-1] == (
        "장애 등급 SEV3: 기능이 저하되었지만 우회 방법이 있음 · 리뷰 참석 범위: 담당 팀 · "
        "포스트모템 기한 2024-02-22"
    )
    doc = to_adf(notice)
    validate_adf(doc)
    assert adf_text(doc["content"][0]) == "[SEV3] 메인 배너가 홈에 노출되지 않음"
    (status,) = [t for t in adf_marked(doc, "strong") if t["text"] == "해결"]
    assert status["marks"] == [{"type": "strong"}]
    blocks = to_notion_blocks(notice)
    check_notion_limits(blocks)
    assert block_text(blocks[-1]) == wiki[-1]
    assert "annotations" not in blocks[-1]["paragraph"]["rich_text"][0]  # no italics in Korean


# --- Jira wiki: escaping and inline ----------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "wiki"),
    [
        (
            "payments-api snake_case 2024-02-11 a+b x^y a~b",
            "payments-api snake_case 2024-02-11 a+b x^y a~b",
        ),
        ("a - b -- c", "a \\- b \\-\\- c"),
        ("\\*not bold\\* \\_not italic\\_", "\\*not bold\\* \\_not italic\\_"),
        ("-struck- +ins+ ^sup^ ~sub~", "\\-struck\\- \\+ins\\+ \\^sup\\^ \\~sub\\~"),
        ("{color:red} \\[link\\] {{x}}", "\\{color:red\\} \\[link\\] \\{\\{x\\}\\}"),
        ("a \\| b", "a \\| b"),
        ("??cite?? and why? ok", "\\?\\?cite\\?\\? and why? ok"),
        ("!image.png! wow!", "\\!image.png! wow!"),
        ("C:\\\\temp\\\\x", "C:&#92;temp&#92;x"),
        ("\\# not a list", "&#35; not a list"),
        ("h1. not a heading", "h1&#46; not a heading"),
        ("bq. not a quote", "bq&#46; not a quote"),
        ("smile :) or (x) or (/) or (on)", "smile :\\) or \\(x) or \\(/) or \\(on)"),
        ("a :D b", "a :&#68; b"),
        ("#inc-banner mid-line # stays", "&#35;inc-banner mid-line # stays"),
        ("5% of 1,900 (7.8%) → ok", "5% of 1,900 (7.8%) → ok"),
    ],
)
def test_jira_escaping(markdown: str, wiki: str) -> None:
    assert to_jira_wiki(markdown) == wiki + "\n"


@pytest.mark.parametrize(
    ("markdown", "wiki"),
    [
        ("**bold** and *it* and ~~gone~~ and `code`", "*bold* and _it_ and -gone- and {{code}}"),
        ("foo**bar**baz", "foo{*}bar{*}baz"),
        ("**bold *both***", "*bold _both_*"),
        ("***both*** after", "*_both_* after"),
        ("**`code in bold`**", "*{{code in bold}}*"),
        ("`{a|b}`", "{{\\{a\\|b\\}}}"),
        ("[the *docs*](https://x.example/a_b)", "[the _docs_|https://x.example/a_b]"),
        ("[pipe](https://x.example/?q=a|b)", "[pipe|https://x.example/?q=a%7Cb]"),
        ("<https://x.example/a>", "[https://x.example/a]"),
        ("see https://x.example/a_b-c.", "see [https://x.example/a_b-c]."),
        ("![diagram](https://x.example/d.png)", "[diagram|https://x.example/d.png]"),
        ("**굵게**입니다 그리고 **끝**.", "{*}굵게{*}입니다 그리고 *끝*."),
        ("https://x.example/home에서 확인", "[https://x.example/home]에서 확인"),
        ("(see https://x.example/a_(b))", "(see [https://x.example/a_(b)])"),
        ("(see https://x.example/a)", "(see [https://x.example/a])"),
        ("line one\nline two", "line one\nline two"),
        ("**Why?** text\n**Because:** more", "*Why?* text\n*Because:* more"),
        ("a <b>tag</b> and <br> break", "a tag and\nbreak"),
    ],
)
def test_jira_inline(markdown: str, wiki: str) -> None:
    assert to_jira_wiki(markdown) == wiki + "\n"


def test_jira_blocks() -> None:
    markdown = (
        "# One\n\n#### Four\n\n> quoted **text**\n>\n> > inner\n\n---\n\n"
        "```python\nprint('{code}')\n```\n\n```weird\nx = 1\n```\n\n```py\ny\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | |\n"
    )
    assert to_jira_wiki(markdown) == (
        "h1. One\n\nh4. Four\n\n{quote}\nquoted *text*\n\ninner\n{quote}\n\n----\n\n"
        "{noformat}\nprint('{code}')\n{noformat}\n\n{code}\nx = 1\n{code}\n\n"
        "{code:python}\ny\n{code}\n\n||a||b||\n|1| |\n"
    )


def test_jira_nested_lists_and_tasks() -> None:
    markdown = (
        "- a\n  - b\n    1. c\n    2. d\n- e\n\n  second paragraph\n\n"
        "1. one\n   - sub\n\n- [ ] open\n- [x] done\n-\n"
    )
    assert to_jira_wiki(markdown) == (
        "* a\n** b\n**# c\n**# d\n* e \\\\ second paragraph\n\n"
        "# one\n#* sub\n\n* ☐ open\n* ☑ done\n* &nbsp;\n"
    )


def test_jira_table_cell_with_escaped_pipe() -> None:
    wiki = to_jira_wiki("| k | v |\n|---|---|\n| a \\| b | `x \\| y` |\n")
    assert wiki.splitlines() == ["||k||v||", "|a \\| b|{{x \\| y}}|"]


def test_html_comments_dropped_everywhere() -> None:
    markdown = (
        "<!-- incident-syncer:begin id=INC-1 -->\n"
        "# Title\n\nkeep <!-- incident-syncer:event id=e-1 --> this\n\n"
        "<!-- incident-syncer:snapshot abc= -->\n"
        "<!-- incident-syncer:end -->\n"
    )
    wiki = to_jira_wiki(markdown)
    assert wiki == "h1. Title\n\nkeep  this\n"
    adf = to_adf(markdown)
    validate_adf(adf)
    assert "incident-syncer" not in str(adf) and adf_text(adf) == "Titlekeep  this"
    blocks = to_notion_blocks(markdown)
    assert [(b["type"], block_text(b)) for b in blocks] == [
        ("heading_1", "Title"),
        ("paragraph", "keep  this"),
    ]


def test_html_block_keeps_its_text() -> None:
    markdown = "<details>\n<summary>More &amp; less</summary>\n\nhidden\n</details>\n"
    assert to_jira_wiki(markdown) == "More & less\n\nhidden\n"
    assert [block_text(b) for b in to_notion_blocks(markdown)] == ["More & less", "hidden"]


# --- ADF -------------------------------------------------------------------------------------


def test_adf_marks_and_structure() -> None:
    doc = to_adf(
        "**b** *i* ~~s~~ `c` [l](https://x.example) **`bc`** [`lc`](https://y.example)\n"
        "hard  \nbreak"
    )
    validate_adf(doc)
    (para,) = doc["content"]
    marks = {
        n["text"]: [m["type"] for m in n.get("marks", [])] for n in para["content"] if "text" in n
    }
    assert marks["b"] == ["strong"] and marks["i"] == ["em"] and marks["s"] == ["strike"]
    assert marks["c"] == ["code"] and marks["l"] == ["link"]
    assert marks["bc"] == ["code"]  # code only combines with link
    assert marks["lc"] == ["code", "link"]
    assert [n["type"] for n in para["content"]][-3:] == ["text", "hardBreak", "text"]


def test_adf_lists_quotes_and_code() -> None:
    doc = to_adf(
        "3. three\n   - nested\n\n     ```sh\n     ls\n     ```\n\n"
        "> # heading in quote\n> - item\n>\n> | a |\n> |---|\n> | 1 |\n\n"
        "- ## heading in item\n- - nested first\n\n***\n\n```\n```\n"
    )
    validate_adf(doc)
    ordered = doc["content"][0]
    assert ordered["attrs"] == {"order": 3}
    item = ordered["content"][0]
    assert [c["type"] for c in item["content"]] == ["paragraph", "bulletList"]
    nested = item["content"][1]["content"][0]["content"]
    assert nested[1] == {
        "type": "codeBlock",
        "attrs": {"language": "sh"},
        "content": [{"type": "text", "text": "ls"}],
    }
    quote = doc["content"][1]
    assert quote["type"] == "blockquote"
    assert quote["content"][0]["content"][0]["marks"] == [{"type": "strong"}]
    assert adf_text(quote["content"][-1]) == "1"  # the table lowered to a paragraph a row
    assert [n["type"] for n in doc["content"]][-2:] == ["rule", "codeBlock"]
    assert "content" not in doc["content"][-1]  # an empty code block has no empty text


def test_adf_empty_and_edge_documents() -> None:
    for markdown in ("", "   ", "<!-- only a marker -->", "-", ">", "|a|\n|-|", "``` \n```"):
        doc = to_adf(markdown)
        validate_adf(doc)


# --- Notion ----------------------------------------------------------------------------------


def test_notion_long_paragraph_is_split_and_whole() -> None:
    words = ("incident 장애 " * 2000)[:10_000].strip()
    blocks = to_notion_blocks(words)
    check_notion_limits(blocks)
    (block,) = blocks
    rich = block["paragraph"]["rich_text"]
    assert 5 <= len(rich) <= 6
    assert all(len(item["text"]["content"]) <= 2000 for item in rich)
    assert plain(rich) == words
    assert all(item["text"]["content"].endswith(" ") for item in rich[:-1])  # cut at spaces


def test_notion_text_split_is_exact() -> None:
    text = "x" * 4500
    rich = notion_text(text, bold=True)
    assert [len(i["text"]["content"]) for i in rich] == [2000, 2000, 500]
    assert plain(rich) == text
    assert all(i["annotations"] == {"bold": True} for i in rich)
    assert notion_text("") == []
    linked = notion_text("site", link="https://x.example")
    assert linked == [
        {"type": "text", "text": {"content": "site", "link": {"url": "https://x.example"}}}
    ]
    with pytest.raises(ValueError, match="unknown Notion annotation: bolder"):
        notion_text("x", bolder=True)


@pytest.mark.parametrize(
    "unit",
    ["😀", "👨‍👩‍👧‍👦", "👍🏽", "🇰🇷", "é", "한", "한\u1161"],
    ids=["emoji", "zwj-family", "skin-tone", "flag", "combining", "hangul", "jamo"],
)
def test_notion_split_never_breaks_a_character(unit: str) -> None:
    text = "a" + unit * 1500
    pieces = markup.split_text(text, 2000)
    assert "".join(pieces) == text
    assert all(utf16(p) <= 2000 for p in pieces)
    body = "".join(pieces)[1:]
    assert all(p.endswith(unit) or p == "a" for p in pieces[:-1]), [p[-3:] for p in pieces]
    for piece in pieces:
        piece.encode("utf-16-le")  # no lone surrogate
    assert body == unit * 1500


def test_notion_many_rich_text_objects_split_blocks() -> None:
    markdown = " ".join(f"**b{n}** i{n}" for n in range(120))
    blocks = to_notion_blocks(markdown)
    check_notion_limits(blocks)
    assert [b["type"] for b in blocks] == ["paragraph", "paragraph", "paragraph"]
    assert "".join(block_text(b) for b in blocks) == markdown.replace("**", "")
    items = to_notion_blocks("- " + markdown + "\n  - child")
    check_notion_limits(items)
    assert [b["type"] for b in items] == ["bulleted_list_item"] * 3
    assert "children" in items[-1]["bulleted_list_item"]
    assert "children" not in items[0]["bulleted_list_item"]


def test_notion_long_code_block() -> None:
    code = "\n".join(f"line {n} " + "x" * 40 for n in range(200))
    blocks = to_notion_blocks(f"```bash\n{code}\n```\n")
    check_notion_limits(blocks)
    (block,) = blocks
    assert block["code"]["language"] == "bash"
    assert len(block["code"]["rich_text"]) > 1
    assert block_text(block) == code
    assert all("annotations" not in i for i in block["code"]["rich_text"])


@pytest.mark.parametrize(
    ("fence", "language"),
    [
        ("mermaid", "mermaid"),
        ("py", "python"),
        ("Python", "python"),
        ("ts", "typescript"),
        ("yml", "yaml"),
        ("c++", "c++"),
        ("weird-lang", "plain text"),
        ("", "plain text"),
    ],
)
def test_notion_code_languages(fence: str, language: str) -> None:
    (block,) = to_notion_blocks(f"```{fence}\nx\n```\n")
    assert block["code"]["language"] == language


def test_notion_nesting_is_capped_at_two_levels() -> None:
    markdown = "- l0\n  - l1\n    - l2\n      - l3\n        - l4\n- next\n"
    blocks = to_notion_blocks(markdown)
    check_notion_limits(blocks)
    seen = [(block_text(b), depth) for b, depth in walk_notion(blocks)]
    assert seen == [("l0", 0), ("l1", 1), ("l2", 2), ("l3", 2), ("l4", 2), ("next", 0)]


def test_notion_blocks_kinds() -> None:
    markdown = (
        "# h1\n## h2\n### h3\n#### h4\n\n> quoted\n>\n> more\n\n---\n\n"
        "1. one\n2. two\n\n- [x] done\n- [ ] open\n\n"
        "*i* ~~s~~ [rel](docs/x.md) <https://x.example>\n"
    )
    blocks = to_notion_blocks(markdown)
    check_notion_limits(blocks)
    assert [b["type"] for b in blocks] == [
        "heading_1",
        "heading_2",
        "heading_3",
        "heading_3",
        "quote",
        "divider",
        "numbered_list_item",
        "numbered_list_item",
        "to_do",
        "to_do",
        "paragraph",
    ]
    quote = blocks[4]["quote"]
    assert plain(quote["rich_text"]) == "quoted"
    assert block_text(quote["children"][0]) == "more"
    assert blocks[5] == {"object": "block", "type": "divider", "divider": {}}
    assert [b["to_do"]["checked"] for b in blocks[8:10]] == [True, False]
    rich = blocks[-1]["paragraph"]["rich_text"]
    assert rich[0]["annotations"] == {"italic": True}
    assert rich[2]["annotations"] == {"strikethrough": True}
    assert rich[4] == {"type": "text", "text": {"content": "rel"}}  # relative: no link
    assert rich[6]["text"]["link"] == {"url": "https://x.example"}


def test_notion_table_cell_with_escaped_pipe_and_big_tables() -> None:
    (table,) = to_notion_blocks("| k | v |\n|---|---|\n| a \\| b | x |\n| short |\n")
    rows = table["table"]["children"]
    assert [[plain(c) for c in r["table_row"]["cells"]] for r in rows] == [
        ["k", "v"],
        ["a | b", "x"],
        ["short", ""],
    ]
    assert rows[2]["table_row"]["cells"][1] == []
    big = "| n |\n|---|\n" + "".join(f"| {n} |\n" for n in range(250))
    tables = to_notion_blocks(big)
    check_notion_limits(tables)
    assert len(tables) == 3
    firsts = [plain(t["table"]["children"][1]["table_row"]["cells"][0]) for t in tables]
    assert firsts == ["0", "99", "198"]
    assert all(plain(t["table"]["children"][0]["table_row"]["cells"][0]) == "n" for t in tables)


def test_notion_table_too_deep_becomes_paragraphs() -> None:
    blocks = to_notion_blocks("- a\n  - b\n\n    | x | y |\n    |---|---|\n    | 1 | 2 |\n")
    check_notion_limits(blocks)
    texts = [(b["type"], block_text(b), d) for b, d in walk_notion(blocks) if b["type"] != "table"]
    assert ("paragraph", "x | y", 2) in texts and ("paragraph", "1 | 2", 2) in texts


def test_count_blocks() -> None:
    blocks = to_notion_blocks("- a\n  - b\n  - c\n- d\n\n| x |\n|---|\n| 1 |\n")
    assert count_blocks(blocks) == 4 + 1 + 2
    assert count_blocks([]) == 0


# --- Properties ------------------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "장애", "배너 ", "한\u1161", "😀", "👨‍👩‍👧‍👦", "🇰🇷", "é", " ", "\n", "\n\n", "*", "**", "_",
        "`", "```", "~~", "[", "]", "(", ")", "|", "\\|", "#", "# ", "- ", "1. ", "> ",
        "- [ ] ", "---", "{", "}", "\\", "!", "?", "<!-- x -->", "<br>", "https://x.example/a",
        "[t](https://y.example)", "| a | b |\n|---|---|\n", "    ", "\t", "&amp;", ":)",
    ]
)  # fmt: skip
MARKDOWN = st.one_of(
    st.lists(PIECES, max_size=60).map("".join),
    st.text(max_size=200),
    st.tuples(PIECES, st.integers(1, 2500)).map(lambda t: t[0] * t[1]),
)


@settings(max_examples=150, deadline=None)
@given(MARKDOWN)
def test_property_notion_within_limits(markdown: str) -> None:
    check_notion_limits(to_notion_blocks(markdown))


@settings(max_examples=150, deadline=None)
@given(MARKDOWN)
def test_property_jira_and_adf_never_raise(markdown: str) -> None:
    wiki = to_jira_wiki(markdown)
    assert wiki == "" or wiki.endswith("\n")
    if not any(code in markdown for code in ("`", "    ", "\t")):
        assert "<!--" not in wiki  # markers are dropped, except as text inside code
    validate_adf(to_adf(markdown))


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=6000))
def test_property_split_text(text: str) -> None:
    pieces = markup.split_text(text, 2000)
    assert "".join(pieces) == text
    assert all(0 < utf16(piece) <= 2000 for piece in pieces)
