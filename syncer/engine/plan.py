"""Planning: the operations that would make one tracker match the incident.

Each operation is a small frozen dataclass; ``describe()`` is the line ``--dry-run``
prints and the result lists once the operation is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from adapters.base import (
    CAP_ACTION_ITEMS,
    CAP_POSTMORTEM,
    CAP_REPEATS,
    CAP_STATUS,
    ActionItemDoc,
    Adapter,
    EventDoc,
    IssueDoc,
    IssueRef,
    PostmortemDoc,
    Remote,
)
from syncer import markers
from syncer.engine.documents import Documents
from syncer.engine.options import Options
from syncer.model import Incident, Status
from syncer.render import TrackerLink


@dataclass(frozen=True)
class Create:
    """Create the incident's issue."""

    kind: ClassVar[str] = "create"
    doc: IssueDoc

    def describe(self) -> str:
        return f"create issue {self.doc.title!r} with label {self.doc.grade_label}"


@dataclass(frozen=True)
class AddEvents:
    """Post the timeline entries the tracker lacks, in time order."""

    kind: ClassVar[str] = "add_events"
    events: list[EventDoc]

    def describe(self) -> str:
        ids = ", ".join(e.event_id for e in self.events)
        return f"add {len(self.events)} timeline comment(s): {ids}"


@dataclass(frozen=True)
class RemoveRepeats:
    """Delete the tool's own timeline entries that repeat an older one (runs that raced each
    posted the event to the issue kept): the oldest copy of each event stays."""

    kind: ClassVar[str] = "remove_repeats"
    repeats: tuple[tuple[str, str], ...]  # (event id, entry's native id)

    @property
    def entries(self) -> list[str]:
        return [native for _, native in self.repeats]

    def describe(self) -> str:
        ids = ", ".join(dict.fromkeys(event_id for event_id, _ in self.repeats))
        return f"remove {len(self.repeats)} repeated timeline comment(s): {ids}"


@dataclass(frozen=True)
class PublishPostmortem:
    """Publish the postmortem, or update the one published before."""

    kind: ClassVar[str] = "postmortem"
    doc: PostmortemDoc
    existing: IssueRef | None

    def describe(self) -> str:
        if self.existing is None:
            return "publish postmortem"
        return f"update postmortem {self.existing.key}"


@dataclass(frozen=True)
class CreateActionItem:
    """Create one action item of the postmortem."""

    kind: ClassVar[str] = "action_item"
    item: ActionItemDoc

    def describe(self) -> str:
        return f"create action item {self.item.title!r}"


@dataclass(frozen=True)
class CloseDuplicate:
    """Close a younger copy of what the tool created (the issue, the postmortem, an action
    item) in favour of the one kept (``keep``; None: the incident's kept issue)."""

    kind: ClassVar[str] = "close_duplicate"
    duplicate: IssueRef
    keep: IssueRef | None = None
    what: str = ""

    def describe(self) -> str:
        if self.keep is None:
            return f"close duplicate {self.duplicate.key} (keeping the older one)"
        return f"close duplicate {self.what} {self.duplicate.key} (keeping {self.keep.key})"


@dataclass(frozen=True)
class Update:
    """Bring the issue's content, grade and status in line, in one update."""

    kind: ClassVar[str] = "update"
    changes: frozenset[str]
    old_grades: tuple[str, ...]
    grade: str
    status_key: str | None

    @classmethod
    def of(
        cls, changes: frozenset[str], remote: Remote | None, doc: IssueDoc, adapter: Adapter
    ) -> Update:
        status_key = adapter.status_key(doc.status) if "status" in changes else None
        old = tuple(remote.grades) if remote else ()
        return cls(changes, old, doc.grade, status_key)

    def describe(self) -> str:
        parts = []
        if "content" in self.changes:
            parts.append("update issue body")
        if "grade" in self.changes:
            old = ", ".join(self.old_grades) if self.old_grades else "none"
            parts.append(f"swap grade label {old} → {self.grade}")
        if "status" in self.changes:
            parts.append(f"set status → {self.status_key}")
        return "; ".join(parts)


Op = (
    Create
    | AddEvents
    | RemoveRepeats
    | PublishPostmortem
    | CreateActionItem
    | CloseDuplicate
    | Update
)


