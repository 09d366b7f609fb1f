"""The GitHub adapter: the incident as an issue, its timeline as comments, its grade as a label."""

from __future__ import annotations

import builtins
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
    CAP_REPEATS,
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
    split_repeats,
)
from adapters.github.body import fit, issue_body, title_of, truncation_note, with_marker
from adapters.github.client import GitHubClient
from adapters.github.settings import ID_LABEL, GitHubSettings, id_label
from syncer import markers
from syncer.config import Config
from syncer.errors import LookupFailed, TrackerError, retryable
from syncer.model import Status
from syncer.pacing import Limits, pacer_for
from syncer.secrets import from_env
from syncer.texts import Texts

if TYPE_CHECKING:
    from github.Issue import Issue

log = logging.getLogger("adapters.github")

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
    author: tuple[str, ...] = ()  # who opened it: login and id (in the listing: no request)


class GitHubAdapter(Adapter):
    type: ClassVar[str] = "github"
    Settings: ClassVar[builtins.type[AdapterSettings]] = GitHubSettings
    libraries: ClassVar[tuple[str, ...]] = ("github",)  # PyGithub, imported on first use
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT, CAP_REPEATS}
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
        self._seen: OrderedDict[int, tuple[float, str, list[str], tuple[str, ...]]] = OrderedDict()
        self._grade_of = {config.grade_label(g).lower(): g for g in config.grade_names}
        self.texts = Texts(config)  # the note under a body cut to GitHub's limit
        self.trust = markers.trust_for(
            name, config, settings.trusted_authors, self._whoami, token.get_secret_value()
        )
        # An installation token (ghs_: GITHUB_TOKEN in Actions, a GitHub App) may not read /user.
        self._installation = token.get_secret_value().startswith("ghs_")

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
            author=author_of(issue.user),
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
        return id_label(incident_id)

    def _list(self, incident_id: str) -> list[_Issue]:
        label = self.id_label(incident_id)
        listing = self.client.repo().get_issues(
            state="all", labels=[label], sort="created", direction="asc"
        )
        items = [self._item(i) for i in self.client.pages(f"list issues labelled {label}", listing)]
        for item in items:
            self._remember(item)
        return items

    def _whoami(self) -> list[str]:
        """Who the token writes as (login and id): ``GET /user``, or GraphQL's viewer for an
        installation token (GITHUB_TOKEN in Actions is ``github-actions[bot]``; a GitHub App,
        its bot), which may not read ``/user``. Asked only when an unsigned marker is met
        before the run wrote anything and the local state does not know the token."""
        requester = self.client.repo().requester
        if not self._installation:
            try:
                _, user = self.client.call(
                    "ask who the token is", lambda: requester.requestJsonAndCheck("GET", "/user")
                )
                return [str(user["login"]), f"id:{user['id']}"]
            except TrackerError as exc:
                if exc.status != 403:
                    raise
        query = "query { viewer { login databaseId } }"
        _, data = self.client.call(
            "ask who the token is (GraphQL)", lambda: requester.graphql_query(query, {})
        )
        viewer = data["data"]["viewer"]
        return [str(viewer["login"]), f"id:{viewer['databaseId']}"]

    def _classify(
        self, items: list[_Issue], incident_id: str
    ) -> tuple[list[tuple[_Issue, markers.Section]], list[_Issue], dict[str, list[_Issue]]]:
        """Split one listing into the incident issues (the tool's, with their owned sections),
        the postmortems and the items, each oldest first (more than one of a kind: duplicates
        of a race, to heal); people's imitations left out.

        A duplicate closed by :meth:`close_duplicate` has lost the id label, so it is not listed.
        """
        incidents: list[tuple[_Issue, markers.Section]] = []
        postmortems: list[_Issue] = []
        actions: dict[str, list[_Issue]] = {}
        for item in sorted(items, key=_age):
            where = f"#{item.number}"
            section = markers.owned(item.body, incident_id, self.trust, item.author, where)
            if section is not None:
                incidents.append((item, section))
                continue
            pm = self._leading(item, "postmortem", incident_id)
            if pm is not None:
                postmortems.append(item)
                continue
            action = self._leading(item, "action", incident_id)
            if action is not None and action.get("item"):
                actions.setdefault(action["item"], []).append(item)
        if len(incidents) > 1:  # duplicates: those the tool's own identities made are kept first
            incidents.sort(key=lambda pair: not self.trust.is_tool(pair[0].author))
        return incidents, postmortems, actions

    def _leading(self, item: _Issue, kind: str, incident_id: str) -> dict[str, str] | None:
        """The tool's ``kind`` marker on the first line of an issue it made, if it counts."""
        mark = markers.leading(item.body, kind)
        if mark is None or mark.get("id") != incident_id:
            return None
        return mark if self.trust.counts(kind, mark, item.author, f"#{item.number}") else None

    def _comments(self, number: int) -> list[tuple[tuple[str, ...], str, str]]:
        """(author, body, id) of each comment, oldest first (read as JSON; the author comes
        with the listing)."""
        path = f"/repos/{self.settings.repo}/issues/{number}/comments"
        listing = self.client.listing(f"read comments of #{number}", path)
        return [(author_of(c.get("user")), c.get("body") or "", str(c.get("id"))) for c in listing]

    def _remember(self, item: _Issue) -> None:
        """Keep the body and labels just read or written: an update right after needs them."""
        with self._lock:
            self._seen[item.number] = (
                time.monotonic(),
                item.body,
                list(item.labels),
                item.author,
            )
            self._seen.move_to_end(item.number)
            while len(self._seen) > 256:
                self._seen.popitem(last=False)

    def _current(self, number: int) -> tuple[str, list[str], tuple[str, ...]]:
        """The issue's body, labels and author, from a read a moment ago or from a fresh one."""
        with self._lock:
            seen = self._seen.get(number)
        if seen is not None and time.monotonic() - seen[0] < FRESH:
            return seen[1], list(seen[2]), seen[3]
        item = self.client.call(
            f"read #{number}", lambda: self._item(self.client.repo().get_issue(number))
        )
        self._remember(item)
        return item.body, item.labels, item.author

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
            what = f"cannot tell whether {incident_id} exists"
            raise LookupFailed.because(exc, what, self.name) from exc
        self._local.listing = (incident_id, time.monotonic(), items)
        incidents, _, _ = self._classify(items, incident_id)
        return [self._ref(item) for item, _ in incidents]

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        items = self._take_listing(incident_id)
        if items is None:
            items = self._list(incident_id)
        incidents, postmortems, actions = self._classify(items, incident_id)
        found = next(((i, s) for i, s in incidents if str(i.number) == ref.native), None)
        if found is None:
            raise TrackerError(
                f"{ref.key} is not (or no longer) the issue of {incident_id}",
                tracker=self.name,
                status=404,
            )
        item, section = found
        markers.report_strays(item.body, section, self.trust, ref.key)
        comments = self._comments(item.number)
        entries, unmarked = [], []
        bound = {"incident": incident_id}
        for author, text, comment_id in comments:
            mark = markers.trailing(text, "event")
            if mark and mark.get("id") and self.trust.counts("event", mark, author, ref.key, bound):
                entries.append((mark["id"], comment_id, author))
            else:
                unmarked.append(text)
        events, repeats = split_repeats(entries, self.trust.is_tool)
        pm = postmortems[0] if postmortems else None
        if self.settings.postmortem == "file":
            pm_ref, pm_digest = self._postmortem_file(incident_id)
        else:
            pm_ref = self._ref(pm) if pm else None
            pm_digest = (
                (self._leading(pm, "postmortem", incident_id) or {}).get("digest") if pm else None
            )
        duplicates = [
            (self._ref(copy), self._ref(copies[0]))
            for copies in [postmortems, *actions.values()]
            for copy in copies[1:]
        ]
        return Remote(
            ref=ref,
            digest=section.attrs.get("digest"),
            grades=[self._grade_of[x.lower()] for x in item.labels if x.lower() in self._grade_of],
            status_key=item.state,
            events=events,
            last_comment=comments[-1][1] if comments else None,
            unmarked=unmarked,
            postmortem=pm_ref,
            postmortem_digest=pm_digest,
            action_items={key: self._ref(copies[0]) for key, copies in actions.items()},
            snapshot=section.snapshot,
            duplicate_parts=duplicates,
            repeats=repeats,
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
            bound = {"incident": event.incident_id}
            body = with_marker(event.body, self._mark("event", bound, id=event.event_id))
            made = self.client.call(
                f"comment on {ref.key}", partial(issue.create_comment, body), write=True
            )
            self.trust.learn(author_of(made.user))

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        number = int(ref.native)
        fields: dict[str, Any] = {}
        if changes & {"content", "grade"}:
            body, labels, author = self._current(number)
            if "content" in changes:
                fields["title"] = title_of(doc.title)
                where = markers.owned(body, doc.incident.id, self.trust, author, ref.key)
                fields["body"] = self.issue_body(doc, body, where)
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
        mark = self._mark("postmortem", id=doc.incident.id, digest=doc.digest)
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
        mark = self._mark("action", id=doc.incident.id, item=doc.item_id)
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
        said = (
            (mark := markers.trailing(text, "duplicate")) is not None
            and self.trust.counts("duplicate", mark, author, duplicate.key)
            for author, text, _ in self._comments(number)
        )
        if not any(said):
            note = f"Duplicate of {keep.key}\n{self._mark('duplicate', of=keep.native)}"
            self.client.call(
                f"comment on duplicate {duplicate.key}",
                partial(issue.create_comment, note),
                write=True,
            )
        _, labels, _ = self._current(number)
        kept = [x for x in labels if not x.lower().startswith(ID_LABEL)] + [DUPLICATE_LABEL]
        self.client.call(
            f"close duplicate {duplicate.key}",
            partial(issue.edit, state="closed", state_reason="not_planned", labels=kept),
            write=True,
        )

    def remove_repeats(self, ref: IssueRef, entries: list[str]) -> None:
        for entry in entries:
            self.client.delete_comment(f"delete repeated comment {entry} on {ref.key}", entry)

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
        self.trust.learn(item.author)
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

    def issue_body(
        self, doc: IssueDoc, existing: str | None, where: markers.Section | None = None
    ) -> str:
        """The issue body: ``existing`` with the owned section ``where`` replaced, within limits."""
        return issue_body(
            doc, existing, where, texts=self.texts, tracker=self.name, keys=self.trust.keys
        )

    def _mark(self, kind: str, bound: markers.Bound = None, **attrs: str) -> str:
        """A marker of ``kind``, signed (with ``bound`` context) when a marker key is set."""
        return markers.marker(kind, **self.trust.sign(kind, attrs, bound))

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
        mark = markers.leading(text, "postmortem") or {}
        ref = IssueRef(key=path, url=content.html_url, native=content.sha)
        if mark.get("id") != incident_id or not self.trust.counts_unattributed(
            "postmortem", mark, path
        ):
            return ref, None  # a person's file (or text): rewritten in place (needs its sha)
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


def author_of(user: Any) -> tuple[str, ...]:
    """A GitHub user (PyGithub's object or the API's JSON) as the trust rule compares them:
    login, and the id that never changes."""
    if user is None:
        return ()
    if isinstance(user, dict):
        return (str(user.get("login")), f"id:{user.get('id')}")
    return (str(user.login), f"id:{user.id}")


def _age(item: _Issue) -> tuple[float, int]:
    return (item.created_at.timestamp() if item.created_at else 0.0, item.number)


def _dedupe(names: list[str]) -> list[str]:
    """``names`` without repeats, case aside (GitHub label names ignore case); the first kept."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(name.lower(), name)
    return list(first.values())
