"""The healing rule for what hangs off an issue: two runs that raced (neither saw the other's
issue) each published a postmortem and created the action items; the next stateless sync closes
the younger run's postmortem and items as duplicates of the kept ones, each with a link to the
one kept, and the sync after that finds nothing more to do. Runs that raced on one issue each
posted the timeline entries they had not seen yet: the next stateless sync removes the tool's
repeated entries, keeping the oldest copy of each and every comment a person wrote."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from tests.conftest import BANNER

ENTRIES = "test_repeated_timeline_entries_are_removed_keeping_the_oldest"
LINE = re.compile(r"    - close duplicate (postmortem |action item )?(\S+) \((keeping .+)\)")


class PartsHealing:
    def test_duplicate_postmortems_and_action_items_are_closed_with_a_link(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from syncer import registry
        from tests.contract.suite import load_yaml, shown

        data = load_yaml(BANNER)
        incident_id, items = data["id"], len(data["postmortem"]["action_items"])
        assert self.run(env, "sync", str(BANNER)).exit_code == 0  # type: ignore[attr-defined]
        # The racing run: no state, and its lookups (the first, and the one after creating)
        # see nothing yet; it makes a second issue, postmortem and set of items.
        shutil.rmtree(env["state"])
        with monkeypatch.context() as blind:
            adapter = registry.adapter_class(harness.table["type"])
            blind.setattr(adapter, "find", lambda self, incident_id: [])
            raced = self.run(env, "sync", str(BANNER))  # type: ignore[attr-defined]
        assert raced.exit_code == 0, raced.output
        both = set(harness.issues(incident_id))
        assert len(both) == 2

        shutil.rmtree(env["state"])
        result = self.run(env, "sync", str(BANNER))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        head, *ops = shown(result).splitlines()
        # The older issue is kept (a tracker that dates to the minute orders one minute by id).
        (kept,) = re.findall(rf"^✓ {incident_id} → {harness.name} (\S+) <url>: updated$", head)
        (duplicate,) = both - {kept}
        closes = [m.groups() for op in ops if (m := LINE.fullmatch(op))]
        assert [what for what, _, _ in closes] == [
            "postmortem ",
            *["action item "] * items,
            None,  # the younger issue last, once what hangs off it is closed
        ], result.output
        assert closes[-1][1:] == (duplicate, "keeping the older one")
        # Closing is all there is to do; unless the postmortem kept is the racing run's (where a
        # tracker orders two made in one minute by id), which then links the kept issue.
        kept_pm = closes[0][2].removeprefix("keeping ")
        others = [op for op in ops if not LINE.fullmatch(op)]
        assert set(others) <= {f"    - update postmortem {kept_pm}", "    - update issue body"}
        # Each part's note links the one kept, as the tracker shows it.
        for _what, part, keeping in closes[:-1]:
            assert harness.duplicate_note(part) == keeping.removeprefix("keeping "), part
        assert harness.duplicate_note(duplicate) == kept
        assert harness.issues(incident_id) == [kept]
        assert (harness.postmortems(incident_id), harness.action_items(incident_id)) == (1, items)

        shutil.rmtree(env["state"])
        harness.reset_log()
        again = self.run(env, "sync", str(BANNER))  # type: ignore[attr-defined]
        assert shown(again) == f"✓ {incident_id} → {harness.name} {kept} <url>: unchanged\n"
        assert harness.writes() == 0

    def test_repeated_timeline_entries_are_removed_keeping_the_oldest(
        self, harness: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from adapters.base import Remote
        from syncer import registry
        from tests.contract.suite import load_yaml, shown

        incident_id = load_yaml(BANNER)["id"]
        assert self.run(env, "sync", str(BANNER)).exit_code == 0  # type: ignore[attr-defined]
        first = harness.events(incident_id)
        assert len(first) == len(set(first)) >= 3
        # A person quotes the first entry, the tool's marker of it typed along.
        quote = f"As the timeline said at the start:\n{harness.forged_event(first[0])}"
        harness.comment(incident_id, quote)
        # The racing run: no state, and its read of the issue came before the first two entries
        # landed (another run was posting them): it posts them again, after the others.
        shutil.rmtree(env["state"])
        adapter = registry.adapter_class(harness.table["type"])
        fetch = adapter.fetch

        def early(self: Any, ref: Any, incident_id: str) -> Remote:
            remote: Remote = fetch(self, ref, incident_id)
            remote.events = [e for e in remote.events if e not in first[:2]]
            return remote

        with monkeypatch.context() as late:
            late.setattr(adapter, "fetch", early)
            raced = self.run(env, "sync", str(BANNER))  # type: ignore[attr-defined]
        assert raced.exit_code == 0, raced.output
        assert harness.events(incident_id) == [*first, *first[:2]]

        shutil.rmtree(env["state"])
        result = self.run(env, "sync", str(BANNER))  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        (key,) = harness.issues(incident_id)
        assert shown(result) == (
            f"✓ {incident_id} → {harness.name} {key} <url>: updated\n"
            f"    - remove 2 repeated timeline comment(s): {first[0]}, {first[1]}\n"
        )
        # The oldest copies kept (a younger one kept would put these two last).
        assert harness.events(incident_id) == first
        assert [t for t in harness.said(incident_id) if "As the timeline said" in t] != []

        shutil.rmtree(env["state"])
        harness.reset_log()
        again = self.run(env, "sync", str(BANNER))  # type: ignore[attr-defined]
        assert shown(again) == f"✓ {incident_id} → {harness.name} {key} <url>: unchanged\n"
        assert harness.writes() == 0
