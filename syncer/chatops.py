"""GitHub Actions events and ChatOps: what the triggering event asks for, and who may ask.

The event comes from ``$GITHUB_EVENT_PATH`` (the webhook payload of the event
that started the job). A comment ``/incident note …``, ``/incident grade SEV1
[--final]`` or ``/incident resolve [text]`` on an incident's issue becomes a
:class:`Change`; :func:`apply_change` turns a change into the incident as it
should be. Every change carries a stable event id derived from what caused it
(the comment id, the workflow run id), so a re-run job changes nothing twice.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from syncer import markers
from syncer.errors import ConfigError, InputError, TrackerError
from syncer.retry import Policy, call, delay
from syncer.texts import Texts

if TYPE_CHECKING:
    from github.IssueComment import IssueComment

    from adapters.github.client import GitHubClient
    from syncer.config import Config
    from syncer.model import Incident

T = TypeVar("T")

ACTIONS = ("open", "note", "grade", "resolve")
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_TOOL_MARKER = re.compile(r"<!--\s*incident-syncer:")
_COMMAND = re.compile(r"^\s*/incident(?:\s+(?P<rest>.*))?$", re.IGNORECASE)
_ID_LABEL = re.compile(r"^incident-id:\s*(?P<id>\S+)$", re.IGNORECASE)

USAGE = (
    "Usage: `/incident note TEXT` adds a timeline entry; "
    "`/incident grade GRADE [--final]` changes the grade; "
    "`/incident resolve [TEXT]` resolves the incident."
)


# The triggering event.


@dataclass
class Event:
    """The event that started the workflow run: its name and webhook payload."""

    name: str
    payload: dict[str, Any]
    path: str | None = None

    @property
    def repository(self) -> str | None:
        repo = self.payload.get("repository") or {}
        name = repo.get("full_name") if isinstance(repo, dict) else None
        return name or os.environ.get("GITHUB_REPOSITORY")

    @property
    def sender(self) -> dict[str, Any]:
        sender = self.payload.get("sender")
        return sender if isinstance(sender, dict) else {}


def load_event(name: str | None = None, path: str | None = None) -> Event:
    """Read ``$GITHUB_EVENT_PATH`` (or ``path``); bad or missing input is an InputError."""
    name = name or os.environ.get("GITHUB_EVENT_NAME")
    path = path or os.environ.get("GITHUB_EVENT_PATH")
    if not name:
        raise InputError("no event: GITHUB_EVENT_NAME is not set (pass --event outside Actions)")
    if not path:
        if name == "schedule":  # a scheduled run has nothing to say in its payload
            return Event(name, {})
        raise InputError(
            "no event payload: GITHUB_EVENT_PATH is not set (pass --event-path outside Actions)"
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("event payload file not found", file=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"event payload is not JSON: {exc}", file=path) from None
    if not isinstance(payload, dict):
        raise InputError("event payload is not a JSON object", file=path)
    return Event(name, payload, path)


def truthy(value: Any) -> bool:
    """workflow_dispatch inputs arrive as strings in the payload: "false" is false."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"true", "1", "yes", "on"}


def dispatch_inputs(event: Event) -> dict[str, str]:
    """A workflow_dispatch form's inputs (``inputs`` may be null), keys with ``-`` read as ``_``."""
    raw = event.payload.get("inputs") or {}
    if not isinstance(raw, dict):
        raise InputError("workflow_dispatch inputs is not an object", file=event.path)
    return {
        str(k).replace("-", "_").lower(): "" if v is None else str(v).strip()
        for k, v in raw.items()
    }


def run_event_id(prefix: str = "gha-run") -> str | None:
    """The same for every attempt of one workflow run (re-runs replay the same event)."""
    run_id = os.environ.get("GITHUB_RUN_ID")
    return f"{prefix}-{run_id}" if run_id and run_id.isdigit() else None


# repository_dispatch: an alert relayed as client_payload.

