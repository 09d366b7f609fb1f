"""``open``, ``note``, ``grade``, ``resolve``: change an incident that lives in the trackers (no file needed)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
    print_results,
    tracker_option,
)

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.engine import Engine
    from syncer.model import Incident

KINDS = ["detection", "action", "status", "note", "grade"]


def _common(fn: Any) -> Any:
    # Applied last to first: --help lists them --tracker, --channel, --dry-run, --json, --config.
    fn = config_option(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="One JSON object per tracker.")(fn)
    fn = dry_run_option(fn)
    fn = channel_option(fn)
    return tracker_option(fn)


def _when(text: str | None, config: Config, option: str = "--at") -> datetime:
    from syncer.errors import InputError
    from syncer.timeutil import aware, now

    if not text:
        return now(config.tz).replace(microsecond=0)
    try:
        return aware(datetime.fromisoformat(text), config.tz)
    except ValueError:
        raise InputError(
            f"bad time {text!r}; expected ISO 8601 like 2024-02-12T00:25:00+09:00", field=option
        ) from None


def _validated(data: dict[str, Any], config: Config) -> Incident:
    from syncer import loader

    return loader.validate(data, "(command line)", {}, config)


def _finish(engine: Engine, incident: Incident, dry_run: bool, as_json: bool, command: str) -> None:
    from syncer.engine import Options

    results = engine.sync(incident, Options(dry_run=dry_run, command=command))
    print_results(results, as_json=as_json, dry_run=dry_run)
    raise click.exceptions.Exit(exit_code(results))


def _event(text: str, at: datetime, kind: str, author: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"at": at.isoformat(), "text": text, "kind": kind}
    if author:
        event["author"] = author
    return event


def _append(data: dict[str, Any], event: dict[str, Any]) -> bool:
    """Add ``event`` unless the newest entry already says the same (a re-run of the same command)."""
    timeline = data.setdefault("timeline", [])
    if timeline and " ".join(str(timeline[-1].get("text", "")).split()) == " ".join(
        event["text"].split()
    ):
        return False
    timeline.append(event)
    return True


@click.command("open")
@click.option("--title", required=True, help="What is wrong, in one line.")
@click.option("--grade", required=True, help="One of the configured grades, e.g. SEV2.")
@click.option(
    "--id",
    "incident_id",
    help="Stable id (default: INC-<date>-<time>-<hash>). Give one to make re-runs safe.",
)
@click.option("--commander", help="Who leads the response (담당자).")
@click.option("--detection", help="How it was noticed (장애 인지 채널).")
@click.option("--symptoms", help="What users see.")
@click.option("--service", "services", multiple=True, help="Affected service (repeatable).")
@click.option("--at", "at", metavar="TIME", help="Detection time, ISO 8601 (default: now).")
@click.option("--started-at", metavar="TIME", help="When it began, if earlier than detection.")
@_common
@handle_errors
def open_(
    title: str,
    grade: str,
    incident_id: str | None,
    commander: str | None,
    detection: str | None,
    symptoms: str | None,
    services: tuple[str, ...],
    at: str | None,
    started_at: str | None,
    trackers: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Open a new incident in every configured tracker.

    With --id, running it again finds the incident already open and changes nothing.

    \b
    Example:
      incident-syncer open --title "Checkout 500s" --grade SEV2 --commander alice \\
          --detection "Alertmanager" --id INC-2024-0305-checkout
    """
    from syncer.errors import NotFound

    config = load_config(required=True)
    detected = _when(at, config)
    started = _when(started_at, config, "--started-at") if started_at else None
    if not incident_id:
        digest = hashlib.sha256(title.encode()).hexdigest()[:4]
        incident_id = f"INC-{detected:%Y%m%d-%H%M%S}-{digest}"
    engine = engine_for(config, list(trackers), channels=chosen_channels())
    try:
        existing = engine.load(incident_id)
    except NotFound:
        existing = None
    if existing is not None:
        click.echo(f"{incident_id} is already open; syncing it as it is", err=True)
        _finish(engine, existing, dry_run, as_json, "open")
    text = _texts(config)("detected", detection)
    data: dict[str, Any] = {
        "id": incident_id,
        "title": title,
        "grade": grade,
        "status": "detected",
        "detected_at": detected.isoformat(),
        "services": list(services),
        "timeline": [_event(text, detected, "detection", commander)],
    }
    for key, value in (("commander", commander), ("detection", detection), ("symptoms", symptoms)):
        if value:
            data[key] = value
    if started:
        data["started_at"] = started.isoformat()
    _finish(engine, _validated(data, config), dry_run, as_json, "open")


