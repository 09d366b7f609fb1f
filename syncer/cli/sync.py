"""``incident-syncer sync`` and ``postmortem``: make every tracker match the incident files."""

from __future__ import annotations

from typing import Any

import click

from syncer.app import engine_for
from syncer.cli.common import (
    channel_option,
    chosen_channels,
    config_option,
    dry_run_option,
    exit_code,
    handle_errors,
    load_config,
    load_incidents,
    print_results,
    tracker_option,
)


def _run(
    paths: tuple[str, ...],
    trackers: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    postmortem: str,
    recheck: bool,
) -> None:
    from syncer import gha
    from syncer.engine import Options

    config = load_config(required=True)
    loaded = load_incidents(paths, config)
    engine = engine_for(config, list(trackers), channels=chosen_channels())
    gha.remember_files({item.incident.id: (item.file, item.line_of("id")) for item in loaded})
    options = Options(
        dry_run=dry_run,
        postmortem=postmortem,
        command="postmortem" if postmortem == "always" else "sync",
        recheck=recheck,
    )
    results = engine.sync_many([item.incident for item in loaded], options)
    print_results(results, as_json=as_json, dry_run=dry_run)
    raise click.exceptions.Exit(exit_code(results))


def _options(fn: Any) -> Any:
    """The arguments and options `sync` and `postmortem` share."""
    decorators = [
        click.argument("paths", nargs=-1, required=True, metavar="PATH..."),
        tracker_option,
        channel_option,
        dry_run_option,
        click.option(
            "--recheck",
            is_flag=True,
            help="Look each incident up in the trackers even where the local state knows its "
            "issue (finds and closes duplicates another machine made).",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="One JSON object per incident and tracker."
        ),
        config_option,
        handle_errors,
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


@click.command()
@_options
def sync(
    paths: tuple[str, ...], trackers: tuple[str, ...], dry_run: bool, as_json: bool, recheck: bool
) -> None:
    """Make every configured tracker match the incident files in PATH...

    Creates the issue once, posts each timeline entry once, keeps the grade
    label and the status current, and publishes the postmortem when the
    incident is resolved or closed. Running it again changes nothing.

    `-` reads one incident from standard input: JSON if it starts with `{`,
    TOML if with `key =` or a `[table]`, YAML otherwise.

    \b
    Examples:
      incident-syncer sync incidents/ --dry-run
      incident-syncer sync incidents/INC-1.yaml --tracker github --json
    """
    _run(paths, trackers, dry_run, as_json, "auto", recheck)


@click.command()
@_options
def postmortem(
    paths: tuple[str, ...], trackers: tuple[str, ...], dry_run: bool, as_json: bool, recheck: bool
) -> None:
    """Publish the postmortem of the incidents in PATH... now, even before they are resolved (a draft).

    `-` reads one incident from standard input: JSON if it starts with `{`,
    TOML if with `key =` or a `[table]`, YAML otherwise.

    \b
    Example:
      incident-syncer postmortem incidents/INC-1.yaml
    """
    _run(paths, trackers, dry_run, as_json, "always", recheck)
