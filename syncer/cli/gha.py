"""``incident-syncer gha``: do what the GitHub Actions event that started the job asks for.

push → sync the incident files the push changed; pull_request → validate and
post the rendered preview as one PR comment; workflow_dispatch → open, note,
grade or resolve from the form; repository_dispatch → ingest the alert in
``client_payload``; issue_comment → ChatOps (``/incident …``); schedule →
finish what is pending and re-sync the incidents folder.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from syncer import secrets
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
    from syncer.chatops import Change, Comment, Event, GitHubAPI
    from syncer.config import Config
    from syncer.engine import Engine
    from syncer.model import Incident

DEFAULT_FOLDER = "incidents"
NULL_SHA = "0" * 40


@click.command("gha")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--event", "event_name", metavar="NAME", help="Event name (default: $GITHUB_EVENT_NAME)."
)
@click.option(
    "--event-path", metavar="FILE", help="Event payload JSON (default: $GITHUB_EVENT_PATH)."
)
@click.option(
    "--source",
    type=click.Choice(["auto", "alertmanager", "grafana", "generic"]),
    default="auto",
    show_default=True,
    help="repository_dispatch: the payload's format (auto: a body with alerts is Alertmanager's "
    "or Grafana's, anything else the generic event).",
)
@click.option(
    "--min-permission",
    type=click.Choice(["triage", "write", "maintain", "admin"]),
    default="write",
    show_default=True,
    help="issue_comment: the least repository permission a commenter needs.",
)
@tracker_option
@channel_option
@dry_run_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per incident and tracker.")
@config_option
@handle_errors
def gha(
    paths: tuple[str, ...],
    event_name: str | None,
    event_path: str | None,
    source: str,
    min_permission: str,
    trackers: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Handle the GitHub Actions event that started this job (read from $GITHUB_EVENT_PATH).

    \b
    push               sync the incident files under PATH (default: incidents/) the push changed
    pull_request       validate PATH; post the rendered postmortem preview as one PR comment
    workflow_dispatch  inputs action=open|note|grade|resolve, incident_id, title, grade, text, final
    repository_dispatch  ingest the alert in client_payload (a webhook body or a summary)
    issue_comment      ChatOps: /incident note TEXT | grade GRADE [--final] | resolve [TEXT]
    schedule           finish what the journal holds, then re-sync PATH (idempotent)

    Outputs ($GITHUB_OUTPUT): issues (JSON incident → tracker → key/url), created,
    failed, outcome. Exit codes as for every command; a refused or ignored
    comment is not a failure (exit 0, with a warning).

    \b
    Example (a workflow step):
      incident-syncer gha incidents/
    """
    from syncer import chatops
    from syncer import gha as job
    from syncer.errors import SyncerError

    job.defer_outputs()
    event = chatops.load_event(event_name, event_path)
    folders = paths or ((DEFAULT_FOLDER,) if Path(DEFAULT_FOLDER).is_dir() else ())
    ctx = click.get_current_context()
    run = _Run(ctx, event, folders, trackers, dry_run, as_json)
    handlers = {
        "push": run.push,
        "pull_request": run.pull_request,
        "pull_request_target": run.pull_request,
        "workflow_dispatch": run.workflow_dispatch,
        "repository_dispatch": lambda: run.repository_dispatch(source),
        "issue_comment": lambda: run.issue_comment(min_permission),
        "schedule": run.schedule,
    }
    handler = handlers.get(event.name)
    if handler is None:
        code = run.finish("ignored", f"nothing to do for the event {event.name!r}")
    else:
        try:
            code = handler()
        except SyncerError:
            job.write_outputs(outcome="error")
            raise
    raise click.exceptions.Exit(code)


