"""The Korean example as each tracker holds it: no English word outside names, ids and URLs.

``test_korean.py`` checks what the memory tracker receives (Markdown). The real trackers get
other formats (GitHub Markdown bodies and comments, Jira Cloud's ADF, Jira Data Center's wiki
markup, Notion blocks and properties) through code of their own (labels, footers, callouts,
duplicate notes, titles), any of which could carry a Python string literal in English. The
same commands run against each fake, and everything a person reads there is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncer import markers, pacing
from syncer.cli import main
from tests.conftest import BANNER, write_config
from tests.contract.test_github import GitHubHarness
from tests.contract.test_jira import JiraHarness
from tests.contract.test_notion import NotionHarness
from tests.fakes.github import FakeGitHub
from tests.fakes.jira import FakeJira, adf_text
from tests.fakes.notion import FakeNotion
from tests.test_ingest_helpers import AM_EXAMPLE
from tests.test_korean import PROPER_NAMES, _words

# What is no prose: the tool's markers as each tracker shows them, and diagram syntax.
NOT_PROSE = [
    re.compile(r"```mermaid\n.*?```", re.S),  # GitHub: a Mermaid block
    re.compile(r"\{code(?::[^}]*)?\}.*?\{code\}", re.S),  # Jira wiki: code (the diagram)
    re.compile(r"\{color(?::[^}]*)?\}"),  # Jira wiki: the footers' grey
    re.compile(r"incident-syncer:[a-z-]+(?: [a-z_]+=\S+)*"),  # Jira's visible footers
    re.compile(r"\{anchor:incident-syncer-(?:begin|end)\}"),  # Jira's section anchors
]


@pytest.fixture(params=["github", "jira-cloud", "jira-dc", "notion"])
def tracker(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Any]]:
    monkeypatch.setattr(pacing, "_PACERS", {})
    app: Any
    harness: Any
    if request.param == "github":
        app = FakeGitHub().start()
        harness = GitHubHarness(app)
    elif request.param == "notion":
        app = FakeNotion().start()
        harness = NotionHarness(app)
    else:
        app = FakeJira(cloud=request.param == "jira-cloud").start()
        harness = JiraHarness(app, cloud=request.param == "jira-cloud")
    try:
        for name, value in harness.env.items():
            monkeypatch.setenv(name, value)
        write_config(tmp_path / "c.toml", {"t": harness.table})
        yield request.param, app
    finally:
        app.stop()


def _notion_texts(app: FakeNotion) -> list[str]:
    """Page titles and text properties, and every block but code (the tool's data, diagrams)."""
    out: list[str] = []
    for page in app.pages.values():
        for prop in page.get("properties", {}).values():
            for part in prop.get("title") or prop.get("rich_text") or []:
                out.append(part.get("plain_text") or part.get("text", {}).get("content", ""))
    for block in app.blocks.values():
        kind = block["type"]
        if kind == "code":
            continue
        rich = block.get(kind, {}).get("rich_text") or []
        if rich and rich[-1]["annotations"]["code"] and app.tag(block):
            rich = rich[:-1]  # the tool's tag (an identifier)
        out.append("".join(r.get("plain_text", "") for r in rich))
    return out


def _texts(kind: str, app: Any) -> list[str]:
    if kind == "github":
        return [
            text
            for n, issue in app.issues.items()
            for text in (issue["title"], issue["body"] or "", *app.comment_bodies(n))
        ]
    if kind == "notion":
        return _notion_texts(app)
    out = []
    for issue in app.issues.values():
        for value in (issue.fields.get("summary"), issue.fields.get("description")):
            out.append(adf_text(_no_code(value)) if isinstance(value, dict) else str(value or ""))
        out += app.comment_texts(issue)
    return out


def _no_code(node: Any) -> Any:
    """An ADF document without its code blocks (the diagram: syntax, not prose)."""
    if isinstance(node, dict):
        return {k: _no_code(v) for k, v in node.items()}
    if isinstance(node, list):
        return [
            _no_code(n) for n in node if not (isinstance(n, dict) and n.get("type") == "codeBlock")
        ]
    return node


def test_the_korean_example_in_every_tracker_holds_no_english(
    tracker: tuple[str, Any], tmp_path: Path
) -> None:
    kind, app = tracker
    config = str(tmp_path / "c.toml")
    for args in (
        ("sync", str(BANNER)),  # notice, timeline, postmortem, action items
        ("grade", "INC-2024-0212-banner", "SEV2", "--final"),
        ("open", "--title", "결제 지연", "--grade", "SEV1", "--id", "INC-K",
         "--detection", "모니터링 알림", "--commander", "park"),
        ("note", "INC-K", "원인 파악 중"),
        ("resolve", "INC-K", "--resolution", "설정 되돌림"),
        ("ingest", "--source", "alertmanager", str(AM_EXAMPLE)),
    ):  # fmt: skip
        result = CliRunner().invoke(main, ["--config", config, *args])
        assert result.exit_code == 0, result.output
    text = "\n".join(markers.strip(t) for t in _texts(kind, app))
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    user = yaml.safe_load(BANNER.read_text(encoding="utf-8"))  # what people wrote: theirs
    allowed = _words(user) | _words(json.loads(AM_EXAMPLE.read_bytes())) | PROPER_NAMES
    allowed |= _words(["incident-syncer", "INC-2024-0212-banner", "INC-K", "park", "SEV1", "SEV2"])
    alerts = re.findall(r"ALERT-[0-9a-f]+", text)
    english = sorted(_words(text) - allowed - _words(alerts))
    assert english == [], kind
