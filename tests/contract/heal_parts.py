"""The healing rule for what hangs off an issue: two runs that raced (neither saw the other's
issue) each published a postmortem and created the action items; the next stateless sync closes
the younger run's postmortem and items as duplicates of the kept ones, each with a link to the
one kept, and the sync after that finds nothing more to do."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from tests.conftest import BANNER

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