class _Run:
    def __init__(
        self,
        ctx: click.Context,
        event: Event,
        folders: tuple[str, ...],
        trackers: tuple[str, ...],
        dry_run: bool,
        as_json: bool,
    ) -> None:
        self.ctx = ctx
        self.event = event
        self.folders = folders
        self.trackers = trackers
        self.dry_run = dry_run
        self.as_json = as_json

    # Shared steps.

    def finish(
        self, outcome: str, message: str | None = None, *, warn: bool = False, **outputs: Any
    ) -> int:
        """The ``outcome`` output, and ``message`` said once: a warning annotation if ``warn``."""
        from syncer import gha as job

        if message:
            click.echo(message, err=True)
            (job.warning if warn else job.notice)(message)
        job.write_outputs(outcome=outcome, **outputs)
        return 0

    def invoke(self, command: click.Command, **params: Any) -> int:
        """Run another command in this invocation; its exit code (it ends with Exit)."""
        try:
            self.ctx.invoke(command, **params)
        except click.exceptions.Exit as exc:
            return int(exc.exit_code)
        return 0

    def sync_files(self, files: list[str]) -> int:
        from syncer.cli.sync import sync

        return self.invoke(
            sync,
            paths=tuple(files),
            trackers=self.trackers,
            dry_run=self.dry_run,
            as_json=self.as_json,
        )

    def sync_incident(self, incident: Incident, config: Config, command: str) -> int:
        from syncer.engine import Options

        engine = engine_for(config, list(self.trackers), channels=chosen_channels())
        results = engine.sync(incident, Options(dry_run=self.dry_run, command=command))
        print_results(results, as_json=self.as_json, dry_run=self.dry_run)
        return exit_code(results)

    def _folder_files(self) -> list[Path]:
        from syncer import loader

        existing = [f for f in self.folders if Path(f).exists()]
        return loader.discover(existing) if existing else []

    # push: sync what changed.

    def push(self) -> int:
        from syncer import gha as job
        from syncer import loader

        payload = self.event.payload
        if payload.get("deleted"):
            return self.finish("ignored", "a branch was deleted: nothing to sync")
        if not self.folders:
            return self.finish("ignored", f"no {DEFAULT_FOLDER}/ folder and no PATH given")
        commits = payload.get("commits") or []
        everything = (
            str(payload.get("before") or NULL_SHA) == NULL_SHA
            or not commits
            or len(commits) >= 2048  # GitHub lists at most 2048 commits in a push payload
        )
        if everything:
            files = [str(p) for p in self._folder_files()]
        else:
            touched: list[str] = []
            for commit in commits:
                for name in [*(commit.get("added") or []), *(commit.get("modified") or [])]:
                    if name not in touched:
                        touched.append(name)
            local = [job.repo_path(name) for name in touched]
            files = [
                name
                for name in local
                if Path(name).suffix.lower() in loader.SUFFIXES
                and Path(name).is_file()
                and any(job.inside(name, folder) for folder in self.folders)
            ]
        if not files:
            return self.finish("ignored", "the push changed no incident file")
        code = self.sync_files(files)
        self.finish(_outcome(code, "synced"))
        return code

    # schedule: finish what is pending, then converge the folder.

    def schedule(self) -> int:
        from syncer.cli.journal import retry

        channels = tuple(chosen_channels() or ())
        code = self.invoke(retry, trackers=self.trackers, channels=channels, as_json=self.as_json)
        files = [str(p) for p in self._folder_files()]
        if files:
            code = max(code, self.sync_files(files))
        self.finish(_outcome(code, "synced"))
        return code

    # pull_request: validate and preview.

    def pull_request(self) -> int:
        from syncer import chatops, loader
        from syncer import gha as job
        from syncer.cli.common import emit_error
        from syncer.errors import InputError, InputErrors
        from syncer.render import Renderer

        config = load_config()
        files = self._folder_files()
        if not files:
            return self.finish("ignored", "no incident files to validate")
        loaded: dict[str, Any] = {}
        errors: dict[str, list[InputError]] = {}
        ids: dict[str, str] = {}
        for path, item in zip(files, loader.iter_load(files, config), strict=True):
            if isinstance(item, InputError):
                errors[str(path)] = item.errors if isinstance(item, InputErrors) else [item]
                continue
            other = ids.get(item.incident.id)
            if other is not None:
                errors[str(path)] = [
                    InputError(
                        f"incident id {item.incident.id} is also used by {other}",
                        file=item.file,
                        line=item.line_of("id"),
                        field="id",
                    )
                ]
                continue
            ids[item.incident.id] = item.file
            loaded[str(path)] = item
        for errs in errors.values():
            for err in errs:
                emit_error(str(err), err)
        click.echo(f"{len(loaded)} valid, {len(errors)} invalid")
        code = 2 if errors else 0

        pr = self.event.payload.get("pull_request") or {}
        number = int(pr.get("number") or self.event.payload.get("number") or 0)
        preview_state = "none"
        if number and not self.dry_run:
            try:
                api = chatops.github_api(config, self.event.repository)
                changed = {job.norm_path(job.repo_path(name)) for name in api.pull_files(number)}
                shown = [p for p in [str(f) for f in files] if job.norm_path(p) in changed]
                if shown:
                    body = job.preview_comment(shown, loaded, errors, Renderer(config))
                    preview_state = api.upsert_comment(number, "preview", "postmortem", body)
                    click.echo(f"preview comment on #{number}: {preview_state}")
            except Exception as exc:
                from syncer.errors import SyncerError

                if not isinstance(exc, SyncerError):
                    raise
                # A fork's pull request gets a read-only token: the check still counts.
                job.warning(f"could not post the preview comment: {exc}")
                click.echo(secrets.redact(f"could not post the preview comment: {exc}"), err=True)
        job.add_summary(
            f"### incident-syncer: validate\n\n{len(loaded)} valid, {len(errors)} invalid"
            + "".join(
                f"\n- `{e.file or f}`" + (f" line {e.line}" if e.line else "") + f": {e.message}"
                for f, errs in errors.items()
                for e in errs
            )
        )
        job.write_outputs(
            outcome="invalid" if errors else "valid",
            valid=str(len(loaded)),
            invalid=str(len(errors)),
            preview=preview_state,
        )
        return code

    # workflow_dispatch: a form.

    def workflow_dispatch(self) -> int:
        from syncer import chatops, loader
        from syncer import gha as job
        from syncer.errors import InputError, NotFound

        inputs = chatops.dispatch_inputs(self.event)
        action = (inputs.get("action") or "").lower()
        if action not in chatops.ACTIONS:
            raise InputError(
                f"unknown action {action!r}; expected one of: {', '.join(chatops.ACTIONS)}",
                field="inputs.action",
            )
        if chatops.truthy(inputs.get("dry_run")):
            self.dry_run = True
        targets = [t.strip() for t in (inputs.get("targets") or "").split(",") if t.strip()]
        if targets:
            self.trackers = tuple(dict.fromkeys([*self.trackers, *targets]))
        config = load_config(required=True)
        for name in self.trackers:
            if name not in config.trackers:
                raise InputError(
                    f"no tracker named {name!r}; configured: {', '.join(config.trackers)}",
                    field="inputs.targets",
                )
        incident_id = inputs.get("incident_id") or inputs.get("id") or None
        run_id = chatops.run_event_id("gha-run")
        if action == "open" and not incident_id:
            if not run_id:
                raise InputError("open needs an incident_id outside a workflow run")
            incident_id = "INC-" + run_id.removeprefix("gha-run-")
        if not incident_id:
            raise InputError(f"{action} needs an incident_id", field="inputs.incident_id")
        change = chatops.Change(
            action=action,
            incident_id=incident_id,
            at=_when(inputs.get("at"), config),
            event_id=run_id,
            text=inputs.get("text") or inputs.get("note") or inputs.get("resolution") or "",
            grade=inputs.get("grade") or None,
            final=chatops.truthy(inputs.get("final")),
            author=inputs.get("author") or self.event.sender.get("login") or None,
            title=inputs.get("title") or None,
            commander=inputs.get("commander") or None,
            services=[s.strip() for s in (inputs.get("services") or "").split(",") if s.strip()],
        )
        engine = engine_for(config, list(self.trackers), channels=chosen_channels())
        try:
            incident = engine.load(incident_id)
        except NotFound:
            if action != "open":
                raise
            incident = None
        if incident is None:
            new = loader.validate(
                chatops.open_data(change, config), "(workflow_dispatch)", {}, config
            )
            state = "applied"
        else:
            new, state = self._changed(incident, change, config)
        job.add_summary(
            f"### incident-syncer: {action} {incident_id}\n\n"
            + {"applied": "Applied.", "already": "Already applied (a re-run): nothing new."}.get(
                state, "Nothing to change."
            )
        )
        code = self.sync_incident(new, config, action)
        self.finish(_outcome(code, state), incident=incident_id)
        return code

    def _changed(self, incident: Incident, change: Change, config: Config) -> tuple[Incident, str]:
        from syncer import chatops, loader
        from syncer.errors import InputError, InputErrors

        if chatops.already_applied(incident, change):
            return incident, "already"
        data = chatops.changed_data(incident, change, config)
        if data is None:
            return incident, "unchanged"
        try:
            return loader.validate(data, change.action, {}, config), "applied"
        except InputError as exc:
            # Not a file's fault: say what the change would have broken, with no file to point at.
            errors = exc.errors if isinstance(exc, InputErrors) else [exc]
            raise InputError(
                f"cannot {change.action} {change.incident_id}: "
                + "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)
            ) from None

    # repository_dispatch: an alert relayed into the repository.

    def repository_dispatch(self, source: str) -> int:
        import json

        from syncer import chatops
        from syncer.cli.ingest import ingest

        kind, body = chatops.dispatch_payload(self.event, source)
        with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as fh:
            json.dump(body, fh, ensure_ascii=False)
        try:
            code = self.invoke(
                ingest,
                path=fh.name,
                source=kind,
                trackers=self.trackers,
                dry_run=self.dry_run,
                as_json=self.as_json,
            )
        finally:
            os.unlink(fh.name)
        self.finish(_outcome(code, "ingested"), source=kind)
        return code

    # issue_comment: ChatOps.

    def issue_comment(self, min_permission: str) -> int:
        from syncer import chatops
        from syncer import gha as job
        from syncer.errors import InputError

        comment = chatops.comment_of(self.event)
        reason = chatops.ignore_reason(self.event, comment)
        if reason is not None or comment is None:
            return self.finish("ignored", f"ignored: {reason}")
        command = chatops.parse_command(comment.body)
        assert command is not None  # ignore_reason checked it
        config = load_config(required=True)
        api = chatops.github_api(config, self.event.repository)

        # Who may run it: a trusted association first (no call), then the repository permission.
        if comment.association not in chatops.TRUSTED_ASSOCIATIONS:
            has = f"author association {comment.association}"
            allowed = False
        else:
            permission = api.permission(comment.author)
            has = f"{permission} permission"
            allowed = chatops.permission_rank(permission) >= chatops.permission_rank(min_permission)
        if not allowed:
            text = (
                f"@{comment.author}: `/incident` commands need {min_permission} access to "
                f"this repository (you have {has}). Nothing was changed."
            )
            self._reply(api, comment, text)
            job.warning(f"refused /incident {command.action} from @{comment.author}: {has}")
            job.add_summary(
                f"### incident-syncer: ChatOps\n\nRefused `/incident {command.action}` "
                f"from @{comment.author} ({has}; needs {min_permission})."
            )
            click.echo(f"refused: @{comment.author} has {has}", err=True)
            return self.finish("refused")

        if command.error or command.action == "help":
            text = (
                f"@{comment.author}: {command.error}. " if command.error else ""
            ) + chatops.USAGE
            self._reply(api, comment, text)
            outcome = "rejected" if command.error else "help"
            return self.finish(outcome, command.error, warn=bool(command.error))

        incident_id = chatops.incident_id_of(comment.issue)
        if incident_id is None:
            text = (
                f"@{comment.author}: this issue is not an incident-syncer incident "
                "(no `incident-id:` label and no incident marker in its body)."
            )
            self._reply(api, comment, text)
            return self.finish("ignored", f"issue #{comment.issue_number} is not an incident")

        change = chatops.Change(
            action=command.action,
            incident_id=incident_id,
            at=(comment.created_at or _when(None, config)).astimezone(config.tz),
            event_id=comment.event_id,
            text=command.text,
            grade=command.grade,
            final=command.final,
            author=comment.author,
        )
        engine = engine_for(config, list(self.trackers), channels=chosen_channels())
        home = self._home_of(engine, incident_id, comment.issue_number)
        if home is not None:
            text = (
                f"@{comment.author}: #{comment.issue_number} is not an issue incident-syncer made "
                f"for {incident_id}: commands act on the incident they are typed on (its issue "
                f"is {home}). Nothing was changed."
            )
            self._reply(api, comment, text)
            job.warning(f"ignored /incident {command.action} on #{comment.issue_number}: {text}")
            return self.finish("ignored", f"#{comment.issue_number} is not {incident_id}'s issue")
        incident = engine.load(incident_id)
        try:
            new, state = self._changed(incident, change, config)
        except InputError as exc:
            self._reply(api, comment, f"@{comment.author}: {exc.message}. {chatops.USAGE}")
            raise
        job.add_summary(
            f"### incident-syncer: ChatOps\n\n`/incident {command.action}` from "
            f"@{comment.author} on #{comment.issue_number} → {incident_id}: "
            + {"applied": "applied", "already": "already applied (a re-run)"}.get(
                state, "nothing to change"
            )
        )
        code = self.sync_incident(new, config, command.action)
        self.finish(_outcome(code, state), incident=incident_id)
        return code

    def _home_of(self, engine: Engine, incident_id: str, number: int) -> str | None:
        """None if issue ``number`` is one the tool made for the incident (its issue, its
        postmortem or an action item) in a GitHub tracker of this repository, or if none is
        configured here; else the incident's issue ("#12", or "none" when there is none).

        The id comes from the issue's label or the marker in its body, which people can type
        (the trust rule: only the tool's own writes count); the tracker's own lookup, which
        keeps only what the tool wrote, says which issues are the incident's.
        """
        from functools import partial

        repo = (self.event.repository or "").lower()
        home = None
        for name, adapter in engine.adapters.items():
            settings = getattr(adapter, "settings", None)
            if adapter.type != "github" or str(getattr(settings, "repo", "")).lower() != repo:
                continue
            refs = engine.reconciler.find(name, adapter, incident_id)
            if not refs:
                home = home or "none"
                continue
            if str(number) in {r.native for r in refs}:  # its own issue: no more to read
                return None
            remote = engine.reconciler.with_retry(
                partial(adapter.fetch, refs[0], incident_id), name, "read"
            )
            parts = [*refs, remote.postmortem, *remote.action_items.values()]
            if str(number) in {p.native for p in parts if p is not None}:
                return None
            home = refs[0].key
        return home

    def _reply(self, api: GitHubAPI, comment: Comment, text: str) -> None:
        """One reply per command comment (found again by its marker on a re-run)."""
        from syncer import gha as job
        from syncer.errors import TrackerError

        if self.dry_run:
            click.echo(f"would reply on #{comment.issue_number}: {text}")
            return
        try:
            api.upsert_comment(comment.issue_number, "chatops-reply", str(comment.id), text)
        except TrackerError as exc:
            job.warning(f"could not reply on #{comment.issue_number}: {exc}")


def _outcome(code: int, done: str) -> str:
    """The ``outcome`` output: what was done, or how it went wrong (exit 1: failed, 2: error)."""
    return {0: done, 1: "failed"}.get(code, "error")


def _when(text: str | None, config: Config) -> datetime:
    from syncer.errors import InputError
    from syncer.timeutil import aware, now

    if not text:
        return now(config.tz).replace(microsecond=0)
    try:
        return aware(datetime.fromisoformat(text), config.tz)
    except ValueError:
        raise InputError(
            f"bad time {text!r}; expected ISO 8601 like 2024-02-12T00:25:00+09:00",
            field="inputs.at",
        ) from None
