"""The contract every tracker adapter passes, driven through the CLI as a user runs it.

An adapter joins by subclassing :class:`TrackerContract` and providing a
``harness`` fixture that returns a :class:`Harness` (see ``test_memory.py``;
the GitHub, Jira and Notion ones drive the real client against a fake server).
``tests/contract/test_broken.py`` keeps one deliberately broken adapter per rule
and proves that the suite fails each of them. The trust rule's tests
(``attack_*.py``, ``trust_identity.py``) come with it.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from unittest.mock import ANY

import pytest
import yaml
from click.testing import CliRunner, Result

from syncer.cli import main
from tests.conftest import BANNER, BANNER_FIRST_SYNC, CHECKOUT, write_config
from tests.contract.attack_adoption import AdoptionAttacks
from tests.contract.attack_growth import GrowthAttacks
from tests.contract.attack_hiding import HidingAttacks
from tests.contract.attack_snapshots import SnapshotAttacks
from tests.contract.heal_parts import PartsHealing
from tests.contract.trust import Planter
from tests.contract.trust_identity import IdentityRules
from tests.fakes.base import FakeApp

PAGE = 100  # the most comments any tracker returns in one page


class Harness(Planter, Protocol):
    """A tracker as the suite sees it: how to configure the tool for it, and its state.

    The state is read and changed straight in the tracker (the fake server's memory),
    behind the adapter's back: that is how the suite checks what the tool did and how
    it plays the people and failures the tool must live with. :class:`Planter` adds
    how a person writes into it (the trust tests).
    """

    name: str
    """The ``NAME`` of ``[trackers.NAME]``."""
    table: dict[str, Any]
    """The ``[trackers.NAME]`` table pointing at the tracker (pacing lifted: tests are fast)."""
    env: dict[str, str]
    """The environment variables the table's ``*_env`` keys name (the token)."""

    def writes(self) -> int:
        """Write requests the tracker received since :meth:`reset_log` (failed ones included)."""
        ...

    def reset_log(self) -> None:
        """Forget the requests so far: :meth:`writes` and :meth:`requests` count from here."""
        ...

    def requests(self) -> int:
        """Requests of any kind the tracker received since :meth:`reset_log`."""
        ...

    def issues(self, incident_id: str) -> list[str]:
        """Keys of the incident's issues, oldest first, found by the tool's markers.

        A duplicate closed by ``close_duplicate`` is not one of them any more.
        """
        ...

    def events(self, incident_id: str) -> list[str]:
        """Ids of the timeline events on the incident's only issue, in the tracker's order."""
        ...

    def said(self, incident_id: str) -> list[str]:
        """The texts people (not the tool) wrote on the only issue's timeline, in order."""
        ...

    def grades(self, incident_id: str) -> list[str]:
        """The grade names the only issue shows (``["SEV2"]`` for the label ``grade:SEV2``)."""
        ...

    def closed(self, incident_id: str) -> bool:
        """Whether the only issue is resolved (closed, or in a done status)."""
        ...

    def postmortems(self, incident_id: str) -> int:
        """How many postmortems of the incident the tracker holds."""
        ...

    def action_items(self, incident_id: str) -> int:
        """How many action items of the incident the tracker holds."""
        ...

    def faults(self, rate: float, seed: int = 0) -> None:
        """From now on a share ``rate`` of requests fail at random (seeded by ``seed``).

        Half fail before the tracker acts (nothing happened); half fail after it acted
        on a write: the write is done but the client sees a 5xx or a 429 with
        Retry-After. That is how a lost answer is simulated, the case in which a naive
        retry duplicates things. ``faults(1.0)`` is a total outage: every request fails
        before the tracker acts. ``faults(0.0)`` ends the faults.
        """
        ...

    def reads_down(self, down: bool) -> None:
        """While ``down``, every read fails (503, before acting) and every write would succeed.

        Reads are GETs and the POSTs that only search or query (Jira's search,
        Notion's database query). A lookup must then fail, never answer "nothing there".
        """
        ...

    def unreachable(self, down: bool) -> None:
        """While ``down``, no request gets an answer (the connection is closed unanswered)."""
        ...

    def duplicate(self, incident_id: str) -> None:
        """A second, newer issue for the incident with its markers and its first two events.

        As a racing sync or a lagging search index leaves it.
        """
        ...

    def duplicate_note(self, key: str) -> str | None:
        """The key of what the tool's duplicate note on ``key`` links to (``key`` as the CLI
        prints an issue, a postmortem or an action item); None without such a note."""
        ...

    def delete(self, incident_id: str) -> None:
        """The incident's issue goes, as a person deleting (Notion: trashing) it leaves it."""
        ...

    def comment(self, incident_id: str, text: str) -> None:
        """A person's comment (no marker) at the end of the incident's issue.

        Notion: a paragraph at the end of the page. Cheap (no HTTP): the suite writes
        over a hundred to make the adapter read more than one page.
        """
        ...


class ServedHarness:
    """What every harness over a fake server shares: its request log, faults and outages."""

    server: FakeApp

    def writes(self) -> int:
        return self.server.writes()

    def requests(self) -> int:
        return self.server.calls()

    def reset_log(self) -> None:
        self.server.reset_log()

    def faults(self, rate: float, seed: int = 0) -> None:
        # The fakes fail reads only "before" acting; "every request fails" is an outage.
        self.server.faults(rate, seed)
        self.server.outage = 503 if rate >= 1.0 else None

    def reads_down(self, down: bool) -> None:
        self.server.outage = 503 if down else None
        self.server.outage_reads_only = down

    def unreachable(self, down: bool) -> None:
        self.server.hang_up = down


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def regrade(data: dict[str, Any]) -> None:
    """What happens next to a :meth:`TrackerContract.short_incident`: SEV1, two more entries."""
    data["grade"] = "SEV1"
    data["timeline"] += [
        {"at": "2024-03-05T14:30:00Z", "text": "Error budget review started", "kind": "note"},
        {"at": "2024-03-05T14:40:00Z", "text": "Customer notice sent", "kind": "action"},
    ]


def rows(result: Result) -> list[dict[str, Any]]:
    """The ``--json`` output: one result per incident and tracker."""
    return [json.loads(line) for line in result.stdout.splitlines()]


def unchanged(harness: Harness, incident_id: str) -> dict[str, Any]:
    """The ``--json`` row of an incident a sync found as it should be (its only issue)."""
    (key,) = harness.issues(incident_id)
    return {
        "incident": incident_id,
        "tracker": harness.name,
        "key": key,
        "url": ANY,  # each tracker's own
        "created": False,
        "operations": [],
        "error": None,
    }


def shown(result: Result) -> str:
    """What the CLI printed, with each tracker's own URLs shown as ``<url>``."""
    return re.sub(r"(?<= )[a-z]+://\S+(?=: )", "<url>", result.output)


def event_ids(data: dict[str, Any]) -> list[str]:
    from syncer import config, loader

    incident = loader.validate(copy.deepcopy(data), "x", {}, config.parse({}, None))
    return [e.event_id for e in incident.sorted_timeline]


class TrackerContract(
    HidingAttacks, SnapshotAttacks, GrowthAttacks, AdoptionAttacks, IdentityRules, PartsHealing
):
    """Idempotency, ordering, self-healing, fault tolerance and the trust rule, for any tracker."""

    @pytest.fixture
    def env(
        self, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Any]:
        return self.make_env(harness, tmp_path, monkeypatch)

    @staticmethod
    def make_env(
        harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Any]:
        """The config file for ``harness`` and where the run keeps its files."""
        for key, value in harness.env.items():
            monkeypatch.setenv(key, value)
        cfg = write_config(tmp_path / "incident-syncer.toml", {harness.name: harness.table})
        return {"config": cfg, "tmp": tmp_path, "state": tmp_path / "state"}

    @contextmanager
    def state(self, env: dict[str, Any]) -> Iterator[Any]:
        """The local state store the CLI runs use (to make its cache stale)."""
        from syncer import config
        from syncer.state import open_state

        store = open_state(config.load(str(env["config"])))
        try:
            yield store
        finally:
            store.close()

    @staticmethod
    def short_incident(incident_id: str, events: int = 4) -> dict[str, Any]:
        """An incident still open (mitigated) with its first ``events`` timeline entries."""
        data = load_yaml(CHECKOUT)
        data.update(status="mitigated", id=incident_id, grade="SEV3")
        for key in ("resolved_at", "closed_at", "postmortem"):
            data.pop(key)
        data["timeline"] = data["timeline"][:events]
        return data

    def run(self, env: dict[str, Any], *args: str) -> Result:
        """One CLI run; like a real run it starts with fresh pacers (they live per process)."""
        from syncer import pacing

        pacing._PACERS.clear()
        result = CliRunner().invoke(
            main, ["--config", str(env["config"]), *args], catch_exceptions=False
        )
        return result

    def incident_file(
        self, env: dict[str, Any], data: dict[str, Any], name: str = "inc.yaml"
    ) -> Path:
        path: Path = env["tmp"] / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def test_full_sync(self, harness: Harness, env: dict[str, Any]) -> None:
        result = self.run(env, "sync", str(BANNER))
        assert result.exit_code == 0, result.output
        data = load_yaml(BANNER)
        incident_id = data["id"]
        assert len(harness.issues(incident_id)) == 1
        assert harness.events(incident_id) == event_ids(data)
        assert harness.grades(incident_id) == ["SEV3"]
        assert harness.closed(incident_id)
        assert harness.postmortems(incident_id) == 1
        assert harness.action_items(incident_id) == 2

    def test_resync_makes_zero_writes(self, harness: Harness, env: dict[str, Any]) -> None:
        assert self.run(env, "sync", str(BANNER), str(CHECKOUT)).exit_code == 0
        harness.reset_log()
        result = self.run(env, "sync", str(BANNER), str(CHECKOUT), "--json")
        assert result.exit_code == 0, result.output
        assert harness.writes() == 0
        assert rows(result) == [
            unchanged(harness, load_yaml(BANNER)["id"]),
            unchanged(harness, load_yaml(CHECKOUT)["id"]),
        ]

    def test_resync_without_local_state_makes_zero_writes(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        shutil.rmtree(env["state"])
        harness.reset_log()
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        assert harness.writes() == 0
        assert len(harness.issues(load_yaml(BANNER)["id"])) == 1

    def test_new_events_and_regrade(self, harness: Harness, env: dict[str, Any]) -> None:
        data = self.short_incident("INC-regrade")
        path = self.incident_file(env, data)
        assert self.run(env, "sync", str(path)).exit_code == 0
        before = harness.events("INC-regrade")
        assert len(before) == 4

        regrade(data)
        self.incident_file(env, data)
        harness.reset_log()
        result = self.run(env, "sync", str(path))
        assert result.exit_code == 0, result.output
        after = harness.events("INC-regrade")
        assert after[:4] == before
        assert after[4:6] == event_ids(data)[4:6]
        assert after[6:] == ["grade-SEV3-to-SEV1"]
        assert harness.grades("INC-regrade") == ["SEV1"]
        assert not harness.closed("INC-regrade")
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.writes() == 0

    def test_injected_faults_converge_to_the_exact_state(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        harness.faults(0.3, seed=7)
        codes = []
        for _ in range(15):
            codes.append(self.run(env, "sync", str(BANNER), str(CHECKOUT)).exit_code)
            if codes[-1] == 0:
                break
        assert codes[-1] == 0, codes
        harness.faults(0.0)
        for path in (BANNER, CHECKOUT):
            data = load_yaml(path)
            assert len(harness.issues(data["id"])) == 1
            assert harness.events(data["id"]) == event_ids(data)
            assert harness.grades(data["id"]) == [data["grade"]]
            assert harness.closed(data["id"])
            assert harness.postmortems(data["id"]) == 1
            assert harness.action_items(data["id"]) == len(data["postmortem"]["action_items"])
        harness.reset_log()
        assert self.run(env, "sync", str(BANNER), str(CHECKOUT)).exit_code == 0
        assert harness.writes() == 0

    def test_a_failed_lookup_never_creates(self, harness: Harness, env: dict[str, Any]) -> None:
        harness.faults(1.0)
        result = self.run(env, "sync", str(BANNER), "--json")
        assert result.exit_code == 1
        incident_id = load_yaml(BANNER)["id"]
        (row,) = rows(result)
        assert row == {
            "incident": incident_id,
            "tracker": harness.name,
            "key": None,
            "url": None,
            "created": False,
            "operations": [],
            "error": ANY,
        }
        assert row["error"].startswith(f"cannot tell whether {incident_id} ")
        harness.faults(0.0)
        assert harness.issues(incident_id) == []
        assert self.run(env, "retry").exit_code == 0
        assert len(harness.issues(incident_id)) == 1

    def test_duplicates_heal(self, harness: Harness, env: dict[str, Any]) -> None:
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        incident_id = load_yaml(BANNER)["id"]
        harness.duplicate(incident_id)
        kept, duplicate = harness.issues(incident_id)
        shutil.rmtree(env["state"])
        result = self.run(env, "sync", str(BANNER))
        assert result.exit_code == 0, result.output
        assert shown(result) == (
            f"✓ {incident_id} → {harness.name} {kept} <url>: updated\n"
            f"    - close duplicate {duplicate} (keeping the older one)\n"
        )
        assert len(harness.issues(incident_id)) == 1
        assert harness.events(incident_id) == event_ids(load_yaml(BANNER))

    def test_dry_run_writes_nothing(self, harness: Harness, env: dict[str, Any]) -> None:
        harness.reset_log()
        result = self.run(env, "sync", str(BANNER), "--dry-run")
        assert result.exit_code == 0, result.output
        from syncer import config, registry
        from syncer.model import Status

        adapter = registry.build(harness.name, config.load(str(env["config"])))
        assert shown(result) == (
            f"~ INC-2024-0212-banner → {harness.name} (new): would do 6 operation(s)\n"
            + BANNER_FIRST_SYNC
            + f"    - set status → {adapter.status_key(Status(load_yaml(BANNER)['status']))}\n"
        )
        assert harness.writes() == 0
        assert harness.issues(load_yaml(BANNER)["id"]) == []

    def test_imperative_commands(self, harness: Harness, env: dict[str, Any]) -> None:
        opened = self.run(
            env,
            "open",
            "--title",
            "결제 실패 급증",
            "--grade",
            "SEV2",
            "--id",
            "INC-cli",
            "--at",
            "2026-11-25T10:00:00",
            "--detection",
            "Alertmanager",
        )
        assert opened.exit_code == 0, opened.output
        assert (
            self.run(
                env, "open", "--title", "결제 실패 급증", "--grade", "SEV2", "--id", "INC-cli"
            ).exit_code
            == 0
        )
        assert len(harness.issues("INC-cli")) == 1
        assert self.run(env, "note", "INC-cli", "롤백 시작", "--kind", "action").exit_code == 0
        assert self.run(env, "note", "INC-cli", "롤백 시작", "--kind", "action").exit_code == 0
        assert self.run(env, "grade", "INC-cli", "SEV1", "--final").exit_code == 0
        assert self.run(env, "resolve", "INC-cli", "--resolution", "롤백 완료").exit_code == 0
        assert len(harness.events("INC-cli")) == 4
        assert harness.events("INC-cli")[2] == "grade-SEV2-to-SEV1"
        assert harness.grades("INC-cli") == ["SEV1"]
        assert harness.closed("INC-cli")
        harness.reset_log()
        assert self.run(env, "resolve", "INC-cli").exit_code == 0
        assert harness.writes() == 0

    def test_every_request_goes_through_the_pacer(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        """The pacer sees every request the tracker receives (its budget is the tracker's)."""
        from syncer import pacing

        harness.reset_log()
        assert self.run(env, "sync", str(BANNER), str(CHECKOUT)).exit_code == 0
        _, pacer = pacing._PACERS[harness.name]
        assert pacer.requests == harness.requests() > 0

    def test_every_requests_answer_is_observed(self, harness: Harness, env: dict[str, Any]) -> None:
        """Answers, errors and requests that got no answer all reach the pacer, in order: a
        request left in flight would count against the tracker's limits and hold the others."""
        from syncer import pacing

        harness.faults(0.3, seed=3)
        for _ in range(3):
            self.run(env, "sync", str(BANNER), str(CHECKOUT))
            _, pacer = pacing._PACERS[harness.name]
            assert pacer.requests > 0
            assert (pacer.answers, pacer.in_flight) == (pacer.requests, 0)
        harness.faults(0.0)
        harness.unreachable(True)  # no answer at all: the connection is refused
        try:
            self.run(env, "sync", str(BANNER))
        finally:
            harness.unreachable(False)
        _, pacer = pacing._PACERS[harness.name]
        assert pacer.requests > 0
        assert (pacer.answers, pacer.in_flight) == (pacer.requests, 0)

    # A lookup that cannot answer, healed duplicates, a stale cache, long issues, people.

    def test_a_reads_only_outage_creates_nothing(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        """Reads fail while writes would succeed: a lookup that says "nothing there" duplicates."""
        harness.reads_down(True)
        result = self.run(env, "sync", str(BANNER), "--json")
        harness.reads_down(False)
        assert result.exit_code == 1, result.output
        incident_id = load_yaml(BANNER)["id"]
        assert harness.issues(incident_id) == []
        assert self.run(env, "retry").exit_code == 0
        assert len(harness.issues(incident_id)) == 1
        assert harness.events(incident_id) == event_ids(load_yaml(BANNER))
        harness.reset_log()
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        assert harness.writes() == 0

    def test_healed_duplicates_stay_healed(self, harness: Harness, env: dict[str, Any]) -> None:
        """After ``close_duplicate``, ``find`` no longer returns it: a stateless resync writes nothing."""
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        incident_id = load_yaml(BANNER)["id"]
        harness.duplicate(incident_id)
        shutil.rmtree(env["state"])
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        shutil.rmtree(env["state"])
        harness.reset_log()
        result = self.run(env, "sync", str(BANNER), "--json")
        assert result.exit_code == 0, result.output
        assert harness.writes() == 0
        assert rows(result) == [unchanged(harness, incident_id)]
        assert len(harness.issues(incident_id)) == 1

    def test_a_cached_ref_to_another_incident_is_not_used(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        """The state cache points at another incident's issue: looked up again, nothing written."""
        assert self.run(env, "sync", str(BANNER), str(CHECKOUT)).exit_code == 0
        banner, checkout = load_yaml(BANNER), load_yaml(CHECKOUT)
        with self.state(env) as state:
            other = state.get_ref(harness.name, checkout["id"])
            assert other is not None
            state.put_ref(harness.name, banner["id"], *other)
        harness.reset_log()
        result = self.run(env, "sync", str(BANNER), str(CHECKOUT))
        assert result.exit_code == 0, result.output
        assert harness.writes() == 0
        for data in (banner, checkout):
            assert len(harness.issues(data["id"])) == 1
            assert harness.events(data["id"]) == event_ids(data)
            assert harness.grades(data["id"]) == [data["grade"]]

    def test_a_cached_ref_to_a_deleted_issue_is_replaced(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        """Someone deleted the issue the state cache points at: the next sync makes a new one."""
        data = self.short_incident("INC-deleted")
        path = self.incident_file(env, data)
        assert self.run(env, "sync", str(path)).exit_code == 0
        harness.delete("INC-deleted")
        assert harness.issues("INC-deleted") == []
        result = self.run(env, "sync", str(path))
        assert result.exit_code == 0, result.output
        assert len(harness.issues("INC-deleted")) == 1
        assert harness.events("INC-deleted") == event_ids(data)
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.writes() == 0

    def test_every_page_of_comments_is_read(self, harness: Harness, env: dict[str, Any]) -> None:
        """Events after the first hundred comments are seen: none is posted twice."""
        data = self.short_incident("INC-pages")
        path = self.incident_file(env, data)
        assert self.run(env, "sync", str(path)).exit_code == 0
        for n in range(PAGE + 5):
            harness.comment("INC-pages", f"Bridge call note {n + 1}")
        data["timeline"] = load_yaml(CHECKOUT)["timeline"][:6]
        self.incident_file(env, data)
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.events("INC-pages") == event_ids(data)
        shutil.rmtree(env["state"])
        harness.reset_log()
        result = self.run(env, "sync", str(path), "--json")
        assert result.exit_code == 0, result.output
        assert harness.writes() == 0
        assert harness.events("INC-pages") == event_ids(data)

    def test_what_people_wrote_is_not_posted_again(
        self, harness: Harness, env: dict[str, Any]
    ) -> None:
        """An entry a person already wrote by hand (``unmarked``, ``last_comment``) is not repeated."""
        data = self.short_incident("INC-people")
        path = self.incident_file(env, data)
        assert self.run(env, "sync", str(path)).exit_code == 0
        first, second = "Customer notice sent", "Error budget review started"
        harness.comment("INC-people", first)
        harness.comment("INC-people", second)
        data["timeline"] += [
            {"at": "2024-03-05T14:30:00Z", "text": first, "kind": "action"},
            {"at": "2024-03-05T14:40:00Z", "text": second, "kind": "note"},
        ]
        self.incident_file(env, data)
        result = self.run(env, "sync", str(path))
        assert result.exit_code == 0, result.output
        assert harness.events("INC-people") == event_ids(data)[:4]
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.writes() == 0
