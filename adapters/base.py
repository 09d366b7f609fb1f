"""The tracker adapter contract.

An adapter is a handful of methods over the models below; the engine
(:mod:`syncer.engine`) decides what to do and calls them. A new tracker is one
class that subclasses :class:`Adapter` (to inherit the defaults of its class
attributes), sets ``type = "..."`` and a pydantic ``Settings`` model for its
``[trackers.NAME]`` table, and implements the methods; it is registered under
the entry-point group ``incident_syncer.adapters`` (see :mod:`syncer.registry`).
Everything the engine relies on is declared on :class:`Adapter`: an adapter's
author never needs to read the engine.

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
* Every request goes through the adapter's :attr:`Adapter.pacer`.

**Only the tool's own writes count (the trust rule).** A marker (the ownership
``begin`` of an issue, an event, an action item, a postmortem, a snapshot, a
digest, a duplicate note) counts only when the tool itself wrote it; anything
else is people's text, however much it looks like a marker. An adapter decides
with no local state and no request beyond those it makes anyway (a sync with
nothing to do costs what it cost before), through :class:`syncer.markers.Trust`:

* a marker **signed** with a marker key (``sig``: HMAC-SHA256 over its kind and
  attributes, the incident id among them, keyed from ``[syncer].marker_key_env``)
  counts whoever wrote it: GITHUB_TOKEN in Actions and a PAT on a laptop agree
  because they share the key, not an identity;
* an **unsigned** marker (older versions, or no key) counts only when the tracker
  reports the tool as its author: the author the adapter already read (a
  comment's or issue's user, a Jira comment author or issue creator, a Notion
  block's ``created_by``) is the identity of the adapter's own token (asked once,
  and only when an unsigned marker is met) or one of ``trusted_authors``;
  ``[syncer].require_signature`` refuses every unsigned marker;
* where a tracker records no author of the marker itself (a Jira entity
  property), an unsigned marker counts only on an object the tool's identity
  created; where it records none at all (a file's first line in a repository,
  written by whoever may push), only while no marker key is configured;
* every marker the adapter writes is signed (``Trust.sign``), and read back only
  from where the adapter puts it (the last line of its comment, the first of its
  postmortem, the owned section of the issue it created);
* a snapshot counts only inside the tool's owned section and only when its
  incident id is the one asked for;
* :meth:`Adapter.find` returns only issues whose ownership marker counts, and
  when several do, those written by one of the tool's identities come first
  (a planted older issue is never kept over the tool's own);
* what is ignored is logged at INFO (``-v``), never silently trusted.

People's text can never carry a marker in the first place: the renderer and the
markup converters pass everything through :func:`syncer.markers.neutralise`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from syncer.errors import LookupFailed, TrackerError
from syncer.model import ActionItem, Incident, Status, TimelineEvent
from syncer.pacing import Limits, Pacer

if TYPE_CHECKING:
    from syncer.config import Config
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
    "SupportsDoctor",
    "TrackerError",
]

# What an adapter may declare in ``capabilities``; the engine skips what it can't do, at a cost:
CAP_STATUS = "status"
"""Moves the issue's status (close, reopen, transition). Without it ``status_key`` is never
asked for a target and the issue stays as people leave it."""
CAP_POSTMORTEM = "postmortem"
"""Publishes the postmortem. Without it ``publish_postmortem`` is never called, and no action
items are created either (they hang off the postmortem)."""
CAP_ACTION_ITEMS = "action_items"
"""Tracks each action item (``create_action_item``). Without it they live only in the
postmortem's text."""
CAP_SNAPSHOT = "snapshot"
"""Keeps a copy of the incident's data in the issue (:attr:`IssueDoc.snapshot`, returned as
:attr:`Remote.snapshot`). The commands that take no file (``note``, ``grade``, ``resolve``)
read the incident from it: without it they cannot use this tracker, and when no configured
tracker has it they fail ("exists but no tracker keeps its data")."""
CAP_REPEATS = "repeats"
"""Reports the tool's own timeline entries posted more than once (:attr:`Remote.repeats`: runs
that raced, each posting to the issue kept) and removes them (:meth:`Adapter.remove_repeats`).
Without it a repeat stays where it is (reading skips it: the event counts once)."""

CHANGES = frozenset({"content", "grade", "status"})