# The compact relay summary's names → the generic event's (syncer.ingest.payloads.GenericEvent).
_COMPACT_NAMES = {
    "group_key": "key",
    "groupKey": "key",
    "starts_at": "started_at",
    "startsAt": "started_at",
    "ends_at": "ended_at",
    "endsAt": "ended_at",
}
_LINK_KEYS = {
    "runbook_url": "Runbook",
    "dashboard_url": "Dashboard",
    "generator_url": "Source",
    "silence_url": "Silence",
}


def dispatch_payload(event: Event, source: str = "auto") -> tuple[str, dict[str, Any]]:
    """The alert in a repository_dispatch event: its format and the body ``ingest`` reads.

    ``client_payload`` is ``{"source": ..., "payload": {...}}`` (the way to relay a whole
    webhook body: GitHub allows 10 top-level properties, a current Alertmanager sends 12 and
    Grafana 14 or more), a compact summary (``group_key``, ``status``, ``starts_at``,
    ``summary``...) read as the generic event, or an old Alertmanager body that still fits.
    """
    payload = event.payload.get("client_payload")
    if not isinstance(payload, dict) or not payload:
        raise InputError("repository_dispatch carries no client_payload", file=event.path)
    inner = payload.get("payload")
    body: dict[str, Any] = inner if isinstance(inner, dict) else payload
    named = payload.get("source") if isinstance(inner, dict) else None
    if source == "auto" and named in ("alertmanager", "grafana", "generic"):
        source = named
    if source == "auto":
        if isinstance(body.get("alerts"), list):
            source = "grafana" if body.get("version") == "1" or "orgId" in body else "alertmanager"
        else:
            source = "generic"
    if source == "generic":
        body = _as_generic(body, event)
    return source, body


def _as_generic(body: dict[str, Any], event: Event) -> dict[str, Any]:
    """A compact alert summary as the generic event; keys it has no place for become annotations."""
    from syncer.ingest.payloads import GenericEvent

    fields = set(GenericEvent.model_fields)
    out: dict[str, Any] = {}
    annotations: dict[str, str] = {}
    links: list[dict[str, str]] = []
    for key, value in body.items():
        name = _COMPACT_NAMES.get(key, key)
        if name in fields and name not in out:
            out[name] = value
        elif (
            key in _LINK_KEYS
            and isinstance(value, str)
            and value.startswith(("http://", "https://"))
        ):
            links.append({"title": _LINK_KEYS[key], "url": value})
        elif isinstance(value, str | int | float | bool):
            annotations[key] = str(value)
    if "key" not in out:
        out["key"] = str(
            body.get("fingerprint") or body.get("alertname") or event.payload.get("action") or ""
        )
    if links:
        out["links"] = [*(out.get("links") or []), *links]
    if annotations:
        out["annotations"] = {**annotations, **(out.get("annotations") or {})}
    return out


# ChatOps comments.


@dataclass
class Comment:
    """A ``/incident`` comment on an issue."""

    id: int
    body: str
    author: str
    author_type: str
    association: str
    created_at: datetime | None
    issue_number: int
    issue: dict[str, Any]

    @property
    def event_id(self) -> str:
        return f"gh-comment-{self.id}"


def comment_of(event: Event) -> Comment | None:
    """The comment of an ``issue_comment`` event, or None if the payload has none."""
    comment = event.payload.get("comment")
    issue = event.payload.get("issue")
    if not isinstance(comment, dict) or not isinstance(issue, dict):
        return None
    user = comment.get("user") or {}
    created = comment.get("created_at")
    when = None
    if isinstance(created, str):
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            when = None
    return Comment(
        id=int(comment.get("id") or 0),
        body=str(comment.get("body") or ""),
        author=str(user.get("login") or ""),
        author_type=str(user.get("type") or ""),
        association=str(comment.get("author_association") or "NONE"),
        created_at=when,
        issue_number=int(issue.get("number") or 0),
        issue=issue,
    )


