"""The GitHub adapter: the incident as an issue, its timeline as comments, its grade as a label."""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import quote

from adapters.base import (
    CAP_ACTION_ITEMS,
    CAP_POSTMORTEM,
    CAP_SNAPSHOT,
    CAP_STATUS,
    ActionItemDoc,
    Adapter,
    AdapterSettings,
    EventDoc,
    IssueDoc,
    IssueRef,
    PostmortemDoc,
    Remote,
)
from adapters.github.body import fit, issue_body, title_of, truncation_note, with_marker
from adapters.github.client import GitHubClient
from adapters.github.settings import LABEL_LIMIT, GitHubSettings
from syncer import markers
from syncer.config import Config
from syncer.errors import LookupFailed, TrackerError, retryable
from syncer.model import Status
from syncer.retry import Limits, pacer_for
from syncer.secrets import from_env
from syncer.texts import Texts

if TYPE_CHECKING:
    from github.Issue import Issue

log = logging.getLogger("adapters.github")

ID_LABEL = "incident-id:"
POSTMORTEM_LABEL = "postmortem"
ACTION_ITEM_LABEL = "action-item"
DUPLICATE_LABEL = "duplicate"
FRESH = 2.0  # seconds for which a body and labels just read are trusted for an update
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


@dataclass
class _Issue:
    """What the adapter needs of an issue (read once from PyGithub's object)."""

    number: int
    title: str
    body: str
    labels: list[str]
    state: str
    created_at: datetime | None
    html_url: str


