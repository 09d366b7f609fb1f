"""An in-memory tracker: the reference adapter, the engine's test double, and a local demo.

It behaves like a small issue tracker (issues with labels and comments, open
or closed, linked postmortem and action-item issues, each with its author) and
keeps a call log and fault injection so that engine tests can count writes and
break things. With ``path`` set, the store is kept in a JSON file, so the CLI
can sync into it with no tracker account at all. Several processes may share the file: each
call holds a file lock beside it, reads the file again if another process
replaced it, and a write replaces it atomically (a reader never sees half).

The trust rule of :mod:`adapters.base` holds here as on the real trackers: the
tool writes as ``identity`` (what a token would be), and a marker counts only
when signed or written by that identity. Tests plant people's issues and
comments with another ``author``.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock
from pydantic import Field

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
from syncer import markers
from syncer.config import Config
from syncer.errors import TrackerError
from syncer.model import Status
from syncer.pacing import pacer_for

PAGE = 100  # comments per read, as the real trackers page them
TOOL = "incident-syncer"


class MemorySettings(AdapterSettings):
    store: str = Field("default", description="name of the shared in-process store")
    path: str | None = Field(None, description="keep the store in this JSON file")
    identity: str = Field(TOOL, description="who the tool writes as here (as a token would be)")


@dataclass
class Store:
    """The tracker's data plus a call log and fault injection."""

    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_rate: float = 0.0
    fail_after_write: bool = False
    reads_down: bool = False  # every read fails (writes would succeed)
    unreachable: bool = False  # no call gets an answer
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    lock: threading.RLock = field(default_factory=threading.RLock)
    # File-backed: the lock other processes honour, and which version of the file is loaded.
    file_lock: FileLock | None = None
    loaded: tuple[int, int, int] | None = None

    def writes(self) -> int:
        return sum(1 for kind, _ in self.calls if kind == "write")

    def reads(self) -> int:
        return sum(1 for kind, _ in self.calls if kind == "read")

    def to_json(self) -> dict[str, Any]:
        return {"issues": {str(k): v for k, v in self.issues.items()}}

    def load_json(self, data: dict[str, Any]) -> None:
        self.issues = {int(k): v for k, v in data.get("issues", {}).items()}
        for issue in self.issues.values():
            # Files from before authors were kept: everything in them was the tool's writing.
            issue.setdefault("author", TOOL)
            issue["comments"] = [
                c if isinstance(c, dict) else {"author": TOOL, "body": c} for c in issue["comments"]
            ]


def texts(issue: dict[str, Any]) -> list[str]:
    """The bodies of an issue's comments, in order."""
    return [str(c["body"]) for c in issue["comments"]]


_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def store(name: str = "default") -> Store:
    with _STORES_LOCK:
        return _STORES.setdefault(name, Store())


def reset(name: str = "default") -> Store:
    with _STORES_LOCK:
        _STORES[name] = Store()
        return _STORES[name]


