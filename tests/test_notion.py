"""Notion acceptance: the real notion-client against the fake Notion API, through the CLI.

The shared contract suite (tests/contract/test_notion.py) covers full sync, zero-write resync,
resync without local state, new events + regrade, injected faults and duplicates in both API
modes. This module checks what is Notion's own: the page (properties, notice callout, tagged
timeline blocks, sync data), people's blocks surviving updates, the request limits with a
250-event incident, the Korean postmortem's blocks, re-publishing in place, ``doctor``,
errors and secrets, pacing, and three trackers from one ``sync``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from adapters.notion import NotionAdapter, page_url, plan_requests
from adapters.notion.blocks import short
from syncer import config as config_mod
from syncer import markers, pacing, registry
from syncer.cli import main
from syncer.errors import TrackerError
from tests.conftest import BANNER, CHECKOUT, write_config
from tests.contract.suite import event_ids, load_yaml
from tests.fakes.clock import FakeClock
from tests.fakes.notion import LATEST, LEGACY, TOKEN, FakeNotion, notion_tracker

BANNER_ID = "INC-2024-0212-banner"


@pytest.fixture
def app(fake_notion: FakeNotion) -> FakeNotion:
    return fake_notion


@pytest.fixture
def setup(app: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``setup(**overrides)`` writes a config for the fake and returns its path."""
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)

    def make(trackers: dict[str, dict[str, Any]] | None = None, **overrides: Any) -> Path:
        tables = trackers or {"notion": notion_tracker(app, **overrides)}
        return write_config(tmp_path / "incident-syncer.toml", tables)

    yield make


def run(cfg: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(cfg), *args], catch_exceptions=False)


