"""``incident-syncer doctor``: check the configuration, the credentials and each tracker's set-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from syncer.cli.common import config_option, echo_json, handle_errors, load_config, tracker_option

if TYPE_CHECKING:
    from syncer.config import Config


@dataclass
class Check:
    """What doctor found for one part: ``config`` problems exit 2, tracker problems exit 1."""

    name: str
    kind: str
    problems: list[str] = field(default_factory=list)
    config_error: bool = False
    checked: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "ok": self.ok,
            "config_error": self.config_error,
            "checked_online": self.checked,
            "problems": self.problems,
        }


def _local_checks(config: Config) -> Check:
    """Templates render, the state store opens: what every command needs, no tracker involved."""
    from syncer.errors import SyncerError
    from syncer.model import Incident
    from syncer.render import DOCS, Renderer
    from syncer.state import open_state

    check = Check("config", "local")
    try:
        renderer = Renderer(config)
        sample = Incident.model_validate(
            {"id": "INC-doctor", "title": "doctor", "grade": config.grade_names[0]},
            context=config.context(),
        )
        for doc in DOCS:
            if doc != "event":
                renderer.render(doc, sample)
    except SyncerError as exc:
        check.problems.append(f"templates: {exc}")
    try:
        open_state(config).close()
    except SyncerError as exc:
        check.problems.append(f"state store: {exc}")
    except Exception as exc:  # any reason the file cannot be opened is the user's to fix
        check.problems.append(f"state store {config.state_path()}: {exc}")
    check.config_error = bool(check.problems)
    return check


def _tracker_check(name: str, config: Config, section: str = "trackers") -> Check:
    from adapters.base import SupportsDoctor
    from syncer import channel_registry, registry
    from syncer.errors import InputError, TrackerError

    kind = str(getattr(config, section).get(name, {}).get("type", "?"))
    check = Check(name, kind)
    build = registry.build if section == "trackers" else channel_registry.build
    try:
        adapter = build(name, config)  # validates the table, reads the secrets
    except InputError as exc:
        check.problems.append(str(exc))
        check.config_error = True
        return check
    if not isinstance(adapter, SupportsDoctor):
        check.checked = False
        return check
    try:
        check.problems.extend(str(p) for p in adapter.doctor())
    except TrackerError as exc:
        check.problems.append(str(exc))
    return check


@click.command()
@tracker_option
@click.option(
    "--channel", "channels", multiple=True, metavar="NAME", help="Only these channels (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per check.")
@config_option
@handle_errors
def doctor(trackers: tuple[str, ...], channels: tuple[str, ...], as_json: bool) -> None:
    """Check the configuration, the credentials and each tracker's set-up; write nothing.

    Every [trackers.NAME] and [channels.NAME] table must validate and its secrets
    be in the environment. Trackers and channels that can check themselves are
    asked to: Notion, for instance, reads its databases and names each property
    that is missing or of the wrong type; Slack names each scope the token lacks
    and says whether the app is in the broadcast channel; a webhook renders its
    body for every event it sends. Templates must render and the state store
    must open.

    Exit codes: 0 all good; 1 a tracker or channel has a problem; 2 the
    configuration is wrong.

    \b
    Examples:
      incident-syncer doctor
      incident-syncer doctor --tracker notion --json
      incident-syncer doctor --channel slack
    """
    from syncer.errors import ConfigError
    from syncer.secrets import redact

    config = load_config(required=True)
    names = list(trackers) or ([] if channels else list(config.trackers))
    channel_names = list(channels) or ([] if trackers else list(config.channels))
    if not names and not channel_names:
        raise ConfigError(
            "no trackers configured: add a [trackers.NAME] table (see config.example.toml)",
            file=str(config.path) if config.path else None,
        )
    for name in names:
        if name not in config.trackers:
            raise ConfigError(
                f"no tracker named {name!r}; configured: {', '.join(config.trackers)}"
            )
    for name in channel_names:
        if name not in config.channels:
            raise ConfigError(
                f"no channel named {name!r}; configured: {', '.join(config.channels) or '(none)'}"
            )
    checks = [
        _local_checks(config),
        *(_tracker_check(name, config) for name in names),
        *(_tracker_check(name, config, "channels") for name in channel_names),
    ]
    for check in checks:
        check.problems = [redact(p) for p in check.problems]
    if as_json:
        echo_json([c.to_json() for c in checks])
    else:
        where = str(config.path) if config.path else "(defaults)"
        told = f"{len(config.channels)} channel(s), " if config.channels else ""
        click.echo(
            f"configuration: {where}: {len(config.trackers)} tracker(s), {told}"
            f"{len(config.grades)} grade(s)"
        )
        for check in checks:
            label = (
                "templates and state" if check.kind == "local" else f"{check.name} ({check.kind})"
            )
            if check.ok:
                note = (
                    "ok"
                    if check.checked
                    else "ok (configuration and secrets only: "
                    "this tracker type has no online check)"
                )
                click.echo(f"✓ {label}: {note}")
            else:
                click.echo(f"✗ {label}:")
                for problem in check.problems:
                    click.echo(f"    - {problem}")
    if any(c.config_error for c in checks):
        raise click.exceptions.Exit(2)
    raise click.exceptions.Exit(0 if all(c.ok for c in checks) else 1)
