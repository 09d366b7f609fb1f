"""Backfills: many past incidents into the trackers, at the trackers' own pace, resumably.

:func:`collect` reads incident files and tabular exports (a bad row is
reported and skipped, not fatal). :class:`Runner` syncs the incidents with a
bounded pool of workers; every request goes through its tracker's shared
:class:`~syncer.pacing.Pacer`, so adding workers never exceeds a tracker's
budget, it only keeps the budget busy.

What survives a crash: before anything is written every incident is put in
the journal as pending on every tracker, and each is removed once done (the
engine does that), so ``incident-syncer retry`` or the same backfill again
picks up whatever a SIGKILL interrupted. A fingerprint of what was synced is
kept per incident and tracker, so a re-run skips what is done without even
reading it (``--recheck`` reads everything again). The markers in the
trackers still guarantee nothing is created twice if the state file is gone.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from syncer import cells, loader, markers, tabular
from syncer.config import Config
from syncer.errors import InputError, InputErrors
from syncer.model import Incident
from syncer.state import SyncMark

if TYPE_CHECKING:
    from syncer.engine import Engine, Options, Result

log = logging.getLogger("syncer.backfill")

# Operations that are the postmortem's, not the (counted apart in the summary).
PM_OPERATIONS = ("publish postmortem", "update postmortem", "create action item")


# Collecting the incidents.


@dataclass
class Source:
    """One incident to backfill and where it came from."""

    incident: Incident
    where: str


@dataclass
class Collected:
    sources: list[Source] = field(default_factory=list)
    failed: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_since: int = 0


def collect(paths: Iterable[str], config: Config, since: datetime | None = None) -> Collected:
    """Every incident in ``paths``. A bad file or row is kept in ``failed``; the rest go on.

    Raises :class:`InputError` only for what makes a whole export unusable
    (an encoding error, a header row that the column mapping does not fit).
    """
    paths = list(paths)
    files = loader.discover(paths, [*loader.SUFFIXES, *tabular.SUFFIXES], stdin=False)
    if not files:
        raise InputError(
            "no incident files (.yaml .yml .toml .json) or exports (.csv .tsv .jsonl) in "
            + ", ".join(paths)
        )
    out = Collected()
    seen: dict[str, str] = {}

    def add(incident: Incident, where: str) -> None:
        other = seen.get(incident.id)
        if other is not None:
            file, _, line = where.rpartition(":")
            out.failed.append(
                InputError(
                    f"incident id {incident.id} is also in {other}",
                    file=file or where,
                    line=int(line) if line.isdigit() else None,
                    field="id",
                )
            )
            return
        seen[incident.id] = where
        if since is not None and not _since(incident, since):
            out.skipped_since += 1
            return
        out.sources.append(Source(incident, where))

    for path in files:
        suffix = path.suffix.lower()
        if suffix in tabular.SUFFIXES:
            table = tabular.read(path, config)
            if table.ignored:
                out.warnings.append(
                    f"{path}: ignored column(s) not in [backfill.columns]: {', '.join(table.ignored)}"
                )
            if table.absent:
                out.warnings.append(
                    f"{path}: mapped column(s) not in the header row: {', '.join(table.absent)}"
                )
            for error in table.errors:
                out.failed.extend(error.errors if isinstance(error, InputErrors) else [error])
            for row in table.rows:
                add(row.incident, row.where)
        else:
            try:
                loaded = loader.load_file(path, config)
            except InputError as exc:
                out.failed.extend(exc.errors if isinstance(exc, InputErrors) else [exc])
                continue
            add(loaded.incident, f"{loaded.file}:{loaded.line_of('id') or 1}")
    out.failed.sort(key=lambda e: (e.file or "", e.line or 0))
    return out


def _since(incident: Incident, since: datetime) -> bool:
    when = (
        incident.started_at
        or incident.detected_at
        or (incident.sorted_timeline[0].at if incident.timeline else None)
        or incident.mitigated_at
        or incident.resolved_at
    )
    return when is not None and when >= since


def parse_since(text: str, config: Config) -> datetime:
    """``--since``: a date (midnight in the configured zone) or a time."""
    try:
        return cells.parse_time(text, config.tz)
    except ValueError:
        raise InputError(
            f"--since {text!r}: expected a date like 2024-01-01 or a time like 2024-01-01T09:00"
        ) from None


def options_for(
    incident: Incident, historical: bool | str, postmortems: bool, dry_run: bool = False
) -> Options:
    """How to sync one incident in a backfill (historical ``auto``: when it is over)."""
    from syncer.engine import Options

    embed = incident.status.is_over if historical == "auto" else bool(historical)
    return Options(
        dry_run=dry_run,
        postmortem="auto" if postmortems else "never",
        command="backfill",
        historical=embed,
    )


# Running.


@dataclass
class Work:
    """One incident to sync, with its options; ``trackers`` are those not known to be done."""

    incident: Incident
    options: Options
    where: str = ""
    trackers: list[str] = field(default_factory=list)
    content: str = ""  # digest of what a sync would write (computed once)


@dataclass
class TrackerTally:
    """One line of the summary table."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    writes: int = 0
    pm_writes: int = 0
    elapsed: float = 0.0
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def add(self, result: Result, at: float) -> None:
        self.elapsed = max(self.elapsed, at)
        self.writes += result.would_write if result.dry_run else result.writes
        self.pm_writes += sum(1 for op in result.operations if op.startswith(PM_OPERATIONS))
        if result.error:
            self.failed += 1
            self.reasons.setdefault(_reason(result.error, result.incident), []).append(
                result.incident
            )
        elif result.created or (result.dry_run and result.key is None and result.operations):
            self.created += 1  # a dry run's new issue counts as "to create"
        elif result.operations:
            self.updated += 1
        else:
            self.unchanged += 1


