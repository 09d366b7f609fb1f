"""A stateful fake of the GitHub REST API (the parts incident-syncer uses), for the real PyGithub.

It follows ``/work/shared/contracts/github.openapi.json``: issues (list with filters and Link
pagination, create, get, update), labels (repository and issue), comments (list, create, get,
update, delete), the contents API (get and put with ``sha``), assignee checks, collaborator
permissions, ``/rate_limit`` and ``/user``. Every URL in a response is absolute and on the fake's
own host (PyGithub follows them), with the ``/api/v3`` prefix when the request had it (GitHub
Enterprise). It checks the token (401 "Bad credentials"), rejects bodies over 65,536 characters
with GitHub's 422 validation error, and can answer with the primary or secondary rate limit
(403/429 with ``Retry-After``). Faults, latency and the request log come from :class:`FakeApp`.

Use it directly or through the ``fake_github`` fixture::

    from tests.fakes.github import FakeGitHub, fake_github, github_tracker  # noqa: F401

    def test_x(fake_github: FakeGitHub, monkeypatch) -> None:
        monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
        table = github_tracker(fake_github)     # a [trackers.NAME] table for write_config
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

import pytest

from tests.fakes.base import WRITE_METHODS, FakeApp, HTTPError, LogEntry, Request, Response

TOKEN = "ghp_FAKEfake0000incidentSyncerTestToken"  # not a real token
REPO = "acme/incidents"
BOT = "incident-bot"
DOCS = "https://docs.github.com/rest"
BODY_LIMIT = 65536
TITLE_LIMIT = 256
GHE_PREFIX = "/api/v3"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID FAKE:0000."
)
# Permissions that may be assigned to issues (GitHub: anyone with triage access or more).
ASSIGNABLE = {"triage", "write", "maintain", "admin"}


@dataclass
class GHRequest(Request):
    """A request with the API prefix it came with ("" or "/api/v3") and its path before stripping."""

    prefix: str = ""
    full_path: str = ""
    login: str = ""  # who the request's token is


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def blob_sha(data: bytes) -> str:
    """The git blob id of ``data`` (what the contents API calls ``sha``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def validation_error(resource: str, field: str, code: str, message: str | None = None) -> HTTPError:
    error: dict[str, Any] = {"resource": resource, "field": field, "code": code}
    if message:
        error["message"] = message
    return HTTPError(
        422,
        {
            "message": "Validation Failed",
            "errors": [error],
            "documentation_url": DOCS,
            "status": "422",
        },
    )


def not_found() -> HTTPError:
    return HTTPError(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})


