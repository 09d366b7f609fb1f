"""Issue 4's acceptance on Jira: the CLI, the real ``jira`` client, the fake Jira server.

Each test asserts the fake's final state *and* its request log (what was read, what was
written, with which body and headers). ``dc`` plays Jira Data Center (API v2, wiki markup,
``/search``); ``cloud`` plays Jira Cloud (API v3, ADF, ``/search/jql``).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syncer.cli import main
from tests.conftest import BANNER, CHECKOUT, ROOT, Workspace, write_config
from tests.contract.suite import event_ids, load_yaml, regrade
from tests.fakes.clock import FakeClock
from tests.fakes.jira import TEXT_LIMIT, FakeJira, Issue, adf_text, jira_tracker

CHECKOUT_ID = "INC-2024-0305-checkout"
BANNER_ID = "INC-2024-0212-banner"
EVENT = re.compile(r"incident-syncer:event id=([A-Za-z0-9._-]+)")
PATHS = {
    "mitigated": "Start Progress",
    "resolved": ["Start Progress", "Resolve"],
    "closed": ["Start Progress", "Resolve"],
}


class Jira(Workspace):
    """A fake Jira, a config pointing at it, and the CLI."""

    def __init__(self, fake: FakeJira, tmp: Path, cloud: bool) -> None:
        self.fake = fake
        self.tmp = tmp
        self.cloud = cloud
        self.configure()

    def table(self, **overrides: Any) -> dict[str, Any]:
        table = jira_tracker(
            self.fake,
            cloud=self.cloud,
            transitions=PATHS,
            priority={"SEV1": "Highest", "SEV2": "High", "SEV3": "Medium"},
            requests_per_second=1000,
            burst=50,
        )
        table.update(overrides)
        return {k: v for k, v in table.items() if v is not None}

    def configure(self, extra: str = "", language: str = "ko", **overrides: Any) -> None:
        self.config = write_config(
            self.tmp / "incident-syncer.toml",
            {"jira": self.table(**overrides)},
            extra=extra,
            language=language,
        )

    def volatile(self) -> dict[str, object]:
        return {"jira": self.fake.url, "tmp": self.tmp}

    # The fake's state, seen as incidents.

    def incident(self, incident_id: str) -> Issue:
        (issue,) = self.fake.issues_labelled(f"incident-id-{incident_id}")
        return issue

    def of_kind(self, kind: str, incident_id: str) -> list[Issue]:
        return [
            i
            for i in sorted(self.fake.issues.values(), key=lambda i: int(i.id))
            if (i.properties.get("incident-syncer") or {}).get("kind") == kind
            and i.properties["incident-syncer"].get("id") == incident_id
        ]

    def events(self, incident_id: str) -> list[str]:
        texts = self.fake.comment_texts(self.incident(incident_id))
        return [m.group(1) for t in texts if (m := EVENT.search(t))]

    def text(self, value: Any) -> str:
        return adf_text(value) if isinstance(value, dict) else str(value)

    def writes(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.fake.log if e.write]

    def api(self) -> str:
        return "/rest/api/3" if self.cloud else "/rest/api/2"


def _jira(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: bool, **fake: Any
) -> Iterator[Jira]:
    app = FakeJira(cloud=cloud, **fake).start()
    monkeypatch.setenv("JIRA_EMAIL", app.email)
    monkeypatch.setenv("JIRA_API_TOKEN", app.token)
    try:
        yield Jira(app, tmp_path, cloud)
    finally:
        app.stop()


@pytest.fixture
def dc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Jira]:
    yield from _jira(tmp_path, monkeypatch, cloud=False)


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Jira]:
    yield from _jira(tmp_path, monkeypatch, cloud=True)


@pytest.fixture(params=["dc", "cloud"])
def jira(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Jira]:
    yield from _jira(tmp_path, monkeypatch, cloud=request.param == "cloud")


def ongoing(**changes: Any) -> dict[str, Any]:
    """The checkout incident while it is still going on (4 events, SEV3, mitigated)."""
    data = load_yaml(CHECKOUT)
    for key in ("resolved_at", "closed_at", "postmortem"):
        data.pop(key)
    data.update(status="mitigated", grade="SEV3", timeline=data["timeline"][:4])
    data.update(changes)
    return data


# Full sync, resync, regrade: the GitHub acceptance list, on Jira.


def test_full_sync_makes_one_issue_with_everything(jira: Jira) -> None:
    jira.sync(CHECKOUT)
    issue = jira.incident(CHECKOUT_ID)
    assert issue.fields["summary"] == "[SEV1] Checkout returns HTTP 500 after the payments deploy"
    assert issue.fields["issuetype"] == "Incident"
    assert issue.labels == ["incident", "grade:SEV1", f"incident-id-{CHECKOUT_ID}"]
    assert issue.fields["priority"] == {"name": "Highest"}
    assert jira.fake.status_name(issue) == "Done"
    assert jira.events(CHECKOUT_ID) == event_ids(load_yaml(CHECKOUT))
    prop = issue.properties["incident-syncer"]
    assert prop["kind"] == "incident" and prop["id"] == CHECKOUT_ID and prop["snapshot"]
    # The postmortem is linked to the incident, the action items to the postmortem.
    (pm,) = jira.of_kind("postmortem", CHECKOUT_ID)
    assert pm.fields["issuetype"] == "Post-incident review"
    assert jira.fake.linked(issue, "Relates") == [pm.key]
    items = jira.of_kind("action", CHECKOUT_ID)
    assert [i.fields["summary"] for i in items] == [
        "Add consumer contract tests between checkout and payments",
        "Canary payments deploys at 5% for 10 minutes",
    ]
    assert sorted(jira.fake.linked(pm, "Relates")) == sorted([issue.key, *(i.key for i in items)])
    assert prop["postmortem"] == pm.key
    # The issue links to its postmortem; the postmortem to its issue.
    assert f"/browse/{pm.key}" in jira.text(issue.fields["description"])
    assert f"/browse/{issue.key}" in jira.text(pm.fields["description"])
    # One create with its property, never a serverInfo or /field round trip; English please.
    paths = [e.path for e in jira.fake.log]
    assert not any(p.endswith(("/serverInfo", "/field", "/myself")) for p in paths)
    assert all(h.get("accept-language") == "en" for _, _, h, _ in jira.fake.bodies)
    assert all(p.startswith(jira.api()) for p in paths)


def test_resync_reads_two_issues_and_writes_nothing(jira: Jira) -> None:
    jira.sync(CHECKOUT)
    jira.fake.reset_log()
    result = jira.run("sync", str(CHECKOUT), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["operations"] == []
    issue = jira.incident(CHECKOUT_ID)
    (pm,) = jira.of_kind("postmortem", CHECKOUT_ID)
    # With local state: the issue (comments embedded) and the postmortem (action items recorded).
    assert [(e.method, e.path) for e in jira.fake.log] == [
        ("GET", f"{jira.api()}/issue/{issue.key}"),
        ("GET", f"{jira.api()}/issue/{pm.key}"),
    ]
    # Without local state (an ephemeral runner): one search more, still no write; and with
    # no marker key the unsigned markers are trusted by author: who the token is, asked once.
    jira.forget()
    jira.fake.reset_log()
    jira.sync(CHECKOUT)
    search = "/search/jql" if jira.cloud else "/search"
    assert [e.path for e in jira.fake.log] == [
        f"{jira.api()}{search}",
        f"{jira.api()}/myself",
        f"{jira.api()}/issue/{issue.key}",
        f"{jira.api()}/issue/{pm.key}",
    ]
    assert jira.writes() == []


def test_new_events_and_regrade_in_exactly_one_edit(jira: Jira) -> None:
    data = ongoing()
    path = jira.write(data)
    jira.sync(path)
    issue = jira.incident(CHECKOUT_ID)
    assert jira.fake.status_name(issue) == "In Progress"
    before = jira.events(CHECKOUT_ID)
    regrade(data)
    jira.write(data)
    jira.fake.reset_log()
    jira.sync(path)
    api = jira.api()
    assert jira.writes() == [
        ("POST", f"{api}/issue/{issue.key}/comment"),
        ("POST", f"{api}/issue/{issue.key}/comment"),
        ("POST", f"{api}/issue/{issue.key}/comment"),
        ("PUT", f"{api}/issue/{issue.key}"),
    ]
    (_, _, _, edit) = jira.fake.requests_to("PUT", rf"/issue/{issue.key}$")[-1]
    assert edit["update"] == {"labels": [{"remove": "grade:SEV3"}, {"add": "grade:SEV1"}]}
    assert edit["fields"]["priority"] == {"name": "Highest"}
    assert edit["fields"]["summary"].startswith("[SEV1] ")
    assert [p["key"] for p in edit["properties"]] == ["incident-syncer"]
    assert jira.events(CHECKOUT_ID) == [*before, *event_ids(data)[4:6], "grade-SEV3-to-SEV1"]
    assert "Grade changed: SEV3 → SEV1" not in jira.fake.comment_texts(issue)[-1]  # ko config
    assert "장애 등급 변경: SEV3 → SEV1" in jira.fake.comment_texts(issue)[-1]
    assert [x for x in issue.labels if x.startswith("grade:")] == ["grade:SEV1"]
    assert issue.fields["priority"] == {"name": "Highest"}
    jira.fake.reset_log()
    jira.sync(path)
    assert jira.writes() == []


def test_thirty_percent_faults_converge_to_the_exact_clean_state(jira: Jira) -> None:
    jira.fake.faults(0.3, seed=11)
    codes = []
    for _ in range(15):
        codes.append(jira.run("sync", str(BANNER), str(CHECKOUT)).exit_code)
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes
    assert any(e.fault == "after" for e in jira.fake.log), "no write was lost"
    jira.fake.faults(0.0)
    for path in (BANNER, CHECKOUT):
        data = load_yaml(path)
        issue = jira.incident(data["id"])
        assert jira.events(data["id"]) == event_ids(data)
        assert [x for x in issue.labels if x.startswith("grade:")] == [f"grade:{data['grade']}"]
        assert jira.fake.status_name(issue) == "Done"
        assert len(jira.of_kind("postmortem", data["id"])) == 1
        items = jira.of_kind("action", data["id"])
        assert sorted(i.fields["summary"] for i in items) == sorted(
            a["title"] for a in data["postmortem"]["action_items"]
        )
    jira.fake.reset_log()
    jira.sync(BANNER, CHECKOUT)
    assert jira.writes() == []


# What arrives at Jira: wiki markup (v2) and ADF (v3) of the full postmortems.


def _nodes(node: Any, kind: str) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == kind:
            found.append(node)
        for child in node.get("content") or []:
            found.extend(_nodes(child, kind))
    return found


@pytest.mark.parametrize("language", ["ko", "en"])
def test_postmortem_in_wiki_markup_on_data_center(dc: Jira, language: str) -> None:
    path, incident_id = (BANNER, BANNER_ID) if language == "ko" else (CHECKOUT, CHECKOUT_ID)
    dc.configure(language=language)
    dc.sync(path)
    (_, _, _, body) = next(
        b
        for b in dc.fake.requests_to("POST", r"/rest/api/2/issue$")
        if b[3]["fields"]["issuetype"]["name"] == "Post-incident review"
    )
    wiki = body["fields"]["description"]
    assert isinstance(wiki, str)
    data = load_yaml(path)
    whys = data["postmortem"]["five_whys"]
    if language == "ko":
        assert wiki.startswith(f"h1. 포스트모템: {data['title']}")
        assert "\nh2. 다섯 번의 왜\n" in wiki and "\nh3. 잘 진행된 부분\n" in wiki
        assert "\nh2. 시간대별 조치 사항 (타임라인)\n" in wiki
    else:
        assert wiki.startswith(f"h1. Postmortem: {data['title']}")
        assert "\nh2. 5 whys\n" in wiki and "\nh3. What went well\n" in wiki
    # 5 whys: a numbered list, question and answer in each item.
    numbered = [line for line in wiki.splitlines() if line.startswith("# ")]
    assert len(numbered) == 5
    for line, why in zip(numbered, whys, strict=True):
        assert why["q"] in line and why["a"] in line
    # Tables: a key/value table without header, the timeline table with one.
    assert f"|{'Incident' if language == 'en' else '장애 식별자'}|{{{{{incident_id}}}}}|" in wiki
    assert "||" in wiki and len([x for x in wiki.splitlines() if x.startswith("||")]) == 1
    # Code (the Mermaid timeline), bullet lists, links.
    assert "{code}" in wiki and "timeline" in wiki
    for lesson in data["postmortem"]["lessons"]["went_well"]:
        assert f"* {lesson}" in wiki
    for link in data["links"]:
        assert f"[{link['title']}|{link['url']}]" in wiki
    for item in data["postmortem"]["action_items"]:
        assert item["title"] in wiki


@pytest.mark.parametrize("language", ["ko", "en"])
def test_postmortem_in_adf_on_cloud(cloud: Jira, language: str) -> None:
    path = BANNER if language == "ko" else CHECKOUT
    cloud.configure(language=language)
    cloud.sync(path)
    (_, _, _, body) = next(
        b
        for b in cloud.fake.requests_to("POST", r"/rest/api/3/issue$")
        if b[3]["fields"]["issuetype"]["name"] == "Post-incident review"
    )
    adf = body["fields"]["description"]
    assert adf["type"] == "doc" and adf["version"] == 1
    data = load_yaml(path)
    headings = [(h["attrs"]["level"], adf_text(h)) for h in _nodes(adf, "heading")]
    assert headings[0][0] == 1 and data["title"] in headings[0][1]
    assert (2, "다섯 번의 왜" if language == "ko" else "5 whys") in headings
    # 5 whys: an ordered list of five items, each with its question and answer.
    (whys_list,) = [
        o for o in _nodes(adf, "orderedList") if "Why?" in adf_text(o) or "왜" in adf_text(o)
    ]
    items = whys_list["content"]
    assert len(items) == 5
    for item, why in zip(items, data["postmortem"]["five_whys"], strict=True):
        assert why["q"] in adf_text(item) and why["a"] in adf_text(item)
    tables = _nodes(adf, "table")
    assert len(tables) == 2
    assert _nodes(tables[1], "tableHeader"), "the timeline table has a header row"
    assert not _nodes(tables[0], "tableHeader"), "the key/value table has none"
    (code,) = _nodes(adf, "codeBlock")
    assert "timeline" in adf_text(code)
    bullets = adf_text({"content": _nodes(adf, "bulletList")})
    for lesson in data["postmortem"]["lessons"]["went_poorly"]:
        assert lesson in bullets
    hrefs = [
        mark["attrs"]["href"]
        for text in _nodes(adf, "text")
        for mark in text.get("marks", [])
        if mark["type"] == "link"
    ]
    for link in data["links"]:
        assert link["url"] in hrefs


def test_event_comments_carry_a_readable_marker(jira: Jira) -> None:
    jira.sync(jira.write(ongoing()))
    issue = jira.incident(CHECKOUT_ID)
    first = issue.comments[0]["body"]
    if jira.cloud:
        footer = first["content"][-1]
        assert footer["content"][0]["text"].startswith("incident-syncer:event id=e-")
        assert footer["content"][0]["marks"][0]["type"] == "textColor"
    else:
        assert first.rstrip().endswith("{color}")
        assert "{color:#97a0af}{{incident-syncer:event id=e-" in first


def test_comments_are_read_page_by_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for setup in _jira(tmp_path, monkeypatch, cloud=False, comment_page_cap=3):
        data = ongoing(status="investigating", mitigated_at=None)
        data["timeline"] = [
            {"at": f"2024-03-05T14:{10 + n:02d}:00Z", "text": f"step {n}", "kind": "note"}
            for n in range(10)
        ]
        path = setup.write(data)
        setup.sync(path)
        setup.fake.reset_log()
        setup.sync(path)
        issue = setup.incident(CHECKOUT_ID)
        assert setup.writes() == []
        assert [e.path for e in setup.fake.log] == [
            f"/rest/api/2/issue/{issue.key}",
            *[f"/rest/api/2/issue/{issue.key}/comment"] * 3,
        ]
        assert setup.events(CHECKOUT_ID) == event_ids(data)


@pytest.mark.parametrize("cloud_fake", [False, True])
def test_search_pages_through_startat_and_next_page_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud_fake: bool
) -> None:
    for setup in _jira(tmp_path, monkeypatch, cloud=cloud_fake, search_page_cap=2):
        setup.sync(BANNER)
        original = setup.incident(BANNER_ID)
        for n in range(4):  # four racing copies: five issues
            copy_ = copy.deepcopy(original)
            setup.fake._next_id += 1
            copy_.id, copy_.key = str(setup.fake._next_id), f"OPS-{setup.fake._next_id - 10000}"
            copy_.created = original.created.replace(microsecond=0) + _seconds(n + 1)
            setup.fake.issues[copy_.key] = copy_
        setup.forget()
        setup.fake.reset_log()
        result = setup.sync(BANNER)
        searches = [e.path for e in setup.fake.log if "/search" in e.path]
        # Five issues, the postmortem and two action items (listed to heal what a race left):
        # four pages.
        assert searches == [f"{setup.api()}/{'search/jql' if cloud_fake else 'search'}"] * 4
        assert setup.screen(result.stdout) == (
            f"✓ {BANNER_ID} → jira OPS-1 <jira>/browse/OPS-1: updated\n"
            + "".join(
                f"    - close duplicate OPS-{n} (keeping the older one)\n" for n in range(5, 9)
            )
        )
        assert setup.incident(BANNER_ID).key == original.key


def _seconds(n: int) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


def test_cloud_configured_as_data_center_gets_a_clear_410(cloud: Jira) -> None:
    cloud.configure(cloud=False, api_version=2)
    result = cloud.sync(BANNER, expect=1)
    assert result.stdout == (
        f"✗ {BANNER_ID} → jira: cannot tell whether {BANNER_ID} exists: search for {BANNER_ID}: "
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
        "A full migration guideline is available at "
        "https://developer.atlassian.com/changelog/#CHANGE-2046 "
        "(this is Jira Cloud: set cloud = true) (HTTP 410)\n"
    )
    assert cloud.fake.issues == {}


# Workflow transitions.


def test_a_missing_transition_fails_with_the_available_ones_and_everything_else_done(
    jira: Jira,
) -> None:
    jira.configure(transitions={"resolved": "Close Issue"})
    result = jira.sync(BANNER, expect=1)
    assert result.stdout == (
        f"✗ {BANNER_ID} → jira: cannot move OPS-1 to Done (category) for status resolved: "
        "no transition 'Close Issue' available; available transitions: 'Start Progress' "
        '(→ In Progress). Set [trackers.jira] transitions.resolved = ["…", "…"] to the path '
        "to take\n"
    )
    issue = jira.incident(BANNER_ID)
    assert jira.fake.status_name(issue) == "To Do"
    assert jira.events(BANNER_ID) == event_ids(load_yaml(BANNER))
    assert [x for x in issue.labels if x.startswith("grade:")] == ["grade:SEV3"]
    (pm,) = jira.of_kind("postmortem", BANNER_ID)
    assert len(jira.of_kind("action", BANNER_ID)) == 2
    assert f"/browse/{pm.key}" in jira.text(issue.fields["description"])
    # Fixing the config finishes the job, with nothing else to do.
    jira.configure()
    jira.fake.reset_log()
    jira.sync(BANNER)
    assert jira.fake.status_name(issue) == "Done"
    assert [m for m, p in jira.writes()] == ["POST", "POST"]  # the two transitions


def test_a_target_several_steps_away_without_a_path_is_a_clear_error(dc: Jira) -> None:
    dc.configure(transitions=None)  # the defaults: "Done" directly, which this workflow lacks
    result = dc.sync(BANNER, expect=1)
    assert result.stdout == (
        f"✗ {BANNER_ID} → jira: cannot move OPS-1 to Done (category) for status resolved: "
        "no transition 'Done' available; available transitions: 'Start Progress' "
        '(→ In Progress). Set [trackers.jira] transitions.resolved = ["…", "…"] to the path '
        "to take\n"
    )


def test_the_path_is_followed_from_wherever_the_issue_is(dc: Jira) -> None:
    path = dc.write(ongoing())
    dc.sync(path)
    issue = dc.incident(CHECKOUT_ID)
    assert dc.fake.status_name(issue) == "In Progress"
    dc.write(ongoing(status="resolved", resolved_at="2024-03-05T15:10:00Z"))
    dc.fake.reset_log()
    dc.sync(path)
    # Already past "Start Progress": only "Resolve" is taken.
    transitions = dc.fake.requests_to("POST", r"/transitions$")
    assert [str(b[3]["transition"]["id"]) for b in transitions] == ["21"]
    assert dc.fake.status_name(issue) == "Done"
    # Reopened: the default for investigating is a transition to "To Do" (Reopen's target).
    dc.write(ongoing(status="investigating", mitigated_at=None))
    dc.configure(transitions={**PATHS, "investigating": "To Do"})
    dc.sync(path)
    assert dc.fake.status_name(issue) == "To Do"


def test_a_korean_jira_works_with_the_english_config(dc: Jira) -> None:
    dc.fake.localized = True
    dc.sync(BANNER)
    issue = dc.incident(BANNER_ID)
    assert dc.fake.status_name(issue) == "Done"
    # What a Korean user sees without the header (the names the config would not match):
    transitions = dc.fake.requests_to("GET", r"/transitions$")
    assert transitions and all(h["accept-language"] == "en" for _, _, h, _ in transitions)


def test_transition_ids_and_target_status_ids_work_whatever_the_language(dc: Jira) -> None:
    dc.fake.localized = True
    dc.fake.always_korean = True  # a proxy drops Accept-Language: names come back in Korean
    dc.configure(
        transitions={"mitigated": "11", "resolved": ["11", "21"], "closed": ["11", "21"]},
        statuses={
            "detected": "10000",
            "mitigated": "10001",
            "resolved": "10002",
            "closed": "10002",
        },
    )
    dc.sync(BANNER)
    issue = dc.incident(BANNER_ID)
    assert dc.fake.status_name(issue) == "Done"
    dc.fake.reset_log()
    dc.sync(BANNER)
    assert dc.writes() == []
    # English names against a Korean-only answer: the error shows what Jira offers.
    dc.configure(transitions={"resolved": "Start Progress"})
    data = load_yaml(BANNER)
    data["id"] = "INC-ko"
    result = dc.sync(dc.write(data), expect=1)
    assert result.stdout == (
        "✗ INC-ko → jira: cannot move OPS-5 to Done (category) for status resolved: "
        "no transition 'Start Progress' available; available transitions: '진행 시작' (→ 진행 중). "
        'Set [trackers.jira] transitions.resolved = ["…", "…"] to the path to take\n'
    )


# Required fields, errors, secrets.


def test_a_required_custom_field_is_named_and_the_fields_table_fills_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for setup in _jira(
        tmp_path, monkeypatch, cloud=False, required_fields={"customfield_10010": "Incident ID"}
    ):
        result = setup.sync(BANNER, expect=1)
        assert result.stdout == (
            f"✗ {BANNER_ID} → jira: create the issue for {BANNER_ID}: customfield_10010: "
            "Incident ID is required. (Jira refused the new issue in OPS of type 'Incident'; "
            "fields the project requires go in [trackers.jira] fields, e.g. "
            'fields = { customfield_10010 = "{id}" }) (HTTP 400)\n'
        )
        assert len(setup.fake.requests_to("POST", r"/issue$")) == 1  # a 400 is not retried
        setup.configure(
            fields={"customfield_10010": "{id} ({grade})"},
            postmortem_fields={"customfield_10010": "{id}"},
            action_item_fields={"customfield_10010": "{id}"},
        )
        setup.sync(BANNER)
        issue = setup.incident(BANNER_ID)
        assert issue.fields["customfield_10010"] == f"{BANNER_ID} (SEV3)"


def test_field_templates_are_checked_and_never_evaluated(dc: Jira) -> None:
    dc.configure(fields={"customfield_10010": "{id.__class__}"})
    result = dc.sync(BANNER, expect=2)
    assert dc.screen(result.output) == (
        "Error: <tmp>/incident-syncer.toml:17: trackers.jira.fields: customfield_10010: "
        "unknown placeholder {id.__class__}; use one of {cause}, {closed_at}, {commander}, "
        "{customer_impact}, {date}, {detected_at}, {detection}, {grade}, {id}, {mitigated_at}, "
        "{resolution}, {resolved_at}, {services}, {started_at}, {status}, {symptoms}, {title}\n"
    )
    assert dc.fake.log == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"cloud": False, "api_version": 3},
            "17: trackers.jira.api_version: api_version = 3 needs Jira Cloud (Data Center has "
            "only API v2); set cloud = true if this is Cloud",
        ),
        (
            {"priority": {"P0": "Highest"}},
            "14: trackers.jira.priority: unknown grade 'P0'; grades are SEV1, SEV2, SEV3, SEV4",
        ),
        (
            {"labels": ["needs triage"]},
            "17: trackers.jira.labels: Jira labels cannot be empty or contain spaces: "
            "'needs triage'",
        ),
        (
            {"url": "acme.atlassian.net"},
            "8: trackers.jira.url: must be an http(s) URL, e.g. https://acme.atlassian.net",
        ),
        (
            {"auth": "basic", "email_env": None},
            "6: trackers.jira.email_env: auth = basic needs email_env (the variable holding "
            "the account e-mail)",
        ),
        (
            {"transitions": {"fixed": "Done"}},
            "13: trackers.jira.transitions.fixed: expected one of 'detected', 'investigating', "
            "'mitigated', 'resolved' or 'closed', found 'fixed'",
        ),
        ({"colour": "red"}, "17: trackers.jira.colour: unknown key"),
    ],
)
def test_bad_configuration_is_exit_2_naming_the_key(
    dc: Jira, overrides: dict[str, Any], message: str
) -> None:
    dc.configure(**overrides)
    result = dc.sync(BANNER, expect=2)
    assert dc.screen(result.output) == f"Error: <tmp>/incident-syncer.toml:{message}\n"
    assert dc.fake.log == []


def test_a_bad_token_is_a_clear_error_and_no_secret_is_ever_shown(
    dc: Jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = dc.fake.token
    basic = base64.b64encode(f"{dc.fake.email}:{token}".encode()).decode()
    dc.fake.faults(0.3, seed=3)
    result = dc.run("-vvv", "sync", str(BANNER), str(CHECKOUT))
    for _ in range(10):
        if result.exit_code == 0:
            break
        result = dc.run("-vvv", "sync", str(BANNER), str(CHECKOUT))
    dc.fake.faults(0.0)
    assert result.exit_code == 0
    monkeypatch.setenv("JIRA_API_TOKEN", "wrong-token-value")
    bad = dc.run("-vv", "sync", str(BANNER))
    assert bad.exit_code == 1
    assert bad.stdout == (
        f"✗ {BANNER_ID} → jira: cannot tell whether {BANNER_ID} exists: search for {BANNER_ID}: "
        "You are not authenticated. Authentication required to perform this operation. "
        "(check JIRA_EMAIL and JIRA_API_TOKEN) (HTTP 401)\n"
    )
    for text in (result.output, bad.output):
        assert token not in text and basic not in text and "wrong-token-value" not in text


def test_a_login_page_for_a_bad_token_is_one_clear_line_without_html(
    dc: Jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind single sign-on, a token Jira does not accept is sent on to an HTML login page.
    dc.fake.sso = True
    monkeypatch.setenv("JIRA_API_TOKEN", "wrong-token-value")
    error = (
        f"cannot tell whether {BANNER_ID} exists: search for {BANNER_ID}: Jira sent a login page "
        "instead of data: check JIRA_EMAIL and JIRA_API_TOKEN (and, behind single sign-on, that "
        "url lets API tokens through)"
    )
    bad = dc.sync(BANNER, expect=1)
    assert bad.stdout == f"✗ {BANNER_ID} → jira: {error}\n"
    assert bad.stderr == ""  # not the library's ERROR with the page, nor the same line again
    # -v: the library's words too, one line each, the page's markup gone.
    detail = dc.run("-v", "sync", str(BANNER))
    assert detail.stdout == bad.stdout
    assert detail.stderr == (
        "ERROR jira: Expecting value: line 1 column 1 (char 0) Log in - Jira\n"
        f"WARNING syncer.engine: jira: {error}\n"
    )
    # -vv: the library's detail whole (here the page), and never a secret.
    debug = dc.run("-vv", "sync", str(BANNER))
    assert '<input type="password" name="os_password">' in debug.stderr
    for result in (bad, detail, debug):
        assert "wrong-token-value" not in result.output
        assert base64.b64encode(b"bot@example.com:wrong-token-value").decode() not in result.output
    assert dc.fake.issues == {}


def test_the_librarys_paging_warnings_are_not_the_users_business(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for setup in _jira(tmp_path, monkeypatch, cloud=False, search_page_cap=2):
        first = setup.sync(BANNER)  # the issue, its postmortem, two action items: two pages
        setup.forget()
        again = setup.sync(BANNER)
        assert (first.stderr, again.stderr) == ("", "")
        assert (
            setup.screen(again.stdout)
            == f"✓ {BANNER_ID} → jira OPS-1 <jira>/browse/OPS-1: unchanged\n"
        )
        shown = setup.run("-v", "sync", str(BANNER), "--recheck")
        assert shown.stderr == (
            "WARNING jira: 'batch_size' set to 100, but only received 2 items in batch. "
            "Falling back to 2.\n"
        )


def test_doctor_checks_credentials_project_types_links_and_priorities(
    dc: Jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = dc.run("doctor")
    assert good.exit_code == 0, good.output
    configuration = "configuration: <tmp>/incident-syncer.toml: 1 tracker(s), 4 grade(s)\n"
    assert dc.screen(good.output) == (
        f"{configuration}✓ templates and state: ok\n✓ jira (jira): ok\n"
    )
    dc.configure(
        cloud=True,
        api_version=2,
        postmortem_issue_type="Postmortem",
        link_type="Relates to",
        priority={"SEV1": "P1"},
    )
    bad = dc.run("doctor")
    assert bad.exit_code == 1
    assert dc.screen(bad.output) == (
        f"{configuration}✓ templates and state: ok\n✗ jira (jira):\n"
        "    - this Jira is Data Center/Server, but the configuration says cloud = true\n"
        "    - postmortem_issue_type = 'Postmortem': project OPS has no such issue type "
        "(it has Bug, Incident, Post-incident review, Task)\n"
        "    - link_type = 'Relates to': no such issue link type "
        "(there are Blocks, Cloners, Duplicate, Relates)\n"
        "    - priority.SEV1 = 'P1': no such priority "
        "(there are High, Highest, Low, Lowest, Medium)\n"
    )
    assert dc.writes() == []
    monkeypatch.setenv("JIRA_API_TOKEN", "not-the-token")
    denied = dc.run("doctor")
    assert denied.exit_code == 1
    assert dc.screen(denied.output) == (
        f"{configuration}✓ templates and state: ok\n✗ jira (jira):\n"
        "    - check the credentials: You are not authenticated. Authentication required to "
        "perform this operation. (check JIRA_EMAIL and JIRA_API_TOKEN) (HTTP 401)\n"
    )


def test_data_center_personal_access_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for setup in _jira(tmp_path, monkeypatch, cloud=False, bearer="pat-0123456789"):
        monkeypatch.setenv("JIRA_PAT", "pat-0123456789")
        setup.configure(email_env=None, token_env="JIRA_PAT")
        setup.sync(BANNER)
        headers = [h["authorization"] for _, _, h, _ in setup.fake.bodies]
        assert set(headers) == {"Bearer pat-0123456789"}
        assert setup.fake.status_name(setup.incident(BANNER_ID)) == "Done"


def test_an_unreachable_jira_is_retryable_and_creates_nothing(dc: Jira) -> None:
    dc.configure(url="http://127.0.0.1:9")  # nothing listens on the discard port
    result = dc.run("sync", str(BANNER), "--json")
    assert result.exit_code == 1
    error = (
        f"cannot tell whether {BANNER_ID} exists: search for {BANNER_ID}: "
        "cannot reach Jira (ConnectionError)"
    )
    assert json.loads(result.stdout) == {
        "incident": BANNER_ID,
        "tracker": "jira",
        "key": None,
        "url": None,
        "created": False,
        "operations": [],
        "error": error,
    }
    assert result.stderr == ""  # the failure is said once, in its result


def test_an_answer_that_is_not_json_is_a_clear_error(dc: Jira) -> None:
    from tests.fakes.base import Response

    login = Response(200, raw=b"<html><body>Log in with SSO</body></html>")
    dc.fake.routes.insert(0, ("GET", re.compile(r"^/rest/api/2/search$"), lambda _r: login))
    result = dc.sync(BANNER, expect=1)
    assert result.stdout == (
        f"✗ {BANNER_ID} → jira: cannot tell whether {BANNER_ID} exists: search for {BANNER_ID}: "
        "Jira's answer is not JSON (is url the Jira base URL, and does a proxy or single "
        "sign-on page stand in front of it?)\n"
    )
    assert dc.fake.issues == {}


# Rate limits and retries: the engine's, never the library's.


def test_the_library_never_retries_a_write_itself(dc: Jira) -> None:
    path = dc.write(ongoing(status="investigating", mitigated_at=None, timeline=[]))
    dc.sync(path)
    dc.write(ongoing(status="investigating", mitigated_at=None))
    dc.fake.reset_log()
    # Every POST answers 429 with Retry-After: 0, which the library would retry on its own.
    dc.fake.fault_methods = {"POST"}
    dc.fake.faults(1.0, seed=1, statuses=(429,))
    dc.run("sync", str(path))
    dc.fake.faults(0.0)
    dc.fake.fault_methods = None
    log = dc.fake.log
    posts = [n for n, e in enumerate(log) if e.method == "POST"]
    assert len(posts) >= 2
    # After each failed write the engine reads again before writing: never POST after POST.
    assert all(log[n + 1].method == "GET" for n in posts[:-1])
    dc.sync(path)
    assert dc.events(CHECKOUT_ID) == event_ids(load_yaml(path))


def test_429_retry_after_is_honoured_and_near_limit_slows_the_pace(
    dc: Jira, clock: FakeClock
) -> None:
    from syncer import registry
    from syncer.config import load

    path = dc.write(ongoing(status="investigating", mitigated_at=None))
    dc.fake.fail_next(429, {"Retry-After": "0.3"})
    dc.sync(path)
    first, second = dc.fake.log[0], dc.fake.log[1]
    assert first.status == 429 and second.at - first.at == pytest.approx(0.3, abs=1e-6)
    pacer = registry.build("jira", load(str(dc.config))).pacer  # type: ignore[attr-defined]
    assert pacer.penalties >= 1
    dc.fake.near_limit = True
    near = pacer.near_limits
    dc.sync(dc.write(ongoing(id="INC-near")))
    assert pacer.near_limits > near


# Duplicates, deletion, updates in place, limits, people's text.


def test_a_duplicate_is_relabelled_linked_commented_and_closed(jira: Jira) -> None:
    jira.sync(BANNER)
    kept = jira.incident(BANNER_ID)
    dup = copy.deepcopy(kept)
    jira.fake._next_id += 1
    dup.id, dup.key = str(jira.fake._next_id), f"OPS-{jira.fake._next_id - 10000}"
    dup.created = kept.created + _seconds(3)
    dup.fields["status"] = "10000"
    dup.comments = dup.comments[:2]
    jira.fake.issues[dup.key] = dup
    jira.forget()
    result = jira.sync(BANNER)
    assert jira.screen(result.output) == (
        f"✓ {BANNER_ID} → jira {kept.key} <jira>/browse/{kept.key}: updated\n"
        f"    - close duplicate {dup.key} (keeping the older one)\n"
    )
    assert jira.incident(BANNER_ID).key == kept.key
    assert f"incident-duplicate-{BANNER_ID}" in dup.labels
    assert f"incident-id-{BANNER_ID}" not in dup.labels
    assert jira.fake.linked(dup, "Duplicate") == [kept.key]
    assert f"Duplicate of {kept.key}" in jira.fake.comment_texts(dup)[-1]
    assert jira.fake.status_name(dup) == "Done"
    assert dup.properties["incident-syncer"]["kind"] == "duplicate"
    jira.fake.reset_log()
    jira.forget()
    jira.sync(BANNER)
    assert jira.writes() == []


def test_a_lagging_search_index_makes_a_duplicate_that_the_next_sync_heals(dc: Jira) -> None:
    dc.fake.search_lag = 3600  # Jira's search index trails its database (until wait_for_index)
    dc.sync(BANNER)
    first = dc.incident(BANNER_ID)
    dc.forget()  # an ephemeral runner: only the search can find the issue
    dc.sync(BANNER)
    assert len(dc.fake.issues_labelled(f"incident-id-{BANNER_ID}")) == 2
    dc.fake.wait_for_index()
    dc.forget()
    result = dc.sync(BANNER)
    # The duplicate's postmortem and action items go too, before the issue that leads to them.
    assert dc.screen(result.output) == (
        f"✓ {BANNER_ID} → jira {first.key} <jira>/browse/{first.key}: updated\n"
        "    - close duplicate postmortem OPS-6 (keeping OPS-2)\n"
        "    - close duplicate action item OPS-7 (keeping OPS-3)\n"
        "    - close duplicate action item OPS-8 (keeping OPS-4)\n"
        "    - close duplicate OPS-5 (keeping the older one)\n"
    )
    closed = [
        dc.fake.issues[key].properties["incident-syncer"]["kind"]
        for key in ("OPS-6", "OPS-7", "OPS-8")
    ]
    assert closed == ["duplicate"] * 3
    assert dc.incident(BANNER_ID).key == first.key
    assert dc.events(BANNER_ID) == event_ids(load_yaml(BANNER))


def _copy(jira: Jira, issue: Issue, linked_to: str, kind: str) -> Issue:
    """A copy of ``issue`` another run made: linked to ``linked_to``, its property's kind set."""
    copied = copy.deepcopy(issue)
    jira.fake._next_id += 1
    copied.id, copied.key = str(jira.fake._next_id), f"OPS-{jira.fake._next_id - 10000}"
    copied.created = issue.created + _seconds(2)
    copied.properties = {
        k: v for k, v in copied.properties.items() if not k.startswith("incident-syncer-item-")
    }
    copied.properties["incident-syncer"]["kind"] = kind
    jira.fake.issues[copied.key] = copied
    jira.fake._add_link({"type": "Relates", "inward": linked_to, "outward": copied.key})
    return copied