class GitHubAdapter(Adapter):
    type: ClassVar[str] = "github"
    Settings: ClassVar[builtins.type[AdapterSettings]] = GitHubSettings
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT}
    )
    # GitHub asks for about one content-creating request a second and allows 80 a minute
    # and 500 an hour (its secondary limits).
    default_limits: ClassVar[Limits] = Limits(
        writes_per_second=1.0, writes_per_minute=80, writes_per_hour=500
    )

    def __init__(self, name: str, settings: GitHubSettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.config = config
        token = from_env(settings.token_env, setting=f"trackers.{name}.token_env")
        # One budget for every thread and engine syncing to this tracker (GitHub's limits).
        self.pacer = pacer_for(name, settings, self.default_limits)
        self.client = GitHubClient(name, settings, token, self.pacer)
        self._local = threading.local()  # find's listing, for the fetch that follows it
        self._lock = threading.Lock()
        self._labels_ok: set[str] = set()
        self._assignable: dict[str, bool] = {}
        self._seen: OrderedDict[int, tuple[float, str, list[str]]] = OrderedDict()
        self._grade_of = {config.grade_label(g).lower(): g for g in config.grade_names}
        self.texts = Texts(config)  # the note under a body cut to GitHub's limit

    # Reading.

    def _item(self, issue: Issue) -> _Issue:
        return _Issue(
            number=issue.number,
            title=issue.title or "",
            body=issue.body or "",
            labels=[label.name for label in issue.labels],
            state=issue.state,
            created_at=issue.created_at,
            html_url=issue.html_url,
        )

    def _ref(self, item: _Issue) -> IssueRef:
        return IssueRef(
            key=f"#{item.number}",
            url=item.html_url,
            native=str(item.number),
            created_at=item.created_at,
        )

    def id_label(self, incident_id: str) -> str:
        """The label that finds everything of one incident (GitHub allows 50 characters)."""
        label = ID_LABEL + incident_id
        if len(label) <= LABEL_LIMIT:
            return label
        digest = hashlib.sha256(incident_id.encode()).hexdigest()[:8]
        return f"{label[: LABEL_LIMIT - 9]}~{digest}"

    def _list(self, incident_id: str) -> list[_Issue]:
        label = self.id_label(incident_id)
        listing = self.client.repo().get_issues(
            state="all", labels=[label], sort="created", direction="asc"
        )
        items = [self._item(i) for i in self.client.pages(f"list issues labelled {label}", listing)]
        for item in items:
            self._remember(item)
        return items

    def _classify(
        self, items: list[_Issue], incident_id: str
    ) -> tuple[list[_Issue], list[_Issue], dict[str, list[_Issue]]]:
        """Split one listing into the incident issues, the postmortems and the items, each
        oldest first (more than one of a kind: duplicates of a race, to heal).

        A duplicate closed by :meth:`close_duplicate` has lost the id label, so it is not listed.
        """
        incidents: list[_Issue] = []
        postmortems: list[_Issue] = []
        actions: dict[str, list[_Issue]] = {}
        for item in sorted(items, key=_age):
            begin = markers.find(item.body, markers.BEGIN)
            if begin is not None and begin.get("id") == incident_id:
                incidents.append(item)
                continue
            pm = markers.find(item.body, "postmortem")
            if pm is not None and pm.get("id") == incident_id:
                postmortems.append(item)
                continue
            action = markers.find(item.body, "action")
            if action is not None and action.get("id") == incident_id and action.get("item"):
                actions.setdefault(action["item"], []).append(item)
        return incidents, postmortems, actions

    def _comments(self, number: int) -> list[str]:
        """The bodies of the issue's comments, oldest first (read as JSON: only the text)."""
        path = f"/repos/{self.settings.repo}/issues/{number}/comments"
        return [
            c.get("body") or "" for c in self.client.listing(f"read comments of #{number}", path)
        ]

    def _remember(self, item: _Issue) -> None:
        """Keep the body and labels just read or written: an update right after needs them."""
        with self._lock:
            self._seen[item.number] = (time.monotonic(), item.body, list(item.labels))
            self._seen.move_to_end(item.number)
            while len(self._seen) > 256:
                self._seen.popitem(last=False)

    def _current(self, number: int) -> tuple[str, list[str]]:
        """The issue's body and labels, from a read a moment ago or from a fresh one."""
        with self._lock:
            seen = self._seen.get(number)
        if seen is not None and time.monotonic() - seen[0] < FRESH:
            return seen[1], list(seen[2])
        item = self.client.call(
            f"read #{number}", lambda: self._item(self.client.repo().get_issue(number))
        )
        self._remember(item)
        return item.body, item.labels

    def _take_listing(self, incident_id: str) -> list[_Issue] | None:
        """The listing ``find`` made a moment ago in this thread, used once by ``fetch``."""
        cached = getattr(self._local, "listing", None)
        self._local.listing = None
        if cached is not None and cached[0] == incident_id and time.monotonic() - cached[1] < FRESH:
            return cast(list[_Issue], cached[2])
        return None

    # The adapter contract.

    def find(self, incident_id: str) -> list[IssueRef]:
        try:
            items = self._list(incident_id)
        except TrackerError as exc:
            raise LookupFailed(
                f"cannot tell whether {incident_id} exists: {exc.message}",
                tracker=self.name,
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                status=exc.status,
            ) from exc
        self._local.listing = (incident_id, time.monotonic(), items)
        incidents, _, _ = self._classify(items, incident_id)
        return [self._ref(item) for item in incidents]

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        items = self._take_listing(incident_id)
        if items is None:
            items = self._list(incident_id)
        incidents, postmortems, actions = self._classify(items, incident_id)
        item = next((i for i in incidents if str(i.number) == ref.native), None)
        if item is None:
            raise TrackerError(
                f"{ref.key} is not (or no longer) the issue of {incident_id}",
                tracker=self.name,
                status=404,
            )
        comments = self._comments(item.number)
        events, unmarked = [], []
        for text in comments:
            mark = markers.find(text, "event")
            if mark and mark.get("id"):
                events.append(mark["id"])
            else:
                unmarked.append(text)
        pm = postmortems[0] if postmortems else None
        if self.settings.postmortem == "file":
            pm_ref, pm_digest = self._postmortem_file(incident_id)
        else:
            pm_ref = self._ref(pm) if pm else None
            pm_digest = (markers.find(pm.body, "postmortem") or {}).get("digest") if pm else None
        duplicates = [
            (self._ref(copy), self._ref(copies[0]))
            for copies in [postmortems, *actions.values()]
            for copy in copies[1:]
        ]
        return Remote(
            ref=ref,
            digest=(markers.find(item.body, markers.BEGIN) or {}).get("digest"),
            grades=[self._grade_of[x.lower()] for x in item.labels if x.lower() in self._grade_of],
            status_key=item.state,
            events=events,
            last_comment=comments[-1] if comments else None,
            unmarked=unmarked,
            postmortem=pm_ref,
            postmortem_digest=pm_digest,
            action_items={key: self._ref(copies[0]) for key, copies in actions.items()},
            snapshot=markers.find_snapshot(item.body),
            duplicate_parts=duplicates,
        )

    def create(self, doc: IssueDoc) -> IssueRef:
        labels = _dedupe([*self.settings.labels, doc.grade_label, self.id_label(doc.incident.id)])
        self._ensure_label(doc.grade_label, self.config.grade(doc.grade).color)
        assignees = self._assignees(doc.incident.commander)
        body = self.issue_body(doc, None)
        item = self._create_issue(doc.title, body, labels, assignees)
        log.info("%s: created #%d for %s", self.name, item.number, doc.incident.id)
        return self._ref(item)

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        issue = self.client.repo().get_issue(int(ref.native))
        for event in events:
            body = with_marker(event.body, markers.marker("event", id=event.event_id))
            self.client.call(
                f"comment on {ref.key}", partial(issue.create_comment, body), write=True
            )

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        number = int(ref.native)
        fields: dict[str, Any] = {}
        if changes & {"content", "grade"}:
            body, labels = self._current(number)
            if "content" in changes:
                fields["title"] = title_of(doc.title)
                fields["body"] = self.issue_body(doc, body)
            if "grade" in changes:
                self._ensure_label(doc.grade_label, self.config.grade(doc.grade).color)
                fields["labels"] = self._labels_with_grade(labels, doc)
        if "status" in changes:
            state = self.status_key(doc.status)
            fields["state"] = state
            if state == "closed":
                fields["state_reason"] = "completed"
        if not fields:
            return
        issue = self.client.repo().get_issue(number)
        self.client.call(f"update {ref.key}", partial(issue.edit, **fields), write=True)
        self._remember(self._item(issue))

    def status_key(self, status: Status) -> str | None:
        return "closed" if status.is_over else "open"

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        mark = markers.marker("postmortem", id=doc.incident.id, digest=doc.digest)
        if self.settings.postmortem == "file":
            return self._publish_file(doc, existing, mark)
        body = fit(doc.body, mark, truncation_note(len(doc.body), [], self.texts))
        if existing is not None:
            issue = self.client.repo().get_issue(int(existing.native))
            self.client.call(
                f"update postmortem {existing.key}",
                partial(issue.edit, title=title_of(doc.title), body=body),
                write=True,
            )
            return existing
        labels = [POSTMORTEM_LABEL, self.id_label(doc.incident.id)]
        author = doc.incident.postmortem.author if doc.incident.postmortem else None
        item = self._create_issue(doc.title, body, labels, self._assignees(author))
        return self._ref(item)

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        mark = markers.marker("action", id=doc.incident.id, item=doc.item_id)
        links = [f"- incident: {ref.url}"]
        if postmortem is not None:
            links.append(f"- postmortem: {postmortem.url}")
        body = fit(doc.body + "\n\n" + "\n".join(links), mark, "")
        labels = [ACTION_ITEM_LABEL, self.id_label(doc.incident.id)]
        item = self._create_issue(doc.title, body, labels, self._assignees(doc.item.owner))
        return self._ref(item)

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        number = int(duplicate.native)
        issue = self.client.repo().get_issue(number)
        # Said once: after a failed close, the next attempt finds the comment already there.
        if not any(markers.find(text, "duplicate") for text in self._comments(number)):
            note = f"Duplicate of {keep.key}\n{markers.marker('duplicate', of=keep.native)}"
            self.client.call(
                f"comment on duplicate {duplicate.key}",
                partial(issue.create_comment, note),
                write=True,
            )
        _, labels = self._current(number)
        kept = [x for x in labels if not x.lower().startswith(ID_LABEL)] + [DUPLICATE_LABEL]
        self.client.call(
            f"close duplicate {duplicate.key}",
            partial(issue.edit, state="closed", state_reason="not_planned", labels=kept),
            write=True,
        )

    # Writing helpers.

    def _create_issue(
        self, title: str, body: str, labels: list[str], assignees: list[str]
    ) -> _Issue:
        from github import GithubException

        repo = self.client.repo()
        create = partial(repo.create_issue, title=title_of(title), body=body, labels=labels)
        try:
            issue = self.client.call(
                "create issue",
                partial(create, assignees=assignees) if assignees else create,
                write=True,
            )
        except TrackerError as exc:
            # A 422 for the assignees means nothing was created: create it unassigned.
            cause = exc.__cause__
            if not (
                assignees
                and isinstance(cause, GithubException)
                and cause.status == 422
                and "assignee" in str(cause.data)
            ):
                raise
            log.warning("%s: cannot assign %s; creating unassigned", self.name, assignees)
            issue = self.client.call("create issue", create, write=True)
        item = self._item(issue)
        self._remember(item)
        missing = {x.lower() for x in labels} - {x.lower() for x in item.labels}
        if missing:
            # GitHub drops labels silently for tokens without triage/push access; without the
            # id label the next sync could not find this issue and would create another.
            raise TrackerError(
                f"#{item.number} was created without the labels {sorted(missing)}: the token in "
                f"${self.settings.token_env} needs write access to {self.settings.repo}'s issues",
                tracker=self.name,
                status=403,
            )
        return item

    def _labels_with_grade(self, labels: list[str], doc: IssueDoc) -> list[str]:
        """People's labels kept; exactly one grade label; ours put back if someone removed them."""
        stale = {x.lower() for x in doc.all_grade_labels.values()} | set(self._grade_of)
        stale.discard(doc.grade_label.lower())
        kept = [x for x in labels if x.lower() not in stale]
        return _dedupe(
            [*kept, *self.settings.labels, self.id_label(doc.incident.id), doc.grade_label]
        )

    def _ensure_label(self, name: str, color: str) -> None:
        """Create a grade label with its colour if the repository lacks it (once per run)."""
        from github import UnknownObjectException

        if name.lower() in self._labels_ok:
            return
        repo = self.client.repo()
        try:
            self.client.call(f"read label {name}", lambda: repo.get_label(name).color)
        except TrackerError as exc:
            if not isinstance(exc.__cause__, UnknownObjectException):
                raise
            try:
                self.client.call(
                    f"create label {name}",
                    partial(repo.create_label, name, color.lower(), "incident grade"),
                    write=True,
                )
            except TrackerError as again:
                if again.retryable:
                    raise
                # 422: someone created it just now. Otherwise (403: no right to manage labels)
                # GitHub creates it, uncoloured, when the issue uses it.
                if again.status != 422:
                    log.warning("%s: cannot create label %s: %s", self.name, name, again)
        with self._lock:
            self._labels_ok.add(name.lower())

    def _assignees(self, login: str | None) -> list[str]:
        """``[login]`` if that GitHub user may be assigned here; never fails the sync over it."""
        if not self.settings.assign_commander or not login:
            return []
        login = login.strip().removeprefix("@")
        if not _LOGIN.match(login):
            return []
        with self._lock:
            known = self._assignable.get(login.lower())
        if known is None:
            repo = self.client.repo()
            what = f"check assignee {login}"
            status, headers, data = self.client.call(
                what,
                lambda: repo.requester.requestJson(
                    "GET", f"{repo.url}/assignees/{quote(login, safe='')}"
                ),
            )
            if retryable(status, headers, data):
                raise self.client.error(what, status, headers or {}, data)
            known = status == 204  # anything else final (404: not assignable) assigns nobody
            with self._lock:
                self._assignable[login.lower()] = known
        return [login] if known else []

    def issue_body(self, doc: IssueDoc, existing: str | None) -> str:
        """The issue body: ``existing`` with the owned section replaced, within GitHub's limit."""
        return issue_body(doc, existing, texts=self.texts, tracker=self.name)

    # Postmortem as a file (the contents API).

    def _pm_path(self, incident_id: str) -> str:
        return self.settings.postmortem_path.format(id=incident_id)

    def _postmortem_file(self, incident_id: str) -> tuple[IssueRef | None, str | None]:
        from github import UnknownObjectException

        path = self._pm_path(incident_id)
        repo = self.client.repo()
        branch = self.settings.postmortem_branch
        try:
            content = self.client.call(
                f"read {path}",
                lambda: repo.get_contents(path, ref=branch) if branch else repo.get_contents(path),
            )
        except TrackerError as exc:
            if isinstance(exc.__cause__, UnknownObjectException):
                return None, None
            raise
        if isinstance(content, list):  # a folder where the file should be
            raise TrackerError(f"{path} is a folder, not a file", tracker=self.name)
        text = content.decoded_content.decode("utf-8", errors="replace")
        mark = markers.find(text, "postmortem") or {}
        ref = IssueRef(key=path, url=content.html_url, native=content.sha)
        if mark.get("id") != incident_id:
            return ref, None  # a person's file: updated in place (needs its sha)
        return ref, mark.get("digest")

    def _publish_file(self, doc: PostmortemDoc, existing: IssueRef | None, mark: str) -> IssueRef:
        from github.ContentFile import ContentFile

        path = self._pm_path(doc.incident.id)
        repo = self.client.repo()
        text = f"{mark}\n{doc.body.rstrip()}\n"
        message = f"{doc.title} ({doc.incident.id})"
        extra: dict[str, Any] = {}
        if self.settings.postmortem_branch:
            extra["branch"] = self.settings.postmortem_branch
        if existing is not None:
            call = partial(repo.update_file, path, message, text, existing.native, **extra)
        else:
            call = partial(repo.create_file, path, message, text, **extra)
        result = self.client.call(f"write {path}", call, write=True)
        content = cast(ContentFile, result["content"])
        return IssueRef(key=path, url=content.html_url, native=content.sha)


def _age(item: _Issue) -> tuple[float, int]:
    return (item.created_at.timestamp() if item.created_at else 0.0, item.number)


def _dedupe(names: list[str]) -> list[str]:
    """``names`` without repeats, case aside (GitHub label names ignore case); the first kept."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(name.lower(), name)
    return list(first.values())
