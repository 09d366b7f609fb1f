"""GitHub Actions: the CLI run as a workflow step, for each of the example workflows' events.

Every test runs ``incident-syncer`` with a runner's environment (GITHUB_ACTIONS, an event file,
GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL)
against the loopback fake GitHub and fake Jira (the real PyGithub and jira clients talk to
them), and checks what a workflow sees: the outputs, the step summary, the annotations, and
what both trackers hold afterwards.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncer import markers
from syncer.cli import main
from tests.conftest import BANNER, CHECKOUT, screen, write_config
from tests.contract.suite import event_ids, load_yaml
from tests.contract.test_jira import TRANSITIONS
from tests.fakes.base import HTTPError, Request, Response
from tests.fakes.github import TOKEN, FakeGitHub, github_tracker
from tests.fakes.jira import FakeJira, Issue, jira_tracker
from tests.test_gha_units import parse_outputs

REPO = "acme/incidents"
RUN_ID = "8123456789"


class ActionsGitHub(FakeGitHub):
    """The fake GitHub plus the pull request files listing the PR preview reads."""

    def __init__(self) -> None:
        super().__init__()
        self.pr_files: dict[int, list[str]] = {}
        self.permission_down = False
        self.route(
            "GET", "/repos/{owner}/{repo}/pulls/(?P<number>[0-9]+)/files", self.list_pr_files
        )

    def collaborator_permission(self, request: Request) -> Response:
        if self.permission_down:
            raise HTTPError(503, self.error_body(503, "Service Unavailable"))
        return super().collaborator_permission(request)

    def list_pr_files(self, request: Request) -> Response:
        names = self.pr_files.get(int(request.match["number"]), [])
        items = [{"filename": n, "status": "modified"} for n in names]
        page, headers = self._page(request, items)
        return Response(200, page, headers)


# The events (shapes from ../shared/alert-payloads.md section 4; values made up).

REPOSITORY = {
    "id": 812734501,
    "name": "incidents",
    "full_name": REPO,
    "default_branch": "main",
    "owner": {"login": "acme", "id": 98765432, "type": "Organization"},
}


def push_event(*changed: str, before: str = "1" * 40) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": "2" * 40,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [
            {"id": "2" * 40, "message": "incident update", "added": [], "modified": list(changed)},
            {"id": "3" * 40, "message": "docs", "added": [], "modified": ["README.md"]},
        ],
        "repository": REPOSITORY,
        "sender": {"login": "erin", "id": 1, "type": "User"},
    }


def pull_request_event(number: int) -> dict[str, Any]:
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "head": {"ref": "inc/checkout", "sha": "4" * 40},
            "base": {"ref": "main", "sha": "5" * 40},
        },
        "repository": REPOSITORY,
        "sender": {"login": "erin", "id": 1, "type": "User"},
    }


def dispatch_form(**inputs: str) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "ref": "refs/heads/main",
        "workflow": ".github/workflows/incident-form.yml",
        "repository": REPOSITORY,
        "sender": {"login": "park-sre", "id": 51234567, "type": "User"},
    }


def repository_dispatch(event_type: str, client_payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": event_type,
        "branch": "main",
        "client_payload": client_payload,
        "repository": REPOSITORY,
        "organization": {"login": "acme", "id": 98765432},
        "sender": {"login": "alert-relay[bot]", "id": 187654321, "type": "Bot"},
    }


def comment_event(
    issue: dict[str, Any],
    body: str,
    *,
    comment_id: int = 2468013579,
    login: str = "park-sre",
    association: str = "MEMBER",
    user_type: str = "User",
    created_at: str | None = None,
) -> dict[str, Any]:
    created_at = created_at or later(0)
    user = {"login": login, "id": 51234567, "type": user_type}
    number = issue["number"]
    return {
        "action": "created",
        "issue": issue,
        "comment": {
            "url": f"https://api.github.com/repos/{REPO}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{REPO}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"https://api.github.com/repos/{REPO}/issues/{number}",
            "id": comment_id,
            "node_id": "IC_kwDOMHcK5c6TG0oL",
            "user": user,
            "created_at": created_at,
            "updated_at": created_at,
            "author_association": association,
            "body": body,
            "performed_via_github_app": None,
        },
        "repository": REPOSITORY,
        "sender": user,
    }


def later(minutes: int) -> str:
    """A comment time ``minutes`` from now (after the incident the test opened just now)."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


# A workflow step, as the runner sets it up.


