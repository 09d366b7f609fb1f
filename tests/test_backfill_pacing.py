"""The shared request budget: token buckets, sliding windows, 429 and near-limit reactions."""

from __future__ import annotations

import bisect
import itertools
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from syncer.errors import retry_after_seconds
from syncer.pacing import Limits, Pacer, limits_for, pacer_for
from tests.fakes.clock import FakeClock
from tests.procs import GUARD, wait_until


def gaps(starts: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(starts)]


def most_in_a_window(sent: list[float], seconds: float) -> int:
    """The most requests a tracker counting both ends of a ``seconds`` window saw at once."""
    times = sorted(sent)
    return max(
        bisect.bisect_right(times, t) - bisect.bisect_left(times, t - seconds) for t in times
    )


def conforms(sent: list[float], rate: float, burst: int) -> bool:
    """Whether a token bucket of ``burst`` tokens refilled at ``rate`` a second took every request."""
    tat = float("-inf")
    for t in sorted(sent):
        if t < tat - (burst - 1) / rate - 1e-9:
            return False
        tat = max(tat, t) + 1 / rate
    return True


def senders(pacer: Pacer, threads: int, each: int, write: bool = True) -> list[float]:
    """``threads`` threads sending ``each`` requests through one pacer: when each went."""
    sent: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(each):
            at = pacer.wait(write=write)
            pacer.observe(201)  # answered at once
            with lock:
                sent.append(at)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sent


def test_requests_are_spaced_at_the_rate_after_the_burst(clock: FakeClock) -> None:
    pacer = Pacer(10.0, burst=3)
    starts = [pacer.wait() for _ in range(8)]
    # Three back to back, then one every 0.1 s: 100 % of the rate, not a hair less.
    assert starts[:3] == [1000.0] * 3
    assert gaps(starts[3:]) == pytest.approx([0.1] * 4, abs=1e-5)
    assert starts[-1] - starts[0] == pytest.approx(0.5, abs=1e-5)
    assert clock.slept == pytest.approx(0.5, abs=1e-5)


def test_writes_have_their_own_budget_and_reads_are_not_held_by_it(clock: FakeClock) -> None:
    pacer = Pacer(write_rate=5.0)
    writes = [pacer.wait(write=True) for _ in range(4)]
    read = pacer.wait()
    assert gaps(writes) == pytest.approx([0.2] * 3, abs=1e-5)
    assert read == clock.monotonic() == writes[-1]  # the read went at once


def test_sliding_windows_hold_exactly_their_count(clock: FakeClock) -> None:
    pacer = Pacer(write_windows=((4, 1.0), (6, 10.0)))
    starts = [pacer.wait(write=True) for _ in range(20)]
    # Every window full to its count, never beyond it; each new slot a microsecond after
    # the oldest one left the window (trackers count both ends).
    assert most_in_a_window(starts, 1.0) == 4 and most_in_a_window(starts, 10.0) == 6
    assert starts[4] - starts[0] == pytest.approx(1.0, abs=1e-5)
    assert starts[6] - starts[0] == pytest.approx(10.0, abs=1e-5)
    assert starts[-1] - starts[0] == pytest.approx(30.0, abs=1e-4)


def test_one_budget_is_shared_by_every_thread(clock: FakeClock) -> None:
    pacer = Pacer(100.0, burst=5, write_rate=40.0, write_windows=((10, 0.5),))
    sent = senders(pacer, threads=6, each=30)
    assert len(sent) == 180 and pacer.writes == 180
    # Threads sleeping at once each move the fake clock, so most wake late: whatever the
    # order they wake in, no bucket and no window ever took more than its share.
    assert conforms(sent, 100.0, 5) and conforms(sent, 40.0, 1)
    assert most_in_a_window(sent, 0.5) <= 10


class StallingClock(FakeClock):
    """Every sender goes to sleep for its slot; then the process stalls, and they all wake late."""

    def __init__(self, senders: int, stall: float) -> None:
        super().__init__()
        self.barrier = threading.Barrier(senders, action=lambda: self.stall(stall))
        self.first = threading.local()

    def sleep(self, seconds: float) -> None:
        if not getattr(self.first, "done", False):
            self.first.done = True
            self.barrier.wait(timeout=GUARD)  # a guard against a hang only
            return  # woke up after the stall, far past the slot
        super().sleep(seconds)


def test_slots_that_fell_due_during_a_stall_are_booked_again_not_sent_at_once() -> None:
    clock = StallingClock(senders=8, stall=5.0)
    pacer = Pacer(10.0, burst=3, write_windows=((4, 1.0),), clock=clock)
    first = [pacer.wait(write=True) for _ in range(3)]  # the burst, no sleeping
    pacer.observe(201)
    sent = first + senders(pacer, threads=8, each=3)
    # Eight slots fell due during the 5 s stall: the burst and the windows still hold, at
    # the times the requests really went.
    assert conforms(sent, 10.0, 3)
    assert most_in_a_window(sent, 1.0) == 4
    assert pacer.rebooked > 0
    after = sorted(sent)[3:]
    assert after[0] >= first[0] + 5.0


