"""The tracker adapter contract.

An adapter is a handful of methods over the models below; the engine
(:mod:`syncer.engine`) decides what to do and calls them. A new tracker is one
class with ``type = "..."``, a pydantic ``Settings`` model for its
``[trackers.NAME]`` table, and the methods of :class:`Adapter`, registered
under the entry-point group ``incident_syncer.adapters``.

Rules every adapter keeps (the shared contract suite in ``tests/contract``
checks them):

* Everything the adapter writes carries a marker it can find again with no
  local state: the incident id on the issue, the event id on each timeline
  entry, the item id on each action item.
* Reads never guess: if the tracker cannot answer, raise :class:`LookupFailed`
  (or another :class:`TrackerError`), never return "not found".
* Every failure is a :class:`TrackerError` whose ``retryable`` says whether
  the same call may succeed later; ``retry_after`` carries Retry-After.
* The client library's own retries of non-idempotent writes are switched
  off: the engine owns retries and looks again before repeating a create.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from syncer.errors import LookupFailed, TrackerError
from syncer.model import ActionItem, Incident, Status, TimelineEvent

if TYPE_CHECKING:
    from syncer.render import TrackerLink

__all__ = [
    "ActionItemDoc",
    "Adapter",
    "AdapterSettings",
    "EventDoc",
    "IssueDoc",
    "IssueRef",
    "LookupFailed",
    "PostmortemDoc",
    "Remote",
    "TrackerError",
]

# What an adapter may declare it can do; the engine skips operations it can't.
CAP_STATUS = "status"
CAP_POSTMORTEM = "postmortem"
CAP_ACTION_ITEMS = "action_items"
CAP_SNAPSHOT = "snapshot"

CHANGES = frozenset({"content", "grade", "status"})


class AdapterSettings(BaseModel):
    """Base of each adapter's ``[trackers.NAME]`` model: unknown keys are rejected by name."""

    model_config = ConfigDict(extra="forbid")

    type: str
    # Pacing (``syncer.retry.pacer_for``): None keeps the type's documented limits, 0 lifts one.
    requests_per_second: float | None = Field(
        None, ge=0, description="every request (Notion: 3); 0 = no limit"
    )
    writes_per_second: float | None = Field(
        None, ge=0, description="content-creating requests (GitHub: 1); 0 = no limit"
    )
    writes_per_minute: int | None = Field(None, ge=0, description="GitHub: 80; 0 = no limit")
    writes_per_hour: int | None = Field(None, ge=0, description="GitHub: 500; 0 = no limit")
    burst: int | None = Field(None, ge=1, description="requests allowed back to back (Notion: 3)")


@dataclass(frozen=True)
class IssueRef:
    """Where an object lives in a tracker.

    ``key`` is what people read ("#12", "OPS-7"), ``url`` what they click,
    ``native`` what the adapter needs to address it again (an issue number, a
    Jira key, a Notion page id), ``created_at`` orders duplicates (oldest wins).
    """

    key: str
    url: str
    native: str
    created_at: datetime | None = None


@dataclass
class Remote:
    """What a tracker holds for one incident's issue, as far as the engine needs to know.

    * ``digest``: the digest of the tool-owned content as last written (from a
      marker), None if the tracker has no record of it.
    * ``grades``: the grade labels/properties present (normally exactly one).
    * ``status_key``: the tracker-level status (see :meth:`Adapter.status_key`).
    * ``events``: ids of timeline events already on the tracker, in order.
    * ``last_comment``: the text of the newest comment, whoever wrote it.
    * ``unmarked``: texts of comments a person wrote (no marker).
    * ``postmortem`` / ``postmortem_digest``: the published postmortem, if any.
    * ``action_items``: item id → where it lives.
    * ``snapshot``: the incident data the tool stored (for the imperative commands).
    """

    ref: IssueRef
    digest: str | None = None
    grades: list[str] = field(default_factory=list)
    status_key: str | None = None
    events: list[str] = field(default_factory=list)
    last_comment: str | None = None
    unmarked: list[str] = field(default_factory=list)
    postmortem: IssueRef | None = None
    postmortem_digest: str | None = None
    action_items: dict[str, IssueRef] = field(default_factory=dict)
    snapshot: dict[str, Any] | None = None


