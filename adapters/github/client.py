"""PyGithub for one tracker: a client per thread, every call paced, its failures translated."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from adapters.github.settings import GitHubSettings
from syncer.errors import TrackerError
from syncer.retry import Pacer

if TYPE_CHECKING:
    from github.Repository import Repository

T = TypeVar("T")

SECONDARY_WAIT = 60.0  # GitHub: without Retry-After, wait at least a minute after a secondary limit


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
                seconds_between_requests=None,  # pacing is ours (syncer.retry.pacer_for)
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
            error = self.translate(exc, what)
            if error is None:
                raise
            raise error from exc
        self.pacer.observe(200)
        return result

    def translate(self, exc: Exception, what: str) -> TrackerError | None:
        import requests
        from github import GithubException

        if isinstance(exc, requests.exceptions.RequestException):
            why = type(exc).__name__
            if isinstance(exc, requests.exceptions.Timeout):
                why += f" (no answer within {self.settings.timeout} s)"
            return TrackerError(
                f"{what}: cannot reach {self.settings.base_url}: {why}",
                tracker=self.name,
                retryable=True,
            )
        if not isinstance(exc, GithubException):
            return None
        status = exc.status
        headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
        self.pacer.observe(status, headers)  # a 429 or a secondary limit holds every caller
        message = _message(exc.data)
        retry_after = _seconds(headers.get("retry-after"))
        limited = headers.get("x-ratelimit-remaining") == "0"
        if status == 401:
            return TrackerError(
                f"{what}: GitHub rejected the token in ${self.settings.token_env} ({message})",
                tracker=self.name,
                status=status,
            )
        if status in (403, 429) and (
            retry_after is not None or limited or "rate limit" in message.lower() or status == 429
        ):
            if retry_after is None and limited:
                reset = _seconds(headers.get("x-ratelimit-reset"))
                retry_after = max(0.0, reset - time.time()) if reset is not None else None
            if retry_after is None:
                # A secondary limit said only in words: GitHub asks for a minute's pause.
                retry_after = SECONDARY_WAIT
                self.pacer.penalise(retry_after)
            return TrackerError(
                f"{what}: rate limited ({message})",
                tracker=self.name,
                retryable=True,
                retry_after=retry_after,
                status=status,
            )
        if status == 404:
            message = (
                f"not found ({message}); does {self.settings.repo} exist and can the token see it?"
            )
        return TrackerError(
            f"{what}: {message}",
            tracker=self.name,
            # 409: a file changed since it was read; the engine reads it again.
            retryable=status >= 500 or status in (408, 409),
            retry_after=retry_after,
            status=status,
        )


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


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
