"""The exception hierarchy: every failure says whether a retry can help.

Exit codes (documented in the README): 0 done, 1 a tracker operation failed
(the rest done, the failed part journaled), 2 bad input or configuration.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from syncer.clock import current


class SyncerError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 1


class InputError(SyncerError):
    """Bad input or configuration: nothing was written. Exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class InputErrors(InputError):
    """Several input errors found in one document, reported together."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class ConfigError(InputError):
    """The configuration is wrong or incomplete (a missing secret variable, say)."""


class TrackerError(SyncerError):
    """A tracker call failed.

    ``retryable`` says whether the same call may succeed later (5xx, 429,
    network); ``retry_after`` carries the server's Retry-After in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        tracker: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message
        self.tracker = tracker
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        prefix = f"{self.tracker}: " if self.tracker else ""
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{prefix}{self.message}{code}"


class LookupFailed(TrackerError):
    """The tracker could not say whether the incident exists: never create on this."""

    @classmethod
    def because(cls, exc: TrackerError, what: str, tracker: str) -> LookupFailed:
        """``exc`` as a failed lookup: ``what`` could not be told (retryable as ``exc`` is)."""
        if isinstance(exc, LookupFailed):
            return exc
        return cls(
            f"{what}: {exc.message}",
            tracker=tracker,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            status=exc.status,
        )


class NotFound(SyncerError):
    """The incident is in none of the trackers (imperative commands need it there)."""

    exit_code = 2


# One policy for every HTTP failure, whichever tracker or client library it came through.

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
"""Besides 5xx: a timeout, a conflict (the engine reads again before repeating), too early,
too many requests."""
LIMIT_WAIT = 60.0
"""Seconds to wait after a rate limit said only in words (GitHub: "wait at least one minute")."""


def rate_limited(status: int | None, headers: Mapping[str, str] | None, body: Any = None) -> bool:
    """Whether the answer says "too many requests", however the tracker says it.

    A 429; or a 403 with Retry-After, with an exhausted ``X-RateLimit-Remaining``
    (GitHub's primary limit) or with a message about a rate limit (GitHub's
    secondary limits, which may come without any header).
    """
    if status == 429:
        return True
    if status != 403:
        return False
    h = _lower(headers)
    return (
        "retry-after" in h
        or h.get("x-ratelimit-remaining") == "0"
        or "rate limit" in server_message(body).lower()
    )


def retryable(
    status: int | None, headers: Mapping[str, str] | None = None, body: Any = None
) -> bool:
    """Whether the same request may succeed later: no answer at all, a 5xx, a limit, a conflict."""
    return (
        status is None
        or status >= 500
        or status in RETRYABLE_STATUSES
        or rate_limited(status, headers, body)
    )


def http_error(
    what: str,
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    tracker: str = "",
    detail: str = "",
    hint: str = "",
) -> TrackerError:
    """One failed HTTP request as a :class:`TrackerError`: may a retry help, and when.

    ``status`` is None when no answer came (a timeout, a refused connection).
    ``detail`` is the server's message (read from ``body`` when empty); ``hint``
    replaces it in a final error to say what to check ("check the token in
    $GITHUB_TOKEN"). A rate limit waits for Retry-After, else for the exhausted
    limit's reset, else (said only in words) :data:`LIMIT_WAIT`.
    """
    h = _lower(headers)
    now = current().time()
    detail = detail or server_message(body) or "no details"
    wait = retry_after_seconds(h.get("retry-after"), now)
    limited = rate_limited(status, h, body)
    if limited and wait is None and h.get("x-ratelimit-remaining") == "0":
        wait = reset_seconds(h.get("x-ratelimit-reset"), now)
    if limited and wait is None and status != 429:
        wait = LIMIT_WAIT
    message = f"rate limited ({detail})" if limited else (hint or detail)
    return TrackerError(
        f"{what}: {message}",
        tracker=tracker,
        retryable=retryable(status, h, body),
        retry_after=wait,
        status=status,
    )


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (``now``: epoch seconds, default now)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass  # not delta-seconds: the other form Retry-After takes is an HTTP date
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def reset_seconds(value: str | None, now: float) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` given in epoch seconds (GitHub)."""
    try:
        reset = float(value) if value is not None else None
    except ValueError:
        return None
    if reset is None or reset < 1e9:
        return None
    return max(0.0, min(reset - now, 3600.0))


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def server_message(body: Any) -> str:
    """The server's message in an error body (GitHub, Jira, Notion shapes), or a short excerpt
    of a body that is not JSON (a proxy's HTML error page, say)."""
    if isinstance(body, dict):
        parts = [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        message = body.get("message")
        if message:
            parts.insert(0, str(message))
        code = body.get("code")
        if code and not parts:
            parts.append(str(code))
        return "; ".join(parts)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return " ".join(re.sub(r"<[^>]*>", " ", str(body or "")).split())[:200]