def test_an_item_left_under_a_healed_postmortem_is_found_by_the_lookup_beside_other_trackers(
    dc: Jira,
) -> None:
    """Two racing runs: one healed the other's postmortem while that one was still creating
    its action items under it. Only the lookup's listing leads to such an item; it is used by
    the read that follows even though, with several trackers, the two run on other threads."""
    dc.config = write_config(
        dc.tmp / "incident-syncer.toml",
        {"jira": dc.table(), "mem": {"type": "memory", "store": "beside-jira"}},
    )
    dc.sync(BANNER)
    kept = dc.incident(BANNER_ID)
    pm, item, _ = (
        i.key for i in dc.of_kind("postmortem", BANNER_ID) + dc.of_kind("action", BANNER_ID)
    )
    healed = _copy(dc, dc.fake.issues[pm], linked_to=kept.key, kind="duplicate")
    late = _copy(dc, dc.fake.issues[item], linked_to=healed.key, kind="action")
    dc.forget()
    result = dc.sync(BANNER)
    assert f"    - close duplicate action item {late.key} (keeping {item})\n" in result.output
    assert late.properties["incident-syncer"]["kind"] == "duplicate"
    assert dc.fake.linked(late, "Duplicate") == [item]
    dc.forget()
    dc.fake.reset_log()
    dc.sync(BANNER)
    assert dc.writes() == []


