"""Reconciling one tracker: look, plan, apply; after a retryable failure, look again first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from adapters.base import Adapter, IssueDoc, IssueRef, Remote
from syncer.engine.attempts import settle
from syncer.engine.documents import Documents
from syncer.engine.options import Options, Result
from syncer.engine.plan import (
    AddEvents,
    CloseDuplicate,
    Create,
    CreateActionItem,
    Op,
    PublishPostmortem,
    RemoveRepeats,
    Update,
    changes_of,
    plan,
    writes_of,
)
from syncer.errors import LookupFailed, TrackerError
from syncer.model import Incident, Status
from syncer.render import TrackerLink
from syncer.retry import Policy, call
from syncer.state import State

log = logging.getLogger("syncer.engine")


class Superseded(TrackerError):
    """The issue just created is younger than one another run made: reconcile the older."""


@dataclass
class Tracker:
    """One incident on one tracker, for the length of one reconcile."""

    name: str
    adapter: Adapter
    incident: Incident
    options: Options
    links: list[TrackerLink]  # the other trackers' issues, linked from this one
    result: Result
    found: list[IssueRef] | TrackerError  # the lookup: oldest issue first, or why it failed
    remote: Remote | None = None  # what the kept issue holds, once read
    create_only: bool = False  # phase 1 while a sibling lacks the issue: only create


class Reconciler:
    """The reconcile loop and the calls to one tracker, with the engine's retry policy."""

    def __init__(self, documents: Documents, state: State | None, policy: Policy) -> None:
        self.documents = documents
        self.state = state
        self.policy = policy

    def reconcile(self, t: Tracker) -> Result:
        def once() -> bool:
            self._reconcile_once(t)
            # A deferred tracker stays journaled until phase 2 has done the rest.
            return not t.result.deferred

        def look_again() -> None:
            # A write whose answer was lost may have happened: never repeat it blindly.
            # Look again (a fresh lookup and read) and plan only what is still missing.
            t.found, t.remote = self._fresh_lookup(t.name, t.adapter, t.incident.id), None

        settle(
            t.name,
            t.incident,
            t.options,
            t.result,
            once,
            policy=self.policy,
            state=self.state,
            look_again=look_again,
            start_over=(Superseded,),
        )
        return t.result

    def _fresh_lookup(
        self, name: str, adapter: Adapter, incident_id: str
    ) -> list[IssueRef] | TrackerError:
        try:
            return self.find(name, adapter, incident_id)
        except TrackerError as exc:
            return exc

    def _reconcile_once(self, t: Tracker) -> None:
        found, result = t.found, t.result
        if isinstance(found, TrackerError):
            raise found
        keep = found[0] if found else None
        if keep is not None and (t.remote is None or t.remote.ref != keep):
            t.remote = self.with_retry(lambda: t.adapter.fetch(keep, t.incident.id), t.name, "read")
        if keep is not None:
            result.key, result.url, result.ref = keep.key, keep.url, keep
        if t.remote is not None and t.remote.postmortem is not None:
            result.postmortem_url = t.remote.postmortem.url
        parts = self._duplicate_parts(t, found[1:])
        ops = plan(
            self.documents, t.adapter, t.incident, t.remote, t.options, t.links, found[1:], parts
        )
        if t.options.dry_run:
            result.operations = [op.describe() for op in ops]
            result.would_write = writes_of(ops, t.adapter)
            result.updates_body = any(
                isinstance(op, Update) or (isinstance(op, PublishPostmortem) and not op.existing)
                for op in ops
            )
            return
        if t.create_only:
            # Only the creation now (if it is still missing: a lost answer may have made it).
            ops = [op for op in ops if isinstance(op, Create)]
        self._apply(t, ops)

    def _yield_if_older(self, t: Tracker, created: IssueRef) -> None:
        """Right after a create, before anything hangs off the new issue, look again without
        the cache: a run elsewhere (no lock shared with it) may have created the incident too.
        If an older issue exists, ours is closed as its duplicate and the reconcile starts over
        on the older one (raises :class:`Superseded`)."""
        try:
            found = self.find(t.name, t.adapter, t.incident.id)
        except TrackerError as exc:
            log.warning("%s: cannot look for an older issue after creating: %s", t.name, exc)
            return
        older = found[0] if found else None
        if older is None or older.native == created.native:
            return
        close = CloseDuplicate(created, older, "issue")
        self._write(partial(t.adapter.close_duplicate, created, older), t.result)
        t.result.operations.append(close.describe())
        if self.state is not None:
            self.state.put_ref(t.name, t.incident.id, older.key, older.url, older.native)
        raise Superseded(
            f"{older.key} was created first, elsewhere: continuing there",
            tracker=t.name,
            retryable=True,
        )

    def _duplicate_parts(
        self, t: Tracker, duplicates: list[IssueRef]
    ) -> list[tuple[str, IssueRef, IssueRef]]:
        """Postmortems and action items found more than once, as (what, duplicate, kept).

        Those the kept issue's read lists, then those the duplicate issues hold: read before
        those issues are closed, since afterwards nothing leads to them.
        """
        remote = t.remote
        if remote is None:
            return []
        kept = {remote.postmortem.native} if remote.postmortem else set()
        kept |= {ref.native for ref in remote.action_items.values()}
        parts: list[tuple[str, IssueRef, IssueRef]] = []

        items = {ref.native for ref in remote.action_items.values()}

        def add(dup: IssueRef | None, keep: IssueRef | None) -> None:
            if dup is None or keep is None or dup.native in kept:
                return
            # Like for like: a postmortem for the postmortem, an item for an item's copy.
            if remote.postmortem is not None and keep.native == remote.postmortem.native:
                what = "postmortem"
            elif keep.native in items:
                what = "action item"
            else:
                return
            kept.add(dup.native)
            parts.append((what, dup, keep))

        for dup, keep in remote.duplicate_parts:
            add(dup, keep)
        for issue in duplicates:
            try:
                other = self.with_retry(
                    partial(t.adapter.fetch, issue, t.incident.id), t.name, "read"
                )
            except TrackerError as exc:
                if exc.retryable:
                    raise
                continue  # closed meanwhile (another run is healing too)
            add(other.postmortem, remote.postmortem)
            for item, ref in other.action_items.items():
                add(ref, remote.action_items.get(item))
        return parts

    def _apply(self, t: Tracker, ops: list[Op]) -> None:
        name, adapter, result = t.name, t.adapter, t.result
        ref = t.remote.ref if t.remote else None
        pm_ref = t.remote.postmortem if t.remote else None
        for op in ops:
            if isinstance(op, Create):
                created = self._create(adapter, op.doc)
                ref, result.created = created, True
                t.remote = Remote(
                    ref=created,
                    digest=op.doc.digest,
                    grades=[op.doc.grade],
                    status_key=adapter.status_key(Status.detected),
                    snapshot=op.doc.snapshot,
                )
                if self.state is not None:
                    self.state.put_ref(
                        name, t.incident.id, created.key, created.url, created.native
                    )
                result.writes += 1
                result.operations.append(op.describe())
                self._yield_if_older(t, created)
                continue
            elif ref is None or t.remote is None:
                raise AssertionError("an operation on an issue that does not exist")  # plan bug
            elif isinstance(op, AddEvents):
                self._write(partial(adapter.add_events, ref, op.events), result)
                # One write per event, or per batch where the adapter batches (Notion: 100 blocks).
                per_write = max(1, adapter.events_per_write)
                result.writes += -(-len(op.events) // per_write) - 1
            elif isinstance(op, RemoveRepeats):
                self._write(partial(adapter.remove_repeats, ref, op.entries), result)
                result.writes += len(op.entries) - 1  # one request per entry
            elif isinstance(op, PublishPostmortem):
                pm_doc = self.documents.postmortem_doc(t.incident, ref.url, t.links)
                pm_ref = self._write(
                    partial(adapter.publish_postmortem, ref, pm_doc, pm_ref), result
                )
            elif isinstance(op, CreateActionItem):
                self._write(partial(adapter.create_action_item, ref, pm_ref, op.item), result)
            elif isinstance(op, Update):
                self._update(t, ref, pm_ref)
            elif isinstance(op, CloseDuplicate):
                keep = op.keep or ref
                self._write(partial(adapter.close_duplicate, op.duplicate, keep), result)
            if not isinstance(op, Update):
                result.operations.append(op.describe())
        if t.create_only:
            result.deferred, result.remote = True, t.remote
        # A postmortem published just now is linked from the issue body; so are other trackers.
        elif (
            ref is not None
            and t.remote is not None
            and not any(isinstance(op, Update) for op in ops)
        ):
            self._update(t, ref, pm_ref)
        if ref is not None:
            result.key, result.url, result.ref = ref.key, ref.url, ref
        if pm_ref is not None:
            result.postmortem_url = pm_ref.url

    def _update(self, t: Tracker, ref: IssueRef, pm_ref: IssueRef | None) -> None:
        remote = t.remote
        assert remote is not None  # _apply updates only an issue that exists
        # Rendered now, not at planning: the postmortem's link may have appeared since.
        embedded = self.documents.embedded_events(t.incident, remote, t.options)
        pm_url = pm_ref.url if pm_ref else None
        doc = self.documents.issue_doc(t.incident, t.links, pm_url, embedded)
        changes = changes_of(t.adapter, doc, remote)
        if changes:
            self._write(partial(t.adapter.update, ref, doc, remote, changes), t.result)
            t.result.operations.append(Update.of(changes, remote, doc, t.adapter).describe())

    # Calls with the engine's retry policy.

    def with_retry(self, fn: Callable[[], Any], name: str, what: str) -> Any:
        return call(fn, self.policy, what=f"{name}: {what}")

    def _write(self, fn: Callable[[], Any], result: Result) -> Any:
        """One write, never retried here: the reconcile loop re-reads and re-plans instead."""
        value = fn()
        result.writes += 1
        return value

    def find(self, name: str, adapter: Adapter, incident_id: str) -> list[IssueRef]:
        try:
            return list(self.with_retry(lambda: adapter.find(incident_id), name, "lookup"))
        except LookupFailed:
            raise
        except TrackerError as exc:
            raise LookupFailed(
                f"cannot tell whether {incident_id} exists: {exc.message}",
                tracker=exc.tracker or name,
                retryable=True,
                status=exc.status,
            ) from exc

    def locate(
        self,
        name: str,
        adapter: Adapter,
        incident_id: str,
        prefetched: dict[str, Remote] | None = None,
        *,
        recheck: bool = False,
    ) -> list[IssueRef]:
        """Where the incident is: the cached ref verified by a read, else (or on ``recheck``)
        a lookup, which also finds duplicates."""
        if self.state is not None and not recheck:
            cached = self.state.get_ref(name, incident_id)
            if cached is not None:
                ref = IssueRef(*cached)
                try:
                    remote = self.with_retry(lambda: adapter.fetch(ref, incident_id), name, "read")
                    if prefetched is not None:
                        prefetched[name] = remote
                    return [ref]
                except TrackerError as exc:
                    if exc.retryable:
                        raise
                self.state.drop_ref(name, incident_id)
        refs = self.find(name, adapter, incident_id)
        if refs and self.state is not None:
            self.state.put_ref(name, incident_id, refs[0].key, refs[0].url, refs[0].native)
        return refs

    @staticmethod
    def _create(adapter: Adapter, doc: IssueDoc) -> IssueRef:
        """Create once; if the answer is lost, the reconcile loop looks the issue up again first."""
        ref: IssueRef = adapter.create(doc)
        return ref
