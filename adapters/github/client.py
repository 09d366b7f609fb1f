"""PyGithub for one tracker: a client per thread, every call paced, its failures translated."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from adapters.github.settings import GitHubSettings
from syncer.errors import TrackerError, http_error, rate_limited
from syncer.pacing import Pacer

if TYPE_CHECKING:
    from github.GithubObject import GithubObject
    from github.PaginatedList import PaginatedList
    from github.Repository import Repository

T = TypeVar("T")
G = TypeVar("G", bound="GithubObject")


class GitHubClient:
    """The repository's API, with no retries of its own (the engine retries, after reading)."""

    def __init__(self, name: str, settings: GitHubSettings, token: SecretStr, pacer: Pacer) -> None:
        self.name = name
        self.settings = settings
        self._token = token
        self.pacer = pacer
        # PyGithub's connection object is not thread-safe (PyGithub#2052): one client a thread.
        self._local = threading.local()

    def repo(self) -> Repository:
        """This thread's client for the repository (PyGithub's is not thread-safe)."""
        repo: Repository | None = getattr(self._local, "repo", None)
        if repo is None:
            from github import Auth, Github

            client = Github(
                base_url=self.settings.base_url.rstrip("/"),
                auth=Auth.Token(self._token.get_secret_value()),
                timeout=self.settings.timeout,
                retry=None,  # the engine owns retries (PyGithub's default repeats POSTs on 5xx)
                per_page=self.settings.page_size,
                seconds_between_requests=None,  # pacing is ours (syncer.pacing.pacer_for)
                seconds_between_writes=None,
                lazy=True,  # no GET for objects we only address (the repository, an issue)
                user_agent="incident-syncer (PyGithub)",
            )
            repo = client.get_repo(self.settings.repo)
            self._local.repo = repo
        return repo

    def call(self, what: str, fn: Callable[[], T], *, write: bool = False) -> T:
        """Run one PyGithub call, paced; its failures become :class:`TrackerError`."""
        self.pacer.wait(write=write)
        try:
            result = fn()
        except Exception as exc:
            error = self.translate(exc, what)  # an answer's status is observed there
            self.pacer.observe(None)  # no answer at all (a request already observed stays so)
            if error is None:
                raise
            raise error from exc
        self.pacer.observe(200)
        return result

    def listing(
        self, what: str, path: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a listing as GitHub's JSON (no PyGithub object built per item: a
        10,000-comment timeline reads in a fraction of the time), a page a request, each
        request paced, the pages followed by the ``next`` link of GitHub's Link header."""
        import requests

        requester = self.repo().requester
        url: str | None = path
        parameters: dict[str, Any] | None = {"per_page": self.settings.page_size, **(params or {})}
        items: list[dict[str, Any]] = []
        while url is not None:
            headers, page = self.call(
                what, partial(requester.requestJsonAndCheck, "GET", url, parameters)
            )
            items.extend(page or ())
            links = requests.utils.parse_header_links(headers.get("link", ""))
            url = next((link["url"] for link in links if link.get("rel") == "next"), None)
            parameters = None  # the next page's link carries the query
        return items

    def delete_comment(self, what: str, comment_id: str) -> None:
        """DELETE one issue comment; one already gone (404) counts as deleted."""
        path = f"/repos/{self.settings.repo}/issues/comments/{comment_id}"
        delete = partial(self.repo().requester.requestJsonAndCheck, "DELETE", path)
        try:
            self.call(what, delete, write=True)
        except TrackerError as exc:
            if exc.status != 404:
                raise

    def pages(self, what: str, listing: PaginatedList[G]) -> list[G]:
        """Every item of a PyGithub listing, a page a request, each request paced."""
        items: list[G] = []
        while True:
            page = self.call(what, partial(listing.get_page, len(items) // self.settings.page_size))
            items.extend(page)
            if len(page) < self.settings.page_size:
                return items

    def translate(self, exc: Exception, what: str) -> TrackerError | None:
        """PyGithub's exception as a :class:`TrackerError` (None: not a failure of the API)."""
        import requests
        from github import GithubException

        if isinstance(exc, requests.exceptions.RequestException):
            why = type(exc).__name__
            if isinstance(exc, requests.exceptions.Timeout):
                why += f" (no answer within {self.settings.timeout} s)"
            return http_error(
                what,
                None,
                tracker=self.name,
                detail=f"cannot reach {self.settings.base_url}: {why}",
            )
        if not isinstance(exc, GithubException):
            return None
        return self.error(what, exc.status, exc.headers or {}, exc.data)

    def error(self, what: str, status: int, headers: dict[str, Any], data: Any) -> TrackerError:
        """A failed answer as a :class:`TrackerError`; a rate limit holds every caller."""
        message = _message(data)
        hint = {
            401: f"GitHub rejected the token in ${self.settings.token_env} ({message})",
            404: f"not found ({message}); does {self.settings.repo} exist and can the token see it?",
        }.get(status, "")
        error = http_error(
            what, status, headers, data, tracker=self.name, detail=message, hint=hint
        )
        self.pacer.observe(status, headers)
        if rate_limited(status, headers, data) and not rate_limited(status, headers):
            # A secondary limit said only in words, which the pacer cannot read: hold everyone.
            self.pacer.penalise(error.retry_after)
        return error


def _message(data: Any) -> str:
    """GitHub's error message, with the validation errors' details."""
    if not isinstance(data, dict):
        return str(data or "no details")
    message = str(data.get("message") or _excerpt(data.get("data")) or "no details")
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            details.append(str(error.get("message") or f"{error.get('field')} {error.get('code')}"))
        else:
            details.append(str(error))
    return f"{message}: {'; '.join(details)}" if details else message


def _excerpt(value: Any) -> str:
    """A short plain-text excerpt of a non-JSON answer (a proxy's HTML error page, say)."""
    return " ".join(re.sub(r"<[^>]*>", " ", str(value or "")).split())[:200]
