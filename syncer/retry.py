"""The retry policy (owned here, not by the client libraries) and request pacing.

``call`` retries a :class:`TrackerError` whose ``retryable`` is set, with
exponential backoff and full jitter, waiting at least what Retry-After said.
``Pacer`` spaces calls to a tracker so that all workers together stay under
its documented rate; it slows down after a 429 and recovers gradually.
Adapters get theirs from :func:`pacer_for` (one per tracker name, per
process), call ``pacer.wait(write=...)`` before each HTTP request and
``pacer.observe(status, headers)`` after each answer.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

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
    """One tracker's request budget, shared by every thread that talks to it.

    Call :meth:`wait` before each request (``write=True`` for POST, PUT,
    PATCH, DELETE) and :meth:`observe` with each answer's status and headers.

    * ``rate``/``burst``: every request (a token bucket: Notion's average of
      three a second with short bursts).
    * ``write_rate``/``write_burst``: content-creating requests (GitHub asks
      for about one a second).
    * ``write_windows``: ``(count, seconds)`` sliding windows on writes
      (GitHub's secondary limits: 80 a minute, 500 an hour).

    After a 429 (or GitHub's 403 secondary limit) every caller is held until
    Retry-After has passed and the pace is halved (once a second at most, down
    to a sixteenth); a near-limit signal (Jira's ``X-RateLimit-NearLimit:
    true``) slows it by a fifth. A tracker with no configured rate gets one
    from the pace it was observed to sustain. Each later success wins back 2 %
    up to just under the pace that tripped the limit, then probes beyond it by
    one request a second per second (as TCP does); a configured rate is the
    most it goes back to.
    """

    def __init__(
        self,
        rate: float | None = None,
        burst: int = 1,
        *,
        write_rate: float | None = None,
        write_burst: int = 1,
        write_windows: tuple[tuple[int, float], ...] = (),
        name: str = "",
    ) -> None:
        self.name = name
        self.rate = rate or None  # configured; the pace now may be lower (see ``pace``)
        self.burst = max(1, burst)
        self.write_rate = write_rate or None
        self.write_burst = max(1, write_burst)
        self.write_windows = tuple((int(n), float(s)) for n, s in write_windows if n and s)
        self._lock = threading.Lock()
        self._next = 0.0  # GCRA "theoretical arrival time" of every request
        self._next_write = 0.0
        self._windows: list[deque[float]] = [deque() for _ in self.write_windows]
        self._hold_until = 0.0
        self._factor = 1.0  # <1 after a 429 or a near-limit signal
        self._dynamic: float | None = None  # a rate imposed on an unpaced tracker
        self._slowed_at = float("-inf")
        self._tripped = 0.0  # the pace at the last slow-down
        self._local = threading.local()  # when this thread's last request was booked to start
        self._ceiling: float | None = None
        self._recent: deque[float] = deque(maxlen=256)
        # Counters for summaries and benchmarks.
        self.requests = 0
        self.writes = 0
        self.waited = 0.0
        self.penalties = 0
        self.near_limits = 0

    @classmethod
    def from_limits(cls, limits: Limits, name: str = "") -> Pacer:
        windows = tuple(
            (n, s)
            for n, s in ((limits.writes_per_minute, 60.0), (limits.writes_per_hour, 3600.0))
            if n
        )
        return cls(
            limits.requests_per_second,
            limits.burst,
            write_rate=limits.writes_per_second,
            write_burst=limits.burst,
            write_windows=windows,
            name=name,
        )

    @property
    def paced(self) -> bool:
        return bool(self.rate or self.write_rate or self.write_windows or self._dynamic)

    def _request_rate(self) -> float | None:
        rates = [r for r in (self.rate, self._dynamic) if r]
        return min(rates) if rates else None

    def reserve(self, write: bool = False) -> float:
        """Book the next slot and return when it starts (``time.monotonic()`` clock)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._hold_until)
            rate = self._request_rate()
            if rate:
                burst = 1 if self._dynamic is not None else self.burst  # slowed: no bursts
                start = max(start, self._next - (burst - 1) / rate)
            write_rate = self.write_rate * self._factor if self.write_rate else None
            if write:
                if write_rate:
                    start = max(start, self._next_write - (self.write_burst - 1) / write_rate)
                start = self._fit_windows(start, now)
            if rate:
                self._next = max(self._next, start) + 1.0 / rate
            if write:
                if write_rate:
                    self._next_write = max(self._next_write, start) + 1.0 / write_rate
                for times in self._windows:
                    times.append(start)
                self.writes += 1
            self.requests += 1
            self._recent.append(start)
            self._local.sent = start
            return start

    def _fit_windows(self, start: float, now: float) -> float:
        """The earliest time at or after ``start`` that every sliding window has room."""
        changed = True
        while changed:
            changed = False
            for (count, seconds), times in zip(self.write_windows, self._windows, strict=True):
                while times and times[0] <= now - seconds:
                    times.popleft()
                inside = [t for t in times if t > start - seconds]
                if len(inside) >= count:
                    start = inside[len(inside) - count] + seconds
                    changed = True
        return start

    def wait(self, write: bool = False) -> float:
        """Block until this caller may send its request; returns the seconds waited."""
        start = self.reserve(write)
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            with self._lock:
                self.waited += delay
            return delay
        return 0.0

    def observe(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        """Learn from an answer: 429/secondary limits hold and slow, near-limit slows, 2xx recovers."""
        h = {k.lower(): v for k, v in (headers or {}).items()}
        retry_after = retry_after_seconds(h.get("retry-after"))
        exhausted = h.get("x-ratelimit-remaining") == "0"
        reset = _epoch_reset(h.get("x-ratelimit-reset")) if exhausted else None
        if status == 429 or (status == 403 and (retry_after is not None or exhausted)):
            self.penalise(retry_after if retry_after is not None else (reset or 1.0))
        elif retry_after is not None and status >= 500:
            self.hold(retry_after)
        elif exhausted and reset:
            self.hold(reset)  # a primary limit used up: wait for its window to reset
        elif h.get("x-ratelimit-nearlimit", "").lower() == "true":
            self.slow_down()
        elif 200 <= status < 400:
            self.recover()

    def hold(self, seconds: float) -> None:
        """Start nothing for ``seconds`` (every caller)."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + max(0.0, seconds))

    def penalise(self, retry_after: float | None = None) -> None:
        """A rate limit tripped: hold everyone for Retry-After and halve the pace."""
        self.hold(retry_after if retry_after is not None else 1.0)
        with self._lock:
            self.penalties += 1
            self._slow(0.5)

    def slow_down(self) -> None:
        """The tracker says the budget is nearly spent: slow down by a fifth."""
        with self._lock:
            self.near_limits += 1
            self._slow(0.8)

    def _slow(self, by: float) -> None:
        # A 429 for a request sent before the last slow-down says nothing new (it was sent
        # at the old pace): slowing again for each of them would throttle a tracker to its
        # floor at once. Once per round trip, as TCP does; once a second if the caller's
        # request is unknown.
        now = time.monotonic()
        sent = getattr(self._local, "sent", None)
        if sent is not None:
            if sent < self._slowed_at:
                return
        elif now - self._slowed_at < 1.0:
            return
        self._slowed_at = now
        # Writes: a share of the configured write budget (GitHub's), down to a sixteenth.
        self._factor = max(self._factor * by, 1 / 16)
        # Requests: slower than the slowest of the configured rate, the pace imposed since
        # the last slow-down and the pace actually observed (a configured rate far above
        # what the tracker takes would otherwise make halving it do nothing).
        known = [r for r in (self.rate, self._dynamic, self._observed_rate()) if r]
        if known:
            base = min(known)
            self._ceiling = self._ceiling or base
            self._tripped = base
            self._dynamic = max(base * by, self._ceiling / 16)

    def _observed_rate(self) -> float | None:
        now = time.monotonic()
        recent = [t for t in self._recent if now - 10.0 <= t <= now]
        if len(recent) < 2:
            return None
        # Over a quarter of a second at least: a burst at start-up is not a sustained pace.
        span = max(now - recent[0], 0.25)
        return len(recent) / span

    def recover(self) -> None:
        """A success: win back a little of the pace lost to earlier slow-downs."""
        if self._factor >= 1.0 and self._dynamic is None:
            return
        with self._lock:
            self._factor = min(1.0, self._factor * 1.02)
            if self._dynamic is not None:
                # Back quickly (2 % a success) to just under the pace that tripped the limit,
                # then probe beyond it slowly (+1 request a second per second of successes),
                # as TCP does; a configured (documented) rate is gone back to once reached.
                if self._dynamic < 0.9 * self._tripped:
                    self._dynamic *= 1.02
                else:
                    self._dynamic += 1.0 / self._dynamic
                if self.rate and self._dynamic >= self.rate:
                    self._dynamic, self._ceiling = None, None

    @property
    def pace(self) -> float | None:
        """Requests a second allowed now (None: not limited)."""
        return self._request_rate()

    def min_seconds(self, writes: int, requests: int) -> float:
        """How long ``writes`` more writes among ``requests`` more requests take at least."""
        bound = 0.0
        rate = self._request_rate()
        if rate and requests > self.burst:
            bound = (requests - self.burst) / rate
        if self.write_rate and writes > self.write_burst:
            bound = max(bound, (writes - self.write_burst) / (self.write_rate * self._factor))
        now = time.monotonic()
        for (count, seconds), times in zip(self.write_windows, self._windows, strict=True):
            room = count - sum(1 for t in times if t > now - seconds)
            if writes > room:
                # Each further full window's worth waits for the window to slide past.
                bound = max(bound, -(-(writes - room) // count) * seconds)
        return max(bound, self._hold_until - now)

    def stats(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "writes": self.writes,
            "waited": round(self.waited, 3),
            "penalties": self.penalties,
            "near_limits": self.near_limits,
        }


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _epoch_reset(value: str | None) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` given in epoch seconds (GitHub)."""
    try:
        reset = float(value) if value is not None else None
    except ValueError:
        return None
    if reset is None or reset < 1e9:
        return None
    return max(0.0, min(reset - time.time(), 3600.0))


@dataclass(frozen=True)
class Limits:
    """A tracker's documented budget (None: no limit of that kind)."""

    requests_per_second: float | None = None
    writes_per_second: float | None = None
    writes_per_minute: int | None = None
    writes_per_hour: int | None = None
    burst: int = 1


# The trackers' documented limits: GitHub asks for about one content-creating
# request a second and allows 80 a minute and 500 an hour (secondary limits);
# Notion allows an average of three requests a second with short bursts; Jira
# Cloud publishes no fixed rate, so it is paced by its 429 and near-limit signals.
DEFAULT_LIMITS: dict[str, Limits] = {
    "github": Limits(writes_per_second=1.0, writes_per_minute=80, writes_per_hour=500),
    "notion": Limits(requests_per_second=3.0, burst=3),
    "jira": Limits(),
}

_LIMIT_FIELDS = (
    "requests_per_second",
    "writes_per_second",
    "writes_per_minute",
    "writes_per_hour",
    "burst",
)


def limits_for(type_name: str, settings: Any = None) -> Limits:
    """The type's documented limits with any ``[trackers.NAME]`` override applied (0: no limit)."""
    base = DEFAULT_LIMITS.get(type_name, Limits())
    overrides: dict[str, Any] = {}
    for key in _LIMIT_FIELDS:
        value = getattr(settings, key, None) if settings is not None else None
        if value is not None:
            overrides[key] = (value or None) if key != "burst" else max(1, int(value))
    return replace(base, **overrides)


_PACERS: dict[str, tuple[Limits, Pacer]] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(name: str, settings: Any) -> Pacer:
    """The process-wide pacer of tracker ``name`` (one budget for every worker and engine).

    ``settings`` is the adapter's validated ``[trackers.NAME]`` model: its
    ``type`` picks the documented defaults, and ``requests_per_second``,
    ``writes_per_second``, ``writes_per_minute``, ``writes_per_hour`` and
    ``burst`` override them.
    """
    limits = limits_for(str(getattr(settings, "type", "")), settings)
    with _PACERS_LOCK:
        known = _PACERS.get(name)
        if known is not None and known[0] == limits:
            return known[1]
        pacer = Pacer.from_limits(limits, name=name)
        _PACERS[name] = (limits, pacer)
        return pacer
