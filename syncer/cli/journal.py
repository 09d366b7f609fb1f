"""``retry`` and ``journal``: finish and show what earlier commands left pending."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from syncer.app import engine_for
from syncer.cli.common import (
    config_option,
    echo_json,
    exit_code,
    handle_errors,
    load_config,
    print_results,
    tracker_option,
)

if TYPE_CHECKING:
    from syncer.state import Delivery, Pending


@click.command()
@tracker_option
@click.option("--channel", "channels", multiple=True, metavar="NAME", help="Only these channels.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per incident and tracker.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    metavar="N",
    help="Incidents in flight at once (default: [backfill] concurrency).",
)
@config_option
@handle_errors
def retry(
    trackers: tuple[str, ...], channels: tuple[str, ...], as_json: bool, concurrency: int | None
) -> None:
    """Finish whatever any earlier command left pending (a tracker or channel that failed, a crash).

    Each pending incident is synced again from the copy kept in the journal,
    on every configured tracker (so that the issues keep linking each other),
    then told to the channels; what is already done is found by its markers
    and not done twice. Requests are paced as in a backfill, and Ctrl-C stops
    starting new ones.

    \b
    Example:
      incident-syncer retry
    """
    from syncer import loader
    from syncer.backfill import Runner, Work
    from syncer.cli.backfill import sigint_stops
    from syncer.engine import Options, Result
    from syncer.progress import Progress
    from syncer.state import open_state

    config = load_config(required=True)
    state = open_state(config)
    only = set(trackers) | set(channels)
    pending = [p for p in state.journal() if not only or p.tracker in only]
    if not pending:
        click.echo("nothing pending")
        return
    targets = set(config.trackers) | set(config.channels)
    gone = sorted({p.tracker for p in pending} - targets)
    for tracker in gone:
        count = sum(1 for p in pending if p.tracker == tracker)
        click.echo(f"skipping {count} pending on {tracker!r}: no longer configured", err=True)
    # The newest copy of each incident; its sync covers every tracker that still needs it.
    newest: dict[str, Pending] = {}
    for item in pending:
        if item.tracker in targets:
            known = newest.get(item.incident_id)
            if known is None or item.updated >= known.updated:
                newest[item.incident_id] = item
    if not newest:
        return
    engine = engine_for(config, list(trackers), channels=list(channels) or None)
    works = []
    for item in newest.values():
        incident = loader.validate(item.incident, f"journal:{item.incident_id}", {}, config)
        options = Options(
            command=item.command,
            postmortem=item.options.get("postmortem", "auto"),
            historical=bool(item.options.get("historical", False)),
        )
        works.append(Work(incident, options, f"journal:{item.incident_id}"))
    results: list[Result] = []
    runner = Runner(
        engine,
        concurrency=concurrency or config.backfill.concurrency,
        recheck=True,
        on_result=lambda _work, batch: results.extend(batch),
    )
    progress = Progress(
        runner.counts,
        label="retry",
        mode=None if len(works) >= 10 else "off",
        budget=runner.budget_seconds,
    )
    with sigint_stops(runner, progress):
        summary = runner.run(works, tick=progress.tick)
    progress.close()
    print_results(results, as_json=as_json)
    if summary.interrupted:
        click.echo(
            f"Interrupted: {summary.not_started} incident(s) not started; they stay in the "
            "journal and `incident-syncer retry` resumes.",
            err=True,
        )
    raise click.exceptions.Exit(summary.exit_code if summary.interrupted else exit_code(results))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@config_option
@handle_errors
def journal(as_json: bool) -> None:
    """Show what is pending: which incident still needs what on which tracker, and why.

    Webhook deliveries `serve` accepted and has not applied yet are listed
    too, with their attempts and last error, and those that failed for good
    with the reason.

    \b
    Example:
      incident-syncer journal
    """
    from syncer.state import open_state

    config = load_config(required=True)
    state = open_state(config)
    entries = state.journal()
    deliveries = state.deliveries.pending() + state.deliveries.failures()
    channels = set(config.channels)
    if as_json:
        listed = [_entry_json(e, e.tracker in channels) for e in entries]
        echo_json(listed + [_delivery_json(d) for d in deliveries])
        return
    if not entries and not deliveries:
        click.echo("nothing pending")
        return
    if entries:
        click.echo(f"{len(entries)} pending:")
    for e in entries:
        why = e.last_error or "not started yet"
        pending = f"pending since {_when(e.created)}{_failed(e.attempts)}"
        if e.tracker in channels:
            pending += _next_try(e)
        click.echo(f"  {e.incident_id} → {e.tracker} ({e.command}, {pending}): {why}")
    if deliveries:
        waiting = sum(1 for d in deliveries if d.state == "pending")
        click.echo(f"webhook deliveries: {waiting} pending, {len(deliveries) - waiting} failed:")
    for d in deliveries:
        head = f"  delivery {d.id} ({d.source}, {d.group})"
        if d.state == "pending":
            why = d.last_error or "not applied yet"
            click.echo(f"{head} pending since {_when(d.received)}{_failed(d.attempts)}: {why}")
        else:
            click.echo(f"{head} failed at {_when(d.updated)}: {d.last_error}")


def _failed(attempts: int) -> str:
    """How often it failed so far, as a clause (nothing before the first try)."""
    if attempts <= 0:
        return ""
    return ", failed " + {1: "once", 2: "twice"}.get(attempts, f"{attempts} times")


def _next_try(entry: Pending) -> str:
    """When a failed channel is told again, as a clause: by `serve` at a time (its backoff or
    Retry-After), or not by itself (a failure that needs a person)."""
    if entry.options.get("retry") not in ("auto", "manual"):
        return ""  # not failed here: a tell under way, or one cut short (serve resumes it)
    at = _retry_at(entry)
    if at is not None:
        return f"; serve retries at {_when(at)}, `incident-syncer retry` at once"
    return "; not retried by itself: fix it, then `incident-syncer retry`"


def _retry_at(entry: Pending) -> float | None:
    from syncer.retelling import next_retry
    from syncer.retry import Policy

    return next_retry(entry, Policy.from_env().base)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _entry_json(e: Pending, channel: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "incident": e.incident_id,
        "tracker": e.tracker,
        "command": e.command,
        "attempts": e.attempts,
        "last_error": e.last_error,
        "since": datetime.fromtimestamp(e.created).isoformat(timespec="seconds"),
    }
    if channel and e.options.get("retry") in ("auto", "manual"):
        # When serve tells the channel again (null: not by itself, it waits for a person).
        at = _retry_at(e)
        data["next_retry"] = None if at is None else _iso(at)
    return data


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).isoformat(timespec="seconds")


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "delivery": d.id,
        "source": d.source,
        "group": d.group,
        "state": d.state,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "since": datetime.fromtimestamp(d.received).isoformat(timespec="seconds"),
    }
