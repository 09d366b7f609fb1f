"""The Slack channel: the protocol's methods over :class:`~adapters.slack.api.SlackApi`."""

from __future__ import annotations

import builtins
import logging
import re
import threading
from datetime import datetime
from typing import Any, ClassVar

from markupsafe import Markup

from adapters.channels import (
    CAP_EDIT,
    CAP_READ_BACK,
    CAP_ROOM,
    CAP_THREAD,
    KINDS,
    ChannelSettings,
    Notice,
    NoticeRef,
    RoomRef,
    Told,
)
from adapters.slack import healing
from adapters.slack.api import SlackApi
from adapters.slack.healing import ENTRY, NOTICE, ROOM, ROOM_KEYS, Copy
from adapters.slack.settings import EMAIL, USER_ID, SlackSettings
from adapters.slack.texts import TOPIC_LIMIT, cut, entry_text, notice_blocks, room_name
from syncer import clock, markers
from syncer.chattext import ChatTexts, ChatView, mrkdwn
from syncer.config import Config
from syncer.errors import LookupFailed, TrackerError
from syncer.model import Incident, Status, TimelineEvent
from syncer.render import Extra

log = logging.getLogger("adapters.slack")

LOOKBACK_SECONDS = 86400  # a notice is searched from a day before the incident began
RACE_WINDOW = 900  # a racing run's notice follows the first within this (seconds); see healing
ROOM_SUFFIXES = 5  # inc-...-2 … -5 when the name is taken by someone else's channel


