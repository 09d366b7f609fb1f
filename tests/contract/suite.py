"""The contract every tracker adapter passes, driven through the CLI as a user runs it.

An adapter joins by subclassing :class:`TrackerContract` and providing a
``harness`` fixture that returns a :class:`Harness` (see ``test_memory.py``;
the GitHub, Jira and Notion ones drive the real client against a fake server).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from click.testing import CliRunner, Result

from syncer.cli import main
from tests.conftest import BANNER, CHECKOUT, write_config


class Harness(Protocol):
    """What the suite needs to know about a tracker (its fake server's state and request log)."""

    name: str
    table: dict[str, Any]
    env: dict[str, str]

    def writes(self) -> int: ...
    def reset_log(self) -> None: ...
    def issues(self, incident_id: str) -> list[str]: ...
    def events(self, incident_id: str) -> list[str]: ...
    def grades(self, incident_id: str) -> list[str]: ...
    def closed(self, incident_id: str) -> bool: ...
    def postmortems(self, incident_id: str) -> int: ...
    def action_items(self, incident_id: str) -> int: ...
    def faults(self, rate: float, seed: int = 0) -> None: ...
    def duplicate(self, incident_id: str) -> None: ...


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def event_ids(data: dict[str, Any]) -> list[str]:
    from syncer import config, loader

    incident = loader.validate(copy.deepcopy(data), "x", {}, config.parse({}, None))
    return [e.event_id for e in incident.sorted_timeline]


class TrackerContract:
    """Idempotency, ordering, self-healing and fault tolerance, for any tracker."""

    @pytest.fixture
    def env(
        self, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Any]:
        for key, value in harness.env.items():
            monkeypatch.setenv(key, value)
        cfg = write_config(tmp_path / "incident-syncer.toml", {harness.name: harness.table})
        return {"config": cfg, "tmp": tmp_path, "state": tmp_path / "state"}

    def run(self, env: dict[str, Any], *args: str) -> Result:
        """One CLI run; like a real run it starts with fresh pacers (they live per process)."""
        from syncer import retry

        retry._PACERS.clear()
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
        assert '"operations": []' in result.output

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
        data = load_yaml(CHECKOUT)
        data.update(status="mitigated", id="INC-regrade", grade="SEV3")
        for key in ("resolved_at", "closed_at", "postmortem"):
            data.pop(key)
        data["timeline"] = data["timeline"][:4]
        path = self.incident_file(env, data)
        assert self.run(env, "sync", str(path)).exit_code == 0
        before = harness.events("INC-regrade")
        assert len(before) == 4

        data["grade"] = "SEV1"
        data["timeline"] += [
            {"at": "2024-03-05T14:30:00Z", "text": "Error budget review started", "kind": "note"},
            {"at": "2024-03-05T14:40:00Z", "text": "Customer notice sent", "kind": "action"},
        ]
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
        assert '"error": ' in result.output and '"error": null' not in result.output
        harness.faults(0.0)
        incident_id = load_yaml(BANNER)["id"]
        assert harness.issues(incident_id) == []
        assert self.run(env, "retry").exit_code == 0
        assert len(harness.issues(incident_id)) == 1

    def test_duplicates_heal(self, harness: Harness, env: dict[str, Any]) -> None:
        assert self.run(env, "sync", str(BANNER)).exit_code == 0
        incident_id = load_yaml(BANNER)["id"]
        harness.duplicate(incident_id)
        assert len(harness.issues(incident_id)) == 2
        shutil.rmtree(env["state"])
        result = self.run(env, "sync", str(BANNER))
        assert result.exit_code == 0, result.output
        assert "duplicate" in result.output
        assert len(harness.issues(incident_id)) == 1
        assert harness.events(incident_id) == event_ids(load_yaml(BANNER))

    def test_dry_run_writes_nothing(self, harness: Harness, env: dict[str, Any]) -> None:
        harness.reset_log()
        result = self.run(env, "sync", str(BANNER), "--dry-run")
        assert result.exit_code == 0, result.output
        assert "create issue" in result.output
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
