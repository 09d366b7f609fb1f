"""The alert → incident state machine.

The incident of an alert group is found in the trackers, not in local state:
the group's first incident has the id the mapping gives (``ALERT-3f9c...``),
later ones (after a quiet period longer than ``reopen_window``) add ``.2``,
``.3``; :meth:`Engine.load` reads each back from the trackers' snapshots.
The state store only caches which generation is current.

Every timeline entry this module writes has an id derived from the payload
(the incident, the group status, each alert's fingerprint and start time,
the number of hidden alerts), so a redelivery, a repeat after
``repeat_interval`` or the other peer of an HA pair finds its entry already
there and adds nothing. The group's alert state (firing or quiet) is the kind
of the newest such entry: ``al-f-...`` (firing) or ``al-r-...`` (resolved).

==========================  ==============================================
what arrives                what happens
==========================  ==============================================
firing, no incident         open one: status detected, a detection entry
same state again            nothing new (a sync heals a tracker that missed it)
firing, state changed       one entry; the grade only ever goes up
resolved                    one entry; status per ``on_resolved``
firing again, within window reopen: status investigating, one entry
firing again, after window  a new incident (``<id>.2``)
resolved, nothing open      ignored
older than the incident     ignored (a late redelivery)
==========================  ==============================================
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncer import clock
from syncer.engine import Engine, Options, Result
from syncer.errors import NotFound, TrackerError
from syncer.ingest.mapping import SOURCE_NAMES, Mapping, merge_links
from syncer.ingest.payloads import Alert, AlertGroup
from syncer.model import EventKind, Incident, Status

log = logging.getLogger("syncer.ingest")

FIRING = "al-f-"
RESOLVED = "al-r-"

OPENED = "opened"
UPDATED = "updated"
RESOLVED_ACTION = "resolved"
REOPENED = "reopened"
UNCHANGED = "unchanged"
IGNORED = "ignored"
TEST = "test"


@dataclass
class Outcome:
    """What one notification did: the decision, and the engine's result per tracker."""

    source: str
    group: str
    incident: str | None
    action: str
    reason: str
    event_id: str | None = None
    results: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def retryable(self) -> bool:
        return any(r.retryable for r in self.results if not r.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "group": self.group,
            "incident": self.incident,
            "action": self.action,
            "reason": self.reason,
            "event": self.event_id,
            "results": [r.to_json() for r in self.results],
        }


def event_id(incident_id: str, group: AlertGroup) -> str:
    """The id of the entry this notification makes: the same state always gives the same id.

    A firing notification's id is ``al-f-<firing>-<resolved>``: the alerts
    still firing, then those it reports resolved; a resolved notification's is
    ``al-r-<all alerts>``. Each alert counts by fingerprint and start time;
    never ``externalURL`` or the time of delivery.
    """
    if group.status == "firing":
        firing = group.firing or list(group.alerts)
        resolved = [a for a in group.resolved if a not in firing]
        return (
            f"{FIRING}{_digest(incident_id, firing, group.truncated)[:12]}"
            f"-{_digest(incident_id, resolved, 0)[:8]}"
        )
    return RESOLVED + _digest(incident_id, list(group.alerts), group.truncated)[:16]


def firing_part(entry_id: str) -> str | None:
    """The firing-set part of a firing entry's id (None for other entries)."""
    if not entry_id.startswith(FIRING):
        return None
    return entry_id[len(FIRING) :].split("-")[0]


