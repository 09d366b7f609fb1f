"""Healing everything the tool created, on the memory tracker (tier 1): duplicate issues,
postmortems and action items closed as duplicates of the kept ones, with a link; a cached ref
never hides them when the engine has reason to look (after a create, on ``--recheck``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters import memory
from adapters.base import IssueRef
from syncer import config as config_mod
from syncer import registry
from syncer.engine import Engine, Options
from syncer.state.sqlite import SQLiteState
from tests.conftest import write_config
from tests.test_engine import incident


def engine(tmp_path: Path, folder: str, state: bool = True) -> Engine:
    """One runner: the shared in-process tracker "h", a state of its own (or none)."""
    (tmp_path / folder).mkdir(exist_ok=True)
    path = write_config(tmp_path / folder / "c.toml", {"mem": {"type": "memory", "store": "h"}})
    cfg = config_mod.load(str(path))
    return Engine(
        cfg, registry.build_all(cfg), state=SQLiteState(cfg.state_path()) if state else None
    )


def live(kind: str) -> list[dict[str, Any]]:
    """The tracker's objects of ``kind`` not closed as duplicates, oldest first."""
    store = memory.store("h")
    return [store.issues[n] for n in sorted(store.issues) if store.issues[n]["kind"] == kind]


def race(tmp_path: Path) -> None:
    """Two runners that could not see each other: two issues, postmortems, sets of items."""
    first, second = engine(tmp_path, "a"), engine(tmp_path, "b")
    first.sync(incident())
    blind = second.adapters["mem"]
    real_find = blind.find
    blind.find = lambda incident_id: []  # type: ignore[method-assign]  # its search saw nothing yet
    second.reconciler.find = lambda name, adapter, incident_id: []  # type: ignore[method-assign]
    second.sync(incident())
    blind.find = real_find  # type: ignore[method-assign]
    assert (len(live("incident")), len(live("postmortem")), len(live("action_item"))) == (2, 2, 4)


def test_a_stateless_sync_closes_every_duplicate_the_race_left(tmp_path: Path) -> None:
    race(tmp_path)
    results = engine(tmp_path, "c", state=False).sync(incident())
    (result,) = results
    assert result.ok and result.key == "#1"
    closes = [op for op in result.operations if op.startswith("close duplicate")]
    assert [op.split(" #")[0] for op in closes] == [
        "close duplicate postmortem",
        "close duplicate action item",
        "close duplicate action item",
        "close duplicate",  # the younger issue last, once its parts are closed
    ]
    assert (len(live("incident")), len(live("postmortem")), len(live("action_item"))) == (1, 1, 2)
    store = memory.store("h")
    dups = [i for i in store.issues.values() if i["kind"] == "duplicate"]
    assert len(dups) == 4 and all(i["state"] == "closed" for i in dups)
    kept = {i["number"] for i in live("postmortem") + live("action_item") + live("incident")}
    notes = [memory.texts(i)[-1].splitlines()[0].removeprefix("Duplicate of #") for i in dups]
    assert all(note.isdigit() for note in notes)
    assert {int(note) for note in notes} <= kept
    # Healed once: the next stateless sync finds nothing more to close.
    (again,) = engine(tmp_path, "d", state=False).sync(incident())
    assert again.operations == []


def test_a_cached_ref_hides_nothing_on_recheck(tmp_path: Path) -> None:
    race(tmp_path)
    cached = engine(tmp_path, "a")  # its state knows issue #1: no reason to look, by default
    cached.sync(incident())
    assert len(live("incident")) == 2  # the younger issue is not looked for
    (rechecked,) = cached.sync(incident(), Options(recheck=True))
    assert "close duplicate #" in " ".join(rechecked.operations)
    assert (len(live("incident")), len(live("postmortem")), len(live("action_item"))) == (1, 1, 2)


def test_after_creating_the_engine_looks_again_and_yields_to_an_older_issue(
    tmp_path: Path,
) -> None:
    first, second = engine(tmp_path, "a"), engine(tmp_path, "b")
    first.sync(incident())
    looked: list[str] = []
    real = second.reconciler.find

    def late_search(name: str, adapter: Any, incident_id: str) -> list[IssueRef]:
        looked.append(incident_id)
        return [] if len(looked) == 1 else real(name, adapter, incident_id)  # lags once

    second.reconciler.find = late_search  # type: ignore[method-assign]
    (result,) = second.sync(incident())
    # Created, looked again without the cache before anything hung off the new issue, found
    # the older one: closed its own as that one's duplicate and carried on there.
    assert result.created and len(looked) == 3
    assert result.key == "#1"
    assert result.operations[1:] == ["close duplicate issue #5 (keeping #1)"]
    assert (len(live("incident")), len(live("postmortem")), len(live("action_item"))) == (1, 1, 2)
    assert second.state is not None
    assert second.state.get_ref("mem", incident().id) == ("#1", "memory://mem/1", "1")


def repeat_entries() -> list[str]:
    """A second run posted every entry again on the kept issue (it read before they landed)."""
    (issue,) = live("incident")
    tool = [c for c in issue["comments"] if c["author"] == memory.TOOL]
    issue["comments"] += [{"author": memory.TOOL, "body": c["body"]} for c in tool]
    return [c["body"] for c in tool]


def test_a_dry_run_counts_one_write_per_repeated_entry_and_a_sync_removes_them(
    tmp_path: Path,
) -> None:
    memory.reset("h")
    engine(tmp_path, "a").sync(incident())
    bodies = repeat_entries()
    ids = [e.event_id for e in incident().sorted_timeline]
    (dry,) = engine(tmp_path, "b", state=False).sync(incident(), Options(dry_run=True))
    assert dry.operations == [f"remove {len(ids)} repeated timeline comment(s): {', '.join(ids)}"]
    assert dry.would_write == len(ids)
    (result,) = engine(tmp_path, "c", state=False).sync(incident())
    assert result.ok and result.writes == len(ids), result.operations
    (issue,) = live("incident")
    assert [c["body"] for c in issue["comments"]] == bodies


def test_an_adapter_without_the_capability_leaves_repeats_and_still_syncs(
    tmp_path: Path, monkeypatch: Any
) -> None:
    memory.reset("h")
    engine(tmp_path, "a").sync(incident())
    repeat_entries()
    monkeypatch.setattr(
        memory.MemoryAdapter, "capabilities", memory.MemoryAdapter.capabilities - {"repeats"}
    )
    (result,) = engine(tmp_path, "b", state=False).sync(incident())
    assert result.ok and result.operations == [] and result.writes == 0
