"""The trust rule across identities: signed markers, the tool's own older unsigned ones, costs.

GITHUB_TOKEN in Actions and a PAT on a laptop write the same issues as two different
identities; so do two Jira accounts or two Notion integrations. With a shared marker key
each accepts the other's markers; without one, only ``trusted_authors`` makes the other's
unsigned markers count. Markers written before signing (unsigned, by the tool's own
identity) keep counting. A sync that meets only signed markers never asks who it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tests.contract.trust import KEY, OTHER_KEY, incident_data, write_incident


class IdentityRules:
    """Signed markers hold across identities; unsigned ones only from the tool's identities."""

    def _as_other(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **table: Any
    ) -> str:
        other_env, overrides, who = harness.other_identity()
        for name, value in other_env.items():
            monkeypatch.setenv(name, value)
        write_config(env["config"], {harness.name: {**harness.table, **overrides, **table}})
        return str(who)

    def _synced(
        self, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, key: str | None, data: Any
    ) -> Path:
        """``data`` written to a file and synced, with ``key`` as the marker key (None: none)."""
        if key:
            monkeypatch.setenv("INCIDENT_SYNCER_MARKER_KEY", key)
        else:
            monkeypatch.delenv("INCIDENT_SYNCER_MARKER_KEY", raising=False)
        path = write_incident(env["tmp"], data, "id.yaml")
        result = self.run(env, "sync", str(path))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        return path

    def _resync(self, harness: Any, env: dict[str, Any], path: Path) -> tuple[int, int]:
        """A resync's (writes, identity lookups)."""
        harness.reset_log()
        result = self.run(env, "sync", str(path))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        return harness.writes(), harness.identity_lookups()

    def test_signed_markers_count_whichever_identity_wrote_them(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        data = incident_data("INC-rot")
        path = self._synced(env, monkeypatch, KEY, data)
        self._as_other(harness, env, monkeypatch)
        assert self._resync(harness, env, path) == (0, 0)
        data["timeline"].append({"at": "2026-03-05T10:50:00+09:00", "text": "x", "id": "other"})
        self._synced(env, monkeypatch, KEY, data)  # written by the other identity
        for name, value in harness.env.items():  # and back to the harness's own credential
            monkeypatch.setenv(name, value)
        write_config(env["config"], {harness.name: harness.table})
        assert self._resync(harness, env, path) == (0, 0)
        assert harness.events("INC-rot") == ["fired", "rollback", "other"]
        assert len(harness.issues("INC-rot")) == 1

    def test_a_rotated_key_still_verifies_while_the_old_one_is_listed(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = self._synced(env, monkeypatch, OTHER_KEY, incident_data("INC-keys"))
        monkeypatch.setenv("INCIDENT_SYNCER_MARKER_KEY", f"{KEY} {OTHER_KEY}")
        self._as_other(harness, env, monkeypatch)
        assert self._resync(harness, env, path) == (0, 0)

    def test_the_tools_own_unsigned_markers_keep_counting_once_a_key_is_set(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        data = incident_data("INC-legacy")
        path = self._synced(env, monkeypatch, None, data)  # as an older version wrote them
        monkeypatch.setenv("INCIDENT_SYNCER_MARKER_KEY", KEY)
        writes, lookups = self._resync(harness, env, path)
        assert writes == 0 and lookups <= 1
        data["timeline"].append({"at": "2026-03-05T10:50:00+09:00", "text": "x", "id": "signed"})
        self._synced(env, monkeypatch, KEY, data)
        assert harness.events("INC-legacy") == ["fired", "rollback", "signed"]

    def test_without_a_key_another_identity_counts_only_when_trusted(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = self._synced(env, monkeypatch, None, incident_data("INC-two"))
        self._as_other(harness, env, monkeypatch, trusted_authors=[harness.identity()])
        assert self._resync(harness, env, path)[0] == 0
        # Without trusted_authors the other identity's markers are people's text: it says so.
        self._as_other(harness, env, monkeypatch)
        result = self.run(env, "sync", str(path), "--dry-run")  # type: ignore[attr-defined]
        assert result.exit_code == 0 and "create issue" in result.output
        assert f"not written by incident-syncer ({harness.identity()};" in result.output

    def test_a_no_op_resync_without_a_key_asks_who_it_is_only_with_no_local_state(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The trust rule's whole cost without a key: a runner with its local state never asks
        (it learned who it is from its own writes); an ephemeral one asks once, then not again."""
        path = self._synced(env, monkeypatch, None, incident_data("INC-free"))
        assert self._resync(harness, env, path) == (0, 0)
        shutil.rmtree(env["state"])
        assert self._resync(harness, env, path) == (0, 1)
        assert self._resync(harness, env, path) == (0, 0)

    def test_a_no_op_resync_with_a_key_never_asks_who_the_token_is(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = self._synced(env, monkeypatch, KEY, incident_data("INC-cost"))
        assert self._resync(harness, env, path) == (0, 0)
