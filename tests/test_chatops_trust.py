"""Attack: ChatOps that runs what a writer only showed, and ids the label cuts short.

A ``/incident`` command counts only as the first line of prose of a comment: one shown in a
fenced or indented code block, or quoted, is no command. An incident id longer than a
GitHub label allows comes back whole (from the tool's marker), so the command acts on the
incident it was typed on. End to end through ``incident-syncer gha`` against the fake
GitHub and the fake Jira Cloud.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.github.settings import id_label
from syncer import markers
from tests import test_gha as actions
from tests.conftest import CHECKOUT
from tests.fakes.jira import FakeJira
from tests.test_gha import (
    ActionsGitHub,
    comment_event,
    dispatch_form,
    event_payload,
    github_events,
    incident_issue,
    jira_events,
    open_incident,
    pull_request_event,
    push_event,
    step,
)

# The Actions workspace of tests/test_gha.py: a fake GitHub and a fake Jira Cloud.
github, jira, runner = actions.github, actions.jira, actions.runner

LONG_ID = "ALERT-checkout-api-HighErrorRate-" + "eu-west-1-" * 6 + "p1"


@pytest.mark.parametrize(
    "body",
    [
        "```\n/incident resolve\n```\nThis is how we resolve one, once it's over.",
        "For the runbook:\n\n    /incident resolve",
        "> /incident resolve\n\nNot yet: the error rate is still at 4%.",
        "Do we do `/incident resolve` now?\n/incident resolve",
        "    /incident resolve\n\nis how it is done",
        "<!--\n/incident resolve\n-->\nnot yet",
        "~~~\n/incident resolve\n~~~",
    ],
    ids=["fenced", "indented", "quoted", "second-line", "indented-first", "html", "tildes"],
)
def test_a_command_shown_quoted_or_not_first_is_not_run(runner: dict[str, Any], body: str) -> None:
    app: ActionsGitHub = runner["github"]
    jira_app: FakeJira = runner["jira"]
    number = open_incident(runner)
    before = github_events(app, number)
    app.reset_log()
    jira_app.reset_log()
    done = step(runner, "issue_comment", comment_event(event_payload(app, number), body))
    assert done.exit_code == 0
    assert done.outputs["outcome"] == "ignored"
    assert "::notice title=incident-syncer::ignored: not an /incident command" in done.stdout
    assert app.writes() == 0 and jira_app.writes() == 0
    assert app.issue(number)["state"] == "open"
    assert github_events(app, number) == before


@pytest.mark.parametrize(
    "before",
    ["> can someone note the rollback?\n\n", "```\nerror rate 0.4%\n```\n\n", "\r\n\r\n"],
    ids=["quote", "fenced-log", "blank-lines"],
)
def test_a_command_after_a_quote_or_code_is_run(runner: dict[str, Any], before: str) -> None:
    app: ActionsGitHub = runner["github"]
    number = open_incident(runner)
    body = before + "/incident note 롤백 완료, 오류율 정상"
    done = step(runner, "issue_comment", comment_event(event_payload(app, number), body))
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.outputs["outcome"] == "applied"
    assert "gh-comment-2468013579" in github_events(app, number)


def test_an_id_longer_than_a_label_round_trips(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    jira_app: FakeJira = runner["jira"]
    assert len(f"incident-id:{LONG_ID}") > 50
    form = dispatch_form(action="open", incident_id=LONG_ID, title="Checkout 5xx", grade="SEV2")
    assert step(runner, "workflow_dispatch", form).exit_code == 0
    (number,) = app.issues_with_label(id_label(LONG_ID))  # the label is cut short...
    done = step(
        runner,
        "issue_comment",
        comment_event(event_payload(app, number), "/incident note 영향 범위 확인 중"),
    )
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.outputs["outcome"] == "applied"
    assert done.outputs["incident"] == LONG_ID  # ...the id is not
    assert "gh-comment-2468013579" in github_events(app, number)
    assert "gh-comment-2468013579" in jira_events(jira_app, LONG_ID)


def test_a_look_alike_preview_is_neither_edited_nor_taken_for_the_tools(
    runner: dict[str, Any],
) -> None:
    app: ActionsGitHub = runner["github"]
    pr = app.add_issue("Add the checkout postmortem", pull_request=True)
    app.pr_files[pr] = [f"incidents/{CHECKOUT.name}"]
    planted = (
        "<!-- incident-syncer:preview key=postmortem -->\nLooks good, ship it (the bot said so)"
    )
    mallory = app.add_comment(pr, planted, user="mallory")
    first = step(runner, "pull_request", pull_request_event(pr))
    assert first.exit_code == 0, first.stdout + first.stderr
    assert first.outputs["preview"] == "created"
    assert app.comments[mallory]["body"] == planted  # a person's comment, untouched
    bodies = app.comment_bodies(pr)
    assert len(bodies) == 2 and "INC-2024-0305-checkout" in bodies[1]
    app.reset_log()
    again = step(runner, "pull_request", pull_request_event(pr))
    assert again.outputs["preview"] == "unchanged" and app.writes() == 0


def test_a_command_on_a_planted_issue_acts_on_no_incident(runner: dict[str, Any]) -> None:
    """An issue a person opened with the tool's ownership marker typed in (and the id label a
    triager may add) is not the incident's: a command typed there changes nothing."""
    app: ActionsGitHub = runner["github"]
    jira_app: FakeJira = runner["jira"]
    real = open_incident(runner)
    incident_id = "INC-2025-1103-0007"
    forged = f"<!-- incident-syncer:begin id={incident_id} digest=0000000000000000 -->\nhi"
    for labels in ([], [id_label(incident_id)]):
        planted = app.add_issue("Settlement batch failed", forged, labels, user="mallory")
        before = github_events(app, real)
        app.reset_log()
        jira_app.reset_log()
        event = comment_event(event_payload(app, planted), "/incident resolve")
        event["issue"]["user"] = {"login": "mallory", "type": "User"}
        done = step(runner, "issue_comment", event)
        assert done.exit_code == 0, done.stdout + done.stderr
        assert done.outputs["outcome"] == "ignored"
        assert jira_app.writes() == 0
        assert [markers.strip(c).strip() for c in app.comment_bodies(planted)] == [
            f"@park-sre: #{planted} is not an issue incident-syncer made for {incident_id}: "
            f"commands act on the incident they are typed on (its issue is #{real}). "
            "Nothing was changed."
        ]
        assert app.issue(real)["state"] == "open"
        assert github_events(app, real) == before


