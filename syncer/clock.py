"""The clock that pacing and retry waits run on: the system's, or one a test injects.

Everything that waits before talking to a tracker (the pacer's slots, the retry
back-off, Retry-After holds) reads time and sleeps through a :class:`Clock`, so a
test can run it on a fake clock that moves only when someone sleeps: rate-limit
tests then count requests per window exactly and take no wall time.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Time as seen by the pacer and the retry loops.

    ``monotonic()`` orders events and measures waits (seconds, any origin);
    ``time()`` is seconds since the epoch, for the headers that carry wall-clock
    times (an HTTP-date ``Retry-After``, GitHub's ``X-RateLimit-Reset``);
    ``sleep(seconds)`` blocks the calling thread for that long on this clock.
    """

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`time.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM = SystemClock()
_current: Clock = SYSTEM


def current() -> Clock:
    """The process's clock (the system's unless a test installed another with :func:`use`)."""
    return _current


def use(clock: Clock) -> Clock:
    """Make ``clock`` the process's clock for pacers and policies built from now on; returns the old one."""
    global _current
    previous, _current = _current, clock
    return previous