def ignore_reason(event: Event, comment: Comment | None) -> str | None:
    """Why this comment event is not a command for us (None: it is one)."""
    action = event.payload.get("action")
    if comment is None:
        return "the event carries no comment"
    if action not in (None, "created"):
        return f"comment {action}, not created"
    if comment.issue.get("pull_request"):
        return "a comment on a pull request, not on an incident issue"
    sender_type = str(event.sender.get("type") or "")
    if comment.author_type == "Bot" or sender_type == "Bot" or comment.author.endswith("[bot]"):
        return f"a comment by the bot {comment.author or event.sender.get('login')}"
    if _TOOL_MARKER.search(comment.body):
        return "a comment incident-syncer posted itself"
    if parse_command(comment.body) is None:
        return "not an /incident command"
    return None


@dataclass
class Command:
    """What a ``/incident`` line asks for."""

    action: str
    text: str = ""
    grade: str | None = None
    final: bool = False
    error: str | None = None


def first_prose_line(body: str) -> int | None:
    """The index of the comment's first line of prose: not in a fenced or indented code
    block, a blockquote or an HTML block (a command shown as an example is no command)."""
    from markdown_it import MarkdownIt

    skipped = {"fence", "code_block", "html_block", "blockquote_open"}
    for token in MarkdownIt("commonmark").parse(body):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        if token.type not in skipped:
            return token.map[0]
    return None


def parse_command(body: str) -> Command | None:
    """The command a comment gives: only its first line of prose (see :func:`first_prose_line`)
    may be an ``/incident …`` line; the lines after it are a note's text."""
    lines = body.replace("\r\n", "\n").split("\n")
    index = first_prose_line("\n".join(lines))
    if index is None:
        return None
    match = _COMMAND.match(lines[index])
    if not match:
        return None
    rest = (match.group("rest") or "").strip()
    word, _, tail = rest.partition(" ")
    word = word.lower()
    following = "\n".join(lines[index + 1 :]).strip()
    text = "\n".join(part for part in (tail.strip(), following) if part)
    if word == "note":
        if not text:
            return Command("note", error="`/incident note` needs a text")
        return Command("note", text=text)
    if word == "grade":
        args = tail.split()
        final = "--final" in args
        names = [a for a in args if a != "--final"]
        if len(names) != 1:
            return Command("grade", error="`/incident grade` takes one grade, e.g. SEV1")
        return Command("grade", grade=names[0], final=final)
    if word == "resolve":
        return Command("resolve", text=text)
    if word in ("", "help"):
        return Command("help")
    return Command(word, error=f"unknown command `/incident {word}`")


def incident_id_of(issue: dict[str, Any]) -> str | None:
    """The incident an issue belongs to: its ``incident-id:X`` label, else the body's marker.

    A label holds at most 50 characters, so a longer id is shortened there: the whole id is
    the one in the tool's marker whose id gives exactly that label.
    """
    from adapters.github.settings import id_label

    body = issue.get("body")
    kinds = (markers.BEGIN, "postmortem", "action")
    marked = [
        m.attrs["id"]
        for m in markers.find_all(body if isinstance(body, str) else None)
        if m.kind in kinds and m.attrs.get("id")
    ]
    for label in issue.get("labels") or []:
        name = str((label.get("name") if isinstance(label, dict) else label) or "")
        match = _ID_LABEL.match(name)
        if not match:
            continue
        value = match.group("id")
        if "~" not in value and id_label(value) == name:  # "~" marks a shortened label
            return value
        return next((full for full in marked if id_label(full) == name), None)
    return marked[0] if marked else None


def permission_rank(name: str) -> int:
    return PERMISSIONS.index(name) if name in PERMISSIONS else 0


# Changes to an incident, from a comment or a workflow_dispatch form.


@dataclass
class Change:
    """One imperative change: open, note, grade or resolve an incident."""

    action: str
    incident_id: str | None
    at: datetime
    event_id: str | None = None
    text: str = ""
    grade: str | None = None
    final: bool = False
    author: str | None = None
    title: str | None = None
    commander: str | None = None
    services: list[str] = field(default_factory=list)