class FakeGitHub(FakeApp):
    """One repository on a fake GitHub, with its issues, labels, comments and files in memory.

    State (read it in tests): ``issues`` (number → record with ``labels`` and ``assignees`` as
    names and ``comments`` as comment ids), ``comments`` (id → record), ``labels`` (lower-case
    name → record), ``files`` (branch → path → bytes), ``users`` (login → permission), and
    ``payloads``: the JSON body of every write the fake acted on, in order.
    """

    def __init__(
        self,
        token: str = TOKEN,
        repo: str = REPO,
        *,
        login: str = BOT,
        users: dict[str, str] | None = None,
        default_branch: str = "main",
        require_prefix: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        # token → (login, installation): an installation token (GITHUB_TOKEN in Actions, a GitHub
        # App's) writes as its bot and may not call GET /user; a PAT writes as its user.
        self.tokens: dict[str, tuple[str, bool]] = {token: (login, False)}
        self.owner, self.repo_name = repo.split("/")
        self.full_name = repo
        self.login = login
        self.users: dict[str, str] = {login: "admin", **(users or {})}
        self.issues: dict[int, dict[str, Any]] = {}
        self.deleted: set[int] = set()
        self.comments: dict[int, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.default_branch = default_branch
        self.files: dict[str, dict[str, bytes]] = {default_branch: {}}
        self.commits: list[dict[str, Any]] = []
        self.payloads: list[tuple[str, str, Any]] = []
        self.require_prefix = require_prefix
        self._ids = itertools.count(1001)
        self._numbers = itertools.count(1)
        self._last_time = 0.0
        # Rate limits: the primary budget, and the secondary limit on writes (max per window).
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.rate_reset = math.ceil(self.clock.time() + 3600)  # whole seconds, as announced
        self.secondary: tuple[int, float, int, str] | None = None
        self.after_faults: list[tuple[str, str, int]] = []
        # Without push (triage) access GitHub silently drops labels and assignees on issues.
        self.push_access = True
        self._recent_writes: deque[float] = deque()

        r = "/repos/{owner}/{repo}"
        n = "(?P<number>[0-9]+)"
        self.route("GET", "/user", self.get_user)
        self.route("POST", "/graphql", self.graphql)
        self.route("GET", "/rate_limit", self.get_rate_limit)
        self.route("GET", r, self.get_repo)
        self.route("GET", r + "/issues", self.list_issues)
        self.route("POST", r + "/issues", self.create_issue)
        self.route("GET", r + "/issues/comments/{comment_id}", self.get_comment)
        self.route("PATCH", r + "/issues/comments/{comment_id}", self.update_comment)
        self.route("DELETE", r + "/issues/comments/{comment_id}", self.delete_comment)
        self.route("GET", f"{r}/issues/{n}", self.get_issue)
        self.route("PATCH", f"{r}/issues/{n}", self.update_issue)
        self.route("GET", f"{r}/issues/{n}/comments", self.list_comments)
        self.route("POST", f"{r}/issues/{n}/comments", self.create_comment)
        self.route("GET", f"{r}/issues/{n}/labels", self.list_issue_labels)
        self.route("POST", f"{r}/issues/{n}/labels", self.add_issue_labels)
        self.route("PUT", f"{r}/issues/{n}/labels", self.set_issue_labels)
        self.route("DELETE", f"{r}/issues/{n}/labels", self.clear_issue_labels)
        # PyGithub does not escape "/" in a label name here, so the name is the rest of the path.
        self.route("DELETE", f"{r}/issues/{n}/labels/(?P<name>.+)", self.remove_issue_label)
        self.route("GET", r + "/labels", self.list_labels)
        self.route("POST", r + "/labels", self.create_label)
        self.route("GET", r + "/labels/{name}", self.get_label)
        self.route("GET", r + "/contents/(?P<path>.+)", self.get_contents)
        self.route("PUT", r + "/contents/(?P<path>.+)", self.put_contents)
        self.route("GET", r + "/assignees/{user}", self.check_assignee)
        self.route("GET", r + "/collaborators/{user}/permission", self.collaborator_permission)

    def start(self) -> FakeGitHub:
        super().start()
        return self

    # Set-up and inspection helpers for tests.

    @property
    def api_url(self) -> str:
        """The ``base_url`` to configure (``ghe_url`` for GitHub Enterprise's ``/api/v3``)."""
        return self.url

    @property
    def ghe_url(self) -> str:
        return self.url + GHE_PREFIX

    def add_token(self, token: str, login: str, *, installation: bool = False) -> None:
        """Accept another token, writing as ``login`` (``installation``: an Actions/App token)."""
        with self.lock:
            self.tokens[token] = (login, installation)

    def add_user(self, login: str, permission: str = "write") -> None:
        with self.lock:
            self.users[login] = permission

    def add_issue(
        self,
        title: str,
        body: str | None = None,
        labels: list[str] | None = None,
        *,
        user: str | None = None,
        state: str = "open",
        pull_request: bool = False,
    ) -> int:
        """Seed an issue (or a pull request, which shares the numbering) as a person would."""
        with self.lock:
            issue = self._new_issue(title, body, labels or [], [], user or "someone")
            issue["pull_request"] = pull_request
            if state == "closed":
                self._set_state(issue, "closed", "completed", user or "someone")
            return int(issue["number"])

    def add_comment(self, number: int, body: str, *, user: str = "someone") -> int:
        """Seed a comment by a person."""
        with self.lock:
            return int(self._new_comment(self.issues[number], body, user)["id"])

    def delete_issue(self, number: int) -> None:
        """Delete an issue as an admin does in the web UI: afterwards it answers 410 Gone."""
        with self.lock:
            del self.issues[number]
            self.deleted.add(number)

    def edit_issue(self, number: int, **fields: Any) -> None:
        """Change an issue as a person would in the web UI (``body``, ``title``, ``labels``...)."""
        with self.lock:
            issue = self.issues[number]
            if "labels" in fields:
                fields["labels"] = [self._ensure_label(name)["name"] for name in fields["labels"]]
            issue.update(fields)
            issue["updated_at"] = self._now()

    def issue(self, number: int) -> dict[str, Any]:
        return self.issues[number]

    def issues_with_label(self, name: str, *, state: str = "all") -> list[int]:
        with self.lock:
            return [
                n
                for n, i in sorted(self.issues.items())
                if name.lower() in (x.lower() for x in i["labels"]) and state in ("all", i["state"])
            ]

    def comment_bodies(self, number: int) -> list[str]:
        with self.lock:
            return [self.comments[c]["body"] for c in self.issues[number]["comments"]]

    def label_names(self, number: int) -> list[str]:
        with self.lock:
            return list(self.issues[number]["labels"])

    def file(self, path: str, branch: str | None = None) -> str | None:
        with self.lock:
            data = self.files.get(branch or self.default_branch, {}).get(path)
            return data.decode() if data is not None else None

    def add_branch(self, name: str, source: str | None = None) -> None:
        with self.lock:
            self.files[name] = dict(self.files[source or self.default_branch])

    def entries(self, method: str | None = None, pattern: str | None = None) -> list[LogEntry]:
        """Logged requests, optionally only one method and/or paths matching a regex."""
        with self.lock:
            return [
                e
                for e in self.log
                if (method is None or e.method == method)
                and (pattern is None or re.search(pattern, e.path))
            ]

    def reset_log(self) -> None:
        with self.lock:
            super().reset_log()
            self.payloads.clear()

    def secondary_limit(
        self, max_writes: int, per_seconds: float, *, status: int = 403, retry_after: str = "1"
    ) -> None:
        """Answer writes beyond ``max_writes`` within ``per_seconds`` with GitHub's secondary limit."""
        with self.lock:
            self.secondary = (max_writes, per_seconds, status, retry_after)
            self._recent_writes.clear()

    def fail_next_secondary(self, status: int = 403, retry_after: str = "0") -> None:
        """The next request hits the secondary rate limit (``Retry-After`` set)."""
        self.fail_next(
            status,
            {"Retry-After": retry_after},
            {"message": SECONDARY_MESSAGE, "documentation_url": DOCS, "status": str(status)},
        )

    def fail_after(self, method: str, pattern: str, status: int = 502) -> None:
        """The next ``method`` request whose path matches ``pattern`` (a regex) is carried out,
        then answered with ``status``: the write happened, the client sees an error."""
        with self.lock:
            self.after_faults.append((method, pattern, status))

    def exhaust_primary(self, reset_in: float) -> None:
        """Use up the primary rate limit; it comes back ``reset_in`` seconds from now."""
        with self.lock:
            self.rate_remaining = 0
            self.rate_reset = math.ceil(self.clock.time() + reset_in)

    # Plumbing: prefix, auth, rate limits, headers.

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message, "documentation_url": DOCS, "status": str(status)}

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        response = self.unavailable(method, raw_path) or super().handle(
            method, raw_path, headers, body
        )
        with self.lock:
            response.headers.setdefault("X-RateLimit-Limit", str(self.rate_limit))
            response.headers.setdefault("X-RateLimit-Remaining", str(self.rate_remaining))
            response.headers.setdefault("X-RateLimit-Reset", str(int(self.rate_reset)))
            response.headers.setdefault("X-RateLimit-Resource", "core")
        return response

    def authorize(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if not auth:
            return Response(401, self.error_body(401, "Requires authentication"))
        if scheme.lower() not in ("token", "bearer") or given not in self.tokens:
            return Response(401, self.error_body(401, "Bad credentials"))
        with self.lock:
            now = self.clock.time()
            if self.rate_remaining <= 0 and now >= self.rate_reset:
                self.rate_remaining, self.rate_reset = self.rate_limit, math.ceil(now + 3600)
            if self.rate_remaining <= 0:
                return Response(
                    403,
                    self.error_body(
                        403,
                        "API rate limit exceeded for user ID 1. If you reach out to GitHub "
                        "Support for help, please include the request ID FAKE:0001.",
                    ),
                    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(self.rate_reset))},
                )
            self.rate_remaining -= 1
            if self.secondary is not None and request.method in WRITE_METHODS:
                limit, window, status, retry_after = self.secondary
                while self._recent_writes and self._recent_writes[0] < now - window:
                    self._recent_writes.popleft()
                if len(self._recent_writes) >= limit:
                    return Response(
                        status,
                        {"message": SECONDARY_MESSAGE, "documentation_url": DOCS},
                        {"Retry-After": retry_after},
                    )
                self._recent_writes.append(now)
        return None

    def _dispatch(self, request: Request) -> Response:
        prefix = ""
        if request.path == GHE_PREFIX or request.path.startswith(GHE_PREFIX + "/"):
            prefix = GHE_PREFIX
        elif request.path == "/api/graphql":  # GitHub Enterprise Server's GraphQL endpoint
            prefix = "/api"
        elif self.require_prefix:
            return Response(404, self.error_body(404, "Not Found"))
        inner = GHRequest(
            request.method,
            request.path[len(prefix) :] or "/",
            request.query,
            request.headers,
            request.body,
            prefix=prefix,
            full_path=request.path,
            login=self.tokens.get(
                request.headers.get("authorization", "").partition(" ")[2], ("",)
            )[0],
        )
        if request.method in WRITE_METHODS:
            try:
                payload = inner.json()
            except ValueError:
                return Response(400, self.error_body(400, "Problems parsing JSON"))
            with self.lock:
                self.payloads.append((request.method, inner.path, payload))
        response = super()._dispatch(inner)
        if response.status < 400:
            with self.lock:
                for fault in self.after_faults:
                    method, pattern, status = fault
                    if method == request.method and re.search(pattern, inner.path):
                        self.after_faults.remove(fault)
                        return Response(status, self.error_body(status, "injected fault (after)"))
        return response

    def _base(self, request: Request) -> str:
        prefix = request.prefix if isinstance(request, GHRequest) else ""
        return f"{self.url}{prefix}"

    def _repo_url(self, request: Request) -> str:
        return f"{self._base(request)}/repos/{self.full_name}"

    def _html(self) -> str:
        return f"{self.url}/{self.full_name}"

    def _check_repo(self, request: Request) -> None:
        owner, repo = request.match.get("owner", ""), request.match.get("repo", "")
        if (owner.lower(), repo.lower()) != (self.owner.lower(), self.repo_name.lower()):
            raise not_found()

    def _now(self) -> str:
        # Strictly increasing timestamps, so that "oldest first" is well defined.
        moment = max(time.time(), self._last_time + 1)
        self._last_time = moment
        return iso(datetime.fromtimestamp(moment, UTC))

    def _page(self, request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of ``items`` and GitHub's Link header (absolute URLs on this host)."""
        try:
            per_page = max(1, min(int(request.arg("per_page", "30") or 30), 100))
            page = max(1, int(request.arg("page", "1") or 1))
        except ValueError:
            raise validation_error("Pagination", "page", "invalid") from None
        pages = max(1, math.ceil(len(items) / per_page))
        path = request.full_path if isinstance(request, GHRequest) else request.path

        def link(number: int, rel: str) -> str:
            query = [(k, v) for k, values in request.query.items() for v in values]
            query = [(k, v) for k, v in query if k not in ("page", "per_page")]
            query += [("per_page", str(per_page)), ("page", str(number))]
            return f'<{self.url}{path}?{urlencode(query)}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < pages:
            links += [link(page + 1, "next"), link(pages, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    # Users, repository, rate limit.

    def _user_json(self, request: Request, login: str) -> dict[str, Any]:
        base = self._base(request)
        uid = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
        return {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "gravatar_id": "",
            "url": f"{base}/users/{login}",
            "html_url": f"{self.url}/{login}",
            "followers_url": f"{base}/users/{login}/followers",
            "following_url": f"{base}/users/{login}/following{{/other_user}}",
            "gists_url": f"{base}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{base}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/users/{login}/subscriptions",
            "organizations_url": f"{base}/users/{login}/orgs",
            "repos_url": f"{base}/users/{login}/repos",
            "events_url": f"{base}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{base}/users/{login}/received_events",
            "type": "Bot" if login == self.login or login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def caller(self, request: Request) -> str:
        """The login of the token that made ``request``."""
        return request.login if isinstance(request, GHRequest) and request.login else self.login

    def get_user(self, request: Request) -> Response:
        given = request.headers.get("authorization", "").partition(" ")[2]
        if self.tokens.get(given, ("", False))[1]:
            raise HTTPError(403, self.error_body(403, "Resource not accessible by integration"))
        return Response(200, self._user_json(request, self.caller(request)))

    def graphql(self, request: Request) -> Response:
        """GraphQL: only ``viewer { login databaseId }`` (what an installation token may ask)."""
        query = str((request.json() or {}).get("query", ""))
        if not re.search(r"\bviewer\s*\{\s*login(\s+databaseId)?\s*\}", query):
            message = "the fake answers only viewer { login databaseId }"
            return Response(200, {"errors": [{"message": message}]})
        user = self._user_json(request, self.caller(request))
        viewer = {"login": user["login"], "databaseId": user["id"]}
        return Response(200, {"data": {"viewer": viewer}})

    def get_rate_limit(self, request: Request) -> Response:
        core = {
            "limit": self.rate_limit,
            "remaining": self.rate_remaining,
            "reset": int(self.rate_reset),
            "used": self.rate_limit - self.rate_remaining,
            "resource": "core",
        }
        search = {"limit": 30, "remaining": 30, "reset": int(self.rate_reset), "used": 0}
        return Response(
            200,
            {"resources": {"core": core, "search": {**search, "resource": "search"}}, "rate": core},
        )

    def get_repo(self, request: Request) -> Response:
        self._check_repo(request)
        url = self._repo_url(request)
        open_issues = sum(1 for i in self.issues.values() if i["state"] == "open")
        # The many "*_url" templates GitHub returns, all on this host.
        templated = {
            f"{name}_url": f"{url}/{path}"
            for name, path in {
                "archive": "{archive_format}{/ref}",
                "assignees": "assignees{/user}",
                "blobs": "git/blobs{/sha}",
                "branches": "branches{/branch}",
                "collaborators": "collaborators{/collaborator}",
                "comments": "comments{/number}",
                "commits": "commits{/sha}",
                "compare": "compare/{base}...{head}",
                "contents": "contents/{+path}",
                "contributors": "contributors",
                "deployments": "deployments",
                "downloads": "downloads",
                "events": "events",
                "forks": "forks",
                "git_commits": "git/commits{/sha}",
                "git_refs": "git/refs{/sha}",
                "git_tags": "git/tags{/sha}",
                "hooks": "hooks",
                "issue_comment": "issues/comments{/number}",
                "issue_events": "issues/events{/number}",
                "issues": "issues{/number}",
                "keys": "keys{/key_id}",
                "labels": "labels{/name}",
                "languages": "languages",
                "merges": "merges",
                "milestones": "milestones{/number}",
                "notifications": "notifications{?since,all,participating}",
                "pulls": "pulls{/number}",
                "releases": "releases{/id}",
                "stargazers": "stargazers",
                "statuses": "statuses/{sha}",
                "subscribers": "subscribers",
                "subscription": "subscription",
                "tags": "tags",
                "teams": "teams",
                "trees": "git/trees{/sha}",
            }.items()
        }
        host = self.url.split("://", 1)[1]
        return Response(
            200,
            {
                "id": 4242,
                "node_id": "R_4242",
                "name": self.repo_name,
                "full_name": self.full_name,
                "owner": self._user_json(request, self.owner),
                "private": True,
                "html_url": self._html(),
                "description": "incidents",
                "fork": False,
                "url": url,
                **templated,
                "git_url": f"git://{host}/{self.full_name}.git",
                "ssh_url": f"git@{host}:{self.full_name}.git",
                "clone_url": f"{self._html()}.git",
                "svn_url": self._html(),
                "mirror_url": None,
                "homepage": None,
                "language": None,
                "size": 1,
                "forks": 0,
                "forks_count": 0,
                "stargazers_count": 0,
                "watchers": 0,
                "watchers_count": 0,
                "network_count": 0,
                "subscribers_count": 1,
                "has_issues": True,
                "has_projects": False,
                "has_wiki": False,
                "has_pages": False,
                "has_discussions": False,
                "archived": False,
                "disabled": False,
                "license": None,
                "default_branch": self.default_branch,
                "open_issues": open_issues,
                "open_issues_count": open_issues,
                "permissions": {
                    "admin": True,
                    "maintain": True,
                    "push": True,
                    "triage": True,
                    "pull": True,
                },
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "pushed_at": "2024-01-01T00:00:00Z",
            },
        )

    def check_assignee(self, request: Request) -> Response:
        self._check_repo(request)
        user = unquote(request.match["user"])
        if self.users.get(user) in ASSIGNABLE:
            return Response(204)
        raise not_found()

    def collaborator_permission(self, request: Request) -> Response:
        self._check_repo(request)
        user = unquote(request.match["user"])
        permission = self.users.get(user)
        if permission is None:
            raise not_found()
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        return Response(
            200,
            {
                "permission": legacy,
                "role_name": permission,
                "user": self._user_json(request, user),
            },
        )

    # Labels.

    def _ensure_label(self, name: str, color: str = "ededed") -> dict[str, Any]:
        """The label named ``name`` (any case), created as GitHub does when an issue uses it."""
        key = name.lower()
        if key not in self.labels:
            lid = next(self._ids)
            self.labels[key] = {
                "id": lid,
                "node_id": f"LA_{lid}",
                "name": name,
                "color": color,
                "description": None,
                "default": False,
            }
        return self.labels[key]

    def _label_json(self, request: Request, label: dict[str, Any]) -> dict[str, Any]:
        from urllib.parse import quote

        return {**label, "url": f"{self._repo_url(request)}/labels/{quote(label['name'])}"}

    def list_labels(self, request: Request) -> Response:
        self._check_repo(request)
        items = [self._label_json(request, x) for x in self.labels.values()]
        page, headers = self._page(request, items)
        return Response(200, page, headers)

    def get_label(self, request: Request) -> Response:
        self._check_repo(request)
        label = self.labels.get(unquote(request.match["name"]).lower())
        if label is None:
            raise not_found()
        return Response(200, self._label_json(request, label))

    def create_label(self, request: Request) -> Response:
        self._check_repo(request)
        if not self.push_access:
            raise HTTPError(
                403, {"message": "Must have push access to repository", "documentation_url": DOCS}
            )
        data = request.json() or {}
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise validation_error("Label", "name", "missing_field")
        if len(name) > 50:
            raise validation_error("Label", "name", "invalid", "name is too long (maximum is 50)")
        if name.lower() in self.labels:
            raise validation_error("Label", "name", "already_exists")
        color = str(data.get("color") or "ededed").lstrip("#")
        if len(color) != 6 or any(c not in "0123456789abcdefABCDEF" for c in color):
            raise validation_error("Label", "color", "invalid")
        label = self._ensure_label(name, color.lower())
        label["description"] = data.get("description")
        return Response(201, self._label_json(request, label))

    # Issues.

    def _issue(self, request: Request) -> dict[str, Any]:
        self._check_repo(request)
        number = int(request.match["number"])
        issue = self.issues.get(number)
        if number in self.deleted:
            raise HTTPError(410, self.error_body(410, "This issue was deleted"))
        if issue is None:
            raise not_found()
        return issue

    def _new_issue(
        self, title: str, body: str | None, labels: list[str], assignees: list[str], user: str
    ) -> dict[str, Any]:
        number = next(self._numbers)
        now = self._now()
        issue: dict[str, Any] = {
            "id": next(self._ids),
            "number": number,
            "title": title,
            "body": body or None,
            "state": "open",
            "state_reason": None,
            "labels": [self._ensure_label(name)["name"] for name in _dedupe(labels)],
            "assignees": _dedupe(assignees),
            "user": user,
            "comments": [],
            "locked": False,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "closed_by": None,
            "pull_request": False,
        }
        self.issues[number] = issue
        return issue

    def _issue_json(self, request: Request, issue: dict[str, Any]) -> dict[str, Any]:
        repo_url = self._repo_url(request)
        url = f"{repo_url}/issues/{issue['number']}"
        kind = "pull" if issue["pull_request"] else "issues"
        users = [self._user_json(request, u) for u in issue["assignees"]]
        data: dict[str, Any] = {
            "id": issue["id"],
            "node_id": f"I_{issue['id']}",
            "url": url,
            "repository_url": repo_url,
            "labels_url": url + "/labels{/name}",
            "comments_url": url + "/comments",
            "events_url": url + "/events",
            "html_url": f"{self._html()}/{kind}/{issue['number']}",
            "timeline_url": url + "/timeline",
            "number": issue["number"],
            "state": issue["state"],
            "state_reason": issue["state_reason"],
            "title": issue["title"],
            "body": issue["body"],
            "user": self._user_json(request, issue["user"]),
            "labels": [self._label_json(request, self.labels[x.lower()]) for x in issue["labels"]],
            "assignee": users[0] if users else None,
            "assignees": users,
            "milestone": None,
            "locked": issue["locked"],
            "active_lock_reason": None,
            "comments": len(issue["comments"]),
            "closed_at": issue["closed_at"],
            "closed_by": self._user_json(request, issue["closed_by"])
            if issue["closed_by"]
            else None,
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "author_association": "OWNER" if issue["user"] == self.login else "MEMBER",
        }
        if issue["pull_request"]:
            data["pull_request"] = {
                "url": f"{repo_url}/pulls/{issue['number']}",
                "html_url": f"{self._html()}/pull/{issue['number']}",
            }
        return data

    def _validate_body(self, body: Any, resource: str) -> str | None:
        if body is None:
            return None
        if not isinstance(body, str):
            raise validation_error(resource, "body", "invalid")
        if len(body) > BODY_LIMIT:
            raise validation_error(
                resource, "body", "custom", f"body is too long (maximum is {BODY_LIMIT} characters)"
            )
        return body

    def _validate_title(self, title: Any) -> None:
        if len(str(title)) > TITLE_LIMIT:
            raise validation_error(
                "Issue",
                "title",
                "custom",
                f"title is too long (maximum is {TITLE_LIMIT} characters)",
            )

    def _label_names(self, raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise validation_error("Issue", "labels", "invalid")
        names = []
        for item in raw:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                raise validation_error("Issue", "labels", "invalid")
            if len(name) > 50:
                raise validation_error(
                    "Label", "name", "invalid", "name is too long (maximum is 50)"
                )
            names.append(name)
        return names

    def _assignees(self, data: dict[str, Any]) -> list[str] | None:
        if "assignees" in data:
            raw = data["assignees"]
        elif "assignee" in data:
            raw = [data["assignee"]] if data["assignee"] else []
        else:
            return None
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise validation_error("Issue", "assignees", "invalid")
        for login in raw:
            if self.users.get(login) not in ASSIGNABLE:
                raise HTTPError(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "value": login,
                                "resource": "Issue",
                                "field": "assignees",
                                "code": "invalid",
                            }
                        ],
                        "documentation_url": DOCS,
                        "status": "422",
                    },
                )
        return list(raw)

    def _set_state(self, issue: dict[str, Any], state: str, reason: Any, user: str) -> None:
        if state == issue["state"]:
            return
        issue["state"] = state
        if state == "closed":
            issue["state_reason"] = reason or "completed"
            issue["closed_at"] = self._now()
            issue["closed_by"] = user
        else:
            issue["state_reason"] = "reopened"
            issue["closed_at"] = None
            issue["closed_by"] = None

    def list_issues(self, request: Request) -> Response:
        self._check_repo(request)
        state = request.arg("state", "open")
        if state not in ("open", "closed", "all"):
            raise validation_error("Issue", "state", "invalid")
        wanted = [x.strip().lower() for x in (request.arg("labels") or "").split(",") if x.strip()]
        since = request.arg("since")
        since_at = parse_iso(since) if since else None
        creator = request.arg("creator")
        assignee = request.arg("assignee")
        items = []
        for issue in self.issues.values():
            have = {x.lower() for x in issue["labels"]}
            if state != "all" and issue["state"] != state:
                continue
            if any(x not in have for x in wanted):
                continue
            if since_at is not None and parse_iso(issue["updated_at"]) < since_at:
                continue
            if creator and issue["user"] != creator:
                continue
            if assignee == "none" and issue["assignees"]:
                continue
            if assignee not in (None, "none", "*") and assignee not in issue["assignees"]:
                continue
            items.append(issue)
        sort = request.arg("sort", "created")
        key = {
            "created": lambda i: (i["created_at"], i["number"]),
            "updated": lambda i: (i["updated_at"], i["number"]),
            "comments": lambda i: (len(i["comments"]), i["number"]),
        }.get(sort or "created")
        if key is None:
            raise validation_error("Issue", "sort", "invalid")
        items.sort(key=key, reverse=request.arg("direction", "desc") != "asc")
        page, headers = self._page(request, items)
        return Response(200, [self._issue_json(request, i) for i in page], headers)

    def create_issue(self, request: Request) -> Response:
        self._check_repo(request)
        data = request.json()
        if not isinstance(data, dict):
            raise validation_error("Issue", "body", "invalid")
        title = data.get("title")
        if title is None or title == "":
            raise validation_error("Issue", "title", "missing_field")
        self._validate_title(title)
        body = self._validate_body(data.get("body"), "Issue")
        labels = self._label_names(data.get("labels", []))
        assignees = self._assignees(data) or []
        if not self.push_access:
            labels, assignees = [], []
        issue = self._new_issue(str(title), body, labels, assignees, self.caller(request))
        return Response(201, self._issue_json(request, issue))

    def get_issue(self, request: Request) -> Response:
        return Response(200, self._issue_json(request, self._issue(request)))

    def update_issue(self, request: Request) -> Response:
        issue = self._issue(request)
        data = request.json() or {}
        if not isinstance(data, dict):
            raise validation_error("Issue", "body", "invalid")
        changes: dict[str, Any] = {}
        if "title" in data:
            if not data["title"]:
                raise validation_error("Issue", "title", "missing_field")
            self._validate_title(data["title"])
            changes["title"] = str(data["title"])
        if "body" in data:
            changes["body"] = self._validate_body(data["body"], "Issue") or None
        if "labels" in data and self.push_access:
            changes["labels"] = [
                self._ensure_label(x)["name"] for x in _dedupe(self._label_names(data["labels"]))
            ]
        assignees = self._assignees(data)
        if assignees is not None and self.push_access:
            changes["assignees"] = _dedupe(assignees)
        state = data.get("state")
        if state is not None and state not in ("open", "closed"):
            raise validation_error("Issue", "state", "invalid")
        reason = data.get("state_reason")
        if reason not in (None, "completed", "not_planned", "duplicate", "reopened"):
            raise validation_error("Issue", "state_reason", "invalid")
        issue.update(changes)
        if state is not None:
            self._set_state(issue, state, reason, self.caller(request))
        issue["updated_at"] = self._now()
        return Response(200, self._issue_json(request, issue))

    # Issue labels.

    def list_issue_labels(self, request: Request) -> Response:
        issue = self._issue(request)
        items = [self._label_json(request, self.labels[x.lower()]) for x in issue["labels"]]
        page, headers = self._page(request, items)
        return Response(200, page, headers)

    def _labels_from_body(self, request: Request) -> list[str]:
        data = request.json()
        if isinstance(data, dict):
            data = data.get("labels", [])
        return self._label_names(data)

    def add_issue_labels(self, request: Request) -> Response:
        issue = self._issue(request)
        for name in self._labels_from_body(request):
            label = self._ensure_label(name)["name"]
            if label.lower() not in (x.lower() for x in issue["labels"]):
                issue["labels"].append(label)
        issue["updated_at"] = self._now()
        return self.list_issue_labels(request)

    def set_issue_labels(self, request: Request) -> Response:
        issue = self._issue(request)
        issue["labels"] = [
            self._ensure_label(x)["name"] for x in _dedupe(self._labels_from_body(request))
        ]
        issue["updated_at"] = self._now()
        return self.list_issue_labels(request)

    def clear_issue_labels(self, request: Request) -> Response:
        issue = self._issue(request)
        issue["labels"] = []
        issue["updated_at"] = self._now()
        return Response(204)

    def remove_issue_label(self, request: Request) -> Response:
        issue = self._issue(request)
        name = unquote(request.match["name"]).lower()
        if name not in (x.lower() for x in issue["labels"]):
            raise HTTPError(
                404, {"message": "Label does not exist", "documentation_url": DOCS, "status": "404"}
            )
        issue["labels"] = [x for x in issue["labels"] if x.lower() != name]
        issue["updated_at"] = self._now()
        return self.list_issue_labels(request)

    # Comments.

    def _new_comment(self, issue: dict[str, Any], body: str, user: str) -> dict[str, Any]:
        now = self._now()
        comment = {
            "id": next(self._ids),
            "issue": issue["number"],
            "body": body,
            "user": user,
            "created_at": now,
            "updated_at": now,
        }
        self.comments[comment["id"]] = comment
        issue["comments"].append(comment["id"])
        issue["updated_at"] = now
        return comment

    def _comment_json(self, request: Request, comment: dict[str, Any]) -> dict[str, Any]:
        repo_url = self._repo_url(request)
        return {
            "id": comment["id"],
            "node_id": f"IC_{comment['id']}",
            "url": f"{repo_url}/issues/comments/{comment['id']}",
            "html_url": f"{self._html()}/issues/{comment['issue']}#issuecomment-{comment['id']}",
            "body": comment["body"],
            "user": self._user_json(request, comment["user"]),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "issue_url": f"{repo_url}/issues/{comment['issue']}",
            "author_association": "OWNER" if comment["user"] == self.login else "MEMBER",
        }

    def _comment(self, request: Request) -> dict[str, Any]:
        self._check_repo(request)
        comment = self.comments.get(int(request.match["comment_id"]))
        if comment is None:
            raise not_found()
        return comment

    def list_comments(self, request: Request) -> Response:
        issue = self._issue(request)
        since = request.arg("since")
        items = [self.comments[c] for c in issue["comments"]]
        if since:
            items = [c for c in items if parse_iso(c["updated_at"]) >= parse_iso(since)]
        page, headers = self._page(request, items)
        return Response(200, [self._comment_json(request, c) for c in page], headers)

    def create_comment(self, request: Request) -> Response:
        issue = self._issue(request)
        data = request.json() or {}
        body = self._validate_body(data.get("body"), "IssueComment")
        if not body:
            raise validation_error("IssueComment", "body", "missing_field")
        return Response(
            201, self._comment_json(request, self._new_comment(issue, body, self.caller(request)))
        )

    def get_comment(self, request: Request) -> Response:
        return Response(200, self._comment_json(request, self._comment(request)))

    def update_comment(self, request: Request) -> Response:
        comment = self._comment(request)
        body = self._validate_body((request.json() or {}).get("body"), "IssueComment")
        if not body:
            raise validation_error("IssueComment", "body", "missing_field")
        comment["body"] = body
        comment["updated_at"] = self._now()
        return Response(200, self._comment_json(request, comment))

    def delete_comment(self, request: Request) -> Response:
        comment = self._comment(request)
        del self.comments[comment["id"]]
        self.issues[comment["issue"]]["comments"].remove(comment["id"])
        return Response(204)

    # Contents.

    def _content_json(
        self, request: Request, path: str, data: bytes, branch: str
    ) -> dict[str, Any]:
        sha = blob_sha(data)
        url = f"{self._repo_url(request)}/contents/{path}?ref={branch}"
        html = f"{self._html()}/blob/{branch}/{path}"
        git = f"{self._repo_url(request)}/git/blobs/{sha}"
        encoded = base64.b64encode(data).decode()
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            # GitHub wraps the base64 content at 60 characters.
            "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": f"{self.url}/raw/{self.full_name}/{branch}/{path}",
            "_links": {"self": url, "git": git, "html": html},
        }

    def get_contents(self, request: Request) -> Response:
        self._check_repo(request)
        path = unquote(request.match["path"]).strip("/")
        branch = request.arg("ref") or self.default_branch
        tree = self.files.get(branch)
        if tree is None:
            raise HTTPError(
                404,
                {"message": f"No commit found for the ref {branch}", "documentation_url": DOCS},
            )
        if path in tree:
            return Response(200, self._content_json(request, path, tree[path], branch))
        children = sorted(p for p in tree if p.startswith(path + "/"))
        if not children:
            raise not_found()
        listing = []
        for child in children:
            rest = child[len(path) + 1 :]
            if "/" in rest:
                continue  # deeper: listed as its directory (kept simple: only files here)
            entry = self._content_json(request, child, tree[child], branch)
            entry.pop("content")
            entry.pop("encoding")
            listing.append(entry)
        return Response(200, listing)

    def put_contents(self, request: Request) -> Response:
        self._check_repo(request)
        path = unquote(request.match["path"]).strip("/")
        data = request.json() or {}
        if not data.get("message"):
            raise validation_error("Commit", "message", "missing_field")
        if not isinstance(data.get("content"), str):
            raise validation_error("Commit", "content", "missing_field")
        try:
            content = base64.b64decode(data["content"], validate=True)
        except ValueError:
            raise validation_error("Commit", "content", "invalid") from None
        branch = data.get("branch") or self.default_branch
        tree = self.files.get(branch)
        if tree is None:
            raise HTTPError(
                404, {"message": f"Branch {branch} not found", "documentation_url": DOCS}
            )
        existing = tree.get(path)
        if existing is not None:
            if not data.get("sha"):
                raise HTTPError(
                    422,
                    {
                        "message": 'Invalid request.\n\n"sha" wasn\'t supplied.',
                        "documentation_url": DOCS,
                    },
                )
            if data["sha"] != blob_sha(existing):
                raise HTTPError(
                    409,
                    {"message": f"{path} does not match {data['sha']}", "documentation_url": DOCS},
                )
        tree[path] = content
        now = self._now()
        sha = hashlib.sha1(f"{path}{now}{len(self.commits)}".encode()).hexdigest()
        commit = {
            "sha": sha,
            "node_id": f"C_{sha[:10]}",
            "url": f"{self._repo_url(request)}/git/commits/{sha}",
            "html_url": f"{self._html()}/commit/{sha}",
            "author": {"name": self.login, "email": f"{self.login}@example.com", "date": now},
            "committer": {"name": self.login, "email": f"{self.login}@example.com", "date": now},
            "message": data["message"],
            "tree": {
                "sha": blob_sha(path.encode()),
                "url": f"{self._repo_url(request)}/git/trees/x",
            },
            "parents": [],
        }
        self.commits.append({**commit, "branch": branch, "path": path})
        return Response(
            201 if existing is None else 200,
            {"content": self._content_json(request, path, content, branch), "commit": commit},
        )


def _dedupe(names: list[str]) -> list[str]:
    """``names`` without repeats, case aside (as GitHub compares label names); the first kept."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(name.lower(), name)
    return list(first.values())


def github_tracker(app: FakeGitHub, **overrides: Any) -> dict[str, Any]:
    """A ``[trackers.NAME]`` table pointing at ``app``, unpaced (tests are fast): GitHub's
    default budget (1 write a second, 80 a minute, 500 an hour) lifted."""
    table: dict[str, Any] = {
        "type": "github",
        "repo": app.full_name,
        "base_url": app.url,
        "token_env": "GITHUB_TOKEN",
        "writes_per_second": 0,
        "writes_per_minute": 0,
        "writes_per_hour": 0,
    }
    table.update(overrides)
    return table


def fresh_pacers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process-wide pacers, so that one test's 429s do not slow the next one."""
    from syncer import pacing

    monkeypatch.setattr(pacing, "_PACERS", {})


@pytest.fixture
def fake_github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A running fake GitHub with the repository ``acme/incidents`` and the token :data:`TOKEN`
    (also set as ``$GITHUB_TOKEN``)."""
    fresh_pacers(monkeypatch)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    app = FakeGitHub().start()
    try:
        yield app
    finally:
        app.stop()
