"""The state store: :class:`State` (the protocol) and :func:`open_state` (the configured backend).

``[syncer].state`` is a SQLite file (the default, one machine) or a
``postgresql://`` DSN; ``state_url_env`` names a variable holding the DSN
(the only way to give it a password). See :mod:`syncer.state.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncer.state.base import (
    DONE,
    FAILED,
    PENDING,
    Delivery,
    DeliveryJournal,
    Pending,
    State,
    SyncMark,
)

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.state.sql import Now

__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "Delivery",
    "DeliveryJournal",
    "Pending",
    "State",
    "SyncMark",
    "open_state",
]


def open_state(config: Config, *, clock: Now | None = None) -> State:
    """The state ``config`` names, migrated to this release's schema."""
    url = config.state_url()
    if url is None:
        from syncer.state.sqlite import SQLiteState

        return SQLiteState(config.state_path(), clock)
    from syncer.state.postgres import PostgresState

    # Enough for every thread that may hold an incident lock at once, plus the accepting side.
    threads = max(config.syncer.concurrency, config.backfill.concurrency, config.serve.workers)
    return PostgresState(url, schema=config.syncer.state_schema, pool_size=threads + 4, clock=clock)