@click.command()
@click.argument("incident_id", metavar="ID")
@click.argument("text")
@click.option("--at", "at", metavar="TIME", help="When it happened, ISO 8601 (default: now).")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="note",
    show_default=True,
    help="What the entry is (how the timeline shows it).",
)
@click.option("--author", help="Who did or said it.")
@_common
@handle_errors
def note(
    incident_id: str,
    text: str,
    at: str | None,
    kind: str,
    author: str | None,
    trackers: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Add a timeline entry to incident ID in every tracker.

    \b
    Example:
      incident-syncer note INC-2024-0305-checkout "Rolled back payments-api to v2.13" --kind action
    """
    config = load_config(required=True)
    engine = engine_for(config, list(trackers), channels=chosen_channels())
    incident = engine.load(incident_id)
    data = incident.to_data()
    _append(data, _event(text, _when(at, config), kind, author))
    _finish(engine, _validated(data, config), dry_run, as_json, "note")


@click.command()
@click.argument("incident_id", metavar="ID")
@click.argument("grade_name", metavar="GRADE")
@click.option("--final", is_flag=True, help="This is the final grade (장애 등급 최종 판정).")
@click.option("--at", "at", metavar="TIME", help="When it was decided (default: now).")
@_common
@handle_errors
def grade(
    incident_id: str,
    grade_name: str,
    final: bool,
    at: str | None,
    trackers: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Change the grade of incident ID: the grade label is swapped and the change recorded.

    \b
    Example:
      incident-syncer grade INC-2024-0305-checkout SEV1 --final
    """
    config = load_config(required=True)
    engine = engine_for(config, list(trackers), channels=chosen_channels())
    incident = engine.load(incident_id)
    data = incident.to_data()
    old = incident.grade
    data["grade"] = grade_name
    if final:
        data["grade_final"] = True
    if old != grade_name or (final and not incident.grade_final):
        texts = _texts(config)
        if old != grade_name:
            text = texts("regrade", old, grade_name, final)
        else:
            text = texts("grade_set", grade_name, final)
        event = _event(text, _when(at, config), "grade", None)
        if old != grade_name:
            event["id"] = f"grade-{old}-to-{grade_name}"
        _append(data, event)
    _finish(engine, _validated(data, config), dry_run, as_json, "grade")


@click.command()
@click.argument("incident_id", metavar="ID")
@click.option("--at", "at", metavar="TIME", help="When service was fully restored (default: now).")
@click.option("--resolution", help="How it was resolved (장애 처리 방법).")
@_common
@handle_errors
def resolve(
    incident_id: str,
    at: str | None,
    resolution: str | None,
    trackers: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Mark incident ID resolved: a timeline entry, and its issues closed.

    \b
    Example:
      incident-syncer resolve INC-2024-0305-checkout --resolution "Rolled back v2.14"
    """
    config = load_config(required=True)
    engine = engine_for(config, list(trackers), channels=chosen_channels())
    incident = engine.load(incident_id)
    data = incident.to_data()
    if not incident.status.is_over:
        when = _when(at, config)
        data["status"] = "resolved"
        data["resolved_at"] = when.isoformat()
        data.setdefault("mitigated_at", when.isoformat())
        if resolution:
            data["resolution"] = resolution
        text = _texts(config)("resolved", resolution)
        _append(data, _event(text, when, "status", None))
    _finish(engine, _validated(data, config), dry_run, as_json, "resolve")


def _texts(config: Config) -> Any:
    """The configured language's texts (``texts.j2``): every entry the command writes."""
    from syncer.texts import Texts

    return Texts(config)