def resolve_grade(name: str | None, config: Config) -> str:
    """The configured grade named ``name`` (case-insensitive), else an InputError listing them."""
    for grade in config.grade_names:
        if name and grade.lower() == name.lower():
            return grade
    raise InputError(
        f"unknown grade {name!r}; expected one of: {', '.join(config.grade_names)}", field="grade"
    )


def already_applied(incident: Incident, change: Change) -> bool:
    """True if the timeline already holds the entry this change makes (a re-run of the job)."""
    for event in incident.timeline:
        if change.event_id and event.id == change.event_id:
            return True
        # A grade change keeps the engine's id (grade-OLD-to-NEW): recognise it by who and when.
        if (
            change.action == "grade"
            and event.kind == "grade"
            and event.author == change.author
            and event.at == change.at
        ):
            return True
    return False


def _event(change: Change, text: str, kind: str, event_id: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"at": change.at.isoformat(), "text": text, "kind": kind}
    if change.author:
        event["author"] = change.author
    if event_id:
        event["id"] = event_id
    return event


def open_data(change: Change, config: Config) -> dict[str, Any]:
    """A new incident from an ``open`` change (the same shape ``incident-syncer open`` makes)."""
    if not change.incident_id or not change.title:
        raise InputError("open needs an incident id and a title", field="title")
    detection = change.text or None
    text = Texts(config)("detected", detection)
    data: dict[str, Any] = {
        "id": change.incident_id,
        "title": change.title,
        "grade": resolve_grade(change.grade, config),
        "status": "detected",
        "detected_at": change.at.isoformat(),
        "services": list(change.services),
        "timeline": [_event(change, text, "detection", change.event_id)],
    }
    if change.commander:
        data["commander"] = change.commander
    if detection:
        data["detection"] = detection
    return data


def changed_data(incident: Incident, change: Change, config: Config) -> dict[str, Any] | None:
    """The incident's data with ``change`` applied; None when there is nothing to change."""
    data = incident.to_data()
    texts = Texts(config)
    timeline: list[dict[str, Any]] = data.setdefault("timeline", [])
    if change.action == "note":
        if not change.text:
            raise InputError("a note needs a text", field="text")
        timeline.append(_event(change, change.text, "note", change.event_id))
        return data
    if change.action == "grade":
        new = resolve_grade(change.grade, config)
        old = incident.grade
        if old == new and (not change.final or incident.grade_final):
            return None
        data["grade"] = new
        if change.final:
            data["grade_final"] = True
        if old != new:
            text = texts("regrade", old, new, change.final)
            event_id: str | None = f"grade-{old}-to-{new}"
        else:
            text = texts("grade_set", new, change.final)
            event_id = change.event_id
        if change.text:
            text += f"\n\n{change.text}"
        timeline.append(_event(change, text, "grade", event_id))
        return data
    if change.action == "resolve":
        if incident.status.is_over:
            return None
        when = change.at.isoformat()
        data["status"] = "resolved"
        data["resolved_at"] = when
        if data.get("mitigated_at") is None:
            data["mitigated_at"] = when
        if change.text:
            data["resolution"] = change.text
        text = texts("resolved", change.text)
        timeline.append(_event(change, text, "status", change.event_id))
        return data
    raise InputError(f"unknown action {change.action!r}; expected one of: {', '.join(ACTIONS)}")


# What ChatOps and pull-request previews need of GitHub, through the GitHub adapter's client.


