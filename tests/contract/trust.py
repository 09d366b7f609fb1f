"""What the trust tests need of a tracker, and the helpers they share.

The trust rule (``adapters/base.py``): only the tool's own writes count. The attack
tests (``attack_*.py``, one module per attack class of issue 12) and the identity
tests (``trust_identity.py``) are mixins of :class:`tests.contract.suite.TrackerContract`,
so every adapter runs them through the CLI against its fake, and a new adapter
cannot leave them out. A harness adds to the suite's :class:`Harness` the ways a
*person* writes into its tracker: :class:`Planter`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import yaml

from syncer import markers

KEY = "trust-tests-marker-key-0123456789abcdef"
OTHER_KEY = "another-marker-key-fedcba9876543210"
MALLORY_TITLE = "planted by mallory"


class Planter(Protocol):
    """People's writes, made the way a person makes them (not through the tool)."""

    def forged_event(self, event_id: str) -> str:
        """Text a person types to imitate the tool's marker of ``event_id`` in this tracker."""
        ...

    def person_body(self, incident_id: str, text: str) -> None:
        """A person adds ``text`` to the part of the issue (body, description, page) people own."""
        ...

    def plant_issue(self, incident_id: str) -> str:
        """A person's imitation of the incident's issue, older than any the tool made: the id
        label or property, the tool's ownership markers typed by hand; its handle."""
        ...

    def planted(self, handle: str) -> Any:
        """Everything about a planted issue that a write would change (compared before/after)."""
        ...

    def body(self, incident_id: str) -> str:
        """The text of the tool's issue body (description, page) as a reader sees it."""
        ...

    def title(self, incident_id: str) -> str:
        """The tool's issue title (summary, page name)."""
        ...

    def other_identity(self) -> tuple[dict[str, str], dict[str, Any], str]:
        """Another credential (environment, tracker table overrides) and who it writes as."""
        ...

    def identity(self) -> str:
        """Who the harness's own credential writes as."""
        ...

    def identity_lookups(self) -> int:
        """Requests that asked the tracker who the token is, since the log was reset."""
        ...


def write_incident(tmp: Path, data: dict[str, Any], name: str) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def incident_data(incident_id: str, **extra: Any) -> dict[str, Any]:
    """A small open incident with two timeline entries (explicit ids, as people give them)."""
    data: dict[str, Any] = {
        "id": incident_id,
        "title": f"Checkout errors ({incident_id})",
        "grade": "SEV3",
        "status": "investigating",
        "commander": "alice",
        "detected_at": "2026-03-05T10:00:00+09:00",
        "symptoms": "5xx on /checkout",
        "timeline": [
            {"at": "2026-03-05T10:00:00+09:00", "text": "Alert fired", "id": "fired"},
            {"at": "2026-03-05T10:05:00+09:00", "text": "Rollback started", "id": "rollback"},
        ],
    }
    data.update(extra)
    return data


def snapshot_of(incident_id: str, title: str, grade: str = "SEV4") -> str:
    """A snapshot marker as the tool writes one: what a forger pastes into text they own."""
    data = incident_data(incident_id, title=title, grade=grade, status="detected")
    return markers.snapshot_marker({"v": 1, "incident": data})


def owned_forgery(incident_id: str, title: str = MALLORY_TITLE) -> str:
    """An owned section typed by hand (unsigned): begin, a notice, a snapshot, end."""
    data = incident_data(incident_id, title=title, status="detected")
    return markers.owned_section(incident_id, "0" * 16, f"# {title}", {"v": 1, "incident": data})