class AdapterSettings(BaseModel):
    """Base of each adapter's ``[trackers.NAME]`` model: unknown keys are rejected by name."""

    model_config = ConfigDict(extra="forbid")

    type: str
    # Pacing (``syncer.pacing.pacer_for``): None keeps the type's documented limits, 0 lifts one.
    requests_per_second: float | None = Field(
        None, ge=0, description="every request (Notion: 3); 0 = no limit"
    )
    writes_per_second: float | None = Field(
        None, ge=0, description="content-creating requests (GitHub: 1); 0 = no limit"
    )
    writes_per_minute: int | None = Field(None, ge=0, description="GitHub: 80; 0 = no limit")
    writes_per_hour: int | None = Field(None, ge=0, description="GitHub: 500; 0 = no limit")
    burst: int | None = Field(None, ge=1, description="requests allowed back to back (Notion: 3)")
    trusted_authors: list[str] = Field(
        default_factory=list,
        description="identities besides the token's whose unsigned markers count "
        "(e.g. the PAT user and github-actions[bot] when both write without a marker key)",
    )


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
    * ``grades``: the grade *names* present (``"SEV2"``: keys of ``[grades]``, as in
      :attr:`IssueDoc.grade`), read back from the labels or properties that show them
      (``grade:SEV2``): the engine compares them with the incident's grade. Normally
      exactly one.
    * ``status_key``: the tracker-level status (see :meth:`Adapter.status_key`).
    * ``events``: ids of timeline events already on the tracker, in order, from every
      page of comments (an issue may hold hundreds).
    * ``last_comment``: the text of the newest comment, whoever wrote it.
    * ``unmarked``: texts of comments a person wrote (no marker). With
      ``last_comment``, this keeps the engine from posting an event whose text
      someone already wrote by hand: an adapter that leaves both empty repeats them.
    * ``postmortem`` / ``postmortem_digest``: the published postmortem, if any.
    * ``action_items``: item id → where it lives.
    * ``snapshot``: the incident data the tool stored (for the imperative commands).
    * ``duplicate_parts``: postmortems and action items of this incident found more than
      once (two runs that raced, each with its own issue), as (duplicate, the one kept:
      ``postmortem`` or the item's entry in ``action_items``), oldest kept. The engine closes
      each duplicate with :meth:`Adapter.close_duplicate`. An adapter that finds them through
      the incident's own issue (links, child pages) leaves this empty: the engine also reads
      the duplicate issues' postmortems and items before closing those issues.
    * ``repeats``: the tool's own timeline entries (a marker that counts, written by one of
      the tool's identities: never a person's comment, whatever it quotes) whose event id an
      earlier entry on the issue already carries (in the tracker's order: comments by age,
      Notion blocks by place), as (event id, the entry's native id: a comment or block id). ``events`` lists each event once. Only an adapter
      with :data:`CAP_REPEATS` fills it; the engine removes them with
      :meth:`Adapter.remove_repeats`, keeping the oldest copy.
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
    duplicate_parts: list[tuple[IssueRef, IssueRef]] = field(default_factory=list)
    repeats: list[tuple[str, str]] = field(default_factory=list)


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
    """One timeline event: ``body`` is the rendered Markdown comment.

    ``incident_id`` is the incident it belongs to: an adapter signs the event's
    marker for it, so the marker copied into another incident does not count there.
    """

    event: TimelineEvent
    body: str
    incident_id: str = ""

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

    Subclass it (``class MyAdapter(Adapter):``) to inherit the defaults below;
    :func:`syncer.registry.build` checks that every member is there.
    """

    type: ClassVar[str]
    """The ``type`` of its ``[trackers.NAME]`` tables (``"github"``), and its entry-point name."""
    Settings: ClassVar[builtins.type[AdapterSettings]]
    """The pydantic model of its ``[trackers.NAME]`` table (validated before construction)."""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    """What it can do beyond the issue and its timeline: ``CAP_*`` (see each for its cost)."""
    events_per_write: ClassVar[int] = 1
    """Timeline events :meth:`add_events` sends in one request (Notion: 100 blocks); the engine
    counts writes by it."""
    libraries: ClassVar[tuple[str, ...]] = ()
    """The modules of its client library that it imports only on first use (so that the CLI
    starts without them). ``serve`` imports them at start-up, before it accepts anything: the
    first delivery then does not spend that CPU beside the event loop (PyGithub: 160 ms)."""
    default_limits: ClassVar[Limits] = Limits()
    """The tracker's documented rate limits; the table's pacing keys override them and
    :func:`syncer.pacing.pacer_for` builds the pacer from both. No limit by default (the pacer
    then learns the pace from 429s)."""
    name: str
    """The ``NAME`` of ``[trackers.NAME]``: errors and logs say it."""
    pacer: Pacer
    """This tracker's request budget, shared by every thread and engine in the process: take it
    from ``pacer_for(name, settings, self.default_limits)`` in the constructor, call
    ``pacer.wait(write=...)`` before every HTTP request (``write=True`` for POST, PUT, PATCH,
    DELETE) and, in the same thread, ``pacer.observe(status, headers)`` with every answer,
    errors included (a 429 or a secondary limit then holds every caller), or
    ``pacer.observe(None)`` when no answer came (a refused connection, a timeout, any
    exception of the client library). Every request's answer is observed: a request counts
    against the tracker's limits until then (the tracker may count it at any time before its
    answer), and ``burst`` requests in flight hold every other caller, so a request left
    unobserved slows the whole process. Backfills read it for their estimates."""

    def __init__(self, name: str, settings: Any, config: Config) -> None:
        """Build the adapter for ``[trackers.NAME]``; never touches the network.

        ``settings`` is the validated table (an instance of :attr:`Settings`), ``config``
        the whole configuration (grades and their labels, language, time zone). Secrets are
        read here, from the variables the table names (``syncer.secrets.from_env``): a
        missing one is a :class:`~syncer.errors.ConfigError`, before any tracker is touched.
        """
        ...

    def find(self, incident_id: str) -> list[IssueRef]:
        """Every issue of this incident, oldest first (more than one means duplicates to heal).

        Uses a consistent read (never a lagging search index), every page of it. Raises
        :class:`LookupFailed` if the tracker cannot answer: returning ``[]`` on an error
        makes the engine create a second issue. An issue closed by :meth:`close_duplicate`
        is never returned again (else every sync closes it once more).
        """
        ...

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        """Read what the issue holds now: marker digest, grades, status, events, postmortem.

        ``ref`` may come from the local state cache, so it can be stale. Raises a
        non-retryable :class:`TrackerError` if ``ref`` does not hold *this* incident (deleted,
        trashed, closed as a duplicate, or another incident's issue): the engine then drops
        the cached ref and looks the incident up. Accepting another incident's issue would
        write this incident into it.
        """
        ...

    def create(self, doc: IssueDoc) -> IssueRef:
        """Create the issue with body, incident + grade labels and markers."""
        ...

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        """Append timeline events in the given order, each carrying its event-id marker.

        Batch where the API allows (Notion: 100 blocks a request) and say so in
        :attr:`events_per_write`. After a partial failure, the engine reads again and
        sends only what is missing.
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
        """The tracker-level status an incident in ``status`` should have (None: not tracked).

        Called even without :data:`CAP_STATUS` (the status of a new issue is recorded and
        shown in ``--dry-run``); only moved with it.
        """
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
        """Close ``duplicate`` as a duplicate of ``keep``, saying so with a link.

        Both are the incident's issues, or both its postmortems, or both one action item
        (from :attr:`Remote.postmortem`, :attr:`Remote.action_items` or
        :attr:`Remote.duplicate_parts`): whatever the tool created, it heals alike.

        Afterwards :meth:`find` no longer returns ``duplicate`` (remove the label or mark the
        property it is found by), :meth:`fetch` refuses it or no longer lists it as a
        postmortem or an item. Safe to repeat after a failure half-way (say it once: look for
        the note before adding it).
        """
        ...

    def remove_repeats(self, ref: IssueRef, entries: list[str]) -> None:
        """Delete these timeline entries of the issue ``ref`` (native ids from
        :attr:`Remote.repeats`), one request each; an entry already gone (another run healing
        the same race, or a person) counts as removed. Called only with :data:`CAP_REPEATS`:
        an adapter without it inherits this refusal."""
        raise TrackerError(f"{self.name}: cannot remove timeline entries", retryable=False)


INSTANCE_MEMBERS = frozenset({"name", "pacer"})  # set by the constructor, not on the class


def split_repeats(
    entries: list[tuple[str, str, Any]], is_tool: Callable[[Any], bool]
) -> tuple[list[str], list[tuple[str, str]]]:
    """For :attr:`Remote.events` and :attr:`Remote.repeats`, from the timeline entries whose
    marker counts, as (event id, native id, author) in the tracker's order: each event id once,
    and the later copies the tool's own identity wrote (``is_tool``, asked only of a copy, so
    a sync without repeats asks nothing more)."""
    events: list[str] = []
    repeats: list[tuple[str, str]] = []
    seen: set[str] = set()
    for event_id, native, author in entries:
        if event_id not in seen:
            seen.add(event_id)
            events.append(event_id)
        elif is_tool(author):
            repeats.append((event_id, native))
    return events, repeats


def missing_members(cls: builtins.type) -> list[str]:
    """The members of :class:`Adapter` that the class ``cls`` lacks (instance members aside;
    :meth:`Adapter.remove_repeats` only of a class declaring :data:`CAP_REPEATS`)."""
    members = {m for m in (*vars(Adapter), *Adapter.__annotations__) if not m.startswith("_")}
    if CAP_REPEATS not in getattr(cls, "capabilities", ()):
        members -= {"remove_repeats"}  # called only with the capability
    return sorted(m for m in members - INSTANCE_MEMBERS if not hasattr(cls, m))


@runtime_checkable
class SupportsDoctor(Protocol):
    """Optional: an adapter that can check its tracker's set-up for ``incident-syncer doctor``.

    ``doctor`` asks every adapter that has this method; for the others it checks only the
    configuration and the secrets, and says so.
    """

    def doctor(self) -> list[str]:
        """Problems with the tracker's set-up, one readable sentence each; empty when all is well.

        Checks what the configuration relies on (the credentials are accepted, the
        project/repository/database is reachable, the fields or properties it names
        exist with the right types) and writes nothing. A failure to check is a
        problem to report, not an exception.
        """
        ...
