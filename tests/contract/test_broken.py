"""The suite proves itself: one deliberately broken adapter per rule, and the suite fails each.

Each broken adapter is the memory adapter with one rule of ``adapters/base.py`` broken,
installed as a third-party plugin would be (an entry point in ``incident_syncer.adapters``).
It runs the suite's test for that rule and must fail it at one of the suite's own checks,
not crash. The memory adapter itself passes every test (``test_memory.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from inspect import signature
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.base import IssueDoc, IssueRef, Remote
from adapters.memory import PAGE, MemoryAdapter
from syncer import markers
from syncer.errors import TrackerError
from syncer.pacing import Pacer
from tests.conftest import install_plugin
from tests.contract import suite
from tests.contract.heal_parts import ENTRIES
from tests.contract.test_memory import MemoryHarness

PARTS = "test_duplicate_postmortems_and_action_items_are_closed_with_a_link"


class SwallowsLookupErrors(MemoryAdapter):
    """``find`` answers "nothing there" when the tracker cannot answer."""

    def find(self, incident_id: str) -> list[IssueRef]:
        try:
            return super().find(incident_id)
        except TrackerError:
            return []


class FindsClosedDuplicates(MemoryAdapter):
    """``find`` keeps returning an issue after ``close_duplicate``."""

    def find(self, incident_id: str) -> list[IssueRef]:
        self._call("read", "find")
        with self.store.lock:
            return [
                self._ref(n)
                for n, issue in sorted(self.store.issues.items())
                if issue["kind"] in ("incident", "duplicate") and issue["incident"] == incident_id
            ]


class FetchesAnyIssue(MemoryAdapter):
    """``fetch`` reads whatever issue the ref points at, another incident's included."""

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        issue = self.store.issues.get(int(ref.native))
        return super().fetch(ref, issue["incident"] if issue else incident_id)


class IgnoresPeople(MemoryAdapter):
    """``fetch`` leaves out what people wrote (``unmarked`` and ``last_comment``)."""

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        remote = super().fetch(ref, incident_id)
        remote.unmarked, remote.last_comment = [], None
        return remote


class ReadsOnePage(MemoryAdapter):
    """``fetch`` reads only the first page of comments."""

    def _comments(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        return list(issue["comments"][:PAGE])


class PacesOnlyWrites(MemoryAdapter):
    """Reads skip the pacer (so its budget is not the tracker's)."""

    def _call(self, kind: str, what: str) -> None:
        if kind == "write":
            return super()._call(kind, what)
        pacer, self.pacer = self.pacer, Pacer()  # an unlimited pacer nobody reads
        try:
            super()._call(kind, what)
        finally:
            self.pacer = pacer


class _HearsOnlySuccesses:
    """A pacer to which only successful answers are told."""

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pacer, name)

    def observe(self, status: int | None, headers: Any = None) -> None:
        if status is not None and status < 400:
            self._pacer.observe(status, headers)


class ObservesOnlySuccesses(MemoryAdapter):
    """Failed calls and calls without an answer are not told to the pacer."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pacer = cast(Pacer, _HearsOnlySuccesses(self.pacer))


class Credulous(markers.Trust):
    def counts(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def is_tool(self, author: markers.Author) -> bool:
        return True


class TrustsEveryMarker(MemoryAdapter):
    """Every marker counts, whoever wrote it (the trust rule ignored)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.trust = Credulous(self.name, self.trust.keys, whoami=self.trust.whoami)


class ReadsAnySnapshot(MemoryAdapter):
    """``fetch`` takes the first snapshot anywhere in the body, of any incident."""

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        remote = super().fetch(ref, incident_id)
        remote.snapshot = markers.find_snapshot(self.store.issues[int(ref.native)]["body"])
        return remote


class AdoptsWhenAlone(MemoryAdapter):
    """With no issue of its own for the incident, a labelled one is taken, whoever made it
    (a fallback for issues an older version left unmarked): its markers and snapshot count."""

    @contextmanager
    def _credulous(self) -> Iterator[None]:
        trust, self.trust = self.trust, Credulous(self.name, self.trust.keys)
        try:
            yield
        finally:
            self.trust = trust

    def find(self, incident_id: str) -> list[IssueRef]:
        refs = super().find(incident_id)
        if refs:
            return refs
        with self._credulous():
            return super().find(incident_id)

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        issue = self.store.issues.get(int(ref.native)) or {}
        if self.trust.is_tool(issue.get("author")):
            return super().fetch(ref, incident_id)
        with self._credulous():
            return super().fetch(ref, incident_id)


