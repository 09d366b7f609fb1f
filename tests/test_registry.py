"""Tracker types: the built-in table and the entry points are one mechanism, and agree."""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.base import IssueRef
from adapters.github import GitHubAdapter
from adapters.memory import MemoryAdapter
from syncer import channel_registry, registry
from syncer.cli import main
from syncer.errors import ConfigError
from tests.conftest import BANNER, BANNER_FIRST_SYNC, ROOT, install_plugin, write_config

GROUP = "incident_syncer.adapters"


class CustomGitHub(GitHubAdapter):
    """A company's own GitHub adapter, shipped in its own package."""


class Incomplete:
    """A would-be adapter that forgot most of the contract."""

    type = "incomplete"

    def find(self, incident_id: str) -> list[IssueRef]:
        return []


def sync(tmp_path: Path, table: dict[str, Any]) -> Any:
    config = write_config(tmp_path / "incident-syncer.toml", {"t": table})
    return CliRunner().invoke(main, ["--config", str(config), "sync", str(BANNER)])


@pytest.mark.parametrize("plugins", [registry.ADAPTERS, channel_registry.CHANNELS])
def test_the_builtin_table_and_the_declared_entry_points_agree(plugins: registry.Plugins) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = project["project"]["entry-points"][plugins.group]
    table = {name: b.target for name, b in plugins.builtin.items()}
    assert declared == table
    installed = distribution("incident-syncer").entry_points.select(group=plugins.group)
    assert {ep.name: ep.value for ep in installed} == table
    # What the table asks people to install is what the project depends on.
    needs = " ".join(project["project"]["dependencies"])
    assert all(b.package in needs for b in plugins.builtin.values())


def test_a_third_party_tracker_type_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(monkeypatch, GROUP, "folder", MemoryAdapter)
    assert "folder" in registry.known_types()
    result = sync(tmp_path, {"type": "folder", "store": "plugin"})
    assert result.exit_code == 0, result.output
    assert result.output == (
        "✓ INC-2024-0212-banner → t #1 memory://t/1: created\n"
        + BANNER_FIRST_SYNC
        + "    - update issue body; set status → closed\n"
    )


def test_an_entry_point_replaces_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(monkeypatch, GROUP, "github", CustomGitHub)
    assert registry.adapter_class("github") is CustomGitHub


def test_a_missing_dependency_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [
        m for m in sys.modules if m == "adapters.notion" or m.startswith("adapters.notion.")
    ]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "notion_client", None)  # as if it were not installed
    with pytest.raises(ConfigError) as failure:
        registry.adapter_class("notion")
    assert str(failure.value) == (
        "tracker type 'notion' needs the package 'notion-client' (pip install notion-client): "
        "import of notion_client halted; None in sys.modules"
    )


def test_a_class_missing_part_of_the_contract_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(monkeypatch, GROUP, "incomplete", Incomplete)
    result = sync(tmp_path, {"type": "incomplete"})
    assert result.exit_code == 2
    assert result.output == (
        "Error: tracker type 'incomplete' (tests.test_registry:Incomplete) does not implement "
        "the adapter contract: missing Settings, add_events, capabilities, close_duplicate, "
        "create, create_action_item, default_limits, events_per_write, fetch, libraries, "
        "publish_postmortem, status_key, update\n"
    )


def test_remove_repeats_is_part_of_the_contract_only_with_the_repeats_capability() -> None:
    from adapters.base import CAP_REPEATS, missing_members
    from adapters.memory import MemoryAdapter

    members = {m: getattr(MemoryAdapter, m) for m in dir(MemoryAdapter) if not m.startswith("_")}
    minimal = type("Minimal", (), {k: v for k, v in members.items() if k != "remove_repeats"})
    assert CAP_REPEATS in minimal.capabilities and missing_members(minimal) == ["remove_repeats"]
    minimal.capabilities = minimal.capabilities - {CAP_REPEATS}
    assert missing_members(minimal) == []
