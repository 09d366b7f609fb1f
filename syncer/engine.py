"""The reconcile engine: make each tracker match an incident, exactly once, whatever is retried.

For every tracker: locate the incident's issue (a consistent read, never a
guess), read what it holds, plan the operations that would make it match,
and apply them. A second run on an unchanged incident plans nothing and
writes nothing. Trackers are reconciled independently: one failing is
journaled and reported while the others finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from adapters.base import (
    CAP_ACTION_ITEMS,
    CAP_POSTMORTEM,
    CAP_SNAPSHOT,
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
from syncer.config import Config
from syncer.errors import InputError, LookupFailed, NotFound, TrackerError
from syncer.model import EventKind, Incident, Status, TimelineEvent
from syncer.render import Extra, Renderer, TrackerLink
from syncer.retry import Policy, call, delay
from syncer.secrets import redact
from syncer.state import State

log = logging.getLogger("syncer.engine")

SNAPSHOT_VERSION = 1


@dataclass
class Op:
    """One planned operation; ``describe`` is what ``--dry-run`` prints."""

    kind: str
    summary: str
    payload: Any = None

    def describe(self) -> str:
        return self.summary


@dataclass
class Result:
    """What happened to one incident on one tracker (one line of ``--json``)."""

    incident: str
    tracker: str
    key: str | None = None
    url: str | None = None
    created: bool = False
    operations: list[str] = field(default_factory=list)
    error: str | None = None
    retryable: bool = False
    writes: int = 0
    dry_run: bool = False
    ref: IssueRef | None = field(default=None, repr=False)
    # Created in phase 1, the rest left for phase 2 (when every tracker's link is known).
    deferred: bool = field(default=False, repr=False)
    remote: Remote | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "tracker": self.tracker,
            "key": self.key,
            "url": self.url,
            "created": self.created,
            "operations": self.operations,
            "error": self.error,
        }


@dataclass
class Options:
    """How to sync: ``postmortem`` is auto (when over), always (``postmortem`` command) or never."""

    dry_run: bool = False
    postmortem: str = "auto"
    command: str = "sync"
    historical: bool = False


class Engine:
    def __init__(
        self,
        config: Config,
        adapters: dict[str, Adapter],
        *,
        state: State | None = None,
        renderer: Renderer | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.config = config
        self.adapters = adapters
        self.state = state
        self.renderer = renderer or Renderer(config)
        self.policy = policy or Policy.from_env()

    # Public entry points.

    def sync(self, incident: Incident, options: Options | None = None) -> list[Result]:
        """Reconcile one incident on every tracker (serialised per incident)."""
        options = options or Options()
        if self.state is None:
            return self._sync_unlocked(incident, options)
        with self.state.incident_lock(incident.id):
            return self._sync_unlocked(incident, options)

    def sync_many(
        self,
        incidents: Iterable[Incident],
        options: Options | None = None,
        *,
        concurrency: int | None = None,
        on_result: Callable[[list[Result]], None] | None = None,
    ) -> list[Result]:
        """Reconcile several incidents in parallel (each one still serialised)."""
        items = list(incidents)
        workers = max(1, min(concurrency or self.config.syncer.concurrency, len(items) or 1))
        results: list[Result] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
            for batch in pool.map(lambda i: self.sync(i, options), items):
                results.extend(batch)
                if on_result is not None:
                    on_result(batch)
        return results

    def load(self, incident_id: str) -> Incident:
        """The incident as the trackers know it (for ``note``, ``grade``, ``resolve``: no file).

        Reads the snapshot each tracker keeps; events seen in any of them are
        merged, so an entry added through one tracker is not lost on the others.
        """
        snapshots: list[dict[str, Any]] = []
        failures: list[str] = []
        found_anywhere = False
        for name, adapter in self.adapters.items():
            try:
                refs = self._find(name, adapter, incident_id)
                if not refs:
                    continue
                found_anywhere = True
                if CAP_SNAPSHOT not in adapter.capabilities:
                    continue
                remote = self._with_retry(
                    partial(adapter.fetch, refs[0], incident_id), name, "read"
                )
                if remote.snapshot:
                    snapshots.append(remote.snapshot)
            except TrackerError as exc:
                failures.append(str(exc))
        if not snapshots:
            if failures:
                raise TrackerError(
                    f"cannot read incident {incident_id}: " + "; ".join(failures), retryable=True
                )
            if found_anywhere:
                raise NotFound(f"incident {incident_id} exists but no tracker keeps its data")
            raise NotFound(
                f"incident {incident_id} is not in any configured tracker "
                f"({', '.join(self.adapters)}); open it first"
            )
        return self.merge_snapshots(snapshots)

    def merge_snapshots(self, snapshots: list[dict[str, Any]]) -> Incident:
        # The copy that has seen the most: a tracker that missed a change lags behind the others.
        def progress(snap: dict[str, Any]) -> tuple[int, int]:
            inc = snap["incident"]
            return len(inc.get("timeline", [])), Status(inc.get("status", "detected")).rank

        newest = max(snapshots, key=progress)
        data = dict(newest["incident"])
        events: dict[str, dict[str, Any]] = {}
        for snap in snapshots:
            for event in snap["incident"].get("timeline", []):
                ev = TimelineEvent.model_validate(event)
                events.setdefault(ev.event_id, event)
        data["timeline"] = list(events.values())
        try:
            return Incident.model_validate(data, context=self.config.context())
        except Exception as exc:
            raise InputError(
                f"the tracker's copy of the incident does not validate: {exc}"
            ) from exc

    # Documents.

    def snapshot(self, incident: Incident, embedded: list[str] | None = None) -> dict[str, Any]:
        """The copy of the incident kept in the tracker (for the commands that take no file).

        ``embedded`` lists the timeline entries that live only in the issue body (a
        historical backfill writes them there instead of one comment each); it is
        carried forward on every update so they are never posted as comments later.
        """
        data: dict[str, Any] = {"v": SNAPSHOT_VERSION, "incident": incident.to_data()}
        if embedded:
            data["embedded"] = sorted(embedded)
        return data

    @staticmethod
    def embedded_events(incident: Incident, remote: Remote | None, options: Options) -> list[str]:
        if remote is None:
            return [e.event_id for e in incident.timeline] if options.historical else []
        kept = (remote.snapshot or {}).get("embedded")
        return [str(x) for x in kept] if isinstance(kept, list) else []

    def issue_doc(
        self,
        incident: Incident,
        options: Options,
        links: list[TrackerLink],
        postmortem_url: str | None = None,
        embedded: list[str] | None = None,
    ) -> IssueDoc:
        extra = Extra(trackers=links, postmortem_url=postmortem_url)
        body = self.renderer.render("notice", incident, extra=extra)
        snapshot = self.snapshot(incident, embedded)
        title = f"[{incident.grade}] {incident.title}"
        return IssueDoc(
            incident=incident,
            title=title,
            body=body,
            grade=incident.grade,
            grade_label=self.config.grade_label(incident.grade),
            all_grade_labels={g: self.config.grade_label(g) for g in self.config.grade_names},
            status=incident.status,
            snapshot=snapshot,
            digest=markers.digest(title, body, snapshot),
            links=links,
        )

    def event_docs(self, incident: Incident, present: set[str] | None = None) -> list[EventDoc]:
        """The timeline's comments, leaving out (and not rendering) those already ``present``."""
        present = present or set()
        events = [e for e in incident.sorted_timeline if e.event_id not in present]
        bodies = self.renderer.event_texts(incident, events)
        return [EventDoc(event=e, body=body) for e, body in zip(events, bodies, strict=True)]

    def postmortem_doc(
        self, incident: Incident, incident_url: str | None, links: list[TrackerLink]
    ) -> PostmortemDoc:
        body = self.renderer.render(
            "postmortem", incident, extra=Extra(trackers=links, incident_url=incident_url)
        )
        word = "포스트모템" if self.config.syncer.language == "ko" else "Postmortem"
        title = f"{word}: [{incident.grade}] {incident.title}"
        return PostmortemDoc(
            incident=incident, title=title, body=body, digest=markers.digest(title, body)
        )

    def action_item_docs(self, incident: Incident) -> list[ActionItemDoc]:
        if incident.postmortem is None:
            return []
        docs = []
        for item in incident.postmortem.action_items:
            lines = [f"{incident.id}: {item.title}"]
            if item.owner:
                lines.append(f"- owner: {item.owner}")
            if item.due:
                lines.append(f"- due: {item.due.isoformat()}")
            docs.append(
                ActionItemDoc(item=item, incident=incident, title=item.title, body="\n".join(lines))
            )
        return docs

    def regrade_event(self, incident: Incident, old: str) -> TimelineEvent:
        new = incident.grade
        if self.config.syncer.language == "ko":
            text = f"장애 등급 변경: {old} → {new}"
            if incident.grade_final:
                text += " (최종 판정)"
        else:
            text = f"Grade changed: {old} → {new}"
            if incident.grade_final:
                text += " (final)"
        return TimelineEvent.model_validate(
            {"at": _now(), "text": text, "kind": EventKind.grade, "id": f"grade-{old}-to-{new}"}
        )

    # Planning.

    def plan(
        self,
        adapter: Adapter,
        incident: Incident,
        remote: Remote | None,
        options: Options,
        links: list[TrackerLink],
        duplicates: list[IssueRef] | None = None,
    ) -> list[Op]:
        """The operations that would make ``adapter``'s tracker match ``incident``."""
        ops: list[Op] = []
        pm_url = remote.postmortem.url if remote and remote.postmortem else None
        embedded = self.embedded_events(incident, remote, options)
        doc = self.issue_doc(incident, options, links, pm_url, embedded)
        if remote is None:
            ops.append(
                Op("create", f"create issue {doc.title!r} with label {doc.grade_label}", doc)
            )

        # Timeline events not yet on the tracker, in time order.
        present = set(remote.events) if remote else set()
        present.update(embedded)
        events = self.event_docs(incident, present)
        if remote and remote.grades and remote.grades != [incident.grade]:
            old = next((g for g in remote.grades if g != incident.grade), remote.grades[0])
            if old != incident.grade:
                regrade = self.regrade_event(incident, old)
                if regrade.event_id not in present and all(
                    e.event_id != regrade.event_id for e in incident.timeline
                ):
                    events.append(
                        EventDoc(event=regrade, body=self.renderer.event_text(incident, regrade))
                    )
        if remote is not None:
            events = _drop_already_said(events, remote)
        if events:
            ops.append(
                Op(
                    "add_events",
                    f"add {len(events)} timeline comment(s): "
                    + ", ".join(e.event_id for e in events),
                    events,
                )
            )

        # Postmortem and its action items.
        wants_pm = incident.postmortem is not None and (
            options.postmortem == "always"
            or (options.postmortem == "auto" and incident.status.is_over)
        )
        if wants_pm and CAP_POSTMORTEM in adapter.capabilities:
            pm_doc = self.postmortem_doc(incident, remote.ref.url if remote else None, links)
            existing = remote.postmortem if remote else None
            if existing is None:
                ops.append(Op("postmortem", "publish postmortem", pm_doc))
            elif remote is not None and remote.postmortem_digest != pm_doc.digest:
                ops.append(Op("postmortem", f"update postmortem {existing.key}", pm_doc))
            if CAP_ACTION_ITEMS in adapter.capabilities:
                have = remote.action_items if remote else {}
                for item in self.action_item_docs(incident):
                    if item.item_id not in have:
                        ops.append(Op("action_item", f"create action item {item.title!r}", item))

        for dup in duplicates or []:
            ops.append(
                Op("close_duplicate", f"close duplicate {dup.key} (keeping the older one)", dup)
            )

        # The issue itself last: content, grade, status in one update (a workflow that
        # refuses the status must not keep anything else from being done).
        changes = self._changes(adapter, doc, remote)
        if changes:
            ops.append(Op("update", _describe_changes(changes, remote, doc, adapter), changes))
        return ops

    def _changes(self, adapter: Adapter, doc: IssueDoc, remote: Remote | None) -> frozenset[str]:
        changes = set()
        target_status = (
            adapter.status_key(doc.status) if CAP_STATUS in adapter.capabilities else None
        )
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

    # Syncing.

    def _sync_unlocked(self, incident: Incident, options: Options) -> list[Result]:
        names = list(self.adapters)
        # Phase 1: where the incident already is, in every tracker (parallel reads).
        located: dict[str, list[IssueRef] | TrackerError] = {}
        prefetched: dict[str, Remote] = {}

        def locate(name: str) -> None:
            try:
                located[name] = self._locate(name, self.adapters[name], incident.id, prefetched)
            except TrackerError as exc:
                located[name] = exc

        self._parallel(locate, names)
        located = {n: located[n] for n in names}  # links in config order, whatever finished first
        results: dict[str, Result] = {}

        def missing(name: str) -> bool:
            return not (isinstance(located[name], list) and located[name])

        def reconcile(name: str, links: list[TrackerLink]) -> None:
            found = located[name]
            # While a sibling tracker still lacks the issue, the links are about to change:
            # phase 1 only creates what is missing, and the content, timeline, postmortem
            # and status follow in phase 2 with every link known (one update instead of
            # two: a historical incident is create + close, even when resumed after a crash).
            create_only = not options.dry_run and any(missing(o) for o in names if o != name)
            results[name] = self._reconcile(
                name,
                self.adapters[name],
                incident,
                found,
                links,
                options,
                prefetched.pop(name, None),
                create_only=create_only,
            )

        links_before = _links(located)
        self._parallel(lambda n: reconcile(n, [x for x in links_before if x.tracker != n]), names)

        # Phase 2: issues created just now are linked from the others.
        if (
            not options.dry_run
            and len(names) > 1
            and any(r.created or r.deferred for r in results.values())
        ):
            for name, result in results.items():
                if result.ok and result.ref is not None:
                    located[name] = [result.ref]
            links_after = _links(located)
            again = [
                n
                for n in names
                if results[n].ok
                and (
                    results[n].deferred
                    or {(x.tracker, x.url) for x in links_after if x.tracker != n}
                    != {(x.tracker, x.url) for x in links_before if x.tracker != n}
                )
            ]

            def relink(name: str) -> None:
                first = results[name]
                second = self._reconcile(
                    name,
                    self.adapters[name],
                    incident,
                    located[name],
                    [x for x in links_after if x.tracker != name],
                    options,
                    first.remote if first.deferred else None,
                )
                first.deferred, first.remote = False, None
                first.operations.extend(second.operations)
                first.writes += second.writes
                if second.error:
                    first.error, first.retryable = second.error, second.retryable

            self._parallel(relink, again)
        return [results[n] for n in names]

    def _reconcile(
        self,
        name: str,
        adapter: Adapter,
        incident: Incident,
        found: list[IssueRef] | TrackerError,
        links: list[TrackerLink],
        options: Options,
        remote: Remote | None = None,
        *,
        create_only: bool = False,
    ) -> Result:
        result = Result(incident=incident.id, tracker=name, dry_run=options.dry_run)
        attempt = 0
        while True:
            attempt += 1
            try:
                self._reconcile_once(
                    name, adapter, incident, found, links, options, remote, result, create_only
                )
                # A deferred tracker stays journaled until phase 2 has done the rest.
                if self.state is not None and not options.dry_run and not result.deferred:
                    self.state.journal_done(name, incident.id)
                return result
            except TrackerError as exc:
                # A write whose answer was lost may have happened: never repeat it blindly.
                # Look again (a fresh lookup and read) and plan only what is still missing.
                if exc.retryable and not options.dry_run and attempt < self.policy.attempts:
                    wait = delay(self.policy, attempt, exc)
                    log.info("%s: %s; reading again and re-planning in %.2fs", name, exc, wait)
                    self.policy.clock.sleep(wait)
                    found, remote = self._fresh_lookup(name, adapter, incident.id), None
                    continue
                # The tracker is named beside the error already: don't say it twice.
                code = f" (HTTP {exc.status})" if exc.status else ""
                result.error = redact(exc.message + code)
                result.retryable = exc.retryable or isinstance(exc, LookupFailed)
                log.warning("%s: %s", name, result.error)
                if self.state is not None and not options.dry_run:
                    self.state.journal_put(
                        name,
                        incident.id,
                        options.command,
                        incident.to_data(),
                        {"postmortem": options.postmortem, "historical": options.historical},
                        error=result.error,
                    )
                return result

    def _fresh_lookup(
        self, name: str, adapter: Adapter, incident_id: str
    ) -> list[IssueRef] | TrackerError:
        try:
            return self._find(name, adapter, incident_id)
        except TrackerError as exc:
            return exc

    def _reconcile_once(
        self,
        name: str,
        adapter: Adapter,
        incident: Incident,
        found: list[IssueRef] | TrackerError,
        links: list[TrackerLink],
        options: Options,
        remote: Remote | None,
        result: Result,
        create_only: bool = False,
    ) -> None:
        if isinstance(found, TrackerError):
            raise found
        keep = found[0] if found else None
        if keep is not None and (remote is None or remote.ref != keep):
            remote = self._with_retry(lambda: adapter.fetch(keep, incident.id), name, "read")
        if keep is not None:
            result.key, result.url, result.ref = keep.key, keep.url, keep
        ops = self.plan(adapter, incident, remote, options, links, found[1:])
        if options.dry_run:
            result.operations = [op.describe() for op in ops]
            return
        if create_only:
            # Only the creation now (if it is still missing: a lost answer may have made it).
            ops = [op for op in ops if op.kind == "create"]
        self._apply(name, adapter, incident, remote, ops, options, links, result, create_only)

    def _apply(
        self,
        name: str,
        adapter: Adapter,
        incident: Incident,
        remote: Remote | None,
        ops: list[Op],
        options: Options,
        links: list[TrackerLink],
        result: Result,
        create_only: bool = False,
    ) -> None:
        ref = remote.ref if remote else None
        pm_ref = remote.postmortem if remote else None
        for op in ops:
            if op.kind == "create":
                created = self._create(name, adapter, incident.id, op.payload)
                ref, result.created = created, True
                remote = Remote(
                    ref=created,
                    digest=op.payload.digest,
                    grades=[op.payload.grade],
                    status_key=adapter.status_key(Status.detected),
                    snapshot=op.payload.snapshot,
                )
                if self.state is not None:
                    self.state.put_ref(name, incident.id, created.key, created.url, created.native)
                result.writes += 1
            elif ref is None or remote is None:
                raise AssertionError("an operation on an issue that does not exist")  # plan bug
            elif op.kind == "add_events":
                self._write(
                    partial(adapter.add_events, ref, op.payload), name, "add events", result
                )
                # One write per event, or per batch where the adapter batches (Notion: 100 blocks).
                per_write = max(1, int(getattr(adapter, "events_per_write", 1)))
                result.writes += -(-len(op.payload) // per_write) - 1
            elif op.kind == "postmortem":
                pm_doc = self.postmortem_doc(incident, ref.url, links)
                pm_ref = self._write(
                    partial(adapter.publish_postmortem, ref, pm_doc, pm_ref),
                    name,
                    "publish postmortem",
                    result,
                )
            elif op.kind == "action_item":
                self._write(
                    partial(adapter.create_action_item, ref, pm_ref, op.payload),
                    name,
                    "create action item",
                    result,
                )
            elif op.kind == "update":
                self._update(name, adapter, incident, options, links, pm_ref, ref, remote, result)
            elif op.kind == "close_duplicate":
                self._write(
                    partial(adapter.close_duplicate, op.payload, ref),
                    name,
                    "close duplicate",
                    result,
                )
            if op.kind != "update":
                result.operations.append(op.describe())
        if create_only:
            result.deferred, result.remote = True, remote
        # A postmortem published just now is linked from the issue body; so are other trackers.
        elif ref is not None and remote is not None and not any(op.kind == "update" for op in ops):
            self._update(name, adapter, incident, options, links, pm_ref, ref, remote, result)
        if ref is not None:
            result.key, result.url, result.ref = ref.key, ref.url, ref

    def _update(
        self,
        name: str,
        adapter: Adapter,
        incident: Incident,
        options: Options,
        links: list[TrackerLink],
        pm_ref: IssueRef | None,
        ref: IssueRef,
        remote: Remote,
        result: Result,
    ) -> None:
        # Rendered now, not at planning: the postmortem's link may have appeared since.
        embedded = self.embedded_events(incident, remote, options)
        doc = self.issue_doc(incident, options, links, pm_ref.url if pm_ref else None, embedded)
        changes = self._changes(adapter, doc, remote)
        if changes:
            self._write(
                partial(adapter.update, ref, doc, remote, changes), name, "update issue", result
            )
            result.operations.append(_describe_changes(changes, remote, doc, adapter))

    # Calls with the engine's retry policy.

    def _with_retry(self, fn: Callable[[], Any], name: str, what: str) -> Any:
        return call(fn, self.policy, what=f"{name}: {what}")

    def _write(self, fn: Callable[[], Any], name: str, what: str, result: Result) -> Any:
        """One write, never retried here: the reconcile loop re-reads and re-plans instead."""
        value = fn()
        result.writes += 1
        return value

    def _find(self, name: str, adapter: Adapter, incident_id: str) -> list[IssueRef]:
        try:
            return list(self._with_retry(lambda: adapter.find(incident_id), name, "lookup"))
        except LookupFailed:
            raise
        except TrackerError as exc:
            raise LookupFailed(
                f"cannot tell whether {incident_id} exists: {exc.message}",
                tracker=exc.tracker or name,
                retryable=True,
                status=exc.status,
            ) from exc

    def _locate(
        self,
        name: str,
        adapter: Adapter,
        incident_id: str,
        prefetched: dict[str, Remote] | None = None,
    ) -> list[IssueRef]:
        """Where the incident is: the cached ref verified by a read, else a lookup."""
        if self.state is not None:
            cached = self.state.get_ref(name, incident_id)
            if cached is not None:
                ref = IssueRef(*cached)
                try:
                    remote = self._with_retry(lambda: adapter.fetch(ref, incident_id), name, "read")
                    if prefetched is not None:
                        prefetched[name] = remote
                    return [ref]
                except TrackerError as exc:
                    if exc.retryable:
                        raise
                self.state.drop_ref(name, incident_id)
        refs = self._find(name, adapter, incident_id)
        if refs and self.state is not None:
            self.state.put_ref(name, incident_id, refs[0].key, refs[0].url, refs[0].native)
        return refs

    def _create(self, name: str, adapter: Adapter, incident_id: str, doc: IssueDoc) -> IssueRef:
        """Create once; if the answer is lost, the reconcile loop looks the issue up again first."""
        ref: IssueRef = adapter.create(doc)
        return ref

    def _parallel(self, fn: Callable[[str], None], names: list[str]) -> None:
        if len(names) <= 1:
            for n in names:
                fn(n)
            return
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="tracker") as pool:
            for future in [pool.submit(fn, n) for n in names]:
                future.result()


def _links(located: dict[str, list[IssueRef] | TrackerError]) -> list[TrackerLink]:
    out = []
    for name, found in located.items():
        if isinstance(found, list) and found:
            out.append(TrackerLink(tracker=name, key=found[0].key, url=found[0].url))
    return out


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


def _describe_changes(
    changes: frozenset[str], remote: Remote | None, doc: IssueDoc, adapter: Adapter
) -> str:
    parts = []
    if "content" in changes:
        parts.append("update issue body")
    if "grade" in changes:
        old = ", ".join(remote.grades) if remote and remote.grades else "none"
        parts.append(f"swap grade label {old} → {doc.grade}")
    if "status" in changes:
        parts.append(f"set status → {adapter.status_key(doc.status)}")
    return "; ".join(parts)


def _now() -> Any:
    from syncer.timeutil import now

    return now()