class Step:
    """One run of the CLI as a workflow step: its output, outputs, summary and annotations."""

    def __init__(self, exit_code: int, stdout: str, stderr: str, folder: Path) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.outputs = parse_outputs((folder / "output").read_text(encoding="utf-8"))
        self.summary = (folder / "summary.md").read_text(encoding="utf-8")

    def shown(self, **volatile: object) -> str:
        """Standard output without the ``::add-mask::`` lines (their order varies), the fakes'
        addresses and other ``volatile`` parts named (see :func:`tests.conftest.screen`)."""
        kept = [
            x for x in self.stdout.splitlines(keepends=True) if not x.startswith("::add-mask::")
        ]
        return screen("".join(kept), **volatile)

    @property
    def issues(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.outputs["issues"])
        return data

    def annotations(self, level: str) -> list[tuple[dict[str, str], str]]:
        found = []
        for line in self.stdout.splitlines():
            match = re.match(rf"^::{level}(?: (?P<props>[^:]*))?::(?P<message>.*)$", line)
            if match:
                props = dict(
                    item.split("=", 1) for item in (match.group("props") or "").split(",") if item
                )
                found.append((props, match.group("message")))
        return found


@pytest.fixture
def github() -> Iterator[ActionsGitHub]:
    app = ActionsGitHub().start()
    app.add_user("park-sre", "write")
    app.add_user("kim-data", "read")
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    app = FakeJira(cloud=True).start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def runner(
    github: ActionsGitHub, jira: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A workspace (the cwd) with incidents/ and a config: the fake GitHub and the fake Jira."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", github.url)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("GITHUB_RUN_ID", RUN_ID)
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    monkeypatch.setenv("JIRA_EMAIL", jira.email)
    monkeypatch.setenv("JIRA_API_TOKEN", jira.token)
    incidents = tmp_path / "incidents"
    incidents.mkdir()
    for source in (BANNER, CHECKOUT):
        (incidents / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    config = write_config(
        tmp_path / "incident-syncer.toml",
        {
            "github": github_tracker(github),
            "jira": jira_tracker(jira, transitions=TRANSITIONS, requests_per_second=1000, burst=50),
        },
        language="en",
    )
    return {"tmp": tmp_path, "config": config, "github": github, "jira": jira}


def step(env: dict[str, Any], event: str | None, payload: Any, *args: str) -> Step:
    """Run ``incident-syncer`` (default: ``gha``) as a step triggered by ``event``."""
    tmp: Path = env["tmp"]
    folder = tmp / "step"
    folder.mkdir(exist_ok=True)
    for name in ("output", "summary.md"):
        (folder / name).write_text("", encoding="utf-8")
    event_file = folder / "event.json"
    event_file.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    environ = {
        "GITHUB_OUTPUT": str(folder / "output"),
        "GITHUB_STEP_SUMMARY": str(folder / "summary.md"),
        "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_EVENT_NAME": event or "",
    }
    result = CliRunner().invoke(main, list(args or ("gha",)), env=environ)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Step(result.exit_code, result.stdout, result.stderr, folder)


EVENT = re.compile(r"incident-syncer:event id=([A-Za-z0-9._-]+)")


def jira_issue(jira: FakeJira, incident_id: str) -> Issue:
    (issue,) = jira.issues_labelled(f"incident-id-{incident_id}")
    return issue


def jira_events(jira: FakeJira, incident_id: str) -> list[str]:
    texts = jira.comment_texts(jira_issue(jira, incident_id))
    return [m.group(1) for t in texts if (m := EVENT.search(t))]


def jira_done(jira: FakeJira, incident_id: str) -> bool:
    return jira.category(jira_issue(jira, incident_id)) == "done"


def incident_issue(app: FakeGitHub, incident_id: str) -> int:
    (number,) = [
        n
        for n in app.issues_with_label(f"incident-id:{incident_id}")
        if "incident" in app.label_names(n)
    ]
    return number


def html(app: FakeGitHub, number: int) -> str:
    return f"{app.url}/{REPO}/issues/{number}"


def github_events(app: FakeGitHub, number: int) -> list[str]:
    return [m["id"] for b in app.comment_bodies(number) if (m := markers.find(b, "event"))]


def event_payload(app: FakeGitHub, number: int) -> dict[str, Any]:
    """The issue as an ``issue_comment`` payload carries it."""
    issue = app.issue(number)
    return {
        "url": f"https://api.github.com/repos/{REPO}/issues/{number}",
        "html_url": html(app, number),
        "id": 2961044830,
        "number": number,
        "title": issue["title"],
        "user": {"login": "incident-bot", "type": "Bot"},
        "labels": [{"id": 7000 + i, "name": n} for i, n in enumerate(issue["labels"])],
        "state": issue["state"],
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": len(issue["comments"]),
        "author_association": "NONE",
        "body": issue["body"],
    }


def open_incident(env: dict[str, Any], incident_id: str = "INC-2025-1103-0007") -> int:
    """An open incident in both trackers (through the form), its GitHub issue number."""
    form = dispatch_form(
        action="open",
        incident_id=incident_id,
        title="Settlement batch failed",
        grade="SEV2",
        text="PagerDuty",
        dry_run="false",
    )
    done = step(env, "workflow_dispatch", form)
    assert done.exit_code == 0, done.stdout + done.stderr
    return incident_issue(env["github"], incident_id)


# 1. Incident as code: push and pull request.


def test_push_syncs_the_changed_incident_files_and_reports_them(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    jira: FakeJira = runner["jira"]
    first = step(runner, "push", push_event(f"incidents/{CHECKOUT.name}"))
    assert first.exit_code == 0, first.stdout + first.stderr
    incident = "INC-2024-0305-checkout"
    number = incident_issue(app, incident)
    jira_key = jira_issue(jira, incident).key
    assert first.issues == {
        incident: {
            "github": {"key": f"#{number}", "url": html(app, number)},
            "jira": {"key": jira_key, "url": f"{jira.url}/browse/{jira_key}"},
        }
    }
    assert (first.outputs["created"], first.outputs["failed"]) == ("2", "0")
    assert first.outputs["outcome"] == "synced"
    assert f"| {incident} | github | [#{number}]({html(app, number)}) | created;" in first.summary
    assert "| Incident | Tracker | Link | Done |" in first.summary
    # Only the changed file: the banner incident (unchanged) is nowhere.
    assert not app.issues_with_label("incident-id:INC-2024-0212-banner")
    assert app.issue(number)["state"] == "closed"
    expected = event_ids(load_yaml(CHECKOUT))
    assert github_events(app, number) == expected and jira_events(jira, incident) == expected

    # The job re-run: nothing written, nothing created, the same issues reported.
    app.reset_log()
    again = step(runner, "push", push_event(f"incidents/{CHECKOUT.name}"))
    assert again.exit_code == 0
    assert app.writes() == 0
    assert again.issues == first.issues
    assert (again.outputs["created"], again.outputs["failed"]) == ("0", "0")
    assert (
        f"| {incident} | github | [#{number}]({html(app, number)}) | unchanged |" in again.summary
    )


def test_push_of_a_new_branch_syncs_the_whole_folder(runner: dict[str, Any]) -> None:
    done = step(runner, "push", push_event(before="0" * 40))
    assert done.exit_code == 0, done.stdout
    assert set(done.issues) == {"INC-2024-0212-banner", "INC-2024-0305-checkout"}


def test_push_without_incident_changes_does_nothing(runner: dict[str, Any]) -> None:
    done = step(runner, "push", push_event("docs/guide.md"))
    assert done.exit_code == 0
    assert done.outputs["outcome"] == "ignored"
    assert json.loads(done.outputs["issues"]) == {}
    assert done.shown() == "::notice title=incident-syncer::the push changed no incident file\n"
    assert done.stderr == "the push changed no incident file\n"
    assert runner["github"].writes() == 0


def test_a_bad_incident_file_is_annotated_at_its_line_and_nothing_is_written(
    runner: dict[str, Any],
) -> None:
    bad = runner["tmp"] / "incidents" / "INC-bad.yaml"
    bad.write_text("id: INC-bad\ntitle: Broken\ngrade: SEV9\nstatus: detected\n", encoding="utf-8")
    done = step(runner, "push", push_event("incidents/INC-bad.yaml"))
    assert done.exit_code == 2
    ((props, message),) = done.annotations("error")
    assert props == {"file": "incidents/INC-bad.yaml", "line": "3", "title": "incident-syncer"}
    assert "unknown grade 'SEV9'" in message
    assert done.outputs["outcome"] == "error"
    assert runner["github"].writes() == 0


def test_every_bad_file_gets_its_own_annotation(runner: dict[str, Any]) -> None:
    folder = runner["tmp"] / "incidents"
    (folder / "a.yaml").write_text("id: INC-a\ntitle: A\ngrade: SEV1\nstatus: lost\n")
    (folder / "b.json").write_text('{"id": "INC-b",\n "title": "",\n "grade": "SEV1"}')
    # An absolute PATH: annotations still name files from the repository root.
    done = step(runner, "push", push_event(before="0" * 40), "gha", str(folder))
    assert done.exit_code == 2
    found = {(p["file"], p.get("line")): m for p, m in done.annotations("error")}
    assert set(found) == {("incidents/a.yaml", "4"), ("incidents/b.json", "2")}
    assert found["incidents/a.yaml", "4"].startswith("status: ")
    assert runner["github"].writes() == 0 and runner["jira"].writes() == 0


def test_a_failing_tracker_is_annotated_at_the_incident_file(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    app.faults(1.0, statuses=(503,))
    done = step(runner, "push", push_event(f"incidents/{BANNER.name}"))
    assert done.exit_code == 1
    assert done.outputs["failed"] == "1"
    ((props, message),) = done.annotations("error")
    assert props["file"] == f"incidents/{BANNER.name}" and props["line"] == "2"
    assert message.startswith("INC-2024-0212-banner → github: ")
    failed = (
        "| INC-2024-0212-banner | github | - | ❌ failed: create issue: injected fault (after) "
        "(HTTP 503) (journaled; `retry` finishes it) |"
    )
    assert done.summary.splitlines()[4] == failed
    # The other tracker was not held back by the failing one.
    assert jira_done(runner["jira"], "INC-2024-0212-banner")


def test_pull_request_validates_and_keeps_one_preview_comment(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    pr = app.add_issue("Add the checkout postmortem", pull_request=True)
    app.pr_files[pr] = [f"incidents/{CHECKOUT.name}", "README.md"]
    first = step(runner, "pull_request", pull_request_event(pr))
    assert first.exit_code == 0, first.stdout + first.stderr
    assert first.outputs["outcome"] == "valid"
    assert (first.outputs["valid"], first.outputs["invalid"]) == ("2", "0")
    assert first.outputs["preview"] == "created"
    (body,) = app.comment_bodies(pr)
    assert markers.find(body, "preview") == {"key": "postmortem"}
    assert "INC-2024-0305-checkout" in body and "Rolled back payments-api" in body
    assert "INC-2024-0212-banner" not in body  # not changed in this pull request
    assert not app.issues_with_label("incident")  # a preview writes to no tracker

    # The job re-run: the same comment, untouched.
    app.reset_log()
    again = step(runner, "pull_request", pull_request_event(pr))
    assert again.outputs["preview"] == "unchanged" and app.writes() == 0

    # A new push to the branch: the one comment is updated in place.
    path = runner["tmp"] / "incidents" / CHECKOUT.name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["postmortem"]["summary"] = "A currency enum broke checkout for 17 minutes."
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    updated = step(runner, "pull_request", pull_request_event(pr))
    assert updated.outputs["preview"] == "updated"
    (body,) = app.comment_bodies(pr)
    assert "A currency enum broke checkout for 17 minutes." in body


def test_pull_request_with_an_invalid_file_fails_the_check_and_says_why(
    runner: dict[str, Any],
) -> None:
    app: ActionsGitHub = runner["github"]
    pr = app.add_issue("Broken incident", pull_request=True)
    bad = runner["tmp"] / "incidents" / "INC-bad.yaml"
    bad.write_text("id: INC-bad\ntitle: Broken\ngrade: SEV2\nstatus: sleeping\n", encoding="utf-8")
    app.pr_files[pr] = ["incidents/INC-bad.yaml"]
    done = step(runner, "pull_request", pull_request_event(pr))
    assert done.exit_code == 2
    assert done.outputs["outcome"] == "invalid"
    ((props, message),) = done.annotations("error")
    assert props["file"] == "incidents/INC-bad.yaml" and props["line"] == "4"
    assert "status" in message
    (body,) = app.comment_bodies(pr)
    assert "**incidents/INC-bad.yaml** is invalid:" in body and "- line 4:" in body
    assert done.summary == (
        "### incident-syncer: validate\n\n2 valid, 1 invalid\n"
        "- `incidents/INC-bad.yaml` line 4: expected one of 'detected', 'investigating', "
        "'mitigated', 'resolved' or 'closed', found 'sleeping'\n\n"
    )


# 2. workflow_dispatch: the form.


def test_the_form_opens_notes_regrades_and_resolves_and_re_runs_change_nothing(
    runner: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app: ActionsGitHub = runner["github"]
    incident = "INC-2025-1103-0007"
    number = open_incident(runner, incident)
    assert app.label_names(number)[:2] == ["incident", "grade:SEV2"]
    jira: FakeJira = runner["jira"]
    assert jira_issue(jira, incident).fields["summary"] == "[SEV2] Settlement batch failed"

    # Re-running the same run (same GITHUB_RUN_ID): found, nothing created or posted.
    app.reset_log()
    rerun = step(
        runner,
        "workflow_dispatch",
        dispatch_form(
            action="open", incident_id=incident, title="Settlement batch failed", grade="SEV2"
        ),
    )
    assert rerun.exit_code == 0 and rerun.outputs["created"] == "0"
    assert app.writes() == 0

    runs = iter(["8200000001", "8200000002", "8200000003"])
    monkeypatch.setenv("GITHUB_RUN_ID", next(runs))
    note = dispatch_form(
        action="note",
        incident_id=incident,
        text="메모리 한도 4Gi → 8Gi 상향 후 재실행 중",
        dry_run="false",
    )
    assert step(runner, "workflow_dispatch", note).outputs["outcome"] == "applied"
    assert step(runner, "workflow_dispatch", note).outputs["outcome"] == "already"
    assert github_events(app, number).count("gha-run-8200000001") == 1
    assert jira_events(jira, incident).count("gha-run-8200000001") == 1

    monkeypatch.setenv("GITHUB_RUN_ID", next(runs))
    regrade = dispatch_form(action="grade", incident_id=incident, grade="sev1", final="true")
    graded = step(runner, "workflow_dispatch", regrade)
    assert graded.exit_code == 0, graded.stdout
    assert "grade:SEV1" in app.label_names(number) and "grade:SEV2" not in app.label_names(number)
    assert "grade-SEV2-to-SEV1" in github_events(app, number)
    assert "grade-SEV2-to-SEV1" in jira_events(jira, incident)
    assert "grade:SEV1" in jira_issue(jira, incident).labels

    monkeypatch.setenv("GITHUB_RUN_ID", next(runs))
    resolve = dispatch_form(action="resolve", incident_id=incident, text="커넥션 풀 증설 후 정상화")
    resolved = step(runner, "workflow_dispatch", resolve)
    assert resolved.exit_code == 0
    assert app.issue(number)["state"] == "closed" and jira_done(jira, incident)
    app.reset_log()
    again = step(runner, "workflow_dispatch", resolve)
    assert again.outputs["outcome"] == "already" and app.writes() == 0
    assert f"### incident-syncer: resolve {incident}" in again.summary


def test_the_form_rejects_a_missing_action_and_an_unknown_tracker(runner: dict[str, Any]) -> None:
    nothing = dispatch_form()
    nothing["inputs"] = None  # GitHub sends null when the form has no inputs
    done = step(runner, "workflow_dispatch", nothing)
    assert done.exit_code == 2
    message = "inputs.action: unknown action ''; expected one of: open, note, grade, resolve"
    assert done.stderr == f"Error: {message}\n"
    assert done.shown() == f"::error title=incident-syncer::{message}\n"
    wrong = step(
        runner,
        "workflow_dispatch",
        dispatch_form(action="note", incident_id="INC-1", text="x", targets="notion,github"),
    )
    assert wrong.exit_code == 2
    assert wrong.stderr == (
        "Error: inputs.targets: no tracker named 'notion'; configured: github, jira\n"
    )
    assert runner["github"].writes() == 0


def test_dry_run_from_the_form_writes_nothing(runner: dict[str, Any]) -> None:
    form = dispatch_form(
        action="open", incident_id="INC-dry", title="Checkout slow", grade="SEV3", dry_run="true"
    )
    done = step(runner, "workflow_dispatch", form)
    assert done.exit_code == 0, done.stdout
    assert runner["github"].writes() == 0 and runner["jira"].writes() == 0
    plan = (
        "plan: create issue '[SEV3] Checkout slow' with label grade:SEV3; "
        "add 1 timeline comment(s): gha-run-8123456789"
    )
    assert done.summary == (
        "### incident-syncer: open INC-dry\n\nApplied.\n\n"
        "### incident-syncer\n\n| Incident | Tracker | Link | Done |\n|---|---|---|---|\n"
        f"| INC-dry | github | - | {plan} |\n| INC-dry | jira | - | {plan} |\n\n"
    )


# 3. repository_dispatch: an alert relayed into the repository.

ALERTMANAGER = {
    "receiver": "shop-prod/order-api/incident\\.sync",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "OrderApiHigh5xxRate",
                "namespace": "shop-prod",
                "service": "order-api",
                "severity": "critical",
                "team": "주문플랫폼팀",
            },
            "annotations": {"summary": "order-api HTTP 5xx 비율 12.4% (임계치 5%) 🔥"},
            "startsAt": "2025-11-03T06:14:52.517Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-0.monitoring:9090/graph?g0.expr=x\u0026g0.tab=1",
            "fingerprint": "3f9c1a7e5b2d4086",
        }
    ],
    "groupLabels": {"alertname": "OrderApiHigh5xxRate", "service": "order-api"},
    "commonLabels": {"alertname": "OrderApiHigh5xxRate", "service": "order-api"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager-0.monitoring:9093",
    "version": "4",
    "groupKey": '{}/{namespace="shop-prod"}:{alertname="OrderApiHigh5xxRate", service="order-api"}',
    "truncatedAlerts": 0,
}

COMPACT = {
    "source": "alertmanager",
    "group_key": '{}/{namespace="shop-prod"}:{alertname="OrderApiHigh5xxRate", service="order-api"}',
    "fingerprint": "3f9c1a7e5b2d4086",
    "status": "firing",
    "severity": "critical",
    "service": "order-api",
    "summary": "order-api HTTP 5xx 비율 12.4% (임계치 5%) 🔥",
    "starts_at": "2025-11-03T06:14:52.517Z",
    "labels": {"team": "주문플랫폼팀", "namespace": "shop-prod"},
    "runbook_url": "https://wiki.shop.example.kr/runbooks/order-api-5xx",
}


def incident_issues(app: FakeGitHub) -> list[int]:
    return [n for n in app.issues_with_label("incident") if not app.issue(n)["pull_request"]]


@pytest.mark.parametrize(
    ("event_type", "client_payload", "source"),
    [
        ("alertmanager", ALERTMANAGER, "alertmanager"),
        ("alert-received", COMPACT, "generic"),
        ("alert-received", {"source": "alertmanager", "payload": ALERTMANAGER}, "alertmanager"),
    ],
    ids=["whole-body", "compact-summary", "wrapped-body"],
)
def test_repository_dispatch_ingests_the_alert_once(
    runner: dict[str, Any], event_type: str, client_payload: dict[str, Any], source: str
) -> None:
    app: ActionsGitHub = runner["github"]
    event = repository_dispatch(event_type, client_payload)
    first = step(runner, "repository_dispatch", event)
    assert first.exit_code == 0, first.stdout + first.stderr
    assert (first.outputs["outcome"], first.outputs["source"]) == ("ingested", source)
    (incident,) = first.issues
    assert first.outputs["created"] == "2"
    (number,) = incident_issues(app)
    assert "order-api" in app.issue(number)["title"] or "OrderApi" in app.issue(number)["title"]
    assert not jira_done(runner["jira"], incident)

    # Redelivered, or the job re-run: the same incident, nothing new anywhere.
    app.reset_log()
    again = step(runner, "repository_dispatch", event)
    assert again.exit_code == 0
    assert app.writes() == 0 and incident_issues(app) == [number]
    assert again.outputs["created"] == "0"


def test_repository_dispatch_without_a_payload_is_bad_input(runner: dict[str, Any]) -> None:
    done = step(runner, "repository_dispatch", repository_dispatch("alertmanager", {}))
    assert done.exit_code == 2
    assert screen(done.stderr, tmp=runner["tmp"]) == (
        "Error: <tmp>/step/event.json: repository_dispatch carries no client_payload\n"
    )
    assert done.annotations("error")


# 4. ChatOps on the incident's issue.


def test_chatops_commands_reach_every_tracker_once(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    jira: FakeJira = runner["jira"]
    incident = "INC-2025-1103-0007"
    number = open_incident(runner, incident)

    note = comment_event(
        event_payload(app, number),
        "/incident note\n메모리 한도 4Gi → 8Gi 상향 후 재실행 중입니다 🙏",
        comment_id=2468013579,
    )
    done = step(runner, "issue_comment", note)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.outputs["outcome"] == "applied" and done.outputs["incident"] == incident
    assert "gh-comment-2468013579" in github_events(app, number)
    assert "gh-comment-2468013579" in jira_events(jira, incident)
    texts = jira.comment_texts(jira_issue(jira, incident))
    entry = next(t for t in texts if "gh-comment-2468013579" in t)
    assert "메모리 한도 4Gi → 8Gi" in entry and "park-sre" in entry
    assert done.summary.splitlines()[:3] == [
        "### incident-syncer: ChatOps",
        "",
        f"`/incident note` from @park-sre on #{number} → {incident}: applied",
    ]

    # The job re-run (same event): nothing is posted twice, on either tracker.
    app.reset_log()
    jira.reset_log()
    before = len(jira_issue(jira, incident).comments)
    again = step(runner, "issue_comment", note)
    assert again.exit_code == 0 and again.outputs["outcome"] == "already"
    assert app.writes() == 0 and jira.writes() == 0
    assert len(jira_issue(jira, incident).comments) == before

    grade = comment_event(
        event_payload(app, number),
        "/incident grade SEV1 --final",
        comment_id=2468013600,
        created_at=later(10),
    )
    assert step(runner, "issue_comment", grade).exit_code == 0
    assert "grade:SEV1" in app.label_names(number)
    assert jira_issue(jira, incident).fields["summary"].startswith("[SEV1]")
    assert github_events(app, number).count("grade-SEV2-to-SEV1") == 1
    assert jira_events(jira, incident).count("grade-SEV2-to-SEV1") == 1
    app.reset_log()
    assert step(runner, "issue_comment", grade).outputs["outcome"] == "already"
    assert app.writes() == 0

    resolve = comment_event(
        event_payload(app, number),
        "/incident resolve 결제 DB 커넥션 풀 증설 후 정상화 확인",
        comment_id=2468013700,
        created_at=later(30),
    )
    resolved = step(runner, "issue_comment", resolve)
    assert resolved.exit_code == 0, resolved.stdout + resolved.stderr
    assert app.issue(number)["state"] == "closed"
    assert jira_done(jira, incident)
    # No reply comments: the timeline entries are the acknowledgement.
    assert not [b for b in app.comment_bodies(number) if markers.find(b, "chatops-reply")]


def test_chatops_refuses_a_commenter_without_write_permission(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    incident = "INC-2025-1103-0007"
    number = open_incident(runner, incident)
    events_before = github_events(app, number)
    jira: FakeJira = runner["jira"]
    jira_before = copy.deepcopy(jira_issue(jira, incident).comments)
    # kim-data is a collaborator with read access only.
    event = comment_event(
        event_payload(app, number),
        "/incident resolve done",
        comment_id=77,
        login="kim-data",
        association="COLLABORATOR",
    )
    app.reset_log()
    jira.reset_log()
    done = step(runner, "issue_comment", event)
    assert done.exit_code == 0
    assert done.outputs["outcome"] == "refused"
    ((_, message),) = done.annotations("warning")
    assert message == "refused /incident resolve from @kim-data: read permission"
    replies = [b for b in app.comment_bodies(number) if markers.find(b, "chatops-reply")]
    assert (
        len(replies) == 1 and "@kim-data" in replies[0] and "needs write access" not in replies[0]
    )
    assert "need write access" in replies[0] and "Nothing was changed" in replies[0]
    assert app.issue(number)["state"] == "open"
    assert github_events(app, number) == events_before
    assert jira_issue(jira, incident).comments == jira_before and not jira_done(jira, incident)
    assert jira.writes() == 0
    assert app.writes() == 1  # the reply, nothing else

    # The job re-run: the reply is not posted again.
    app.reset_log()
    assert step(runner, "issue_comment", event).outputs["outcome"] == "refused"
    assert app.writes() == 0

    # Someone from outside (no association) is refused without asking the API.
    stranger = comment_event(
        event_payload(app, number),
        "/incident note hi",
        comment_id=78,
        login="drive-by",
        association="NONE",
    )
    app.reset_log()
    refused = step(runner, "issue_comment", stranger)
    assert refused.outputs["outcome"] == "refused"
    assert not app.entries(pattern="/collaborators/")
    assert github_events(app, number) == events_before


def test_chatops_fails_closed_when_the_permission_cannot_be_read(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    jira: FakeJira = runner["jira"]
    number = open_incident(runner)
    app.permission_down = True
    app.reset_log()
    jira.reset_log()
    event = comment_event(event_payload(app, number), "/incident resolve done", comment_id=90)
    done = step(runner, "issue_comment", event)
    assert done.exit_code == 1
    assert done.outputs["outcome"] == "error"
    assert done.stderr == (
        "Error: github: read the permission of park-sre: Service Unavailable (HTTP 503)\n"
    )
    assert len(app.entries("GET", "/collaborators/park-sre/permission")) == 6  # retried reads
    assert app.writes() == 0 and jira.writes() == 0
    assert app.issue(number)["state"] == "open"


@pytest.mark.parametrize(
    ("body", "changes", "reason"),
    [
        (
            "/incident note from a bot",
            {"user_type": "Bot", "login": "deploy[bot]"},
            "a comment by the bot deploy[bot]",
        ),
        (
            "Entry\n<!-- incident-syncer:event id=e-1 -->\n/incident note echo",
            {},
            "a comment incident-syncer posted itself",
        ),
        ("Looks fine to me, thanks", {}, "not an /incident command"),
    ],
    ids=["bot", "own-comment", "no-command"],
)
def test_chatops_ignores_bots_its_own_comments_and_chatter(
    runner: dict[str, Any], body: str, changes: dict[str, str], reason: str
) -> None:
    app: ActionsGitHub = runner["github"]
    number = open_incident(runner)
    app.reset_log()
    done = step(runner, "issue_comment", comment_event(event_payload(app, number), body, **changes))
    assert done.exit_code == 0
    assert done.outputs["outcome"] == "ignored"
    assert done.shown() == f"::notice title=incident-syncer::ignored: {reason}\n"
    assert app.calls() == 0


def test_chatops_ignores_comments_on_pull_requests(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    pr = app.add_issue("A pull request", pull_request=True)
    issue = {
        "number": pr,
        "title": "A pull request",
        "labels": [],
        "body": None,
        "pull_request": {"url": f"https://api.github.com/repos/{REPO}/pulls/{pr}"},
    }
    done = step(runner, "issue_comment", comment_event(issue, "/incident note x"))
    assert done.outputs["outcome"] == "ignored"
    assert done.shown() == (
        "::notice title=incident-syncer::ignored: a comment on a pull request, "
        "not on an incident issue\n"
    )
    assert app.calls() == 0


def test_chatops_answers_mistakes_with_usage_and_changes_nothing(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    number = open_incident(runner)
    before = github_events(app, number)
    bad_grade = comment_event(event_payload(app, number), "/incident grade SEV9", comment_id=501)
    done = step(runner, "issue_comment", bad_grade)
    assert done.exit_code == 2
    reply = next(b for b in app.comment_bodies(number) if markers.find(b, "chatops-reply"))
    assert "unknown grade 'SEV9'" in reply and "Usage:" in reply
    unknown = comment_event(event_payload(app, number), "/incident ack\n재실행 중", comment_id=502)
    done = step(runner, "issue_comment", unknown)
    assert done.exit_code == 0 and done.outputs["outcome"] == "rejected"
    # Said once, as what it is: the commenter's mistake is a warning (not also a notice).
    assert done.shown() == "::warning title=incident-syncer::unknown command `/incident ack`\n"
    assert done.stderr == "unknown command `/incident ack`\n"
    assert github_events(app, number) == before


def test_chatops_on_an_issue_that_is_no_incident(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    number = app.add_issue("Question about the dashboard", body=None)
    issue = {"number": number, "title": "Question", "labels": [{"name": "incident"}], "body": None}
    done = step(runner, "issue_comment", comment_event(issue, "/incident note x"))
    assert done.exit_code == 0 and done.outputs["outcome"] == "ignored"
    (reply,) = app.comment_bodies(number)
    assert "not an incident-syncer incident" in reply


# 5. The scheduled run.


def test_schedule_finishes_what_an_earlier_run_left_pending(runner: dict[str, Any]) -> None:
    app: ActionsGitHub = runner["github"]
    app.faults(1.0, statuses=(502,))
    failed = step(runner, "push", push_event(f"incidents/{BANNER.name}"))
    assert failed.exit_code == 1 and failed.outputs["failed"] == "1"
    app.faults(0.0)
    app.reset_log()
    done = step(runner, "schedule", {"schedule": "17 * * * *"})
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.outputs["outcome"] == "synced" and done.outputs["failed"] == "0"
    number = incident_issue(app, "INC-2024-0212-banner")
    assert app.issue(number)["state"] == "closed"
    # Both incidents of the folder are reported (the re-sync), once each per tracker.
    assert set(done.issues) == {"INC-2024-0212-banner", "INC-2024-0305-checkout"}
    assert done.summary.count("| INC-2024-0212-banner | github |") == 2  # retry, then sync
    app.reset_log()
    quiet = step(runner, "schedule", {"schedule": "17 * * * *"})
    assert quiet.exit_code == 0 and app.writes() == 0
    urls = {"gh": app.url, "jira": runner["jira"].url}
    assert quiet.shown(**urls) == (
        "nothing pending\n"
        "✓ INC-2024-0212-banner → github #1 <gh>/acme/incidents/issues/1: unchanged\n"
        "✓ INC-2024-0212-banner → jira OPS-1 <jira>/browse/OPS-1: unchanged\n"
        "✓ INC-2024-0305-checkout → github #5 <gh>/acme/incidents/issues/5: unchanged\n"
        "✓ INC-2024-0305-checkout → jira OPS-5 <jira>/browse/OPS-5: unchanged\n"
    )


# No configuration at all: the repository's own issues.


def test_with_no_config_file_the_repositorys_issues_are_the_tracker(
    runner: dict[str, Any],
) -> None:
    app: ActionsGitHub = runner["github"]
    runner["config"].unlink()
    small = runner["tmp"] / "incidents" / "INC-small.yaml"
    small.write_text(
        "id: INC-small\ntitle: Banner missing\ngrade: SEV4\nstatus: detected\n"
        "detected_at: 2025-11-03T10:00:00+09:00\n",
        encoding="utf-8",
    )
    done = step(runner, "push", push_event("incidents/INC-small.yaml"))
    assert done.exit_code == 0, done.stdout + done.stderr
    number = incident_issue(app, "INC-small")
    assert done.issues == {"INC-small": {"github": {"key": f"#{number}", "url": html(app, number)}}}
    assert "grade:SEV4" in app.label_names(number)
    # The state file went to the workspace's default place, for actions/cache to keep.
    assert (runner["tmp"] / ".incident-syncer" / "state.db").is_file()


def test_without_a_token_and_no_config_the_error_says_what_to_do(
    runner: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner["config"].unlink()
    monkeypatch.delenv("GITHUB_TOKEN")
    done = step(runner, "push", push_event(f"incidents/{BANNER.name}"))
    assert done.exit_code == 2
    assert done.stderr == (
        "Error: no configuration: pass --config, set INCIDENT_SYNCER_CONFIG, or create "
        "./incident-syncer.toml (config.example.toml documents every key)\n"
    )


# Secrets.


def test_secrets_are_masked_before_any_output_and_never_leak_unmasked(
    runner: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = "whsec-0123456789abcdef"
    monkeypatch.setenv("INCIDENT_SYNCER_WEBHOOK_TOKEN", webhook)  # named by [serve] token_env
    path = runner["tmp"] / "incidents" / BANNER.name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["title"] = f"Banner missing (token {TOKEN} pasted by mistake)"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runner["github"].faults(1.0, statuses=(500,))  # errors printed too
    done = step(runner, "push", push_event(f"incidents/{BANNER.name}"), "-vv", "gha")
    assert done.exit_code == 1
    lines = done.stdout.splitlines()
    masks = [line.removeprefix("::add-mask::") for line in lines if line.startswith("::add-mask::")]
    assert {TOKEN, webhook} <= set(masks)
    # Every mask comes first, before anything else is printed.
    assert all(line.startswith("::add-mask::") for line in lines[: len(masks)])
    for secret in (TOKEN, webhook):
        first = lines.index(f"::add-mask::{secret}")
        leaks = [
            i
            for i, line in enumerate(lines)
            if secret in line and not line.startswith("::add-mask::")
        ]
        assert all(i > first for i in leaks)  # the runner masks whatever follows the mask
        assert secret not in done.stderr
        assert secret not in done.summary
        assert secret not in json.dumps(done.outputs)
    assert "<secret>" in done.summary
