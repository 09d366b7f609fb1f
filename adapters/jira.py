"""Jira Cloud and Jira Data Center, through the ``jira`` library.

What the tool leaves in Jira, so that it finds its work again with no local state:

* the incident issue carries the label ``incident-id-<ID>`` (found with JQL) and
  the issue entity property ``incident-syncer`` (``{"kind": "incident", "id",
  "digest", "snapshot", ...}``), sent in the create call itself;
* each timeline comment ends with a small grey footer ``incident-syncer:event id=<EVENT>``
  (wiki markup and ADF have no hidden comments);
* the postmortem is an issue linked to the incident (the link is made in the
  create call) with its own ``incident-syncer`` property; each action item is an
  issue linked to the postmortem with its property, and the postmortem keeps
  ``incident-syncer-item-<ITEM>`` properties pointing at them, so a resync
  reads two issues, not one per action item.

The client is built without the ``serverInfo`` round trip; what that answer
would have told the library (Cloud or not) comes from the configuration.
Its own retries are off: the engine owns retries. Every request carries
``Accept-Language: en`` so that a Jira set to Korean still names its
transitions in English.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import string
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

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
    PostmortemDoc,
    Remote,
)
from syncer import markers
from syncer.config import Config
from syncer.errors import ConfigError, LookupFailed, TrackerError
from syncer.model import Incident, Status
from syncer.retry import pacer_for, retry_after_seconds
from syncer.secrets import from_env, remember

if TYPE_CHECKING:
    from jira import JIRA
    from requests import Response

log = logging.getLogger("syncer.jira")
T = TypeVar("T")

PROPERTY = "incident-syncer"
ITEM_PROPERTY = "incident-syncer-item-"
ID_LABEL = "incident-id-"
DUPLICATE_LABEL = "incident-duplicate-"
TEXT_LIMIT = 32_767  # characters in one text field (description, comment)
SUMMARY_LIMIT = 255
PROPERTY_LIMIT = 32_768  # bytes of one entity property value
MARK_COLOR = "#97a0af"
WIKI_BEGIN = "{anchor:incident-syncer-begin}"
WIKI_END = "{anchor:incident-syncer-end}"
_WIKI_SECTION = re.compile(
    re.escape(WIKI_BEGIN) + r".*?" + re.escape(WIKI_END), re.DOTALL | re.IGNORECASE
)
_EVENT_MARK = re.compile(r"incident-syncer:event id=([A-Za-z0-9._-]+)")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# Where each incident status sits in a Jira workflow when no status name is configured.
CATEGORY = {
    Status.detected: "new",
    Status.investigating: "new",
    Status.mitigated: "indeterminate",
    Status.resolved: "done",
    Status.closed: "done",
}
CATEGORY_NAME = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
_CATEGORY_SUFFIX = " (category)"
# Jira's simplified workflow names its transitions after the target status.
DEFAULT_TRANSITIONS: dict[Status, list[str]] = {
    Status.detected: ["To Do"],
    Status.investigating: ["To Do"],
    Status.mitigated: ["In Progress"],
    Status.resolved: ["Done"],
    Status.closed: ["Done"],
}

# Names a `fields` template may use: {id}, {title}, ... (str.format syntax, nothing else).
TEMPLATE_NAMES = frozenset(
    {
        "id",
        "title",
        "grade",
        "status",
        "commander",
        "services",
        "detection",
        "symptoms",
        "customer_impact",
        "cause",
        "resolution",
        "started_at",
        "detected_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "date",
    }
)


def _check_template(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc} (write {{{{ and }}}} for literal braces)") from None
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in TEMPLATE_NAMES or spec or conversion:
                raise ValueError(
                    f"{where}: unknown placeholder {{{name}}}; use one of "
                    + ", ".join(f"{{{n}}}" for n in sorted(TEMPLATE_NAMES))
                )
    elif isinstance(value, dict):
        for key, inner in value.items():
            _check_template(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _check_template(inner, f"{where}[{n}]")


def _fill(value: Any, values: dict[str, str]) -> Any:
    """A ``fields`` value with its placeholders filled (plain substitution, never evaluation)."""
    if isinstance(value, str):
        return string.Formatter().vformat(value, (), values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def template_values(incident: Incident) -> dict[str, str]:
    def when(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    opened = incident.started_at or incident.detected_at
    return {
        "id": incident.id,
        "title": incident.title,
        "grade": incident.grade,
        "status": incident.status.value,
        "commander": incident.commander or "",
        "services": ", ".join(incident.services),
        "detection": incident.detection or "",
        "symptoms": incident.symptoms or "",
        "customer_impact": incident.customer_impact or "",
        "cause": incident.cause or "",
        "resolution": incident.resolution or "",
        "started_at": when(incident.started_at),
        "detected_at": when(incident.detected_at),
        "mitigated_at": when(incident.mitigated_at),
        "resolved_at": when(incident.resolved_at),
        "closed_at": when(incident.closed_at),
        "date": opened.date().isoformat() if opened else "",
    }


class JiraSettings(AdapterSettings):
    """``[trackers.NAME]`` with ``type = "jira"``."""

    url: str = Field(
        description="Jira base URL: https://acme.atlassian.net (Cloud) or https://jira.example.com"
    )
    project: str = Field(description="project key, e.g. OPS")
    email_env: str | None = Field(
        None, description="variable holding the account e-mail (Cloud: basic auth with token_env)"
    )
    token_env: str = Field(
        "JIRA_API_TOKEN",
        description="variable holding the API token (Cloud) or personal access token (Data Center)",
    )
    auth: Literal["auto", "basic", "bearer"] = Field(
        "auto", description="auto: basic when email_env is set, else bearer (Data Center PAT)"
    )
    cloud: Literal["auto"] | bool = Field(
        "auto", description="auto: Cloud when the host ends with atlassian.net or jira.com"
    )
    api_version: Literal[2, 3] | None = Field(
        None, description="REST API version; default 3 on Cloud (ADF), 2 on Data Center (wiki)"
    )
    issue_type: str = Field("Incident", description="issue type of the incident issue")
    labels: list[str] = Field(
        default_factory=lambda: ["incident"], description="labels on every incident issue"
    )
    priority: dict[str, str] = Field(
        default_factory=dict, description='priority per grade, e.g. { SEV1 = "Highest" }'
    )
    transitions: dict[Status, str | list[str]] = Field(
        default_factory=dict,
        description="transition name (or path of names/ids) per status; "
        'default: "To Do", "In Progress", "Done" (the simplified workflow)',
    )
    statuses: dict[Status, str] = Field(
        default_factory=dict,
        description="Jira status name or id per status; default: the status category "
        '(detected/investigating "To Do", mitigated "In Progress", resolved/closed "Done")',
    )
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description='extra fields on the incident issue, templates over the incident: { customfield_10010 = "{id}" }',
    )
    postmortem_issue_type: str = Field(
        "Post-incident review", description="issue type of the postmortem issue"
    )
    postmortem_fields: dict[str, Any] = Field(
        default_factory=dict, description="extra fields on the postmortem issue (templates)"
    )
    action_item_issue_type: str = Field("Task", description="issue type of each action item")
    action_item_fields: dict[str, Any] = Field(
        default_factory=dict, description="extra fields on each action item issue (templates)"
    )
    link_type: str = Field(
        "Relates", description="link type between incident, postmortem and action items"
    )
    duplicate_link_type: str = Field(
        "Duplicate", description='link from a duplicate to the kept issue ("" = none)'
    )
    timeout: float = Field(30.0, gt=0, description="seconds to wait for one answer")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http(s) URL, e.g. https://acme.atlassian.net")
        return v.rstrip("/")

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", v):
            raise ValueError("must be a project key such as OPS")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not label or re.search(r"\s", label):
                raise ValueError(f"Jira labels cannot be empty or contain spaces: {label!r}")
        return v

    @field_validator("fields", "postmortem_fields", "action_item_fields")
    @classmethod
    def _templates(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            _check_template(value, key)
        return v


def _adf_text(node: Any) -> str:
    """The plain text of an ADF document (blocks on their own lines)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    inner = [_adf_text(child) for child in node.get("content") or []]
    return ("" if node.get("type") == "paragraph" else "\n").join(inner)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


