"""A request held up between the pacer and the socket, against the fake Notion's bucket.

The pacer hands out a slot; the request then reaches the tracker when the process gets to
send it, which on a loaded machine can be long after the slot. Notion counts it when it
arrives, among the requests sent later. These tests run notion-client (through NotionApi,
as the adapter does) against the fake Notion enforcing Notion's three requests a second with
a burst of three, the pacer at exactly that budget, everything on the fake clock: one request
is held up for two seconds after its slot while another thread keeps sending.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from adapters.notion.client import NotionApi
from adapters.notion.settings import NotionSettings
from syncer.errors import TrackerError
from syncer.pacing import Pacer
from tests.fakes.clock import FakeClock
from tests.fakes.notion import TOKEN, FakeNotion, notion_tracker

RATE, BURST, HELD = 3.0, 3, 2.0


class SendTimesOnly(Pacer):
    """The pacer as it was before requests counted until their answer: the bucket is kept at
    the times requests leave the pacer, and a request on its way is forgotten."""

    def _arrivals_allow(self, start: float, rate: float) -> float:
        return start

    def _await_answer(self) -> None:
        return


@pytest.fixture
def notion(clock: FakeClock) -> Iterator[FakeNotion]:
    app = FakeNotion(rate_limit=RATE, burst=BURST)  # Notion's bucket, on the fake clock
    app.start()
    try:
        yield app
    finally:
        app.stop()


def held_up_once(app: FakeNotion, clock: FakeClock, pacer: Pacer, sends: int) -> list[int]:
    """One request is held for ``HELD`` seconds between its slot and the socket; meanwhile
    another thread waits out those seconds, then sends ``sends`` requests. The held one
    reaches the tracker (and is answered) just before the first of them that the pacer did
    not let go at once, the bunch the pacer let go at once being past. Returns the statuses
    the sender got."""
    settings = NotionSettings.model_validate(notion_tracker(app))
    api = NotionApi("notion", settings, SecretStr(TOKEN), pacer)
    on_its_way, go_on = threading.Event(), threading.Event()
    bunch_until = float("inf")

    def read() -> int:
        try:
            api.call("read the database", lambda: api.client.databases.retrieve(app.db_id))
        except TrackerError as exc:
            assert exc.status is not None
            return exc.status
        return 200

    late = threading.Thread(target=read)

    def between_pacer_and_socket(request: object) -> None:
        if threading.current_thread() is late:
            on_its_way.set()
            assert go_on.wait(timeout=30)  # descheduled: its slot is long past
        elif clock.monotonic() > bunch_until and not go_on.is_set():
            go_on.set()  # the held request goes out first and is answered
            late.join(timeout=30)

    api.client.client.event_hooks["request"].append(between_pacer_and_socket)
    late.start()
    assert on_its_way.wait(timeout=30)
    clock.sleep(HELD)
    bunch_until = clock.monotonic() + 0.1
    statuses = [read() for _ in range(sends)]
    assert go_on.is_set() and not late.is_alive()
    return statuses


def arrivals(app: FakeNotion, since: float) -> Counter[float]:
    """How many requests reached the tracker (and were let in) at each instant."""
    return Counter(round(e.at - since, 3) for e in app.log if e.status == 200)


def most_in_a_second(app: FakeNotion) -> int:
    """The most requests let in during any one second (both ends counted)."""
    times = sorted(e.at for e in app.log if e.status == 200)
    return max(sum(1 for t in times if at <= t <= at + 1.0 + 1e-9) for at in times)


def test_a_request_held_up_on_its_way_still_finds_room_in_notions_bucket(
    notion: FakeNotion, clock: FakeClock
) -> None:
    start = clock.monotonic()
    pacer = Pacer(RATE, BURST, name="notion")
    statuses = held_up_once(notion, clock, pacer, sends=9)
    assert statuses == [200] * 9
    assert [e.status for e in notion.log] == [200] * 10  # no 429
    # The held request counted as on its way all along: the sender got two of the three
    # at once, the held one arrived with the third, then one every third of a second.
    assert arrivals(notion, start) == {2.0: 2, 2.333: 2, 2.667: 1, 3.0: 1, 3.333: 1, 3.667: 1,
                                       4.0: 1, 4.333: 1}  # fmt: skip
    # At 100 % of the bucket: its three and three more as it refills over a second, the
    # last of them a microsecond past the second (a slot lands just past its bound).
    assert most_in_a_second(notion) == BURST + RATE - 1
    assert pacer.in_flight == 0 and pacer.answers == pacer.requests == 10


def test_a_pacer_that_forgets_requests_on_their_way_overfills_the_bucket(
    notion: FakeNotion, clock: FakeClock
) -> None:
    """The same run with the bucket kept at the times requests left the pacer: the held
    request arrives among a full bunch of later ones, and Notion answers 429."""
    start = clock.monotonic()
    statuses = held_up_once(notion, clock, SendTimesOnly(RATE, BURST, name="notion"), sends=9)
    assert statuses.count(429) == 1
    assert arrivals(notion, start)[2.0] == 3  # the whole burst at once, the held one after
