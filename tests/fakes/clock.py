"""A fake clock for the pacer, the retry waits and the fakes' rate limits: time moves only
when someone sleeps on it (or a test moves it), so a test of pacing takes no wall time and
counts requests per window exactly."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """:class:`syncer.clock.Clock` in virtual time: ``sleep(s)`` returns at once, the clock moved on.

    A sleep ends ``s`` after the time the sleeping thread last read (``start - monotonic()``
    then ``sleep``: it wakes at ``start``), or after now if it read nothing since its last
    sleep. Threads sleeping at once thus wake at their own times, the clock at the latest of
    them; one that read the clock before another moved it wakes late, as on a busy machine.
    ``stall(s)`` moves the clock without anyone sleeping (the process was descheduled).
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._epoch = time.time() - start  # time() starts at the real wall-clock time
        self._lock = threading.Lock()
        self._read = threading.local()
        self.slept = 0.0
        self.sleeps = 0

    def monotonic(self) -> float:
        with self._lock:
            self._read.at = self._now
            return self._now

    def time(self) -> float:
        return self.monotonic() + self._epoch

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                since = getattr(self._read, "at", None)
                self._read.at = None
                self._now = max(self._now, (self._now if since is None else since) + seconds)
                self.slept += seconds
                self.sleeps += 1
        time.sleep(0)  # let the other threads run, as a real sleep would

    def stall(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
