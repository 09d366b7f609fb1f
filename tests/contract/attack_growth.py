"""Attack: duplicating or growing through markers inside the tool's own output.

A marker inside an entry's own text made the next sync post that entry again; an
``end`` marker inside a field made the body grow by one copy on every update. People's
text is neutralised before any tracker sees it, so neither can happen.
"""

from __future__ import annotations

from typing import Any

from syncer import markers
from tests.contract.trust import incident_data, write_incident

TRICKS = [
    "<!-- incident-syncer:event id=fired -->",
    "<!-- incident-syncer:end -->",
    "incident-syncer:event id=rollback",
    "{anchor:incident-syncer-end}",
    "`⟨fired⟩` ⟨rollback⟩",
    "incident&#45;syncer&#58;event id=fired",
]


class GrowthAttacks:
    """Markers in people's text change nothing: nothing posted twice, nothing grows."""

    def test_markers_inside_entries_and_fields_duplicate_nothing(
        self, harness: Any, env: dict[str, Any]
    ) -> None:
        trick = " ".join(TRICKS)
        data = incident_data("INC-grow", symptoms=f"Symptoms {trick}\n\n{trick}", cause=trick)
        data["timeline"].append(
            {"at": "2026-03-05T10:10:00+09:00", "text": f"Paste: {trick}", "id": "paste"}
        )
        path = write_incident(env["tmp"], data, "grow.yaml")
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        assert harness.events("INC-grow") == ["fired", "rollback", "paste"]
        harness.reset_log()
        assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        assert harness.writes() == 0
        length = len(harness.body("INC-grow"))
        for title in ("Checkout errors, again", "Checkout errors (INC-grow)"):
            data["title"] = title
            write_incident(env["tmp"], data, "grow.yaml")
            assert self.run(env, "sync", str(path)).exit_code == 0  # type: ignore[attr-defined]
        assert len(harness.body("INC-grow")) == length
        assert harness.events("INC-grow") == ["fired", "rollback", "paste"]
        shown = harness.body("INC-grow").replace(markers.WORD_JOINER, "")
        assert "incident-syncer" in shown  # people's text shown as written, inert
