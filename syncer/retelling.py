"""``serve``'s own retries of the channels: what a failing channel left in the journal is told
again, with backoff, by whichever replica gets to it first, and never by two at once.

When a channel fails during ``serve`` (Slack down, a 429 asking for ten minutes, a network
error), the teller journals the incident under the channel's name with all it needs to be told
again (the trackers' links, the postmortem's) and whether it is worth a retry: a retryable
failure is tried again ``backoff(attempts)`` after the entry was written, or after Retry-After
when that is longer; one that needs a person (a missing scope, the app not in the channel)
waits for ``retry`` or the incident's next sync. A thread of ``serve`` reads the journal's
channel entries and tells each one again once it is due, through the teller's own look, plan
and do, so that nothing already there is posted twice. Tracker work and the webhooks' 202s
never wait for it: it has its own thread, and tells on the channels' own clients.

Several replicas on one PostgreSQL state share the journal. A retry reads its entry again under
the incident's channel lock (the teller's, an advisory lock in PostgreSQL) and goes on only if
nobody wrote the entry since it was planned on (its ``updated`` is unchanged): of the replicas
due at once, one tells and the others find it done or rescheduled. An entry whose tell started
and never finished (a stop, a crash, a replica gone) is taken up once ``grace`` has passed, and
at once on start-up for entries from before this process started.

Waits run on the policy's clock (a test's fake clock moves at once), in slices of ``poll``
seconds, so that a stop or an entry due sooner is noticed; with nothing scheduled the thread
sleeps until woken (a failure journaled here) or for ``poll`` (entries other replicas wrote).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from syncer.engine.options import Result
from syncer.errors import SyncerError
from syncer.retry import Policy
from syncer.secrets import redact
from syncer.state import Pending
from syncer.telling import Teller

log = logging.getLogger("syncer.telling")

MAX_BACKOFF = 600.0  # seconds between two retries of one channel at most (Retry-After aside)
BUG_HOLD = 60.0  # seconds an entry rests after an unexpected error in its retry


class Retrier:
    """Tells channels again what the journal keeps for them, when due (see the module)."""

    def __init__(
        self,
        teller: Teller,
        *,
        policy: Policy,
        poll: float,
        grace: float,
        on_result: Callable[[str, Result | None], None] | None = None,
    ) -> None:
        if teller.state is None:
            raise ValueError("retries need the journal: a teller with a state")
        self.teller, self.state, self.policy = teller, teller.state, policy
        self.poll, self.grace, self._on_result = poll, grace, on_result
        self._cond = threading.Condition()
        self._woken = False
        self._stopping = False
        self._left = -1  # entries scheduled at the last pass (-1: no pass yet)
        self._begun = self._done = 0  # passes begun, and the last one finished
        # Entries not to retry (until when): their copy does not validate, or a bug met them.
        self._held: dict[tuple[str, str, float], float] = {}
        self._started = 0.0
        self._thread = threading.Thread(target=self._loop, name="channel-retries", daemon=True)

    def start(self) -> None:
        self._started = self.policy.clock.time()
        self._thread.start()

    def alive(self) -> bool:
        """Whether the retrying loop runs (False before start, after stop, or if it died)."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """A channel's failure was journaled here: plan its retry now rather than at the poll."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()  # also wakes wait_until's callers, to check again

    def stop(self, timeout: float) -> None:
        """Start no more retries; wait up to ``timeout`` s for the one under way."""
        with self._cond:
            self._stopping = self._woken = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def settled(self, timeout: float) -> bool:
        """Wait until a pass begun after this call found nothing left to retry (entries that
        wait for a person aside): for ``stop``'s callers and tests. False on timeout."""
        with self._cond:
            after = self._begun
            self._woken = True
            self._cond.notify_all()
        return self.wait_until(lambda: self._done > after and self._left == 0, timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate`` holds, checked after each pass and each journaled failure."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def due(self, entry: Pending) -> float | None:
        """When ``entry`` is retried (epoch seconds), or None if it waits for a person."""
        if entry.options.get("retry") in ("auto", "manual"):
            return next_retry(entry, self.policy.base)
        # A tell that started and has not finished: in flight, or cut short by a stop or a crash.
        return entry.updated if entry.updated < self._started else entry.updated + self.grace

    # The loop.

    def _loop(self) -> None:
        clock = self.policy.clock
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._woken = False
            try:
                next_at = self._pass()
            except Exception as exc:  # the state is unreachable: try again at the next poll
                log.error("channel retries: %s", redact(str(exc)))
                next_at = None
            if next_at is not None:
                clock.sleep(max(0.0, min(next_at - clock.time(), self.poll)))
                continue
            with self._cond:
                if not self._woken and not self._stopping:
                    self._cond.wait(self.poll)

    def _pass(self) -> float | None:
        """Tell again every due entry; returns when the next one is due (None: none is)."""
        with self._cond:
            self._begun += 1
            number = self._begun
        channels = self.teller.channels
        entries = [p for p in self.state.journal() if p.tracker in channels]
        now = self.policy.clock.time()
        waiting = [e for e in entries if self._held.get(_key(e), 0.0) <= now]
        scheduled = [(at, e) for e in waiting if (at := self.due(e)) is not None]
        next_at: float | None = None
        for at, entry in scheduled:
            if at > self.policy.clock.time():
                next_at = at if next_at is None else min(next_at, at)
                continue
            with self._cond:
                if self._stopping:
                    return None
            self._retell(entry)
            next_at = self.policy.clock.time()  # read again: the entry was done or rewritten
        with self._cond:
            self._left, self._done = len(scheduled), number
            self._cond.notify_all()
        return next_at

    def _retell(self, entry: Pending) -> None:
        name, incident_id = entry.tracker, entry.incident_id
        try:
            result = self.teller.retell(entry)
        except SyncerError as exc:  # the journal's copy no longer validates: a person's call
            self._held[_key(entry)] = math.inf
            log.error("%s: %s: not retried: %s", name, incident_id, redact(str(exc)))
            return
        except Exception:  # a bug (or the state gone) must not stop every other incident's
            self._held[_key(entry)] = self.policy.clock.time() + BUG_HOLD
            log.exception("%s: %s: unexpected error in a retry", name, incident_id)
            return
        if result is not None:
            log.info("%s: %s retried: %s", name, incident_id, result.error or "told")
        if self._on_result is not None:
            self._on_result(name, result)


def next_retry(entry: Pending, base: float) -> float | None:
    """When ``serve`` tells a failed channel's ``entry`` again (epoch seconds): a backoff from
    ``base`` that doubles with each failed attempt (``MAX_BACKOFF`` at most), or Retry-After
    when that is longer. None if it waits for a person (the failure was not retryable)."""
    if entry.options.get("retry") != "auto":
        return None
    backoff = base * 2 ** min(entry.attempts - 1, 30)
    wait = max(min(MAX_BACKOFF, backoff), float(entry.options.get("retry_after") or 0))
    return entry.updated + wait


def _key(entry: Pending) -> tuple[str, str, float]:
    return entry.tracker, entry.incident_id, entry.updated
