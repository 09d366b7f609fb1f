"""Notion: an incident is a page in a database; its timeline, blocks on that page.

What the tool keeps on an incident page (top-level blocks; everything else is people's):

* a collapsed **data toggle** ("incident-syncer sync data") whose code block holds
  ``{"digest", "snapshot"}`` as JSON (the snapshot compressed, split into 2,000-character
  text objects);
* the **notice callout**: the rendered notice as the callout's children. An update puts a
  new callout right after the data toggle and deletes the old one, so people's blocks
  elsewhere on the page are never touched;
* a **timeline heading**, then one block per timeline event, appended in order after the
  last event (batched, 100 blocks a request).

Each of these ends with a small gray code-styled tag, e.g. ``⟨e-3f2a9c1b7d20⟩`` on an
event or ``⟨incident-syncer notice INC-1 9f…⟩`` on the callout: Notion has no hidden
comments, so the markers are short, readable and parsed back by :meth:`NotionAdapter.fetch`.
The digest counts only when the callout's tag and the data block agree, so a notice
replaced half-way is rewritten by the next run.

The postmortem is a page in ``postmortem_database_id`` (or a child page of the incident
page) that starts with its own tag toggle (the digest, and the hashes of its blocks in a
code block) and ends with an end tag. Re-publishing keeps the unchanged leading blocks and
replaces the rest in place. Action items are the postmortem's to-do blocks, tagged with
their item id.

The engine owns retries: notion-client's own retry is switched off (it retries 429 on
every method, POST included) and every failure becomes a :class:`TrackerError`. All
requests go through the tracker's shared :class:`syncer.retry.Pacer` (three a second by
default).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Literal

import httpx
from notion_client import Client
from notion_client.client import ClientOptions
from notion_client.errors import HTTPResponseError, NotionClientErrorBase, RequestTimeoutError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.base import (
    CAP_ACTION_ITEMS,
    CAP_POSTMORTEM,
    CAP_SNAPSHOT,
    CAP_STATUS,
    ActionItemDoc,
    AdapterSettings,
    EventDoc,
    IssueDoc,
    IssueRef,
    LookupFailed,
    PostmortemDoc,
    Remote,
    TrackerError,
)
from syncer import markers, markup
from syncer.config import Config
from syncer.model import ActionItem, Status
from syncer.retry import pacer_for, retry_after_seconds
from syncer.secrets import from_env, redact

# Notion's request limits (developers.notion.com/reference/request-limits).
MAX_CHILDREN = 100  # blocks in one children array
MAX_BLOCKS = 1000  # blocks in one request, nested ones included
MAX_BYTES = 450_000  # of block JSON in one request (the limit is 500 KB for the whole body)
MAX_DEPTH = 2  # levels of nesting below the top-level blocks of one request
MAX_RICH = 100  # rich_text objects in one array

FOUND_FRESH = 10.0  # seconds a page from a lookup stands in for reading it again
DATA_SOURCE_VERSION = "2025-09-03"  # the first Notion-Version where databases hold data sources
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

_TAG = re.compile(r"^⟨([^⟨⟩]+)⟩$")
_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX_ID = re.compile(r"([0-9a-fA-F]{32})(?:[?#].*)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

TEXT = {
    "ko": {
        "data": "incident-syncer 동기화 데이터 (고치지 마세요) ",
        "notice": "incident-syncer가 관리하는 장애 공지입니다. 이 상자 안을 고치면 다음 동기화 때 "
        "바뀝니다. 메모는 상자 밖에 남겨 주세요. ",
        "timeline": "타임라인 ",
        "postmortem": "incident-syncer가 발행한 포스트모템입니다. 다시 발행하면 내용이 바뀝니다. ",
        "end": "포스트모템 끝 ",
        "duplicate": "중복된 장애 페이지입니다. 이 장애는 여기에서 관리합니다: ",
    },
    "en": {
        "data": "incident-syncer sync data (do not edit) ",
        "notice": "Incident notice kept by incident-syncer. Edits inside this box are replaced "
        "on the next sync; write notes outside it. ",
        "timeline": "Timeline ",
        "postmortem": "Postmortem published by incident-syncer; re-publishing replaces its "
        "content. ",
        "end": "End of postmortem ",
        "duplicate": "Duplicate incident page. The incident is kept here: ",
    },
}


# Configuration.


class _Names(BaseModel):
    """Property names; the keys are the default names (or their snake_case field names)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IncidentProperties(_Names):
    name: str = Field("Name", alias="Name", min_length=1, description="title")
    incident_id: str = Field(
        "Incident ID", alias="Incident ID", min_length=1, description="rich_text"
    )
    grade: str = Field("Grade", alias="Grade", min_length=1, description="select")
    status: str = Field("Status", alias="Status", min_length=1, description="select or status")
    commander: str = Field("Commander", alias="Commander", description='rich_text ("" = none)')
    services: str = Field("Services", alias="Services", description='multi_select ("" = none)')
    started: str = Field("Started", alias="Started", description='date ("" = none)')
    detected: str = Field("Detected", alias="Detected", description='date ("" = none)')
    mitigated: str = Field("Mitigated", alias="Mitigated", description='date ("" = none)')
    resolved: str = Field("Resolved", alias="Resolved", description='date ("" = none)')
    link: str = Field("Link", alias="Link", description='url of another tracker ("" = none)')


class PostmortemProperties(_Names):
    name: str = Field("Name", alias="Name", min_length=1, description="title")
    incident_id: str = Field(
        "Incident ID", alias="Incident ID", min_length=1, description="rich_text"
    )
    grade: str = Field("Grade", alias="Grade", description='select ("" = none)')
    author: str = Field("Author", alias="Author", description='rich_text ("" = none)')
    date: str = Field("Date", alias="Date", description='date ("" = none)')
    review: str = Field(
        "Review", alias="Review", description='status, left to people ("" = not checked)'
    )


