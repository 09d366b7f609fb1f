"""Healing on Jira, kind for kind: a postmortem is only ever closed as a duplicate of the kept
postmortem, an action item only of the kept copy of that item, never one for the other; and the
note on each says which one is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.jira import JiraAdapter
from tests.conftest import BANNER
from tests.contract.suite import load_yaml
from tests.test_jira import BANNER_ID, Jira, _jira


@pytest.fixture
def jira(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Jira]:
    yield from _jira(tmp_path, monkeypatch, cloud=True)


def test_an_item_the_kept_postmortem_lacks_is_never_closed_as_a_duplicate_of_the_postmortem(
    jira: Jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = load_yaml(BANNER)
    first_item, second_item = data["postmortem"]["action_items"]
    data["postmortem"]["action_items"] = [first_item]
    jira.sync(jira.write(data))  # one action item so far
    # A racing run that saw nothing of the first and knew of the second item already.
    jira.forget()
    with monkeypatch.context() as blind:
        blind.setattr(JiraAdapter, "find", lambda self, incident_id: [])
        jira.sync(BANNER)
    pm, dup_pm = jira.of_kind("postmortem", BANNER_ID)
    (old_item, dup_item, orphan) = jira.of_kind("action", BANNER_ID)
    issue, dup_issue = jira.of_kind("incident", BANNER_ID)

    jira.forget()
    healed = jira.sync(BANNER)
    # The kept postmortem gets the second item; the racing run's copy of the first item is
    # closed in favour of the kept one, and its copy of the second is left for now: it is no
    # duplicate of the postmortem, and there is no other copy of it yet.
    new_item = jira.of_kind("action", BANNER_ID)[-1]
    assert jira.screen(healed.output) == (
        f"✓ {BANNER_ID} → jira {issue.key} <jira>/browse/{issue.key}: updated\n"
        f"    - update postmortem {pm.key}\n"  # it lists the second item now
        f"    - create action item {second_item['title']!r}\n"
        f"    - close duplicate postmortem {dup_pm.key} (keeping {pm.key})\n"
        f"    - close duplicate action item {dup_item.key} (keeping {old_item.key})\n"
        f"    - close duplicate {dup_issue.key} (keeping the older one)\n"
        "    - update issue body\n"  # it links the second item
    )
    assert orphan.properties["incident-syncer"]["kind"] == "action"  # still open, untouched

    # The next lookup lists both copies of the second item: the orphan goes, for the copy kept.
    jira.forget()
    again = jira.sync(BANNER)
    assert jira.screen(again.output) == (
        f"✓ {BANNER_ID} → jira {issue.key} <jira>/browse/{issue.key}: updated\n"
        f"    - close duplicate action item {orphan.key} (keeping {new_item.key})\n"
    )
    for dup, keep in ((dup_pm, pm), (dup_item, old_item), (orphan, new_item)):
        assert dup.properties["incident-syncer"] | {"sig": ""} == dup.properties[
            "incident-syncer"
        ] | {"kind": "duplicate", "of": keep.key, "sig": ""}
        assert jira.fake.comment_texts(dup)[-1] == (
            f"Duplicate of {keep.key} ({jira.fake.url}/browse/{keep.key}): "
            f"incident-syncer keeps {keep.key}."
        )
    jira.forget()
    assert jira.screen(jira.sync(BANNER).output).endswith(": unchanged\n")
