"""The fake Jira against the official contract (``tests/fakes/jira.openapi.json``, a copy of the
official OpenAPI excerpt).

Two directions: what the adapter *sends* validates against the operation's request
schema, and what the fake *answers* validates against the response schema. The
contract is Cloud's v3; the v2 paths differ only in rich text (strings, not ADF).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from syncer.cli import main
from tests.conftest import BANNER, CHECKOUT, write_config
from tests.fakes.jira import FakeJira, jira_tracker

# A copy of the official contract excerpt, kept next to the fakes so the tests need nothing else.
CONTRACT = Path(__file__).parent / "fakes" / "jira.openapi.json"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CONTRACT.read_text(encoding="utf-8"))
    return data


def violations(
    spec: dict[str, Any], schema: Any, value: Any, where: str, request: bool
) -> list[str]:
    """A small JSON-schema check: $ref, allOf, types, properties, additionalProperties, readOnly."""
    if not isinstance(schema, dict) or not schema:
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return violations(spec, spec["components"]["schemas"][name], value, where, request)
    out: list[str] = []
    for part in schema.get("allOf", []):
        out += violations(spec, part, value, where, request)
    if value is None:
        return out if schema.get("nullable") or not schema.get("type") else [f"{where}: null"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            return [*out, f"{where}: not an object"]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, inner in value.items():
            if key in props:
                if request and props[key].get("readOnly"):
                    out.append(f"{where}.{key}: read-only in a request")
                out += violations(spec, props[key], inner, f"{where}.{key}", request)
            elif extra is False:
                out.append(f"{where}.{key}: not in the schema")
            elif isinstance(extra, dict):
                out += violations(spec, extra, inner, f"{where}.{key}", request)
        out += [f"{where}.{r}: required" for r in schema.get("required", []) if r not in value]
    elif kind == "array":
        if not isinstance(value, list):
            return [*out, f"{where}: not an array"]
        for n, inner in enumerate(value):
            out += violations(spec, schema.get("items"), inner, f"{where}[{n}]", request)
    elif kind == "string" and not isinstance(value, str):
        out.append(f"{where}: not a string")
    elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        out.append(f"{where}: not an integer")
    elif kind == "boolean" and not isinstance(value, bool):
        out.append(f"{where}: not a boolean")
    return out


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The contract's operation for a request path (v2 paths map onto v3)."""
    path = re.sub(r"^/rest/api/2/", "/rest/api/3/", path)
    for template, ops in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in ops:
            op: dict[str, Any] = ops[method.lower()]
            return op
    return None


def response_schema(op: dict[str, Any], status: int) -> Any:
    content = (op.get("responses", {}).get(str(status)) or {}).get("content") or {}
    return next(iter(content.values()), {}).get("schema")


def _setup(
    cloud: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeJira, Path]]:
    fake = FakeJira(cloud=cloud).start()
    monkeypatch.setenv("JIRA_EMAIL", fake.email)
    monkeypatch.setenv("JIRA_API_TOKEN", fake.token)
    config = write_config(tmp_path / "c.toml", {"jira": jira_tracker(fake)})
    try:
        yield fake, config
    finally:
        fake.stop()


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeJira, Path]]:
    yield from _setup(True, tmp_path, monkeypatch)


@pytest.mark.parametrize("is_cloud", [True, False], ids=["cloud-v3", "dc-v2"])
def test_every_request_the_adapter_sends_is_in_the_contract_and_fits_its_schema(
    spec: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, is_cloud: bool
) -> None:
    for fake, config in _setup(is_cloud, tmp_path, monkeypatch):
        _check_requests(spec, fake, config)


def _check_requests(spec: dict[str, Any], fake: FakeJira, config: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "sync", str(BANNER), str(CHECKOUT)])
    assert result.exit_code == 0, result.output
    seen = set()
    for method, path, _headers, body in fake.bodies:
        op = operation(spec, method, path)
        assert op is not None, f"{method} {path} is not an operation of the contract"
        assert "deprecated" not in (op.get("summary") or "").lower() + " " + str(
            op.get("deprecated")
        )
        seen.add(op.get("operationId", f"{method} {path}"))
        schema = ((op.get("requestBody") or {}).get("content") or {}).get("application/json", {})
        if body is not None and schema.get("schema"):
            problems = violations(spec, schema["schema"], body, f"{method} {path}", request=True)
            assert problems == [], problems
    assert len(seen) >= 6


def test_the_fakes_answers_fit_the_contract(
    spec: dict[str, Any], cloud: tuple[FakeJira, Path]
) -> None:
    fake, config = cloud
    assert CliRunner().invoke(main, ["--config", str(config), "sync", str(CHECKOUT)]).exit_code == 0
    key = next(i.key for i in fake.issues.values() if "incident" in i.labels)
    session = requests.Session()
    session.auth = (fake.email, fake.token)
    base = fake.url + "/rest/api/3"
    calls = [
        ("GET", "/serverInfo", None, 200),
        ("GET", "/myself", None, 200),
        ("GET", "/field", None, 200),
        ("GET", "/project/OPS", None, 200),
        (
            "GET",
            f"/issue/{key}?fields=summary,labels,status,issuelinks,comment&properties=*all",
            None,
            200,
        ),
        ("GET", f"/issue/{key}/comment?startAt=0&maxResults=2", None, 200),
        ("GET", f"/issue/{key}/transitions", None, 200),
        ("GET", "/issueLinkType", None, 200),
        ("GET", f"/issue/{key}/properties", None, 200),
        ("GET", f"/issue/{key}/properties/incident-syncer", None, 200),
        ("GET", "/search/jql?jql=project%20%3D%20OPS&maxResults=2&fields=labels", None, 200),
        (
            "POST",
            "/search/jql",
            {"jql": "project = OPS", "maxResults": 1, "fields": ["summary"]},
            200,
        ),
        (
            "POST",
            "/issue",
            {"fields": {"project": {"key": "OPS"}, "summary": "x", "issuetype": {"name": "Task"}}},
            201,
        ),
        ("POST", "/issue", {"fields": {"project": {"key": "OPS"}}}, 400),
        ("GET", "/issue/OPS-999", None, 404),
        ("GET", "/search?jql=project%20%3D%20OPS", None, 410),
    ]
    for method, path, body, status in calls:
        answer = session.request(method, base + path, json=body)
        assert answer.status_code == status, (path, answer.text)
        op = operation(spec, method, "/rest/api/3" + path.split("?", 1)[0])
        assert op is not None, path
        schema = response_schema(op, status) or (
            {"$ref": "#/components/schemas/ErrorCollection"} if status >= 400 else None
        )
        if schema:
            problems = violations(spec, schema, answer.json(), f"{method} {path}", request=False)
            assert problems == [], problems
    assert session.get(base + "/myself", auth=("x", "y")).status_code == 401