@dataclass
class IssueDoc:
    """The incident issue as it should be: title, Markdown body (the notice), grade, status.

    ``digest`` covers everything the tool owns in the issue (title, body,
    snapshot); an adapter stores it in its marker and returns it in
    :attr:`Remote.digest`. ``grade_label`` is the label for ``grade``;
    ``all_grade_labels`` lists every configured grade's label (to remove
    stale ones). ``links`` are the incident's issues in the other trackers.
    """

    incident: Incident
    title: str
    body: str
    grade: str
    grade_label: str
    all_grade_labels: dict[str, str]
    status: Status
    snapshot: dict[str, Any]
    digest: str
    links: list[TrackerLink] = field(default_factory=list)


@dataclass
class EventDoc:
    """One timeline event: ``body`` is the rendered Markdown comment."""

    event: TimelineEvent
    body: str

    @property
    def event_id(self) -> str:
        return self.event.event_id


@dataclass
class PostmortemDoc:
    """The rendered postmortem (Markdown) and its digest."""

    incident: Incident
    title: str
    body: str
    digest: str


@dataclass
class ActionItemDoc:
    """One action item to track (a linked issue or a to-do)."""

    item: ActionItem
    incident: Incident
    title: str
    body: str

    @property
    def item_id(self) -> str:
        return self.item.item_id


@runtime_checkable
class Adapter(Protocol):
    """A tracker, seen by the engine.

    Construction must not touch the network; ``settings`` is the validated
    ``[trackers.NAME]`` table, ``config`` the whole configuration.
    """

    type: ClassVar[str]
    Settings: ClassVar[builtins.type[AdapterSettings]]
    capabilities: ClassVar[frozenset[str]]
    name: str

    def find(self, incident_id: str) -> list[IssueRef]:
        """Every issue of this incident, oldest first (more than one means duplicates to heal).

        Uses a consistent read (never a lagging search index). Raises
        :class:`LookupFailed` if the tracker cannot answer.
        """
        ...

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        """Read what the issue holds now: marker digest, grades, status, events, postmortem.

        Raises a non-retryable :class:`TrackerError` if ``ref`` no longer holds
        this incident (deleted, or a stale cached id): the engine then looks it up.
        """
        ...

    def create(self, doc: IssueDoc) -> IssueRef:
        """Create the issue with body, incident + grade labels and markers."""
        ...

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        """Append timeline events in the given order, each carrying its event-id marker.

        An adapter that sends several events per request sets the class attribute
        ``events_per_write`` (e.g. 100), so that the engine counts writes honestly.

        Batch where the API allows (Notion: 100 blocks a request). After a
        partial failure, the engine reads again and sends only what is missing.
        """
        ...

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        """Bring the issue in line with ``doc``, in as few calls as the API allows.

        ``changes`` says what differs, a subset of :data:`CHANGES`:
        ``content`` (title, the owned body section, the snapshot and digest),
        ``grade`` (make ``doc.grade`` the only grade; ``remote.grades`` are the
        ones there now) and ``status`` (move to :meth:`status_key` of
        ``doc.status``: close, reopen, transition).
        """
        ...

    def status_key(self, status: Status) -> str | None:
        """The tracker-level status an incident in ``status`` should have (None: not tracked)."""
        ...

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        """Create the postmortem (linked to the incident), or update ``existing`` in place."""
        ...

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        """Create one action item linked to the postmortem (or the incident)."""
        ...

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        """Close ``duplicate`` as a duplicate of ``keep``, saying so with a link."""
        ...


@runtime_checkable
class SupportsDoctor(Protocol):
    """Optional: an adapter that can check its tracker's set-up for ``incident-syncer doctor``."""

    def doctor(self) -> list[str]:
        """Problems with the tracker's set-up, one readable sentence each; empty when all is well.

        Checks what the configuration relies on (the credentials are accepted, the
        project/repository/database is reachable, the fields or properties it names
        exist with the right types) and writes nothing. A failure to check is a
        problem to report, not an exception.
        """
        ...