def test_a_command_on_the_incidents_postmortem_or_action_item_is_run(
    runner: dict[str, Any],
) -> None:
    """The issues the tool made for the incident besides its own are the incident's too."""
    app: ActionsGitHub = runner["github"]
    assert step(runner, "push", push_event(f"incidents/{CHECKOUT.name}")).exit_code == 0
    incident_id = "INC-2024-0305-checkout"
    number = incident_issue(app, incident_id)
    parts = [
        n
        for n in sorted(app.issues)
        if n != number
        and any(
            (markers.leading(app.issue(n)["body"], kind) or {}).get("id") == incident_id
            for kind in ("postmortem", "action")
        )
    ]
    assert len(parts) == 3  # the postmortem and two action items
    for comment_id, part in zip((2468013579, 2468013580), parts[:2], strict=True):
        event = comment_event(
            event_payload(app, part), f"/incident note 후속 확인 #{part}", comment_id=comment_id
        )
        done = step(runner, "issue_comment", event)
        assert done.exit_code == 0, done.stdout + done.stderr
        assert (done.outputs["outcome"], done.outputs["incident"]) == ("applied", incident_id)
        assert f"gh-comment-{comment_id}" in github_events(app, number)


def test_checking_the_issue_costs_one_listing(runner: dict[str, Any]) -> None:
    """On the incident's own issue the check is the tracker's listing, and nothing more."""
    app: ActionsGitHub = runner["github"]
    number = open_incident(runner)
    app.reset_log()
    body = "/incident note 확인 중"
    done = step(runner, "issue_comment", comment_event(event_payload(app, number), body))
    assert done.outputs["outcome"] == "applied"
    issues, comments = (
        "/repos/acme/incidents/issues",
        f"/repos/acme/incidents/issues/{number}/comments",
    )
    assert [(e.method, e.path) for e in app.log if not e.write] == [
        ("GET", "/repos/acme/incidents/collaborators/park-sre/permission"),
        ("GET", issues),  # the check: is #number the incident's issue?
        ("GET", issues),  # the incident read back (its snapshot)
        ("GET", comments),
        ("GET", issues),  # the sync
        ("GET", comments),
    ]