def test_a_cloned_issue_keeps_the_label_but_is_not_the_incident(jira: Jira) -> None:
    jira.sync(BANNER)
    original = jira.incident(BANNER_ID)
    clone = copy.deepcopy(original)  # Jira's "Clone" copies labels, not entity properties
    jira.fake._next_id += 1
    clone.id, clone.key = str(jira.fake._next_id), f"OPS-{jira.fake._next_id - 10000}"
    clone.created = original.created - _seconds(60)  # even when it looks older
    clone.properties, clone.comments = {}, []
    jira.fake.issues[clone.key] = clone
    jira.forget()
    jira.fake.reset_log()
    jira.sync(BANNER)
    assert jira.writes() == []
    assert f"incident-id-{BANNER_ID}" in clone.labels and clone.comments == []


def test_a_deleted_issue_is_looked_up_again(dc: Jira) -> None:
    dc.sync(BANNER)
    old = dc.incident(BANNER_ID)
    del dc.fake.issues[old.key]
    dc.sync(BANNER)
    assert dc.incident(BANNER_ID).key != old.key


def test_the_postmortem_is_updated_in_place(jira: Jira) -> None:
    data = load_yaml(CHECKOUT)
    path = jira.write(data)
    jira.sync(path)
    (pm,) = jira.of_kind("postmortem", CHECKOUT_ID)
    data["postmortem"]["summary"] = "Rolled back in 7 minutes; contract tests are coming."
    jira.write(data)
    jira.fake.reset_log()
    jira.sync(path)
    assert jira.of_kind("postmortem", CHECKOUT_ID) == [pm]
    assert "contract tests are coming" in jira.text(pm.fields["description"])
    assert ("PUT", f"{jira.api()}/issue/{pm.key}") in jira.writes()
    assert not any(m == "POST" for m, _ in jira.writes())


