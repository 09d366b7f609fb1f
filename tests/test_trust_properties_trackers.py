"""Property-based, on every tracker's own syntax: people's text never changes the next plan.

``test_trust_properties.py`` runs the property on the memory tracker (GitHub's Markdown
markers). Here the same random text (fragments of every tracker's markers: GitHub's hidden
comments, Jira's footers and anchors, Notion's tags, mixed with arbitrary Unicode) goes into
every field of an incident and into people's comments on the fake GitHub, Jira (Cloud: ADF;
Data Center: wiki markup) and Notion, through the real clients. The next sync plans nothing;
a new entry plans that entry and nothing else; the tool's entries are exactly the incident's.
Fewer examples than the in-memory property: each is a real sync over HTTP.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from syncer import config as config_mod
from syncer import pacing, registry
from syncer.engine import Engine, Options
from tests.conftest import write_config
from tests.contract.test_github import GitHubHarness
from tests.contract.test_jira import JiraHarness
from tests.contract.test_notion import NotionHarness
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira
from tests.fakes.notion import FakeNotion
from tests.test_trust_properties import TEXT, incident

TRACKERS = ["github", "jira-cloud", "jira-dc", "notion"]
ON_TRACKERS = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
_IDS = itertools.count(1)


@pytest.fixture(params=TRACKERS)
def tracker(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Engine]]:
    monkeypatch.setattr(pacing, "_PACERS", {})
    kind = request.param
    app: Any
    harness: Any
    if kind == "github":
        app = FakeGitHub().start()
        harness = GitHubHarness(app)
    elif kind == "notion":
        app = FakeNotion().start()
        harness = NotionHarness(app)
    else:
        app = FakeJira(cloud=kind == "jira-cloud").start()
        harness = JiraHarness(app, cloud=kind == "jira-cloud")
    try:
        for name, value in harness.env.items():
            monkeypatch.setenv(name, value)
        path = write_config(tmp_path / "c.toml", {harness.name: harness.table})
        cfg = config_mod.load(str(path))
        yield harness, Engine(cfg, registry.build_all(cfg))
    finally:
        app.stop()


@ON_TRACKERS
@given(text=TEXT, comment=TEXT)
def test_peoples_text_never_changes_the_next_plan_on_any_tracker(
    tracker: tuple[Any, Engine], text: str, comment: str
) -> None:
    harness, engine = tracker
    incident_id = f"INC-P{next(_IDS)}"
    inc = incident(text, incident_id=incident_id)
    assume(inc is not None)
    assert inc is not None
    (first,) = engine.sync(inc)
    assert first.ok, first.error
    harness.comment(incident_id, f"{comment} #c")  # never equal to an entry ("#e")
    (again,) = engine.sync(inc, Options(dry_run=True))
    assert again.operations == []
    entries = [e.event_id for e in inc.sorted_timeline]
    assert harness.events(incident_id) == entries
    later = incident(text, extra_event=True, incident_id=incident_id)
    assert later is not None
    (plan,) = engine.sync(later, Options(dry_run=True))
    assert plan.operations[0] == "add 1 timeline comment(s): next"
    assert not any("timeline" in op for op in plan.operations[1:])
    (done,) = engine.sync(later)
    assert done.ok, done.error
    assert harness.events(incident_id) == [*entries, "next"]
    (last,) = engine.sync(later, Options(dry_run=True))
    assert last.operations == []
