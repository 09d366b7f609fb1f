"""Attack: rewriting another incident through a snapshot marker in text people control.

``note``, ``grade``, ``resolve`` and ``ingest`` read the incident from the snapshot the
tool keeps in its issue. A snapshot pasted into an alert's description, an incident
file's field or the part of the issue body people own must never be the one read:
neither another incident's (which would rename, regrade or close *that* incident) nor
a doctored copy of this one's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.contract.trust import incident_data, snapshot_of, write_incident


class SnapshotAttacks:
    """Only the tool's own snapshot of the incident asked for is read."""

    def _open_bystander(self, harness: Any, env: dict[str, Any]) -> dict[str, Any]:
        opened = self.run(  # type: ignore[attr-defined]
            env,
            "open",
            "--id",
            "INC-B",
            "--title",
            "Bystander",
            "--grade",
            "SEV4",
            "--at",
            "2026-03-05T09:00:00+09:00",
        )
        assert opened.exit_code == 0, opened.output
        return self._state(harness, "INC-B")

    @staticmethod
    def _state(harness: Any, incident_id: str) -> dict[str, Any]:
        return {
            "title": harness.title(incident_id),
            "grades": harness.grades(incident_id),
            "closed": harness.closed(incident_id),
            "events": harness.events(incident_id),
        }

    def _commands_on_a(self, env: dict[str, Any]) -> None:
        for args in (
            ("note", "INC-A", "Checked the dashboards", "--at", "2026-03-05T10:40:00+09:00"),
            ("grade", "INC-A", "SEV2"),
            ("resolve", "INC-A", "--at", "2026-03-05T11:00:00+09:00"),
        ):
            result = self.run(env, *args)  # type: ignore[attr-defined]
            assert result.exit_code == 0, result.output

    @pytest.mark.parametrize("last", ["another incident's", "a doctored copy"])
    def test_a_snapshot_in_the_part_of_the_body_people_own_is_not_read(
        self, harness: Any, env: dict[str, Any], last: str
    ) -> None:
        """Both kinds of snapshot are pasted; ``last`` goes on top where a harness prepends
        (GitHub, Notion, memory), so an adapter reading the first one meets each in turn."""
        before = self._open_bystander(harness, env)
        path = write_incident(env["tmp"], incident_data("INC-A"), "a.yaml")
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        pasted = [
            snapshot_of("INC-A", "Renamed by mallory", grade="SEV1"),
            snapshot_of("INC-B", "Renamed by mallory"),
        ]
        for snapshot in pasted if last == "another incident's" else pasted[::-1]:
            harness.person_body("INC-A", snapshot)
        self._commands_on_a(env)
        assert self._state(harness, "INC-B") == before
        assert harness.title("INC-A").endswith("Checkout errors (INC-A)")
        assert harness.grades("INC-A") == ["SEV2"] and harness.closed("INC-A")
        assert harness.events("INC-A")[:2] == ["fired", "rollback"]

    def test_a_snapshot_in_an_incident_field_is_not_read(
        self, harness: Any, env: dict[str, Any]
    ) -> None:
        before = self._open_bystander(harness, env)
        data = incident_data("INC-A", symptoms=snapshot_of("INC-B", "Renamed by mallory"))
        data["timeline"][1]["text"] = "See " + snapshot_of("INC-B", "Renamed again")
        path = write_incident(env["tmp"], data, "a.yaml")
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        self._commands_on_a(env)
        assert self._state(harness, "INC-B") == before
        assert harness.grades("INC-A") == ["SEV2"] and harness.closed("INC-A")
        assert "incident-syncer" in harness.body("INC-A")  # shown as text, not taken as data

    def test_a_snapshot_in_an_alert_is_not_read(self, harness: Any, env: dict[str, Any]) -> None:
        before = self._open_bystander(harness, env)
        alert = {
            "key": "settlement-nightly",
            "status": "firing",
            "started_at": "2026-03-05T03:05:40+09:00",
            "title": "Settlement batch failed",
            "summary": snapshot_of("INC-B", "Renamed by an alert"),
            "description": "exit 137\n" + snapshot_of("INC-B", "Renamed by an alert"),
            "severity": "error",
        }
        for status in ("firing", "resolved"):
            payload = env["tmp"] / f"alert-{status}.json"
            payload.write_text(json.dumps({**alert, "status": status}), encoding="utf-8")
            result = self.run(  # type: ignore[attr-defined]
                env, "ingest", "--source", "generic", str(payload), "--json"
            )
            assert result.exit_code == 0, result.output
            outcome = json.loads(result.output.splitlines()[0])
            assert outcome["incident"].startswith("ALERT-")
            assert outcome["action"] == ("opened" if status == "firing" else "resolved")
        assert self._state(harness, "INC-B") == before
        assert harness.title(outcome["incident"]).endswith("Settlement batch failed")