def test_a_description_over_the_limit_is_cut_with_a_note(jira: Jira) -> None:
    data = ongoing(cause=" ".join(f"word{n}" for n in range(8000)))
    jira.sync(jira.write(data))
    description = jira.incident(CHECKOUT_ID).fields["description"]
    size = (
        len(description)
        if isinstance(description, str)
        else len(json.dumps(description, ensure_ascii=False))
    )
    assert TEXT_LIMIT - 4000 < size <= TEXT_LIMIT
    assert "Cut by incident-syncer: Jira allows 32,767 characters" in jira.text(description)


def test_peoples_text_in_the_description_is_kept(jira: Jira) -> None:
    jira.configure(language="en")
    path = jira.write(ongoing())
    jira.sync(path)
    issue = jira.incident(CHECKOUT_ID)
    note = "Customer success: please keep affected order numbers here."
    if jira.cloud:
        issue.fields["description"]["content"].append(
            {"type": "paragraph", "content": [{"type": "text", "text": note}]}
        )
    else:
        issue.fields["description"] += f"\n\n{note}"
    jira.write(ongoing(resolution="Rolled back payments-api to v2.13."))
    jira.sync(path)
    text = jira.text(issue.fields["description"])
    assert "Rolled back payments-api to v2.13." in text
    assert text.rstrip().endswith(note)
    assert text.count("Customer impact") == 1