class MemoryAdapter(Adapter):
    type: ClassVar[str] = "memory"
    Settings: ClassVar[builtins.type[AdapterSettings]] = MemorySettings
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT, CAP_REPEATS}
    )

    def __init__(self, name: str, settings: MemorySettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.path = Path(settings.path) if settings.path else None
        if self.path is not None and not self.path.is_absolute() and config.path is not None:
            self.path = config.path.parent / self.path
        self.store = store(str(self.path) if self.path else settings.store)
        self.identity = settings.identity
        self.trust = markers.trust_for(
            name, config, settings.trusted_authors, self._whoami, settings.identity
        )
        # Unpaced unless the table sets a rate (tests and benchmarks of pacing do).
        self.pacer = pacer_for(name, settings, self.default_limits)
        if self.path is not None:  # a bad file fails here, at start-up, not in the first sync
            with self.store.lock, self._file_lock():
                self._take_up()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The store to read or change: this process's threads and, with a file, other processes."""
        with self.store.lock:
            if self.path is None:
                yield
                return
            with self._file_lock():
                self._take_up()
                yield

    def _file_lock(self) -> FileLock:
        """The lock other processes on the file take too (call under ``store.lock``)."""
        if self.store.file_lock is None:
            assert self.path is not None  # only a file-backed store has one
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.store.file_lock = FileLock(str(self.path) + ".lock", thread_local=False)
        return self.store.file_lock

    def _take_up(self) -> None:
        """Load what another process wrote to the file since this one last read it."""
        assert self.path is not None
        seen = _version(self.path)
        if seen is not None and seen != self.store.loaded:
            self.store.load_json(json.loads(self.path.read_text(encoding="utf-8")))
            self.store.loaded = seen

    # Plumbing: the call log, faults, persistence.

    def _call(self, kind: str, what: str) -> None:
        self.pacer.wait(write=kind == "write")
        with self.store.lock:
            self.store.calls.append((kind, what))
            if self.store.unreachable:
                self.pacer.observe(None)
                raise TrackerError(f"{what}: no answer", tracker=self.name, retryable=True)
            if kind == "read" and self.store.reads_down:
                self.pacer.observe(503)
                raise TrackerError(
                    f"{what}: reads are down", tracker=self.name, retryable=True, status=503
                )
            if self.store.fail_rate and self.store.rng.random() < self.store.fail_rate:
                self.pacer.observe(503)
                raise TrackerError(
                    f"injected failure in {what}", tracker=self.name, retryable=True, status=503
                )
        self.pacer.observe(200)

    def _wrote(self, what: str) -> None:
        """After a write: persist; optionally fail as if the answer was lost."""
        if self.path is not None:
            # Replace, never rewrite in place: a reader, or a process killed mid-write, sees
            # the old file or the new one. A temporary name of its own: never another's.
            fd, partial = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.store.to_json(), out, ensure_ascii=False, indent=1)
            os.replace(partial, self.path)
            self.store.loaded = _version(self.path)
        if self.store.fail_after_write and self.store.rng.random() < self.store.fail_rate:
            raise TrackerError(
                f"answer lost after {what}", tracker=self.name, retryable=True, status=502
            )

    def _whoami(self) -> list[str]:
        self._call("read", "whoami")
        return [self.identity]

    def _ref(self, number: int) -> IssueRef:
        return IssueRef(key=f"#{number}", url=f"memory://{self.name}/{number}", native=str(number))

    def _new(
        self, kind: str, title: str, body: str, labels: list[str], incident_id: str
    ) -> dict[str, Any]:
        number = max(self.store.issues, default=0) + 1
        issue = {
            "number": number,
            "kind": kind,
            "incident": incident_id,
            "title": title,
            "body": body,
            "labels": labels,
            "state": "open",
            "comments": [],
            "author": self.identity,
        }
        self.store.issues[number] = issue
        self.trust.learn(self.identity)  # what the tool wrote names who it writes as
        return issue

    # The adapter contract.

    def _labelled(self, kind: str, incident_id: str) -> list[dict[str, Any]]:
        """Issues of ``kind`` for the incident, oldest first (what a label lists, anyone's)."""
        return sorted(
            (
                i
                for i in self.store.issues.values()
                if i["kind"] == kind and i["incident"] == incident_id
            ),
            key=lambda i: i["number"],
        )

    def _marked(self, issue: dict[str, Any], kind: str, incident_id: str) -> dict[str, str] | None:
        """The attributes of the tool's ``kind`` marker on the first line of an issue body."""
        mark = markers.leading(issue["body"], kind)
        if mark is None or mark.get("id") != incident_id:
            return None
        where = f"#{issue['number']}"
        return mark if self.trust.counts(kind, mark, issue.get("author"), where) else None

    def find(self, incident_id: str) -> list[IssueRef]:
        self._call("read", "find")
        with self._locked():
            ours = [
                i
                for i in self._labelled("incident", incident_id)
                if markers.owned(
                    i["body"], incident_id, self.trust, i.get("author"), f"#{i['number']}"
                )
            ]
            if len(ours) > 1:  # duplicates: the tool's own identity's issues are kept first
                ours.sort(key=lambda i: not self.trust.is_tool(i.get("author")))
            return [self._ref(i["number"]) for i in ours]

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        self._call("read", "fetch")
        with self._locked():
            issue = self.store.issues.get(int(ref.native))
            section = (
                markers.owned(issue["body"], incident_id, self.trust, issue.get("author"), ref.key)
                if issue is not None
                and issue["incident"] == incident_id
                and issue["kind"] == "incident"
                else None
            )
            if issue is None or section is None:
                raise TrackerError(
                    f"{ref.key} is not incident {incident_id}", tracker=self.name, status=404
                )
            markers.report_strays(issue["body"], section, self.trust, ref.key)
        entries, unmarked = [], []
        with self._locked():
            _number_comments(issue)
        comments = self._comments(issue)
        with self._locked():
            for comment in comments:
                mark = markers.trailing(comment["body"], "event")
                bound = {"incident": incident_id}
                if (
                    mark
                    and mark.get("id")
                    and self.trust.counts("event", mark, comment["author"], ref.key, bound)
                ):
                    entries.append((mark["id"], str(comment["id"]), comment["author"]))
                else:
                    unmarked.append(comment["body"])
            events, repeats = split_repeats(entries, self.trust.is_tool)
            grade_labels = {v: k for k, v in issue.get("grade_labels", {}).items()}
            pms = [
                i
                for i in self._labelled("postmortem", incident_id)
                if self._marked(i, "postmortem", incident_id)
            ]
            pm = pms[0] if pms else None
            items: dict[str, IssueRef] = {}
            duplicates = [(self._ref(i["number"]), self._ref(pms[0]["number"])) for i in pms[1:]]
            for i in self._labelled("action_item", incident_id):
                mark = self._marked(i, "action", incident_id)
                if mark and mark.get("item"):
                    kept = items.setdefault(mark["item"], self._ref(i["number"]))
                    if kept.native != str(i["number"]):
                        duplicates.append((self._ref(i["number"]), kept))
            bodies = [str(c["body"]) for c in comments]
            return Remote(
                ref=ref,
                digest=section.attrs.get("digest"),
                grades=[grade_labels[label] for label in issue["labels"] if label in grade_labels],
                status_key=issue["state"],
                events=events,
                last_comment=bodies[-1] if bodies else None,
                unmarked=unmarked,
                postmortem=self._ref(pm["number"]) if pm else None,
                postmortem_digest=(self._marked(pm, "postmortem", incident_id) or {}).get("digest")
                if pm
                else None,
                action_items=items,
                snapshot=section.snapshot,
                duplicate_parts=duplicates,
                repeats=repeats,
            )

    def _comments(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        """Every comment, a page a read (the first page comes with the issue)."""
        with self._locked():
            comments = list(issue["comments"][:PAGE])
            more = len(issue["comments"]) > PAGE
        while more:
            self._call("read", "comments")
            with self._locked():
                page = issue["comments"][len(comments) : len(comments) + PAGE]
                comments += page
                more = bool(page) and len(issue["comments"]) > len(comments)
        return comments

    def create(self, doc: IssueDoc) -> IssueRef:
        self._call("write", "create")
        with self._locked():
            body = self._section(doc)
            issue = self._new(
                "incident", doc.title, body, ["incident", doc.grade_label], doc.incident.id
            )
            issue["grade_labels"] = doc.all_grade_labels
            ref = self._ref(issue["number"])
            self._wrote("create")
            return ref

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        numbered: list[dict[str, Any]] | None = None  # the comments known to carry their ids
        for event in events:
            self._call("write", "comment")
            with self._locked():
                mark = self._mark("event", {"incident": event.incident_id}, id=event.event_id)
                issue = self.store.issues[int(ref.native)]
                if issue["comments"] is not numbered:  # the first entry, or the file was reloaded
                    _number_comments(issue)
                comment: dict[str, Any] = {"author": self.identity, "body": f"{event.body}\n{mark}"}
                issue["comments"].append(comment)
                issue["comment_ids"] = comment["id"] = int(issue.get("comment_ids", 0)) + 1
                numbered = issue["comments"]
                self.trust.learn(self.identity)
                self._wrote("comment")

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        self._call("write", "update:" + ",".join(sorted(changes)))
        with self._locked():
            issue = self.store.issues[int(ref.native)]
            if "content" in changes:
                where = markers.owned(issue["body"], doc.incident.id, self.trust, issue["author"])
                issue["title"] = doc.title
                issue["body"] = markers.replace_owned(issue["body"], self._section(doc), where)
            if "grade" in changes:
                stale = set(doc.all_grade_labels.values()) - {doc.grade_label}
                issue["labels"] = [x for x in issue["labels"] if x not in stale]
                if doc.grade_label not in issue["labels"]:
                    issue["labels"].append(doc.grade_label)
                issue["grade_labels"] = doc.all_grade_labels
            if "status" in changes:
                issue["state"] = self.status_key(doc.status)
            self._wrote("update")

    def _mark(self, kind: str, bound: markers.Bound = None, **attrs: str) -> str:
        return markers.marker(kind, **self.trust.sign(kind, attrs, bound))

    def _section(self, doc: IssueDoc) -> str:
        return markers.owned_section(
            doc.incident.id, doc.digest, doc.body, doc.snapshot, self.trust.keys
        )

    def status_key(self, status: Status) -> str | None:
        return "closed" if status.is_over else "open"

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        self._call("write", "postmortem")
        with self._locked():
            body = f"{self._mark('postmortem', id=doc.incident.id, digest=doc.digest)}\n{doc.body}"
            if existing is not None:
                issue = self.store.issues[int(existing.native)]
                issue["title"], issue["body"] = doc.title, body
            else:
                issue = self._new("postmortem", doc.title, body, ["postmortem"], doc.incident.id)
            new_ref = self._ref(issue["number"])
            self._wrote("postmortem")
            return new_ref

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        self._call("write", "action_item")
        with self._locked():
            body = f"{self._mark('action', id=doc.incident.id, item=doc.item_id)}\n{doc.body}"
            issue = self._new("action_item", doc.title, body, ["action-item"], doc.incident.id)
            issue["item"] = doc.item_id
            new_ref = self._ref(issue["number"])
            self._wrote("action_item")
            return new_ref

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        self._call("write", "close_duplicate")
        with self._locked():
            issue = self.store.issues[int(duplicate.native)]
            issue["state"] = "closed"
            issue["kind"] = "duplicate"
            note = f"Duplicate of {keep.key}\n{self._mark('duplicate', of=keep.native)}"
            issue["comments"].append({"author": self.identity, "body": note})
            self._wrote("close_duplicate")

    def remove_repeats(self, ref: IssueRef, entries: list[str]) -> None:
        for entry in entries:
            self._call("write", "remove_comment")
            with self._locked():
                issue = self.store.issues[int(ref.native)]
                _number_comments(issue)  # as fetch numbered them (a file reloaded meanwhile)
                left = [c for c in issue["comments"] if str(c["id"]) != entry]
                if len(left) < len(issue["comments"]):  # already gone: nothing to do
                    issue["comments"] = left
                    self._wrote("remove_comment")


def _number_comments(issue: dict[str, Any]) -> None:
    """Give each comment the id a tracker would (those a test planted get theirs now)."""
    for comment in issue["comments"]:
        if "id" not in comment:
            issue["comment_ids"] = comment["id"] = int(issue.get("comment_ids", 0)) + 1


def _version(path: Path) -> tuple[int, int, int] | None:
    """Which write of the file this is (a replace makes a new inode), or None if there is none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)
