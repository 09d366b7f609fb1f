"""Property-based: people's text, however much of the tool's marker syntax it carries, is data.

Random text (fragments of every marker the tool writes, in every tracker's syntax, mixed
with arbitrary Unicode) goes into every field of an incident, its timeline, its postmortem
and people's comments. Rendered into any format it carries no active marker, and synced it
never changes what the next sync plans: nothing hidden, nothing posted twice, nothing
grown, nothing read as the tool's data.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters import memory
from syncer import config as config_mod
from syncer import markers, markup, registry
from syncer.cli import main
from syncer.engine import Engine, Options
from syncer.model import Incident
from syncer.render import Renderer
from tests.conftest import write_config

FRAGMENTS = [
    "<!-- incident-syncer:event id=fired -->",
    "<!-- incident-syncer:event id=next sig=0123456789abcdef -->",
    "<!-- incident-syncer:begin id=INC-P digest=0000000000000000 -->",
    "<!-- incident-syncer:end -->",
    "<!-- incident-syncer:action id=INC-P item=a-1 -->",
    "<!-- incident-syncer:postmortem id=INC-P digest=x -->",
    markers.snapshot_marker({"v": 1, "incident": {"id": "INC-OTHER", "title": "hijack"}}),
    "incident-syncer:event id=next",
    "{anchor:incident-syncer-begin}",
    "{anchor:incident-syncer-end}",
    "⟨fired⟩",
    "`⟨next⟩`",
    "⟨incident-syncer notice INC-P 0000000000000000⟩",
    "⟨incident-syncer data INC-P⟩",
    "incident&#45;syncer&#58;event id=next",
    "incident\\-syncer\\:event id=next",
    "<!--",
    "-->",
    "```",
    "    indented",
    "> quoted",
    "|",
    "\n",
    "\n\n",
    " sig:0123456789abcdef",
    "{{ 7*7 }}",
]
TEXT = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
    ),
    min_size=1,
    max_size=6,
).map("".join)
# Patterns that would make a marker out of text, per tracker: the adapters' own readers.
ACTIVE = [
    re.compile(r"<!--\s*incident-syncer:"),  # GitHub, memory (hidden comments)
    re.compile(r"incident-syncer:event id="),  # Jira's footer
    re.compile(r"(?i)\{anchor:incident-syncer-(begin|end)\}"),  # Jira's owned section
    re.compile(r"⟨[A-Za-z0-9]"),  # Notion tags
]
PROPERTIES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def incident(
    text: str, *, extra_event: bool = False, incident_id: str = "INC-P"
) -> Incident | None:
    """An incident with ``text`` in every field people write (None if the model refuses it)."""
    one_line = " ".join(text.split())[:200] or "x"
    timeline: list[dict[str, Any]] = [
        {
            "at": "2026-03-05T10:00:00+09:00",
            "text": f"{text} #e",
            "id": "fired",
            "author": one_line,
        },
        {"at": "2026-03-05T10:05:00+09:00", "text": f"Rollback {text} #e", "kind": "action"},
    ]
    if extra_event:
        timeline.append({"at": "2026-03-05T10:30:00+09:00", "text": "Recovered #e", "id": "next"})
    data = {
        "id": incident_id,
        "title": one_line,
        "grade": "SEV2",
        "status": "resolved",
        "commander": one_line,
        "services": [one_line],
        "detected_at": "2026-03-05T10:00:00+09:00",
        "mitigated_at": "2026-03-05T10:20:00+09:00",
        "resolved_at": "2026-03-05T10:40:00+09:00",
        "detection": text,
        "symptoms": text,
        "customer_impact": text,
        "cause": text,
        "resolution": text,
        "links": [{"title": one_line, "url": "https://example.com/x"}],
        "timeline": timeline,
        "postmortem": {
            "author": one_line,
            "summary": text,
            "root_cause": text,
            "five_whys": [{"q": text, "a": text}],
            "lessons": {"went_well": [text], "went_poorly": [text], "lucky": [text]},
            "action_items": [{"title": one_line, "owner": one_line, "id": "a-1"}],
        },
    }
    cfg = config_mod.parse({}, None)
    try:
        return Incident.model_validate(data, context=cfg.context())
    except ValueError:
        return None


def texts_of(value: Any) -> list[str]:
    """Every string inside a converted document (ADF nodes, Notion blocks)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts_of(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts_of(v)]
    return []


def active(text: str) -> list[str]:
    return [p.pattern for p in ACTIVE if p.search(text)]


