"""``incident-syncer validate``: check incident files against the schema."""

from __future__ import annotations

import click

from syncer.cli.common import config_option, emit_error, handle_errors, load_config


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@config_option
@handle_errors
def validate(paths: tuple[str, ...]) -> None:
    """Check incident files (or folders of them) against the schema.

    Every problem is reported with its file, line and field; the exit code is
    2 if any file is invalid, 0 if all are valid.

    `-` reads one incident from standard input: JSON if it starts with `{`,
    TOML if with `key =` or a `[table]`, YAML otherwise.

    \b
    Example:
      incident-syncer validate incidents/
    """
    from syncer import loader
    from syncer.errors import InputError, InputErrors

    config = load_config()
    files = loader.discover(paths)
    if not files:
        raise InputError(
            "no incident files (.yaml, .yml, .toml, .json) found in " + ", ".join(paths)
        )
    bad = 0
    for item in loader.iter_load(files, config):
        if isinstance(item, InputError):
            bad += 1
            for err in item.errors if isinstance(item, InputErrors) else [item]:
                emit_error(str(err), err)
        else:
            i = item.incident
            entries = f"{len(i.timeline)} timeline {'entry' if len(i.timeline) == 1 else 'entries'}"
            click.echo(f"ok {item.file}: {i.id} [{i.grade}] {i.status.value}, {entries}")
    good = len(files) - bad
    click.echo(f"{good} valid, {bad} invalid")
    if bad:
        raise click.exceptions.Exit(2)
