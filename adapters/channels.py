"""The channel contract: telling people about an incident (Slack, a webhook, ...).

Trackers keep the record; channels spread the word (장애 전파). A channel is
told after the trackers of the same sync, so that its notice carries every
tracker's link. The engine (:mod:`syncer.telling`) reads what the channel
has been told (:meth:`Channel.lookup`), decides what is missing and calls the
five writing methods; a new channel is one class with ``type = "..."``, a
pydantic ``Settings`` model for its ``[channels.NAME]`` table and the methods
of :class:`Channel`, registered under the entry-point group
``incident_syncer.channels``.

Rules every channel keeps (the channel contract suite in ``tests/contract``
checks them):

* Nothing is said twice. Where the channel can be read back (Slack), what it
  holds is found again with no local state, by markers only the tool can
  write (Slack message metadata from the tool's own app); where it cannot (a
  webhook), :meth:`Channel.lookup` answers from the state store and every
  notification carries a stable idempotency key, so that a receiver can drop
  a repeat after a lost answer.
* Only the tool's own messages count: a person's message that looks like the
  notice is never taken for it.
* What two runs without shared state told twice is healed, as trackers close a
  duplicate issue: the oldest notice is the one; :meth:`Channel.lookup` reports
  the rest in :attr:`Told.duplicates` and :meth:`Channel.heal` turns each younger
  copy into a pointer to the kept one, so that no run takes it for the tool's own
  again, after making sure nothing only it held is lost. A channel that posts a
  notice looks again right after, so that of two racing runs the later one heals
  at once.
* Every failure is a :class:`~syncer.errors.TrackerError` whose ``retryable``
  says whether the same call may succeed later (``retry_after`` carries
  Retry-After). The engine retries by looking again, never by repeating a
  write blindly; a rate-limit answer, which guarantees that nothing was done,
  may be retried in place.
* A channel never raises anything else for a remote failure, and never makes
  a tracker wait: the engine tells channels only once the trackers are done.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from syncer.model import Incident, Status, TimelineEvent

if TYPE_CHECKING:
    from syncer.render import TrackerLink

__all__ = [
    "CAP_EDIT",
    "CAP_READ_BACK",
    "CAP_ROOM",
    "CAP_THREAD",
    "KINDS",
    "MEMBERS",
    "Channel",
    "ChannelSettings",
    "Notice",
    "NoticeRef",
    "RoomRef",
    "Told",
]

# What a channel may declare in ``capabilities``:
CAP_EDIT = "edit"
"""The notice is edited in place, so every change of what it shows is worth an update.
Without it a notice is only "updated" when the grade or the status changed (a webhook sends
a notification for each, as configured)."""
CAP_ROOM = "room"
"""Opens a room per incident (a Slack channel) when the grade asks for one."""
CAP_THREAD = "thread"
"""Every timeline entry is told, from the first one on (Slack: a reply each). Without it the
first notification stands for the timeline so far, and only later entries are told (a page or
an SMS for each of ten entries at once would be noise)."""
CAP_READ_BACK = "read_back"
""":meth:`Channel.lookup` reads the channel itself; without it, the answer comes from the
local state store (so a lost state file means notifications are sent again, each with the
same idempotency key)."""

# What a channel class must have (checked when its type is loaded); ``name`` and ``hears``
# are set by its constructor.
MEMBERS = (
    "type",
    "Settings",
    "capabilities",
    "lookup",
    "post_notice",
    "update_notice",
    "post_entry",
    "open_room",
    "close_room",
    "heal",
)

KINDS = ("open", "grade", "status", "entry")
"""What a channel can be told: the incident opened (the notice), a grade change, a status
change, and each timeline entry."""


class ChannelSettings(BaseModel):
    """Base of each channel's ``[channels.NAME]`` model: unknown keys are rejected by name."""

    model_config = ConfigDict(extra="forbid")

    type: str
    timeout: float = Field(10.0, gt=0, le=120, description="seconds per HTTP request")


@dataclass(frozen=True)
class NoticeRef:
    """Where the notice lives: ``key`` is what people read, ``url`` what they click,
    ``native`` what the channel needs to address it again (Slack: ``channel-id/ts``)."""

    key: str
    url: str | None
    native: str


@dataclass
class RoomRef:
    """The incident's own room (a Slack channel): its id, its name, and whether it is closed.

    ``digest`` is :attr:`Notice.room_digest` as the room last reflected it (topic,
    invitations, bookmarks): a different digest means the room is refreshed.
    """

    id: str
    name: str
    url: str | None = None
    closed: bool = False
    digest: str | None = None


@dataclass
class Told:
    """What a channel has been told about one incident, as far as the engine needs to know.

    * ``notice``: the notice, None if the channel has never heard of the incident.
    * ``digest``: :attr:`Notice.digest` as the notice last showed it.
    * ``grade`` / ``status``: what the notice last said.
    * ``entries``: ids of the timeline entries already told (in any place: the
      notice's thread or the room).
    * ``room``: the incident's room, if one was opened.
    * ``duplicates``: what was told more than once (two runs without shared state
      each posted), in words for ``--dry-run`` and the output ("a younger notice",
      "entry e-… posted twice"); :meth:`Channel.heal` heals them and empties it.
    * ``private``: the channel's own bookkeeping (Slack: the metadata it read, the
      thread's announcement); the engine never looks inside.
    * ``memo``: what the channel keeps in the local state store for this incident
      (Slack: where the notice is, a hint that saves a search; a webhook: everything
      it has sent). The engine saves it after every writing call and hands it back
      to :meth:`Channel.lookup`.
    """

    notice: NoticeRef | None = None
    digest: str | None = None
    grade: str | None = None
    status: Status | None = None
    entries: set[str] = field(default_factory=set)
    room: RoomRef | None = None
    duplicates: list[str] = field(default_factory=list)
    private: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass
