"""A stateful fake Jira (Cloud or Data Center) on 127.0.0.1, for the real ``jira`` client.

What it keeps: issues (fields, labels, status, entity properties, comments),
issue links, a three-status workflow, and the request log, faults and latency
of :class:`~tests.fakes.base.FakeApp`. What it checks, as Jira does
(see ``/work/shared/contracts/jira.openapi.json``):

* auth: basic ``email:token`` (Cloud) or ``Bearer <token>`` (Data Center PAT); 401 otherwise,
  or, with ``sso`` (a single sign-on gateway in front), a 302 to an HTML login page;
* ``/rest/api/2`` takes wiki-markup strings for ``description`` and comment
  ``body``; ``/rest/api/3`` takes Atlassian Document Format objects; texts over
  32,767 characters are refused;
* create: known project, issue type and priority, no spaces in labels, the
  configured required custom fields (``{"errors": {"customfield_10010": "... is required."}}``),
  ``properties`` and ``update.issuelinks`` in the same call;
* search: the JQL subset the adapter uses (``project``, ``labels =``/``in``,
  ``key in``, ``issuetype``, ``AND``, ``ORDER BY created|key ASC|DESC``) on
  ``/search`` (startAt/maxResults/total; 410 Gone when the fake plays Cloud)
  and ``/search/jql`` (nextPageToken; Cloud only);
* transitions To Do → In Progress → Done (plus Stop Progress and Reopen),
  named in Korean when ``localized`` unless the request says ``Accept-Language: en``;
* Jira's error body ``{"errorMessages": [...], "errors": {field: message}}``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.base import FakeApp, HTTPError, Request, Response

TEXT_LIMIT = 32_767
PROPERTY_LIMIT = 32_768

# Statuses: id → (English name, Korean name, category key)
STATUSES = {
    "10000": ("To Do", "해야 할 일", "new"),
    "10001": ("In Progress", "진행 중", "indeterminate"),
    "10002": ("Done", "완료", "done"),
}
CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
# Transitions: id → (English name, Korean name, from status ids, to status id)
TRANSITIONS = {
    "11": ("Start Progress", "진행 시작", {"10000"}, "10001"),
    "12": ("Stop Progress", "진행 중지", {"10001"}, "10000"),
    "21": ("Resolve", "해결", {"10001"}, "10002"),
    "31": ("Reopen", "다시 열기", {"10002"}, "10000"),
}
LINK_TYPES = [
    {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
    {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
    {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
    {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
ISSUE_TYPES = ["Incident", "Task", "Bug", "Post-incident review"]


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def labels(self) -> list[str]:
        labels: list[str] = self.fields.setdefault("labels", [])
        return labels

    @property
    def status_id(self) -> str:
        return str(self.fields["status"])


def adf_text(node: Any) -> str:
    """The plain text of an ADF node (paragraphs and cells on their own lines)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    parts = [adf_text(child) for child in node.get("content", [])]
    block = node.get("type") in {
        "doc",
        "paragraph",
        "heading",
        "bulletList",
        "orderedList",
        "listItem",
        "table",
        "tableRow",
        "tableCell",
        "tableHeader",
        "codeBlock",
        "blockquote",
    }
    return ("\n" if block else "").join(parts)


def is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1


def _fmt_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


