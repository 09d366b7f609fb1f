"""What two runs without shared state told twice in Slack, found and healed.

Two runs that share no state (two CI runners, two ``serve`` replicas on
separate state) can each look, find nothing and post: two notices of one
incident, an entry replied twice, two rooms. Every run agrees without talking
that the oldest notice is the one. The rest is healed as trackers close a
duplicate issue: nothing a younger copy holds is lost (an entry only a younger
notice's thread or a second room holds is told in the kept place, from the
incident's timeline or, if the incident no longer lists it, as it was
written), then each younger copy is edited in place into a short pointer to
the kept one (``duplicate`` in ``templates/<lang>/chat.j2``) whose metadata
says ``incident_syncer_duplicate``, so that no run takes it for the tool's
own again. A second room is told where the incident is handled and archived;
a room only a younger notice knows is adopted. The younger notice is marked
last, so that a run cut short finds it again and finishes.

Who finds a younger notice: the run that posted it, which looks again right
after posting (of two racing runs the later one heals at once); any lookup
that searches the history (a run with no local state, ``sync --recheck``,
``retry``); and a lookup that goes where its local hint says, which also reads
the quarter of an hour after the notice (``RACE_WINDOW``), when a racing run
posts. A younger notice is thus missed only by hinted lookups, and only if its
run stopped between posting and looking again, more than that long after the
first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.channels import Notice, RoomRef, Told
from adapters.slack.texts import entry_text

if TYPE_CHECKING:
    from adapters.slack.channel import SlackChannel
    from syncer.model import Incident

NOTICE = "incident_syncer_notice"
ENTRY = "incident_syncer_entry"
ROOM = "incident_syncer_room"
DUPLICATE = "incident_syncer_duplicate"
ROOM_KEYS = ("room_topic", "room_invited", "room_marks")


@dataclass
class Copy:
    """One of the tool's messages: where it is, what it says, what it stands for.

    ``key`` is the entry's event id, or the room's id for the room's announcement;
    ``thread`` the notice it replies to (None: a room's own history).
    """

    kind: str
    key: str
    channel: str
    ts: str
    thread: str | None
    text: str


@dataclass
class Found:
    """Everything told more than once, as the lookup read it (kept in ``Told.private``)."""

    kept: dict[tuple[str, str], Copy] = field(default_factory=dict)  # (kind, key) → kept copy
    repeats: list[Copy] = field(default_factory=list)  # younger copies in the kept places
    strays: list[Copy] = field(default_factory=list)  # entries told in a duplicate's place
    notices: list[str] = field(default_factory=list)  # younger notices' ts
    rooms: list[RoomRef] = field(default_factory=list)  # rooms that are not the incident's


def read(ch: SlackChannel, channel: str, incident: Incident, notices: list[Any]) -> Told:
    """The oldest of ``notices`` ((ts, payload), oldest first) with its thread, and the rest."""
    ts, payload = notices[0]
    told = ch._told(channel, ts, payload)
    found = Found()
    announced = scan(ch, list(ch.api.replies(channel, ts)), incident.id, channel, ts, found)
    told.private["announced"] = announced
    twin_rooms: list[tuple[RoomRef, dict[str, Any]]] = []
    for twin_ts, twin_payload in notices[1:]:
        found.notices.append(twin_ts)
        stray = Found()
        scan(ch, list(ch.api.replies(channel, twin_ts)), incident.id, channel, twin_ts, stray)
        found.strays += [c for c in stray.kept.values() if c.kind == ENTRY] + stray.repeats
        room = ch._room(twin_payload)
        if room is not None:
            twin_rooms.append((room, twin_payload))
    for room, twin_payload in twin_rooms:
        if told.room is None:  # the younger notice's room is the incident's: adopted
            told.room = room
            for key in ROOM_KEYS:
                told.private[key] = twin_payload.get(key, "")
        elif room.id != told.room.id and room.id not in {r.id for r in found.rooms}:
            found.rooms.append(room)
    if ch.settings.entries == "room":
        if told.room is not None:
            history = sorted(ch.api.history(told.room.id), key=_when)
            scan(ch, history, incident.id, told.room.id, None, found)
        for room in found.rooms:
            stray = Found()
            scan(ch, sorted(ch.api.history(room.id), key=_when), incident.id, room.id, None, stray)
            found.strays += [c for c in stray.kept.values() if c.kind == ENTRY] + stray.repeats
    told.entries = {key for kind, key in found.kept if kind == ENTRY}
    told.duplicates = describe(found, incident)
    told.private["found"] = found
    return told


def scan(
    ch: SlackChannel,
    messages: list[dict[str, Any]],
    incident_id: str,
    channel: str,
    thread: str | None,
    found: Found,
) -> bool:
    """Sort the tool's entries and room announcements among ``messages`` (oldest first) into
    the kept copies and the repeats; True if the room was announced."""
    announced = False
    for message in messages:
        if message.get("ts") == thread:
            continue  # the notice itself, first in its thread
        for kind, key in ((ENTRY, "event_id"), (ROOM, "room_id")):
            payload = ch._ours(message, kind, incident_id)
            if payload is None:
                continue
            copy = Copy(
                kind,
                str(payload.get(key)),
                channel,
                str(message["ts"]),
                thread,
                str(message.get("text") or ""),
            )
            if (kind, copy.key) in found.kept:
                found.repeats.append(copy)
            else:
                found.kept[(kind, copy.key)] = copy
            announced = announced or kind == ROOM
    return announced


def describe(found: Found, incident: Incident) -> list[str]:
    """What is healed, in words (the output's and ``--dry-run``'s)."""
    out = []
    listed = {e.event_id for e in incident.timeline}
    kept = {key for kind, key in found.kept if kind == ENTRY}
    copied = sorted({c.key for c in found.strays if c.kind == ENTRY and c.key not in kept | listed})
    if found.notices:
        count = len(found.notices)
        what = "a younger notice" if count == 1 else f"{count} younger notices"
        if copied:
            what += f" (entr{'y' if len(copied) == 1 else 'ies'} {', '.join(copied)} copied)"
        out.append(what)
    for copy in found.repeats:
        what = f"entry {copy.key}" if copy.kind == ENTRY else "the room's announcement"
        out.append(f"{what} posted twice")
    out += [f"room #{room.name} opened twice" for room in found.rooms]
    return out


def heal(ch: SlackChannel, told: Told, notice: Notice) -> int:
    """Heal what :func:`read` found: nothing lost first, then each younger copy marked."""
    found: Found | None = told.private.pop("found", None)
    told.duplicates = []
    if found is None:
        return 0
    incident = notice.incident
    writes = 0
    listed = {e.event_id: e for e in incident.timeline}
    texts = ch._texts(notice, told.room, mention=False)
    for stray in found.strays:
        if stray.kind != ENTRY or stray.key in told.entries:
            continue
        event = listed.get(stray.key)
        # Normally told already, from the timeline; an entry the incident no longer lists
        # is copied as it was written.
        text = entry_text(texts.entry(event)) if event is not None else stray.text
        ch._say_entry(told, incident.id, stray.key, text)
        writes += 1
    kept: dict[tuple[str, str], Copy] = {**found.kept, **told.private.get("kept", {})}
    for copy in [*found.repeats, *found.strays]:
        target = kept.get((copy.kind, copy.key))
        if target is not None:
            kind = "entry" if copy.kind == ENTRY else "announcement"
            text = texts.duplicate(kind, link(ch, target))
            writes += mark(ch, copy.channel, copy.ts, text, incident.id, target.ts)
    for room in found.rooms:
        writes += retire(ch, room, texts.duplicate("room"), incident.id)
    channel, ts = ch._where(told)
    pointer = texts.duplicate("notice", ch.api.permalink(channel, ts))
    for twin in found.notices:
        writes += mark(ch, channel, twin, pointer, incident.id, ts, notice=True)
    return writes


def link(ch: SlackChannel, copy: Copy) -> str:
    """The permalink of a kept copy (a reply's names its thread)."""
    url = ch.api.permalink(copy.channel, copy.ts)
    return f"{url}?thread_ts={copy.thread}&cid={copy.channel}" if copy.thread else url


def mark(
    ch: SlackChannel,
    channel: str,
    ts: str,
    text: str,
    incident_id: str,
    of: str,
    *,
    notice: bool = False,
) -> int:
    """Edit the tool's message ``ts`` into ``text``, its metadata marking it a duplicate of
    the message ``of``."""
    extra: dict[str, Any] = {"blocks": []} if notice else {}  # [] drops the notice's blocks
    payload = {"incident_id": incident_id, "of": of}
    ch.api.write(
        "chat.update",
        channel=channel,
        ts=ts,
        text=text,
        metadata={"event_type": DUPLICATE, "event_payload": payload},
        **extra,
    )
    return 1


def retire(ch: SlackChannel, room: RoomRef, text: str, incident_id: str) -> int:
    """Tell a second room where the incident is handled, then archive it (once)."""
    info = ch.api.call("conversations.info", channel=room.id).get("channel") or {}
    if info.get("is_archived"):
        return 0
    writes = 0
    latest = ch.api.history(room.id, limit=ch.settings.page_size)
    if not any(ch._ours(m, DUPLICATE, incident_id) is not None for m in latest):
        ch.api.write(
            "chat.postMessage",
            channel=room.id,
            text=text,
            metadata={"event_type": DUPLICATE, "event_payload": {"incident_id": incident_id}},
        )
        writes += 1
    return writes + ch.api.archive(room.id)


def _when(message: dict[str, Any]) -> float:
    return float(message.get("ts") or 0)
