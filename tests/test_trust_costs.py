"""What the trust rule costs a no-op resync on Notion, request by request.

GitHub's and Jira's no-op resyncs are pinned in ``test_github.py`` and ``test_jira.py``;
this pins Notion's (README, Performance: "no-op resync"): with local state the page and its
blocks, nothing else; an ephemeral runner looks the page up first, and asks who its token
is (``/v1/users/me``) only when it meets unsigned markers, never when they are signed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer import pacing
from syncer.cli import main
from tests.conftest import CHECKOUT, write_config
from tests.fakes.notion import TOKEN, FakeNotion, notion_tracker

KEY = "trust-costs-marker-key-0123456789abcdef"
WITH_STATE = [
    ("GET", "/v1/pages/PAGE"),  # the incident's page, found through the local state
    ("GET", "/v1/blocks/PAGE/children"),  # its blocks
    ("GET", "/v1/blocks/BLOCK/children"),  # the data toggle (digest, snapshot)
    ("GET", "/v1/blocks/PAGE/children"),  # the postmortem's child page
]
LOOKUP = [("GET", "/v1/databases/DB"), ("POST", "/v1/data_sources/SOURCE/query")]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNotion]:
    monkeypatch.setattr(pacing, "_PACERS", {})
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    fake = FakeNotion().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.mark.parametrize("key", [None, KEY], ids=["no key", "marker key"])
def test_a_no_op_resync_on_notion_reads_the_page_and_its_blocks_and_nothing_else(
    app: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    if key:
        monkeypatch.setenv("INCIDENT_SYNCER_MARKER_KEY", key)
    config = write_config(tmp_path / "c.toml", {"notion": notion_tracker(app)})

    def resync() -> list[tuple[str, str]]:
        app.reset_log()
        result = CliRunner().invoke(main, ["--config", str(config), "sync", str(CHECKOUT)])
        assert result.exit_code == 0, result.output
        assert app.writes() == 0
        return [(e.method, _shape(app, e.path)) for e in app.log]

    def sync() -> None:
        result = CliRunner().invoke(main, ["--config", str(config), "sync", str(CHECKOUT)])
        assert result.exit_code == 0, result.output

    sync()
    assert resync() == WITH_STATE
    shutil.rmtree(tmp_path / "state")
    ephemeral = resync()
    who = [("GET", "/v1/users/me")] if key is None else []
    assert sorted(ephemeral) == sorted([*LOOKUP, *WITH_STATE[1:], *who])
    assert resync() == WITH_STATE  # the runner remembers where the page is, and who it is


def _shape(app: FakeNotion, path: str) -> str:
    """The request's path with its ids named for what they are."""

    def name(match: re.Match[str]) -> str:
        value = match.group(0)
        if value in app.pages:
            return "PAGE"
        if value == app.db_id:
            return "DB"
        return "SOURCE" if "data_sources" in path else "BLOCK"

    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", name, path)
