"""The contract every channel passes, driven through the CLI as a user runs it (beside the memory tracker).

A channel joins by subclassing :class:`ChannelContract` and providing a ``harness`` fixture
that returns a :class:`ChannelHarness` (``test_channels.py``: Slack through slack_sdk against
the fake Slack, a webhook against the fake receiver).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from click.testing import CliRunner, Result

from syncer.cli import main
from tests.conftest import write_config

TRACKER = {"mem": {"type": "memory", "store": "channels"}}
OPEN_AT = "2026-11-25T10:00:00"


class ChannelHarness(Protocol):
    """What the suite needs to know about a channel (its fake service's state and request log).

    * ``threads``: every entry is told one by one from the first (``CAP_THREAD``); without it
      the first notification stands for the entries before it.
    * ``reads_back``: what was told is found again with no local state (``CAP_READ_BACK``);
      without it a lost state sends again, with the same idempotency keys.
    * ``notices(id)``: how many times the incident was announced (distinct notices, or distinct
      open notifications), ``told(id)``: the (grade, status) the channel shows or last heard,
      ``entries(id)``: the event ids told one by one, in order.
    * ``down(on)``: every request fails (the service is out).
    * ``forge(id)``: someone else posts a look-alike of the incident's notice and entries
      (nothing to do for a channel that cannot be read back).
    * ``race(id)``: leave what a second run with no shared state would have left: a younger
      notice whose thread holds the told entries, ``ev-2`` and ``ev-9``, and the first entry
      posted twice; returns how many younger copies that is (0: a channel that is never read
      back, where a receiver drops a repeat by its idempotency key).
    * ``lag(id)``: the next lookup answers as of before the notice was posted (a run that
      looked before another one posted); False where it cannot be done.
    * ``duplicates(id)``: how many of the tool's messages are marked as duplicates.
    """

    name: str
    table: dict[str, Any]
    env: dict[str, str]
    threads: bool
    reads_back: bool

    def writes(self) -> int: ...
    def reset_log(self) -> None: ...
    def notices(self, incident_id: str) -> int: ...
    def told(self, incident_id: str) -> tuple[str | None, str | None]: ...
    def entries(self, incident_id: str) -> list[str]: ...
    def faults(self, rate: float, seed: int = 0) -> None: ...
    def down(self, on: bool) -> None: ...
    def forge(self, incident_id: str) -> None: ...
    def race(self, incident_id: str) -> int: ...
    def lag(self, incident_id: str) -> bool: ...
    def duplicates(self, incident_id: str) -> int: ...


def incident(incident_id: str = "INC-chan", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": incident_id,
        "title": "결제 실패 급증",
        "grade": "SEV2",
        "status": "investigating",
        "commander": "alice",
        "detected_at": OPEN_AT,
        "symptoms": "결제 API 5xx",
        "timeline": [{"at": OPEN_AT, "text": "장애 인지", "kind": "detection", "id": "ev-1"}],
    }
    data.update(changes)
    return data


LATER = [
    {"at": "2026-11-25T10:10:00", "text": "롤백 시작", "kind": "action", "id": "ev-2"},
    {"at": "2026-11-25T10:30:00", "text": "롤백 완료", "kind": "action", "id": "ev-3"},
]
OVER = {
    "grade": "SEV1",
    "status": "resolved",
    "mitigated_at": "2026-11-25T10:30:00",
    "resolved_at": "2026-11-25T11:00:00",
    "timeline": [*incident()["timeline"], *LATER],
}


class ChannelContract:
    """Told once, in order, statelessly where the channel allows, never at a tracker's expense."""

    grades: str = ""  # extra [grades.*] tables for a test (TOML)

    @pytest.fixture
    def env(
        self, harness: ChannelHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Any]:
        for key, value in harness.env.items():
            monkeypatch.setenv(key, value)
        return self.make_env(harness, tmp_path)

    def make_env(self, harness: ChannelHarness, tmp_path: Path, grades: str = "") -> dict[str, Any]:
        table = "\n".join(
            f"{k} = {json.dumps(v)}" for k, v in harness.table.items() if not isinstance(v, dict)
        )
        inline = "".join(
            f"\n{k} = {{ {', '.join(f'{json.dumps(a)} = {json.dumps(b)}' for a, b in v.items())} }}"
            for k, v in harness.table.items()
            if isinstance(v, dict)
        )
        extra = f"\n[channels.{harness.name}]\n{table}{inline}\n{grades}"
        cfg = write_config(tmp_path / "incident-syncer.toml", TRACKER, extra=extra)
        return {"config": cfg, "tmp": tmp_path, "state": tmp_path / "state"}

    def run(self, env: dict[str, Any], *args: str) -> Result:
        """One CLI run; like a real run it starts with fresh pacers (they live per process)."""
        from syncer import pacing

        pacing._PACERS.clear()
        return CliRunner().invoke(
            main, ["--config", str(env["config"]), *args], catch_exceptions=False
        )

    def file(self, env: dict[str, Any], data: dict[str, Any]) -> Path:
        path: Path = env["tmp"] / "inc.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def expected(self, harness: ChannelHarness, ids: list[str], covered: int = 1) -> list[str]:
        """The entries told one by one: all of them, or those after the first notification
        (which stands for the ``covered`` entries that existed then)."""
        return ids if harness.threads else ids[covered:]

    def test_told_once_in_order_and_kept_current(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        path = self.file(env, incident())
        first = self.run(env, "sync", str(path), "--json")
        assert first.exit_code == 0, first.output
        lines = [json.loads(line) for line in first.stdout.splitlines()]
        assert [(x.get("tracker"), x.get("channel"), x["created"]) for x in lines] == [
            ("mem", None, True),
            (None, harness.name, True),
        ]
        assert harness.notices("INC-chan") == 1
        assert harness.told("INC-chan") == ("SEV2", "investigating")
        assert harness.entries("INC-chan") == self.expected(harness, ["ev-1"])
        harness.reset_log()
        again = self.run(env, "sync", str(path), "--json")
        assert again.exit_code == 0 and harness.writes() == 0
        assert all(json.loads(line)["operations"] == [] for line in again.stdout.splitlines())

        self.file(env, incident(**OVER))
        harness.reset_log()
        later = self.run(env, "sync", str(path))
        assert later.exit_code == 0, later.output
        assert harness.notices("INC-chan") == 1
        assert harness.told("INC-chan") == ("SEV1", "resolved")
        assert harness.entries("INC-chan") == self.expected(harness, ["ev-1", "ev-2", "ev-3"])
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.writes() == 0

    def test_a_resync_without_local_state(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        path = self.file(env, incident(**OVER))
        assert self.run(env, "sync", str(path)).exit_code == 0
        shutil.rmtree(env["state"])
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        if harness.reads_back:
            assert harness.writes() == 0
        assert harness.notices("INC-chan") == 1
        assert harness.entries("INC-chan") == self.expected(harness, ["ev-1", "ev-2", "ev-3"], 3)

    def test_injected_faults_converge_with_nothing_told_twice(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        paths = []
        for n in range(3):
            data = incident(f"INC-f{n}", timeline=[*incident()["timeline"], *LATER])
            path = env["tmp"] / f"f{n}.yaml"
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            paths.append(str(path))
        harness.faults(0.3, seed=11)
        codes = [self.run(env, "sync", *paths).exit_code]
        while codes[-1] != 0 and len(codes) < 15:
            codes.append(self.run(env, "retry").exit_code)
        assert codes[-1] == 0, codes
        harness.faults(0.0)
        for n in range(3):
            assert harness.notices(f"INC-f{n}") == 1
            assert harness.entries(f"INC-f{n}") == self.expected(
                harness, ["ev-1", "ev-2", "ev-3"], 3
            ), harness.entries(f"INC-f{n}")
        harness.reset_log()
        assert self.run(env, "sync", *paths).exit_code == 0
        assert harness.writes() == 0

    def test_a_failing_channel_never_fails_the_tracker(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        from adapters import memory

        path = self.file(env, incident())
        harness.down(True)
        result = self.run(env, "sync", str(path), "--json")
        assert result.exit_code == 1, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert lines[0]["tracker"] == "mem" and lines[0]["error"] is None and lines[0]["created"]
        assert lines[1]["channel"] == harness.name and lines[1]["error"]
        issues = [
            i for i in memory.store("channels").issues.values() if i["incident"] == "INC-chan"
        ]
        assert len(issues) == 1
        journal = self.run(env, "journal", "--json")
        assert [e["tracker"] for e in json.loads(journal.stdout)] == [harness.name]
        harness.down(False)
        retried = self.run(env, "retry")
        assert retried.exit_code == 0, retried.output
        assert harness.notices("INC-chan") == 1
        assert self.run(env, "journal").output.strip() == "nothing pending"

    def test_a_look_alike_is_not_the_tools_own(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        harness.forge("INC-chan")
        path = self.file(env, incident())
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.notices("INC-chan") == 1
        assert harness.entries("INC-chan") == self.expected(harness, ["ev-1"])

    def test_dry_run_tells_nothing(self, harness: ChannelHarness, env: dict[str, Any]) -> None:
        path = self.file(env, incident())
        harness.reset_log()
        result = self.run(env, "sync", str(path), "--dry-run")
        assert result.exit_code == 0
        assert harness.writes() == 0 and harness.notices("INC-chan") == 0

    def test_grades_decide_who_hears(
        self, harness: ChannelHarness, env: dict[str, Any], tmp_path: Path
    ) -> None:
        env = self.make_env(harness, tmp_path, "[grades.SEV1]\nchannels = []\n[grades.SEV2]\n")
        quiet = self.run(env, "sync", str(self.file(env, incident(grade="SEV1"))), "--json")
        assert quiet.exit_code == 0 and harness.writes() == 0, (quiet.output, harness.writes())
        assert [json.loads(line).get("tracker") for line in quiet.stdout.splitlines()] == ["mem"]
        loud = self.run(env, "sync", str(self.file(env, incident(grade="SEV2"))))
        assert loud.exit_code == 0 and harness.notices("INC-chan") == 1
        # Told once, it keeps hearing, even at a grade that lists it not.
        back = self.run(env, "sync", str(self.file(env, incident(grade="SEV1"))))
        assert back.exit_code == 0 and harness.told("INC-chan")[0] == "SEV1"

    def test_what_runs_without_shared_state_told_twice_is_healed(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        path = self.file(env, incident())
        assert self.run(env, "sync", str(path)).exit_code == 0
        left = harness.race("INC-chan")
        if not left:
            pytest.skip("never read back: a receiver drops a repeat by its idempotency key")
        assert harness.notices("INC-chan") == 2
        self.file(env, incident(timeline=[*incident()["timeline"], LATER[0]]))
        healed = self.run(env, "sync", str(path), "--json")
        assert healed.exit_code == 0, healed.output
        told = json.loads(healed.stdout.splitlines()[1])
        assert told["channel"] == harness.name and told["operations"][-1].startswith(
            "heal duplicates: "
        )
        assert harness.notices("INC-chan") == 1
        # Nothing the younger notice's thread held is lost, and each entry is told once.
        assert harness.entries("INC-chan") == ["ev-1", "ev-2", "ev-9"]
        assert harness.duplicates("INC-chan") == left
        shutil.rmtree(env["state"])
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.writes() == 0

    def test_a_run_that_looked_before_another_posted_heals_at_once(
        self, harness: ChannelHarness, env: dict[str, Any]
    ) -> None:
        path = self.file(env, incident())
        assert self.run(env, "sync", str(path)).exit_code == 0
        if not harness.lag("INC-chan"):
            pytest.skip("never read back: a receiver drops a repeat by its idempotency key")
        shutil.rmtree(env["state"])
        late = self.run(env, "sync", str(path))
        assert late.exit_code == 0, late.output
        assert harness.notices("INC-chan") == 1 and harness.duplicates("INC-chan") == 1
        assert harness.entries("INC-chan") == ["ev-1"]
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0
        assert harness.writes() == 0
