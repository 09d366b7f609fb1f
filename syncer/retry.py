"""The retry policy (owned here, not by the client libraries) and request pacing.

``call`` retries a :class:`TrackerError` whose ``retryable`` is set, with
exponential backoff and full jitter, waiting at least what Retry-After said.
``Pacer`` spaces calls to a tracker so that all workers together stay under
its documented rate; it slows down after a 429 and recovers gradually.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from syncer.errors import TrackerError

T = TypeVar("T")
log = logging.getLogger("syncer.retry")


@dataclass
class Policy:
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

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
            time.sleep(wait)


def delay(policy: Policy, attempt: int, exc: TrackerError) -> float:
    """How long to wait before attempt ``attempt + 1``: jittered backoff, at least Retry-After."""
    wait = random.uniform(0, min(policy.cap, policy.base * 2 ** (attempt - 1)))
    if exc.retry_after is not None:
        wait = max(wait, min(exc.retry_after, policy.max_retry_after))
    return wait


class Pacer:
    """Spaces calls so that at most ``rate`` per second start, shared by all threads.

    After a 429, :meth:`penalise` holds every caller until Retry-After has
    passed and halves the rate; each later success restores it a little.
    """

    def __init__(self, rate: float | None, burst: int = 1) -> None:
        self.rate = rate
        self.target = rate
        self.burst = max(1, burst)
        self._lock = threading.Lock()
        self._next = 0.0
        self._hold_until = 0.0

    def wait(self) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next - (self.burst - 1) / self.rate, self._hold_until)
            self._next = max(self._next, start) + 1.0 / self.rate
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def penalise(self, retry_after: float) -> None:
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + retry_after)
            if self.rate:
                self.rate = max(self.rate / 2, (self.target or 1) / 8)

    def recover(self) -> None:
        if self.rate and self.target and self.rate < self.target:
            with self._lock:
                self.rate = min(self.target, self.rate * 1.1)
