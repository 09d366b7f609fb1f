"""Request pacing: one budget per tracker, shared by every thread of the process.

``Pacer`` spaces calls to a tracker so that all workers together stay under
its documented rate, at the times the requests really go out (a stall does not
bunch them); it slows down after a 429 and recovers gradually. It waits on a
:class:`~syncer.clock.Clock` (the system's unless a test injects a fake one).
Adapters get theirs from :func:`pacer_for` (one per tracker name, per
process), call ``pacer.wait(write=...)`` before each HTTP request and
``pacer.observe(status, headers)`` after each answer, or ``pacer.observe(None)``
when none came (a network failure, a timeout): a request counts against the
tracker's limits until its answer is observed.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from syncer.clock import Clock
from syncer.clock import current as current_clock
from syncer.errors import rate_limited, reset_seconds, retry_after_seconds

_EPS = 1e-6  # a slot lands a microsecond past the bound it waits for, never on it


class _Writes:
    """The writes the sliding windows count: landed, in flight, and slots handed out.

    A write counts in a window from when it is sent until its answer is in (the
    tracker saw it somewhere in between), so a request held up on its way out
    (a descheduled process, a slow connection) can never make a window overfull.
    A write whose answer is never reported counts until ``IN_FLIGHT_MAX`` passed.
    """

    IN_FLIGHT_MAX = 60.0  # twice the adapters' default timeout

    def __init__(self) -> None:
        self.landed: list[float] = []  # when each write's answer was in, ascending
        self.flying: dict[int, float] = {}  # key -> when it was sent
        self.booked: list[float] = []  # slots handed out, not yet sent, ascending
        self._keys = itertools.count()

    def count(self, since: float) -> int:
        """Writes that may have reached the tracker at or after ``since``."""
        return len(self.flying) + len(self.landed) - bisect.bisect_left(self.landed, since)

    def fit(
        self, start: float, now: float, windows: tuple[tuple[int, float], ...], with_booked: bool
    ) -> float:
        """The earliest time at or after ``start`` that every window has room.

        Writes in flight are taken to land now, and (``with_booked``) slots already
        handed out count as sent: a new caller lines up behind them. Trackers count
        both ends of a window, so a slot goes a microsecond after the oldest write
        in it leaves.
        """
        booked = self.booked if with_booked else []
        times = sorted([*self.landed, *([now] * len(self.flying)), *booked])
        changed = True
        while changed:
            changed = False
            for count, seconds in windows:
                inside = len(times) - bisect.bisect_left(times, start - seconds)
                if inside >= count:
                    start = times[len(times) - count] + seconds + _EPS
                    changed = True
        return start

    def book(self, start: float) -> None:
        bisect.insort(self.booked, start)

    def unbook(self, start: float) -> None:
        index = bisect.bisect_left(self.booked, start)
        if index < len(self.booked) and self.booked[index] == start:
            del self.booked[index]

    def send(self, now: float) -> int:
        key = next(self._keys)
        self.flying[key] = now
        return key

    def land(self, key: int, now: float) -> None:
        if self.flying.pop(key, None) is not None:
            bisect.insort(self.landed, now)

    def forget(self, now: float, horizon: float) -> None:
        """Drop what no window can see any more; writes never reported land at the limit."""
        for key, sent in list(self.flying.items()):
            if now - sent > self.IN_FLIGHT_MAX:
                del self.flying[key]
                bisect.insort(self.landed, sent + self.IN_FLIGHT_MAX)
        del self.landed[: bisect.bisect_left(self.landed, now - horizon)]


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

    A caller books a slot and sleeps until it. When it wakes, its request goes
    only if what was really sent leaves room for it, at the time it really
    goes: a caller that woke late (the process was descheduled, the machine
    stalled) and finds its slot taken books the next free one, keeping its
    place in line, instead of going with every other late caller at once.

    The tracker counts a request when it arrives, at some time between its
    sending and its answer, so the limits are kept at both ends: a request
    counts from when it is sent until its answer is observed (:meth:`observe`,
    or the thread's next :meth:`wait`). For a write, in the sliding windows;
    for every request, in the ``rate``/``burst`` bucket: the bucket is kept
    over the times the answers came in, each request still waiting for its
    answer counted as arriving now. So at most ``burst`` requests are in
    flight at once, and however long a request was held up on its way (a
    descheduled process, a slow connection) it cannot arrive among later ones
    and overfill the tracker's bucket. A caller that finds ``burst`` requests
    in flight waits for an answer. Time is read and slept on ``clock`` (the
    process's clock unless given; tests inject a fake one).

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
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.clock = clock or current_clock()
        self.rate = rate or None  # configured; the pace now may be lower (see ``pace``)
        self.burst = max(1, burst)
        self.write_rate = write_rate or None
        self.write_burst = max(1, write_burst)
        self.write_windows = tuple((int(n), float(s)) for n, s in write_windows if n and s)
        self._horizon = max((s for _, s in self.write_windows), default=0.0)
        self._lock = threading.Lock()
        # GCRA "theoretical arrival times": of the slots handed out (where the next waiter
        # is told to wake up) and of the requests sent (what the tracker has seen).
        self._booked_next = self._booked_next_write = 0.0
        self._sent_next = self._sent_next_write = 0.0
        self._writes = _Writes()
        # Every request sent and not yet answered (key -> when sent), and the GCRA time of
        # the answers: the ``rate``/``burst`` bucket as the tracker may have counted it.
        self._flying: dict[int, float] = {}
        self._answered_next = 0.0
        self._keys = itertools.count()
        self._answer = threading.Condition(self._lock)
        self._hold_until = 0.0
        self._factor = 1.0  # <1 after a 429 or a near-limit signal
        self._dynamic: float | None = None  # a rate imposed on an unpaced tracker
        self._slowed_at = float("-inf")
        self._tripped = 0.0  # the pace at the last slow-down
        self._local = threading.local()  # this thread's last request: when sent, write key
        self._ceiling: float | None = None
        self._recent: deque[float] = deque(maxlen=256)
        # Counters for summaries and benchmarks.
        self.requests = 0
        self.answers = 0  # requests whose answer (or its absence) :meth:`observe` was told
        self.writes = 0
        self.waited = 0.0
        self.rebooked = 0
        self.penalties = 0
        self.near_limits = 0

    @classmethod
    def from_limits(cls, limits: Limits, name: str = "", clock: Clock | None = None) -> Pacer:
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
            clock=clock,
        )

    @property
    def paced(self) -> bool:
        return bool(self.rate or self.write_rate or self.write_windows or self._dynamic)

    def _request_rate(self) -> float | None:
        rates = [r for r in (self.rate, self._dynamic) if r]
        return min(rates) if rates else None

    def _write_pace(self) -> float | None:
        return self.write_rate * self._factor if self.write_rate else None

    def _burst(self) -> int:
        return 1 if self._dynamic is not None else self.burst  # slowed down: no bursts

    def wait(self, write: bool = False) -> float:
        """Block until this caller's request may go; returns when it went (on :attr:`clock`).

        The request then counts as in flight until :meth:`observe` is called in this thread
        (or this thread waits again).
        """
        self._land()
        again = False
        while True:
            start = self._book(write, again)
            delay = start - self.clock.monotonic()
            if delay > 0:
                try:
                    self.clock.sleep(delay)
                except BaseException:
                    with self._lock:
                        self._writes.unbook(start)
                    raise
            sent = self._send(start, write, delay)
            if sent is not None:
                return sent
            again = True

    def _book(self, write: bool, again: bool) -> float:
        """A slot: after every slot handed out, or (``again``: it went by) the first free one."""
        with self._lock:
            self._await_answer()
            now = self.clock.monotonic()
            start = max(now, self._hold_until)
            rate = self._request_rate()
            if rate:
                tat = self._sent_next if again else max(self._booked_next, self._sent_next)
                start = _after(start, tat - (self._burst() - 1) / rate)
                if self.rate:
                    start = _after(start, self._arrivals_allow(start, rate))
            write_rate = self._write_pace()
            if write and write_rate:
                tat = self._sent_next_write
                if not again:
                    tat = max(tat, self._booked_next_write)
                start = _after(start, tat - (self.write_burst - 1) / write_rate)
            if write and self.write_windows:
                self._writes.forget(now, self._horizon)
                start = self._writes.fit(start, now, self.write_windows, with_booked=not again)
                self._writes.book(start)
            # A caller booking again keeps its place: no further slot is taken from the line.
            if rate:
                step = 0.0 if again else 1 / rate
                self._booked_next = max(self._booked_next + step, start + 1 / rate)
            if write and write_rate:
                step = 0.0 if again else 1 / write_rate
                self._booked_next_write = max(
                    self._booked_next_write + step, start + 1 / write_rate
                )
            return start

    def _send(self, start: float, write: bool, delay: float) -> float | None:
        """Send now if what was really sent leaves room (else None: book again)."""
        with self._lock:
            now = self.clock.monotonic()
            self.waited += max(0.0, delay)
            if write and self.write_windows:
                self._writes.unbook(start)
            if not self._room(now, write):
                self.rebooked += 1
                return None
            rate = self._request_rate()
            if rate:
                self._sent_next = max(self._sent_next, now) + 1 / rate
            self._local.request = key = next(self._keys)
            self._flying[key] = now
            if write:
                write_rate = self._write_pace()
                if write_rate:
                    self._sent_next_write = max(self._sent_next_write, now) + 1 / write_rate
                if self.write_windows:
                    self._local.flying = self._writes.send(now)
                self.writes += 1
            self.requests += 1
            self._recent.append(now)
            self._local.sent = now
            return now

    def _room(self, now: float, write: bool) -> bool:
        # Half the booking margin: a slot that lands a hair early through the rounding
        # of "now + (start - now)" still counts as on time.
        late = now + _EPS / 2
        if late < self._hold_until:
            return False
        rate = self._request_rate()
        if rate and late < self._sent_next - (self._burst() - 1) / rate:
            return False
        if rate and self.rate and late < self._arrivals_allow(now, rate):
            return False
        if not write:
            return True
        write_rate = self._write_pace()
        if write_rate and late < self._sent_next_write - (self.write_burst - 1) / write_rate:
            return False
        self._writes.forget(now, self._horizon)
        return all(self._writes.count(now - s) < n for n, s in self.write_windows)

    def _arrivals_allow(self, start: float, rate: float) -> float:
        """The earliest time the bucket has room at or after ``start``, as the tracker counts.

        Answered requests arrived at the latest when their answer came (the bucket is kept
        over those times, ``_answered_next``); those in flight may arrive now.
        """
        self._expire()
        flying = len(self._flying)
        return max(self._answered_next, start) + (flying - (self.burst - 1)) / rate

    def _await_answer(self) -> None:
        """While ``burst`` requests are in flight, wait for an answer (no slot can be free)."""
        while self.rate and self._expire() >= self.burst:
            self._answer.wait(timeout=1.0)

    def _expire(self) -> int:
        """Requests in flight; one never reported counts as answered after ``IN_FLIGHT_MAX``."""
        if self._flying:
            now = self.clock.monotonic()
            for key, sent in list(self._flying.items()):
                if now - sent > _Writes.IN_FLIGHT_MAX:
                    self._answered(key, sent + _Writes.IN_FLIGHT_MAX)
        return len(self._flying)

    def _answered(self, key: int, at: float) -> bool:
        """Request ``key`` was answered at ``at``: it counts in the bucket then (False: unknown)."""
        if self._flying.pop(key, None) is None:
            return False
        rate = self._request_rate()
        if rate and self.rate:
            self._answered_next = max(self._answered_next, at) + 1 / rate
        self._answer.notify_all()
        return True

    def _land(self) -> bool:
        """This thread's last request has its answer (False: it had none in flight)."""
        request = getattr(self._local, "request", None)
        key = getattr(self._local, "flying", None)
        if request is None and key is None:
            return False
        self._local.request = self._local.flying = None
        with self._lock:
            now = self.clock.monotonic()
            if key is not None:
                self._writes.land(key, now)
            return request is not None and self._answered(request, now)

    @property
    def in_flight(self) -> int:
        """Requests sent whose answer was not observed yet."""
        with self._lock:
            return len(self._flying)

    def observe(self, status: int | None, headers: Mapping[str, str] | None = None) -> None:
        """This thread's request has its answer (``status`` None: no answer came, say a
        network failure or a timeout); learn from it: 429/secondary limits hold and slow,
        near-limit slows, 2xx recovers.

        Every request must be observed: until then it counts against the limits as in
        flight, and ``burst`` requests in flight hold every other caller.
        """
        if self._land():
            with self._lock:
                self.answers += 1
        if status is None:
            return
        h = {k.lower(): v for k, v in (headers or {}).items()}
        retry_after = retry_after_seconds(h.get("retry-after"), now=self.clock.time())
        exhausted = h.get("x-ratelimit-remaining") == "0"
        reset = reset_seconds(h.get("x-ratelimit-reset"), self.clock.time()) if exhausted else None
        if rate_limited(status, h):
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
            until = self.clock.monotonic() + max(0.0, seconds)
            self._hold_until = max(self._hold_until, until)

    def penalise(self, retry_after: float | None = None) -> None:
        """A rate limit tripped: hold everyone for Retry-After and halve the pace."""
        self._land()
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
        now = self.clock.monotonic()
        sent = getattr(self._local, "sent", None)
        if sent is not None:
            if sent <= self._slowed_at:
                return
        elif now - self._slowed_at < 1.0:
            return
        self._slowed_at = now
        # Writes: a share of the configured write budget (GitHub's), down to a sixteenth.
        self._factor = max(self._factor * by, 1 / 16)
        # Requests: slower than the slowest of the configured rate, the pace imposed since
        # the last slow-down and the pace actually observed (a configured rate far above
        # what the tracker takes would otherwise make halving it do nothing).
        known = [r for r in (self.rate, self._dynamic, self._observed_rate(now)) if r]
        if known:
            base = min(known)
            self._ceiling = self._ceiling or base
            self._tripped = base
            self._dynamic = max(base * by, self._ceiling / 16)

    def _observed_rate(self, now: float) -> float | None:
        recent = [t for t in self._recent if now - 10.0 <= t <= now]
        if len(recent) < 2:
            return None
        # Over a quarter of a second at least: a burst at start-up is not a sustained pace.
        span = max(now - recent[0], 0.25)
        return len(recent) / span

    def recover(self) -> None:
        """A success: win back a little of the pace lost to earlier slow-downs."""
        self._land()
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
        now = self.clock.monotonic()
        for count, seconds in self.write_windows:
            room = count - self._writes.count(now - seconds)
            if writes > room:
                # Each further full window's worth waits for the window to slide past.
                bound = max(bound, -(-(writes - room) // count) * seconds)
        return max(bound, self._hold_until - now)

    def stats(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "answers": self.answers,
            "writes": self.writes,
            "waited": round(self.waited, 3),
            "penalties": self.penalties,
            "near_limits": self.near_limits,
        }


def _after(start: float, bound: float) -> float:
    """``start``, or a microsecond past ``bound`` if that is later (never exactly on it)."""
    return bound + _EPS if bound > start else start


@dataclass(frozen=True)
class Limits:
    """A tracker's documented budget (None: no limit of that kind)."""

    requests_per_second: float | None = None
    writes_per_second: float | None = None
    writes_per_minute: int | None = None
    writes_per_hour: int | None = None
    burst: int = 1


_LIMIT_FIELDS = (
    "requests_per_second",
    "writes_per_second",
    "writes_per_minute",
    "writes_per_hour",
    "burst",
)


def limits_for(defaults: Limits, settings: Any = None) -> Limits:
    """An adapter's documented limits with any ``[trackers.NAME]`` override applied (0: no limit)."""
    overrides: dict[str, Any] = {}
    for key in _LIMIT_FIELDS:
        value = getattr(settings, key, None) if settings is not None else None
        if value is not None:
            overrides[key] = (value or None) if key != "burst" else max(1, int(value))
    return replace(defaults, **overrides)


_PACERS: dict[str, tuple[Limits, Pacer]] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(name: str, settings: Any, defaults: Limits | None = None) -> Pacer:
    """The process-wide pacer of tracker ``name`` (one budget for every worker and engine).

    ``defaults`` are the adapter class's documented limits (``Adapter.default_limits``);
    ``settings`` is its validated ``[trackers.NAME]`` model, whose ``requests_per_second``,
    ``writes_per_second``, ``writes_per_minute``, ``writes_per_hour`` and ``burst``
    override them.
    """
    limits = limits_for(defaults or Limits(), settings)
    with _PACERS_LOCK:
        known = _PACERS.get(name)
        if known is not None and known[0] == limits:
            return known[1]
        pacer = Pacer.from_limits(limits, name=name)
        _PACERS[name] = (limits, pacer)
        return pacer
