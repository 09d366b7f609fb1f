"""The shared request budget: token buckets, sliding windows, 429 and near-limit reactions."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from syncer.retry import DEFAULT_LIMITS, Limits, Pacer, limits_for, pacer_for, retry_after_seconds


def gaps(starts: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(starts)]


def test_requests_are_spaced_at_the_rate_after_the_burst() -> None:
    pacer = Pacer(10.0, burst=3)
    starts = [pacer.reserve() for _ in range(8)]
    # Three back to back, then one every 0.1 s.
    assert starts[2] - starts[0] < 0.01
    assert all(g == pytest.approx(0.1, abs=0.005) for g in gaps(starts[3:]))
    assert starts[-1] - starts[0] == pytest.approx(0.5, abs=0.01)


def test_writes_have_their_own_budget_and_reads_are_not_held_by_it() -> None:
    pacer = Pacer(write_rate=5.0)
    writes = [pacer.reserve(write=True) for _ in range(4)]
    read = pacer.reserve()
    assert writes[-1] - writes[0] == pytest.approx(0.6, abs=0.01)
    assert read - writes[0] < 0.01  # reads go at once


def test_sliding_windows_never_allow_more_than_their_count() -> None:
    pacer = Pacer(write_windows=((4, 1.0), (6, 10.0)))
    starts = [pacer.reserve(write=True) for _ in range(10)]
    for i, t in enumerate(starts):
        assert sum(1 for u in starts[: i + 1] if u > t - 1.0) <= 4
        assert sum(1 for u in starts[: i + 1] if u > t - 10.0) <= 6
    assert starts[4] - starts[0] == pytest.approx(1.0, abs=0.01)
    assert starts[6] - starts[0] == pytest.approx(10.0, abs=0.01)


def test_one_budget_is_shared_by_every_thread() -> None:
    pacer = Pacer(write_rate=100.0)
    began = time.monotonic()

    def work() -> None:
        for _ in range(5):
            pacer.wait(write=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    assert 0.18 <= elapsed < 1.0  # 20 writes at 100/s: 19 gaps of 10 ms
    assert pacer.writes == 20 and pacer.waited > 0


def test_a_429_holds_everyone_for_retry_after_and_halves_the_pace() -> None:
    pacer = Pacer(20.0)
    before = time.monotonic()
    pacer.observe(429, {"Retry-After": "0.2"})
    assert pacer.penalties == 1
    assert pacer.pace == pytest.approx(10.0)
    assert pacer.reserve() - before >= 0.2
    for _ in range(200):
        pacer.observe(200, {})
    assert pacer.pace == pytest.approx(20.0)  # recovered, never beyond the configured rate


def test_near_limit_slows_down_an_unpaced_tracker_relative_to_its_observed_pace() -> None:
    pacer = Pacer()
    assert not pacer.paced
    for _ in range(20):
        pacer.wait()
        time.sleep(0.005)
    pacer.observe(200, {"X-RateLimit-NearLimit": "true"})
    assert pacer.near_limits == 1 and pacer.paced
    a, b = pacer.reserve(), pacer.reserve()
    assert b - a > 0.004  # now spaced, at most 80 % of the observed pace
    slowed = pacer._dynamic
    assert slowed is not None
    for _ in range(100):
        pacer.observe(200, {})
    # Successes win the pace back quickly to just under where the signal came, then probe
    # beyond it slowly (one request a second per second's worth of successes).
    tripped = slowed / 0.8
    assert pacer._dynamic is not None and 0.9 * tripped <= pacer._dynamic < tripped + 2


def test_github_secondary_limit_and_exhausted_primary_limit_hold() -> None:
    pacer = Pacer(write_rate=1000.0)
    now = time.monotonic()
    pacer.observe(403, {"retry-after": "0.15", "x-ratelimit-remaining": "12"})
    assert pacer.penalties == 1 and pacer.reserve(write=True) - now >= 0.15
    fresh = Pacer()
    reset = str(int(time.time()) + 2)
    now = time.monotonic()
    fresh.observe(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert fresh.reserve() - now >= 0.9
    assert fresh.penalties == 0  # a used-up primary window is waited out, not punished


def test_a_5xx_with_retry_after_holds_without_slowing() -> None:
    pacer = Pacer(10.0)
    now = time.monotonic()
    pacer.observe(503, {"Retry-After": "0.1"})
    assert pacer.pace == 10.0 and pacer.reserve() - now >= 0.1


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 27 <= (retry_after_seconds(later) or 0) <= 31


class _Settings:
    def __init__(self, type: str, **values: object) -> None:
        self.type = type
        for key, value in values.items():
            setattr(self, key, value)


def test_documented_defaults_and_overrides() -> None:
    assert limits_for("github") == Limits(
        writes_per_second=1.0, writes_per_minute=80, writes_per_hour=500
    )
    assert limits_for("notion").requests_per_second == 3.0
    assert limits_for("jira") == Limits() == limits_for("memory")
    lifted = limits_for("github", _Settings("github", writes_per_hour=0, writes_per_second=50))
    assert lifted.writes_per_hour is None and lifted.writes_per_second == 50
    assert lifted.writes_per_minute == DEFAULT_LIMITS["github"].writes_per_minute


def test_one_pacer_per_tracker_name_until_its_limits_change() -> None:
    a = pacer_for("gh-test", _Settings("github"))
    assert pacer_for("gh-test", _Settings("github")) is a
    b = pacer_for("gh-test", _Settings("github", writes_per_second=2))
    assert b is not a and b.write_rate == 2


def test_the_memory_tracker_paces_its_writes(tmp_path: object) -> None:
    from adapters.memory import MemoryAdapter, MemorySettings
    from syncer import config

    settings = MemorySettings(type="memory", store="paced", writes_per_second=50)
    adapter = MemoryAdapter("paced", settings, config.parse({}, None))
    began = time.monotonic()
    for _ in range(6):
        adapter._call("write", "x")
    assert time.monotonic() - began >= 0.09
    assert adapter.pacer.writes == 6


def test_a_burst_of_429s_from_requests_in_flight_slows_down_once() -> None:
    pacer = Pacer(100.0)
    for _ in range(8):
        pacer.observe(429, {"Retry-After": "0"})
    assert pacer.penalties == 8
    assert pacer.pace == pytest.approx(50.0)  # halved once, not 2**8 times


def test_an_unpaced_tracker_is_never_slowed_below_a_sixteenth_of_its_pace() -> None:
    pacer = Pacer()
    for _ in range(50):
        pacer.wait()
        time.sleep(0.002)
    for _ in range(10):
        pacer._slowed_at = float("-inf")  # as if each came a second apart
        pacer.penalise(0)
    ceiling = pacer._ceiling
    assert ceiling is not None and pacer._dynamic == pytest.approx(ceiling / 16)


def test_only_a_429_for_a_request_sent_at_the_new_pace_slows_down_again() -> None:
    pacer = Pacer(100.0)
    pacer.reserve()
    pacer.observe(429, {"Retry-After": "0"})
    assert pacer.pace == pytest.approx(50.0)
    pacer.observe(429, {"Retry-After": "0"})  # the same (old) request's answer: nothing new
    assert pacer.pace == pytest.approx(50.0)
    pacer.reserve()  # booked after the slow-down
    pacer.observe(429, {"Retry-After": "0"})
    assert pacer.pace == pytest.approx(25.0)
