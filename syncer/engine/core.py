"""The engine: every tracker of an incident, in two phases, each tracker reconciled on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from adapters.base import CAP_SNAPSHOT, Adapter, IssueRef, Remote
from syncer import markers
from syncer.config import Config
from syncer.engine.documents import Documents
from syncer.engine.options import Options, Result
from syncer.engine.reconcile import Reconciler, Tracker
from syncer.errors import InputError, NotFound, TrackerError
from syncer.model import Incident, Status, TimelineEvent
from syncer.render import Renderer, TrackerLink
from syncer.retry import Policy
from syncer.state import State

if TYPE_CHECKING:
    from syncer.telling import Teller


class Engine:
    """Sync incidents to the configured trackers (see the package docstring)."""

    def __init__(
        self,
        config: Config,
        adapters: dict[str, Adapter],
        *,
        state: State | None = None,
        renderer: Renderer | None = None,
        policy: Policy | None = None,
        teller: Teller | None = None,
        tell_in_background: bool = False,
    ) -> None:
        self.config = config
        self.adapters = adapters
        self.state = state
        self.renderer = renderer or Renderer(config)
        self.policy = policy or Policy.from_env()
        if state is not None:
            for adapter in adapters.values():
                trust = getattr(adapter, "trust", None)
                if isinstance(trust, markers.Trust) and trust.cache is None:
                    trust.cache = state  # who each credential is, so a resync need not ask
        self.documents = Documents(config, self.renderer)
        self.reconciler = Reconciler(self.documents, state, self.policy)
        # The channels, told once the trackers are done (syncer.telling); in the background
        # (serve), the caller never waits for them: a failure is journaled for `retry`.
        self.teller = teller
        self.tell_in_background = tell_in_background

    # Public entry points.

    def sync(self, incident: Incident, options: Options | None = None) -> list[Result]:
        """Reconcile one incident on every tracker (serialised per incident), then tell the channels."""
        options = options or Options()
        results = self._sync_trackers(incident, options)
        if self.teller is None:
            return results
        if self.tell_in_background:
            self.teller.submit(incident, *told_of(results), options)
            return results
        return results + self.teller.tell(incident, *told_of(results), options)

    def _sync_trackers(self, incident: Incident, options: Options) -> list[Result]:
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
        """Reconcile several incidents in parallel (each one still serialised).

        The channels are told on the teller's own threads, so that the trackers' workers
        never wait for them; their results follow the trackers'.
        """
        items = list(incidents)
        options = options or Options()
        workers = max(1, min(concurrency or self.config.syncer.concurrency, len(items) or 1))
        results: list[Result] = []
        told: list[Future[list[Result]]] = []

        def trackers(incident: Incident) -> list[Result]:
            batch = self._sync_trackers(incident, options)
            if self.teller is not None:
                told.append(self.teller.submit(incident, *told_of(batch), options))
            return batch

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
            for batch in pool.map(trackers, items):
                results.extend(batch)
                if on_result is not None:
                    on_result(batch)
        for future in told:
            batch = future.result()
            results.extend(batch)
            if batch and on_result is not None:
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
                refs = self.reconciler.find(name, adapter, incident_id)
                if not refs:
                    continue
                found_anywhere = True
                if CAP_SNAPSHOT not in adapter.capabilities:
                    continue
                remote = self.reconciler.with_retry(
                    partial(adapter.fetch, refs[0], incident_id), name, "read"
                )
                held = (remote.snapshot or {}).get("incident")
                # Only this incident's own copy: the adapters check it too (the trust rule).
                if isinstance(held, dict) and held.get("id") == incident_id:
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

    # Syncing.

    def _sync_unlocked(self, incident: Incident, options: Options) -> list[Result]:
        names = list(self.adapters)
        # Phase 1: where the incident already is, in every tracker (parallel reads).
        located: dict[str, list[IssueRef] | TrackerError] = {}
        prefetched: dict[str, Remote] = {}

        def locate(name: str) -> None:
            try:
                located[name] = self.reconciler.locate(
                    name, self.adapters[name], incident.id, prefetched, recheck=options.recheck
                )
            except TrackerError as exc:
                located[name] = exc

        _parallel(locate, names)
        located = {n: located[n] for n in names}  # links in config order, whatever finished first
        results: dict[str, Result] = {}

        def tracker(name: str, links: list[TrackerLink], remote: Remote | None) -> Tracker:
            result = Result(incident=incident.id, tracker=name, dry_run=options.dry_run)
            return Tracker(
                name, self.adapters[name], incident, options, links, result, located[name], remote
            )

        def missing(name: str) -> bool:
            return not (isinstance(located[name], list) and located[name])

        def reconcile(name: str, links: list[TrackerLink]) -> None:
            t = tracker(name, links, prefetched.pop(name, None))
            # While a sibling tracker still lacks the issue, the links are about to change:
            # phase 1 only creates what is missing, and the content, timeline, postmortem
            # and status follow in phase 2 with every link known (one update instead of
            # two: a historical incident is create + close, even when resumed after a crash).
            t.create_only = not options.dry_run and any(missing(o) for o in names if o != name)
            results[name] = self.reconciler.reconcile(t)

        links_before = _links(located)
        _parallel(lambda n: reconcile(n, [x for x in links_before if x.tracker != n]), names)

        if options.dry_run:
            _count_relinks(results, names)
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
                links = [x for x in links_after if x.tracker != name]
                second = self.reconciler.reconcile(
                    tracker(name, links, first.remote if first.deferred else None)
                )
                first.deferred, first.remote = False, None
                first.operations.extend(second.operations)
                first.writes += second.writes
                first.postmortem_url = second.postmortem_url or first.postmortem_url
                if second.error:
                    first.error, first.retryable = second.error, second.retryable

            _parallel(relink, again)
        return [results[n] for n in names]


def _count_relinks(results: dict[str, Result], names: list[str]) -> None:
    """A dry run's count of phase 2: an issue a sibling tracker would create is linked from
    this one's body, by an update of its own unless the plan updates the body anyway."""
    creating = {n for n in names if results[n].ok and results[n].key is None}
    for name in names:
        result = results[name]
        if result.ok and creating - {name} and not result.updates_body:
            result.would_write += 1


def told_of(results: list[Result]) -> tuple[list[TrackerLink], str | None]:
    """What the channels are told of the trackers: each issue's link, and the postmortem's."""
    links = [TrackerLink(r.tracker, r.key, r.url) for r in results if r.key and r.url]
    postmortem = next((r.postmortem_url for r in results if r.postmortem_url), None)
    return links, postmortem


def _parallel(fn: Callable[[str], None], names: list[str]) -> None:
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
