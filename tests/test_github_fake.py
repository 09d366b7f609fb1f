"""The fake GitHub server on its own: its answers follow GitHub's OpenAPI description.

Every response below is checked against the response schema of its operation in
``tests/fakes/github.openapi.json`` (a copy of the trimmed official description in
``/work/shared/contracts``), with a small OpenAPI 3.0 checker: required keys, types,
``nullable``, enums, ``$ref``, arrays and ``allOf``/``oneOf``/``anyOf``.
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.clock import FakeClock
from tests.fakes.github import BODY_LIMIT, TOKEN, FakeGitHub, blob_sha

SPEC_PATH = Path(__file__).parent / "fakes" / "github.openapi.json"
AUTH = {"Authorization": f"token {TOKEN}"}


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def check(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Problems with ``value`` against an OpenAPI 3.0 ``schema`` (empty: conforms)."""
    schema = resolve(schema)
    if value is None:
        return [] if schema.get("nullable") or not schema else [f"{where}: null"]
    if "allOf" in schema:
        return [p for s in schema["allOf"] for p in check(value, s, where)]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            results = [check(value, s, where) for s in schema[key]]
            return [] if any(not r for r in results) else [f"{where}: matches no {key}"]
    problems = []
    kind = schema.get("type")
    if kind and not (
        isinstance(value, TYPES[kind]) and not (kind in ("integer", "number") and value is True)
    ):
        return [f"{where}: {type(value).__name__}, expected {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}.{key}: missing")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += check(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += check(item, schema["items"], f"{where}[{i}]")
    if (
        schema.get("format") == "date-time"
        and isinstance(value, str)
        and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value)
    ):
        problems.append(f"{where}: {value!r} is not an ISO date-time")
    return problems


def conforms(method: str, template: str, response: requests.Response) -> None:
    """Assert ``response`` matches the documented schema for its status."""
    operation = spec()["paths"][template][method.lower()]
    documented = resolve(operation["responses"][str(response.status_code)])
    content = documented.get("content", {}).get("application/json")
    if content is None:
        return
    problems = check(response.json(), content["schema"])
    assert not problems, problems[:10]


@pytest.fixture
def gh() -> Any:
    app = FakeGitHub(users={"alice": "write", "viewer": "read"}).start()
    yield app
    app.stop()


