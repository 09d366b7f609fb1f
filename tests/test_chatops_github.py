"""ChatOps and pull-request previews talk to GitHub through the GitHub tracker's own client."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer import chatops, config, registry
from syncer.errors import InputErrors
from tests.conftest import write_config
from tests.fakes.github import FakeGitHub, github_tracker


def load(tmp_path: Path, **tables: dict[str, object]) -> config.Config:
    return config.load(str(write_config(tmp_path / "incident-syncer.toml", tables)))


def test_the_trackers_settings_token_and_pacer_are_used(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    cfg = load(tmp_path, gh=github_tracker(fake_github, writes_per_second=5))
    api = chatops.github_api(cfg, fake_github.full_name)
    tracker = registry.build("gh", cfg)
    assert api.client.pacer is tracker.pacer  # one budget for the syncs and the replies
    assert api.client.settings.base_url == fake_github.url
    other = chatops.github_api(cfg, "acme/website")  # a pull request's preview elsewhere
    assert other.client.settings.repo == "acme/website"
    assert other.client.pacer is tracker.pacer


def test_the_table_is_validated_like_the_trackers(fake_github: FakeGitHub, tmp_path: Path) -> None:
    cfg = load(tmp_path, gh={**github_tracker(fake_github), "colour": "red"})
    with pytest.raises(InputErrors) as failure:
        chatops.github_api(cfg, fake_github.full_name)
    assert (
        str(failure.value)
        == f"{tmp_path / 'incident-syncer.toml'}:14: trackers.gh.colour: unknown key"
    )


def test_a_secondary_limit_is_waited_out_and_retried(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    number = fake_github.add_issue("t", "b", ["incident"])
    fake_github.add_comment(number, "first")
    api = chatops.github_api(load(tmp_path, gh=github_tracker(fake_github)), fake_github.full_name)
    fake_github.reset_log()
    fake_github.fail_next_secondary(403, retry_after="0")
    assert [c["body"] for c in api.comments(number)] == ["first"]
    assert [e.status for e in fake_github.entries("GET")] == [403, 200]
    assert api.client.pacer.penalties == 1
