"""``retry`` and ``journal``: finish and show what earlier commands left pending."""

from __future__ import annotations

from datetime import datetime

import click

from syncer.cli.common import (
    config_option,
    echo_json,
    engine_for,
    exit_code,
    handle_errors,
    load_config,
    print_results,
)


@click.command()
@click.option("--tracker", "trackers", multiple=True, metavar="NAME", help="Only these trackers.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per incident and tracker.")
@config_option
@handle_errors
def retry(trackers: tuple[str, ...], as_json: bool) -> None:
    """Finish whatever any earlier command left pending (a tracker that failed, a crash).

    Each pending incident is synced again from the copy kept in the journal;
    what is already done is found by its markers and not done twice.

    \b
    Example:
      incident-syncer retry
    """
    from syncer import loader
    from syncer.engine import Options
    from syncer.state import State

    config = load_config(required=True)
    state = State(config.state_path())
    pending = [p for p in state.journal() if not trackers or p.tracker in trackers]
    if not pending:
        click.echo("nothing pending")
        return
    by_tracker: dict[str, list] = {}
    for item in pending:
        by_tracker.setdefault(item.tracker, []).append(item)
    results = []
    for tracker, items in by_tracker.items():
        if tracker not in config.trackers:
            click.echo(f"skipping {len(items)} pending on {tracker!r}: no longer configured", err=True)
            continue
        engine = engine_for(config, [tracker])
        for item in items:
            incident = loader.validate(item.incident, f"journal:{item.incident_id}", {}, config)
            options = Options(
                command=item.command,
                postmortem=item.options.get("postmortem", "auto"),
                historical=bool(item.options.get("historical", False)),
            )
            results.extend(engine.sync(incident, options))
    print_results(results, as_json=as_json)
    raise click.exceptions.Exit(exit_code(results))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@config_option
@handle_errors
def journal(as_json: bool) -> None:
    """Show what is pending: which incident still needs what on which tracker, and why.

    \b
    Example:
      incident-syncer journal
    """
    from syncer.state import State

    config = load_config(required=True)
    entries = State(config.state_path()).journal()
    if as_json:
        echo_json(
            [
                {
                    "incident": e.incident_id,
                    "tracker": e.tracker,
                    "command": e.command,
                    "attempts": e.attempts,
                    "last_error": e.last_error,
                    "since": datetime.fromtimestamp(e.created).isoformat(timespec="seconds"),
                }
                for e in entries
            ]
        )
        return
    if not entries:
        click.echo("nothing pending")
        return
    click.echo(f"{len(entries)} pending:")
    for e in entries:
        since = datetime.fromtimestamp(e.created).strftime("%Y-%m-%d %H:%M")
        click.echo(f"  {e.incident_id} → {e.tracker} ({e.command}, {e.attempts} attempt(s) since {since}): {e.last_error}")
