"""The fake Notion API checked against the official contract excerpt and Notion's documented limits.

``tests/fakes/notion.openapi.json`` (a copy of ``/work/shared/contracts/notion.openapi.json``,
Notion-Version 2025-09-03) lists the operations
and, under ``x-derived``, the request shapes and limits transcribed from notion-sdk-js. The fake
must serve those operations, refuse what Notion refuses with Notion's error body, and answer in
the shapes notion-client reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncer import markup
from tests.fakes.notion import (
    CODE_LANGUAGES,
    LATEST,
    LEGACY,
    TOKEN,
    FakeNotion,
)

CONTRACT = Path(__file__).parent / "fakes" / "notion.openapi.json"
SPEC: dict[str, Any] = json.loads(CONTRACT.read_text(encoding="utf-8"))


@pytest.fixture
def app(fake_notion: FakeNotion) -> FakeNotion:
    return fake_notion


def client(app: FakeNotion, version: str = LATEST, token: str = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    if version:
        headers["Notion-Version"] = version
    return httpx.Client(base_url=app.url, headers=headers)


def text(content: str, **annotations: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "text", "text": {"content": content}}
    if annotations:
        item["annotations"] = annotations
    return item


def para(content: str) -> dict[str, Any]:
    return {"type": "paragraph", "paragraph": {"rich_text": [text(content)]}}


def new_page(http: httpx.Client, app: FakeNotion, **extra: Any) -> dict[str, Any]:
    body = {
        "parent": {"type": "data_source_id", "data_source_id": app.data_source_of(app.db_id)},
        "properties": {
            "Name": {"title": [text("t")]},
            "Incident ID": {"rich_text": [text("INC-1")]},
        },
        **extra,
    }
    answer = http.post("/v1/pages", json=body)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def test_the_fake_serves_every_operation_of_the_contract(app: FakeNotion) -> None:
    served = {
        (method, re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", regex.pattern.strip("^$")))
        for method, regex, _ in app.routes
    }
    for path, operations in SPEC["paths"].items():
        for method in operations:
            generic = re.sub(r"\{\w+\}", "{id}", path)
            assert (method.upper(), generic) in served, f"{method.upper()} {path}"
    extra = served - {
        (m.upper(), re.sub(r"\{\w+\}", "{id}", p)) for p, ops in SPEC["paths"].items() for m in ops
    }
    # Beyond the contract: the pre-2025-09-03 database query, and "retrieve your token's bot
    # user" (GET /v1/users/me, which the trust rule asks only for unsigned markers).
    assert extra == {("POST", "/v1/databases/{id}/query"), ("GET", "/v1/users/me")}


def test_code_languages_match_the_contract_and_the_converter() -> None:
    assert set(SPEC["x-derived"]["CodeLanguage"]["enum"]) == CODE_LANGUAGES
    assert markup.NOTION_LANGUAGES == CODE_LANGUAGES


def test_errors_have_notions_body(app: FakeNotion) -> None:
    required = set(SPEC["x-derived"]["ErrorResponse"]["required"])
    with client(app, token="ntn_wrong") as http:
        refused = http.get(f"/v1/databases/{app.db_id}")
    assert refused.status_code == 401
    assert required <= set(refused.json())
    assert refused.json()["code"] == "unauthorized"
    with client(app, version="") as http:
        unversioned = http.get(f"/v1/databases/{app.db_id}")
    assert unversioned.status_code == 400 and unversioned.json()["code"] == "missing_version"
    with client(app) as http:
        missing = http.get("/v1/pages/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "object_not_found"
    assert required <= set(missing.json())


def test_appends_over_the_limits_are_refused_as_notion_does(app: FakeNotion) -> None:
    with client(app) as http:
        page = new_page(http, app)
        url = f"/v1/blocks/{page['id']}/children"
        too_many = http.patch(url, json={"children": [para(str(n)) for n in range(101)]})
        assert too_many.status_code == 400
        assert too_many.json() == {
            **too_many.json(),
            "object": "error",
            "status": 400,
            "code": "validation_error",
            "message": "body failed validation: body.children.length should be ≤ `100`, "
            "instead was `101`.",
        }
        too_long = http.patch(url, json={"children": [para("x" * 2001)]})
        assert too_long.status_code == 400
        assert too_long.json()["message"] == (
            "body failed validation: body.children[0].paragraph.rich_text[0].text.content.length"
            " should be ≤ `2000`, instead was `2001`."
        )
        emoji = "😀" * 1001  # 2,002 UTF-16 units: Notion counts like JavaScript
        assert http.patch(url, json={"children": [para(emoji)]}).status_code == 400
        deep = para("1")
        deep["paragraph"]["children"] = [para("2")]
        deep["paragraph"]["children"][0]["paragraph"]["children"] = [para("3")]
        assert http.patch(url, json={"children": [deep]}).status_code == 200
        deep["paragraph"]["children"][0]["paragraph"]["children"][0]["paragraph"]["children"] = [
            para("4")
        ]
        three_deep = http.patch(url, json={"children": [deep]})
        assert three_deep.status_code == 400
        assert "children should be not present" in three_deep.json()["message"]
        many = {
            "type": "toggle",
            "toggle": {
                "rich_text": [],
                "children": [
                    {
                        "type": "toggle",
                        "toggle": {"rich_text": [], "children": [para("x")] * 10},
                    }
                ]
                * 91,
            },
        }
        over = http.patch(url, json={"children": [many]})
        assert over.status_code == 400 and "the limit is 1000" in over.json()["message"]
        rich = {"type": "paragraph", "paragraph": {"rich_text": [text("a")] * 101}}
        assert http.patch(url, json={"children": [rich]}).status_code == 400
        bad_code = {"type": "code", "code": {"rich_text": [], "language": "brainfuck"}}
        assert http.patch(url, json={"children": [bad_code]}).status_code == 400
        table = {
            "type": "table",
            "table": {
                "table_width": 2,
                "has_column_header": True,
                "has_row_header": False,
                "children": [{"type": "table_row", "table_row": {"cells": [[text("a")]]}}],
            },
        }
        narrow = http.patch(url, json={"children": [table]})
        assert narrow.status_code == 400 and "table width" in narrow.json()["message"]
        assert app.live(page["id"])[0]["paragraph"]["rich_text"][0]["plain_text"] == "1"
        assert len(app.live(page["id"])) == 1  # nothing of the refused requests was kept


def test_blocks_come_back_in_the_shape_notion_client_reads(app: FakeNotion) -> None:
    with client(app) as http:
        page = new_page(http, app, children=[para("first")])
        url = f"/v1/blocks/{page['id']}/children"
        appended = http.patch(
            url,
            json={
                "children": [
                    {
                        "type": "paragraph",
                        "paragraph": {
                            "rich_text": [
                                text("bold", bold=True),
                                {
                                    "type": "text",
                                    "text": {
                                        "content": "link",
                                        "link": {"url": "https://x.example"},
                                    },
                                },
                            ]
                        },
                    }
                ]
            },
        ).json()
        assert appended["object"] == "list" and appended["type"] == "block"
        (block,) = appended["results"]
        assert {"object", "id", "type", "has_children", "in_trash", "created_time"} <= set(block)
        bold, link = block["paragraph"]["rich_text"]
        assert bold["plain_text"] == "bold" and bold["annotations"]["bold"] is True
        assert bold["annotations"]["color"] == "default"
        assert link["href"] == "https://x.example"
        # "after" inserts; pagination walks with start_cursor / next_cursor / has_more.
        http.patch(url, json={"children": [para("second")], "after": page_first(app, page)})
        texts = []
        cursor = None
        while True:
            params: dict[str, Any] = {"page_size": 2}
            if cursor:
                params["start_cursor"] = cursor
            listing = http.get(url, params=params).json()
            texts += [b["paragraph"]["rich_text"][0]["plain_text"] for b in listing["results"]]
            if not listing["has_more"]:
                break
            cursor = listing["next_cursor"]
        assert texts == ["first", "second", "bold"]
        assert http.get(url, params={"page_size": 101}).status_code == 400
        deleted = http.delete(f"/v1/blocks/{block['id']}")
        assert deleted.json()["in_trash"] is True
        assert http.delete(f"/v1/blocks/{block['id']}").status_code == 400  # archived already
        assert [b["id"] for b in http.get(url).json()["results"]][-1] != block["id"]


def page_first(app: FakeNotion, page: dict[str, Any]) -> str:
    return str(app.live(page["id"])[0]["id"])


def test_databases_answer_per_notion_version(app: FakeNotion) -> None:
    with client(app) as http:
        database = http.get(f"/v1/databases/{app.db_id}").json()
        assert "properties" not in database
        (source,) = database["data_sources"]
        schema = http.get(f"/v1/data_sources/{source['id']}").json()["properties"]
        assert schema["Incident ID"]["type"] == "rich_text"
        old_query = http.post(f"/v1/databases/{app.db_id}/query", json={})
        assert old_query.status_code == 400 and old_query.json()["code"] == "invalid_request_url"
    with client(app, version=LEGACY) as http:
        database = http.get(f"/v1/databases/{app.db_id}").json()
        assert (
            "data_sources" not in database and database["properties"]["Grade"]["type"] == "select"
        )
        assert http.post(f"/v1/databases/{app.db_id}/query", json={}).status_code == 200
        assert http.post(f"/v1/data_sources/{source['id']}/query", json={}).status_code == 400
        legacy_parent = http.post(
            "/v1/pages",
            json={
                "parent": {"type": "data_source_id", "data_source_id": source["id"]},
                "properties": {},
            },
        )
        assert legacy_parent.status_code == 400


def test_queries_filter_sort_and_paginate(app: FakeNotion) -> None:
    with client(app) as http:
        ids = []
        for n in range(5):
            page = http.post(
                "/v1/pages",
                json={
                    "parent": {"database_id": app.db_id},
                    "properties": {
                        "Incident ID": {"rich_text": [text(f"INC-{n % 2}")]},
                        "Grade": {"select": {"name": f"SEV{n % 3 + 1}"}},
                    },
                },
            ).json()
            ids.append(page["id"])
        http.patch(f"/v1/pages/{ids[2]}", json={"in_trash": True})
        ds = app.data_source_of(app.db_id)
        url = f"/v1/data_sources/{ds}/query"
        oldest_first = [{"timestamp": "created_time", "direction": "ascending"}]
        zero = {"property": "Incident ID", "rich_text": {"equals": "INC-0"}}
        found = http.post(url, json={"filter": zero, "sorts": oldest_first}).json()
        assert [p["id"] for p in found["results"]] == [ids[0], ids[4]]  # the trashed one left out
        either = {"or": [zero, {"property": "Grade", "select": {"equals": "SEV2"}}]}
        both = {"and": [zero, {"property": "Grade", "select": {"equals": "SEV2"}}]}
        assert len(http.post(url, json={"filter": either}).json()["results"]) == 3
        assert [p["id"] for p in http.post(url, json={"filter": both}).json()["results"]] == [
            ids[4]
        ]
        first = http.post(url, json={"sorts": oldest_first, "page_size": 2}).json()
        assert first["has_more"] and first["type"] == "page_or_data_source"
        rest = http.post(
            url, json={"sorts": oldest_first, "page_size": 2, "start_cursor": first["next_cursor"]}
        ).json()
        assert [p["id"] for p in first["results"] + rest["results"]] == [
            ids[0],
            ids[1],
            ids[3],
            ids[4],
        ]
        assert http.post(url, json={"page_size": 101}).status_code == 400
        wrong = http.post(url, json={"filter": {"property": "Grade", "rich_text": {"equals": "x"}}})
        assert wrong.status_code == 400
        unknown = http.post(
            url, json={"filter": {"property": "Nope", "rich_text": {"equals": "x"}}}
        )
        assert unknown.status_code == 400


def test_properties_are_checked_against_the_schema(app: FakeNotion) -> None:
    app.schema(app.db_id)["Stage"] = {
        "id": "stg",
        "name": "Stage",
        "type": "status",
        "status": {"options": [{"name": "Open"}, {"name": "Done"}]},
    }
    parent = {"database_id": app.db_id}
    with client(app) as http:
        wrong_type = http.post(
            "/v1/pages", json={"parent": parent, "properties": {"Grade": {"rich_text": []}}}
        )
        assert wrong_type.json()["message"] == "Grade is expected to be select."
        unknown = http.post(
            "/v1/pages", json={"parent": parent, "properties": {"Colour": {"rich_text": []}}}
        )
        assert unknown.json()["message"] == "Colour is not a property that exists."
        no_option = http.post(
            "/v1/pages",
            json={"parent": parent, "properties": {"Stage": {"status": {"name": "Later"}}}},
        )
        assert no_option.status_code == 400 and "does not exist" in no_option.json()["message"]
        made = http.post(
            "/v1/pages",
            json={
                "parent": parent,
                "properties": {
                    "Stage": {"status": {"name": "Done"}},
                    "Grade": {"select": {"name": "SEV9"}},
                    "Started": {"date": {"start": "2024-02-12T00:10:00+09:00"}},
                },
            },
        ).json()
        assert made["properties"]["Stage"]["status"]["name"] == "Done"
        assert made["properties"]["Commander"] == {
            **made["properties"]["Commander"],
            "rich_text": [],
        }
        assert "SEV9" in [o["name"] for o in app.schema(app.db_id)["Grade"]["select"]["options"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z", made["created_time"])


def test_rate_limit_answers_429_with_retry_after(app: FakeNotion) -> None:
    app.rate_limit, app.burst, app.retry_after = 2.0, 2, "1"
    with client(app) as http:
        answers = [http.get(f"/v1/databases/{app.db_id}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "1"
    assert answers[2].json()["code"] == "rate_limited"
