"""The channel half of a sync (장애 전파): tell each channel what it has not been told yet.

Run once the trackers are done, with their links: for every channel, read
what it has been told (:meth:`~adapters.channels.Channel.lookup`), decide
whether it hears about this incident at all (its grade, ``[grades.X]
channels``; a channel that was told once keeps hearing, so a downgrade
never leaves a page open), plan what is missing and do it. A second run on
an unchanged incident plans nothing and writes nothing.

Failures are the channel's own: a failing channel is retried like a tracker
(look again, plan again), journaled under its name when it still fails, and
reported; it never fails or holds up a tracker. Each incident is told under
a lock of its own (not the trackers'), so that two runs never post two
notices.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from adapters.channels import CAP_EDIT, CAP_READ_BACK, CAP_ROOM, CAP_THREAD, Channel, Notice, Told
from syncer import markers
from syncer.config import Config
from syncer.engine.attempts import journal_options, settle
from syncer.engine.options import Options, Result
from syncer.errors import SyncerError, TrackerError
from syncer.model import Incident, Status, TimelineEvent
from syncer.render import TrackerLink
from syncer.retry import Policy, call
from syncer.state import Pending, State

log = logging.getLogger("syncer.telling")
TELLERS = 2  # incidents told at once in the background (Slack paces per method anyway)

# The incident's fields a notice shows (a change to one of them is worth an edit).
SHOWN = set(Incident.model_fields) - {
    "id",
    "mitigated_at",
    "closed_at",
    "cause",
    "links",
    "timeline",
    "postmortem",
}


class ChannelResult(Result):
    """What happened to one incident on one channel (one line of ``--json``)."""

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["channel"] = data.pop("tracker")
        return {
            k: data[k]
            for k in ("incident", "channel", "key", "url", "created", "operations", "error")
        }


@dataclass
class Step:
    """One planned step; ``summary`` is what ``--dry-run`` prints."""

    kind: str
    summary: str
    payload: Any = None


def _told_of(links: list[TrackerLink], postmortem_url: str | None) -> dict[str, Any]:
    """What the journal keeps of the trackers for a channel: its retry needs no tracker."""
    return {
        "links": [[x.tracker, x.key, x.url] for x in links],
        "postmortem_url": postmortem_url,
    }


def healing(told: Told) -> str:
    """The step that heals what was told twice, in words."""
    return "heal duplicates: " + "; ".join(told.duplicates)


class Teller:
    """Tells the configured channels about incidents, after the trackers."""

    def __init__(
        self,
        config: Config,
        channels: dict[str, Channel],
        *,
        state: State | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.config = config
        self.channels = channels
        self.state = state
        self.policy = policy or Policy.from_env()
        self._memos: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        # serve's retries (syncer.retelling): told when a failure is journaled, and how an entry
        # journaled without the trackers' links (by an older version) is synced again.
        self.on_journaled: Callable[[], None] | None = None
        self.resync: Callable[[Incident, Options], object] | None = None

    def tell(
        self,
        incident: Incident,
        links: list[TrackerLink],
        postmortem_url: str | None,
        options: Options,
        *,
        journaled: bool = False,
    ) -> list[Result]:
        """Tell every channel about ``incident``: one result per channel that hears of it.

        Backfills of past incidents (``options.historical``) tell nobody. Each channel is
        journaled before it is told (unless ``journaled`` says it is already) and cleared once
        done, so that a crash half-way leaves it for ``retry`` rather than forgotten.
        """
        if not self.channels or options.historical:
            return []
        if not journaled:
            self._pending(incident, options, links, postmortem_url)
        with self._incident_lock(incident.id):
            names = list(self.channels)
            results: dict[str, Result | None] = {}

            def one(name: str) -> None:
                results[name] = self._tell(name, incident, links, postmortem_url, options)

            if len(names) == 1:
                one(names[0])
            else:
                with ThreadPoolExecutor(len(names), thread_name_prefix="channel") as pool:
                    for future in [pool.submit(one, n) for n in names]:
                        future.result()
            return [r for n in names if (r := results[n]) is not None]

    def submit(
        self,
        incident: Incident,
        links: list[TrackerLink],
        postmortem_url: str | None,
        options: Options,
    ) -> Future[list[Result]]:
        """:meth:`tell` on the teller's own threads: the caller (a tracker worker) goes on at once.

        The channels are journaled now, so that work still queued when the process stops is
        left for ``retry``, not lost.
        """
        done: Future[list[Result]] = Future()
        if not self.channels or options.historical:
            done.set_result([])
            return done
        self._pending(incident, options, links, postmortem_url)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(TELLERS, thread_name_prefix="tell")
            return self._pool.submit(
                self.tell, incident, links, postmortem_url, options, journaled=True
            )

    def close(self, *, cancel: bool = False) -> None:
        """Wait for what :meth:`submit` started; ``cancel`` drops what has not started (journaled)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=cancel)

    def _pending(
        self,
        incident: Incident,
        options: Options,
        links: list[TrackerLink],
        postmortem_url: str | None,
    ) -> None:
        if self.state is not None and not options.dry_run:
            data = incident.to_data()
            extra = journal_options(options) | _told_of(links, postmortem_url)
            entries = [(n, incident.id, options.command, data, extra) for n in self.channels]
            self.state.journal_put_many(entries)

    # Planning.

    def hears(self, name: str, incident: Incident, told: Told) -> bool:
        """Whether channel ``name`` is told about ``incident`` (its grade, or it was told before)."""
        if told.notice is not None:
            return True
        allowed = self.config.grade(incident.grade).channels
        return allowed is None or name in allowed

    def notice(
        self,
        channel: Channel,
        incident: Incident,
        links: list[TrackerLink],
        postmortem_url: str | None,
        told: Told,
    ) -> Notice:
        shown = incident.model_dump(mode="json", include=SHOWN)
        link_data = [(x.tracker, x.key, x.url) for x in links]
        room = (told.room.id, told.room.closed) if told.room else None
        closes_at: Status | None = getattr(channel, "closes_at", None)
        return Notice(
            incident=incident,
            links=links,
            postmortem_url=postmortem_url,
            digest=markers.digest(
                "notice",
                shown,
                link_data,
                postmortem_url,
                room,
                self.config.syncer.language,
                self.config.syncer.timezone,
            ),
            room_digest=markers.digest(
                "room",
                {k: shown[k] for k in ("title", "grade", "status", "commander", "services")},
                link_data,
                postmortem_url,
            ),
            wants_room=self.config.grade(incident.grade).room,
            closes_room=closes_at is not None and incident.status.rank >= closes_at.rank,
            previous_grade=told.grade,
            previous_status=told.status,
        )

    def plan(self, name: str, channel: Channel, notice: Notice, told: Told) -> list[Step]:
        """The steps that would bring channel ``name`` in line with ``notice``."""
        incident = notice.incident
        if not self.hears(name, incident, told):
            return []
        edits = CAP_EDIT in channel.capabilities
        steps: list[Step] = []
        fresh = told.notice is None
        if fresh:
            state = f"{incident.grade}, {incident.status.value}"
            if edits:
                steps.append(Step("notice", f"post the notice ({state})"))
            else:
                verb = "send" if "open" in channel.hears else "record"
                steps.append(Step("notice", f"{verb}: opened ({state})"))
        room = told.room
        if CAP_ROOM in channel.capabilities:
            if room is None and notice.wants_room:
                steps.append(Step("room", "open the incident's room"))
            elif room is not None and not room.closed and room.digest != notice.room_digest:
                steps.append(Step("room", f"update room #{room.name}"))
            elif room is not None and room.closed and notice.wants_room and not notice.closes_room:
                # Reopened: the archived room is never written to as if open (see open_room).
                steps.append(Step("room", f"open the room again (#{room.name} is archived)"))
        if "entry" in channel.hears and (not fresh or CAP_THREAD in channel.capabilities):
            missing = [e for e in incident.sorted_timeline if e.event_id not in told.entries]
            if missing:
                steps.append(self.entries_step(channel, missing))
        if told.duplicates:  # after the entries: whatever a duplicate holds is kept first
            steps.append(Step("heal", healing(told)))
        has_room = room is not None or any(s.kind == "room" for s in steps)
        if has_room and not (room and room.closed) and notice.closes_room:
            steps.append(
                Step("close", f"archive room #{room.name}" if room else "archive the room")
            )
        if not fresh:
            changes = self.changes(channel, notice, told)
            if changes:
                steps.append(Step("update", changes))
        return steps

    @staticmethod
    def entries_step(channel: Channel, events: list[TimelineEvent]) -> Step:
        ids = ", ".join(e.event_id for e in events)
        count = f"{len(events)} timeline entr{'y' if len(events) == 1 else 'ies'}"
        verb = "post" if CAP_EDIT in channel.capabilities else "send"
        return Step("entries", f"{verb} {count}: {ids}", events)

    def changes(self, channel: Channel, notice: Notice, told: Told) -> str:
        """What an update would change, in words ('' when nothing worth an update)."""
        incident = notice.incident
        heard: list[str] = []
        unheard: list[str] = []
        if told.grade != incident.grade:
            grade = f"grade {told.grade or '?'} → {incident.grade}"
            (heard if "grade" in channel.hears else unheard).append(grade)
        if told.status != incident.status:
            old = told.status.value if told.status else "?"
            status = f"status {old} → {incident.status.value}"
            (heard if "status" in channel.hears else unheard).append(status)
        if CAP_EDIT in channel.capabilities:
            if heard or unheard or told.digest != notice.digest:
                return "update the notice: " + ("; ".join(heard + unheard) or "content")
            return ""
        if heard:
            return "send: " + "; ".join(heard)
        # A change this channel is not told about is only remembered (no request).
        return "record: " + "; ".join(unheard) if unheard else ""

    # Doing.

    def _tell(
        self,
        name: str,
        incident: Incident,
        links: list[TrackerLink],
        postmortem_url: str | None,
        options: Options,
    ) -> Result | None:
        channel = self.channels[name]
        result = ChannelResult(incident=incident.id, tracker=name, dry_run=options.dry_run)
        heard = [False]

        def once() -> bool:
            heard[0] = self._once(name, channel, incident, links, postmortem_url, options, result)
            return True

        def kept(exc: TrackerError) -> dict[str, Any]:
            # What serve's retries need (syncer.retelling): the links, and whether and when.
            return _told_of(links, postmortem_url) | {
                "retry": "auto" if exc.retryable else "manual",
                "retry_after": exc.retry_after,
            }

        # A rate limit asking for longer than the policy waits is left to the journal.
        failed = settle(
            name,
            incident,
            options,
            result,
            once,
            policy=self.policy,
            state=self.state,
            long_waits=False,
            kept=kept,
        )
        if failed is not None:  # a channel that cannot be read for good is not worth a retry
            result.retryable = failed.retryable
            if self.on_journaled is not None and not options.dry_run:
                self.on_journaled()
        return result if heard[0] or failed is not None else None

    def retell(self, entry: Pending) -> Result | None:
        """Tell channel ``entry.tracker`` again what the journal keeps for it (serve's retries).

        Under the incident's lock, and only if the entry is still the one the retry was
        planned on (its ``updated`` unchanged): None when it was told or taken up meanwhile,
        here or by another replica. Raises :class:`~syncer.errors.InputError` if the
        journal's copy no longer validates, a :class:`~syncer.errors.SyncerError` for an
        entry without the trackers' links when nothing can sync it again.
        """
        from syncer import loader

        name, incident_id = entry.tracker, entry.incident_id
        if self.state is None:
            return None
        with self._incident_lock(incident_id):
            now = next((p for p in self.state.journal(name) if p.incident_id == incident_id), None)
            if now is None or now.updated != entry.updated:
                return None
            incident = loader.validate(now.incident, f"journal:{incident_id}", {}, self.config)
            options = Options(
                command=now.command,
                postmortem=now.options.get("postmortem", "auto"),
                historical=bool(now.options.get("historical", False)),
            )
            links = now.options.get("links")
            if links is None:  # journaled by an older version: the trackers say where it is
                if self.resync is None:
                    raise SyncerError("journaled without the trackers' links: run `retry`")
                self.resync(incident, options)
                return None
            postmortem_url = now.options.get("postmortem_url")
            told = [TrackerLink(*link) for link in links]
            return self._tell(name, incident, told, postmortem_url, options)

    def _once(
        self,
        name: str,
        channel: Channel,
        incident: Incident,
        links: list[TrackerLink],
        postmortem_url: str | None,
        options: Options,
        result: Result,
    ) -> bool:
        """Look, plan and do, once; False when the channel does not hear of this incident."""
        memo = self._memo(name, incident.id)
        if options.recheck and CAP_READ_BACK in channel.capabilities:
            memo = {}  # a hint saves a search; --recheck searches (a webhook's memo is its record)
        told = call(lambda: channel.lookup(incident, memo), self.policy, what=f"{name}: lookup")
        if not self.hears(name, incident, told):
            return False
        notice = self.notice(channel, incident, links, postmortem_url, told)
        steps = self.plan(name, channel, notice, told)
        self._show(result, told)
        if options.dry_run:
            result.operations = [s.summary for s in steps]
            return True
        try:
            for step in steps:
                if step.kind == "notice":
                    told, writes = channel.post_notice(notice)
                    result.created = True
                elif step.kind == "room":
                    told.room, writes = channel.open_room(told, notice)
                    if not writes:
                        continue  # the older notice a racing run posted had its room ready
                elif step.kind == "entries":
                    writes, posted = 0, []
                    for event in step.payload:
                        # A first notice may cover them, or the older notice another run posted.
                        if event.event_id not in told.entries:
                            writes += channel.post_entry(told, notice, event)
                            posted.append(event)
                            self._save(name, incident.id, told.memo, options)
                    if not posted:
                        continue
                    step = self.entries_step(channel, posted)
                elif step.kind == "heal":
                    writes = channel.heal(told, notice)
                elif step.kind == "close":
                    writes = channel.close_room(told, notice)
                    if not writes:
                        continue  # found archived already
                else:
                    continue  # the update comes last, with the room as it is by then
                result.writes += writes
                result.operations.append(step.summary)
                notice = self.notice(channel, incident, links, postmortem_url, told)
            if told.duplicates:  # the notice just posted met another run's, posted first
                summary = healing(told)
                result.writes += channel.heal(told, notice)
                result.operations.append(summary)
                notice = self.notice(channel, incident, links, postmortem_url, told)
            changes = self.changes(channel, notice, told)
            if changes and told.notice is not None:
                result.writes += channel.update_notice(told, notice)
                result.operations.append(changes)
        finally:
            # What was done is remembered even when a later step failed (a webhook's record).
            if told.memo != memo:
                self._save(name, incident.id, told.memo, options)
            self._show(result, told)
        return True

    @staticmethod
    def _show(result: Result, told: Told) -> None:
        if told.notice is not None:
            result.key, result.url = told.notice.key, told.notice.url

    # The local memo (a hint for Slack, the whole record for a webhook) and the lock.

    def _key(self, name: str, incident_id: str) -> str:
        return f"told:{name}:{incident_id}"

    def _memo(self, name: str, incident_id: str) -> dict[str, Any]:
        key = self._key(name, incident_id)
        if self.state is not None:
            value = self.state.kv_get(key)
            return dict(value) if isinstance(value, dict) else {}
        return dict(self._memos.get(key, {}))

    def _save(self, name: str, incident_id: str, memo: dict[str, Any], options: Options) -> None:
        if options.dry_run:
            return
        key = self._key(name, incident_id)
        if self.state is not None:
            self.state.kv_put(key, memo)
        else:
            self._memos[key] = dict(memo)

    @contextmanager
    def _incident_lock(self, incident_id: str) -> Iterator[None]:
        if self.state is not None:
            with self.state.incident_lock("told." + incident_id):
                yield
            return
        with self._lock:
            lock = self._locks.setdefault(incident_id, threading.Lock())
        with lock:
            yield
