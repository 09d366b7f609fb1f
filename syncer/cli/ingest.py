"""``incident-syncer ingest``: one alert payload (a file or stdin) → its incident, in every tracker."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from syncer.app import engine_for
from syncer.cli.common import (
    channel_option,
    chosen_channels,
    config_option,
    exit_code,
    handle_errors,
    load_config,
    print_results,
    tracker_option,
)
from syncer.ingest import SOURCES

if TYPE_CHECKING:
    from syncer.errors import InputError
    from syncer.ingest.payloads import PayloadError


@click.command()
@click.argument("path", metavar="[FILE|-]", default="-")
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    required=True,
    help="Who sent the payload: Alertmanager (webhook v4), Grafana (webhook contact point) or the generic event.",
)
@tracker_option
@channel_option
@click.option("--dry-run", is_flag=True, help="Print what would happen; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
@config_option
@handle_errors
def ingest(path: str, source: str, trackers: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Turn one alert payload from FILE (or stdin) into an incident in every tracker.

    A firing group opens the incident (status detected); the same payload
    again adds nothing; a change adds one timeline entry; resolved adds an
    entry and sets the status per [ingest].on_resolved; firing again within
    [ingest].reopen_window reopens it, later opens a new one.

    \b
    Examples:
      incident-syncer ingest --source alertmanager payload.json
      curl -s ... | incident-syncer ingest --source generic - --dry-run
    """
    from syncer.errors import InputError
    from syncer.ingest.machine import Ingestor
    from syncer.ingest.payloads import PayloadError, parse
    from syncer.loader import STDIN_NAME

    config = load_config(required=True)
    try:
        body = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from None
    name = STDIN_NAME if path == "-" else path
    try:
        group = parse(source, body, config.tz)
    except PayloadError as exc:
        raise located(exc, name, body) from None
    engine = engine_for(config, list(trackers), channels=chosen_channels())
    try:
        outcome = Ingestor(engine).process(group, dry_run=dry_run)
    except PayloadError as exc:  # a value the configuration does not know (a grade)
        raise located(exc, name, body) from None
    if as_json:
        click.echo(json.dumps(outcome.to_json(), ensure_ascii=False))
    else:
        where = outcome.incident or outcome.group
        prefix = "would be " if dry_run and outcome.action not in ("unchanged", "ignored") else ""
        click.echo(f"{where}: {prefix}{outcome.action} ({outcome.reason})")
        print_results(outcome.results, as_json=False, dry_run=dry_run)
    raise click.exceptions.Exit(exit_code(outcome.results))


def located(exc: PayloadError, name: str, body: bytes) -> InputError:
    """A payload refused in the words of a file: ``name:line: field: reason`` for each problem."""
    from syncer import yamlsafe
    from syncer.errors import InputError, InputErrors
    from syncer.loader import field_name, nearest_line

    if not exc.problems:
        return InputError(exc.message, file=name, line=exc.line or 1)
    try:
        lines = yamlsafe.lines_of(body.decode("utf-8").removeprefix("\ufeff"))
    except (UnicodeDecodeError, yamlsafe.Problem):
        lines = {}
    return InputErrors(
        [
            InputError(
                reason, file=name, line=nearest_line(lines, loc) or 1, field=field_name(loc) or None
            )
            for loc, reason in exc.problems
        ]
    )