def adapter(app: FakeNotion, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> NotionAdapter:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    config = config_mod.parse({"trackers": {"notion": notion_tracker(app, **overrides)}}, None)
    built = registry.build("notion", config)
    assert isinstance(built, NotionAdapter)
    return built


def write(tmp_path: Path, data: dict[str, Any], name: str = "inc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def top(app: FakeNotion, page_id: str) -> list[tuple[str, str]]:
    return [(b["type"], app.text(b)) for b in app.live(page_id)]


def rich(block: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = block[block["type"]]["rich_text"]
    return items


# The page.


def test_full_sync_builds_the_page_people_read(app: FakeNotion, setup: Any) -> None:
    result = run(setup(), "sync", str(BANNER))
    assert result.exit_code == 0, result.output
    (page,) = app.incident_pages(BANNER_ID)
    props = page["properties"]
    assert app.text({"type": "x", "x": {"rich_text": props["Name"]["title"]}}) == (
        "[SEV3] 메인 배너가 홈에 노출되지 않음"
    )
    assert app.choice(page, "Grade") == "SEV3"
    assert app.choice(page, "Status") == "Resolved"
    assert props["Commander"]["rich_text"][0]["plain_text"] == "alice"
    assert [o["name"] for o in props["Services"]["multi_select"]] == ["frontend", "banner-admin"]
    assert props["Started"]["date"]["start"] == "2024-02-12T00:10:00+09:00"
    assert props["Resolved"]["date"]["start"] == "2024-02-12T01:30:00+09:00"
    assert props["Link"]["url"] is None  # no other tracker

    blocks = app.live(page["id"])
    kinds = [b["type"] for b in blocks]
    assert kinds == ["toggle", "callout", "heading_2"] + ["paragraph"] * 6 + ["child_page"]
    data, notice, heading = blocks[:3]
    assert app.tag(heading) == "incident-syncer timeline"
    # The notice is the callout's content: title, facts table, sections, links.
    inside = app.tree(notice["id"])
    assert inside[0] == {
        **inside[0],
        "type": "heading_1",
        "text": "[SEV3] 메인 배너가 홈에 노출되지 않음",
    }
    table = next(n for n in inside if n["type"] == "table")
    assert "장애 식별자 | INC-2024-0212-banner" in [row["text"] for row in table["children"]]
    texts = [n["text"] for n in inside]
    assert (
        "노출 기간이 끝난 배너를 대체할 새 배너가 등록되지 않아 노출할 배너가 조회되지 않음."
        in texts
    )
    # One block per event, in time order, each tagged with its event id.
    data_yaml = load_yaml(BANNER)
    assert [app.tag(b) for b in blocks[3:9]] == event_ids(data_yaml)
    first = blocks[3]
    assert app.text(first).startswith("2024-02-12 00:10 KST · 상태\n기존 배너 노출 기간 종료")
    assert rich(first)[0]["annotations"]["bold"] is True  # the time, as the template says
    assert (
        rich(first)[-1]["annotations"]["code"] is True
        and rich(first)[-1]["annotations"]["color"] == "gray"
    )
    # The sync data: digest + snapshot, readable back.
    (code,) = app.live(data["id"])
    stored = json.loads(app.text(code))
    snapshot = markers.decode_snapshot(stored["snapshot"])
    assert snapshot is not None and snapshot["incident"]["id"] == BANNER_ID
    assert app.tag(notice) == f"incident-syncer notice {BANNER_ID} {stored['digest']}"


def test_people_blocks_survive_updates_and_events_stay_together(
    app: FakeNotion, setup: Any, tmp_path: Path
) -> None:
    cfg = setup()
    data = load_yaml(CHECKOUT)
    data.update(id="INC-people", status="mitigated", grade="SEV2")
    for key in ("resolved_at", "closed_at", "postmortem"):
        data.pop(key)
    data["timeline"] = data["timeline"][:3]
    path = write(tmp_path, data)
    assert run(cfg, "sync", str(path)).exit_code == 0
    (page,) = app.incident_pages("INC-people")
    blocks = app.live(page["id"])
    notice, second_event, last_event = blocks[1], blocks[4], blocks[5]
    # People write: under the notice, between two events, and at the end of the page.
    app.add_block(page["id"], "Customer support briefed at 14:30", after=notice["id"])
    app.add_block(page["id"], "@erin: rollback first, then investigate", after=second_event["id"])
    app.add_block(page["id"], "Notes from the bridge call", after=last_event["id"])
    app.add_block(notice["id"], "a person's edit inside the notice box")

    data.update(status="resolved", resolved_at="2024-03-05T15:10:00Z", grade="SEV1")
    data["cause"] = "The currency field became an enum."
    data["timeline"].append(
        {"at": "2024-03-05T15:00:00Z", "text": "Rolled back payments-api", "kind": "action"}
    )
    write(tmp_path, data)
    result = run(cfg, "sync", str(path))
    assert result.exit_code == 0, result.output

    after = top(app, page["id"])
    texts = [t for _, t in after]
    ids = event_ids(data)
    assert [k for k, _ in after] == [
        "toggle",
        "callout",
        "paragraph",
        "heading_2",
        "paragraph",
        "paragraph",
        "paragraph",
        "paragraph",
        "paragraph",
        "paragraph",
        "paragraph",
    ]
    assert texts[2] == "Customer support briefed at 14:30"
    assert texts[6] == "@erin: rollback first, then investigate"
    assert texts[10] == "Notes from the bridge call"
    tags = [app.tag(b) for b in app.live(page["id"])]
    # The new events follow the last event, before the people's notes at the end.
    assert [t for t in tags if t and not t.startswith("incident-syncer")] == [
        *ids,
        "grade-SEV2-to-SEV1",
    ]
    assert tags[8:10] == [ids[3], "grade-SEV2-to-SEV1"]
    # The notice was replaced as a whole (the edit inside it is gone), once.
    (callout,) = [b for b in app.live(page["id"]) if b["type"] == "callout"]
    inside = [n["text"] for n in app.tree(callout["id"])]
    assert "The currency field became an enum." in inside
    assert "a person's edit inside the notice box" not in inside
    assert app.choice(app.pages[page["id"]], "Grade") == "SEV1"
    app.reset_log()
    assert run(cfg, "sync", str(path)).exit_code == 0
    assert app.writes() == 0


# Limits.


def big_incident(tmp_path: Path) -> Path:
    data = load_yaml(BANNER)
    data["id"] = "INC-big"
    start = datetime.fromisoformat("2024-02-12T00:10:00+09:00")
    data["timeline"] = [
        {
            "at": (start + timedelta(minutes=n)).isoformat(),
            "text": f"조치 {n:03d}: 배너 캐시와 노출 기간을 다시 확인함",
            "kind": "action",
        }
        for n in range(250)
    ]
    data["resolved_at"] = (start + timedelta(minutes=300)).isoformat()
    sentence = "배너 관리 도구가 없어 담당자가 등록 여부를 수동으로 확인하고 있었다. "
    cause = (sentence * (10_000 // len(sentence) + 1))[:10_000]
    data["cause"] = cause
    data["postmortem"]["root_cause"] = cause
    return write(tmp_path, data, "big.yaml")


def test_250_events_and_a_10000_character_root_cause_in_the_fewest_requests(
    app: FakeNotion, setup: Any, tmp_path: Path
) -> None:
    cfg = setup()
    path = big_incident(tmp_path)
    result = run(cfg, "sync", str(path))
    assert result.exit_code == 0, result.output
    assert [e for e in app.log if e.status >= 400] == []  # no validation error, no retry
    # Pages: the incident page with its whole notice in the create request (1 callout
    # holding ~30 blocks and 253 table rows: under 1,000 blocks and 500 KB), and the
    # postmortem page the same way.
    assert app.writes_to(r"^/v1/pages$") == 2
    # Appends: 250 events need ceil(250 / 100) = 3 requests (100, 100, 50), and the notice
    # is replaced once, in 1 request, when the postmortem's link is known.
    appends = [b for m, p, b in app.bodies if m == "PATCH" and p.endswith("/children")]
    assert [len(b["children"]) for b in appends] == [100, 100, 50, 1]
    assert app.writes_to(r"/children$") == 4

    (page,) = app.incident_pages("INC-big")
    blocks = app.live(page["id"])
    tags = [app.tag(b) for b in blocks]
    events = [t for t in tags if t and not t.startswith("incident-syncer")]
    assert events == event_ids(load_yaml(path))
    # The 10,000-character cause: five text objects of at most 2,000, nothing lost.
    cause = load_yaml(path)["cause"].strip()
    assert len(cause) > 9_900
    (callout,) = [b for b in blocks if b["type"] == "callout"]
    (paragraph,) = [b for b in app.live(callout["id"]) if app.text(b) == cause]
    assert max(len(i["plain_text"]) for i in rich(paragraph)) <= 2000
    assert len(rich(paragraph)) == 5
    pm_page = next(b for b in blocks if b["type"] == "child_page")
    assert cause in [app.text(b) for b in app.live(pm_page["id"])]
    app.reset_log()
    assert run(cfg, "sync", str(path)).exit_code == 0
    assert app.writes() == 0


def test_append_respects_nesting_children_blocks_and_size_limits(
    app: FakeNotion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the shape, every request passes Notion's validation and the result is whole."""
    notion = adapter(app, monkeypatch)
    parent = _scratch_page(app)

    def para(text: str, children: list[Any] | None = None, kind: str = "bulleted_list_item") -> Any:
        body: dict[str, Any] = {"rich_text": [{"type": "text", "text": {"content": text}}]}
        if children:
            body["children"] = children
        return {"type": kind, kind: body}

    deep = para("1", [para("1.1", [para("1.1.1", [para("1.1.1.1", [para("1.1.1.1.1")])])])])
    wide = {
        "type": "callout",
        "callout": {
            "rich_text": [{"type": "text", "text": {"content": "150 children"}}],
            "children": [para(f"c{n}", kind="paragraph") for n in range(150)],
        },
    }
    row = {
        "type": "table_row",
        "table_row": {"cells": [[{"type": "text", "text": {"content": "a"}}]] * 2},
    }
    table_deep = para(
        "t",
        [
            para(
                "t.1",
                [
                    {
                        "type": "table",
                        "table": {
                            "table_width": 2,
                            "has_column_header": False,
                            "has_row_header": False,
                            "children": [row, row],
                        },
                    }
                ],
            )
        ],
    )
    # 120 blocks of 8,000 characters: 100 fit Notion's count but not its 500 KB.
    heavy = [para("x" * 1990, kind="paragraph") for n in range(120)]
    for n, block in enumerate(heavy):
        block["paragraph"]["rich_text"] = [
            {"type": "text", "text": {"content": f"{n:04d}" + "x" * 1996}} for _ in range(4)
        ]
    many = {
        "type": "toggle",
        "toggle": {
            "rich_text": [{"type": "text", "text": {"content": "1,100 descendants"}}],
            "children": [para(f"g{n}", [para(f"g{n}.{m}") for m in range(10)]) for n in range(100)],
        },
    }
    blocks = [deep, wide, table_deep, *heavy, many]
    app.reset_log()
    ids = notion.append(parent, copy.deepcopy(blocks))
    assert len(ids) == len(blocks)
    assert [e for e in app.log if e.status >= 400] == []

    def shape(node: dict[str, Any]) -> Any:
        return (node["text"], [shape(c) for c in node["children"]])

    tree = app.tree(parent)
    assert shape(tree[0]) == ("1", [("1.1", [("1.1.1", [("1.1.1.1", [("1.1.1.1.1", [])])])])])
    assert [c["text"] for c in tree[1]["children"]] == [f"c{n}" for n in range(150)]
    # A table two levels down cannot keep its rows in one request: its rows become paragraphs.
    assert shape(tree[2]) == ("t", [("t.1", [("a | a", []), ("a | a", [])])])
    assert [n["text"] for n in tree[3:123]] == [(f"{n:04d}" + "x" * 1996) * 4 for n in range(120)]
    assert sum(1 + len(c["children"]) for c in tree[123]["children"]) == 1100
    # Every request stayed within the limits the fake enforces; the heavy ones split by size.
    sizes = [len(json.dumps(b).encode()) for m, p, b in app.bodies if p.endswith("/children")]
    assert max(sizes) < 500_000
    assert [len(r.blocks) for r in plan_requests(copy.deepcopy(heavy))] == [54, 54, 12]


def _scratch_page(app: FakeNotion) -> str:
    with app.lock:
        page_id = app._id()
        app.pages[page_id] = {
            "object": "page",
            "id": page_id,
            "parent": {"type": "workspace", "workspace": True},
            "in_trash": False,
            "archived": False,
            "properties": {},
            "created_time": "2024-01-01T00:00:00.000Z",
            "_seq": 0,
            "url": "",
        }
        app.children[page_id] = []
    return page_id


# The postmortem.


def test_the_korean_postmortem_as_blocks(app: FakeNotion, setup: Any) -> None:
    assert run(setup(), "sync", str(BANNER)).exit_code == 0
    (page,) = app.incident_pages(BANNER_ID)
    (pm,) = [b for b in app.live(page["id"]) if b["type"] == "child_page"]
    assert pm["child_page"]["title"] == "포스트모템: [SEV3] 메인 배너가 홈에 노출되지 않음"
    tree = app.tree(pm["id"])
    outline = [(n["type"], n["text"]) for n in tree if n["type"].startswith("heading")]
    assert outline == [
        ("heading_1", "포스트모템: 메인 배너가 홈에 노출되지 않음"),
        ("heading_2", "장애 요약"),
        ("heading_2", "영향도"),
        ("heading_2", "장애 탐지"),
        ("heading_2", "근본 원인"),
        ("heading_2", "해결책"),
        ("heading_2", "다섯 번의 왜"),
        ("heading_2", "교훈"),
        ("heading_3", "잘 진행된 부분"),
        ("heading_3", "미흡했던 부분"),
        ("heading_3", "운이 좋았던 부분"),
        ("heading_2", "시간대별 조치 사항 (타임라인)"),
        ("heading_2", "재발 방지 대책"),
        ("heading_2", "추가 정보 (링크)"),
        ("heading_2", "장애 리뷰"),
    ]
    head, end = tree[0], tree[-1]
    assert head["type"] == "toggle" and (app.tag(head["block"]) or "").startswith(
        f"incident-syncer postmortem {BANNER_ID} "
    )
    assert (app.tag(end["block"]) or "").startswith("incident-syncer end ")

    def after(heading: str) -> list[dict[str, Any]]:
        index = next(i for i, n in enumerate(tree) if n["text"] == heading)
        rest = []
        for node in tree[index + 1 :]:
            if node["type"].startswith("heading") or node is end:
                break
            rest.append(node)
        return rest

    facts = tree[2]
    assert facts["type"] == "table"
    assert facts["block"]["table"]["table_width"] == 2
    assert [r["text"] for r in facts["children"]][:3] == [
        "장애 식별자 | INC-2024-0212-banner",
        "장애 날짜 | 2024-02-12",
        "장애 시간 | 2024-02-12 00:10 KST → 2024-02-12 01:30 KST",
    ]
    assert (
        after("근본 원인")[0]["text"]
        == "배너 관리 도구가 없어 담당자가 등록 여부를 수동으로 확인하고 있었다."
    )
    whys = after("다섯 번의 왜")
    assert [n["type"] for n in whys] == ["numbered_list_item"] * 5
    assert whys[0]["text"] == (
        "Q1 왜 메인 배너가 홈에 노출되지 않았나?\n"
        "A1 Frontend 시스템에서 노출할 배너를 조회했지만 조회되지 않아 배너가 노출되지 않았다."
    )
    q1 = rich(whys[0]["block"])[0]
    assert q1["plain_text"] == "Q1" and q1["annotations"]["bold"]
    assert [n["text"] for n in after("미흡했던 부분")] == [
        "배너 미노출을 감지하는 알림이 없어 고객 문의로 인지했다."
    ]
    timeline = after("시간대별 조치 사항 (타임라인)")
    code, table = timeline[0], timeline[1]
    assert code["type"] == "code" and code["block"]["code"]["language"] == "mermaid"
    assert code["text"].splitlines()[:3] == [
        "timeline",
        "    title INC-2024-0212-banner",
        "    section 2024-02-12",
    ]
    assert table["type"] == "table" and len(table["children"]) == 7
    assert table["children"][1]["text"] == (
        "2024-02-12 00:10 KST | 상태 | 기존 배너 노출 기간 종료, 홈 배너 영역 비어 있음"
    )
    todos = after("재발 방지 대책")
    assert [(n["type"], n["block"]["to_do"]["checked"]) for n in todos] == [("to_do", False)] * 2
    data = load_yaml(BANNER)
    from syncer.model import ActionItem

    items = [ActionItem.model_validate(a).item_id for a in data["postmortem"]["action_items"]]
    assert [app.tag(n["block"]) for n in todos] == items
    assert todos[0]["text"].startswith(
        "배너 노출 대상이 0건이면 알림 보내기 (담당: carol), 기한 2024-02-20"
    )
    links = after("추가 정보 (링크)")
    grafana = rich(links[0]["block"])[0]
    assert grafana["plain_text"] == "Grafana 홈 대시보드"
    assert grafana["href"] == "https://grafana.example.com/d/home"
    assert links[2]["text"] == f"장애 이슈: https://www.notion.so/{page['id'].replace('-', '')}"


def test_republishing_the_postmortem_replaces_it_in_place(
    app: FakeNotion, setup: Any, tmp_path: Path
) -> None:
    cfg = setup(postmortem_database_id=app.pm_db_id)
    data = load_yaml(BANNER)
    path = write(tmp_path, data)
    assert run(cfg, "sync", str(path)).exit_code == 0
    (pm,) = app.incident_pages(BANNER_ID, app.pm_db_id)
    assert app.choice(pm, "Grade") == "SEV3"
    assert pm["properties"]["Author"]["rich_text"][0]["plain_text"] == "bob"
    assert pm["properties"]["Date"]["date"]["start"] == "2024-02-12"
    before = len(app.live(pm["id"]))

    data["postmortem"]["review"]["attendees"].append("erin")
    write(tmp_path, data)
    app.reset_log()
    result = run(cfg, "sync", str(path))
    assert result.exit_code == 0, result.output
    (page,) = app.incident_pages(BANNER_ID)
    assert result.output == (
        f"✓ {BANNER_ID} → notion {short(page['id'])} {page_url(page['id'])}: updated\n"
        f"    - update postmortem {short(pm['id'])}\n"
        "    - update issue body\n"
    )
    (again,) = app.incident_pages(BANNER_ID, app.pm_db_id)
    assert again["id"] == pm["id"]
    assert app.writes_to(r"^/v1/pages$") == 0
    # Only the end of the page changed: the unchanged leading blocks were kept.
    deleted = sum(1 for e in app.log if e.method == "DELETE")
    assert 0 < deleted <= 3 < before
    texts = [app.text(b) for b in app.live(pm["id"])]
    assert "참석자: alice, bob, carol, dave, erin" in texts
    assert "참석자: alice, bob, carol, dave" not in texts

    # The same page as a fresh publish would make, block for block.
    fresh = FakeNotion()
    fresh.start()
    try:
        cfg2 = write_config(
            tmp_path / "fresh.toml",
            {"notion": notion_tracker(fresh, postmortem_database_id=fresh.pm_db_id)},
            state=str(tmp_path / "fresh-state.db"),
        )
        assert run(cfg2, "sync", str(path)).exit_code == 0
        (other,) = fresh.incident_pages(BANNER_ID, fresh.pm_db_id)

        def strip(nodes: list[dict[str, Any]]) -> Any:
            # Page ids (in links) and the digests and hashes that cover them differ.
            return [
                (
                    n["type"],
                    re.sub(r"[0-9a-f]{32}|[0-9a-f]{16}⟩", "ID", n["text"]),
                    strip(n["children"]),
                )
                for n in nodes
            ]

        mine, theirs = app.tree(pm["id"]), fresh.tree(other["id"])
        assert strip(mine[1:]) == strip(theirs[1:])
        assert strip(mine[:1])[0][:2] == strip(theirs[:1])[0][:2]
    finally:
        fresh.stop()
    app.reset_log()
    assert run(cfg, "sync", str(path)).exit_code == 0
    assert app.writes() == 0


# doctor.


def test_doctor_names_each_missing_or_mistyped_property(app: FakeNotion, setup: Any) -> None:
    cfg = setup(postmortem_database_id=app.pm_db_id)
    ok = run(cfg, "doctor")
    assert ok.exit_code == 0, ok.output
    assert ok.output == (
        f"configuration: {cfg}: 1 tracker(s), 4 grade(s)\n"
        "✓ templates and state: ok\n"
        "✓ notion (notion): ok\n"
    )

    schema = app.schema(app.db_id)
    del schema["Grade"]
    schema["Link"] = {**schema["Link"], "type": "rich_text", "rich_text": {}}
    del app.schema(app.pm_db_id)["Review"]
    bad = run(cfg, "doctor")
    assert bad.exit_code == 1
    assert bad.output.splitlines()[2:] == [
        "✗ notion (notion):",
        "    - incidents database: property 'Grade' is missing (expected select)",
        "    - incidents database: property 'Link' is rich_text, expected url",
        "    - postmortems database: property 'Review' is missing (expected status)",
    ]
    assert app.writes() == 0


def test_doctor_checks_status_options_and_renamed_properties(app: FakeNotion, setup: Any) -> None:
    schema = app.schema(app.db_id)
    schema["상태"] = {
        "id": "st",
        "name": "상태",
        "type": "status",
        "status": {"options": [{"name": n} for n in ("Detected", "Mitigated", "Resolved")]},
    }
    cfg = setup(status_type="status", properties={"Status": "상태", "Link": ""})
    result = run(cfg, "doctor", "--json")
    assert result.exit_code == 1
    (_, notion) = json.loads(result.output)
    assert notion["problems"] == [
        "incidents database: property '상태' has no option 'Investigating', 'Closed'"
    ]


def test_doctor_exit_codes_for_credentials_and_configuration(
    app: FakeNotion, setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = setup()
    monkeypatch.setenv("NOTION_TOKEN", "ntn_not_the_right_one_123")
    head = f"configuration: {cfg}: 1 tracker(s), 4 grade(s)\n✓ templates and state: ok\n"
    refused = run(cfg, "doctor")
    assert refused.exit_code == 1
    assert refused.output == (
        f"{head}✗ notion (notion):\n"
        f"    - incidents database {app.db_id}: read the database: Notion refused the token "
        "in $NOTION_TOKEN (unauthorized): check the integration's secret\n"
    )
    monkeypatch.delenv("NOTION_TOKEN")
    missing = run(cfg, "doctor")
    assert missing.exit_code == 2
    assert missing.output == (
        f"{head}✗ notion (notion):\n"
        "    - environment variable NOTION_TOKEN is not set (named by trackers.notion.token_env); "
        "secrets are read only from the environment\n"
    )
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    cfg = setup(properties={"Incident Key": "x"})
    unknown = run(cfg, "doctor")
    assert unknown.exit_code == 2
    assert unknown.output == (
        f"{head}✗ notion (notion):\n"
        f"    - {cfg}:13: trackers.notion.properties.Incident Key: unknown key\n"
    )


# API modes.


@pytest.mark.parametrize("version", [LATEST, LEGACY])
def test_data_source_and_plain_database_modes(app: FakeNotion, setup: Any, version: str) -> None:
    cfg = setup(notion_version=version)
    assert run(cfg, "sync", str(BANNER)).exit_code == 0
    assert set(app.versions) == {version}
    ds = app.data_source_of(app.db_id)
    paths = [e.path for e in app.log]
    creates = [b for m, p, b in app.bodies if p == "/v1/pages"]
    if version == LATEST:
        assert f"/v1/data_sources/{ds}/query" in paths
        assert not any(p.startswith("/v1/databases/") and p.endswith("/query") for p in paths)
        assert paths.count(f"/v1/databases/{app.db_id}") == 1  # discovered once
        assert creates[0]["parent"] == {"type": "data_source_id", "data_source_id": ds}
    else:
        assert f"/v1/databases/{app.db_id}/query" in paths
        assert not any(p.startswith("/v1/data_sources/") for p in paths)
        assert creates[0]["parent"] == {"type": "database_id", "database_id": app.db_id}
    assert creates[1]["parent"]["type"] == "page_id"  # the postmortem, a child page


def test_a_configured_data_source_skips_discovery_and_urls_work_as_ids(
    app: FakeNotion, setup: Any
) -> None:
    hex_id = app.db_id.replace("-", "")
    cfg = setup(
        database_id=f"https://www.notion.so/acme/Incidents-{hex_id}?v=123",
        data_source_id=app.data_source_of(app.db_id),
    )
    assert run(cfg, "sync", str(BANNER)).exit_code == 0
    assert not any(e.path.startswith("/v1/databases/") for e in app.log)
    assert len(app.incident_pages(BANNER_ID)) == 1


# Errors, retries and secrets.


def test_client_retries_are_off_and_errors_say_whether_to_retry(
    app: FakeNotion, monkeypatch: pytest.MonkeyPatch
) -> None:
    notion = adapter(app, monkeypatch)
    app.retry_after = "0.25"
    app.fail_next(429, {"Retry-After": "0.25"})
    with pytest.raises(TrackerError) as limited:
        notion.find(BANNER_ID)
    assert limited.value.retryable and limited.value.retry_after == 0.25
    assert limited.value.status == 429
    app.reset_log()
    for status in (500, 502, 503):
        app.fail_next(status)
        with pytest.raises(TrackerError) as failed:
            notion.find(BANNER_ID)
        assert failed.value.retryable and failed.value.status == status
    assert len(app.log) == 3  # one request each: notion-client did not retry on its own
    body = {
        "object": "error",
        "status": 400,
        "code": "validation_error",
        "message": "body failed validation: body.children.length should be ≤ `100`, instead was `101`.",
    }
    app.fail_next(400, body=body)
    paragraph = {"type": "paragraph", "paragraph": {"rich_text": []}}
    with pytest.raises(TrackerError) as rejected:
        notion.append(_scratch_page(app), [paragraph])
    assert not rejected.value.retryable
    assert "instead was `101`" in rejected.value.message
    app.fail_next(
        404,
        body={
            "object": "error",
            "status": 404,
            "code": "object_not_found",
            "message": "Could not find page",
        },
    )
    with pytest.raises(TrackerError) as gone:
        notion.fetch(_ref("0" * 32), BANNER_ID)
    assert not gone.value.retryable and gone.value.status == 404
    app.fail_next(
        403,
        body={
            "object": "error",
            "status": 403,
            "code": "restricted_resource",
            "message": "no access",
        },
    )
    with pytest.raises(TrackerError) as denied:
        notion.find(BANNER_ID)
    assert "shared with it" in denied.value.message and not denied.value.retryable


def test_timeouts_and_unreachable_servers_are_retryable(
    app: FakeNotion, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = adapter(app, monkeypatch, timeout=0.1)
    app.latency = 0.3
    with pytest.raises(TrackerError) as timed_out:
        slow.find(BANNER_ID)
    assert timed_out.value.retryable and "did not answer within 0.1s" in timed_out.value.message
    app.latency = 0
    pacing._PACERS.pop("notion", None)
    nowhere = adapter(app, monkeypatch, base_url="http://127.0.0.1:9")
    with pytest.raises(TrackerError) as unreachable:
        nowhere.find(BANNER_ID)
    assert unreachable.value.retryable and "cannot reach Notion" in unreachable.value.message


def _ref(native: str) -> Any:
    from adapters.base import IssueRef

    return IssueRef(key=native[:8], url="https://www.notion.so/x", native=native)


def test_the_token_never_shows(app: FakeNotion, setup: Any, tmp_path: Path) -> None:
    cfg = setup()
    echo = {
        "object": "error",
        "status": 400,
        "code": "validation_error",
        "message": f"Invalid request for Authorization: Bearer {TOKEN}",
    }
    app.fail_next(400, body=echo)
    failed = run(cfg, "-vv", "sync", str(BANNER), "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["error"] == (
        f"cannot tell whether {BANNER_ID} has a page: read the database: Notion rejected the "
        "request (validation_error: Invalid request for Authorization: Bearer <secret>) (HTTP 400)"
    )
    app.faults(0.3, seed=3)
    again = run(cfg, "-vv", "sync", str(BANNER))
    journal = run(cfg, "journal")
    for result in (failed, again, journal):
        assert TOKEN not in result.output
    state = (tmp_path / "state" / "state.db").read_bytes()
    assert TOKEN.encode() not in state


# Pacing.


def test_requests_are_paced_to_the_rate_notion_enforces(
    app: FakeNotion, setup: Any, clock: FakeClock
) -> None:
    app.rate_limit, app.burst = 12.0, 3
    cfg = setup(requests_per_second=12, burst=3)  # exactly what the fake allows
    started = clock.monotonic()
    result = run(cfg, "sync", str(BANNER))
    elapsed = clock.monotonic() - started
    assert result.exit_code == 0, result.output
    assert [e for e in app.log if e.status == 429] == []
    # Three at once, then one every twelfth of a second: the whole budget, not beyond it.
    assert elapsed == pytest.approx((len(app.log) - 3) / 12, abs=1e-3)


def test_a_client_faster_than_notion_meets_429s_and_still_converges(
    app: FakeNotion, setup: Any
) -> None:
    app.rate_limit, app.burst = 20.0, 2
    app.retry_after = "0.05"
    cfg = setup(requests_per_second=60, burst=6)  # three times what the fake allows
    codes = []
    for _ in range(4):
        codes.append(run(cfg, "sync", str(BANNER)).exit_code)
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes
    assert any(e.status == 429 for e in app.log)
    assert pacing._PACERS["notion"][1].penalties > 0  # the pacer slowed down on its own
    app.rate_limit = None
    data = load_yaml(BANNER)
    (page,) = app.incident_pages(data["id"])
    tags = [app.tag(b) for b in app.live(page["id"])]
    assert [t for t in tags if t and not t.startswith("incident-syncer")] == event_ids(data)
    app.reset_log()
    assert run(cfg, "sync", str(BANNER)).exit_code == 0
    assert app.writes() == 0


# Duplicates, renamed properties, a status property.


def test_a_duplicate_page_is_closed_with_a_link_to_the_kept_one(
    app: FakeNotion, setup: Any, tmp_path: Path
) -> None:
    cfg = setup()
    assert run(cfg, "sync", str(BANNER)).exit_code == 0
    (kept,) = app.incident_pages(BANNER_ID)
    copy_id = app.copy_page(kept["id"], lambda b: b["type"] != "child_page")
    (tmp_path / "state" / "state.db").unlink()
    result = run(cfg, "sync", str(BANNER))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"✓ {BANNER_ID} → notion {short(kept['id'])} {page_url(kept['id'])}: updated\n"
        f"    - close duplicate {short(copy_id)} (keeping the older one)\n"
    )
    assert [p["id"] for p in app.incident_pages(BANNER_ID)] == [kept["id"]]
    dup = app.pages[copy_id]
    assert app.choice(dup, "Status") == "Closed"
    incident_id = dup["properties"]["Incident ID"]["rich_text"][0]["plain_text"]
    assert incident_id == f"{BANNER_ID} (duplicate of {kept['id'].replace('-', '')[:8]})"
    note = app.live(copy_id)[-1]
    assert note["type"] == "callout"
    assert rich(note)[-1]["href"] == f"https://www.notion.so/{kept['id'].replace('-', '')}"


def test_renamed_properties_and_a_status_property(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pacing._PACERS.pop("notion", None)
    schema = {
        "제목": "title",
        "장애 ID": "rich_text",
        "등급": "select",
        "상태": {
            "type": "status",
            "status": {
                "options": [{"name": n} for n in ("인지", "조사 중", "완화", "해결", "종료")]
            },
        },
        "서비스": "multi_select",
    }
    app = FakeNotion(incident_schema=schema)
    app.start()
    try:
        monkeypatch.setenv("NOTION_TOKEN", TOKEN)
        names = {"Name": "제목", "Incident ID": "장애 ID", "Grade": "등급", "Status": "상태"}
        names |= {"Services": "서비스", "Commander": "", "Link": ""}
        names |= {"Started": "", "Detected": "", "Mitigated": "", "Resolved": ""}
        statuses = {"detected": "인지", "investigating": "조사 중", "mitigated": "완화"}
        statuses |= {"resolved": "해결", "closed": "종료"}
        cfg = write_config(
            tmp_path / "incident-syncer.toml",
            {
                "notion": notion_tracker(
                    app, properties=names, status_type="status", statuses=statuses
                )
            },
        )
        assert run(cfg, "doctor").exit_code == 0
        result = run(cfg, "sync", str(BANNER))
        assert result.exit_code == 0, result.output
        pages = [
            p
            for p in app.pages.values()
            if p["parent"].get("database_id") == app.db_id and not p["in_trash"]
        ]
        (page,) = pages
        assert page["properties"]["장애 ID"]["rich_text"][0]["plain_text"] == BANNER_ID
        assert page["properties"]["상태"]["status"]["name"] == "해결"
        assert page["properties"]["등급"]["select"]["name"] == "SEV3"
        app.reset_log()
        assert run(cfg, "sync", str(BANNER)).exit_code == 0
        assert app.writes() == 0
    finally:
        app.stop()


def test_a_page_moved_to_the_trash_is_made_again(app: FakeNotion, setup: Any) -> None:
    cfg = setup()
    assert run(cfg, "sync", str(BANNER)).exit_code == 0
    (page,) = app.incident_pages(BANNER_ID)
    app.pages[page["id"]]["in_trash"] = True
    result = run(cfg, "sync", str(BANNER))
    assert result.exit_code == 0, result.output
    (again,) = app.incident_pages(BANNER_ID)
    assert again["id"] != page["id"]
    tags = [app.tag(b) for b in app.live(again["id"])]
    assert [t for t in tags if t and not t.startswith("incident-syncer")] == event_ids(
        load_yaml(BANNER)
    )


# Three trackers at once.


def test_three_trackers_from_one_sync(
    app: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.contract.test_github import GitHubHarness
    from tests.contract.test_jira import JiraHarness
    from tests.contract.test_notion import NotionHarness
    from tests.fakes.github import FakeGitHub
    from tests.fakes.jira import FakeJira

    for name in ("gh", "jira"):
        pacing._PACERS.pop(name, None)
    github_app = FakeGitHub(users={"alice": "write", "erin": "write"})
    github_app.start()
    jira_app = FakeJira()
    jira_app.start()
    try:
        harnesses: dict[str, Any] = {
            "gh": GitHubHarness(github_app),
            "jira": JiraHarness(jira_app, cloud=False),
            "notion": NotionHarness(app),
        }
        for harness in harnesses.values():
            for key, value in harness.env.items():
                monkeypatch.setenv(key, value)
        cfg = write_config(
            tmp_path / "incident-syncer.toml", {n: h.table for n, h in harnesses.items()}
        )
        result = run(cfg, "sync", str(BANNER), str(CHECKOUT), "--json")
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.output.splitlines()]
        assert sorted((r["incident"], r["tracker"], r["created"], r["error"]) for r in lines) == [
            (i, t, True, None)
            for i in (BANNER_ID, "INC-2024-0305-checkout")
            for t in ("gh", "jira", "notion")
        ]
        for path in (BANNER, CHECKOUT):
            data = load_yaml(path)
            for name, harness in harnesses.items():
                assert harness.issues(data["id"]) and len(harness.issues(data["id"])) == 1, name
                assert harness.events(data["id"]) == event_ids(data), name
                assert harness.grades(data["id"]) == [data["grade"]], name
                assert harness.closed(data["id"]), name
                assert harness.postmortems(data["id"]) == 1, name
                expected = len(data["postmortem"]["action_items"])
                assert harness.action_items(data["id"]) == expected, name
        # Each tracker links the others: Notion's Link property and notice, GitHub's body.
        by = {(r["incident"], r["tracker"]): r for r in lines}
        (page,) = app.incident_pages(BANNER_ID)
        assert page["properties"]["Link"]["url"] == by[(BANNER_ID, "gh")]["url"]
        (callout,) = [b for b in app.live(page["id"]) if b["type"] == "callout"]
        notice = [n["text"] for n in app.tree(callout["id"])]
        assert f"gh: {by[(BANNER_ID, 'gh')]['key']}" in notice
        assert f"jira: {by[(BANNER_ID, 'jira')]['key']}" in notice
        issue = harnesses["gh"]._incident(BANNER_ID)
        assert (
            f"notion: [{by[(BANNER_ID, 'notion')]['key']}]({page_url(page['id'])})"
            in (issue["body"])
        )
        for harness in harnesses.values():
            harness.reset_log()
        again = run(cfg, "sync", str(BANNER), str(CHECKOUT))
        assert again.exit_code == 0, again.output
        assert {n: h.writes() for n, h in harnesses.items()} == {"gh": 0, "jira": 0, "notion": 0}
    finally:
        github_app.stop()
        jira_app.stop()


def test_english_pages(app: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    cfg = write_config(
        tmp_path / "incident-syncer.toml", {"notion": notion_tracker(app)}, language="en"
    )
    assert run(cfg, "sync", str(CHECKOUT)).exit_code == 0
    (page,) = app.incident_pages("INC-2024-0305-checkout")
    texts = [t for _, t in top(app, page["id"])]
    assert texts[0].startswith("incident-syncer sync data (do not edit)")
    assert texts[1].startswith("Incident notice kept by incident-syncer.")
    assert texts[2] == "Timeline ⟨incident-syncer timeline⟩"
    assert texts[-1] == "Postmortem: [SEV1] Checkout returns HTTP 500 after the payments deploy"