def plan(
    documents: Documents,
    adapter: Adapter,
    incident: Incident,
    remote: Remote | None,
    options: Options,
    links: list[TrackerLink],
    duplicates: list[IssueRef] | None = None,
    parts: list[tuple[str, IssueRef, IssueRef]] | None = None,
) -> list[Op]:
    """The operations that would make ``adapter``'s tracker match ``incident``.

    ``duplicates`` are younger issues of the incident; ``parts`` the (what, duplicate,
    kept) postmortems and action items to close, before the issues that may hold them.
    """
    ops: list[Op] = []
    pm_url = remote.postmortem.url if remote and remote.postmortem else None
    embedded = documents.embedded_events(incident, remote, options)
    doc = documents.issue_doc(incident, links, pm_url, embedded)
    if remote is None:
        ops.append(Create(doc))

    # Timeline events not yet on the tracker, in time order.
    present = set(remote.events) if remote else set()
    present.update(embedded)
    events = documents.event_docs(incident, present)
    if remote and remote.grades and remote.grades != [incident.grade]:
        old = next((g for g in remote.grades if g != incident.grade), remote.grades[0])
        if old != incident.grade:
            regrade = documents.regrade_event(incident, old)
            if regrade.event_id not in present and all(
                e.event_id != regrade.event_id for e in incident.timeline
            ):
                body = documents.renderer.event_text(incident, regrade)
                events.append(EventDoc(event=regrade, body=body, incident_id=incident.id))
    if remote is not None:
        events = _drop_already_said(events, remote)
    if events:
        ops.append(AddEvents(events))
    if remote is not None and remote.repeats and CAP_REPEATS in adapter.capabilities:
        ops.append(RemoveRepeats(tuple(remote.repeats)))

    # Postmortem and its action items.
    wants_pm = incident.postmortem is not None and (
        options.postmortem == "always" or (options.postmortem == "auto" and incident.status.is_over)
    )
    if wants_pm and CAP_POSTMORTEM in adapter.capabilities:
        pm_doc = documents.postmortem_doc(incident, remote.ref.url if remote else None, links)
        existing = remote.postmortem if remote else None
        if existing is None:
            ops.append(PublishPostmortem(pm_doc, None))
        elif remote is not None and remote.postmortem_digest != pm_doc.digest:
            ops.append(PublishPostmortem(pm_doc, existing))
        if CAP_ACTION_ITEMS in adapter.capabilities:
            have = remote.action_items if remote else {}
            for item in documents.action_item_docs(incident):
                if item.item_id not in have:
                    ops.append(CreateActionItem(item))

    for what, part, keep in parts or []:
        ops.append(CloseDuplicate(part, keep, what))
    for dup in duplicates or []:
        ops.append(CloseDuplicate(dup))

    # The issue itself last: content, grade, status in one update (a workflow that
    # refuses the status must not keep anything else from being done).
    changes = changes_of(adapter, doc, remote)
    if changes:
        ops.append(Update.of(changes, remote, doc, adapter))
    return ops


def writes_of(ops: list[Op], adapter: Adapter) -> int:
    """The writes ``ops`` take when applied: one each (a repeat removed: one per entry), a
    timeline batch per ``events_per_write``, and the update that links a postmortem published just now when no update is planned."""
    per_write = max(1, adapter.events_per_write)
    count = sum(_writes(op, per_write) for op in ops)
    fresh_pm = any(isinstance(op, PublishPostmortem) and op.existing is None for op in ops)
    if fresh_pm and not any(isinstance(op, Update) for op in ops):
        count += 1
    return count


def _writes(op: Op, per_write: int) -> int:
    if isinstance(op, AddEvents):
        return -(-len(op.events) // per_write)
    return len(op.repeats) if isinstance(op, RemoveRepeats) else 1


def changes_of(adapter: Adapter, doc: IssueDoc, remote: Remote | None) -> frozenset[str]:
    """Which of the issue's content, grade and status differ from ``doc``."""
    changes = set()
    target_status = adapter.status_key(doc.status) if CAP_STATUS in adapter.capabilities else None
    if remote is None:
        # A new issue is created open with its grade; only a status beyond "open" is left.
        if target_status is not None and target_status != adapter.status_key(Status.detected):
            changes.add("status")
        return frozenset(changes)
    if remote.digest != doc.digest:
        changes.add("content")
    if remote.grades != [doc.grade]:
        changes.add("grade")
    if target_status is not None and remote.status_key != target_status:
        changes.add("status")
    return frozenset(changes)


def _normal(text: str | None) -> str:
    return " ".join(markers.strip(text).split())


def _drop_already_said(events: list[EventDoc], remote: Remote) -> list[EventDoc]:
    """An event whose text a person already posted (or the newest comment says) is not posted again."""
    said = {_normal(t) for t in remote.unmarked}
    if remote.last_comment:
        said.add(_normal(remote.last_comment))
    if not said:
        return events
    return [e for e in events if _normal(e.event.text) not in said and _normal(e.body) not in said]
