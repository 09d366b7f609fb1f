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


@pytest.mark.parametrize("database", [True, False], ids=["postmortem-database", "child-page"])
def test_a_postmortem_two_runs_republished_at_once_is_written_again_whole(
    fake_notion: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: bool
) -> None:
    """Two runs that both rewrite the incident's one postmortem (neither holding a lock the other
    sees) each append their copy after the part they kept: the page holds the rewritten part
    twice, with two end tags and every to-do twice. That postmortem is not the one its digest
    names, so the next sync writes it again whole, rather than trust the end tag at the bottom."""
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    overrides = {"postmortem_database_id": fake_notion.pm_db_id} if database else {}
    harness = NotionHarness(fake_notion, **overrides)
    configs = []
    for name in ("first", "a", "b", "last"):  # four runners, each with a state of its own
        (tmp_path / name).mkdir()
        configs.append(
            write_config(tmp_path / name / "incident-syncer.toml", {"notion": harness.table})
        )
    first, run_a, run_b, last = configs
    sync(first)
    (postmortem,) = harness._postmortems(BANNER_ID)
    edited = tmp_path / "edited.yaml"  # the postmortem's summary changed: both runs rewrite it
    edited.write_text(
        BANNER.read_text(encoding="utf-8").replace("약 38분간", "38분 동안"), encoding="utf-8"
    )

    def run(config: Path) -> str:
        result = CliRunner().invoke(main, ["--config", str(config), "sync", str(edited)])
        assert result.exit_code == 0, result.output
        return result.output

    real = NotionAdapter._delete
    raced: list[str] = []  # run b's output, once it has run

    def the_other_run_meanwhile(self: NotionAdapter, block_id: str) -> None:
        if not raced:  # run a has read the postmortem and is about to rewrite its tail
            raced.append("")
            raced[0] = run(run_b)  # run b reads, deletes and appends in the meantime
        real(self, block_id)

    with monkeypatch.context() as racing:
        racing.setattr(NotionAdapter, "_delete", the_other_run_meanwhile)
        run(run_a)
    pm_id = postmortem["id"].replace("-", "")[:8]
    assert raced and f"    - update postmortem {pm_id}\n" in raced[0]

    def ends() -> list[str]:
        tags = [harness.app.tag(b) or "" for b in fake_notion.live(postmortem["id"])]
        return [t for t in tags if t.startswith("incident-syncer end ")]

    assert len(ends()) == 2 and harness.action_items(BANNER_ID) == 4  # the race's leftovers

    healed = run(last)
    page = harness._page(BANNER_ID)["id"]
    assert healed == (
        f"✓ {BANNER_ID} → notion {short_id(page)} {page_url(page)}: updated\n"
        f"    - update postmortem {pm_id}\n"
        "    - update issue body\n"  # the racing runs left two notices on the page too
    )
    assert len(ends()) == 1 and harness.action_items(BANNER_ID) == 2
    assert len(harness._postmortems(BANNER_ID)) == 1
    assert run(last).endswith(": unchanged\n")


@pytest.mark.parametrize("what", ["incident page", "database postmortem"])
def test_a_page_closed_again_keeps_one_suffix_and_writes_nothing(
    fake_notion: FakeNotion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """A retry after a lost answer, or several runs healing one race at once, close the same
    duplicate again: its Incident ID says 'duplicate of' once (it said so once per closer)."""
    monkeypatch.setenv("NOTION_TOKEN", TOKEN)
    harness = NotionHarness(fake_notion, postmortem_database_id=fake_notion.pm_db_id)
    sync(write_config(tmp_path / "incident-syncer.toml", {"notion": harness.table}))
    if what == "incident page":
        original = harness._page(BANNER_ID)["id"]
    else:
        (original,) = [p["id"] for p in harness._postmortems(BANNER_ID)]
    second = fake_notion.copy_page(original, lambda block: True)
    built = adapter(fake_notion, monkeypatch)
    duplicate = IssueRef(short_id(second), page_url(second), second)
    keep = IssueRef(short_id(original), page_url(original), original)
    built.close_duplicate(duplicate, keep)
    fake_notion.reset_log()
    built.close_duplicate(duplicate, keep)
    assert fake_notion.writes() == 0
    rich = fake_notion.pages[second]["properties"]["Incident ID"]["rich_text"]
    assert "".join(r["plain_text"] for r in rich) == f"{BANNER_ID} (duplicate of {keep.key})"