def test_a_write_counts_in_the_windows_until_its_answer_is_in(clock: FakeClock) -> None:
    pacer = Pacer(write_windows=((2, 1.0),))
    pacer.wait(write=True)  # answered at once
    pacer.observe(201)
    slow = pacer.wait(write=True)
    clock.stall(5.0)  # its answer takes 5 s: the tracker may have counted it at any time until then
    pacer.observe(201)
    landed = clock.monotonic()
    nxt = [pacer.wait(write=True) for _ in range(2)]
    assert slow + 5.0 == landed
    assert nxt[0] == landed  # room for one more beside the slow one
    assert nxt[1] == pytest.approx(landed + 1.0, abs=1e-5)  # then the slow one's window


def test_a_429_holds_everyone_for_retry_after_and_halves_the_pace(clock: FakeClock) -> None:
    pacer = Pacer(20.0)
    before = clock.monotonic()
    pacer.observe(429, {"Retry-After": "0.2"})
    assert pacer.penalties == 1
    assert pacer.pace == pytest.approx(10.0)
    assert pacer.wait() == pytest.approx(before + 0.2, abs=1e-5)
    for _ in range(200):
        pacer.observe(200, {})
    assert pacer.pace == pytest.approx(20.0)  # recovered, never beyond the configured rate