def api(app: FakeGitHub, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return requests.request(method, app.url + path, headers=headers, timeout=5, **kwargs)


R = "/repos/acme/incidents"


def test_issue_lifecycle_matches_the_schema(gh: FakeGitHub) -> None:
    created = api(
        gh,
        "POST",
        R + "/issues",
        json={
            "title": "t",
            "body": "b",
            "labels": ["incident", "Grade:SEV1"],
            "assignees": ["alice"],
        },
    )
    assert created.status_code == 201
    conforms("POST", "/repos/{owner}/{repo}/issues", created)
    issue = created.json()
    assert issue["number"] == 1 and issue["assignee"]["login"] == "alice"
    assert issue["url"] == f"{gh.url}{R}/issues/1"
    assert issue["html_url"] == f"{gh.url}/acme/incidents/issues/1"
    # Labels are created on first use (case-insensitively unique).
    assert set(gh.labels) == {"incident", "grade:sev1"}

    got = api(gh, "GET", R + "/issues/1")
    conforms("GET", "/repos/{owner}/{repo}/issues/{issue_number}", got)

    patched = api(
        gh,
        "PATCH",
        R + "/issues/1",
        json={"state": "closed", "state_reason": "completed", "labels": ["grade:sev1", "x"]},
    )
    conforms("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}", patched)
    body = patched.json()
    assert (body["state"], body["state_reason"]) == ("closed", "completed")
    assert [x["name"] for x in body["labels"]] == ["Grade:SEV1", "x"]
    assert body["closed_at"] is not None and body["closed_by"]["login"] == "incident-bot"

    reopened = api(gh, "PATCH", R + "/issues/1", json={"state": "open"}).json()
    assert (reopened["state"], reopened["state_reason"], reopened["closed_at"]) == (
        "open",
        "reopened",
        None,
    )
    assert api(gh, "GET", R + "/issues/99").status_code == 404
    assert api(gh, "GET", "/repos/acme/other/issues/1").status_code == 404


def test_listing_filters_sorts_and_paginates_with_absolute_links(gh: FakeGitHub) -> None:
    for i in range(7):
        gh.add_issue(f"t{i}", "b", ["incident", "even" if i % 2 == 0 else "odd"])
    gh.add_issue("closed", "b", ["incident", "even"], state="closed")
    first = api(
        gh,
        "GET",
        R + "/issues",
        params={"labels": "EVEN,incident", "state": "all", "per_page": 2, "direction": "asc"},
    )
    conforms("GET", "/repos/{owner}/{repo}/issues", first)
    assert [i["number"] for i in first.json()] == [1, 3]
    links = dict(
        (rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"])
    )
    assert set(links) == {"next", "last"}
    assert links["next"].startswith(gh.url + R + "/issues?")
    assert "labels=EVEN%2Cincident" in links["next"] and "page=2" in links["next"]
    second = requests.get(links["next"], headers=AUTH, timeout=5)
    assert [i["number"] for i in second.json()] == [5, 7]
    last = requests.get(links["last"], headers=AUTH, timeout=5)
    assert [i["number"] for i in last.json()] == [8]
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    # Default: open only, newest first, 30 a page.
    default = api(gh, "GET", R + "/issues", params={"labels": "even"}).json()
    assert [i["number"] for i in default] == [7, 5, 3, 1]
    since = api(gh, "GET", R + "/issues", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert since == []


def test_comments_paginate_and_update(gh: FakeGitHub) -> None:
    number = gh.add_issue("t", "b")
    for i in range(5):
        created = api(gh, "POST", f"{R}/issues/{number}/comments", json={"body": f"c{i}"})
        assert created.status_code == 201
    conforms("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", created)
    page = api(gh, "GET", f"{R}/issues/{number}/comments", params={"per_page": 3})
    conforms("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", page)
    assert [c["body"] for c in page.json()] == ["c0", "c1", "c2"]
    comment_id = page.json()[0]["id"]
    edited = api(gh, "PATCH", f"{R}/issues/comments/{comment_id}", json={"body": "edited"})
    assert edited.json()["body"] == "edited"
    assert gh.comment_bodies(number)[0] == "edited"
    assert api(gh, "GET", f"{R}/issues/{number}").json()["comments"] == 5


def test_body_limit_is_githubs_validation_error(gh: FakeGitHub) -> None:
    number = gh.add_issue("t", "b")
    ok = api(gh, "POST", R + "/issues", json={"title": "t", "body": "x" * BODY_LIMIT})
    assert ok.status_code == 201
    for method, path, payload in [
        ("POST", R + "/issues", {"title": "t", "body": "x" * (BODY_LIMIT + 1)}),
        ("PATCH", f"{R}/issues/{number}", {"body": "x" * (BODY_LIMIT + 1)}),
        ("POST", f"{R}/issues/{number}/comments", {"body": "x" * (BODY_LIMIT + 1)}),
    ]:
        response = api(gh, method, path, json=payload)
        assert response.status_code == 422
        error = response.json()
        assert error["message"] == "Validation Failed"
        assert error["errors"][0]["field"] == "body"
        assert "maximum is 65536 characters" in error["errors"][0]["message"]
    conforms("POST", "/repos/{owner}/{repo}/issues", response)
    assert gh.issue(number)["body"] == "b"


def test_auth_is_checked(gh: FakeGitHub) -> None:
    bad = requests.get(gh.url + R + "/issues", headers={"Authorization": "token nope"}, timeout=5)
    assert bad.status_code == 401
    assert bad.json()["message"] == "Bad credentials"
    assert "documentation_url" in bad.json()
    assert requests.get(gh.url + R, timeout=5).status_code == 401
    bearer = requests.get(gh.url + R, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert bearer.status_code == 200
    conforms("GET", "/repos/{owner}/{repo}", bearer)


def test_labels_and_issue_labels(gh: FakeGitHub) -> None:
    created = api(gh, "POST", R + "/labels", json={"name": "grade:SEV1", "color": "b60205"})
    assert created.status_code == 201
    conforms("POST", "/repos/{owner}/{repo}/labels", created)
    again = api(gh, "POST", R + "/labels", json={"name": "GRADE:sev1", "color": "b60205"})
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "already_exists"
    got = api(gh, "GET", R + "/labels/grade%3ASEV1")
    conforms("GET", "/repos/{owner}/{repo}/labels/{name}", got)
    assert got.json()["color"] == "b60205"
    assert api(gh, "GET", R + "/labels/nope").status_code == 404
    number = gh.add_issue("t", "b", ["a"])
    added = api(gh, "POST", f"{R}/issues/{number}/labels", json=["b", "a b/c"])
    conforms("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", added)
    assert gh.label_names(number) == ["a", "b", "a b/c"]
    removed = api(gh, "DELETE", f"{R}/issues/{number}/labels/a%20b/c")
    assert removed.status_code == 200 and gh.label_names(number) == ["a", "b"]
    assert api(gh, "DELETE", f"{R}/issues/{number}/labels/zzz").status_code == 404
    replaced = api(gh, "PUT", f"{R}/issues/{number}/labels", json={"labels": ["z"]})
    conforms("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels", replaced)
    assert gh.label_names(number) == ["z"]


def test_contents_create_update_with_sha(gh: FakeGitHub) -> None:
    path = "postmortems/INC-1.md"
    content = base64.b64encode("# 포스트모템".encode()).decode()
    created = api(gh, "PUT", f"{R}/contents/{path}", json={"message": "add", "content": content})
    assert created.status_code == 201
    conforms("PUT", "/repos/{owner}/{repo}/contents/{path}", created)
    sha = created.json()["content"]["sha"]
    assert sha == blob_sha("# 포스트모템".encode())
    got = api(gh, "GET", f"{R}/contents/{path}")
    conforms("GET", "/repos/{owner}/{repo}/contents/{path}", got)
    assert base64.b64decode(got.json()["content"]).decode() == "# 포스트모템"
    new = base64.b64encode(b"v2").decode()
    missing_sha = api(gh, "PUT", f"{R}/contents/{path}", json={"message": "m", "content": new})
    assert missing_sha.status_code == 422
    stale = api(
        gh, "PUT", f"{R}/contents/{path}", json={"message": "m", "content": new, "sha": "0" * 40}
    )
    assert stale.status_code == 409
    updated = api(
        gh, "PUT", f"{R}/contents/{path}", json={"message": "m", "content": new, "sha": sha}
    )
    assert updated.status_code == 200 and gh.file(path) == "v2"
    assert api(gh, "GET", f"{R}/contents/nope.md").status_code == 404
    listing = api(gh, "GET", f"{R}/contents/postmortems").json()
    assert [x["path"] for x in listing] == [path]
    assert (
        api(
            gh, "PUT", f"{R}/contents/x.md", json={"message": "m", "content": new, "branch": "nope"}
        ).status_code
        == 404
    )
    gh.add_branch("docs")
    on_branch = api(
        gh, "PUT", f"{R}/contents/x.md", json={"message": "m", "content": new, "branch": "docs"}
    )
    assert on_branch.status_code == 201
    assert gh.file("x.md", "docs") == "v2" and gh.file("x.md") is None


def test_assignees_and_permissions(gh: FakeGitHub) -> None:
    assert api(gh, "GET", R + "/assignees/alice").status_code == 204
    assert api(gh, "GET", R + "/assignees/viewer").status_code == 404
    assert api(gh, "GET", R + "/assignees/ghost").status_code == 404
    perm = api(gh, "GET", R + "/collaborators/alice/permission").json()
    assert (perm["permission"], perm["user"]["login"]) == ("write", "alice")
    assert api(gh, "GET", R + "/collaborators/viewer/permission").json()["permission"] == "read"
    assert api(gh, "GET", R + "/collaborators/ghost/permission").status_code == 404
    invalid = api(gh, "POST", R + "/issues", json={"title": "t", "assignees": ["viewer"]})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "assignees"


def test_rate_limits(gh: FakeGitHub, clock: FakeClock) -> None:
    rate = api(gh, "GET", "/rate_limit")
    conforms("GET", "/rate_limit", rate)
    assert int(rate.headers["X-RateLimit-Remaining"]) < 5000
    gh.secondary_limit(2, 60, status=403, retry_after="7")
    statuses = [api(gh, "POST", R + "/issues", json={"title": "t"}) for _ in range(3)]
    assert [s.status_code for s in statuses] == [201, 201, 403]
    assert statuses[2].headers["Retry-After"] == "7"
    assert "secondary rate limit" in statuses[2].json()["message"]
    assert api(gh, "GET", R + "/issues").status_code == 200  # reads are not limited
    gh.secondary = None
    gh.exhaust_primary(reset_in=0.3)
    limited = api(gh, "GET", R + "/issues")
    assert limited.status_code == 403 and limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.json()["message"].startswith("API rate limit exceeded")
    # Back at the whole second X-RateLimit-Reset announced, not before.
    reset = int(limited.headers["X-RateLimit-Reset"])
    clock.stall(reset - clock.time() - 0.05)
    assert api(gh, "GET", R + "/issues").status_code == 403
    clock.stall(0.1)
    assert api(gh, "GET", R + "/issues").status_code == 200


def test_enterprise_prefix(gh: FakeGitHub) -> None:
    number = gh.add_issue("t", "b")
    for _ in range(3):
        gh.add_comment(number, "c")
    got = api(gh, "GET", f"/api/v3{R}/issues/{number}").json()
    assert got["url"] == f"{gh.url}/api/v3{R}/issues/{number}"
    assert got["comments_url"].startswith(gh.ghe_url)
    page = api(gh, "GET", f"/api/v3{R}/issues/{number}/comments", params={"per_page": 1})
    assert f"<{gh.url}/api/v3{R}/issues/{number}/comments?" in page.headers["Link"]
    strict = FakeGitHub(require_prefix=True).start()
    try:
        assert api(strict, "GET", R).status_code == 404
        assert api(strict, "GET", "/api/v3" + R).status_code == 200
    finally:
        strict.stop()


def test_payloads_and_log(gh: FakeGitHub) -> None:
    api(gh, "POST", R + "/issues", json={"title": "t"})
    api(gh, "GET", R + "/issues")
    assert gh.payloads == [("POST", R + "/issues", {"title": "t"})]
    assert gh.writes() == 1 and gh.reads() == 1
    assert [e.method for e in gh.entries(pattern=r"/issues$")] == ["POST", "GET"]
    gh.reset_log()
    assert gh.payloads == [] and gh.calls() == 0