def test_importing_the_adapter_does_not_import_the_jira_library() -> None:
    code = "import sys, adapters.jira; sys.exit('jira' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# GitHub and Jira together.


def test_sync_to_github_and_jira_links_each_issue_to_the_other(
    dc: Jira, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.github import TOKEN, FakeGitHub, github_tracker

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    gh = FakeGitHub(users={"erin": "write"}).start()
    try:
        config = write_config(
            dc.tmp / "both.toml", {"gh": github_tracker(gh), "jira": dc.table()}, language="en"
        )
        result = CliRunner().invoke(main, ["--config", str(config), "sync", str(CHECKOUT)])
        assert result.exit_code == 0, result.output
        issue = dc.incident(CHECKOUT_ID)
        (number,) = [
            n
            for n, i in gh.issues.items()
            if f"incident-syncer:begin id={CHECKOUT_ID}" in i["body"]
        ]
        gh_url = f"{gh._html()}/issues/{number}"
        jira_url = f"{dc.fake.url}/browse/{issue.key}"
        assert gh_url in dc.text(issue.fields["description"])
        assert jira_url in gh.issues[number]["body"]
        assert dc.events(CHECKOUT_ID) == event_ids(load_yaml(CHECKOUT))
        dc.fake.reset_log()
        gh.reset_log()
        again = CliRunner().invoke(main, ["--config", str(config), "sync", str(CHECKOUT)])
        assert again.exit_code == 0, again.output
        assert dc.writes() == [] and gh.writes() == 0
    finally:
        gh.stop()