def test_a_429_during_the_sleep_holds_the_sleepers_too(clock: FakeClock) -> None:
    class Interrupted(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if pacer.penalties == 0:  # the answer to an earlier request came in meanwhile
                pacer.observe(429, {"Retry-After": "3"})

    fake = Interrupted()
    pacer = Pacer(1.0, clock=fake)
    first = pacer.wait()
    second = pacer.wait()  # booked for first + 1 s, woke into a 3 s hold
    assert second == pytest.approx(first + 1.0 + 3.0, abs=1e-5)


def test_near_limit_slows_down_an_unpaced_tracker_relative_to_its_observed_pace(
    clock: FakeClock,
) -> None:
    pacer = Pacer()
    assert not pacer.paced
    for _ in range(20):
        pacer.wait()
        clock.stall(0.005)
    pacer.observe(200, {"X-RateLimit-NearLimit": "true"})
    assert pacer.near_limits == 1 and pacer.paced
    a, b = pacer.wait(), pacer.wait()
    # Now spaced at 80 % of the observed pace (20 requests in 0.1 s, counted over 0.25 s at
    # least: a burst is not a sustained pace).
    assert b - a == pytest.approx(1 / (0.8 * 20 / 0.25), rel=1e-3)
    slowed = pacer._dynamic
    assert slowed is not None
    for _ in range(100):
        pacer.observe(200, {})
    # Successes win the pace back quickly to just under where the signal came, then probe
    # beyond it slowly (one request a second per second's worth of successes).
    tripped = slowed / 0.8
    assert pacer._dynamic is not None and 0.9 * tripped <= pacer._dynamic < tripped + 2


def test_github_secondary_limit_and_exhausted_primary_limit_hold(clock: FakeClock) -> None:
    pacer = Pacer(write_rate=1000.0)
    now = clock.monotonic()
    pacer.observe(403, {"retry-after": "0.15", "x-ratelimit-remaining": "12"})
    assert pacer.penalties == 1
    assert pacer.wait(write=True) == pytest.approx(now + 0.15, abs=1e-5)
    fresh = Pacer()
    reset = str(int(clock.time()) + 2)
    wait = float(reset) - clock.time()
    now = clock.monotonic()
    fresh.observe(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert fresh.wait() == pytest.approx(now + wait, abs=1e-5)
    assert fresh.penalties == 0  # a used-up primary window is waited out, not punished


def test_a_5xx_with_retry_after_holds_without_slowing(clock: FakeClock) -> None:
    pacer = Pacer(10.0)
    now = clock.monotonic()
    pacer.observe(503, {"Retry-After": "0.1"})
    assert pacer.pace == 10.0
    assert pacer.wait() == pytest.approx(now + 0.1, abs=1e-5)


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    now = datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == 30.0
    assert retry_after_seconds(later, now=now.timestamp() + 45) == 0.0  # already past


class _Settings:
    def __init__(self, type: str, **values: object) -> None:
        self.type = type
        for key, value in values.items():
            setattr(self, key, value)


def test_documented_defaults_and_overrides() -> None:
    from adapters.github import GitHubAdapter
    from adapters.jira import JiraAdapter
    from adapters.memory import MemoryAdapter
    from adapters.notion import NotionAdapter

    github = GitHubAdapter.default_limits
    assert github == Limits(writes_per_second=1.0, writes_per_minute=80, writes_per_hour=500)
    assert NotionAdapter.default_limits == Limits(requests_per_second=3.0, burst=3)
    assert JiraAdapter.default_limits == Limits() == MemoryAdapter.default_limits
    lifted = limits_for(github, _Settings("github", writes_per_hour=0, writes_per_second=50))
    assert lifted.writes_per_hour is None and lifted.writes_per_second == 50
    assert lifted.writes_per_minute == github.writes_per_minute


def test_one_pacer_per_tracker_name_until_its_limits_change() -> None:
    from adapters.github import GitHubAdapter

    limits = GitHubAdapter.default_limits
    a = pacer_for("gh-test", _Settings("github"), limits)
    assert pacer_for("gh-test", _Settings("github"), limits) is a
    b = pacer_for("gh-test", _Settings("github", writes_per_second=2), limits)
    assert b is not a and b.write_rate == 2


def test_the_memory_tracker_paces_its_writes(clock: FakeClock) -> None:
    from adapters.memory import MemoryAdapter, MemorySettings
    from syncer import config

    settings = MemorySettings(type="memory", store="paced", writes_per_second=50)
    adapter = MemoryAdapter("paced", settings, config.parse({}, None))
    for _ in range(6):
        adapter._call("write", "x")
    assert clock.slept == pytest.approx(0.1, abs=1e-5)  # five gaps of 20 ms
    assert adapter.pacer.writes == 6


def test_a_burst_of_429s_from_requests_in_flight_slows_down_once() -> None:
    pacer = Pacer(100.0)
    for _ in range(8):
        pacer.observe(429, {"Retry-After": "0"})
    assert pacer.penalties == 8
    assert pacer.pace == pytest.approx(50.0)  # halved once, not 2**8 times


def test_an_unpaced_tracker_is_never_slowed_below_a_sixteenth_of_its_pace(
    clock: FakeClock,
) -> None:
    pacer = Pacer()
    for _ in range(50):
        pacer.wait()
        clock.stall(0.002)
    for _ in range(10):
        pacer._slowed_at = float("-inf")  # as if each came a second apart
        pacer.penalise(0)
    ceiling = pacer._ceiling
    assert ceiling is not None and pacer._dynamic == pytest.approx(ceiling / 16)


def test_only_a_429_for_a_request_sent_at_the_new_pace_slows_down_again() -> None:
    pacer = Pacer(100.0)
    for _ in range(30):
        pacer.wait()  # a steady hundred a second
    pacer.observe(429, {"Retry-After": "0"})
    assert pacer.pace == pytest.approx(50.0)
    pacer.observe(429, {"Retry-After": "0"})  # the same (old) request's answer: nothing new
    assert pacer.pace == pytest.approx(50.0)
    pacer.wait()  # sent after the slow-down
    pacer.observe(429, {"Retry-After": "0"})
    assert pacer.pace == pytest.approx(25.0)


def fits_the_bucket(flights: list[tuple[float, float]], rate: float, burst: int) -> bool:
    """Whether a token bucket took every request, whenever each arrived between its sending
    and its answer: no window [a, e] saw more than ``burst + rate × (e - a)`` of them."""
    sends = sorted(sent for sent, _ in flights)
    answers = sorted(answered for _, answered in flights)
    for a in sends + answers:
        for e in sends:
            if e < a:
                continue
            inside = sum(1 for sent, answered in flights if sent <= e and answered >= a)
            if inside > burst + rate * (e - a) + 1e-6:
                return False
    return True


def test_the_bucket_holds_at_the_tracker_whenever_requests_arrive(clock: FakeClock) -> None:
    """A request may reach the tracker at any time until its answer: with answers taking
    from nothing to half a second, no choice of arrival times overfills the tracker's bucket."""
    import random

    pacer = Pacer(10.0, burst=3)
    flights: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(8):
            sent = pacer.wait()
            clock.sleep(rng.choice([0.0, 0.01, 0.2, 0.5]))  # on its way, then answered
            answered = clock.monotonic()
            pacer.observe(200)
            with lock:
                flights.append((sent, answered))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert len(flights) == 48 and pacer.in_flight == 0
    assert pacer.answers == pacer.requests == 48
    assert fits_the_bucket(flights, 10.0, 3)
    assert conforms([sent for sent, _ in flights], 10.0, 3)  # and at the times they were sent


def test_with_burst_requests_in_flight_a_caller_waits_for_an_answer(clock: FakeClock) -> None:
    pacer = Pacer(1000.0, burst=2)
    answer = threading.Event()
    sent: list[float] = []

    def slow() -> None:
        sent.append(pacer.wait())
        answer.wait()
        pacer.observe(200)

    holders = [threading.Thread(target=slow) for _ in range(2)]
    for t in holders:
        t.start()
    wait_until("two requests in flight", lambda: pacer.in_flight >= 2)

    def third_caller() -> None:
        sent.append(pacer.wait())
        pacer.observe(None)  # no answer came: it leaves the flight all the same

    held = threading.Event()

    class Watched(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            held.set()  # a caller waits for an answer: no slot can be free
            return super().wait(timeout)

    pacer._answer = Watched(pacer._lock)
    third = threading.Thread(target=third_caller)
    third.start()
    try:
        wait_until("the third caller to wait or go", lambda: held.is_set() or len(sent) == 3)
        assert held.is_set() and len(sent) == 2  # held: two requests in flight, no answer yet
    finally:
        answer.set()
    for t in [*holders, third]:
        t.join()
    assert len(sent) == 3 and sent[2] >= max(sent[:2])
    assert pacer.in_flight == 0 and pacer.answers == 3