class StatusNames(BaseModel):
    """The Status option for each incident status."""

    model_config = ConfigDict(extra="forbid")

    detected: str = Field("Detected", min_length=1)
    investigating: str = Field("Investigating", min_length=1)
    mitigated: str = Field("Mitigated", min_length=1)
    resolved: str = Field("Resolved", min_length=1)
    closed: str = Field("Closed", min_length=1)


class NotionSettings(AdapterSettings):
    token_env: str = Field("NOTION_TOKEN", description="variable holding the integration token")
    database_id: str = Field(description="the incidents database (id or URL)")
    data_source_id: str | None = Field(
        None, description="the incidents data source (default: the database's first)"
    )
    postmortem_database_id: str | None = Field(
        None, description="postmortems database (id or URL); default: a child page"
    )
    base_url: str = Field("https://api.notion.com", description="API root, without /v1")
    notion_version: str = Field(
        DATA_SOURCE_VERSION,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="Notion-Version header; before 2025-09-03 plain database ids are used",
    )
    properties: IncidentProperties = Field(default_factory=IncidentProperties)
    postmortem_properties: PostmortemProperties = Field(default_factory=PostmortemProperties)
    status_type: Literal["select", "status"] = Field(
        "select", description="type of the Status property"
    )
    statuses: StatusNames = Field(default_factory=StatusNames)
    timeout: float = Field(30.0, gt=0, le=600, description="seconds per request")

    @field_validator("database_id", "data_source_id", "postmortem_database_id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return None if v is None else notion_id(v)

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        v = v.removesuffix("/v1")
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"base_url must be an http(s) URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _distinct(self) -> NotionSettings:
        if self.postmortem_database_id and self.postmortem_database_id == self.database_id:
            raise ValueError(
                "postmortem_database_id must be another database than database_id "
                "(leave it out to publish postmortems as child pages)"
            )
        return self

    @property
    def data_sources(self) -> bool:
        return self.notion_version >= DATA_SOURCE_VERSION


def notion_id(value: str) -> str:
    """A Notion id from an id (with or without dashes) or a page/database URL."""
    text = value.strip()
    match = _HEX_ID.search(text.replace("-", "")) if "/" in text else None
    if match:
        text = match.group(1)
    elif "/" in text or not text:
        raise ValueError(f"not a Notion id or URL: {value!r}")
    if re.fullmatch(r"[0-9a-fA-F]{32}", text):
        h = text.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError(f"not a Notion id: {value!r}")
    return text


# Reading what Notion returns.


def plain(rich: list[dict[str, Any]] | None) -> str:
    return "".join(
        str(item.get("plain_text", item.get("text", {}).get("content", ""))) for item in rich or []
    )


def rich_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    body = block.get(block.get("type", ""), {})
    rich = body.get("rich_text") if isinstance(body, dict) else None
    return rich if isinstance(rich, list) else []


def tag_of(block: dict[str, Any]) -> str | None:
    """The tool's tag on a block: the last rich text item, code-styled, ``⟨...⟩``."""
    rich = rich_of(block)
    if not rich:
        return None
    last = rich[-1]
    if not (last.get("annotations") or {}).get("code"):
        return None
    match = _TAG.match(plain([last]).strip())
    return match.group(1) if match else None


def text_of(block: dict[str, Any]) -> str:
    """What a block says, without the tool's tag."""
    if block.get("type") == "child_page":
        return str(block.get("child_page", {}).get("title", ""))
    rich = rich_of(block)
    if rich and tag_of(block) is not None:
        rich = rich[:-1]
    return plain(rich).strip()


def tag(text: str) -> list[dict[str, Any]]:
    return markup.notion_text(f"⟨{text}⟩", code=True, color="gray")


def _prop(page: dict[str, Any], name: str) -> dict[str, Any]:
    value = page.get("properties", {}).get(name)
    return value if isinstance(value, dict) else {}


def _prop_text(page: dict[str, Any], name: str) -> str:
    value = _prop(page, name)
    return plain(value.get(value.get("type", "rich_text")) or [])


def _choice(page: dict[str, Any], name: str) -> str | None:
    value = _prop(page, name)
    chosen = value.get(value.get("type", "select"))
    return str(chosen["name"]) if isinstance(chosen, dict) and chosen.get("name") else None


def _created(page: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(page.get("created_time", "")).replace("Z", "+00:00"))
    except ValueError:
        return None


def _trashed(obj: dict[str, Any]) -> bool:
    return bool(obj.get("in_trash") or obj.get("archived"))


def _short(page_id: str) -> str:
    return page_id.replace("-", "")[:8]


def page_url(page_id: str, block_id: str | None = None) -> str:
    """A page's link that does not change with its title (Notion's own URL carries the title)."""
    url = f"https://www.notion.so/{page_id.replace('-', '')}"
    return f"{url}#{block_id.replace('-', '')}" if block_id else url


def block_hash(block: dict[str, Any]) -> str:
    blob = json.dumps(block, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


# Building requests that Notion accepts.


def _body(block: dict[str, Any]) -> dict[str, Any]:
    body = block.get(block["type"])
    return body if isinstance(body, dict) else {}


def _size(block: dict[str, Any]) -> int:
    return len(json.dumps(block, ensure_ascii=False).encode())


def _table_rows_as_paragraphs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A table that would lose its rows to the nesting limit, as one paragraph per row."""
    out = []
    for row in rows:
        rich: list[dict[str, Any]] = []
        for n, cell in enumerate(row.get("table_row", {}).get("cells", [])):
            if n:
                rich.extend(markup.notion_text(" | "))
            rich.extend(cell)
        for start in range(0, max(len(rich), 1), MAX_RICH):
            out.append(
                {"type": "paragraph", "paragraph": {"rich_text": rich[start : start + MAX_RICH]}}
            )
    return out


Path = tuple[int, ...]
Deferred = list[tuple[Path, list[dict[str, Any]]]]


def _shape(
    block: dict[str, Any], depth: int, path: Path, deferred: Deferred
) -> list[dict[str, Any]]:
    """``block`` as it can go in one request, within the nesting and children limits.

    Children that do not fit (deeper than two levels, or beyond 100 in one array) go to
    ``deferred`` as (path below the request's top level, blocks), to be appended to that
    block once it exists. A table that would lose its rows becomes one paragraph per row
    (Notion creates no table without rows), so the result may be several blocks.
    """
    kind = block["type"]
    body = dict(_body(block))
    children = body.pop("children", None)
    out = {k: v for k, v in block.items() if k != kind} | {kind: body}
    if not children:
        return [out]
    if depth >= MAX_DEPTH:
        if kind == "table":
            return _table_rows_as_paragraphs(children)
        deferred.append((path, children))
        return [out]
    kept: list[dict[str, Any]] = []
    for n, child in enumerate(children):
        mine: Deferred = []
        shaped = _shape(child, depth + 1, (*path, len(kept)), mine)
        if len(kept) + len(shaped) > MAX_CHILDREN:
            deferred.append((path, children[n:]))
            break
        kept.extend(shaped)
        deferred.extend(mine)
    body["children"] = kept
    return [out]


@dataclass
class Request:
    """One request's worth of top-level blocks, and what must follow once they exist."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    deferred: Deferred = field(default_factory=list)
    count: int = 0
    size: int = 0


def plan_requests(blocks: list[dict[str, Any]]) -> list[Request]:
    """Split blocks into requests: ≤100 top-level, ≤1000 in all, ≤450 KB, ≤2 levels deep."""
    requests: list[Request] = []
    current = Request()
    for block in blocks:
        deferred: Deferred = []
        (shaped,) = _shape(block, 0, (), deferred)
        count, size = markup.count_blocks([shaped]), _size(shaped)
        if count > MAX_BLOCKS or size > MAX_BYTES:  # too big alone: its children follow
            children = _body(block).get("children", [])
            shaped = {k: v for k, v in block.items() if k != block["type"]}
            shaped[block["type"]] = {k: v for k, v in _body(block).items() if k != "children"}
            deferred = [((), children)]
            count, size = 1, _size(shaped)
        if current.blocks and (
            len(current.blocks) >= MAX_CHILDREN
            or current.count + count > MAX_BLOCKS
            or current.size + size > MAX_BYTES
        ):
            requests.append(current)
            current = Request()
        index = len(current.blocks)
        current.blocks.append(shaped)
        current.deferred.extend(((index, *p), kids) for p, kids in deferred)
        current.count += count
        current.size += size
    if current.blocks:
        requests.append(current)
    return requests


# What fetch learns about a page, kept for the writes that follow it.


@dataclass
class Layout:
    page_id: str
    data: dict[str, Any] | None = None
    data_codes: list[dict[str, Any]] = field(default_factory=list)
    data_json: dict[str, Any] | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    heading: str | None = None
    events: list[str] = field(default_factory=list)
    last_event: str | None = None
    child_pages: list[str] = field(default_factory=list)
    unmarked: list[str] = field(default_factory=list)
    last_text: str | None = None
    before_notice: str | None = None
    fresh: bool = False  # created by this process, nothing after the timeline heading yet


@dataclass
class PostmortemLayout:
    page: dict[str, Any]
    head: dict[str, Any] | None = None
    digest: str | None = None
    content: list[str] = field(default_factory=list)  # top-level block ids after the head
    items: dict[str, str] = field(default_factory=dict)  # item id -> to-do block id


@dataclass(frozen=True)
class Target:
    """Where pages of one database are queried and created."""

    kind: Literal["data_source", "database"]
    id: str

    @property
    def parent(self) -> dict[str, str]:
        return {"type": f"{self.kind}_id", f"{self.kind}_id": self.id}


class NotionAdapter:
    """Incidents as pages of a Notion database (see the module docstring for the layout)."""

    type: ClassVar[str] = "notion"
    Settings: ClassVar[builtins.type[AdapterSettings]] = NotionSettings
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT}
    )
    events_per_write: ClassVar[int] = MAX_CHILDREN

    def __init__(self, name: str, settings: NotionSettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.text = TEXT[config.syncer.language]
        self.props = settings.properties
        self.pm_props = settings.postmortem_properties
        self._token = from_env(settings.token_env, setting=f"trackers.{name}.token_env")
        self.pacer = pacer_for(name, settings)
        self._lock = threading.Lock()
        self._discovery = threading.Lock()
        self._targets: dict[str, Target] = {}
        self._layouts: dict[str, Layout] = {}
        self._postmortems: dict[str, PostmortemLayout] = {}
        self._found: dict[str, tuple[float, dict[str, Any]]] = {}
        self._client: Client | None = None

    # The client: no retries of its own, every request paced.

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> Client:
        pacer = self.pacer

        def before(request: httpx.Request) -> None:
            pacer.wait(write=request.method in WRITE_METHODS)

        def after(response: httpx.Response) -> None:
            pacer.observe(response.status_code, dict(response.headers))

        http = httpx.Client(event_hooks={"request": [before], "response": [after]})
        # notion-client's default logger prints to the console past our redacting handler;
        # its "request fail" warnings repeat what the engine reports, so they show at -vv.
        log = logging.getLogger("notion_client")
        level = log.getEffectiveLevel()
        # retry=False: notion-client would retry 429 on POST/PATCH too, and 5xx on GET; the
        # engine retries instead, reading again before it repeats a write. (A plain dict
        # {"retry": ...} is silently ignored by notion-client: ClientOptions is required.)
        options = ClientOptions(
            auth=self._token.get_secret_value(),
            base_url=self.settings.base_url,
            timeout_ms=int(self.settings.timeout * 1000),
            notion_version=self.settings.notion_version,
            retry=False,
            logger=log,
            log_level=logging.ERROR if level >= logging.WARNING else level,
        )
        return Client(options, client=http)

    def _api(self, what: str, fn: Callable[[], Any]) -> Any:
        """One API call, its failure as a TrackerError (retryable when a retry can help)."""
        try:
            return fn()
        except HTTPResponseError as exc:
            raise self._error(what, exc) from exc
        except RequestTimeoutError as exc:
            raise TrackerError(
                f"{what}: Notion did not answer within {self.settings.timeout:g}s",
                tracker=self.name,
                retryable=True,
            ) from exc
        except NotionClientErrorBase as exc:
            raise TrackerError(f"{what}: {redact(str(exc))}", tracker=self.name) from exc
        except httpx.HTTPError as exc:
            raise TrackerError(
                f"{what}: cannot reach Notion at {self.settings.base_url}: "
                f"{redact(str(exc)) or type(exc).__name__}",
                tracker=self.name,
                retryable=True,
            ) from exc

    def _error(self, what: str, exc: HTTPResponseError) -> TrackerError:
        status = exc.status
        code = getattr(exc.code, "value", exc.code)
        message = redact(str(exc))
        retry_after = retry_after_seconds(exc.headers.get("retry-after"))
        retryable = status == 429 or status >= 500 or code == "conflict_error"
        if status == 401:
            message = (
                f"Notion refused the token in ${self.settings.token_env} ({code}): "
                "check the integration's secret"
            )
        elif status == 403:
            message = (
                f"the integration may not do this ({code}: {message}); "
                "check its capabilities and that the database is shared with it"
            )
        elif status == 404:
            message = f"not found, or not shared with the integration ({message})"
        elif status == 429:
            message = f"rate limited ({message})"
        elif not retryable:
            message = f"Notion rejected the request ({code}: {message})"
        return TrackerError(
            f"{what}: {message}",
            tracker=self.name,
            retryable=retryable,
            retry_after=retry_after,
            status=status,
        )

    # Databases and data sources.

    def _target(self, database_id: str, data_source_id: str | None = None) -> Target:
        """The data source of a database (discovered once), or the database itself."""
        with self._discovery:  # once, even when several incidents sync in parallel
            known = self._targets.get(database_id)
            if known is None:
                known = self._targets[database_id] = self._discover(database_id, data_source_id)
            return known

    def _discover(self, database_id: str, data_source_id: str | None) -> Target:
        if not self.settings.data_sources:
            target = Target("database", database_id)
        elif data_source_id:
            target = Target("data_source", data_source_id)
        else:
            database = self._api(
                "read the database", lambda: self.client.databases.retrieve(database_id)
            )
            sources = database.get("data_sources")
            if sources:
                target = Target("data_source", str(sources[0]["id"]))
            else:  # a server that answers in the older shape: the database is the source
                target = Target("database", database_id)
        return target

    def _incidents(self) -> Target:
        return self._target(self.settings.database_id, self.settings.data_source_id)

    def _query(self, target: Target, property_name: str, value: str) -> list[dict[str, Any]]:
        """Pages whose rich_text property equals ``value``, oldest first (all result pages)."""
        body: dict[str, Any] = {
            "filter": {"property": property_name, "rich_text": {"equals": value}},
            "sorts": [{"timestamp": "created_time", "direction": "ascending"}],
            "page_size": 100,
        }
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = dict(body, **({"start_cursor": cursor} if cursor else {}))
            if target.kind == "data_source":
                answer = self._api(
                    "query the database",
                    partial(self.client.data_sources.query, target.id, **query),
                )
            else:
                answer = self._api(
                    "query the database",
                    partial(
                        self.client.request,
                        path=f"databases/{target.id}/query",
                        method="POST",
                        body=query,
                    ),
                )
            pages.extend(answer.get("results", []))
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                break
        found = [
            p
            for p in pages
            if p.get("object", "page") == "page"
            and not _trashed(p)
            and _prop_text(p, property_name) == value
        ]
        return sorted(found, key=lambda p: (str(p.get("created_time", "")), str(p["id"])))

    # Blocks.

    def _children(self, block_id: str, what: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"page_size": 100}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = self._api(what, partial(self.client.blocks.children.list, block_id, **kwargs))
            out.extend(b for b in answer.get("results", []) if not _trashed(b))
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return out

    def append(
        self, parent_id: str, blocks: list[dict[str, Any]], after: str | None = None
    ) -> list[str]:
        """Append ``blocks`` (after block ``after``, else at the end) in as few requests as
        the limits allow; returns the ids of the top-level blocks created."""
        ids: list[str] = []
        for request in plan_requests(blocks):
            kwargs: dict[str, Any] = {"children": request.blocks}
            if after is not None:
                kwargs["after"] = after
            answer = self._api(
                "append blocks", partial(self.client.blocks.children.append, parent_id, **kwargs)
            )
            created = [str(b["id"]) for b in answer.get("results", [])][-len(request.blocks) :]
            self._follow_up(created, request.deferred)
            ids.extend(created)
            if after is not None and created:
                after = created[-1]
        return ids

    def _follow_up(self, ids: list[str], deferred: Deferred) -> None:
        """Append what did not fit in a request to the blocks it created (found by path)."""
        listed: dict[str, list[str]] = {}
        for path, children in deferred:
            block_id = ids[path[0]]
            for index in path[1:]:
                if block_id not in listed:
                    listed[block_id] = [
                        str(b["id"]) for b in self._children(block_id, "read nested blocks")
                    ]
                block_id = listed[block_id][index]
            self.append(block_id, children)

    def _create_page(
        self, parent: dict[str, str], properties: dict[str, Any], blocks: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """Create a page with its first request of blocks; the rest follow. Returns the
        page and whether more than the create request was needed."""
        requests = plan_requests(blocks)
        first = requests[0] if requests else Request()
        page = self._api(
            "create a page",
            lambda: self.client.pages.create(
                parent=parent, properties=properties, children=first.blocks
            ),
        )
        page_id = str(page["id"])
        if first.deferred:
            ids = [str(b["id"]) for b in self._children(page_id, "read the new page")]
            self._follow_up(ids, first.deferred)
        rest = blocks[len(first.blocks) :]
        if rest:
            self.append(page_id, rest)
        return page, bool(first.deferred or rest)

    def _delete(self, block_id: str) -> None:
        try:
            self._api("delete a block", lambda: self.client.blocks.delete(block_id))
        except TrackerError as exc:
            if exc.status != 404:  # gone already (an earlier answer was lost)
                raise

    # Page properties.

    def status_key(self, status: Status) -> str | None:
        return str(getattr(self.settings.statuses, status.value))

    def _incident_properties(self, doc: IssueDoc) -> dict[str, Any]:
        p, incident = self.props, doc.incident
        props: dict[str, Any] = {
            p.name: {"title": markup.notion_text(doc.title)},
            p.incident_id: {"rich_text": markup.notion_text(incident.id)},
            p.grade: {"select": {"name": doc.grade}},
            p.status: {self.settings.status_type: {"name": self.status_key(doc.status)}},
        }
        if p.commander:
            props[p.commander] = {"rich_text": markup.notion_text(incident.commander or "")}
        if p.services:
            props[p.services] = {
                "multi_select": [
                    {"name": s.replace(",", " ").strip()[:100]}
                    for s in dict.fromkeys(incident.services)
                    if s.replace(",", " ").strip()
                ]
            }
        for prop_name, value in (
            (p.started, incident.started_at),
            (p.detected, incident.detected_at),
            (p.mitigated, incident.mitigated_at),
            (p.resolved, incident.resolved_at),
        ):
            if prop_name:
                props[prop_name] = {"date": {"start": value.isoformat()} if value else None}
        if p.link:
            props[p.link] = {"url": doc.links[0].url if doc.links else None}
        return props

    def _postmortem_properties(self, doc: PostmortemDoc, in_database: bool) -> dict[str, Any]:
        title = {"title": markup.notion_text(doc.title)}
        if not in_database:
            return {"title": title}
        p, incident = self.pm_props, doc.incident
        props: dict[str, Any] = {
            p.name: title,
            p.incident_id: {"rich_text": markup.notion_text(incident.id)},
        }
        if p.grade:
            props[p.grade] = {"select": {"name": incident.grade}}
        if p.author:
            author = incident.postmortem.author if incident.postmortem else None
            props[p.author] = {"rich_text": markup.notion_text(author or "")}
        if p.date:
            when = incident.opened_at
            props[p.date] = {"date": {"start": when.date().isoformat()} if when else None}
        return props

    # Blocks the tool writes on the incident page.

    def _data_block(
        self, incident_id: str, digest: str, snapshot: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "type": "toggle",
            "toggle": {
                "rich_text": markup.notion_text(self.text["data"], color="gray")
                + tag(f"incident-syncer data {incident_id}"),
                "children": self._data_codes(digest, snapshot),
            },
        }

    @staticmethod
    def _data_codes(digest: str, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
        text = json.dumps(
            {"digest": digest, "snapshot": markers.encode_snapshot(snapshot)},
            separators=(",", ":"),
        )
        rich = markup.notion_text(text)
        return [
            {"type": "code", "code": {"rich_text": rich[i : i + MAX_RICH], "language": "json"}}
            for i in range(0, len(rich), MAX_RICH)
        ]

    def _notice_block(self, doc: IssueDoc) -> dict[str, Any]:
        return {
            "type": "callout",
            "callout": {
                "rich_text": markup.notion_text(self.text["notice"])
                + tag(f"incident-syncer notice {doc.incident.id} {doc.digest}"),
                "icon": {"type": "emoji", "emoji": "📣"},
                "color": "gray_background",
                "children": markup.to_notion_blocks(doc.body),
            },
        }

    def _timeline_heading(self) -> dict[str, Any]:
        return {
            "type": "heading_2",
            "heading_2": {
                "rich_text": markup.notion_text(self.text["timeline"])
                + tag("incident-syncer timeline")
            },
        }

    @staticmethod
    def event_block(event: EventDoc) -> dict[str, Any]:
        """One top-level block per event: its paragraphs joined by line breaks, anything
        else nested below, and the event id as a tag at the end of the first line."""
        blocks = markup.to_notion_blocks(event.body)
        head: dict[str, Any] | None = None
        rest: list[dict[str, Any]] = []
        for block in blocks:
            kind = block["type"]
            if head is None and "rich_text" in _body(block):
                head = block
                continue
            if (
                head is not None
                and not rest
                and kind == "paragraph"
                and head["type"] == "paragraph"
                and "children" not in _body(head)
                and len(rich_of(head)) + len(rich_of(block)) < MAX_RICH - 1
            ):
                _body(head)["rich_text"] = [
                    *rich_of(head),
                    *markup.notion_text("\n"),
                    *rich_of(block),
                ]
                if "children" in _body(block):
                    rest.extend(_body(block)["children"])
                continue
            rest.append(block)
        if head is None or len(rich_of(head)) >= MAX_RICH:
            if head is not None:
                rest.insert(0, head)
            head = {"type": "paragraph", "paragraph": {"rich_text": []}}
        body = _body(head)
        body["rich_text"] = [*rich_of(head), *markup.notion_text(" "), *tag(event.event_id)]
        if rest:
            body["children"] = [*body.get("children", []), *rest]
        return head

    # Reading a page.

    def _scan(self, page_id: str, incident_id: str, blocks: list[dict[str, Any]]) -> Layout:
        layout = Layout(page_id)
        in_timeline = False
        previous: str | None = None
        seen: set[str] = set()
        for block in blocks:
            kind = block.get("type", "")
            mark = tag_of(block)
            block_id = str(block["id"])
            if kind == "toggle" and mark == f"incident-syncer data {incident_id}":
                layout.data = layout.data or block
            elif (
                kind == "callout"
                and mark
                and mark.startswith(f"incident-syncer notice {incident_id} ")
            ):
                if not layout.notices:
                    layout.before_notice = previous
                layout.notices.append(block)
            elif kind.startswith("heading") and mark == "incident-syncer timeline":
                layout.heading = layout.heading or block_id
                in_timeline = True
            elif mark and kind != "to_do" and _ITEM_ID.match(mark):
                if mark not in seen:
                    seen.add(mark)
                    layout.events.append(mark)
                layout.last_event = block_id
                layout.last_text = text_of(block)
            elif kind == "child_page":
                layout.child_pages.append(block_id)
            elif in_timeline and not (mark or "").startswith("incident-syncer"):
                text = text_of(block)
                if text:
                    layout.unmarked.append(text)
                    layout.last_text = text
            previous = block_id
        return layout

    def _read_layout(self, page_id: str, incident_id: str) -> Layout:
        layout = self._scan(page_id, incident_id, self._children(page_id, "read the incident page"))
        if layout.data is not None and layout.data.get("has_children", True):
            codes = [
                b
                for b in self._children(str(layout.data["id"]), "read the sync data")
                if b.get("type") == "code"
            ]
            layout.data_codes = codes
            try:
                data = json.loads("".join(plain(rich_of(c)) for c in codes))
                layout.data_json = data if isinstance(data, dict) else None
            except ValueError:
                layout.data_json = None
        with self._lock:
            self._layouts[page_id] = layout
        return layout

    def _layout(self, page_id: str, incident_id: str) -> Layout:
        with self._lock:
            known = self._layouts.get(page_id)
        if known is not None and not known.fresh:
            return known
        return self._read_layout(page_id, incident_id)

    def _ref(self, page: dict[str, Any]) -> IssueRef:
        page_id = str(page["id"])
        return IssueRef(
            key=_short(page_id), url=page_url(page_id), native=page_id, created_at=_created(page)
        )

    @staticmethod
    def _item_ref(page_id: str, item_id: str, block_id: str | None) -> IssueRef:
        return IssueRef(
            key=f"{_short(page_id)}/{item_id}",
            url=page_url(page_id, block_id),
            native=block_id or page_id,
        )

    # The adapter contract.

    def find(self, incident_id: str) -> list[IssueRef]:
        try:
            pages = self._query(self._incidents(), self.props.incident_id, incident_id)
        except LookupFailed:
            raise
        except TrackerError as exc:
            raise LookupFailed(
                f"cannot tell whether {incident_id} has a page: {exc.message}",
                tracker=self.name,
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                status=exc.status,
            ) from exc
        with self._lock:
            now = time.monotonic()
            for page in pages:
                self._found[str(page["id"])] = (now, page)
        return [self._ref(p) for p in pages]

    def _page(self, page_id: str) -> dict[str, Any]:
        """The page, as a query answered it moments ago (the lookup before a fetch), or read."""
        with self._lock:
            found = self._found.pop(page_id, None)
        if found is not None and time.monotonic() - found[0] < FOUND_FRESH:
            return found[1]
        page: dict[str, Any] = self._api(
            "read the page", lambda: self.client.pages.retrieve(page_id)
        )
        return page

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        try:
            page = self._page(ref.native)
        except TrackerError as exc:
            if exc.status == 404:
                raise TrackerError(
                    f"{ref.key} is gone: {exc.message}", tracker=self.name, status=404
                ) from exc
            raise
        if _trashed(page) or _prop_text(page, self.props.incident_id) != incident_id:
            raise TrackerError(
                f"page {ref.key} is not incident {incident_id} (any more)",
                tracker=self.name,
                status=404,
            )
        layout = self._read_layout(ref.native, incident_id)
        data = layout.data_json or {}
        digest: str | None = None
        if len(layout.notices) == 1:
            notice_digest = (tag_of(layout.notices[0]) or "").rsplit(" ", 1)[-1]
            if data.get("digest") == notice_digest:
                digest = notice_digest
        snapshot = markers.decode_snapshot(str(data["snapshot"])) if data.get("snapshot") else None
        grade = _choice(page, self.props.grade)
        pm = self._find_postmortem(page, layout, incident_id)
        return Remote(
            ref=ref,
            digest=digest,
            grades=[grade] if grade else [],
            status_key=_choice(page, self.props.status),
            events=layout.events,
            last_comment=layout.last_text,
            unmarked=layout.unmarked,
            postmortem=self._ref(pm.page) if pm else None,
            postmortem_digest=pm.digest if pm else None,
            action_items={
                item: self._item_ref(str(pm.page["id"]), item, block)
                for item, block in pm.items.items()
            }
            if pm
            else {},
            snapshot=snapshot,
        )

    def create(self, doc: IssueDoc) -> IssueRef:
        incident_id = doc.incident.id
        blocks = [
            self._data_block(incident_id, doc.digest, doc.snapshot),
            self._notice_block(doc),
            self._timeline_heading(),
        ]
        requests = plan_requests(blocks)
        complete = len(requests) == 1 and not requests[0].deferred
        if not complete:  # the digest is written only once the whole notice is there
            blocks[0] = self._data_block(incident_id, "pending", doc.snapshot)
        page, _ = self._create_page(
            self._incidents().parent, self._incident_properties(doc), blocks
        )
        page_id = str(page["id"])
        if not complete:
            layout = self._read_layout(page_id, incident_id)
            self._write_data(layout, doc.digest, doc.snapshot)
        with self._lock:
            self._layouts[page_id] = Layout(page_id, fresh=True)
        return self._ref(page)

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        if not events:
            return
        with self._lock:
            layout = self._layouts.get(ref.native)
        after = None
        if layout is not None and not layout.fresh:
            after = layout.last_event or layout.heading
        ids = self.append(ref.native, [self.event_block(e) for e in events], after=after)
        if layout is not None and ids:
            layout.last_event = ids[-1]

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        # Properties first: the digest, written last, vouches for everything before it.
        self._api(
            "update the page's properties",
            lambda: self.client.pages.update(ref.native, properties=self._incident_properties(doc)),
        )
        if "content" in changes:
            self._replace_notice(ref.native, doc)

    def _replace_notice(self, page_id: str, doc: IssueDoc) -> None:
        """New callout right after the data toggle, old callouts deleted, then the data."""
        incident_id = doc.incident.id
        layout = self._layout(page_id, incident_id)
        new: list[dict[str, Any]] = [self._notice_block(doc)]
        if layout.data is None:
            new.insert(0, self._data_block(incident_id, "pending", doc.snapshot))
            after = layout.before_notice
        else:
            after = str(layout.data["id"])
        ids = self.append(page_id, new, after=after)
        for old in layout.notices:
            self._delete(str(old["id"]))
        if layout.data is None:
            layout = self._read_layout(page_id, incident_id)
        else:
            layout.notices = [{"id": ids[-1]}]
        if not self._write_data(layout, doc.digest, doc.snapshot):
            with self._lock:
                self._layouts.pop(page_id, None)  # new code blocks: their ids are not known

    def _write_data(self, layout: Layout, digest: str, snapshot: dict[str, Any]) -> bool:
        """Put digest + snapshot in the data toggle's code block(s); True if written in place."""
        if layout.data is None:
            raise TrackerError(
                "the sync data block vanished while it was being written",
                tracker=self.name,
                retryable=True,
            )
        codes = self._data_codes(digest, snapshot)
        if len(codes) == len(layout.data_codes):
            for old, code in zip(layout.data_codes, codes, strict=True):
                self._api(
                    "write the sync data",
                    partial(self.client.blocks.update, str(old["id"]), code=code["code"]),
                )
            return True
        for old in layout.data_codes:
            self._delete(str(old["id"]))
        self.append(str(layout.data["id"]), codes)
        return False

    # Postmortems.

    def _pm_target(self) -> Target | None:
        if not self.settings.postmortem_database_id:
            return None
        return self._target(self.settings.postmortem_database_id)

    def _find_postmortem(
        self, page: dict[str, Any], layout: Layout, incident_id: str
    ) -> PostmortemLayout | None:
        target = self._pm_target()
        if target is not None:
            candidates = self._query(target, self.pm_props.incident_id, incident_id)
        else:
            candidates = [{"id": c} for c in layout.child_pages]
        for candidate in candidates:
            pm = self._read_postmortem(candidate, incident_id)
            if pm is not None:
                with self._lock:
                    self._postmortems[str(candidate["id"])] = pm
                return pm
        return None

    def _read_postmortem(self, page: dict[str, Any], incident_id: str) -> PostmortemLayout | None:
        blocks = self._children(str(page["id"]), "read the postmortem")
        if not blocks:
            return None
        head = blocks[0]
        mark = tag_of(head) or ""
        prefix = f"incident-syncer postmortem {incident_id} "
        if head.get("type") != "toggle" or not mark.startswith(prefix):
            return None
        pm = PostmortemLayout(page=page, head=head, content=[str(b["id"]) for b in blocks[1:]])
        digest = mark.removeprefix(prefix)
        if len(blocks) > 1 and tag_of(blocks[-1]) == f"incident-syncer end {digest}":
            pm.digest = digest
        for block in blocks[1:]:
            item = tag_of(block)
            if block.get("type") == "to_do" and item and _ITEM_ID.match(item):
                pm.items.setdefault(item, str(block["id"]))
        return pm

    def _postmortem_blocks(self, doc: PostmortemDoc) -> list[dict[str, Any]]:
        """The postmortem's blocks; each action item's to-do tagged with its item id."""
        blocks = markup.to_notion_blocks(doc.body)
        items = list(doc.incident.postmortem.action_items) if doc.incident.postmortem else []
        todos = [b for b in _walk(blocks) if b["type"] == "to_do" and tag_of(b) is None]
        for item in items:
            match = next(
                (t for t in todos if plain(rich_of(t)).strip().startswith(item.title)), None
            )
            if match is None:  # a template without the action items: list them at the end
                blocks.append(self._todo(item))
                continue
            todos.remove(match)
            body = _body(match)
            rich = body["rich_text"]
            if len(rich) > MAX_RICH - 3:  # room for the tag: same text, fewer objects
                rich = markup.notion_text(plain(rich))
            body["rich_text"] = [*rich, *markup.notion_text(" "), *tag(item.item_id)]
        return blocks

    def _pm_head(self, incident_id: str, digest: str, hashes: list[str]) -> dict[str, Any]:
        return {
            "type": "toggle",
            "toggle": {
                "rich_text": markup.notion_text(self.text["postmortem"], color="gray")
                + tag(f"incident-syncer postmortem {incident_id} {digest}"),
                "children": [
                    {
                        "type": "code",
                        "code": {
                            "rich_text": markup.notion_text(json.dumps({"blocks": hashes})),
                            "language": "json",
                        },
                    }
                ],
            },
        }

    def _pm_end(self, digest: str) -> dict[str, Any]:
        return {
            "type": "paragraph",
            "paragraph": {
                "rich_text": markup.notion_text(self.text["end"], color="gray")
                + tag(f"incident-syncer end {digest}")
            },
        }

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        incident_id = doc.incident.id
        content = [*self._postmortem_blocks(doc), self._pm_end(doc.digest)]
        hashes = [block_hash(b) for b in content]
        target = self._pm_target()
        items = {
            item: "" for item in (tag_of(b) for b in _walk(content) if b["type"] == "to_do") if item
        }
        if existing is None:
            parent = target.parent if target else {"type": "page_id", "page_id": ref.native}
            page, _ = self._create_page(
                parent,
                self._postmortem_properties(doc, target is not None),
                [self._pm_head(incident_id, doc.digest, hashes), *content],
            )
            pm_ref = self._ref(page)
            with self._lock:
                self._postmortems[pm_ref.native] = PostmortemLayout(page=page, items=items)
            return pm_ref
        with self._lock:
            pm = self._postmortems.get(existing.native)
        if pm is None or pm.head is None:
            pm = self._read_postmortem({"id": existing.native}, incident_id)
        if pm is None or pm.head is None:
            raise TrackerError(
                f"postmortem {existing.key} lost its incident-syncer tag",
                tracker=self.name,
                retryable=True,
            )
        head_id = str(pm.head["id"])
        codes = [
            c for c in self._children(head_id, "read the postmortem tag") if c.get("type") == "code"
        ]
        old_hashes = _hashes(codes)
        keep = 0
        if len(old_hashes) == len(pm.content):
            while (
                keep < min(len(old_hashes), len(hashes)) - 1  # the end tag always changes
                and old_hashes[keep] == hashes[keep]
            ):
                keep += 1
        for block_id in pm.content[keep:]:
            self._delete(block_id)
        after = pm.content[keep - 1] if keep else head_id
        self.append(existing.native, content[keep:], after=after)
        head = self._pm_head(incident_id, doc.digest, hashes)
        code = _body(head)["children"][0]
        if codes:
            self._api(
                "update the postmortem tag",
                lambda: self.client.blocks.update(str(codes[0]["id"]), code=code["code"]),
            )
        self._api(
            "update the postmortem",
            lambda: self.client.pages.update(
                existing.native, properties=self._postmortem_properties(doc, target is not None)
            ),
        )
        self._api(
            "update the postmortem tag",
            lambda: self.client.blocks.update(
                head_id, toggle={"rich_text": _body(head)["rich_text"]}
            ),
        )
        with self._lock:
            self._postmortems[existing.native] = PostmortemLayout(page=pm.page, items=items)
        return IssueRef(existing.key, existing.url, existing.native, existing.created_at)

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        """Action items are to-dos of the postmortem, tagged when it is published; only an
        item the postmortem does not list is appended as a to-do of its own."""
        page_id = postmortem.native if postmortem else ref.native
        with self._lock:
            pm = self._postmortems.get(page_id)
        if pm is not None and doc.item_id in pm.items:
            return self._item_ref(page_id, doc.item_id, pm.items[doc.item_id] or None)
        for block in self._children(page_id, "read the postmortem"):
            if block.get("type") == "to_do" and tag_of(block) == doc.item_id:
                return self._item_ref(page_id, doc.item_id, str(block["id"]))
        (block_id,) = self.append(page_id, [self._todo(doc.item)])
        return self._item_ref(page_id, doc.item_id, block_id)

    @staticmethod
    def _todo(item: ActionItem) -> dict[str, Any]:
        text = item.title + (f" ({item.owner})" if item.owner else "")
        text += f", {item.due.isoformat()}" if item.due else ""
        return {
            "type": "to_do",
            "to_do": {
                "rich_text": markup.notion_text(text) + markup.notion_text(" ") + tag(item.item_id),
                "checked": False,
            },
        }

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        """Say so on the duplicate (a callout linking the kept page), then take it out of
        the incident: its Incident ID gets a suffix and its status is closed."""
        callout = {
            "type": "callout",
            "callout": {
                "rich_text": markup.notion_text(self.text["duplicate"])
                + markup.notion_text(keep.url, link=keep.url),
                "icon": {"type": "emoji", "emoji": "🔁"},
                "color": "yellow_background",
            },
        }
        self.append(duplicate.native, [callout])
        page = self._api("read the page", lambda: self.client.pages.retrieve(duplicate.native))
        incident_id = _prop_text(page, self.props.incident_id)
        properties = {
            self.props.incident_id: {
                "rich_text": markup.notion_text(f"{incident_id} (duplicate of {keep.key})")
            },
            self.props.status: {
                self.settings.status_type: {"name": self.status_key(Status.closed)}
            },
        }
        self._api(
            "close the duplicate",
            lambda: self.client.pages.update(duplicate.native, properties=properties),
        )

    # doctor: is the database what the configuration says?

    def doctor(self) -> list[str]:
        """Problems with the databases: reachable, shared, properties present with the right
        types (and the Status options, for a status property)."""
        problems: list[str] = []
        p = self.props
        status_options = (
            list(self.settings.statuses.model_dump().values())
            if self.settings.status_type == "status"
            else []
        )
        incident_expected = {
            p.name: "title",
            p.incident_id: "rich_text",
            p.grade: "select",
            p.status: self.settings.status_type,
            p.commander: "rich_text",
            p.services: "multi_select",
            p.started: "date",
            p.detected: "date",
            p.mitigated: "date",
            p.resolved: "date",
            p.link: "url",
        }
        problems += self._check_schema(
            "incidents database",
            self.settings.database_id,
            self.settings.data_source_id,
            incident_expected,
            {p.status: status_options},
        )
        if self.settings.postmortem_database_id:
            q = self.pm_props
            problems += self._check_schema(
                "postmortems database",
                self.settings.postmortem_database_id,
                None,
                {
                    q.name: "title",
                    q.incident_id: "rich_text",
                    q.grade: "select",
                    q.author: "rich_text",
                    q.date: "date",
                    q.review: "status",
                },
                {},
            )
        return problems

    def _check_schema(
        self,
        label: str,
        database_id: str,
        data_source_id: str | None,
        expected: dict[str, str],
        options: dict[str, list[str]],
    ) -> list[str]:
        try:
            target = self._target(database_id, data_source_id)
            if target.kind == "data_source":
                schema = self._api(
                    f"read the {label}",
                    lambda: self.client.data_sources.retrieve(target.id),
                )
            else:
                schema = self._api(
                    f"read the {label}", lambda: self.client.databases.retrieve(database_id)
                )
        except TrackerError as exc:
            return [f"{label} {database_id}: {exc.message}"]
        have = {
            name: value.get("type", "?")
            for name, value in (schema.get("properties") or {}).items()
            if isinstance(value, dict)
        }
        problems = []
        for name, kind in expected.items():
            if not name:
                continue
            if name not in have:
                problems.append(f"{label}: property {name!r} is missing (expected {kind})")
            elif have[name] != kind:
                problems.append(f"{label}: property {name!r} is {have[name]}, expected {kind}")
            elif options.get(name):
                defined = {
                    str(o.get("name"))
                    for o in schema["properties"][name].get(kind, {}).get("options", [])
                }
                missing = [o for o in options[name] if o not in defined]
                if missing:
                    problems.append(
                        f"{label}: property {name!r} has no option "
                        + ", ".join(repr(m) for m in missing)
                    )
        return problems


def _hashes(codes: list[dict[str, Any]]) -> list[str]:
    """The block hashes a postmortem's tag keeps (empty if a person edited them away)."""
    try:
        data = json.loads("".join(plain(rich_of(c)) for c in codes))
        return [str(h) for h in data.get("blocks", [])]
    except (ValueError, AttributeError):
        return []


def _walk(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        yield block
        yield from _walk(_body(block).get("children", []))
