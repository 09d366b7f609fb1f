"""One policy for every failed HTTP request, whichever tracker or client it came through."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.errors import LIMIT_WAIT, http_error
from tests.fakes.clock import FakeClock

SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes."


@pytest.mark.parametrize(
    ("status", "headers", "body", "retryable", "retry_after", "message"),
    [
        # No answer at all: a timeout or a refused connection.
        (None, {}, None, True, None, "x: no details"),
        # Server errors and rate limits, with and without Retry-After.
        (503, {}, {"message": "down"}, True, None, "x: down"),
        (502, {"Retry-After": "7"}, None, True, 7.0, "x: no details"),
        (
            429,
            {"Retry-After": "3"},
            {"errorMessages": ["slow down"]},
            True,
            3.0,
            "x: rate limited (slow down)",
        ),
        (
            429,
            {},
            {"code": "rate_limited", "message": "Rate limited"},
            True,
            None,
            "x: rate limited (Rate limited)",
        ),
        # GitHub's secondary limits: a 403 with Retry-After, or said only in words.
        (
            403,
            {"retry-after": "30"},
            {"message": SECONDARY},
            True,
            30.0,
            f"x: rate limited ({SECONDARY})",
        ),
        (403, {}, {"message": SECONDARY}, True, LIMIT_WAIT, f"x: rate limited ({SECONDARY})"),
        # A conflict, a timeout: the engine reads again before repeating.
        (409, {}, {"code": "conflict_error", "message": "Conflict"}, True, None, "x: Conflict"),
        (408, {}, None, True, None, "x: no details"),
        # Final: the same request fails again.
        (
            403,
            {},
            {"message": "Resource not accessible by integration"},
            False,
            None,
            "x: Resource not accessible by integration",
        ),
        (
            404,
            {},
            {"errorMessages": ["Issue does not exist"], "errors": {}},
            False,
            None,
            "x: Issue does not exist",
        ),
        (
            400,
            {},
            {"errorMessages": [], "errors": {"summary": "required"}},
            False,
            None,
            "x: summary: required",
        ),
        (
            422,
            {},
            "<html><body><h1>Unprocessable</h1></body></html>",
            False,
            None,
            "x: Unprocessable",
        ),
    ],
)
def test_one_classifier_for_every_tracker(
    status: int | None,
    headers: dict[str, str],
    body: Any,
    retryable: bool,
    retry_after: float | None,
    message: str,
) -> None:
    error = http_error("x", status, headers, body, tracker="t")
    assert (error.retryable, error.retry_after, error.message) == (retryable, retry_after, message)
    assert error.status == status and error.tracker == "t"


def test_an_exhausted_primary_limit_waits_for_its_reset(clock: FakeClock) -> None:
    reset = str(int(clock.time()) + 120)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    error = http_error("list issues", 403, headers, {"message": "API rate limit exceeded"})
    assert error.retryable and error.retry_after is not None
    assert 115 <= error.retry_after <= 121


def test_a_hint_replaces_the_servers_words_only_in_a_final_error() -> None:
    final = http_error("x", 401, {}, {"message": "Bad credentials"}, hint="check $GITHUB_TOKEN")
    assert (final.message, final.retryable) == ("x: check $GITHUB_TOKEN", False)
    limited = http_error("x", 429, {}, {"message": "slow"}, hint="check $GITHUB_TOKEN")
    assert limited.message == "x: rate limited (slow)"
