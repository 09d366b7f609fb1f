"""A stateful fake of the Notion API (the parts incident-syncer uses), for the real notion-client.

It follows ``/work/shared/contracts/notion.openapi.json`` (Notion-Version 2025-09-03, where a
database holds data sources) and the older API where the database is queried directly:

* ``GET /v1/databases/{id}``: with 2025-09-03 or later, ``data_sources`` and no properties;
  before, the properties and no data sources. ``POST /v1/databases/{id}/query`` answers only
  before 2025-09-03; ``GET /v1/data_sources/{id}`` and ``POST .../query`` only from it on.
* Queries: property filters (``rich_text``/``title``: equals, does_not_equal, contains,
  starts_with, ends_with, is_empty, is_not_empty; ``select``/``status``: equals, is_empty),
  ``and``/``or``, sorts by timestamp or property, cursor pagination (``page_size`` ≤ 100).
  Trashed pages are left out.
* Pages: create (parent ``data_source_id``, ``database_id`` or ``page_id``; properties
  checked against the schema; select options created on first use, status options must
  exist; up to 100 children), retrieve, update properties, trash (``in_trash``/``archived``).
  A page created under a page is also a ``child_page`` block of it.
* Blocks: list children (paginated), append children (``after``), retrieve, update
  (rich text, ``checked``, ``language``), delete. Appends are validated as Notion does: at
  most 100 blocks in a children array, 100 rich text objects, 2,000 characters of text
  content, two levels of nesting, 1,000 blocks and 500 KB a request, known block types and
  code languages, table rows as wide as their table. Errors use Notion's body
  ``{"object": "error", "status", "code", "message"}``.
* ``Notion-Version`` is required, ``Authorization: Bearer <token>`` checked (401
  ``unauthorized``), and ``rate_limit`` (requests a second, with ``burst``) answers 429
  ``rate_limited`` with ``Retry-After`` when exceeded, as Notion's average of three a second.

``created_time`` is rounded down to the minute, as Notion's is. Faults, latency, ``fail_next``
and the request log come from :class:`FakeApp`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.base import FakeApp, HTTPError, Request, Response

TOKEN = "ntn_FAKEnotion0000incidentSyncerTestToken"  # not a real token
BOT_ID = "b0b0b0b0-0000-4000-8000-000000000b07"  # the integration's bot user
PERSON_ID = "9e9e9e9e-0000-4000-8000-0000000e0e01"  # someone editing pages in Notion
LATEST = "2025-09-03"
LEGACY = "2022-06-28"
TEXT_LIMIT = 2000
CHILDREN_LIMIT = 100
RICH_LIMIT = 100
BLOCKS_LIMIT = 1000
BYTES_LIMIT = 500_000
DEPTH_LIMIT = 2

INCIDENT_SCHEMA: dict[str, str] = {
    "Name": "title",
    "Incident ID": "rich_text",
    "Grade": "select",
    "Status": "select",
    "Commander": "rich_text",
    "Services": "multi_select",
    "Started": "date",
    "Detected": "date",
    "Mitigated": "date",
    "Resolved": "date",
    "Link": "url",
}
POSTMORTEM_SCHEMA: dict[str, str] = {
    "Name": "title",
    "Incident ID": "rich_text",
    "Grade": "select",
    "Author": "rich_text",
    "Date": "date",
    "Review": "status",
}
STATUS_OPTIONS = ["Not started", "In progress", "Done"]

CODE_LANGUAGES = frozenset(
    [
        "abap",
        "abc",
        "agda",
        "arduino",
        "assembly",
        "bash",
        "basic",
        "bnf",
        "c",
        "c#",
        "c++",
        "clojure",
        "coffeescript",
        "coq",
        "css",
        "dart",
        "dhall",
        "diff",
        "docker",
        "ebnf",
        "elixir",
        "elm",
        "erlang",
        "f#",
        "flow",
        "fortran",
        "gherkin",
        "glsl",
        "go",
        "graphql",
        "groovy",
        "haskell",
        "hcl",
        "html",
        "idris",
        "java",
        "javascript",
        "json",
        "julia",
        "kotlin",
        "latex",
        "less",
        "lisp",
        "livescript",
        "lua",
        "makefile",
        "markdown",
        "markup",
        "matlab",
        "mathematica",
        "mermaid",
        "nix",
        "objective-c",
        "ocaml",
        "pascal",
        "perl",
        "php",
        "powershell",
        "prolog",
        "protobuf",
        "purescript",
        "python",
        "r",
        "racket",
        "reason",
        "ruby",
        "rust",
        "sass",
        "scala",
        "scheme",
        "scss",
        "shell",
        "smalltalk",
        "solidity",
        "sql",
        "swift",
        "toml",
        "typescript",
        "vb.net",
        "verilog",
        "vhdl",
        "webassembly",
        "xml",
        "yaml",
        "java/c/c++/c#",
    ]
) | {"ascii art", "llvm ir", "notion formula", "plain text", "visual basic"}
TEXT_BLOCKS = {
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "toggle",
    "quote",
    "callout",
    "code",
}
BLOCK_TYPES = TEXT_BLOCKS | {"divider", "table", "table_row"}
ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
ERROR_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def invalid(message: str, code: str = "validation_error", status: int = 400) -> HTTPError:
    return HTTPError(
        status,
        {"object": "error", "status": status, "code": code, "message": message},
    )


def plain(rich: list[dict[str, Any]] | None) -> str:
    return "".join(str(item.get("plain_text", "")) for item in rich or [])


class FakeNotion(FakeApp):
    """Databases, data sources, pages and blocks in memory, answering like api.notion.com."""

    read_posts = (r"/query$",)
    down_message = "Notion is unavailable"

    def __init__(
        self,
        token: str = TOKEN,
        *,
        rate_limit: float | None = None,
        burst: int = 3,
        incident_schema: dict[str, Any] | None = None,
        postmortem_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.tokens: dict[str, str] = {token: BOT_ID}  # token → the bot user it acts as
        self._actor = threading.local()  # who the request being handled is (created_by)
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}  # parent id -> child block ids, in order
        self.rate_limit = rate_limit
        self.burst = burst
        self._bucket = float(burst)
        self._bucket_at = self.clock.monotonic()
        self._seq = 0
        self.versions: list[str] = []  # Notion-Version of each request
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, JSON body) of writes
        self.db_id = self.add_database("Incidents", incident_schema or INCIDENT_SCHEMA)
        self.pm_db_id = self.add_database("Postmortems", postmortem_schema or POSTMORTEM_SCHEMA)

        self.route("GET", "/v1/databases/{id}", self.get_database)
        self.route("POST", "/v1/databases/{id}/query", self.query_database)
        self.route("GET", "/v1/data_sources/{id}", self.get_data_source)
        self.route("POST", "/v1/data_sources/{id}/query", self.query_data_source)
        self.route("POST", "/v1/pages", self.create_page)
        self.route("GET", "/v1/pages/{id}", self.get_page)
        self.route("PATCH", "/v1/pages/{id}", self.update_page)
        self.route("GET", "/v1/blocks/{id}/children", self.list_children)
        self.route("PATCH", "/v1/blocks/{id}/children", self.append_children)
        self.route("GET", "/v1/blocks/{id}", self.get_block)
        self.route("PATCH", "/v1/blocks/{id}", self.update_block)
        self.route("DELETE", "/v1/blocks/{id}", self.delete_block)
        self.route("GET", "/v1/users/me", self.get_me)

    # Set-up helpers.

    def _id(self) -> str:
        return str(uuid.uuid4())

    def _now(self) -> tuple[str, int]:
        """Notion's created_time (rounded down to the minute) and a tie-breaking sequence."""
        self._seq += 1
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        return minute.strftime("%Y-%m-%dT%H:%M:00.000Z"), self._seq

    def add_database(self, title: str, schema: dict[str, Any]) -> str:
        """A database with one data source whose properties are ``schema`` (name → type)."""
        with self.lock:
            db_id, ds_id = self._id(), self._id()
            now, _ = self._now()
            properties = {name: self._property_schema(name, kind) for name, kind in schema.items()}
            self.databases[db_id] = {
                "object": "database",
                "id": db_id,
                "title": [self._rich_item({"text": {"content": title}})],
                "created_time": now,
                "data_sources": [{"id": ds_id, "name": title}],
                "in_trash": False,
            }
            self.data_sources[ds_id] = {
                "object": "data_source",
                "id": ds_id,
                "title": [self._rich_item({"text": {"content": title}})],
                "parent": {"type": "database_id", "database_id": db_id},
                "properties": properties,
            }
            return db_id

    @staticmethod
    def _property_schema(name: str, kind: Any) -> dict[str, Any]:
        if isinstance(kind, dict):
            return {"id": name[:4].lower(), "name": name, **kind}
        body: dict[str, Any] = {}
        if kind in ("select", "multi_select"):
            body = {"options": []}
        elif kind == "status":
            body = {"options": [{"name": o, "color": "default"} for o in STATUS_OPTIONS]}
        return {"id": name[:4].lower(), "name": name, "type": kind, kind: body}

    def data_source_of(self, database_id: str) -> str:
        return str(self.databases[database_id]["data_sources"][0]["id"])

    def schema(self, database_id: str) -> dict[str, Any]:
        """The properties of a database's data source (tests may change them)."""
        props: dict[str, Any] = self.data_sources[self.data_source_of(database_id)]["properties"]
        return props

    # Dispatch: outage, rate limit, version, auth.

    def not_found(self, kind: str, object_id: str) -> HTTPError:
        """Notion's 404 for a page, block or database it has not got (or not shared)."""
        return HTTPError(
            404,
            self.error_body(
                404,
                f"Could not find {kind} with ID: {object_id}. Make sure the relevant pages and "
                "databases are shared with your integration.",
            ),
        )

    def error_body(self, status: int, message: str) -> Any:
        return {
            "object": "error",
            "status": status,
            "code": ERROR_CODES.get(status, "internal_server_error"),
            "message": message,
            "request_id": self._id(),
        }

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        path = raw_path.split("?", 1)[0]
        down = self.unavailable(method, raw_path)
        if down is not None:
            return down
        if self.rate_limit and not self._take_token():
            self._log(method, path, 429, "rate")
            return Response(
                429,
                self.error_body(
                    429, "You have been rate limited. Please try again in a few minutes."
                ),
                {"Retry-After": self.retry_after},
            )
        lowered = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.versions.append(lowered.get("notion-version", ""))
            if method in ("POST", "PATCH", "DELETE"):
                try:
                    parsed = json.loads(body or b"null")
                except ValueError:
                    parsed = None
                self.bodies.append((method, path, parsed))
        return super().handle(method, raw_path, headers, body)

    def _take_token(self) -> bool:
        assert self.rate_limit
        with self.lock:
            now = self.clock.monotonic()
            self._bucket = min(
                float(self.burst), self._bucket + (now - self._bucket_at) * self.rate_limit
            )
            self._bucket_at = now
            if self._bucket < 1.0:
                return False
            self._bucket -= 1.0
            return True

    def authorize(self, request: Request) -> Response | None:
        version = request.headers.get("notion-version")
        if not version:
            return Response(
                400,
                {
                    "object": "error",
                    "status": 400,
                    "code": "missing_version",
                    "message": "Notion-Version header failed validation: Notion-Version header "
                    "should be defined, instead was `undefined`.",
                },
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or given not in self.tokens:
            return Response(401, self.error_body(401, "API token is invalid."))
        self._actor.id = self.tokens[given]
        return None

    def add_token(self, token: str, bot_id: str) -> None:
        """Accept another integration token, acting as the bot user ``bot_id``."""
        with self.lock:
            self.tokens[token] = bot_id

    def _by(self) -> dict[str, str]:
        """The ``created_by``/``last_edited_by`` of what the current request writes."""
        return {"object": "user", "id": getattr(self._actor, "id", None) or BOT_ID}

    def get_me(self, request: Request) -> Response:
        """GET /v1/users/me: the token's bot user."""
        bot = self._by()["id"]
        return Response(
            200,
            {"object": "user", "id": bot, "type": "bot", "name": "incident-syncer", "bot": {}},
        )

    @staticmethod
    def _version(request: Request) -> str:
        return request.headers.get("notion-version", "")

    def _new_api(self, request: Request) -> bool:
        return self._version(request) >= LATEST

    # Rich text and properties.

    def _rich_item(self, item: Any, where: str = "rich_text") -> dict[str, Any]:
        if not isinstance(item, dict):
            raise invalid(f"body failed validation: {where} should be an object.")
        kind = item.get("type", "text")
        if kind != "text" or not isinstance(item.get("text"), dict):
            raise invalid(f"body failed validation: {where}.text should be defined.")
        content = item["text"].get("content")
        if not isinstance(content, str):
            raise invalid(f"body failed validation: {where}.text.content should be a string.")
        if len(content.encode("utf-16-le")) // 2 > TEXT_LIMIT:
            raise invalid(
                f"body failed validation: {where}.text.content.length should be ≤ "
                f"`{TEXT_LIMIT}`, instead was `{len(content.encode('utf-16-le')) // 2}`."
            )
        link = item["text"].get("link")
        href = None
        if link is not None:
            url = link.get("url") if isinstance(link, dict) else None
            if not isinstance(url, str) or not re.match(r"^(https?://|mailto:)\S+$", url):
                raise invalid(f"Invalid URL for link in {where}.text.link.url.")
            if len(url) > TEXT_LIMIT:
                raise invalid(
                    f"body failed validation: {where}.text.link.url.length should be ≤ "
                    f"`{TEXT_LIMIT}`, instead was `{len(url)}`."
                )
            href = url
        annotations = dict(ANNOTATIONS)
        for key, value in (item.get("annotations") or {}).items():
            if key not in ANNOTATIONS:
                raise invalid(
                    f"body failed validation: {where}.annotations.{key} should be not present."
                )
            annotations[key] = value
        return {
            "type": "text",
            "text": {"content": content, "link": {"url": href} if href else None},
            "annotations": annotations,
            "plain_text": content,
            "href": href,
        }

    def _rich(self, items: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise invalid(f"body failed validation: {where} should be an array.")
        if len(items) > RICH_LIMIT:
            raise invalid(
                f"body failed validation: {where}.length should be ≤ `{RICH_LIMIT}`, "
                f"instead was `{len(items)}`."
            )
        return [self._rich_item(item, f"{where}[{n}]") for n, item in enumerate(items)]

    def _property_value(
        self, schema: dict[str, Any], name: str, value: Any, source: dict[str, Any] | None
    ) -> dict[str, Any]:
        kind = schema["type"]
        if not isinstance(value, dict) or kind not in value:
            raise invalid(f"{name} is expected to be {kind}.")
        raw = value[kind]
        out: dict[str, Any] = {"id": schema["id"], "type": kind}
        where = f"body.properties.{name}.{kind}"
        if kind in ("title", "rich_text"):
            out[kind] = self._rich(raw, where)
        elif kind in ("select", "status"):
            if raw is None:
                out[kind] = None
            else:
                option_name = raw.get("name") if isinstance(raw, dict) else None
                if not isinstance(option_name, str) or not option_name:
                    raise invalid(f"body failed validation: {where}.name should be defined.")
                if "," in option_name and kind == "select":
                    raise invalid(f"Select option names cannot contain commas: {option_name!r}")
                options = schema[kind].setdefault("options", [])
                known = next((o for o in options if o["name"] == option_name), None)
                if known is None:
                    if kind == "status":
                        raise invalid(
                            f'Invalid status option. Status option "{option_name}" does not '
                            "exist for this property."
                        )
                    known = {"id": self._id()[:8], "name": option_name, "color": "default"}
                    options.append(known)
                out[kind] = dict(known)
        elif kind == "multi_select":
            if not isinstance(raw, list):
                raise invalid(f"body failed validation: {where} should be an array.")
            chosen = []
            for option in raw:
                option_name = option.get("name") if isinstance(option, dict) else None
                if not isinstance(option_name, str) or not option_name or "," in option_name:
                    raise invalid(f"Invalid multi_select option name: {option_name!r}")
                options = schema[kind].setdefault("options", [])
                known = next((o for o in options if o["name"] == option_name), None)
                if known is None:
                    known = {"id": self._id()[:8], "name": option_name, "color": "default"}
                    options.append(known)
                chosen.append(dict(known))
            out[kind] = chosen
        elif kind == "date":
            if raw is None:
                out[kind] = None
            else:
                start = raw.get("start") if isinstance(raw, dict) else None
                try:
                    datetime.fromisoformat(str(start).replace("Z", "+00:00"))
                except ValueError:
                    raise invalid(
                        f"body failed validation: {where}.start should be a date."
                    ) from None
                out[kind] = {"start": start, "end": raw.get("end"), "time_zone": None}
        elif kind == "url":
            if raw is not None and (not isinstance(raw, str) or len(raw) > TEXT_LIMIT):
                raise invalid(f"body failed validation: {where} should be a URL.")
            out[kind] = raw
        else:
            out[kind] = raw
        return out

    def _empty_value(self, schema: dict[str, Any]) -> dict[str, Any]:
        kind = schema["type"]
        empty: Any = {"title": [], "rich_text": [], "multi_select": []}.get(kind)
        if kind == "status":
            options = schema["status"].get("options", [])
            empty = dict(options[0]) if options else None
        return {"id": schema["id"], "type": kind, kind: empty}

    def _apply_properties(self, page: dict[str, Any], values: Any) -> None:
        if not isinstance(values, dict):
            raise invalid("body failed validation: body.properties should be an object.")
        if page["parent"]["type"] == "page_id":
            for name, value in values.items():
                if name != "title":
                    raise invalid(f"{name} is not a property that exists.")
                page["properties"]["title"] = {
                    "id": "title",
                    "type": "title",
                    "title": self._rich(value.get("title"), "body.properties.title.title"),
                }
            return
        schema = self.data_sources[page["parent"]["data_source_id"]]["properties"]
        for name, value in values.items():
            if name not in schema:
                raise invalid(f"{name} is not a property that exists.")
            page["properties"][name] = self._property_value(schema[name], name, value, None)

    # Blocks.

    def _check_children(self, children: Any, where: str, depth: int) -> int:
        """Validate a children array as Notion does; returns how many blocks it holds."""
        if not isinstance(children, list):
            raise invalid(f"body failed validation: {where} should be an array.")
        if len(children) > CHILDREN_LIMIT:
            raise invalid(
                f"body failed validation: {where}.length should be ≤ `{CHILDREN_LIMIT}`, "
                f"instead was `{len(children)}`."
            )
        total = 0
        for n, block in enumerate(children):
            path = f"{where}[{n}]"
            if not isinstance(block, dict):
                raise invalid(f"body failed validation: {path} should be an object.")
            kind = block.get("type") or next((k for k in block if k in BLOCK_TYPES), None)
            if kind not in BLOCK_TYPES or not isinstance(block.get(kind), dict):
                raise invalid(
                    f"body failed validation: {path}.type should be a supported block type, "
                    f"instead was `{kind}`."
                )
            body = block[kind]
            if kind in TEXT_BLOCKS:
                self._rich(body.get("rich_text"), f"{path}.{kind}.rich_text")
            if kind == "code" and body.get("language", "plain text") not in CODE_LANGUAGES:
                raise invalid(
                    f"body failed validation: {path}.code.language should be a supported "
                    f"language, instead was `{body.get('language')}`."
                )
            if kind == "table_row":
                for c, cell in enumerate(body.get("cells", [])):
                    self._rich(cell, f"{path}.table_row.cells[{c}]")
            kids = body.get("children")
            if kind == "table":
                width = body.get("table_width")
                if not kids:
                    raise invalid(
                        f"body failed validation: {path}.table.children should be defined."
                    )
                for r, row in enumerate(kids):
                    cells = row.get("table_row", {}).get("cells") if isinstance(row, dict) else None
                    if row.get("type", "table_row") != "table_row" or not isinstance(cells, list):
                        raise invalid(
                            f"body failed validation: {path}.table.children[{r}] should be a table_row."
                        )
                    if len(cells) != width:
                        raise invalid(
                            f"Number of cells in table row must match the table width of {width}."
                        )
            total += 1
            if kids is not None:
                if depth >= DEPTH_LIMIT:
                    raise invalid(
                        f"body failed validation: {path}.{kind}.children should be not present, "
                        "instead was an array."
                    )
                total += self._check_children(kids, f"{path}.{kind}.children", depth + 1)
        return total

    def _check_request(self, children: Any, where: str, request: Request) -> None:
        if len(request.body) > BYTES_LIMIT:
            raise invalid(
                f"Request body too large: {len(request.body)} bytes; the limit is 500KB.",
                status=413,
                code="payload_too_large",
            )
        total = self._check_children(children, where, 0)
        if total > BLOCKS_LIMIT:
            raise invalid(
                f"body failed validation: {where} contains {total} blocks; "
                f"the limit is {BLOCKS_LIMIT} a request."
            )

    def _make_block(self, spec: dict[str, Any], parent: dict[str, str]) -> str:
        kind = spec.get("type") or next(k for k in spec if k in BLOCK_TYPES)
        body = copy.deepcopy(spec[kind])
        kids = body.pop("children", None) or []
        if kind in TEXT_BLOCKS:
            body["rich_text"] = [self._rich_item(i) for i in body.get("rich_text", [])]
        if kind == "table_row":
            body["cells"] = [[self._rich_item(i) for i in cell] for cell in body.get("cells", [])]
        if kind == "to_do":
            body.setdefault("checked", False)
        if kind == "code":
            body.setdefault("language", "plain text")
            body.setdefault("caption", [])
        if kind in TEXT_BLOCKS and kind != "code":
            body.setdefault("color", "default")
        now, seq = self._now()
        block_id = self._id()
        self.blocks[block_id] = {
            "object": "block",
            "id": block_id,
            "parent": parent,
            "created_time": now,
            "last_edited_time": now,
            "created_by": self._by(),
            "last_edited_by": self._by(),
            "has_children": False,
            "in_trash": False,
            "archived": False,
            "type": kind,
            kind: body,
            "_seq": seq,
        }
        self.children[block_id] = []
        for kid in kids:
            self.children[block_id].append(
                self._make_block(kid, {"type": "block_id", "block_id": block_id})
            )
        self.blocks[block_id]["has_children"] = bool(kids)
        return block_id

    def _public_block(self, block_id: str) -> dict[str, Any]:
        block = self.blocks[block_id]
        out = {k: copy.deepcopy(v) for k, v in block.items() if not k.startswith("_")}
        out["has_children"] = bool(self.children.get(block_id))
        return out

    def _parent_ref(self, parent_id: str) -> dict[str, str]:
        if parent_id in self.pages:
            return {"type": "page_id", "page_id": parent_id}
        return {"type": "block_id", "block_id": parent_id}

    def _container(self, block_id: str) -> dict[str, Any]:
        """The page or block whose children are addressed (404 if unknown or trashed)."""
        found = self.pages.get(block_id) or self.blocks.get(block_id)
        if found is None or found.get("in_trash"):
            raise self.not_found("block", block_id)
        return found

    def _paginate(
        self, items: list[Any], request: Request, body: dict[str, Any] | None
    ) -> Response:
        source = body if body is not None else {k: v[0] for k, v in request.query.items()}
        try:
            size = int(source.get("page_size", 100))
        except (TypeError, ValueError):
            raise invalid("body failed validation: page_size should be a number.") from None
        if not 1 <= size <= 100:
            raise invalid(
                f"body failed validation: page_size should be ≤ `100`, instead was `{size}`."
            )
        cursor = source.get("start_cursor")
        start = 0
        if cursor:
            ids = [i["id"] for i in items]
            if cursor not in ids:
                raise invalid(f"The start_cursor provided is invalid: {cursor}")
            start = ids.index(cursor)
        page = items[start : start + size]
        more = start + size < len(items)
        return Response(
            200,
            {
                "object": "list",
                "results": page,
                "next_cursor": items[start + size]["id"] if more else None,
                "has_more": more,
                "type": "block" if body is None else "page_or_data_source",
            },
        )

    # Databases and data sources.

    def _database(self, database_id: str) -> dict[str, Any]:
        database = self.databases.get(database_id)
        if database is None:
            raise self.not_found("database", database_id)
        return database

    def get_database(self, request: Request) -> Response:
        database = copy.deepcopy(self._database(request.match["id"]))
        if self._new_api(request):
            return Response(200, database)
        ds = self.data_sources[database.pop("data_sources")[0]["id"]]
        database["properties"] = copy.deepcopy(ds["properties"])
        return Response(200, database)

    def _source(self, ds_id: str) -> dict[str, Any]:
        source = self.data_sources.get(ds_id)
        if source is None:
            raise HTTPError(
                404,
                self.error_body(404, f"Could not find data_source with ID: {ds_id}."),
            )
        return source

    def get_data_source(self, request: Request) -> Response:
        if not self._new_api(request):
            raise invalid(
                f"Invalid request URL: data sources need Notion-Version {LATEST} or later.",
                code="invalid_request_url",
            )
        return Response(200, copy.deepcopy(self._source(request.match["id"])))

    def query_data_source(self, request: Request) -> Response:
        if not self._new_api(request):
            raise invalid(
                f"Invalid request URL: data sources need Notion-Version {LATEST} or later.",
                code="invalid_request_url",
            )
        return self._query(self._source(request.match["id"]), request)

    def query_database(self, request: Request) -> Response:
        database = self._database(request.match["id"])
        if self._new_api(request):
            raise invalid(
                "Invalid request URL: databases are queried through their data sources "
                f"from Notion-Version {LATEST} on.",
                code="invalid_request_url",
            )
        return self._query(self.data_sources[database["data_sources"][0]["id"]], request)

    def _query(self, source: dict[str, Any], request: Request) -> Response:
        body = request.json() or {}
        pages = [
            p
            for p in self.pages.values()
            if p["parent"].get("data_source_id") == source["id"] and not p["in_trash"]
        ]
        if body.get("filter"):
            pages = [p for p in pages if self._matches(p, body["filter"], source)]
        pages.sort(key=lambda p: (p["created_time"], p["_seq"]), reverse=True)
        for sort in reversed(body.get("sorts") or []):
            reverse = sort.get("direction") == "descending"
            if sort.get("timestamp"):
                stamp = str(sort["timestamp"])
                pages.sort(key=lambda p: (p[stamp], p["_seq"]), reverse=reverse)
            else:
                name = str(sort.get("property"))
                if name not in source["properties"]:
                    raise invalid(f"Could not find sort property with name or id: {name}")
                pages.sort(key=lambda p: self._sort_value(p, name), reverse=reverse)
        return self._paginate([self._public_page(p["id"]) for p in pages], request, body)

    def _sort_value(self, page: dict[str, Any], name: str) -> str:
        value = page["properties"].get(name, {})
        raw = value.get(value.get("type", ""))
        if isinstance(raw, list):
            return plain(raw)
        if isinstance(raw, dict):
            return str(raw.get("name") or raw.get("start") or "")
        return str(raw or "")

    def _matches(self, page: dict[str, Any], flt: Any, source: dict[str, Any]) -> bool:
        if not isinstance(flt, dict):
            raise invalid("body failed validation: body.filter should be an object.")
        if "and" in flt:
            return all(self._matches(page, f, source) for f in flt["and"])
        if "or" in flt:
            return any(self._matches(page, f, source) for f in flt["or"])
        name = flt.get("property")
        if name not in source["properties"]:
            raise invalid(f"Could not find property with name or id: {name}")
        kind = source["properties"][name]["type"]
        condition_kind = next((k for k in flt if k != "property"), None)
        if condition_kind not in (kind, "rich_text" if kind == "title" else None):
            raise invalid(
                f"body failed validation: body.filter.{condition_kind} does not match the "
                f"type of property {name!r} ({kind})."
            )
        condition = flt[condition_kind]
        value = page["properties"].get(name, {}).get(kind)
        if kind in ("title", "rich_text"):
            text = plain(value)
            op, arg = next(iter(condition.items()))
            checks = {
                "equals": lambda: text == arg,
                "does_not_equal": lambda: text != arg,
                "contains": lambda: arg in text,
                "does_not_contain": lambda: arg not in text,
                "starts_with": lambda: text.startswith(arg),
                "ends_with": lambda: text.endswith(arg),
                "is_empty": lambda: not text,
                "is_not_empty": lambda: bool(text),
            }
        elif kind in ("select", "status"):
            chosen = value.get("name") if isinstance(value, dict) else None
            op, arg = next(iter(condition.items()))
            checks = {
                "equals": lambda: chosen == arg,
                "does_not_equal": lambda: chosen != arg,
                "is_empty": lambda: chosen is None,
                "is_not_empty": lambda: chosen is not None,
            }
        else:
            raise invalid(f"The fake does not filter {kind} properties.")
        if op not in checks:
            raise invalid(f"body failed validation: body.filter.{kind}.{op} is not supported.")
        return bool(checks[op]())

    # Pages.

    def _page(self, page_id: str) -> dict[str, Any]:
        page = self.pages.get(page_id)
        if page is None:
            raise self.not_found("page", page_id)
        return page

    def _public_page(self, page_id: str) -> dict[str, Any]:
        page = self.pages[page_id]
        return {k: copy.deepcopy(v) for k, v in page.items() if not k.startswith("_")}

    def create_page(self, request: Request) -> Response:
        body = request.json() or {}
        parent = body.get("parent") or {}
        children = body.get("children") or []
        self._check_request(children, "body.children", request)
        now, seq = self._now()
        page_id = self._id()
        if parent.get("data_source_id") or parent.get("type") == "data_source_id":
            if not self._new_api(request):
                raise invalid(
                    "body failed validation: body.parent.data_source_id should be not present, "
                    f"instead was `{parent.get('data_source_id')}` (Notion-Version "
                    f"{self._version(request)})."
                )
            source = self._source(str(parent.get("data_source_id")))
            stored_parent = {
                "type": "data_source_id",
                "data_source_id": source["id"],
                "database_id": source["parent"]["database_id"],
            }
        elif parent.get("database_id"):
            database = self._database(str(parent["database_id"]))
            if len(database["data_sources"]) != 1:
                raise invalid("This database has several data sources: give data_source_id.")
            stored_parent = {
                "type": "data_source_id",
                "data_source_id": database["data_sources"][0]["id"],
                "database_id": database["id"],
            }
        elif parent.get("page_id"):
            self._container(str(parent["page_id"]))
            stored_parent = {"type": "page_id", "page_id": str(parent["page_id"])}
        else:
            raise invalid("body failed validation: body.parent should be defined.")
        page: dict[str, Any] = {
            "object": "page",
            "id": page_id,
            "created_time": now,
            "last_edited_time": now,
            "created_by": self._by(),
            "last_edited_by": self._by(),
            "parent": stored_parent,
            "in_trash": False,
            "archived": False,
            "url": "",
            "properties": {},
            "_seq": seq,
        }
        if stored_parent["type"] == "data_source_id":
            schema = self.data_sources[stored_parent["data_source_id"]]["properties"]
            page["properties"] = {n: self._empty_value(s) for n, s in schema.items()}
        else:
            page["properties"] = {"title": {"id": "title", "type": "title", "title": []}}
        self._apply_properties(page, body.get("properties") or {})
        title = next(
            (plain(v["title"]) for v in page["properties"].values() if v["type"] == "title"), ""
        )
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-") or "Untitled"
        page["url"] = f"https://www.notion.so/{slug}-{page_id.replace('-', '')}"
        self.pages[page_id] = page
        self.children[page_id] = [
            self._make_block(c, {"type": "page_id", "page_id": page_id}) for c in children
        ]
        if stored_parent["type"] == "page_id":
            parent_id = stored_parent["page_id"]
            self.blocks[page_id] = {
                "object": "block",
                "id": page_id,
                "parent": self._parent_ref(parent_id),
                "created_time": now,
                "last_edited_time": now,
                "created_by": self._by(),
                "last_edited_by": self._by(),
                "has_children": bool(children),
                "in_trash": False,
                "archived": False,
                "type": "child_page",
                "child_page": {"title": title},
                "_seq": seq,
            }
            self.children.setdefault(parent_id, []).append(page_id)
        return Response(200, self._public_page(page_id))

    def get_page(self, request: Request) -> Response:
        self._page(request.match["id"])
        return Response(200, self._public_page(request.match["id"]))

    def update_page(self, request: Request) -> Response:
        page = self._page(request.match["id"])
        body = request.json() or {}
        if page["in_trash"] and not (
            body.get("in_trash") is False or body.get("archived") is False
        ):
            raise invalid(
                "Can't edit page that is archived. You must unarchive the page before editing."
            )
        if "properties" in body:
            self._apply_properties(page, body["properties"])
            if page["id"] in self.blocks:
                self.blocks[page["id"]]["child_page"]["title"] = plain(
                    page["properties"]["title"]["title"]
                )
        for flag in ("in_trash", "archived"):
            if flag in body:
                page["in_trash"] = page["archived"] = bool(body[flag])
                if page["id"] in self.blocks:
                    self.blocks[page["id"]]["in_trash"] = page["in_trash"]
        if body.get("erase_content"):
            for child in list(self.children.get(page["id"], [])):
                self._trash(child)
        page["last_edited_time"] = self._now()[0]
        page["last_edited_by"] = self._by()
        return Response(200, self._public_page(page["id"]))

    # Block endpoints.

    def list_children(self, request: Request) -> Response:
        self._container(request.match["id"])
        items = [
            self._public_block(b)
            for b in self.children.get(request.match["id"], [])
            if not self.blocks[b]["in_trash"]
        ]
        return self._paginate(items, request, None)

    def append_children(self, request: Request) -> Response:
        parent_id = request.match["id"]
        container = self._container(parent_id)
        if container.get("type") == "child_page":
            container = self.pages[parent_id]
        body = request.json() or {}
        children = body.get("children")
        self._check_request(children, "body.children", request)
        siblings = self.children.setdefault(parent_id, [])
        position = len(siblings)
        after = body.get("after")
        if after is not None:
            live = [b for b in siblings if not self.blocks[b]["in_trash"]]
            if after not in live:
                raise invalid(
                    f"body failed validation: body.after should be a child of {parent_id}, "
                    f"instead was `{after}`."
                )
            position = siblings.index(after) + 1
        parent = self._parent_ref(parent_id)
        created = [self._make_block(c, parent) for c in children or []]
        siblings[position:position] = created
        return Response(
            200,
            {
                "object": "list",
                "results": [self._public_block(b) for b in created],
                "next_cursor": None,
                "has_more": False,
                "type": "block",
                "block": {},
            },
        )

    def _block(self, block_id: str) -> dict[str, Any]:
        block = self.blocks.get(block_id)
        if block is None:
            raise self.not_found("block", block_id)
        return block

    def get_block(self, request: Request) -> Response:
        self._block(request.match["id"])
        return Response(200, self._public_block(request.match["id"]))

    def update_block(self, request: Request) -> Response:
        block = self._block(request.match["id"])
        body = request.json() or {}
        if block["in_trash"]:
            raise invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        kind = block["type"]
        for key, value in body.items():
            if key in ("in_trash", "archived"):
                if value:
                    self._trash(block["id"])
                continue
            if key != kind:
                raise invalid(
                    f"body failed validation: body.{key} does not match block type {kind}."
                )
            if "children" in value:
                raise invalid(
                    f"body failed validation: body.{kind}.children should be not present."
                )
            if "rich_text" in value:
                block[kind]["rich_text"] = self._rich(value["rich_text"], f"body.{kind}.rich_text")
            if kind == "code" and "language" in value:
                if value["language"] not in CODE_LANGUAGES:
                    raise invalid(
                        f"body failed validation: body.code.language `{value['language']}`."
                    )
                block[kind]["language"] = value["language"]
            if kind == "to_do" and "checked" in value:
                block[kind]["checked"] = bool(value["checked"])
        block["last_edited_time"] = self._now()[0]
        block["last_edited_by"] = self._by()
        return Response(200, self._public_block(block["id"]))

    def delete_block(self, request: Request) -> Response:
        block = self._block(request.match["id"])
        if block["in_trash"]:
            raise invalid(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        self._trash(block["id"])
        return Response(200, self._public_block(block["id"]))

    def _trash(self, block_id: str) -> None:
        block = self.blocks[block_id]
        block["in_trash"] = block["archived"] = True
        if block["type"] == "child_page" and block_id in self.pages:
            self.pages[block_id]["in_trash"] = self.pages[block_id]["archived"] = True

    # What tests look at.

    def live(self, parent_id: str) -> list[dict[str, Any]]:
        """The children of a page or block, as stored (trashed ones left out)."""
        with self.lock:
            return [
                self.blocks[b]
                for b in self.children.get(parent_id, [])
                if not self.blocks[b]["in_trash"]
            ]

    def tree(self, parent_id: str) -> list[dict[str, Any]]:
        """Children with their children, recursively: ``{"type", "text", "children", "block"}``."""
        return [
            {
                "type": b["type"],
                "text": self.text(b),
                "children": self.tree(b["id"]),
                "block": b,
            }
            for b in self.live(parent_id)
        ]

    @staticmethod
    def text(block: dict[str, Any]) -> str:
        kind = block["type"]
        if kind == "child_page":
            return str(block["child_page"]["title"])
        if kind == "table_row":
            return " | ".join(plain(cell) for cell in block["table_row"]["cells"])
        return plain(block.get(kind, {}).get("rich_text"))

    @staticmethod
    def tag(block: dict[str, Any]) -> str | None:
        rich = block.get(block["type"], {}).get("rich_text") or []
        if not rich or not rich[-1]["annotations"]["code"]:
            return None
        match = re.match(r"^⟨([^⟨⟩]+?)(?: sig:[0-9a-f]+)?⟩$", rich[-1]["plain_text"].strip())
        return match.group(1) if match else None

    def incident_pages(
        self, incident_id: str, database_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Live pages of a database whose ``Incident ID`` is ``incident_id``, oldest first."""
        ds = self.data_source_of(database_id or self.db_id)
        with self.lock:
            pages = [
                p
                for p in self.pages.values()
                if p["parent"].get("data_source_id") == ds
                and not p["in_trash"]
                and plain(p["properties"].get("Incident ID", {}).get("rich_text")) == incident_id
            ]
        return sorted(pages, key=lambda p: p["_seq"])

    def choice(self, page: dict[str, Any], name: str) -> str | None:
        value = page["properties"].get(name, {})
        chosen = value.get(value.get("type", ""))
        return chosen.get("name") if isinstance(chosen, dict) else None

    def add_block(
        self,
        parent_id: str,
        text: str | list[dict[str, Any]],
        after: str | None = None,
        kind: str = "paragraph",
        by: str = PERSON_ID,
    ) -> str:
        """A block a person (``by``) writes, at the end or after ``after``; ``text`` may be rich."""
        rich = [{"type": "text", "text": {"content": text}}] if isinstance(text, str) else text
        with self.lock:
            self._actor.id = by
            try:
                block_id = self._make_block(
                    {"type": kind, kind: {"rich_text": rich}}, self._parent_ref(parent_id)
                )
            finally:
                self._actor.id = None
            siblings = self.children.setdefault(parent_id, [])
            position = siblings.index(after) + 1 if after else len(siblings)
            siblings.insert(position, block_id)
            return block_id

    def trash_page(self, page_id: str) -> None:
        """Move a page to the trash, as a person does from its menu."""
        with self.lock:
            self.pages[page_id]["in_trash"] = self.pages[page_id]["archived"] = True

    def copy_page(self, page_id: str, keep: Callable[[dict[str, Any]], bool]) -> str:
        """A copy of a page (properties and the top-level blocks ``keep`` accepts, with their
        children), created a minute later: what a racing second sync would leave."""
        with self.lock:
            source = self.pages[page_id]
            new_id = self._id()
            now, seq = self._now()
            later = datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp() + 60
            created = datetime.fromtimestamp(later, UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")
            page = copy.deepcopy(source) | {"id": new_id, "created_time": created, "_seq": seq}
            page["url"] = source["url"][:-32] + new_id.replace("-", "")
            self.pages[new_id] = page
            self.children[new_id] = []
            for block in self.live(page_id):
                if keep(block):
                    self.children[new_id].append(self._clone(block["id"], new_id))
            return new_id

    def _clone(self, block_id: str, parent_id: str) -> str:
        block = self.blocks[block_id]
        spec = {"type": block["type"], block["type"]: copy.deepcopy(block[block["type"]])}
        new_id = self._make_block(spec, self._parent_ref(parent_id))
        for child in self.live(block_id):
            self.children[new_id].append(self._clone(child["id"], new_id))
        return new_id

    def writes(self, path_pattern: str | None = None) -> int:
        """Write requests (a query is a POST but reads: it is not counted)."""
        return sum(
            1
            for e in self.log
            if e.write
            and not e.path.endswith("/query")
            and (path_pattern is None or re.search(path_pattern, e.path))
        )

    def reads(self) -> int:
        return sum(1 for e in self.log if not e.write or e.path.endswith("/query"))

    def writes_to(self, pattern: str) -> int:
        """Successful write requests whose path matches ``pattern``."""
        return sum(1 for e in self.log if e.write and e.status < 400 and re.search(pattern, e.path))


def notion_tracker(app: FakeNotion, **overrides: Any) -> dict[str, Any]:
    """A ``[trackers.NAME]`` table pointing at ``app``, paced far above what tests send.

    An explicit generous rate rather than none: after a 429 the pacer halves the pace, and an
    unpaced tracker is slowed relative to its observed rate (down to 0.1 request a second),
    which would stretch the fault-injection tests.
    """
    table: dict[str, Any] = {
        "type": "notion",
        "database_id": app.db_id,
        "base_url": app.url,
        "token_env": "NOTION_TOKEN",
        "requests_per_second": 1000,
        "burst": 50,
    }
    table.update(overrides)
    return table


@pytest.fixture
def fake_notion() -> Iterator[FakeNotion]:
    """A running fake Notion with an incidents and a postmortems database and :data:`TOKEN`."""
    app = FakeNotion()
    app.start()
    try:
        yield app
    finally:
        app.stop()
