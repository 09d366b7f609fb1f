"""The ``incident-syncer`` command line.

Commands live in their own modules and are imported only when run, so that
``--help`` costs little more than importing click.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from syncer import __version__

# name → (module, function, one-line help shown by `incident-syncer --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("syncer.cli.validate", "validate", "Check incident files against the schema."),
    "render": (
        "syncer.cli.render",
        "render",
        "Render the notice or the postmortem of an incident.",
    ),
    "sync": ("syncer.cli.sync", "sync", "Make every tracker match the incident files."),
    "open": ("syncer.cli.incident", "open_", "Open a new incident in every tracker."),
    "note": ("syncer.cli.incident", "note", "Add a timeline entry to an incident."),
    "grade": ("syncer.cli.incident", "grade", "Change an incident's grade."),
    "resolve": (
        "syncer.cli.incident",
        "resolve",
        "Mark an incident resolved and close its issues.",
    ),
    "postmortem": ("syncer.cli.sync", "postmortem", "Publish the postmortem page(s) now."),
    "ingest": ("syncer.cli.ingest", "ingest", "Turn one alert payload into an incident."),
    "serve": ("syncer.cli.serve", "serve", "Receive alert webhooks over HTTP."),
    "backfill": (
        "syncer.cli.backfill",
        "backfill",
        "Sync many past incidents at the trackers' pace.",
    ),
    "retry": ("syncer.cli.journal", "retry", "Finish what earlier commands left pending."),
    "journal": ("syncer.cli.journal", "journal", "Show what is pending in the journal."),
    "doctor": ("syncer.cli.doctor", "doctor", "Check config, credentials and permissions."),
    "gha": ("syncer.cli.gha", "gha", "Handle the GitHub Actions event that started the job."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command: click.Command = getattr(module, target[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text from the table, so `--help` imports no command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: incident-syncer render examples/incidents/INC-2024-0212-banner.yaml --doc postmortem",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="INCIDENT_SYNCER_CONFIG",
    help="Configuration file (default: $INCIDENT_SYNCER_CONFIG, else ./incident-syncer.toml).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More detail: -v progress and the libraries' warnings, -vv debug logs, -vvv all "
    "(secrets masked).",
)
@click.version_option(__version__, prog_name="incident-syncer")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Keep an incident's issue in Jira, GitHub Issues and Notion in step with the incident,
    and tell people in Slack and by webhooks.

    \b
    Exit codes: 0 done; 1 a tracker or channel operation failed (the rest done,
    the failed part journaled, `incident-syncer retry` finishes it); 2 bad input
    or configuration (nothing written); 141 the output was cut off (`... | head`).
    """
    obj: dict[str, Any] = ctx.ensure_object(dict)
    obj["config_path"] = config_path
    obj["verbose"] = verbose