class _Forgetful(markers.Trust):
    """Never keeps who it is in the local state (the engine's cache goes nowhere)."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, None if name == "cache" else value)


class ForgetsWhoItIs(MemoryAdapter):
    """Asks who its token is on every run, although the local state could remember it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        t = self.trust
        self.trust = _Forgetful(t.tracker, t.keys, t.authors, t.whoami, credential=t.credential)


class SignsNothing(MemoryAdapter):
    """Its markers carry no signature: another identity sharing the key cannot trust them."""

    def _mark(self, kind: str, bound: markers.Bound = None, **attrs: str) -> str:
        return markers.marker(kind, **attrs)

    def _section(self, doc: IssueDoc) -> str:
        return markers.owned_section(doc.incident.id, doc.digest, doc.body, doc.snapshot)


class ClosesOnlyIssues(MemoryAdapter):
    """``close_duplicate`` closes a duplicate issue, and leaves a duplicate postmortem or item."""

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        if self.store.issues[int(duplicate.native)]["kind"] == "incident":
            super().close_duplicate(duplicate, keep)


class ClosesPartsWithoutALink(MemoryAdapter):
    """``close_duplicate`` closes a duplicate postmortem or item without saying which is kept."""

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        issue = self.store.issues[int(duplicate.native)]
        if issue["kind"] == "incident":
            return super().close_duplicate(duplicate, keep)
        self._call("write", "close_duplicate")
        with self._locked():
            issue["state"], issue["kind"] = "closed", "duplicate"
            self._wrote("close_duplicate")


class KeepsRepeats(MemoryAdapter):
    """``fetch`` never reports the tool's repeated timeline entries (they stay forever)."""

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        remote = super().fetch(ref, incident_id)
        remote.repeats = []
        return remote


BROKEN = [
    (SwallowsLookupErrors, "test_a_reads_only_outage_creates_nothing"),
    (FindsClosedDuplicates, "test_healed_duplicates_stay_healed"),
    (FetchesAnyIssue, "test_a_cached_ref_to_another_incident_is_not_used"),
    (IgnoresPeople, "test_what_people_wrote_is_not_posted_again"),
    (ReadsOnePage, "test_every_page_of_comments_is_read"),
    (PacesOnlyWrites, "test_every_request_goes_through_the_pacer"),
    (ObservesOnlySuccesses, "test_every_requests_answer_is_observed"),
    (TrustsEveryMarker, "test_a_forged_event_marker_hides_nothing"),
    (TrustsEveryMarker, "test_a_planted_older_issue_is_never_kept_over_the_tools_own"),
    (ReadsAnySnapshot, "test_a_snapshot_in_the_part_of_the_body_people_own_is_not_read"),
    (SignsNothing, "test_signed_markers_count_whichever_identity_wrote_them"),
    (ForgetsWhoItIs, "test_a_no_op_resync_without_a_key_asks_who_it_is_only_with_no_local_state"),
    (ClosesOnlyIssues, PARTS),
    (ClosesPartsWithoutALink, PARTS),
    (AdoptsWhenAlone, "test_a_planted_issue_alone_is_neither_read_nor_adopted"),
    (KeepsRepeats, ENTRIES),
    (TrustsEveryMarker, ENTRIES),  # a person's quote, marker and all, taken for a repeat
]


def run_rule(
    adapter: type[MemoryAdapter], rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the suite's test ``rule`` on ``adapter``, installed as a plugin."""
    from syncer import registry

    type_name = f"plugin-{adapter.__name__.lower()}"
    install_plugin(monkeypatch, "incident_syncer.adapters", type_name, adapter)
    assert registry.adapter_class(type_name) is adapter
    harness = MemoryHarness()
    harness.table = {**harness.table, "type": type_name}
    contract = suite.TrackerContract()
    test = getattr(contract, rule)
    extra: dict[str, Any] = {}
    if "monkeypatch" in signature(test).parameters:
        extra["monkeypatch"] = monkeypatch
    for mark in getattr(test, "pytestmark", []):  # a parametrized rule: its first case
        if mark.name == "parametrize":
            extra[mark.args[0]] = mark.args[1][0]
    test(harness, contract.make_env(harness, tmp_path, monkeypatch), **extra)


@pytest.mark.parametrize(("broken", "rule"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_the_suite_fails_a_broken_adapter(
    broken: type[MemoryAdapter], rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AssertionError) as failure:
        run_rule(broken, rule, tmp_path, monkeypatch)
    # Failed at one of the suite's checks (not an error inside the tool).
    assert Path(str(failure.traceback[-1].path)).parent == Path(suite.__file__).parent


@pytest.mark.parametrize("rule", [rule for _, rule in BROKEN])
def test_the_same_checks_pass_the_memory_adapter_installed_alike(
    rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_rule(MemoryAdapter, rule, tmp_path, monkeypatch)
