"""The one retry loop of a target (a tracker or a channel) for one incident.

Attempt; after a retryable failure wait on the policy's clock (at least what
Retry-After asked), look again and re-plan, never repeating a write blindly;
on give-up record the error in the result and journal what the target still
needs. The tracker reconciler (:mod:`syncer.engine.reconcile`) and the channel
teller (:mod:`syncer.telling`) both run their attempts through :func:`settle`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from syncer.engine.options import Options, Result
from syncer.errors import LookupFailed, TrackerError
from syncer.logs import OUTCOME
from syncer.model import Incident
from syncer.retry import Policy, delay
from syncer.secrets import redact
from syncer.state import State

log = logging.getLogger("syncer.engine")


def journal_options(options: Options) -> dict[str, Any]:
    """What the journal keeps of the options, for ``retry``."""
    return {"postmortem": options.postmortem, "historical": options.historical}


def settle(
    name: str,
    incident: Incident,
    options: Options,
    result: Result,
    once: Callable[[], bool],
    *,
    policy: Policy,
    state: State | None,
    look_again: Callable[[], None] = lambda: None,
    start_over: tuple[type[TrackerError], ...] = (),
    long_waits: bool = True,
    kept: Callable[[TrackerError], dict[str, Any]] | None = None,
) -> TrackerError | None:
    """Run ``once`` until it succeeds or the policy gives up; returns the error given up on.

    ``once`` does one look-plan-do and returns whether the target's journal entry is
    finished (a tracker deferred to phase 2 is not). After a retryable error it is run
    again once ``look_again`` has refreshed what it reads; an error of ``start_over``
    (an older issue turned up) goes again at once. ``long_waits``: a Retry-After beyond
    the policy's ``max_retry_after`` is waited (capped there); without it such an answer
    ends the attempts at once (the journal keeps the work). On give-up the error goes
    into ``result`` and the journal keeps the incident under ``name`` with
    :func:`journal_options` plus ``kept(error)``.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            finished = once()
        except TrackerError as exc:
            more = attempt < policy.attempts
            if isinstance(exc, start_over) and more:
                log.info("%s: %s", name, exc)
                look_again()
                continue
            patient = long_waits or (exc.retry_after or 0) <= policy.max_retry_after
            if exc.retryable and patient and not options.dry_run and more:
                wait = delay(policy, attempt, exc)
                log.info("%s: %s; reading again and re-planning in %.2fs", name, exc, wait)
                policy.clock.sleep(wait)
                look_again()
                continue
            give_up(name, incident, options, result, exc, state, kept)
            return exc
        if state is not None and not options.dry_run and finished:
            state.journal_done(name, incident.id)
        return None


def give_up(
    name: str,
    incident: Incident,
    options: Options,
    result: Result,
    exc: TrackerError,
    state: State | None,
    kept: Callable[[TrackerError], dict[str, Any]] | None = None,
) -> None:
    """Record ``exc`` in ``result`` and journal the incident for ``name``."""
    # The target is named beside the error already: don't say it twice.
    code = f" (HTTP {exc.status})" if exc.status else ""
    result.error = redact(exc.message + code)
    result.retryable = exc.retryable or isinstance(exc, LookupFailed)
    log.warning("%s: %s", name, result.error, extra=OUTCOME)
    if state is not None and not options.dry_run:
        extra = kept(exc) if kept is not None else {}
        state.journal_put(
            name,
            incident.id,
            options.command,
            incident.to_data(),
            journal_options(options) | extra,
            error=result.error,
        )