@PROPERTIES
@given(text=TEXT)
def test_no_rendered_document_carries_an_active_marker_in_any_format(text: str) -> None:
    inc = incident(text)
    assume(inc is not None)
    assert inc is not None
    renderer = Renderer(config_mod.parse({"syncer": {"language": "en"}}, None))
    for doc in ("notice", "postmortem"):
        md = renderer.render(doc, inc)
        assert active(md) == [] and markers.find_all(md) == []
        assert active(markup.to_jira_wiki(md)) == []
        assert active("\n".join(texts_of(markup.to_adf(md)))) == []
        notion = "".join(texts_of(markup.to_notion_blocks(md)))
        assert active(notion) == []
    for event in inc.timeline:
        assert active(renderer.event_text(inc, event)) == []


@pytest.fixture
def sync_engine(tmp_path: Path) -> Engine:
    path = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "prop"}})
    cfg = config_mod.load(str(path))
    return Engine(cfg, registry.build_all(cfg))


@PROPERTIES
@given(text=TEXT, comment=TEXT)
def test_peoples_text_never_changes_the_plan_of_the_next_sync(
    sync_engine: Engine, text: str, comment: str
) -> None:
    inc = incident(text)
    assume(inc is not None)
    assert inc is not None
    store = memory.store("prop")  # the adapter's own store: emptied between examples
    store.issues.clear()
    (first,) = sync_engine.sync(inc)
    assert first.ok, first.error
    (issue,) = [i for i in store.issues.values() if i["kind"] == "incident"]
    # People comment with the same kind of text (never equal to an entry: "#c", not "#e").
    issue["comments"].append({"author": "mallory", "body": f"{comment} #c"})
    body = issue["body"]
    (again,) = sync_engine.sync(inc, Options(dry_run=True))
    assert again.operations == []
    tool = [c["body"] for c in issue["comments"] if c["author"] == memory.TOOL]
    assert [markers.trailing(c, "event")["id"] for c in tool] == [  # type: ignore[index]
        e.event_id for e in inc.sorted_timeline
    ]
    # A new entry plans exactly what it plans for plain text: one comment, the postmortem's
    # and the notice's timelines.
    later = incident(text, extra_event=True)
    assert later is not None
    (plan,) = sync_engine.sync(later, Options(dry_run=True))
    assert plan.operations == [
        "add 1 timeline comment(s): next",
        "update postmortem #2",
        "update issue body",
    ]
    sync_engine.sync(later)
    assert len(issue["body"]) - len(body) < 400  # one table row more, never a copy of the body
    (last,) = sync_engine.sync(later, Options(dry_run=True))
    assert last.operations == []


# Alert senders' text: the same property for what arrives in a webhook body.

_ALERTS = itertools.count(1)


@PROPERTIES
@given(summary=TEXT, description=TEXT, label=TEXT)
def test_alert_text_never_hides_duplicates_or_grows_anything(
    tmp_path: Path, summary: str, description: str, label: str
) -> None:
    """Random text, marker fragments included, in an alert's summary, description and a label:
    the firing notification posts one entry, its repeat writes nothing, the resolve posts one
    more, and each entry carries exactly one marker, the tool's own at its end."""
    config = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "alerts"}})
    store = memory.store("alerts")
    alert = {
        "key": f"batch-{next(_ALERTS)}",
        "started_at": "2026-03-05T03:05:40+09:00",
        "title": "Settlement batch failed",
        "summary": summary,
        "description": description,
        "severity": "error",
        "labels": {"job": label},
    }
    path = tmp_path / "alert.json"

    def ingest(status: str) -> str:
        path.write_text(json.dumps({**alert, "status": status}), encoding="utf-8")
        result = CliRunner().invoke(
            main, ["--config", str(config), "ingest", "--source", "generic", str(path), "--json"]
        )
        assert result.exit_code == 0, result.output
        return str(json.loads(result.output.splitlines()[0])["incident"])

    incident_id = ingest("firing")
    (issue,) = [
        i for i in store.issues.values() if i["kind"] == "incident" and i["incident"] == incident_id
    ]
    assert len(issue["comments"]) == 1
    body = issue["body"]
    store.calls.clear()
    ingest("firing")  # the repeat notification
    assert store.writes() == 0 and issue["body"] == body
    ingest("resolved")
    assert len(issue["comments"]) == 2
    for comment in issue["comments"]:
        assert len(markers.find_all(comment["body"])) == 1
        assert markers.trailing(comment["body"], "event") is not None
    assert len(re.findall(r"<!--\s*incident-syncer:snapshot", issue["body"])) == 1
    assert [m.kind for m in markers.find_all(issue["body"])].count(markers.BEGIN) == 1
