"""The retry policy, owned here and not by the client libraries.

``call`` retries a :class:`TrackerError` whose ``retryable`` is set, with
exponential backoff and full jitter, waiting at least what Retry-After said,
and tells the tracker's :class:`~syncer.pacing.Pacer` (if given) to hold
everyone for that long. The waits are slept on a :class:`~syncer.clock.Clock`
(the system's unless a test injects a fake one).
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from syncer.clock import Clock
from syncer.clock import current as current_clock
from syncer.errors import TrackerError

if TYPE_CHECKING:
    from syncer.pacing import Pacer

T = TypeVar("T")
log = logging.getLogger("syncer.retry")


@dataclass
class Policy:
    """How often and how long to retry; the waits are slept on ``clock``."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    clock: Clock = field(default_factory=current_clock, repr=False, compare=False)

    @classmethod
    def from_env(cls) -> Policy:
        """INCIDENT_SYNCER_RETRY_BASE / _ATTEMPTS let tests and impatient users shorten waits."""
        return cls(
            attempts=int(os.environ.get("INCIDENT_SYNCER_RETRY_ATTEMPTS", "5")),
            base=float(os.environ.get("INCIDENT_SYNCER_RETRY_BASE", "0.5")),
            cap=float(os.environ.get("INCIDENT_SYNCER_RETRY_CAP", "30")),
        )


def call(
    fn: Callable[[], T],
    policy: Policy,
    *,
    what: str = "",
    pacer: Pacer | None = None,
    on_retry: Callable[[TrackerError], None] | None = None,
) -> T:
    """Run ``fn``; retry retryable tracker errors per ``policy``; raise the last error."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except TrackerError as exc:
            if not exc.retryable or attempt >= policy.attempts:
                raise
            if exc.retry_after is not None and pacer is not None:
                pacer.penalise(exc.retry_after)
            wait = delay(policy, attempt, exc)
            log.info(
                "%s failed (%s); retry %d/%d in %.2fs",
                what or "call",
                exc,
                attempt,
                policy.attempts - 1,
                wait,
            )
            if on_retry is not None:
                on_retry(exc)
            policy.clock.sleep(wait)


def delay(policy: Policy, attempt: int, exc: TrackerError) -> float:
    """How long to wait before attempt ``attempt + 1``: jittered backoff, at least Retry-After."""
    wait = random.uniform(0, min(policy.cap, policy.base * 2 ** (attempt - 1)))
    if exc.retry_after is not None:
        wait = max(wait, min(exc.retry_after, policy.max_retry_after))
    return wait
