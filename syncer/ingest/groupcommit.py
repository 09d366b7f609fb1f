"""Group commit for ``serve``'s delivery journal: one transaction for what arrived together.

``serve`` answers 202 only once a delivery is committed. Committed one at a time,
each request would wait for a transaction of its own (on PostgreSQL, a flush of
the write-ahead log each), one after the other. Here the deliveries that reach the
journal together share one :meth:`~syncer.state.DeliveryJournal.add_many`, and each
request is answered once the commit that covers it is done: alone, a delivery is
committed at once; under load, the commits grow instead of the queue.

A local journal (SQLite: tens of microseconds a commit) is committed on the event
loop, once per turn of the loop for every request that reached it in that turn:
no thread hand-off. A shared one (PostgreSQL: a network round trip) is committed
by a writer thread, whatever queued up while its previous commit ran, so that the
event loop never waits for the network.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from syncer.state import DeliveryJournal

log = logging.getLogger("syncer.serve")

Item = tuple[str, str, bytes]  # source, group, body
_Waiter = tuple[Item, asyncio.AbstractEventLoop, "asyncio.Future[int]"]


class GroupCommit:
    """Journals deliveries from the event loop; each :meth:`add` returns once it is committed.

    ``max_batch`` bounds one transaction; ``on_commit`` is told how many deliveries
    each commit held (for the metrics).
    """

    def __init__(
        self,
        journal: DeliveryJournal,
        *,
        on_loop: bool = False,
        max_batch: int = 256,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.journal = journal
        self.on_loop = on_loop
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._turn: list[_Waiter] = []  # on_loop: the deliveries of this turn of the loop
        self._queue: deque[_Waiter] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    async def add(self, source: str, group: str, body: bytes) -> int:
        """The delivery's id, once the transaction holding it is committed (or its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if self.on_loop:
            if not self._turn:
                loop.call_soon(self._commit_turn)  # after the requests ready in this turn
            self._turn.append(((source, group, body), loop, future))
            return await future
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._start()
            self._queue.append(((source, group, body), loop, future))
            self._cond.notify()
        return await future

    def _start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="journal-commit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then end the writer thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _commit_turn(self) -> None:
        batch, self._turn = self._turn, []
        for start in range(0, len(batch), self.max_batch):
            part = batch[start : start + self.max_batch]
            _settle([(f, v) for (_, _, f), v in zip(part, self._ids(part), strict=True)])

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = [
                    self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))
                ]
            self._commit(batch)

    def _commit(self, batch: list[_Waiter]) -> None:
        # One hand-off per event loop for the whole batch, not one per request.
        answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], Any]]] = {}
        for (_, loop, future), value in zip(batch, self._ids(batch), strict=True):
            answers.setdefault(loop, []).append((future, value))
        for loop, settled in answers.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that loop is closed: nobody waits for these answers
                log.debug("journal commit: %d answers for a closed event loop", len(settled))

    def _ids(self, batch: list[_Waiter]) -> list[int | BaseException]:
        """The batch committed in one transaction: each delivery's id, or the error for all."""
        try:
            ids = self.journal.add_many([item for item, _, _ in batch])
        except Exception as exc:  # every request of the batch hears of it (503: retry later)
            return [exc] * len(batch)
        if self.on_commit is not None:
            self.on_commit(len(batch))
        return list(ids)


def _settle(settled: list[tuple[asyncio.Future[int], Any]]) -> None:
    for future, value in settled:
        if future.done():  # the request went away meanwhile (the delivery stays journaled)
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)