class FakeJira(FakeApp):
    """A small Jira. ``cloud`` answers like Jira Cloud (search/jql, 410 on the old search)."""

    read_posts = (r"/search(/jql)?$",)

    def __init__(
        self,
        *,
        cloud: bool = False,
        project: str = "OPS",
        email: str = "bot@example.com",
        token: str = "jira-api-token-s3cr3t",
        bearer: str | None = None,
        localized: bool = False,
        required_fields: dict[str, str] | None = None,
        comment_page_cap: int = 50,
        search_page_cap: int = 100,
        search_lag: float = 0.0,
    ) -> None:
        super().__init__()
        self.cloud = cloud
        self.project = project
        self.email = email
        self.token = token
        self.bearer = bearer
        # Who each credential is: ("basic", email, token) or ("bearer", token) → a user as Jira
        # shows it (Cloud: accountId; Data Center: name and key). Writes are authored by it.
        self.bot = self.user_json("Incident Bot", "incident-bot")
        self.accounts: dict[tuple[str, ...], dict[str, Any]] = {("basic", email, token): self.bot}
        if bearer:
            self.accounts[("bearer", bearer)] = self.bot
        self.localized = localized
        self.always_korean = False  # ignore Accept-Language (a proxy that drops it)
        self.required_fields = dict(required_fields or {})
        self.comment_page_cap = comment_page_cap
        self.search_page_cap = search_page_cap
        self.search_lag = search_lag
        self.near_limit = False
        self.sso = False  # bad credentials are sent on (302) to a login page, as behind SSO
        self.issues: dict[str, Issue] = {}
        self.links: list[dict[str, str]] = []
        self.bodies: list[tuple[str, str, dict[str, str], Any]] = []
        self._next_id = 10000
        self._next_comment = 100
        self._next_link = 500
        for version in ("2", "3"):
            base = f"/rest/api/{version}"
            self.route("GET", base + "/serverInfo", self.server_info)
            self.route("GET", base + "/myself", self.myself)
            self.route("GET", base + "/field", self.fields_list)
            self.route("GET", base + "/priority", self.priorities)
            self.route("GET", base + "/project/{key}", self.get_project)
            self.route("POST", base + "/issue", self.create_issue)
            self.route("GET", base + "/issue/{key}", self.get_issue)
            self.route("PUT", base + "/issue/{key}", self.edit_issue)
            self.route("DELETE", base + "/issue/{key}", self.delete_issue)
            self.route("GET", base + "/issue/{key}/properties", self.property_keys)
            self.route("GET", base + "/issue/{key}/properties/{prop}", self.get_property)
            self.route("PUT", base + "/issue/{key}/properties/{prop}", self.put_property)
            self.route("DELETE", base + "/issue/{key}/properties/{prop}", self.delete_property)
            self.route("GET", base + "/issue/{key}/comment", self.list_comments)
            self.route("POST", base + "/issue/{key}/comment", self.add_comment)
            self.route("DELETE", base + "/issue/{key}/comment/{id}", self.delete_comment)
            self.route("GET", base + "/issue/{key}/transitions", self.list_transitions)
            self.route("POST", base + "/issue/{key}/transitions", self.do_transition)
            self.route("POST", base + "/issueLink", self.create_link)
            self.route("GET", base + "/issueLinkType", self.link_types)
            self.route("GET", base + "/search", self.search_old)
            self.route("POST", base + "/search", self.search_old)
            self.route("GET", base + "/search/jql", self.search_jql)
            self.route("POST", base + "/search/jql", self.search_jql)
        self.route("GET", "/login.jsp", self.login_page)

    # The request log with bodies (for checking what arrived), auth, errors.

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        down = self.unavailable(method, raw_path)
        if down is not None:
            return down
        response = super().handle(method, raw_path, headers, body)
        if self.near_limit:
            response.headers = {**response.headers, "X-RateLimit-NearLimit": "true"}
        return response

    def _dispatch(self, request: Request) -> Response:
        try:
            payload = request.json() if request.body else None
        except ValueError:
            payload = None
        with self.lock:
            self.bodies.append((request.method, request.path, dict(request.headers), payload))
        return super()._dispatch(request)

    def reset_log(self) -> None:
        with self.lock:
            super().reset_log()
            self.bodies.clear()

    def error_body(self, status: int, message: str) -> Any:
        return {"errorMessages": [message], "errors": {}}

    def user_json(self, display: str, name: str) -> dict[str, Any]:
        """A user as this Jira shows one (Cloud: an accountId; Data Center: a name and a key)."""
        if self.cloud:
            digest = hashlib.sha1(name.encode()).hexdigest()[:24]
            return {"accountId": f"5b10{digest}", "displayName": display, "active": True}
        return {"name": name, "key": f"JIRAUSER{sum(map(ord, name))}", "displayName": display}

    def add_account(self, token: str, name: str, *, email: str | None = None) -> dict[str, Any]:
        """Accept another credential (basic with ``email``, else bearer), acting as ``name``."""
        user = self.user_json(name.title(), name)
        with self.lock:
            self.accounts[("basic", email, token) if email else ("bearer", token)] = user
        return user

    def _credential(self, header: str) -> tuple[str, ...]:
        if header.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return ()
            return ("basic", user, secret)
        if header.startswith("Bearer "):
            return ("bearer", header[7:])
        return ()

    def caller(self, request: Request) -> dict[str, Any]:
        """The user whose credential made ``request``."""
        return self.accounts.get(
            self._credential(request.headers.get("authorization", "")), self.bot
        )

    def authorize(self, request: Request) -> Response | None:
        if request.path == "/login.jsp":
            return None
        if self._credential(request.headers.get("authorization", "")) in self.accounts:
            return None
        if self.sso:
            return Response(302, raw=b"", headers={"Location": "/login.jsp?os_destination=api"})
        return Response(
            401,
            {
                "errorMessages": [
                    "You are not authenticated. Authentication required to perform this operation."
                ],
                "errors": {},
            },
        )

    def login_page(self, request: Request) -> Response:
        page = (
            "<!DOCTYPE html>\n<html><head><title>Log in - Jira</title></head>\n<body>\n"
            '<form action="/login.jsp" method="post">\n<input name="os_username">\n'
            '<input type="password" name="os_password">\n</form>\n</body></html>\n'
        )
        return Response(200, raw=page.encode(), headers={"Content-Type": "text/html;charset=UTF-8"})

    @staticmethod
    def _fail(status: int, message: str = "", errors: dict[str, str] | None = None) -> HTTPError:
        return HTTPError(
            status, {"errorMessages": [message] if message else [], "errors": errors or {}}
        )

    # Helpers.

    @staticmethod
    def _version(request: Request) -> str:
        return "3" if request.path.startswith("/rest/api/3/") else "2"

    def _korean(self, request: Request) -> bool:
        if not self.localized:
            return False
        if self.always_korean:
            return True
        return not request.headers.get("accept-language", "").lower().startswith("en")

    def _issue(self, key: str) -> Issue:
        issue = self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)
        if issue is None:
            raise self._fail(404, "Issue does not exist or you do not have permission to see it.")
        return issue

    def _text_in(self, request: Request, value: Any, name: str) -> Any:
        """Check a rich-text value against the API version; returns it as stored."""
        if value is None:
            return None
        if self._version(request) == "3":
            if not is_adf(value):
                raise self._fail(
                    400,
                    errors={
                        name: "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                    },
                )
            size = len(json.dumps(value, ensure_ascii=False))
        else:
            if not isinstance(value, str):
                raise self._fail(400, errors={name: "Operation value must be a string"})
            size = len(value)
        if size > TEXT_LIMIT:
            raise self._fail(
                400,
                errors={
                    name: f"The entered text is too long. It exceeds the allowed limit of {TEXT_LIMIT:,} characters."
                },
            )
        return value

    def _text_out(self, request: Request, value: Any) -> Any:
        if value is None:
            return None
        if self._version(request) == "3":
            if is_adf(value):
                return value
            return {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": line}]}
                    for line in str(value).split("\n")
                    if line
                ],
            }
        return adf_text(value) if is_adf(value) else value

    def _status(self, request: Request, status_id: str) -> dict[str, Any]:
        english, korean, category = STATUSES[status_id]
        return {
            "id": status_id,
            "name": korean if self._korean(request) else english,
            "statusCategory": {"key": category, "name": CATEGORY_NAMES[category]},
        }

    def _brief(self, request: Request, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.url}/rest/api/{self._version(request)}/issue/{issue.id}",
            "fields": {
                "summary": issue.fields.get("summary"),
                "status": self._status(request, issue.status_id),
                "priority": issue.fields.get("priority"),
                "issuetype": {"name": issue.fields["issuetype"]},
            },
        }

    def _issuelinks(self, request: Request, issue: Issue) -> list[dict[str, Any]]:
        out = []
        for link in self.links:
            kind = next(t for t in LINK_TYPES if t["name"] == link["type"])
            if link["inward"] == issue.key and link["outward"] in self.issues:
                other = {"outwardIssue": self._brief(request, self.issues[link["outward"]])}
            elif link["outward"] == issue.key and link["inward"] in self.issues:
                other = {"inwardIssue": self._brief(request, self.issues[link["inward"]])}
            else:
                continue
            out.append({"id": link["id"], "type": dict(kind), **other})
        return out

    def _field_value(self, request: Request, issue: Issue, name: str) -> Any:
        if name == "status":
            return self._status(request, issue.status_id)
        if name == "issuetype":
            return {"name": issue.fields["issuetype"]}
        if name == "project":
            return {"key": self.project}
        if name == "created":
            return _fmt_time(issue.created)
        if name == "issuelinks":
            return self._issuelinks(request, issue)
        if name == "description":
            return self._text_out(request, issue.fields.get("description"))
        if name == "comment":
            # Like Jira, the issue embeds a first page of its comments and says how many there are.
            page = issue.comments[: self.comment_page_cap]
            return {
                "comments": [self._comment_out(request, c) for c in page],
                "startAt": 0,
                "maxResults": len(page),
                "total": len(issue.comments),
            }
        return copy.deepcopy(issue.fields.get(name))

    def _render(
        self, request: Request, issue: Issue, fields: list[str], props: list[str]
    ) -> dict[str, Any]:
        everything = not fields or "*all" in fields or "*navigable" in fields
        names = (
            [*issue.fields, "created", "issuelinks", "project", "comment"]
            if everything
            else [f for f in fields if f and not f.startswith("-")]
        )
        data: dict[str, Any] = {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.url}/rest/api/{self._version(request)}/issue/{issue.id}",
            "fields": {n: self._field_value(request, issue, n) for n in dict.fromkeys(names)},
        }
        if props:
            wanted = (
                issue.properties
                if "*all" in props
                else {k: v for k, v in issue.properties.items() if k in props}
            )
            data["properties"] = copy.deepcopy(wanted)
        return data

    @staticmethod
    def _list_arg(request: Request, name: str, payload: dict[str, Any] | None = None) -> list[str]:
        if payload is not None and name in payload:
            value = payload[name]
            values = value if isinstance(value, list) else [value]
        else:
            values = request.query.get(name, [])
        out: list[str] = []
        for v in values:
            if v is None:
                continue
            out.extend(p.strip() for p in str(v).split(",") if p.strip())
        return out

    # Routes: server, user, metadata.

    def server_info(self, request: Request) -> Response:
        return Response(
            200,
            {
                "baseUrl": self.url,
                "version": "1001.0.0-SNAPSHOT" if self.cloud else "9.12.2",
                "versionNumbers": [1001, 0, 0] if self.cloud else [9, 12, 2],
                "deploymentType": "Cloud" if self.cloud else "Server",
                "serverTitle": "Fake Jira",
            },
        )

    def myself(self, request: Request) -> Response:
        return Response(200, {**self.caller(request), "emailAddress": self.email})

    def fields_list(self, request: Request) -> Response:
        fields = [
            {"id": n, "name": n.title(), "custom": False, "clauseNames": [n]}
            for n in ("summary", "description", "labels", "priority", "status", "created")
        ]
        fields += [
            {"id": f, "name": name, "custom": True, "clauseNames": [f"cf[{f.rsplit('_', 1)[-1]}]"]}
            for f, name in self.required_fields.items()
        ]
        return Response(200, fields)

    def priorities(self, request: Request) -> Response:
        return Response(200, [{"id": str(i + 1), "name": n} for i, n in enumerate(PRIORITIES)])

    def get_project(self, request: Request) -> Response:
        if request.match["key"] != self.project:
            raise self._fail(404, f"No project could be found with key '{request.match['key']}'.")
        issue_types = [
            {"id": str(10001 + n), "name": name, "subtask": False}
            for n, name in enumerate(ISSUE_TYPES)
        ]
        return Response(
            200,
            {"id": "10000", "key": self.project, "name": "Operations", "issueTypes": issue_types},
        )

    def link_types(self, request: Request) -> Response:
        return Response(200, {"issueLinkTypes": [dict(t) for t in LINK_TYPES]})

    # Routes: issues.

    def _check_fields(
        self, request: Request, fields: dict[str, Any], creating: bool
    ) -> dict[str, Any]:
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "project":
                key = value.get("key") if isinstance(value, dict) else value
                if key != self.project:
                    errors["project"] = "Specify a valid project ID or key"
            elif name == "issuetype":
                type_name = value.get("name") if isinstance(value, dict) else None
                if type_name not in ISSUE_TYPES:
                    errors["issuetype"] = "Specify a valid issue type"
                else:
                    out["issuetype"] = type_name
            elif name == "summary":
                if not isinstance(value, str) or not value.strip():
                    errors["summary"] = "You must specify a summary of the issue."
                elif len(value) > 255:
                    errors["summary"] = "Summary must be less than 255 characters."
                else:
                    out["summary"] = value
            elif name == "description":
                out["description"] = self._text_in(request, value, "description")
            elif name == "labels":
                if not isinstance(value, list):
                    errors["labels"] = "data was not an array"
                else:
                    bad = [x for x in value if not isinstance(x, str) or " " in x or not x]
                    if bad:
                        errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
                    out["labels"] = list(dict.fromkeys(value))
            elif name == "priority":
                pname = value.get("name") if isinstance(value, dict) else None
                if value is not None and pname not in PRIORITIES:
                    errors["priority"] = f"The priority selected is invalid. ({pname})"
                out["priority"] = {"name": pname} if value is not None else None
            elif name.startswith("customfield_"):
                if name not in self.required_fields:
                    errors[name] = (
                        f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
                out[name] = value
            else:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
        if creating:
            for needed in ("project", "issuetype", "summary"):
                if needed not in fields and needed not in errors:
                    errors[needed] = f"{needed} is required."
            for custom, display in self.required_fields.items():
                value = fields.get(custom)
                if value in (None, "", [], {}):
                    errors[custom] = f"{display} is required."
        if errors:
            raise self._fail(400, errors=errors)
        return out

    def _check_properties(self, props: Any) -> dict[str, Any]:
        if props is None:
            return {}
        if not isinstance(props, list):
            raise self._fail(400, "properties must be an array")
        out = {}
        for prop in props:
            if not isinstance(prop, dict) or "key" not in prop or "value" not in prop:
                raise self._fail(400, "An entity property needs a key and a value.")
            if len(json.dumps(prop["value"])) > PROPERTY_LIMIT:
                raise self._fail(400, f"The property '{prop['key']}' has a value that is too long.")
            out[str(prop["key"])] = copy.deepcopy(prop["value"])
        return out

    def _link_op(self, issue_key: str, op: dict[str, Any]) -> dict[str, str]:
        add = op.get("add") if isinstance(op, dict) else None
        if not isinstance(add, dict):
            raise self._fail(400, errors={"issuelinks": "Only the 'add' operation is supported."})
        type_name = (add.get("type") or {}).get("name")
        type_id = (add.get("type") or {}).get("id")
        kind = next((t for t in LINK_TYPES if t["name"] == type_name or t["id"] == type_id), None)
        if kind is None:
            raise self._fail(
                400, errors={"issuelinks": f"No issue link type with name '{type_name}' found."}
            )
        if "outwardIssue" in add:
            other = str(add["outwardIssue"].get("key"))
            link = {"type": kind["name"], "inward": issue_key, "outward": other}
        elif "inwardIssue" in add:
            other = str(add["inwardIssue"].get("key"))
            link = {"type": kind["name"], "inward": other, "outward": issue_key}
        else:
            raise self._fail(
                400, errors={"issuelinks": "An issue link needs an inward or outward issue."}
            )
        if other not in self.issues:
            raise self._fail(400, errors={"issuelinks": f"Issue '{other}' does not exist."})
        return link

    def _add_link(self, link: dict[str, str]) -> None:
        if any(
            x["type"] == link["type"]
            and x["inward"] == link["inward"]
            and x["outward"] == link["outward"]
            for x in self.links
        ):
            return  # Jira keeps one link of a type between two issues
        self._next_link += 1
        self.links.append({**link, "id": str(self._next_link)})

    def create_issue(self, request: Request) -> Response:
        payload = request.json() or {}
        if not isinstance(payload, dict) or not isinstance(payload.get("fields"), dict):
            raise self._fail(400, "Issue fields are required.")
        fields = self._check_fields(request, payload["fields"], creating=True)
        props = self._check_properties(payload.get("properties"))
        update = payload.get("update") or {}
        unknown = set(update) - {"issuelinks", "labels"}
        if unknown:
            raise self._fail(400, errors={sorted(unknown)[0]: "Field cannot be set on create."})
        self._next_id += 1
        key = f"{self.project}-{self._next_id - 10000}"
        pending = [self._link_op(key, op) for op in update.get("issuelinks", [])]
        fields.setdefault("labels", [])
        fields.setdefault("priority", {"name": "Medium"})
        fields["status"] = "10000"
        fields["creator"] = fields["reporter"] = copy.deepcopy(self.caller(request))
        issue = Issue(id=str(self._next_id), key=key, fields=fields, properties=props)
        self.issues[key] = issue
        for link in pending:
            self._add_link(link)
        return Response(
            201,
            {
                "id": issue.id,
                "key": key,
                "self": f"{self.url}/rest/api/{self._version(request)}/issue/{issue.id}",
            },
        )

    def get_issue(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        fields = self._list_arg(request, "fields")
        props = self._list_arg(request, "properties")
        return Response(200, self._render(request, issue, fields, props))

    def edit_issue(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        payload = request.json() or {}
        fields_in = payload.get("fields") or {}
        update = payload.get("update") or {}
        both = set(fields_in) & set(update)
        if both:
            name = sorted(both)[0]
            raise self._fail(
                400, errors={name: "Field cannot be set in both 'fields' and 'update'."}
            )
        fields = self._check_fields(request, fields_in, creating=False)
        props = self._check_properties(payload.get("properties"))
        labels = list(issue.labels)
        comments: list[Any] = []
        links: list[dict[str, str]] = []
        for name, ops in update.items():
            if not isinstance(ops, list):
                raise self._fail(400, errors={name: "Operations must be a list."})
            for op in ops:
                if name == "labels":
                    for verb, value in op.items():
                        if verb == "add":
                            if " " in value:
                                raise self._fail(
                                    400,
                                    errors={
                                        "labels": f"The label '{value}' contains spaces which is invalid."
                                    },
                                )
                            if value not in labels:
                                labels.append(value)
                        elif verb == "remove":
                            labels = [x for x in labels if x != value]
                        elif verb == "set":
                            labels = list(value)
                        else:
                            raise self._fail(400, errors={"labels": f"Unknown operation {verb}."})
                elif name == "comment":
                    body = (op.get("add") or {}).get("body")
                    comments.append(self._text_in(request, body, "comment"))
                elif name == "issuelinks":
                    links.append(self._link_op(issue.key, op))
                elif name == "summary":
                    fields.update(
                        self._check_fields(request, {"summary": op.get("set")}, creating=False)
                    )
                else:
                    raise self._fail(
                        400, errors={name: "Field does not support update operations."}
                    )
        issue.fields.update(fields)
        if "labels" in update:
            issue.fields["labels"] = labels
        issue.properties.update(props)
        for body in comments:
            self._new_comment(issue, body)
        for link in links:
            self._add_link(link)
        return Response(204, None)

    def delete_issue(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        del self.issues[issue.key]
        self.links = [x for x in self.links if issue.key not in (x["inward"], x["outward"])]
        return Response(204, None)

    # Routes: entity properties.

    def property_keys(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        return Response(
            200,
            {
                "keys": [
                    {"key": k, "self": f"{self.url}{request.path}/{k}"} for k in issue.properties
                ]
            },
        )

    def get_property(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        prop = request.match["prop"]
        if prop not in issue.properties:
            raise self._fail(404, f"The property with key '{prop}' does not exist.")
        return Response(200, {"key": prop, "value": copy.deepcopy(issue.properties[prop])})

    def put_property(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        prop = request.match["prop"]
        if not request.body:
            raise self._fail(400, "The property value must be valid, non-empty JSON.")
        value = self._check_properties([{"key": prop, "value": request.json()}])[prop]
        existed = prop in issue.properties
        issue.properties[prop] = value
        return Response(200 if existed else 201, None)

    def delete_property(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        if issue.properties.pop(request.match["prop"], None) is None:
            raise self._fail(404, "The property does not exist.")
        return Response(204, None)

    # Routes: comments.

    def _new_comment(
        self,
        issue: Issue,
        body: Any,
        props: dict[str, Any] | None = None,
        author: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._next_comment += 1
        now = datetime.now(UTC)
        comment = {
            "id": str(self._next_comment),
            "body": body,
            "created": now,
            "author": copy.deepcopy(author or self.bot),
            "properties": props or {},
        }
        issue.comments.append(comment)
        return comment

    def _comment_out(self, request: Request, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": comment["id"],
            "self": f"{self.url}/rest/api/{self._version(request)}/comment/{comment['id']}",
            "author": comment["author"],
            "body": self._text_out(request, comment["body"]),
            "created": _fmt_time(comment["created"]),
            "updated": _fmt_time(comment["created"]),
        }

    def list_comments(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        start = int(request.arg("startAt", "0") or 0)
        wanted = int(request.arg("maxResults", "5000") or 5000)
        size = max(0, min(wanted, self.comment_page_cap))
        page = issue.comments[start : start + size]
        return Response(
            200,
            {
                "startAt": start,
                "maxResults": size,
                "total": len(issue.comments),
                "comments": [self._comment_out(request, c) for c in page],
            },
        )

    def add_comment(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        payload = request.json() or {}
        if "body" not in payload:
            raise self._fail(400, errors={"comment": "Comment body can not be empty!"})
        body = self._text_in(request, payload["body"], "comment")
        if (self._version(request) == "2" and not body.strip()) or (
            self._version(request) == "3" and not adf_text(body).strip()
        ):
            raise self._fail(400, errors={"comment": "Comment body can not be empty!"})
        props = self._check_properties(payload.get("properties"))
        comment = self._new_comment(issue, body, props, self.caller(request))
        return Response(201, self._comment_out(request, comment))

    def delete_comment(self, request: Request) -> Response:
        """``DELETE /issue/{key}/comment/{id}``: 204 No Content; 404 for an unknown issue or
        comment (Jira's REST reference, "Delete comment")."""
        issue = self._issue(request.match["key"])
        comment = next((c for c in issue.comments if c["id"] == request.match["id"]), None)
        if comment is None:
            raise self._fail(404, "Can not find a comment for the id: " + request.match["id"] + ".")
        issue.comments.remove(comment)
        return Response(204)

    # Routes: workflow.

    def _available(self, request: Request, issue: Issue) -> list[dict[str, Any]]:
        korean = self._korean(request)
        return [
            {
                "id": tid,
                "name": ko if korean else en,
                "to": self._status(request, target),
                "hasScreen": False,
                "isAvailable": True,
                "isConditional": False,
                "isGlobal": False,
                "isInitial": False,
            }
            for tid, (en, ko, sources, target) in TRANSITIONS.items()
            if issue.status_id in sources
        ]

    def list_transitions(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        return Response(
            200, {"expand": "transitions", "transitions": self._available(request, issue)}
        )

    def do_transition(self, request: Request) -> Response:
        issue = self._issue(request.match["key"])
        payload = request.json() or {}
        wanted = str((payload.get("transition") or {}).get("id", ""))
        if wanted not in {t["id"] for t in self._available(request, issue)}:
            raise self._fail(400, f"Transition id '{wanted}' is not valid for this issue.")
        issue.fields["status"] = TRANSITIONS[wanted][3]
        comment = ((payload.get("update") or {}).get("comment") or [{}])[0].get("add")
        if comment:
            self._new_comment(issue, self._text_in(request, comment.get("body"), "comment"))
        return Response(204, None)

    def create_link(self, request: Request) -> Response:
        payload = request.json() or {}
        try:
            inward = str(payload["inwardIssue"]["key"])
            outward = str(payload["outwardIssue"]["key"])
        except (KeyError, TypeError):
            raise self._fail(
                400, "An issue link needs inwardIssue, outwardIssue and type."
            ) from None
        for key in (inward, outward):
            self._issue(key)
        type_name = (payload.get("type") or {}).get("name")
        kind = next((t for t in LINK_TYPES if t["name"] == type_name), None)
        if kind is None:
            raise self._fail(404, f"No issue link type with name '{type_name}' found.")
        self._add_link({"type": kind["name"], "inward": inward, "outward": outward})
        if payload.get("comment"):
            body = payload["comment"].get("body")
            self._new_comment(self.issues[inward], self._text_in(request, body, "comment"))
        return Response(201, None)

    # Routes: search.

    _CLAUSE = re.compile(
        r"""^\s*(?P<field>project|labels|key|issuekey|issuetype|type)\s*
             (?:(?P<eq>=|!=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[\w.\-]+)
               |(?P<neg>not\s+)?in\s*\((?P<values>[^)]*)\))\s*$""",
        re.I | re.X,
    )

    @staticmethod
    def _unquote(token: str) -> str:
        token = token.strip()
        if token.startswith('"') and token.endswith('"'):
            return re.sub(r"\\(.)", r"\1", token[1:-1])
        return token

    def _parse_jql(self, jql: str) -> tuple[list[Any], tuple[str, bool]]:
        text = jql.strip()
        order = ("created", False)
        match = re.search(r"\border\s+by\s+(\w+)(?:\s+(asc|desc))?\s*$", text, re.I)
        if match:
            if match.group(1).lower() not in {"created", "key"}:
                raise self._fail(
                    400,
                    f"Error in the JQL Query: ordering by '{match.group(1)}' is not supported by the fake.",
                )
            order = (match.group(1).lower(), (match.group(2) or "asc").lower() == "desc")
            text = text[: match.start()].strip()
        clauses: list[Any] = []
        for part in re.split(r"\s+and\s+", text, flags=re.I) if text else []:
            m = self._CLAUSE.match(part)
            if not m:
                raise self._fail(
                    400, f"Error in the JQL Query: the fake does not understand '{part.strip()}'."
                )
            name = m.group("field").lower()
            name = {"issuekey": "key", "type": "issuetype"}.get(name, name)
            if m.group("eq"):
                values = [self._unquote(m.group("value"))]
                negate = m.group("eq") == "!="
            else:
                values = [
                    self._unquote(v)
                    for v in re.findall(r'"(?:[^"\\]|\\.)*"|[^,\s]+', m.group("values"))
                ]
                negate = bool(m.group("neg"))
            clauses.append((name, {v.lower() for v in values}, negate))
        return clauses, order

    def _matches(self, issue: Issue, clauses: list[Any]) -> bool:
        for name, values, negate in clauses:
            if name == "project":
                have = {self.project.lower()}
            elif name == "labels":
                have = {x.lower() for x in issue.labels}
            elif name == "key":
                have = {issue.key.lower()}
            else:
                have = {str(issue.fields.get("issuetype", "")).lower()}
            hit = bool(have & values)
            if hit == negate:
                return False
        return True

    def _search(
        self, request: Request, payload: dict[str, Any] | None
    ) -> tuple[list[Issue], list[str], list[str]]:
        jql = (payload or {}).get("jql") if payload is not None else request.arg("jql")
        clauses, (order, desc) = self._parse_jql(str(jql or ""))
        visible_before = datetime.now(UTC) - timedelta(seconds=self.search_lag)
        hits = [
            i
            for i in self.issues.values()
            if self._matches(i, clauses) and (not self.search_lag or i.created <= visible_before)
        ]
        hits.sort(
            key=lambda i: (i.created, int(i.id)) if order == "created" else (int(i.id),),
            reverse=desc,
        )
        fields = self._list_arg(request, "fields", payload)
        props = self._list_arg(request, "properties", payload)
        return hits, fields, props

    def search_old(self, request: Request) -> Response:
        if self.cloud:
            raise self._fail(
                410,
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
            )
        payload = request.json() if request.method == "POST" else None
        hits, fields, props = self._search(request, payload)
        source = payload if payload is not None else {}
        start = int(source.get("startAt", request.arg("startAt", "0")) or 0)
        wanted = int(source.get("maxResults", request.arg("maxResults", "50")) or 50)
        size = max(0, min(wanted, self.search_page_cap))
        page = hits[start : start + size]
        return Response(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(hits),
                "issues": [self._render(request, i, fields or ["*navigable"], props) for i in page],
            },
        )

    def search_jql(self, request: Request) -> Response:
        if not self.cloud:
            raise self._fail(404, "null for uri: " + request.path)
        payload = request.json() if request.method == "POST" else None
        hits, fields, props = self._search(request, payload)
        source = payload if payload is not None else {}
        token = source.get("nextPageToken") or request.arg("nextPageToken")
        start = int(base64.b64decode(token).decode()) if token else 0
        wanted = int(source.get("maxResults", request.arg("maxResults", "50")) or 50)
        size = max(1, min(wanted, self.search_page_cap))
        page = hits[start : start + size]
        body: dict[str, Any] = {
            "issues": [self._render(request, i, fields or ["id"], props) for i in page],
            "isLast": start + size >= len(hits),
        }
        if start + size < len(hits):
            body["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
        return Response(200, body)

    # For tests: look at the state the way a person would.

    def issues_labelled(self, label: str) -> list[Issue]:
        with self.lock:
            found = [i for i in self.issues.values() if label in i.labels]
        return sorted(found, key=lambda i: int(i.id))

    def add_person_comment(self, key: str, text: str, name: str = "Kim Minji") -> None:
        """A comment a person writes in Jira's web UI (plain text, no properties)."""
        author = self.user_json(name, name.lower().replace(" ", "."))
        with self.lock:
            self._new_comment(self.issues[key], text, None, author)

    def comment_texts(self, issue: Issue) -> list[str]:
        return [
            adf_text(c["body"]) if is_adf(c["body"]) else str(c["body"]) for c in issue.comments
        ]

    def status_name(self, issue: Issue) -> str:
        return STATUSES[issue.status_id][0]

    def category(self, issue: Issue) -> str:
        return STATUSES[issue.status_id][2]

    def linked(self, issue: Issue, type_name: str | None = None) -> list[str]:
        out = []
        for link in self.links:
            if type_name and link["type"] != type_name:
                continue
            if link["inward"] == issue.key:
                out.append(link["outward"])
            elif link["outward"] == issue.key:
                out.append(link["inward"])
        return out

    def age(self, key: str, seconds: float) -> None:
        """Make an issue look older (to order duplicates)."""
        self.issues[key].created -= timedelta(seconds=seconds)

    def requests_to(self, method: str, pattern: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [b for b in self.bodies if b[0] == method and re.search(pattern, b[1])]

    def wait_for_index(self) -> None:
        """The index catches up at once (tests set a lag far longer than they run)."""
        self.search_lag = 0.0


def jira_tracker(fake: FakeJira, **overrides: Any) -> dict[str, Any]:
    """A ``[trackers.NAME]`` table pointing at ``fake`` (Cloud or Data Center as it is), with
    basic auth from ``$JIRA_EMAIL`` and ``$JIRA_API_TOKEN`` and the path to Done its workflow
    needs (two steps); ``overrides`` add or replace keys."""
    table: dict[str, Any] = {
        "type": "jira",
        "url": fake.url,
        "project": fake.project,
        "email_env": "JIRA_EMAIL",
        "token_env": "JIRA_API_TOKEN",
        "cloud": fake.cloud,
        "transitions": {
            "resolved": ["Start Progress", "Resolve"],
            "closed": ["Start Progress", "Resolve"],
        },
    }
    table.update(overrides)
    return table