class SlackChannel:
    type: ClassVar[str] = "slack"
    Settings: ClassVar[builtins.type[ChannelSettings]] = SlackSettings
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_EDIT, CAP_ROOM, CAP_THREAD, CAP_READ_BACK}
    )

    def __init__(self, name: str, settings: SlackSettings, config: Config) -> None:
        from syncer.secrets import from_env

        self.name = name
        self.settings = settings
        self.config = config
        self.hears = frozenset(KINDS)
        self.closes_at = None if settings.archive == "never" else Status(settings.archive)
        token = from_env(settings.token_env, setting=f"channels.{name}.token_env")
        user_token = None
        if settings.archived_room == "unarchive" and settings.unarchive_token_env:
            user_token = from_env(
                settings.unarchive_token_env, setting=f"channels.{name}.unarchive_token_env"
            )
        self.api = SlackApi(name, token, settings, user_token)
        self._lock = threading.Lock()
        self._broadcast_id: str | None = None
        self._users: dict[str, str | None] = {}

    # Where things are.

    def broadcast(self) -> str:
        """The broadcast channel's id (a '#name' is looked up once)."""
        if self._broadcast_id is None:
            wanted = self.settings.channel
            if not wanted.startswith("#"):
                self._broadcast_id = wanted
            else:
                found = self.api.find_channel(wanted[1:])
                if found is None:
                    raise TrackerError(
                        f"channel {wanted} not found (or the bot may not see it): invite the "
                        "app to it, or give its id (C…) as `channel`",
                        tracker=self.name,
                    )
                self._broadcast_id = str(found["id"])
        return self._broadcast_id

    def _ours(self, message: dict[str, Any], kind: str, incident_id: str) -> dict[str, Any] | None:
        """The metadata payload if ``message`` is the tool's own ``kind`` message for this incident."""
        if message.get("bot_id") != self.api.identity().bot_id:
            return None
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") != kind or payload.get("incident_id") != incident_id:
            return None
        return dict(payload)

    # Reading back.

    def lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        try:
            return self._lookup(incident, memo)
        except TrackerError as exc:
            what = f"cannot tell whether {incident.id} was announced"
            raise LookupFailed.because(exc, what, self.name) from exc

    def _lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        channel = self.broadcast()
        notices: list[tuple[str, dict[str, Any]]] = []
        hint = memo.get("ts")
        if isinstance(hint, str) and memo.get("channel") == channel:
            # The notice where the hint says, and any a racing run posted soon after it.
            until = f"{float(hint) + RACE_WINDOW:.6f}"
            notices = self._notices(channel, incident, oldest=hint, latest=until)
            if hint not in {ts for ts, _ in notices}:
                notices = []  # gone, or no longer the notice: search
        if not notices:
            notices = self._notices(channel, incident, oldest=self._search_from(incident))
        if not notices:
            return Told()
        if len(notices) > 1:
            log.info("%s: %d notices for %s", self.name, len(notices), incident.id)
        return healing.read(self, channel, incident, notices)

    def _notices(
        self, channel: str, incident: Incident, *, oldest: str | None, latest: str | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """The tool's notices of ``incident`` between ``oldest`` and ``latest``, oldest first:
        the first is the one, whichever run reads them (another is a racing run's, healed)."""
        found = [
            (str(message["ts"]), payload)
            for message in self.api.history(channel, oldest=oldest, latest=latest)
            if (payload := self._ours(message, NOTICE, incident.id)) is not None
        ]
        return sorted(found, key=lambda c: float(c[0]))

    def _search_from(self, incident: Incident) -> str | None:
        """Where the search for the notice starts: a day before the incident began (or before now,
        for a date typed in the future); from the beginning when the incident has no time."""
        began = _began(incident)
        if began is None:
            return None
        start = min(began.timestamp(), clock.current().time()) - LOOKBACK_SECONDS
        return f"{start:.6f}"

    def _room(self, payload: dict[str, Any]) -> RoomRef | None:
        """The room a notice's metadata records, if any."""
        if not payload.get("room_id"):
            return None
        return RoomRef(
            id=str(payload["room_id"]),
            name=str(payload.get("room_name", "")),
            url=self.api.channel_url(str(payload["room_id"])),
            closed=bool(payload.get("room_closed")),
            digest=payload.get("room_digest") or None,
        )

    def _told(self, channel: str, ts: str, payload: dict[str, Any]) -> Told:
        room = self._room(payload)
        status = payload.get("status")
        return Told(
            notice=NoticeRef(
                key=self.settings.channel,
                url=self.api.permalink(channel, ts),
                native=f"{channel}/{ts}",
            ),
            digest=payload.get("digest") or None,
            grade=payload.get("grade") or None,
            status=Status(str(status)) if status in Status.__members__ else None,
            room=room,
            private={"payload": payload, "announced": False},
            memo={"channel": channel, "ts": ts},
        )

    # Texts.

    def _texts(self, notice: Notice, room: RoomRef | None, mention: bool = True) -> ChatTexts:
        """The texts; ``mention``: the commander as a Slack mention (a lookup, for the notice)."""
        incident = notice.incident
        commander: Markup | str | None = incident.commander
        if incident.commander and mention:
            user = self._user(incident.commander)
            commander = Markup(f"<@{user}>") if user else incident.commander
        view = ChatView(
            commander=commander,
            room=Markup(f"<#{room.id}>") if room else None,
            room_name=room.name if room else None,
        )
        extra = Extra(trackers=notice.links, postmortem_url=notice.postmortem_url)
        return ChatTexts(self.config, incident, extra, view)

    def _payload(self, notice: Notice, told: Told) -> dict[str, Any]:
        """The notice's metadata: the record of what it shows and of the room."""
        old = told.private.get("payload", {})
        payload: dict[str, Any] = {
            "incident_id": notice.incident.id,
            "digest": notice.digest,
            "grade": notice.incident.grade,
            "status": notice.incident.status.value,
        }
        room = told.room
        if room is not None:
            payload.update(
                room_id=room.id,
                room_name=room.name,
                room_closed=room.closed,
                room_digest=room.digest or "",
            )
            for key in ("room_topic", "room_invited", "room_marks"):
                payload[key] = told.private.get(key, old.get(key, ""))
        return payload

    def _message(self, notice: Notice, told: Told) -> dict[str, Any]:
        texts = self._texts(notice, told.room)
        return {
            "text": cut(mrkdwn(texts.summary()), 3000),
            "blocks": notice_blocks(texts, notice.links, notice.postmortem_url),
            "metadata": {"event_type": NOTICE, "event_payload": self._payload(notice, told)},
        }

    # Writing: the Channel protocol.

    def post_notice(self, notice: Notice) -> tuple[Told, int]:
        channel = self.broadcast()
        told = Told()
        answer = self.api.write(
            "chat.postMessage",
            channel=channel,
            unfurl_links=False,
            unfurl_media=False,
            **self._message(notice, told),
        )
        ts, payload = str(answer["ts"]), self._payload(notice, told)
        # Look again: a run with no state shared with this one may have posted too, both having
        # looked before either posted. The oldest notice is the one; a younger one is healed.
        notices = self._notices(channel, notice.incident, oldest=self._search_from(notice.incident))
        if ts not in {t for t, _ in notices}:
            notices = sorted([*notices, (ts, payload)], key=lambda c: float(c[0]))
        if len(notices) > 1:
            log.info("%s: another run announced %s too", self.name, notice.incident.id)
            return healing.read(self, channel, notice.incident, notices), 1
        return self._told(channel, ts, payload), 1

    def update_notice(self, told: Told, notice: Notice) -> int:
        channel, ts = self._where(told)
        message = self._message(notice, told)
        self.api.write("chat.update", channel=channel, ts=ts, **message)
        told.digest = notice.digest
        told.grade, told.status = notice.incident.grade, notice.incident.status
        told.private["payload"] = message["metadata"]["event_payload"]
        return 1

    def post_entry(self, told: Told, notice: Notice, event: TimelineEvent) -> int:
        texts = self._texts(notice, told.room, mention=False)
        self._say_entry(told, notice.incident.id, event.event_id, entry_text(texts.entry(event)))
        return 1

    def _say_entry(self, told: Told, incident_id: str, event_id: str, text: str) -> None:
        """Post one entry's text in the notice's thread (or the room); remember where it is."""
        channel, ts = self._where(told)
        target: dict[str, Any] = {"channel": channel, "thread_ts": ts}
        if self.settings.entries == "room" and told.room is not None and not told.room.closed:
            target = {"channel": told.room.id}
        answer = self.api.write(
            "chat.postMessage",
            **target,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
            metadata={
                "event_type": ENTRY,
                "event_payload": {"incident_id": incident_id, "event_id": event_id},
            },
        )
        told.entries.add(event_id)
        where = target["channel"]
        copy = Copy(ENTRY, event_id, where, str(answer["ts"]), target.get("thread_ts"), text)
        told.private.setdefault("kept", {})[(ENTRY, event_id)] = copy

    def heal(self, told: Told, notice: Notice) -> int:
        return healing.heal(self, told, notice)

    def open_room(self, told: Told, notice: Notice) -> tuple[RoomRef, int]:
        writes = 0
        room = told.room
        if room is not None and room.closed and not notice.closes_room:
            # Archived, and the incident is open again: unarchived, or a new room (per config).
            if self.settings.archived_room == "unarchive":
                writes += self.api.unarchive(room.id)
                room.closed = False
            else:
                told.room = room = None
                for key in ROOM_KEYS:  # the new room is set up from scratch
                    told.private[key] = ""
                told.private["announced"] = False
        if room is None:
            room, wrote = self._create_room(notice)
            told.room, writes = room, writes + wrote
        if room.closed:
            return room, writes  # the incident's room, archived, and the incident closes it
        texts = self._texts(notice, room)
        old = told.private.get("payload", {})
        topic = cut(mrkdwn(texts.summary()), TOPIC_LIMIT)
        if told.private.get("room_topic", old.get("room_topic")) != markers.digest(topic):
            self.api.write("conversations.setTopic", channel=room.id, topic=topic)
            told.private["room_topic"] = markers.digest(topic)
            writes += 1
        # Everyone invited so far is recorded: a person who left is not invited again, and
        # a downgrade uninvites nobody.
        invited = set(
            filter(
                None, str(told.private.get("room_invited", old.get("room_invited", ""))).split(",")
            )
        )
        users = [u for u in self._invitees(notice.incident) if u not in invited]
        if users:
            writes += self.api.invite(room.id, users)
            told.private["room_invited"] = ",".join(sorted(invited | set(users)))
        marks = [(f"{link.tracker} {link.key}", link.url) for link in notice.links]
        if notice.postmortem_url:
            marks.append((texts.label("postmortem"), notice.postmortem_url))
        # Slack bookmarks only web links (a local tracker's memory:// link is shown, not kept).
        marks = [(title, url) for title, url in marks if url.startswith(("https://", "http://"))]
        if marks and told.private.get("room_marks", old.get("room_marks")) != markers.digest(marks):
            writes += self.api.bookmark(room.id, marks)
            told.private["room_marks"] = markers.digest(marks)
        if self.settings.announce and not told.private.get("announced"):
            channel, ts = self._where(told)
            self.api.write(
                "chat.postMessage",
                channel=channel,
                thread_ts=ts,
                reply_broadcast=True,
                text=texts.room_opened(),
                metadata={
                    "event_type": ROOM,
                    "event_payload": {"incident_id": notice.incident.id, "room_id": room.id},
                },
            )
            told.private["announced"] = True
            writes += 1
        room.digest = notice.room_digest
        return room, writes

    def close_room(self, told: Told, notice: Notice) -> int:
        if told.room is None or told.room.closed:
            return 0
        wrote = self.api.archive(told.room.id)
        told.room.closed = True
        return wrote

    def _where(self, told: Told) -> tuple[str, str]:
        if told.notice is None:
            raise AssertionError("the notice must be posted first")  # an engine bug
        channel, _, ts = told.notice.native.partition("/")
        return channel, ts

    # Rooms.

    def _create_room(self, notice: Notice) -> tuple[RoomRef, int]:
        incident = notice.incident
        opened = _began(incident)
        date = opened.astimezone(self.config.tz).strftime("%Y%m%d") if opened else "00000000"
        base = room_name(self.settings.room_name, incident, date)
        texts = self._texts(notice, None)
        for number in range(1, ROOM_SUFFIXES + 1):
            name = base if number == 1 else f"{base[: 80 - 2]}-{number}"
            created = self.api.create_room(name, self.settings.room_private)
            if created is not None:
                purpose = cut(mrkdwn(texts.purpose()), TOPIC_LIMIT)
                self.api.write("conversations.setPurpose", channel=created, purpose=purpose)
                return RoomRef(created, name, self.api.channel_url(created)), 2
            existing = self.api.find_channel(name)
            if existing is not None and self._claims(existing, incident.id):
                room_id, writes = str(existing["id"]), 0
                if existing.get("is_archived"):
                    # The incident's room, archived: never taken for an open one.
                    if notice.closes_room:  # and the incident closes it anyway: kept closed
                        url = self.api.channel_url(room_id)
                        return RoomRef(room_id, name, url, closed=True), 0
                    if self.settings.archived_room == "new":
                        continue
                    writes += self.api.unarchive(room_id)
                if not (existing.get("purpose") or {}).get("value"):
                    purpose = cut(mrkdwn(texts.purpose()), TOPIC_LIMIT)
                    self.api.write("conversations.setPurpose", channel=room_id, purpose=purpose)
                    writes = 1
                return RoomRef(room_id, name, self.api.channel_url(room_id)), writes
        raise TrackerError(
            f"no room name is free for {incident.id}: {base} to {base}-{ROOM_SUFFIXES} are "
            "taken by other channels (change room_name)",
            tracker=self.name,
        )

    def _claims(self, channel: dict[str, Any], incident_id: str) -> bool:
        """Whether ``channel`` is this incident's room whose creation's answer was lost."""
        if channel.get("creator") != self.api.identity().user_id:
            return False
        purpose = str((channel.get("purpose") or {}).get("value") or "")
        # Empty: created but the purpose not yet set (the same lost answer); else it names us.
        return (
            not purpose
            or re.search(rf"(?<![\w.-]){re.escape(incident_id)}(?![\w.-])", purpose) is not None
        )

    def _invitees(self, incident: Incident) -> list[str]:
        wanted: list[str] = []
        if incident.commander:
            wanted.append(incident.commander)
        for key in ("*", incident.grade, *incident.services):
            wanted.extend(self.settings.responders.get(key, []))
        users = []
        me = self.api.identity().user_id
        for who in wanted:
            user = self._user(who)
            if user and user != me and user not in users:
                users.append(user)
        return sorted(users)

    def _user(self, who: str) -> str | None:
        """A person (a name in ``people``, a user id or an e-mail) as a Slack user id, or None."""
        target = self.settings.people.get(who, who)
        if USER_ID.match(target):
            return target
        if not EMAIL.match(target):
            return None
        with self._lock:
            if target in self._users:
                return self._users[target]
        user = self.api.user_by_email(target)
        with self._lock:
            self._users[target] = user
        return user

    # doctor.

    def doctor(self) -> list[str]:
        from adapters.slack.doctor import check

        return check(self)


def _began(incident: Incident) -> datetime | None:
    """When the incident began, as far as it says (its start, detection, or first entry)."""
    return incident.opened_at or (incident.sorted_timeline[0].at if incident.timeline else None)