class Notice:
    """The incident as the channel should show it now (built by the engine).

    * ``links``: the incident's issue in each tracker, in configuration order.
    * ``postmortem_url``: the published postmortem (the first tracker's), if any.
    * ``digest``: covers everything a notice shows (incident fields, links,
      postmortem, the room); :attr:`Told.digest` is compared with it.
    * ``room_digest``: covers what a room reflects (title, grade, status,
      commander, services, links, postmortem).
    * ``wants_room``: the grade asks for a room (``[grades.X] room = true``).
    * ``closes_room``: the incident is far enough along for the room to close.
    * ``previous_grade`` / ``previous_status``: what the channel last said (for
      the texts of a change).
    """

    incident: Incident
    links: list[TrackerLink]
    postmortem_url: str | None
    digest: str
    room_digest: str
    wants_room: bool = False
    closes_room: bool = False
    previous_grade: str | None = None
    previous_status: Status | None = None


@runtime_checkable
class Channel(Protocol):
    """A place where people are told about incidents, seen by the engine.

    Construction must not touch the network; ``settings`` is the validated
    ``[channels.NAME]`` table, ``config`` the whole configuration. ``hears``
    says which of :data:`KINDS` the channel is told about (a webhook sends
    what its ``events`` list; Slack hears everything). A :data:`CAP_ROOM`
    channel also has ``closes_at``: the status at which its room closes
    (None: never).

    Every writing method returns how many remote writes it made (0 when the
    channel only recorded something locally), so that counts stay honest. A
    channel that can check its set-up for ``incident-syncer doctor`` also has
    ``doctor()``, as :class:`adapters.base.SupportsDoctor` describes.
    """

    type: ClassVar[str]
    Settings: ClassVar[builtins.type[ChannelSettings]]
    capabilities: ClassVar[frozenset[str]]
    name: str
    hears: frozenset[str]

    def lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        """What this channel has been told about ``incident`` (an empty :class:`Told` if nothing).

        Reads the channel itself where it can (:data:`CAP_READ_BACK`), counting only the
        tool's own messages; ``memo`` (:attr:`Told.memo` as last saved, possibly empty or
        stale) may save a search but is never trusted over what the channel says. Raises a
        :class:`~syncer.errors.LookupFailed` if the channel cannot answer: the engine never
        posts a notice on a guess.
        """
        ...

    def post_notice(self, notice: Notice) -> tuple[Told, int]:
        """Tell the channel about the incident for the first time; return what it now holds.

        A channel that can be read back looks again once it has posted: if another run
        posted first (both looked before either posted), the returned :class:`Told` is the
        older notice's, with the new one among its :attr:`Told.duplicates`.

        A channel without :data:`CAP_THREAD` (a page, an SMS) marks every current entry
        as told in the returned :class:`Told`: its first notification stands for them.
        """
        ...

    def update_notice(self, told: Told, notice: Notice) -> int:
        """Bring the notice in line with ``notice`` (grade, status, links, room, postmortem).

        Slack edits the message in place (``chat.update``) and records the new state
        in its metadata; a webhook sends a notification for a grade or status change
        if its ``events`` ask for one. Updates ``told`` to match.
        """
        ...

    def post_entry(self, told: Told, notice: Notice, event: TimelineEvent) -> int:
        """Tell one timeline entry (Slack: a reply in the notice's thread or in the room).

        Called in time order, only for entries not in ``told.entries``; adds the id there.
        """
        ...

    def open_room(self, told: Told, notice: Notice) -> tuple[RoomRef, int]:
        """Open the incident's room, or refresh it (topic, invitations, bookmarks).

        Idempotent on replay: a room that exists already (its creation's answer was
        lost) is found and reused, never created twice. A closed (archived) room of the
        incident is never taken for an open one: while the incident stays open it is opened
        again or replaced by a new room (the channel's choice), and when the incident closes
        it anyway it is returned closed (``RoomRef.closed``), untouched. Only for
        :data:`CAP_ROOM`.
        """
        ...

    def close_room(self, told: Told, notice: Notice) -> int:
        """Close (archive) the incident's room; closing a closed room is not an error (0 writes)."""
        ...

    def heal(self, told: Told, notice: Notice) -> int:
        """Heal what :attr:`Told.duplicates` lists, then empty it.

        Called after the timeline entries were told, so that every entry a duplicate
        holds is in the kept place first; anything a duplicate holds that the incident
        no longer lists is copied there. Each younger copy then points at the kept one
        and is never taken for the tool's own again; the younger notice is marked last,
        so that a run cut short finds it again. A channel that never reports duplicates
        returns 0.
        """
        ...