def _digest(incident_id: str, alerts: list[Alert], truncated: int) -> str:
    keys = sorted({(a.fingerprint, a.starts_at.astimezone(UTC).isoformat()) for a in alerts})
    blob = json.dumps([incident_id, keys, truncated], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def changed_at(group: AlertGroup) -> datetime:
    """When the state this notification describes began: the newest start or end in it."""
    times = [a.starts_at for a in group.firing] + [a.ends_at or a.starts_at for a in group.resolved]
    return max(times)


class Ingestor:
    """Applies notifications to incidents through the engine (one group at a time)."""

    def __init__(self, engine: Engine, mapping: Mapping | None = None) -> None:
        self.engine = engine
        self.config = engine.config
        self.mapping = mapping or Mapping(engine.config)
        self.state = engine.state

    def group_lock(self, base: str) -> AbstractContextManager[None]:
        """Serialises one group's notifications (threads and processes sharing the state)."""
        if self.state is None:
            return nullcontext()
        return self.state.incident_lock(f"group-{base}")

    def process(
        self, group: AlertGroup, *, dry_run: bool = False, received: datetime | None = None
    ) -> Outcome:
        """Apply one notification; ``received`` (default: now) is when it first arrived, the
        incident's detected time if it opens one."""
        base = self.mapping.group_id(group)
        if not group.alerts:
            return Outcome(group.source, base, None, IGNORED, "the notification lists no alerts")
        self.mapping.grade(group)  # an unknown explicit grade is bad input: fail before any read
        if group.test and self.config.ingest.test_notifications == "summary":
            return self.test_summary(group)
        with self.group_lock(base):
            now = datetime.fromtimestamp(clock.current().time(), UTC)
            return self._process(base, group, dry_run, received or now)

    def test_summary(self, group: AlertGroup) -> Outcome:
        """A contact point test: what a real alert like it would open, and nothing written."""
        base = self.mapping.group_id(group)
        grade, title = self.mapping.grade(group), self.mapping.title(group)
        reason = (
            f"a {SOURCE_NAMES.get(group.source, group.source)} contact point test: a real alert "
            f"like it would open {base} [{grade}] {title!r} in every tracker; nothing was written"
        )
        return Outcome(group.source, base, None, TEST, reason)

    # Deciding.

    def _process(self, base: str, group: AlertGroup, dry_run: bool, received: datetime) -> Outcome:
        generation, current = self._current(base, dry_run)
        src = group.source
        if current is None:
            if group.status == "resolved":
                return Outcome(src, base, None, IGNORED, "no incident is open for this alert group")
            return self._open(base, generation, group, dry_run, received)

        eid = event_id(current.id, group)
        if eid in {e.event_id for e in current.timeline}:
            outcome = Outcome(src, base, current.id, UNCHANGED, "already recorded", eid)
            outcome.results = self._sync(current, dry_run)
            return outcome
        opened = current.started_at or current.detected_at
        if opened and max(a.starts_at for a in group.alerts) < opened:
            return Outcome(
                src, base, current.id, IGNORED, "older than the incident (a late redelivery)"
            )

        quiet, since = self._quiet(current)
        if group.status == "resolved":
            if quiet:
                return Outcome(src, base, current.id, UNCHANGED, "already resolved")
            return self._resolve(current, group, eid, dry_run)
        if not quiet:
            last = self._last_entry(current)
            if last is not None and firing_part(last) == firing_part(eid):
                # Only resolved alerts differ (one that dropped out after being reported).
                return Outcome(src, base, current.id, UNCHANGED, "the same alerts are firing")
            return self._change(current, group, eid, dry_run)
        if since is None or changed_at(group) - since <= self.config.reopen_window:
            return self._reopen(current, group, eid, dry_run)
        return self._open(base, generation + 1, group, dry_run, received)

    def _current(self, base: str, dry_run: bool) -> tuple[int, Incident | None]:
        """The group's newest incident and its generation (1 for the first)."""
        cached = self.state.group_generation(base) if self.state is not None else None
        generation = cached if cached is not None and cached > 0 else 1
        current = self._load(Mapping.generation_id(base, generation))
        if current is None and generation > 1:  # a cache from another set of trackers
            generation = 1
            current = self._load(base)
        if current is None:
            return 1, None
        # Only a quiet incident can have a successor (someone else may have opened it).
        while self._quiet(current)[0]:
            later = self._load(Mapping.generation_id(base, generation + 1))
            if later is None:
                break
            generation, current = generation + 1, later
        if self.state is not None and not dry_run and generation != cached:
            self.state.set_group_generation(base, generation)
        return generation, current

    def _load(self, incident_id: str) -> Incident | None:
        try:
            return self.engine.load(incident_id)
        except NotFound:
            return None
        except TrackerError as exc:
            if not exc.retryable or len(self.engine.adapters) < 2:
                raise
            return self._load_each(incident_id, exc)

    def _load_each(self, incident_id: str, error: TrackerError) -> Incident | None:
        """Some tracker cannot answer: go by the ones that can (the engine never creates on a
        lookup that failed, so the silent one is journaled, not duplicated)."""
        found: list[Incident] = []
        answered = False
        for name, adapter in self.engine.adapters.items():
            single = Engine(
                self.config,
                {name: adapter},
                state=self.engine.state,
                renderer=self.engine.renderer,
                policy=self.engine.policy,
            )
            try:
                found.append(single.load(incident_id))
                answered = True
            except NotFound:
                answered = True
            except TrackerError as exc:
                log.warning("%s: %s", name, exc)
        if not answered:
            raise error
        if not found:
            return None
        return max(found, key=lambda i: (len(i.timeline), i.status.rank))

    @staticmethod
    def _last_entry(incident: Incident) -> str | None:
        """The id of the newest entry this module wrote (by time, then by position)."""
        entries = [
            (e.at, index, e.id)
            for index, e in enumerate(incident.timeline)
            if e.id and e.id.startswith((FIRING, RESOLVED))
        ]
        return max(entries)[2] if entries else None

    def _quiet(self, incident: Incident) -> tuple[bool, datetime | None]:
        """Whether the group's alerts are over for this incident, and since when."""
        last = self._last_entry(incident)
        if last is not None and last.startswith(RESOLVED):
            at = next(e.at for e in incident.timeline if e.id == last)
            return True, at
        if incident.status.is_over:
            return True, incident.resolved_at or incident.closed_at
        return False, None

    # Acting.

    def _open(
        self, base: str, generation: int, group: AlertGroup, dry_run: bool, received: datetime
    ) -> Outcome:
        incident_id = Mapping.generation_id(base, generation)
        firing = group.firing or list(group.alerts)
        # 장애 발생 시간: when the first alert began; 장애 인지 시간: when it reached us (never
        # before it began, whatever the sender's clock says).
        started = min(a.starts_at for a in firing)
        detected = max(started, received)
        eid = event_id(incident_id, group)
        data: dict[str, Any] = {
            "id": incident_id,
            "title": self.mapping.title(group),
            "grade": self.mapping.grade(group),
            "status": Status.detected.value,
            "started_at": started.isoformat(),
            "detected_at": detected.isoformat(),
            "services": self.mapping.services(group),
            "detection": self.mapping.detection(group),
            "links": self.mapping.links(group),
            "timeline": [
                _entry(eid, started, self.mapping.event_text("open", group), EventKind.detection)
            ],
        }
        symptoms = self.mapping.symptoms(group)
        if symptoms:
            data["symptoms"] = symptoms
        incident = self._validated(data)
        reason = "first notification" if generation == 1 else "firing after the reopen window"
        outcome = Outcome(group.source, base, incident_id, OPENED, reason, eid)
        outcome.results = self._sync(incident, dry_run)
        if self.state is not None and not dry_run:
            self.state.set_group_generation(base, generation)
        return outcome

    def _change(self, current: Incident, group: AlertGroup, eid: str, dry_run: bool) -> Outcome:
        data = self._merged(current, group)
        data["timeline"].append(
            _entry(eid, changed_at(group), self.mapping.event_text("change", group), EventKind.note)
        )
        return self._apply(current, group, data, eid, UPDATED, "the alert group changed", dry_run)

    def _resolve(self, current: Incident, group: AlertGroup, eid: str, dry_run: bool) -> Outcome:
        data = self._merged(current, group, escalate=False)
        at = changed_at(group)
        data["timeline"].append(
            _entry(eid, at, self.mapping.event_text("resolved", group), EventKind.status)
        )
        target = {"mitigated": Status.mitigated, "resolved": Status.resolved}.get(
            self.config.ingest.on_resolved
        )
        if target is not None and target.rank > current.status.rank:
            stamp = max([at, *_stamps(current)])
            data["status"] = target.value
            data["mitigated_at" if target == Status.mitigated else "resolved_at"] = (
                stamp.isoformat()
            )
        reason = f"all alerts resolved (on_resolved = {self.config.ingest.on_resolved})"
        return self._apply(current, group, data, eid, RESOLVED_ACTION, reason, dry_run)

    def _reopen(self, current: Incident, group: AlertGroup, eid: str, dry_run: bool) -> Outcome:
        data = self._merged(current, group)
        data["timeline"].append(
            _entry(
                eid,
                changed_at(group),
                self.mapping.event_text("reopen", group),
                EventKind.detection,
            )
        )
        if current.status.rank > Status.investigating.rank:
            data["status"] = Status.investigating.value
            for stage in ("mitigated_at", "resolved_at", "closed_at"):
                data.pop(stage, None)
        reason = "firing again within the reopen window"
        return self._apply(current, group, data, eid, REOPENED, reason, dry_run)

    def _merged(
        self, current: Incident, group: AlertGroup, *, escalate: bool = True
    ) -> dict[str, Any]:
        """The incident's data with this group's services and links added; the grade only up."""
        data = current.to_data()
        data.setdefault("timeline", [])
        services = list(dict.fromkeys([*current.services, *self.mapping.services(group)]))
        if services:
            data["services"] = services
        links = merge_links(
            [link.model_dump() for link in current.links], self.mapping.links(group, first=False)
        )
        if links:
            data["links"] = links
        if escalate and not current.grade_final:
            grade = self.mapping.grade(group)
            if self.config.grade_rank(grade) < self.config.grade_rank(current.grade):
                data["grade"] = grade
        return data

    def _apply(
        self,
        current: Incident,
        group: AlertGroup,
        data: dict[str, Any],
        eid: str,
        action: str,
        reason: str,
        dry_run: bool,
    ) -> Outcome:
        incident = self._validated(data)
        outcome = Outcome(
            group.source, self.mapping.group_id(group), current.id, action, reason, eid
        )
        outcome.results = self._sync(incident, dry_run)
        return outcome

    def _validated(self, data: dict[str, Any]) -> Incident:
        from syncer import loader

        return loader.validate(data, "(alert)", {}, self.config)

    def _sync(self, incident: Incident, dry_run: bool) -> list[Result]:
        return self.engine.sync(incident, Options(dry_run=dry_run, command="ingest"))


def _entry(eid: str, at: datetime, text: str, kind: EventKind) -> dict[str, Any]:
    return {"id": eid, "at": at.isoformat(), "text": text, "kind": kind.value}


def _stamps(incident: Incident) -> list[datetime]:
    return [
        t
        for t in (
            incident.started_at,
            incident.detected_at,
            incident.mitigated_at,
            incident.resolved_at,
        )
        if t is not None
    ]
