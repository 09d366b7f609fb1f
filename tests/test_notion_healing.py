"""Healing on Notion where it is Notion's own: a postmortem as a child page of the incident page
(no postmortem database), written twice by two runs that raced on one page, and a block already
in the trash (Notion answers 400 to deleting it again; the adapter takes that as done)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from adapters.base import IssueRef, Remote
from adapters.notion import NotionAdapter, page_url
from adapters.notion.blocks import short as short_id
from syncer.cli import main
from tests.conftest import BANNER, write_config
from tests.contract.test_notion import NotionHarness
from tests.fakes.notion import LATEST, TOKEN, FakeNotion, notion_tracker

BANNER_ID = "INC-2024-0212-banner"


def sync(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), "sync", str(BANNER), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_second_child_page_postmortem_is_closed_as_a_duplicate_of_the_first(
    fake_notion: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    harness = NotionHarness(fake_notion)  # no postmortem database: postmortems are child pages
    config = write_config(tmp_path / "incident-syncer.toml", {"notion": harness.table})
    sync(config)
    # A run that read the page before the first published, and then published too.
    with monkeypatch.context() as racing:
        real = NotionAdapter.fetch

        def before_the_postmortem(self: NotionAdapter, ref: IssueRef, incident_id: str) -> Remote:
            remote = real(self, ref, incident_id)
            remote.postmortem, remote.postmortem_digest, remote.action_items = None, None, {}
            return remote

        racing.setattr(NotionAdapter, "fetch", before_the_postmortem)
        sync(config, "--recheck")
    page = harness._page(BANNER_ID)["id"]
    first, second = [
        b["id"] for b in fake_notion.live(page) if b["type"] == "child_page"
    ]  # in the order they were made
    assert harness.postmortems(BANNER_ID) == 2 and harness.action_items(BANNER_ID) == 4

    healed = sync(config, "--recheck")
    kept, dup = first.replace("-", "")[:8], second.replace("-", "")[:8]
    items = [harness.app.tag(b) for b in fake_notion.live(first) if b["type"] == "to_do"]
    assert healed == (
        f"✓ {BANNER_ID} → notion {short_id(page)} {page_url(page)}: updated\n"
        f"    - close duplicate postmortem {dup} (keeping {kept})\n"
        + "".join(
            f"    - close duplicate action item {dup}/{item} (keeping {kept}/{item})\n"
            for item in items
        )
        + "    - update issue body\n"  # it links the kept postmortem again (the racing run's)
    )
    assert (harness.postmortems(BANNER_ID), harness.action_items(BANNER_ID)) == (1, 2)
    assert harness.duplicate_note(dup) == kept
    callout = fake_notion.live(second)[-1]
    assert "".join(r["plain_text"] for r in callout["callout"]["rich_text"]) == (
        "중복된 포스트모템입니다. 포스트모템은 여기에서 관리합니다: "  # the config's language
        f"https://www.notion.so/{first.replace('-', '')}"
    )
    for item in items:  # each duplicate to-do ticked, the kept copy linked under it
        (todo,) = [b for b in fake_notion.live(second) if harness.app.tag(b) == item]
        assert todo["to_do"]["checked"] and harness.duplicate_note(f"{dup}/{item}")

    # Closing again (a retry after a lost answer) says nothing twice and deletes nothing twice.
    fake_notion.reset_log()
    built = adapter(fake_notion, monkeypatch)
    built.close_duplicate(
        IssueRef(dup, page_url(second), second), IssueRef(kept, page_url(first), first)
    )
    assert fake_notion.writes() == 0
    assert sync(config, "--recheck").endswith(": unchanged\n")


def adapter(app: FakeNotion, monkeypatch: pytest.MonkeyPatch) -> NotionAdapter:
    from syncer import config as config_mod
    from syncer import registry

    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    built = registry.build(
        "notion", config_mod.parse({"trackers": {"notion": notion_tracker(app)}}, None)
    )
    assert isinstance(built, NotionAdapter)
    return built


def test_deleting_a_block_already_in_the_trash_is_done(
    fake_notion: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    harness = NotionHarness(fake_notion)
    sync(write_config(tmp_path / "incident-syncer.toml", {"notion": harness.table}))
    block = fake_notion.add_block(harness._page(BANNER_ID)["id"], "a note")
    built = adapter(fake_notion, monkeypatch)
    built._delete(block)
    # Notion's answer to deleting it again, as documented: 400, "Can't edit block that is archived".
    headers = {"Authorization": f"Bearer {TOKEN}", "Notion-Version": LATEST}
    again = httpx.delete(f"{fake_notion.url}/v1/blocks/{block}", headers=headers)
    assert again.status_code == 400
    assert again.json()["message"].startswith("Can't edit block that is archived.")
    built._delete(block)  # an earlier answer was lost: the retry finds it in the trash, done
    assert fake_notion.blocks[block]["in_trash"]
