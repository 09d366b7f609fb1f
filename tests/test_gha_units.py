"""The pieces of the GitHub Actions support on their own: outputs, summary, commands, events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import chatops, config, gha
from syncer.engine import Result
from syncer.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it: ``name=value`` or ``name<<DELIM`` blocks; last wins."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs


@pytest.fixture
def runner_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    files = {"output": tmp_path / "output", "summary": tmp_path / "summary.md"}
    for path in files.values():
        path.write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setattr(gha, "_fallback", gha._Run())
    return files


def test_outputs_use_a_delimiter_that_is_not_in_the_value(runner_files: dict[str, Path]) -> None:
    tricky = "line one\nghadelimiter_\nEOF\nlast"
    gha.set_outputs(note=tricky, plain="x=1", issues={"INC-1": {"gh": {"key": "#1"}}})
    text = runner_files["output"].read_text(encoding="utf-8")
    assert text.startswith("note<<ghadelimiter_")
    assert "plain=x=1\n" in text
    assert parse_outputs(text) == {
        "note": tricky,
        "plain": "x=1",
        "issues": '{"INC-1": {"gh": {"key": "#1"}}}',
    }


def test_outputs_and_summary_are_untouched_outside_actions(
    runner_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS")
    gha.set_outputs(created="1")
    gha.add_summary("hello")
    gha.report([Result(incident="INC-1", tracker="gh", error="boom")])
    assert runner_files["output"].read_text() == runner_files["summary"].read_text() == ""


def test_report_writes_the_table_escapes_cells_and_annotates_failures(
    runner_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    gha.remember_files({"INC-1": ("incidents/inc-1.yaml", 2)})
    gha.report(
        [
            Result(
                incident="INC-1",
                tracker="github",
                key="#3",
                url="https://github.com/acme/incidents/issues/3",
                created=True,
                operations=["create issue '[SEV1] a | b'"],
            ),
            Result(incident="INC-1", tracker="jira", error="HTTP 503: busy", retryable=True),
        ]
    )
    summary = runner_files["summary"].read_text(encoding="utf-8")
    assert (
        "| INC-1 | github | [#3](https://github.com/acme/incidents/issues/3) "
        "| created; create issue '[SEV1] a \\| b' |"
    ) in summary
    assert (
        "| INC-1 | jira | - | ❌ failed: HTTP 503: busy (journaled; `retry` finishes it) |"
    ) in summary
    out = capsys.readouterr().out
    assert (
        "::error file=incidents/inc-1.yaml,line=2,title=incident-syncer::INC-1 → jira: HTTP 503: busy"
        in out
    )
    outputs = parse_outputs(runner_files["output"].read_text(encoding="utf-8"))
    assert json.loads(outputs["issues"]) == {
        "INC-1": {
            "github": {"key": "#3", "url": "https://github.com/acme/incidents/issues/3"},
            "jira": {"key": None, "url": None},
        }
    }
    assert (outputs["created"], outputs["failed"]) == ("1", "1")


def test_annotation_properties_and_messages_are_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gha.command("warning", "50% done\nnext line", file="a,b:c.yaml", line=3)
    assert (
        capsys.readouterr().out == "::warning file=a%2Cb%3Ac.yaml,line=3::50%25 done%0Anext line\n"
    )


def test_the_summary_stays_under_githubs_limit(
    runner_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    row = "| INC | github | [#1](https://x) | " + "x" * 1000 + " |\n"
    for _ in range(3):
        gha.add_summary(row * 400)  # about 420 kB each
    size = runner_files["summary"].stat().st_size
    assert size < gha.SUMMARY_LIMIT
    text = runner_files["summary"].read_text(encoding="utf-8")
    assert text.endswith(
        "_… the rest is left out: GitHub shows at most 1 MiB of summary per step._\n"
    )
    assert "::warning title=incident-syncer::the step summary was cut" in capsys.readouterr().out


def test_defaults_point_github_trackers_at_this_repository(
    runner_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_abcdefgh12345678")
    empty = config.parse({}, None)
    gha.apply_defaults(empty)
    assert empty.trackers == {
        "github": {
            "type": "github",
            "repo": "acme/app",
            "base_url": "https://ghe.example.com/api/v3",
            "token_env": "GITHUB_TOKEN",
        }
    }
    # A configured GitHub tracker keeps what it says and gets only what it leaves out.
    other = config.parse(
        {"trackers": {"gh": {"type": "github", "repo": "acme/incidents"}, "m": {"type": "memory"}}},
        None,
    )
    gha.apply_defaults(other)
    assert other.trackers["gh"]["repo"] == "acme/incidents"
    assert other.trackers["gh"]["base_url"] == "https://ghe.example.com/api/v3"
    assert other.trackers["m"] == {"type": "memory"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/incident note 롤백 완료", chatops.Command("note", text="롤백 완료")),
        (
            "/incident note\n메모리 한도 상향\n두 번째 줄",
            chatops.Command("note", text="메모리 한도 상향\n두 번째 줄"),
        ),
        (
            "\n/INCIDENT grade sev1 --final",
            chatops.Command("grade", grade="sev1", final=True),
        ),
        # Only the first line of prose is a command: not one shown in code, nor one quoted.
        ("Thanks!\n/incident grade SEV1", None),
        ("```\n/incident resolve\n```", None),
        ("```\n/incident resolve\n```\nThat is how you'd resolve it.", None),
        ("    /incident resolve", None),
        ("> /incident resolve\n\nNot yet, please.", None),
        (
            "> Can someone note this?\n\n/incident note 고객 공지 발송",
            chatops.Command("note", text="고객 공지 발송"),
        ),
        (
            "/incident grade",
            chatops.Command("grade", error="`/incident grade` takes one grade, e.g. SEV1"),
        ),
        ("/incident resolve", chatops.Command("resolve")),
        (
            "/incident resolve rolled back v2.14",
            chatops.Command("resolve", text="rolled back v2.14"),
        ),
        ("/incident note", chatops.Command("note", error="`/incident note` needs a text")),
        ("/incident", chatops.Command("help")),
        ("/incident ack", chatops.Command("ack", error="unknown command `/incident ack`")),
        ("we should /incident note this", None),
        ("/incidents note x", None),
    ],
)
def test_comment_commands_are_parsed(body: str, expected: chatops.Command | None) -> None:
    assert chatops.parse_command(body) == expected


def test_an_id_longer_than_a_label_comes_back_whole_from_the_marker() -> None:
    from adapters.github.settings import id_label

    long_id = "ALERT-" + "checkout-api-HighErrorRate-" * 3 + "eu-west-1"
    body = (
        f"<!-- incident-syncer:begin id={long_id} digest=abc -->\n…\n<!-- incident-syncer:end -->"
    )
    short = id_label(long_id)
    assert len(short) == 50 and short != f"incident-id:{long_id}"
    issue = {"labels": [{"name": "incident"}, {"name": short}], "body": body}
    assert chatops.incident_id_of(issue) == long_id
    # A marker whose id does not give that label is not this issue's incident.
    other = body.replace(long_id, long_id + "-other")
    assert chatops.incident_id_of({"labels": [{"name": short}], "body": other}) is None


def test_the_incident_of_an_issue_comes_from_its_label_or_its_marker() -> None:
    assert (
        chatops.incident_id_of({"labels": [{"name": "incident-id:INC-7"}], "body": None}) == "INC-7"
    )
    body = "text\n<!-- incident-syncer:begin id=INC-8 digest=abc -->\n...\n<!-- incident-syncer:end -->"
    assert chatops.incident_id_of({"labels": [{"name": "incident"}], "body": body}) == "INC-8"
    assert chatops.incident_id_of({"labels": [{"name": "incident"}], "body": None}) is None


def test_workflow_dispatch_inputs_are_strings_and_may_be_null() -> None:
    event = chatops.Event("workflow_dispatch", {"inputs": {"dry-run": "false", "Final": "true"}})
    inputs = chatops.dispatch_inputs(event)
    assert inputs == {"dry_run": "false", "final": "true"}
    assert not chatops.truthy(inputs["dry_run"]) and chatops.truthy(inputs["final"])
    assert chatops.dispatch_inputs(chatops.Event("workflow_dispatch", {"inputs": None})) == {}


def test_the_event_file_must_be_there_and_be_json(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="event payload file not found"):
        chatops.load_event("push", str(tmp_path / "missing.json"))
    bad = tmp_path / "event.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="not a JSON object"):
        chatops.load_event("push", str(bad))
    with pytest.raises(InputError, match="GITHUB_EVENT_NAME is not set"):
        chatops.load_event(None, str(bad))


def test_a_compact_alert_summary_reads_as_the_generic_event() -> None:
    event = chatops.Event(
        "repository_dispatch",
        {
            "action": "alert-received",
            "client_payload": {
                "source": "alertmanager",
                "group_key": '{}:{alertname="X"}',
                "fingerprint": "3f9c1a7e5b2d4086",
                "status": "firing",
                "severity": "critical",
                "service": "order-api",
                "summary": "5xx 12.4%",
                "starts_at": "2025-11-03T06:14:52.517Z",
                "labels": {"team": "주문플랫폼팀"},
                "runbook_url": "https://wiki.example.kr/runbooks/order-api-5xx",
            },
        },
    )
    source, body = chatops.dispatch_payload(event)
    assert source == "generic"
    assert body == {
        "source": "alertmanager",
        "key": '{}:{alertname="X"}',
        "status": "firing",
        "severity": "critical",
        "service": "order-api",
        "summary": "5xx 12.4%",
        "started_at": "2025-11-03T06:14:52.517Z",
        "labels": {"team": "주문플랫폼팀"},
        "links": [{"title": "Runbook", "url": "https://wiki.example.kr/runbooks/order-api-5xx"}],
        "annotations": {"fingerprint": "3f9c1a7e5b2d4086"},
    }


def test_a_grade_change_is_recognised_on_a_re_run_by_who_and_when() -> None:
    cfg = config.parse({}, None)
    from syncer import loader

    incident = loader.validate(
        {"id": "INC-1", "title": "t", "grade": "SEV2", "detected_at": "2025-11-03T10:00:00Z"},
        "x",
        {},
        cfg,
    )
    at = datetime(2025, 11, 3, 11, 0, tzinfo=UTC)
    change = chatops.Change("grade", "INC-1", at, "gh-comment-9", grade="SEV1", author="park")
    data = chatops.changed_data(incident, change, cfg)
    assert data is not None
    assert data["timeline"][-1]["id"] == "grade-SEV2-to-SEV1"
    regraded = loader.validate(data, "x", {}, cfg)
    assert chatops.already_applied(regraded, change)
    assert chatops.changed_data(regraded, change, cfg) is None  # SEV1 already


def test_action_metadata_declares_the_documented_inputs_and_outputs() -> None:
    meta: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert meta["runs"]["using"] == "composite"
    assert {"command", "args", "config", "python-version"} <= set(meta["inputs"])
    assert {"issues", "created", "failed"} <= set(meta["outputs"])
    for name, output in meta["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    install = next(s for s in meta["runs"]["steps"] if s.get("name") == "Install incident-syncer")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"


# The action and the example workflows pass a real workflow linter.

EXAMPLES = sorted((ROOT / "examples" / "github-actions").glob("*.yml"))
LINTER = "jactionlint>=2.3,<3"  # actionlint's checks plus composite actions and security rules


@pytest.fixture(scope="session")
def linter() -> str:
    """The jactionlint binary (a PyPI wheel that carries it); installed here if it is missing."""
    import shutil
    import subprocess
    import sys

    here = str(Path(sys.executable).parent)
    found = shutil.which("jactionlint", path=here) or shutil.which("jactionlint")
    if found is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", LINTER], check=True, timeout=300
        )
        found = shutil.which("jactionlint", path=here)
    assert found is not None, f"could not install {LINTER}"
    return found


def lint(linter: str, repo: Path) -> Any:
    import subprocess

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return subprocess.run(
        # Examples name actions by tag (actions/checkout@v4) so that they stay readable;
        # pin commit SHAs in your own copy (the rule unpinned-uses says so).
        [linter, "--no-online", "--no-color", "--ignore", "unpinned-uses"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_example_workflow_lets_github_cancel_a_waiting_run() -> None:
    """Each run carries work of its own (a push's files, a command, an alert): GitHub's default
    concurrency keeps one waiting run and cancels the older, so every group queues them all;
    only the scheduled catch-up, whose newer run does everything an older one would, may not."""
    import re

    groups = {}
    for example in EXAMPLES:
        workflow = yaml.safe_load(example.read_text(encoding="utf-8"))
        groups[example.name] = workflow["concurrency"]
    assert all(g["cancel-in-progress"] is False for g in groups.values()), groups
    queued = {name for name, g in groups.items() if g.get("queue") == "max"}
    assert queued == set(groups) - {"scheduled-retry.yml"}, groups
    docs = (ROOT / "docs" / "github-actions.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(concurrency:\n.*?)```", docs, re.S)
    assert yaml.safe_load(block)["concurrency"]["queue"] == "max"
    for readme in ("README.md", "README.ko.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        assert "`cancel-in-progress: false`, `queue: max`" in text, readme


def test_the_action_and_every_example_workflow_pass_the_linter(linter: str, tmp_path: Path) -> None:
    assert len(EXAMPLES) == 5
    # As published: action.yml at the root, the examples as a user's workflows.
    published = tmp_path / "published"
    (published / ".github" / "workflows").mkdir(parents=True)
    (published / "action.yml").write_text((ROOT / "action.yml").read_text(encoding="utf-8"))
    for example in EXAMPLES:
        (published / ".github" / "workflows" / example.name).write_text(
            example.read_text(encoding="utf-8")
        )
    result = lint(linter, published)
    assert result.returncode == 0, result.stdout + result.stderr

    # With the examples pointed at this action (uses: ./), so that every input they pass is
    # checked against action.yml's own inputs.
    local = tmp_path / "local"
    (local / ".github" / "workflows").mkdir(parents=True)
    (local / "action.yml").write_text((ROOT / "action.yml").read_text(encoding="utf-8"))
    for example in EXAMPLES:
        text = example.read_text(encoding="utf-8")
        assert "uses: acme/incident-syncer@v1" in text, example.name
        (local / ".github" / "workflows" / example.name).write_text(
            text.replace("uses: acme/incident-syncer@v1", "uses: ./")
        )
    result = lint(linter, local)
    assert result.returncode == 0, result.stdout + result.stderr

    # The linter is real: a wrong input name and a missing shell are caught.
    (local / ".github" / "workflows" / "chatops.yml").write_text(
        (ROOT / "examples" / "github-actions" / "chatops.yml")
        .read_text(encoding="utf-8")
        .replace("uses: acme/incident-syncer@v1", "uses: ./")
        .replace("config: .github/incident-syncer.toml", "konfig: .github/incident-syncer.toml")
    )
    (local / "action.yml").write_text(
        (ROOT / "action.yml").read_text(encoding="utf-8").replace("      shell: bash\n", "", 1)
    )
    broken = lint(linter, local)
    assert broken.returncode == 1
    assert 'input "konfig" is not defined in action' in broken.stdout
    assert '"shell" is required for a "run" step of a composite action' in broken.stdout
