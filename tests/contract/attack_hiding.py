"""Attack: hiding a timeline entry with a marker in a person's comment.

A comment that imitates the tool's event marker (GitHub's hidden HTML comment, Jira's
footer typed by hand, Notion's tag) must not make the tool believe the entry is posted.
Guessable ids are the target: explicit ids from incident files, ``grade-SEV3-to-SEV1``, and
the ids ChatOps derives from comment numbers (``gh-comment-N``: the next comment's number is
the last one's plus a little).
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.contract.trust import KEY, incident_data, write_incident

CHATOPS_ID = "gh-comment-2468013579"


class HidingAttacks:
    """Nothing a person writes hides an entry: the tool posts it, once."""

    @pytest.mark.parametrize("runner", ["local state", "no local state", "marker key"])
    def test_a_forged_event_marker_hides_nothing(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, runner: str
    ) -> None:
        """Whatever the runner knows: its local state, none (an ephemeral runner, which
        learns who wrote what from the tracker alone), or a marker key (nothing unsigned)."""
        if runner == "marker key":
            monkeypatch.setenv("INCIDENT_SYNCER_MARKER_KEY", KEY)
        data = incident_data("INC-hide")
        path = write_incident(env["tmp"], data, "hide.yaml")
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        for event_id in ("mitigated-at-10-30", "grade-SEV3-to-SEV1", CHATOPS_ID):
            harness.comment("INC-hide", f"Just checking in.\n\n{harness.forged_event(event_id)}")
        data["grade"] = "SEV1"
        data["timeline"] += [
            {
                "at": "2026-03-05T10:30:00+09:00",
                "text": "Error rate back to normal",
                "id": "mitigated-at-10-30",
            },
            # What `/incident note` in comment 2468013579 adds (syncer.chatops).
            {
                "at": "2026-03-05T10:35:00+09:00",
                "text": "Watching the dashboards",
                "id": CHATOPS_ID,
            },
        ]
        write_incident(env["tmp"], data, "hide.yaml")
        if runner == "no local state":
            shutil.rmtree(env["state"])
        result = self.run(env, "sync", str(path))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        assert harness.events("INC-hide") == [
            "fired",
            "rollback",
            "mitigated-at-10-30",
            CHATOPS_ID,
            "grade-SEV3-to-SEV1",
        ]
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        assert harness.writes() == 0