_REFS = re.compile(
    r"\b[A-Z][A-Z0-9_]*-\d+\b|\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b"
)


def _reason(error: str, incident_id: str = "") -> str:
    """The part of an error that is the same across incidents (for grouping failures)."""
    reason = error.split("\n", 1)[0]
    if incident_id:
        reason = reason.replace(incident_id, "<incident>")
    reason = _REFS.sub("…", re.sub(r"#\d+", "#…", reason))
    return reason if len(reason) <= 160 else reason[:157] + "..."


@dataclass
class Summary:
    """What a run did: per tracker, plus inputs that failed and what was left undone."""

    trackers: dict[str, TrackerTally]
    total: int = 0
    done: int = 0
    input_failed: list[InputError] = field(default_factory=list)
    not_started: int = 0
    interrupted: bool = False
    fatal: InputError | None = None
    elapsed: float = 0.0
    pacing: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def tracker_failed(self) -> int:
        return sum(t.failed for t in self.trackers.values())

    @property
    def failed(self) -> int:
        return len(self.input_failed) + self.tracker_failed

    @property
    def exit_code(self) -> int:
        if self.fatal is not None:
            return self.fatal.exit_code
        if self.interrupted:
            return 130
        return 1 if self.failed else 0


class Runner:
    """Sync many incidents with ``concurrency`` workers; Ctrl-C stops starting new ones."""

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int = 8,
        recheck: bool = False,
        on_result: Callable[[Work, list[Result]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.config = engine.config
        self.state = engine.state
        self.concurrency = max(1, concurrency)
        self.recheck = recheck
        self.on_result = on_result
        self.stop = threading.Event()
        self.started = 0
        self.finished = 0
        self.total = 0
        self.began = time.monotonic()
        self.summary = Summary({name: TrackerTally() for name in engine.adapters})
        self._lock = threading.Lock()

    # The fingerprint of what a sync wrote: same fingerprint, nothing to do.

    def fingerprint(self, tracker: str, work: Work) -> str:
        if not work.content:
            incident, options = work.incident, work.options
            renderer = self.engine.renderer
            documents = [renderer.render("notice", incident)]
            if incident.postmortem is not None and options.postmortem != "never":
                documents.append(renderer.render("postmortem", incident))
            work.content = markers.digest(
                incident.to_data(),
                options.historical,
                options.postmortem,
                {name: grade.model_dump() for name, grade in self.config.grades.items()},
                list(self.engine.adapters),
                documents,
            )
        return markers.digest(work.content, self.config.trackers.get(tracker, {}))

    def plan(self, works: list[Work]) -> list[Work]:
        """Which incidents need a sync: not done before with this very content (unless rechecking)."""
        todo = []
        pending = set()
        if self.state is not None:
            pending = {(p.tracker, p.incident_id) for p in self.state.journal()}
        for work in works:
            work.trackers = []
            for name in self.engine.adapters:
                if self._done_before(name, work, pending):
                    self.summary.trackers[name].skipped += 1
                else:
                    work.trackers.append(name)
            if work.trackers:
                todo.append(work)
        return todo

    def _done_before(self, tracker: str, work: Work, pending: set[tuple[str, str]]) -> bool:
        if self.recheck or self.state is None or work.options.dry_run:
            return False
        if (tracker, work.incident.id) in pending:
            return False
        known = self.state.sync_mark(tracker, work.incident.id)
        return known is not None and known.fingerprint == self.fingerprint(tracker, work)

    def journal_pending(self, works: list[Work]) -> None:
        """Before any write: every incident is pending on every tracker it still needs."""
        if self.state is None:
            return
        entries = [
            (
                name,
                w.incident.id,
                w.options.command,
                w.incident.to_data(),
                {"postmortem": w.options.postmortem, "historical": w.options.historical},
            )
            for w in works
            if not w.options.dry_run
            for name in w.trackers
        ]
        self.state.journal_put_many(entries)

    def run(self, works: list[Work], tick: Callable[[], None] | None = None) -> Summary:
        """Sync every work item; returns the summary (also when interrupted)."""
        self.total = len(works)
        self.summary.total = len(works)
        self.began = time.monotonic()
        queue = iter(works)
        running: dict[Future[list[Result]], Work] = {}
        workers = max(1, min(self.concurrency, len(works) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backfill") as pool:
            while True:
                while not self.stop.is_set() and len(running) < workers:
                    work = next(queue, None)
                    if work is None:
                        break
                    running[pool.submit(self._sync, work)] = work
                    self.started += 1
                if not running:
                    break
                done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finish(running.pop(future), future)
                if tick is not None:
                    tick()
        self.summary.not_started = self.total - self.started
        self.summary.interrupted = self.stop.is_set() and self.summary.fatal is None
        self.summary.done = self.finished
        self.summary.elapsed = time.monotonic() - self.began
        self.summary.pacing = {
            name: adapter.pacer.stats() for name, adapter in self.engine.adapters.items()
        }
        return self.summary

    def _sync(self, work: Work) -> list[Result]:
        return self.engine.sync(work.incident, work.options)

    def _finish(self, work: Work, future: Future[list[Result]]) -> None:
        from syncer.engine import Result

        try:
            results = future.result()
        except InputError as exc:
            # A template or configuration problem fails every incident alike: stop here.
            self.summary.fatal = exc
            self.stop.set()
            results = [
                Result(work.incident.id, name, error=str(exc)) for name in self.engine.adapters
            ]
        except Exception as exc:  # a bug in one incident's sync must not lose the others
            log.exception("backfill of %s failed", work.incident.id)
            message = f"unexpected {type(exc).__name__}: {exc}"
            results = [
                Result(work.incident.id, name, error=message) for name in self.engine.adapters
            ]
        at = time.monotonic() - self.began
        with self._lock:
            self.finished += 1
            for result in results:
                if result.tracker not in self.summary.trackers:
                    continue  # a channel's, told after the trackers: not a tracker's tally
                self.summary.trackers[result.tracker].add(result, at)
                if result.ok and not result.dry_run and self.state is not None:
                    self.state.put_sync_mark(
                        result.tracker,
                        result.incident,
                        SyncMark(self.fingerprint(result.tracker, work), result.key, result.url),
                    )
        if self.on_result is not None:
            self.on_result(work, results)

    # Progress figures.

    def counts(self) -> dict[str, int]:
        ok = failed = 0
        for tally in self.summary.trackers.values():
            failed += tally.failed
            ok += tally.created + tally.updated + tally.unchanged
        return {"done": self.finished, "total": self.total, "ok": ok, "failed": failed}

    def budget_seconds(self) -> float:
        """A lower bound on the time left, from each tracker's budget and the writes seen so far."""
        left = self.total - self.finished
        if left <= 0 or self.finished == 0:
            return 0.0
        bound = 0.0
        for name, adapter in self.engine.adapters.items():
            pacer = adapter.pacer
            tally = self.summary.trackers[name]
            writes = tally.writes / self.finished * left
            requests = pacer.requests / max(1, self.finished) * left
            bound = max(bound, pacer.min_seconds(int(writes), int(requests)))
        return bound
