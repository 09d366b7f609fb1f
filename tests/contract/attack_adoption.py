"""Attack: adopting a planted issue.

Someone labels an older issue with the incident's id (or gives it the id property)
and seeds it with the tool's ownership markers. A runner with no local state used to
take it for the real one and close the real issue as its duplicate. Healing keeps only
issues the tool made; a planted one is never kept, written to or closed.
"""

from __future__ import annotations

import shutil
from typing import Any

from tests.contract.trust import incident_data, write_incident


class AdoptionAttacks:
    """A planted issue is never the incident's issue."""

    def test_a_planted_older_issue_is_never_kept_over_the_tools_own(
        self, harness: Any, env: dict[str, Any]
    ) -> None:
        path = write_incident(env["tmp"], incident_data("INC-adopt"), "adopt.yaml")
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        (real,) = harness.issues("INC-adopt")
        planted = harness.plant_issue("INC-adopt")
        before = harness.planted(planted)
        shutil.rmtree(env["state"])
        result = self.run(env, "sync", str(path))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        assert "duplicate" not in result.output
        note = self.run(env, "note", "INC-adopt", "Still here")  # type: ignore[attr-defined]
        assert note.exit_code == 0, note.output
        assert harness.issues("INC-adopt") == [real]
        assert not harness.closed("INC-adopt")
        assert len(harness.events("INC-adopt")) == 3
        assert harness.planted(planted) == before

    def test_a_planted_issue_before_the_first_sync_is_not_adopted(
        self, harness: Any, env: dict[str, Any]
    ) -> None:
        planted = harness.plant_issue("INC-early")
        before = harness.planted(planted)
        path = write_incident(env["tmp"], incident_data("INC-early"), "early.yaml")
        result = self.run(env, "sync", str(path))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        assert len(harness.issues("INC-early")) == 1
        assert harness.events("INC-early") == ["fired", "rollback"]
        assert harness.planted(planted) == before
        assert harness.title("INC-early").endswith("Checkout errors (INC-early)")

    def test_a_planted_issue_alone_is_neither_read_nor_adopted(
        self, harness: Any, env: dict[str, Any]
    ) -> None:
        """No issue of the tool's yet: the commands that read the tracker's copy find none.

        The planted issue's snapshot (a title, grade and status of mallory's choosing) is
        not the incident's, so ``note``, ``grade`` and ``resolve`` refuse as for an unknown
        incident, with no local state to lean on, and touch nothing.
        """
        planted = harness.plant_issue("INC-alone")
        before = harness.planted(planted)
        harness.reset_log()
        for args in (
            ("note", "INC-alone", "Checked the dashboards", "--at", "2026-03-05T10:40:00+09:00"),
            ("grade", "INC-alone", "SEV1"),
            ("resolve", "INC-alone", "--at", "2026-03-05T11:00:00+09:00"),
        ):
            shutil.rmtree(env["state"], ignore_errors=True)
            result = self.run(env, *args)  # type: ignore[attr-defined]
            assert result.exit_code == 2, result.output
            assert result.stdout == ""
            *warnings, error = result.stderr.splitlines()
            assert error == (
                f"Error: incident INC-alone is not in any configured tracker ({harness.name}); "
                "open it first"
            )
            assert all("not written by incident-syncer" in w for w in warnings), warnings
        assert harness.writes() == 0
        assert harness.issues("INC-alone") == []
        opened = self.run(  # type: ignore[attr-defined]
            env, "open", "--id", "INC-alone", "--title", "Checkout errors", "--grade", "SEV3"
        )
        assert opened.exit_code == 0, opened.output
        assert len(harness.issues("INC-alone")) == 1
        assert harness.title("INC-alone").endswith("Checkout errors")
        assert harness.grades("INC-alone") == ["SEV3"] and not harness.closed("INC-alone")
        assert harness.planted(planted) == before
