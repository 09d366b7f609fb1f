"""What a sync is asked to do, and what it did on each tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.base import IssueRef, Remote


@dataclass
class Options:
    """How to sync: ``postmortem`` is auto (when over), always (``postmortem`` command) or never."""

    dry_run: bool = False
    postmortem: str = "auto"
    command: str = "sync"
    historical: bool = False
    # Look every incident up in the trackers even where the state caches its issue: the
    # stateless check that finds duplicates a cached ref would hide (``--recheck``).
    recheck: bool = False


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
    # A dry run's count of the writes the plan would make (``writes`` stays what was done: 0).
    would_write: int = 0
    # The plan brings the issue's body in line itself (a dry run's relink is counted once).
    updates_body: bool = field(default=False, repr=False)
    ref: IssueRef | None = field(default=None, repr=False)
    # Created in phase 1, the rest left for phase 2 (when every tracker's link is known).
    deferred: bool = field(default=False, repr=False)
    remote: Remote | None = field(default=None, repr=False)
    # The postmortem's link, once published (the channels' notice links it).
    postmortem_url: str | None = field(default=None, repr=False)

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