@dataclass
class GitHubAPI:
    """Comments, collaborator permission and pull-request files of one repository.

    Every request goes through the GitHub tracker's client: its validated settings, its
    token, its pacer (one budget with the syncs) and its error classification. Reads are
    retried per the policy; a write whose answer is lost is looked for before it is repeated.
    """

    client: GitHubClient
    trust: markers.Trust
    policy: Policy = field(default_factory=Policy.from_env)

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        return call(lambda: self.client.call(what, fn), self.policy, what=what)

    def permission(self, user: str) -> str:
        """The user's permission on the repository (none, read, triage, write, maintain, admin)."""
        repo = self.client.repo()
        url = f"{repo.url}/collaborators/{urllib.parse.quote(user, safe='')}/permission"
        try:
            _, data = self._read(
                f"read the permission of {user}",
                lambda: repo.requester.requestJsonAndCheck("GET", url),
            )
        except TrackerError as exc:
            if exc.status == 404:
                return "none"
            raise
        data = data or {}
        role = str(data.get("role_name") or "")
        return role if role in PERMISSIONS else str(data.get("permission") or "none")

    def _comments(self, number: int) -> list[IssueComment]:
        listing = self.client.repo().get_issue(number).get_comments()
        what = f"read comments of #{number}"
        return self._read(what, lambda: self.client.pages(what, listing))

    def comments(self, number: int) -> list[dict[str, Any]]:
        return [{"id": c.id, "body": c.body or ""} for c in self._comments(number)]

    def pull_files(self, number: int) -> list[str]:
        listing = self.client.repo().get_pull(number).get_files()
        what = f"list the files of pull request #{number}"
        files = self._read(what, lambda: self.client.pages(what, listing))
        return [f.filename for f in files if f.status != "removed"]

    def upsert_comment(self, number: int, kind: str, key: str, body: str) -> str:
        """One comment per (kind, key), found by its marker: created, updated or left as it is.

        Only the tool's own comment is the one (its marker signed, or written by the tool's
        identity): a look-alike someone posted is neither edited nor taken for it. A write
        whose answer is lost is never repeated blindly: the comments are listed again and
        only what is still missing is done.
        """
        from adapters.github.adapter import author_of

        mark = markers.marker(kind, **self.trust.sign(kind, {"key": key}))
        full = f"{mark}\n{markers.neutralise(body)}"

        def ours(comment: IssueComment) -> bool:
            found = markers.leading(comment.body, kind)
            return (
                found is not None
                and found.get("key") == key
                and self.trust.counts(kind, found, author_of(comment.user), f"#{number}")
            )

        attempt = 0
        while True:
            attempt += 1
            try:
                existing = next((c for c in self._comments(number) if ours(c)), None)
                if existing is None:
                    issue = self.client.repo().get_issue(number)
                    what = f"comment on #{number}"
                    made = self.client.call(what, partial(issue.create_comment, full), write=True)
                    self.trust.learn(author_of(made.user))
                    return "created"
                if existing.body == full:
                    return "unchanged"
                what = f"update comment {existing.id} on #{number}"
                self.client.call(what, partial(existing.edit, full), write=True)
                return "updated"
            except TrackerError as exc:
                if not exc.retryable or attempt >= self.policy.attempts:
                    raise
                self.policy.clock.sleep(delay(self.policy, attempt, exc))


def github_api(config: Config, repo: str | None) -> GitHubAPI:
    """The client of the GitHub tracker configured for ``repo``.

    A repository no tracker names (a pull request's preview, say) gets the first GitHub
    tracker's settings (token, server, pacing) with ``repo`` in place; with no GitHub
    tracker at all, the defaults with ``$GITHUB_TOKEN`` and ``$GITHUB_API_URL``.
    """
    from adapters.github import GitHubAdapter
    from syncer import registry

    if not repo:
        raise ConfigError("no repository: GITHUB_REPOSITORY is not set")
    named = [n for n, t in config.trackers.items() if t.get("type") == "github"]
    same = [n for n in named if str(config.trackers[n].get("repo", "")).lower() == repo.lower()]
    if same:
        adapter = registry.build(same[0], config)
    else:
        name = named[0] if named else "github"
        table = dict(config.trackers[name]) if named else {"type": "github"}
        if not named and os.environ.get("GITHUB_API_URL"):
            table["base_url"] = os.environ["GITHUB_API_URL"]
        adapter = registry.build(name, config, {**table, "repo": repo})
    github = cast(GitHubAdapter, adapter)
    return GitHubAPI(github.client, github.trust)