class _Recent(OrderedDict[str, dict[str, Any]]):
    """What the last reads said per issue key, for the writes that follow (the newest few)."""

    limit = 256

    def setdefault(self, key: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
        if key not in self:
            self[key] = default if default is not None else {}
        return self[key]

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def _key_number(key: str) -> int:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class JiraAdapter:
    """The incident as a Jira issue; timeline as comments; postmortem as a linked issue."""

    type: ClassVar[str] = "jira"
    Settings: ClassVar[builtins.type[AdapterSettings]] = JiraSettings
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT}
    )

    def __init__(self, name: str, settings: JiraSettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.config = config
        file = str(config.path) if config.path else None
        host = (urlsplit(settings.url).hostname or "").lower()
        self.cloud = (
            settings.cloud
            if isinstance(settings.cloud, bool)
            else host.endswith((".atlassian.net", ".jira.com"))
        )
        self.api_version = settings.api_version or (3 if self.cloud else 2)
        if self.api_version == 3 and not self.cloud:
            raise ConfigError(
                "api_version = 3 needs Jira Cloud (Data Center has only API v2); "
                "set cloud = true if this is Cloud",
                file=file,
                field=f"trackers.{name}.api_version",
            )
        unknown = sorted(set(settings.priority) - set(config.grade_names))
        if unknown:
            raise ConfigError(
                f"unknown grade {unknown[0]!r}; grades are {', '.join(config.grade_names)}",
                file=file,
                field=f"trackers.{name}.priority",
            )
        basic = settings.auth == "basic" or (settings.auth == "auto" and settings.email_env)
        if basic and not settings.email_env:
            raise ConfigError(
                "auth = basic needs email_env (the variable holding the account e-mail)",
                file=file,
                field=f"trackers.{name}.email_env",
            )
        self._email = (
            from_env(settings.email_env, setting=f"trackers.{name}.email_env").get_secret_value()
            if basic and settings.email_env
            else None
        )
        self._token = from_env(settings.token_env, setting=f"trackers.{name}.token_env")
        if self._email is not None:
            # The basic-auth header is base64("email:token"): mask that form too.
            remember(f"{self._email}:{self._token.get_secret_value()}")
        self.pacer = pacer_for(name, settings)
        self._jira: JIRA | None = None
        self._lock = threading.RLock()
        # What the last reads said, per issue key (the engine reads, then writes).
        self._seen: _Recent = _Recent()
        self._postmortem_of: dict[str, str] = {}

    # The client: built on first use, no round trip, no retries of its own.

    def _client(self) -> JIRA:
        with self._lock:
            if self._jira is not None:
                return self._jira
            from jira import JIRA

            jira_log = logging.getLogger("jira")
            level = jira_log.level
            auth: dict[str, Any] = (
                {"basic_auth": (self._email, self._token.get_secret_value())}
                if self._email is not None
                else {"token_auth": self._token.get_secret_value()}
            )
            client = JIRA(
                server=self.settings.url,
                options={
                    "rest_api_version": str(self.api_version),
                    "check_update": False,
                    "headers": {"Accept-Language": "en", "User-Agent": "incident-syncer"},
                },
                get_server_info=False,
                max_retries=0,
                timeout=self.settings.timeout,
                **auth,
            )
            jira_log.setLevel(level)  # the constructor resets the library's log level
            # What serverInfo would have said: the library picks its search endpoint by it.
            client.deploymentType = "Cloud" if self.cloud else "Server"
            # Field names we search with are already field ids: no GET /field to translate them.
            client._fields_cache_value = {"created": "created", "labels": "labels"}
            session = client._session
            send = session.request

            def paced(method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
                self.pacer.wait(write=method.upper() in _WRITES)
                return send(method, url, *args, **kwargs)

            def observe(response: Response, *args: Any, **kwargs: Any) -> None:
                self.pacer.observe(response.status_code, response.headers)

            session.request = paced  # type: ignore[method-assign]
            session.hooks["response"].append(observe)
            self._jira = client
            return client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one library call; every failure becomes a TrackerError."""
        import requests
        from jira.exceptions import JIRAError

        try:
            return fn()
        except JIRAError as exc:
            raise self._error(what, exc.status_code, exc.response) from None
        except ValueError:
            # An answer that is not JSON (a login page, a proxy's error page); before the
            # next clause because requests' JSONDecodeError is also a RequestException.
            raise TrackerError(
                f"{what}: Jira's answer is not JSON (is url the Jira base URL, "
                "and does a proxy or single sign-on page stand in front of it?)",
                tracker=self.name,
            ) from None
        except requests.RequestException as exc:
            raise TrackerError(
                f"{what}: cannot reach Jira ({type(exc).__name__})",
                tracker=self.name,
                retryable=True,
            ) from None

    def _request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        client = self._client()
        url = client._get_url(path)

        def send() -> Any:
            data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
            response = client._session.request(method, url, params=params, data=data)
            return response.json() if response.content else None

        return self._call(what, send)

    def _error(self, what: str, status: int | None, response: Response | None) -> TrackerError:
        messages, errors = [], {}
        if response is not None:
            try:
                data = response.json()
            except ValueError:
                data = None
            if isinstance(data, dict):
                messages = [str(m) for m in data.get("errorMessages") or []]
                errors = {str(k): str(v) for k, v in (data.get("errors") or {}).items()}
                if not messages and not errors and data.get("message"):
                    messages = [str(data["message"])]
        details = messages + [f"{k}: {v}" for k, v in errors.items()]
        text = "; ".join(details) or (response.reason if response is not None else "") or "failed"
        if status == 401:
            names = " and ".join(filter(None, [self.settings.email_env, self.settings.token_env]))
            text += f" (check {names})"
        elif status == 410:
            text += " (this is Jira Cloud: set cloud = true)"
        headers = response.headers if response is not None else {}
        retryable = status is None or status >= 500 or status in (409, 429)
        return TrackerError(
            f"{what}: {text}",
            tracker=self.name,
            retryable=retryable,
            retry_after=retry_after_seconds(headers.get("Retry-After")),
            status=status,
        )

    # Text: Markdown → wiki markup (v2) or ADF (v3), within Jira's limits.

    def _convert(self, markdown: str) -> Any:
        from syncer import markup

        return markup.to_adf(markdown) if self.api_version == 3 else markup.to_jira_wiki(markdown)

    @staticmethod
    def _size(value: Any) -> int:
        if isinstance(value, str):
            return len(value)
        return len(json.dumps(value, ensure_ascii=False))

    def _fit(self, markdown: str, budget: int = TEXT_LIMIT) -> Any:
        """The converted text; cut (with a note saying so) to stay within ``budget`` characters."""
        out = self._convert(markdown)
        size = self._size(out)
        keep = len(markdown)
        while size > budget and keep > 0:
            keep = int(keep * budget / size * 0.9)
            cut = markdown[:keep]
            # End at a line, else a word, if one is near: never lose a whole long paragraph.
            for sep in ("\n", " "):
                at = cut.rfind(sep)
                if at > keep * 0.8:
                    cut = cut[:at]
                    break
            note = (
                f"\n\n_(Cut by incident-syncer: Jira allows {TEXT_LIMIT:,} characters here; "
                f"{len(markdown) - len(cut):,} characters of the source are left out. "
                "The incident file has the full text.)_\n"
            )
            out = self._convert(cut + note)
            size = self._size(out)
        return out

    def _text(self, value: Any) -> str:
        return _adf_text(value) if isinstance(value, dict) else str(value or "")

    def _with_mark(self, body: Any, mark: str) -> Any:
        """A comment body with the tool's small grey footer."""
        if self.api_version == 3:
            footer = {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": mark,
                        "marks": [{"type": "textColor", "attrs": {"color": MARK_COLOR}}],
                    }
                ],
            }
            return {**body, "content": [*body.get("content", []), footer]}
        return f"{body.rstrip()}\n\n{{color:{MARK_COLOR}}}{{{{{mark}}}}}{{color}}"

    def _plain(self, text: str) -> Any:
        if self.api_version == 3:
            return {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
            }
        return text

    def _description(
        self, doc: IssueDoc, existing: Any, owned_before: int | None
    ) -> tuple[Any, int]:
        """The description with the tool's section replaced and people's text kept.

        v2: the section sits between two invisible ``{anchor}`` macros. v3 (ADF
        has no invisible node): the first ``owned`` top-level nodes are the
        tool's, their count kept in the issue property.
        """
        if self.api_version == 3:
            kept: list[Any] = []
            if isinstance(existing, dict) and owned_before is not None:
                kept = list(existing.get("content") or [])[owned_before:]
            budget = TEXT_LIMIT - self._size(kept) - 64
            adf = self._fit(doc.body, budget)
            owned = len(adf["content"])
            return {**adf, "content": [*adf["content"], *kept]}, owned
        text = existing if isinstance(existing, str) else ""
        outside = (
            _WIKI_SECTION.sub("", text).strip() if _WIKI_SECTION.search(text) else text.strip()
        )
        wiki = self._fit(doc.body, TEXT_LIMIT - len(outside) - 80)
        section = f"{WIKI_BEGIN}\n{wiki.rstrip()}\n{WIKI_END}"
        if _WIKI_SECTION.search(text):
            return _WIKI_SECTION.sub(lambda _m: section, text, count=1), 0
        return section + (f"\n\n{outside}" if outside else ""), 0

    def _summary(self, title: str) -> str:
        title = " ".join(title.split())
        return title if len(title) <= SUMMARY_LIMIT else title[: SUMMARY_LIMIT - 1] + "…"

    def _browse(self, key: str) -> str:
        return f"{self.settings.url}/browse/{key}"

    def _ref(self, key: str, created: Any = None) -> IssueRef:
        return IssueRef(key=key, url=self._browse(key), native=key, created_at=_parse_time(created))

    def _incident_property(
        self, doc: IssueDoc, owned: int, postmortem: str | None
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "v": 1,
            "kind": "incident",
            "id": doc.incident.id,
            "digest": doc.digest,
            "owned": owned,
        }
        if postmortem:
            value["postmortem"] = postmortem
        snapshot = markers.encode_snapshot(doc.snapshot)
        if len(json.dumps({**value, "snapshot": snapshot})) <= PROPERTY_LIMIT:
            value["snapshot"] = snapshot
        else:
            log.warning(
                "%s: the incident snapshot of %s is over Jira's %d-byte property limit; not stored",
                self.name,
                doc.incident.id,
                PROPERTY_LIMIT,
            )
        return value

    def _extra_fields(self, table: dict[str, Any], incident: Incident) -> dict[str, Any]:
        values = template_values(incident)
        return {key: _fill(value, values) for key, value in table.items()}

    def _create(self, what: str, payload: dict[str, Any], hint: str) -> str:
        try:
            created = self._request(what, "POST", "issue", body=payload)
        except TrackerError as exc:
            if exc.status == 400:
                exc.message += f" ({hint})"
            raise
        return str(created["key"])

    # The adapter contract.

    def find(self, incident_id: str) -> list[IssueRef]:
        client = self._client()
        jql = (
            f'project = "{self.settings.project}" AND labels = "{ID_LABEL}{incident_id}" '
            "ORDER BY created ASC"
        )
        try:
            found = self._call(
                f"search for {incident_id}",
                lambda: client.search_issues(
                    jql, maxResults=0, fields=["created", "labels"], properties=PROPERTY
                ),
            )
        except TrackerError as exc:
            raise LookupFailed(
                exc.message, tracker=self.name, retryable=exc.retryable, status=exc.status
            ) from None
        refs = []
        for issue in found:
            raw = issue.raw or {}
            prop = (raw.get("properties") or {}).get(PROPERTY)
            # The label alone is not enough: a cloned issue copies labels but not properties,
            # and a healed duplicate's property says so before the search index does.
            if not (
                isinstance(prop, dict)
                and prop.get("kind") == "incident"
                and prop.get("id") == incident_id
            ):
                log.info(
                    "%s: %s has the label of %s but is not its issue",
                    self.name,
                    raw.get("key"),
                    incident_id,
                )
                continue
            key = str(raw.get("key") or issue.key)
            with self._lock:
                self._seen.setdefault(key, {})["property"] = prop
            refs.append(self._ref(key, (raw.get("fields") or {}).get("created")))
        refs.sort(
            key=lambda r: (r.created_at or datetime.max.replace(tzinfo=UTC), _key_number(r.key))
        )
        return refs

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        raw = self._request(
            f"read {ref.key}",
            "GET",
            f"issue/{ref.native}",
            params={
                "fields": "summary,description,labels,status,issuelinks,issuetype,created,comment",
                "properties": "*all",
            },
        )
        fields = raw.get("fields") or {}
        props = raw.get("properties") or {}
        prop = props.get(PROPERTY)
        if (
            not isinstance(prop, dict)
            or prop.get("kind") != "incident"
            or prop.get("id") != incident_id
        ):
            raise TrackerError(
                f"{ref.key} does not hold incident {incident_id} (no incident-syncer property for it)",
                tracker=self.name,
                status=404,
            )
        comments = self._comments(ref, fields.get("comment") or {})
        events, unmarked, texts = [], [], []
        for comment in comments:
            text = self._text(comment.get("body"))
            texts.append(text)
            mark = _EVENT_MARK.search(text)
            if mark:
                events.append(mark.group(1))
            else:
                unmarked.append(text)
        grade_of = {self.config.grade_label(g): g for g in self.config.grade_names}
        labels = list(fields.get("labels") or [])
        status = fields.get("status") or {}
        links = self._links(fields)
        with self._lock:
            self._seen[ref.native] = {
                "property": prop,
                "labels": labels,
                "status": status,
                "description": fields.get("description"),
            }
        postmortem, pm_digest, items = self._postmortem(ref, incident_id, prop, links, props)
        snapshot = markers.decode_snapshot(prop["snapshot"]) if prop.get("snapshot") else None
        return Remote(
            ref=ref,
            digest=prop.get("digest"),
            grades=[grade_of[label] for label in labels if label in grade_of],
            status_key=self._status_key_of(status),
            events=events,
            last_comment=texts[-1] if texts else None,
            unmarked=unmarked,
            postmortem=postmortem,
            postmortem_digest=pm_digest,
            action_items=items,
            snapshot=snapshot,
        )

    def _comments(self, ref: IssueRef, first: dict[str, Any]) -> list[dict[str, Any]]:
        """Every comment, oldest first: those embedded in the issue, then the rest page by page."""
        comments = list(first.get("comments") or [])
        total = int(first.get("total") or len(comments))
        while len(comments) < total:
            page = self._request(
                f"read comments of {ref.key}",
                "GET",
                f"issue/{ref.native}/comment",
                params={"startAt": len(comments), "maxResults": 100},
            )
            batch = page.get("comments") or []
            if not batch:
                break
            comments.extend(batch)
            total = int(page.get("total") or total)
        return comments

    @staticmethod
    def _links(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(linked key, link type, linked issue type) for each issue link."""
        out = []
        for link in fields.get("issuelinks") or []:
            other = link.get("outwardIssue") or link.get("inwardIssue") or {}
            kind = str((link.get("type") or {}).get("name", ""))
            issue_type = str(((other.get("fields") or {}).get("issuetype") or {}).get("name", ""))
            if other.get("key"):
                out.append((str(other["key"]), kind, issue_type))
        return out

    def _postmortem(
        self,
        ref: IssueRef,
        incident_id: str,
        prop: dict[str, Any],
        links: list[tuple[str, str, str]],
        props: dict[str, Any],
    ) -> tuple[IssueRef | None, str | None, dict[str, IssueRef]]:
        """The linked postmortem (its digest) and the action items, from the issue links."""
        ours = [k for k, kind, _t in links if kind.lower() == self.settings.link_type.lower()]
        recorded = prop.get("postmortem")
        if recorded in ours:
            candidates = [recorded]
        else:
            pm_type = self.settings.postmortem_issue_type.lower()
            candidates = sorted(
                (k for k, kind, t in links if k in ours and t.lower() == pm_type), key=_key_number
            )
        for key in candidates:
            raw = self._request(
                f"read postmortem {key}",
                "GET",
                f"issue/{key}",
                params={"fields": "summary,issuelinks,issuetype,created", "properties": "*all"},
            )
            pm_props = raw.get("properties") or {}
            pm_prop = pm_props.get(PROPERTY)
            if (
                isinstance(pm_prop, dict)
                and pm_prop.get("kind") == "postmortem"
                and pm_prop.get("id") == incident_id
            ):
                pm_fields = raw.get("fields") or {}
                items = self._items(
                    key, incident_id, pm_props, self._links(pm_fields), {ref.native}
                )
                return self._ref(key, pm_fields.get("created")), pm_prop.get("digest"), items
        # No postmortem: action items (if any) hang off the incident itself.
        return None, None, self._items(ref.native, incident_id, props, links, set(candidates))

    def _items(
        self,
        parent: str,
        incident_id: str,
        props: dict[str, Any],
        links: list[tuple[str, str, str]],
        skip: set[str],
    ) -> dict[str, IssueRef]:
        items: dict[str, IssueRef] = {}
        for key, value in props.items():
            if key.startswith(ITEM_PROPERTY) and isinstance(value, dict) and value.get("key"):
                items[str(value.get("item") or key[len(ITEM_PROPERTY) :])] = self._ref(
                    str(value["key"])
                )
        known = {r.native for r in items.values()} | skip
        action_type = self.settings.action_item_issue_type.lower()
        # An item created but not yet recorded on its parent (the answer was lost): ask it.
        for key, kind, issue_type in links:
            if key in known or kind.lower() != self.settings.link_type.lower():
                continue
            if issue_type.lower() != action_type:
                continue
            raw = self._request(
                f"read {key}",
                "GET",
                f"issue/{key}",
                params={"fields": "created", "properties": PROPERTY},
            )
            value = (raw.get("properties") or {}).get(PROPERTY)
            if (
                isinstance(value, dict)
                and value.get("kind") == "action"
                and value.get("id") == incident_id
                and value.get("item")
            ):
                items.setdefault(str(value["item"]), self._ref(key))
        return items

    def create(self, doc: IssueDoc) -> IssueRef:
        description, owned = self._description(doc, None, None)
        labels = list(
            dict.fromkeys([*self.settings.labels, doc.grade_label, ID_LABEL + doc.incident.id])
        )
        fields: dict[str, Any] = {
            "project": {"key": self.settings.project},
            "issuetype": {"name": self.settings.issue_type},
            "summary": self._summary(doc.title),
            "description": description,
            "labels": labels,
        }
        if doc.grade in self.settings.priority:
            fields["priority"] = {"name": self.settings.priority[doc.grade]}
        fields.update(self._extra_fields(self.settings.fields, doc.incident))
        prop = self._incident_property(doc, owned, None)
        key = self._create(
            f"create the issue for {doc.incident.id}",
            {"fields": fields, "properties": [{"key": PROPERTY, "value": prop}]},
            f"Jira refused the new issue in {self.settings.project} of type "
            f"{self.settings.issue_type!r}; fields the project requires go in "
            f'[trackers.{self.name}] fields, e.g. fields = {{ customfield_10010 = "{{id}}" }}',
        )
        with self._lock:
            self._seen[key] = {
                "property": prop,
                "labels": labels,
                "status": None,
                "description": description,
            }
        return self._ref(key, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000%z"))

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        for event in events:
            body = self._with_mark(
                self._fit(event.body, TEXT_LIMIT - 200),
                f"incident-syncer:event id={event.event_id}",
            )
            self._request(
                f"comment on {ref.key}", "POST", f"issue/{ref.native}/comment", body={"body": body}
            )

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        with self._lock:
            seen = dict(self._seen.get(ref.native) or {})
        payload: dict[str, Any] = {}
        if "content" in changes:
            prop = seen.get("property") or {}
            description, owned = self._description(
                doc, seen.get("description"), prop.get("owned") if prop else None
            )
            pm = self._postmortem_of.get(ref.native) or (
                remote.postmortem.native if remote.postmortem else prop.get("postmortem")
            )
            new_prop = self._incident_property(doc, owned, pm)
            payload["fields"] = {"summary": self._summary(doc.title), "description": description}
            payload["properties"] = [{"key": PROPERTY, "value": new_prop}]
        if "grade" in changes:
            present = seen.get("labels")
            stale = [
                label
                for label in doc.all_grade_labels.values()
                if label != doc.grade_label and (present is None or label in present)
            ]
            ops: list[dict[str, str]] = [{"remove": label} for label in stale]
            if present is None or doc.grade_label not in present:
                ops.append({"add": doc.grade_label})
            if ops:
                payload["update"] = {"labels": ops}
            if doc.grade in self.settings.priority:
                payload.setdefault("fields", {})["priority"] = {
                    "name": self.settings.priority[doc.grade]
                }
        if payload:
            self._request(f"update {ref.key}", "PUT", f"issue/{ref.native}", body=payload)
            with self._lock:
                cached = self._seen.setdefault(ref.native, {})
                if "fields" in payload and "description" in payload["fields"]:
                    cached["description"] = payload["fields"]["description"]
                    cached["property"] = payload["properties"][0]["value"]
                if "update" in payload and cached.get("labels") is not None:
                    labels = [x for x in cached["labels"] if x not in doc.all_grade_labels.values()]
                    cached["labels"] = [*labels, doc.grade_label]
        # Last: a workflow that cannot get there fails this tracker after everything else is done.
        if "status" in changes:
            self._move(ref, doc.status, seen.get("status"))

    def status_key(self, status: Status) -> str | None:
        configured = self.settings.statuses.get(status)
        if configured is not None:
            return configured or None
        return CATEGORY_NAME[CATEGORY[status]] + _CATEGORY_SUFFIX

    def _status_key_of(self, status: dict[str, Any]) -> str | None:
        for value in self.settings.statuses.values():
            if value and self._satisfies(status, value):
                return value
        category = str((status.get("statusCategory") or {}).get("key", ""))
        if category in CATEGORY_NAME:
            return CATEGORY_NAME[category] + _CATEGORY_SUFFIX
        return str(status.get("name") or "") or None

    @staticmethod
    def _satisfies(status: dict[str, Any] | None, want: str) -> bool:
        if not status:
            return False
        if want.endswith(_CATEGORY_SUFFIX):
            name = want[: -len(_CATEGORY_SUFFIX)]
            category = str((status.get("statusCategory") or {}).get("key", ""))
            return CATEGORY_NAME.get(category) == name
        return str(status.get("name", "")).lower() == want.lower() or str(status.get("id")) == want

    def _path(self, status: Status) -> list[str]:
        configured = self.settings.transitions.get(status)
        if configured is None:
            return list(DEFAULT_TRANSITIONS[status])
        return [configured] if isinstance(configured, str) else list(configured)

    @staticmethod
    def _step(available: list[dict[str, Any]], step: str) -> dict[str, Any] | None:
        wanted = step.strip().lower()
        for t in available:
            target = t.get("to") or {}
            if wanted in (
                str(t.get("name", "")).lower(),
                str(t.get("id", "")),
                str(target.get("name", "")).lower(),
                str(target.get("id", "")),
            ):
                return t
        return None

    def _move(self, ref: IssueRef, status: Status, current: dict[str, Any] | None) -> None:
        """Walk the workflow to ``status``'s Jira status, from wherever the issue is."""
        want = self.status_key(status)
        if want is None:
            return
        client = self._client()
        path = self._path(status)
        position = 0
        for _ in range(len(path) + 4):
            if self._satisfies(current, want):
                return
            available: list[dict[str, Any]] = self._call(
                f"read transitions of {ref.key}", lambda: client.transitions(ref.native)
            )
            choice: tuple[int, dict[str, Any]] | None = None
            for n in range(len(path) - 1, position - 1, -1):
                found = self._step(available, path[n])
                if found is not None:
                    choice = (n, found)
                    break
            if choice is None:
                direct = next((t for t in available if self._satisfies(t.get("to"), want)), None)
                if direct is not None:
                    choice = (len(path) - 1, direct)
            if choice is None:
                raise self._no_way(ref, status, want, current, path[position:], available)
            position, transition = choice[0] + 1, choice[1]
            # Posted directly: the library's transition_issue sends the id as a number.
            self._request(
                f"transition {ref.key} ({transition.get('name')})",
                "POST",
                f"issue/{ref.native}/transitions",
                body={"transition": {"id": str(transition["id"])}},
            )
            current = transition.get("to") or {}
            with self._lock:
                self._seen.setdefault(ref.native, {})["status"] = current
        raise self._no_way(ref, status, want, current, [], [])

    def _no_way(
        self,
        ref: IssueRef,
        status: Status,
        want: str,
        current: dict[str, Any] | None,
        path: list[str],
        available: list[dict[str, Any]],
    ) -> TrackerError:
        where = (current or {}).get("name")
        offered = (
            ", ".join(
                f"{t.get('name')!r} (→ {(t.get('to') or {}).get('name', '?')})" for t in available
            )
            or "none"
        )
        if path:
            steps = " → ".join(repr(p) for p in path)
            missing = f"no transition {steps}" + (f" from {where!r}" if where else " available")
        else:
            missing = f"{where or 'its status'!r} is several transitions away"
        return TrackerError(
            f"cannot move {ref.key} to {want} for status {status.value}: {missing}; "
            f"available transitions: {offered}. Set [trackers.{self.name}] "
            f'transitions.{status.value} = ["…", "…"] to the path to take',
            tracker=self.name,
            retryable=False,
        )

    def doctor(self) -> list[str]:
        """Credentials, Cloud or not, the project, its issue types, link types and priorities."""
        problems: list[str] = []

        def ask(what: str, path: str) -> Any:
            try:
                return self._request(what, "GET", path)
            except TrackerError as exc:
                problems.append(exc.message + (f" (HTTP {exc.status})" if exc.status else ""))
                return None

        if ask("check the credentials", "myself") is None:
            return problems
        info = ask("read serverInfo", "serverInfo")
        if isinstance(info, dict) and info.get("deploymentType"):
            is_cloud = info["deploymentType"] == "Cloud"
            if is_cloud != self.cloud:
                problems.append(
                    f"this Jira is {'Cloud' if is_cloud else 'Data Center/Server'}, "
                    f"but the configuration says cloud = {str(self.cloud).lower()}"
                )
        key = self.settings.project
        project = ask(f"read project {key}", f"project/{key}")
        offered = {
            str(t.get("name", "")).lower(): str(t.get("name", ""))
            for t in (project or {}).get("issueTypes") or []
        }
        for setting in ("issue_type", "postmortem_issue_type", "action_item_issue_type"):
            wanted = str(getattr(self.settings, setting))
            if offered and wanted.lower() not in offered:
                problems.append(
                    f"{setting} = {wanted!r}: project {key} has no such issue type "
                    f"(it has {', '.join(sorted(offered.values()))})"
                )
        links = ask("read issue link types", "issueLinkType")
        names = {str(t.get("name", "")) for t in (links or {}).get("issueLinkTypes") or []}
        for setting in ("link_type", "duplicate_link_type"):
            wanted = str(getattr(self.settings, setting))
            if names and wanted and wanted not in names:
                problems.append(
                    f"{setting} = {wanted!r}: no such issue link type "
                    f"(there are {', '.join(sorted(names))})"
                )
        if self.settings.priority:
            priorities = {str(p.get("name", "")) for p in ask("read priorities", "priority") or []}
            for grade, wanted in self.settings.priority.items():
                if priorities and wanted not in priorities:
                    problems.append(
                        f"priority.{grade} = {wanted!r}: no such priority "
                        f"(there are {', '.join(sorted(priorities))})"
                    )
        return problems

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        description = self._fit(doc.body)
        prop = {
            "v": 1,
            "kind": "postmortem",
            "id": doc.incident.id,
            "digest": doc.digest,
            "incident": ref.key,
        }
        fields: dict[str, Any] = {"summary": self._summary(doc.title), "description": description}
        if existing is not None:
            self._request(
                f"update postmortem {existing.key}",
                "PUT",
                f"issue/{existing.native}",
                body={"fields": fields, "properties": [{"key": PROPERTY, "value": prop}]},
            )
            pm = existing
        else:
            fields.update(
                {
                    "project": {"key": self.settings.project},
                    "issuetype": {"name": self.settings.postmortem_issue_type},
                    "labels": ["postmortem", f"incident-postmortem-{doc.incident.id}"],
                }
            )
            fields.update(self._extra_fields(self.settings.postmortem_fields, doc.incident))
            key = self._create(
                f"create the postmortem of {doc.incident.id}",
                {
                    "fields": fields,
                    "properties": [{"key": PROPERTY, "value": prop}],
                    "update": {"issuelinks": [self._link_to(ref.native)]},
                },
                f"check postmortem_issue_type = {self.settings.postmortem_issue_type!r}, "
                f"link_type = {self.settings.link_type!r} and postmortem_fields",
            )
            pm = self._ref(key)
        with self._lock:
            self._postmortem_of[ref.native] = pm.native
        return pm

    def _link_to(self, key: str) -> dict[str, Any]:
        return {"add": {"type": {"name": self.settings.link_type}, "inwardIssue": {"key": key}}}

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        parent = postmortem or ref
        fields: dict[str, Any] = {
            "project": {"key": self.settings.project},
            "issuetype": {"name": self.settings.action_item_issue_type},
            "summary": self._summary(doc.title),
            "description": self._fit(doc.body),
            "labels": ["action-item", f"incident-action-{doc.incident.id}"],
        }
        fields.update(self._extra_fields(self.settings.action_item_fields, doc.incident))
        prop = {"v": 1, "kind": "action", "id": doc.incident.id, "item": doc.item_id}
        key = self._create(
            f"create action item {doc.title!r}",
            {
                "fields": fields,
                "properties": [{"key": PROPERTY, "value": prop}],
                "update": {"issuelinks": [self._link_to(parent.native)]},
            },
            f"check action_item_issue_type = {self.settings.action_item_issue_type!r} "
            "and action_item_fields",
        )
        # Recorded on the parent so that a resync reads one issue, not one per item.
        self._request(
            f"record action item {key} on {parent.key}",
            "PUT",
            f"issue/{parent.native}/properties/{ITEM_PROPERTY}{doc.item_id}",
            body={"item": doc.item_id, "key": key},
        )
        return self._ref(key)

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        with self._lock:
            seen = dict(self._seen.get(duplicate.native) or {})
        prop = seen.get("property")
        status = seen.get("status")
        if not isinstance(prop, dict) or "status" not in seen:
            raw = self._request(
                f"read {duplicate.key}",
                "GET",
                f"issue/{duplicate.native}",
                params={"fields": "labels,status", "properties": PROPERTY},
            )
            prop = (raw.get("properties") or {}).get(PROPERTY) or prop
            status = (raw.get("fields") or {}).get("status")
        incident_id = str(prop.get("id") or "") if isinstance(prop, dict) else ""
        if not isinstance(prop, dict) or not incident_id:
            raise TrackerError(
                f"{duplicate.key} has no incident-syncer property: not closing it",
                tracker=self.name,
            )
        # Close it where the workflow allows; a workflow with no way there leaves it open
        # (it is relabelled below either way, so it is no longer this incident's issue).
        try:
            self._move(duplicate, Status.closed, status)
        except TrackerError as exc:
            if exc.retryable:
                raise
            log.info("%s: leaving duplicate %s open: %s", self.name, duplicate.key, exc.message)
        note = f"Duplicate of {keep.key} ({keep.url}): incident-syncer keeps the older issue."
        update: dict[str, Any] = {
            "labels": [
                {"remove": ID_LABEL + incident_id},
                {"add": DUPLICATE_LABEL + incident_id},
            ],
            "comment": [{"add": {"body": self._plain(note)}}],
        }
        if self.settings.duplicate_link_type:
            update["issuelinks"] = [
                {
                    "add": {
                        "type": {"name": self.settings.duplicate_link_type},
                        "outwardIssue": {"key": keep.native},
                    }
                }
            ]
        self._request(
            f"mark {duplicate.key} as a duplicate of {keep.key}",
            "PUT",
            f"issue/{duplicate.native}",
            body={
                "update": update,
                "properties": [
                    {"key": PROPERTY, "value": {**prop, "kind": "duplicate", "of": keep.key}}
                ],
            },
        )
        with self._lock:
            self._seen.pop(duplicate.native, None)
