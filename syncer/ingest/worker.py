"""``serve``'s workers: claim journaled deliveries under a lease, apply them, renew while working.

The delivery journal is the queue, shared by every replica on the same state:
a claim takes each group's oldest due delivery (one group at a time, in
arrival order; groups in parallel), the lease is renewed every third of its
length while the work lasts, and a replica that dies simply stops renewing,
so its deliveries go to the others once the lease has run out. A delivery
accepted here wakes the claiming loop at once; those accepted by other
replicas (or left by a dead one) are found by polling.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from syncer import secrets
from syncer.state import Delivery, DeliveryJournal

log = logging.getLogger("syncer.serve")


class Worker:
    """Claims deliveries for ``owner`` and runs ``handle`` on each in a pool of ``workers`` threads.

    ``handle`` finishes the delivery itself (done, failed, or another try
    later). An exception escaping it is a bug, not a verdict: the delivery
    stays pending with the error and its attempt counted, and is tried again
    after ``backoff(attempts)`` seconds.
    """

    def __init__(
        self,
        handle: Callable[[Delivery], None],
        deliveries: DeliveryJournal,
        workers: int,
        *,
        owner: str,
        lease: float,
        poll: float,
        backoff: Callable[[int], float],
    ) -> None:
        self._handle = handle
        self.deliveries = deliveries
        self.owner = owner
        self.lease = lease
        self.poll = poll
        self._backoff = backoff
        self._slots = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delivery")
        self._cond = threading.Condition()
        self._inflight: dict[int, Delivery] = {}
        self._woken = False
        self._drained = False
        self._claiming = True
        self._halt = False
        self._thread = threading.Thread(target=self._loop, name="delivery-claims", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A delivery was journaled here: look for work now rather than at the next poll.

        With every slot busy the claiming loop is not woken (a slot that frees wakes it):
        under a burst, one wake per accepted delivery would cost the event loop a thread
        switch each for nothing.
        """
        with self._cond:
            if self._woken:
                return
            self._woken = True
            if len(self._inflight) < self._slots or not self._claiming:
                self._cond.notify_all()

    def alive(self) -> bool:
        """Whether the claiming loop runs (False before start, after stop, or if it died)."""
        return self._thread.is_alive()

    def idle(self) -> bool:
        with self._cond:
            return not self._inflight

    def stop(self, timeout: float) -> None:
        """Keep applying what is claimable for up to ``timeout`` s, finish what is in flight.

        Whatever is left stays pending in the journal (for the next start, or
        another replica); this replica's claims are given back.
        """
        deadline = time.monotonic() if not self._thread.is_alive() else time.monotonic() + timeout
        with self._cond:
            self._drained, self._woken = False, True
            self._cond.notify_all()
            while not self._drained and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            self._claiming = False
            while self._inflight:
                self._cond.wait()
            self._halt = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=True)
        try:
            self.deliveries.release(self.owner)
        except Exception as exc:  # the leases run out by themselves
            log.warning("cannot give back the claimed deliveries: %s", secrets.redact(str(exc)))

    # The claiming loop.

    def _loop(self) -> None:
        try:
            self._claiming_loop()
        except BaseException:  # a bug: GET /healthz now answers 503, and the log says why
            log.critical("the delivery claiming loop stopped", exc_info=True)
            raise

    def _claiming_loop(self) -> None:
        renew_at = time.monotonic() + self.lease / 3
        while True:
            with self._cond:
                if self._halt:
                    return
                free = self._slots - len(self._inflight) if self._claiming else 0
                self._woken = False
            claimed = self._claim(free) if free > 0 else []
            for delivery in claimed:
                with self._cond:
                    self._inflight[delivery.id] = delivery
                self._pool.submit(self._run, delivery)
            if time.monotonic() >= renew_at:
                self._renew()
                renew_at = time.monotonic() + self.lease / 3
            with self._cond:
                self._drained = not claimed and not self._inflight
                self._cond.notify_all()
                if not self._woken and not self._halt:
                    self._cond.wait(max(0.0, min(self.poll, renew_at - time.monotonic())))

    def _claim(self, limit: int) -> list[Delivery]:
        try:
            return self.deliveries.claim(self.owner, limit, self.lease)
        except Exception as exc:  # the state is unreachable: try again at the next poll
            log.error("cannot claim deliveries: %s", secrets.redact(str(exc)))
            return []

    def _renew(self) -> None:
        with self._cond:
            ids = list(self._inflight)
        if not ids:
            return
        try:
            held = set(self.deliveries.renew(self.owner, ids, self.lease))
        except Exception as exc:
            log.error("cannot renew delivery leases: %s", secrets.redact(str(exc)))
            return
        with self._cond:
            lost = [i for i in ids if i not in held and i in self._inflight]
        if lost:
            log.warning(
                "deliveries %s: lease lost (this replica stalled for longer than the lease); "
                "another replica applies them too, which is harmless",
                ", ".join(map(str, lost)),
            )

    def _run(self, delivery: Delivery) -> None:
        try:
            self._handle(delivery)
        except Exception as exc:  # a bug must not cost the delivery: it stays pending
            log.exception("delivery %s: unexpected error", delivery.id)
            attempts = delivery.attempts + 1
            error = f"unexpected {type(exc).__name__}: {exc} (see the server log)"
            try:
                self.deliveries.attempt_failed(
                    delivery.id, error, self._backoff(attempts), owner=self.owner
                )
            except Exception:  # the lease runs out and another try follows
                log.exception("delivery %s: cannot record the error", delivery.id)
        finally:
            with self._cond:
                self._inflight.pop(delivery.id, None)
                self._woken = True
                self._cond.notify_all()
