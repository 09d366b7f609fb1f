"""Issue 3's acceptance on GitHub: the CLI, the real PyGithub, the fake GitHub server.

Each test asserts the fake's final state *and* its request log (what was read, what was
written, how many times).
"""

from __future__ import annotations

import copy
import random
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer import markers
from tests.conftest import BANNER, CHECKOUT, CHECKOUT_FIRST_SYNC, Workspace, write_config
from tests.contract.suite import event_ids, load_yaml, regrade
from tests.fakes.github import BODY_LIMIT, TOKEN, FakeGitHub, fresh_pacers, github_tracker

CHECKOUT_ID = "INC-2024-0305-checkout"


class GH(Workspace):
    """A fake GitHub, a config pointing at it, and the CLI."""

    def __init__(self, app: FakeGitHub, tmp: Path) -> None:
        self.app = app
        self.tmp = tmp
        self.configure()

    def configure(self, base_url: str | None = None, **overrides: Any) -> None:
        table = github_tracker(self.app, **overrides)
        if base_url:
            table["base_url"] = base_url
        self.config = write_config(self.tmp / "incident-syncer.toml", {"gh": table})

    def volatile(self) -> dict[str, object]:
        return {"gh": self.app.url, "tmp": self.tmp}

    # The fake's state, seen as incidents.

    def marked(self, kind: str, incident_id: str) -> list[int]:
        return [
            n
            for n, issue in sorted(self.app.issues.items())
            if (markers.find(issue["body"], kind) or {}).get("id") == incident_id
        ]

    def incident(self, incident_id: str) -> dict[str, Any]:
        numbers = [
            n
            for n in self.marked(markers.BEGIN, incident_id)
            if "duplicate" not in self.app.issues[n]["labels"]
        ]
        assert len(numbers) == 1, numbers
        return self.app.issues[numbers[0]]

    def events(self, incident_id: str) -> list[str]:
        comments = self.app.comment_bodies(self.incident(incident_id)["number"])
        return [m["id"] for c in comments if (m := markers.find(c, "event"))]

    def writes(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.app.log if e.write]


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GH]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fresh_pacers(monkeypatch)
    app = FakeGitHub(users={"erin": "write", "alice": "write", "grace": "triage"}).start()
    try:
        yield GH(app, tmp_path)
    finally:
        app.stop()


def ongoing(**changes: Any) -> dict[str, Any]:
    """The checkout incident while it is still going on (4 events, SEV3, mitigated)."""
    data = load_yaml(CHECKOUT)
    for key in ("resolved_at", "closed_at", "postmortem"):
        data.pop(key)
    data.update(status="mitigated", grade="SEV3", timeline=data["timeline"][:4])
    data.update(changes)
    return data


R = "/repos/acme/incidents"


def test_full_sync_one_issue_comments_in_order_labels_closed_postmortem(gh: GH) -> None:
    result = gh.sync(CHECKOUT)
    assert gh.screen(result.output) == (
        f"✓ {CHECKOUT_ID} → gh #1 <gh>/acme/incidents/issues/1: created\n"
        + CHECKOUT_FIRST_SYNC
        + "    - update issue body; set status → closed\n"
    )
    data = load_yaml(CHECKOUT)
    issue = gh.incident(CHECKOUT_ID)
    assert issue["number"] == 1 and issue["title"] == f"[SEV1] {data['title']}"
    assert issue["labels"] == ["incident", "grade:SEV1", f"incident-id:{CHECKOUT_ID}"]
    assert gh.app.labels["grade:sev1"]["color"] == "b60205"  # created with the grade's colour
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    assert issue["assignees"] == ["erin"]
    # One comment per event, in time order, each with its marker and the event's text.
    comments = gh.app.comment_bodies(1)
    assert gh.events(CHECKOUT_ID) == event_ids(data)
    for comment, event in zip(
        comments, sorted(data["timeline"], key=lambda e: e["at"]), strict=True
    ):
        assert event["text"] in comment
    # The postmortem issue links to the incident and the incident links back to it.
    (pm,) = gh.marked("postmortem", CHECKOUT_ID)
    postmortem = gh.app.issues[pm]
    assert postmortem["labels"] == ["postmortem", f"incident-id:{CHECKOUT_ID}"]
    assert f"{gh.app.url}/acme/incidents/issues/1" in postmortem["body"]
    assert f"{gh.app.url}/acme/incidents/issues/{pm}" in issue["body"]
    items = gh.marked("action", CHECKOUT_ID)
    assert [gh.app.issues[n]["title"] for n in items] == [
        a["title"] for a in data["postmortem"]["action_items"]
    ]
    for n in items:
        assert f"/acme/incidents/issues/{pm}" in gh.app.issues[n]["body"]
    assert gh.app.issues[items[0]]["assignees"] == ["grace"]  # owner, assignable
    assert gh.app.issues[items[1]]["assignees"] == []  # heidi is not a collaborator
    # The request log: every write, once.
    assert gh.writes() == [
        ("POST", R + "/labels"),
        ("POST", R + "/issues"),
        *[("POST", R + "/issues/1/comments")] * 6,
        ("POST", R + "/issues"),
        ("POST", R + "/issues"),
        ("POST", R + "/issues"),
        ("PATCH", R + "/issues/1"),
    ]
    patch = gh.app.payloads[-1][2]
    assert set(patch) == {"title", "body", "state", "state_reason"}  # one PATCH: link + close
    # Reads: the listing, the grade label, whether erin, frank (postmortem author), grace and
    # heidi (owners) may be assigned, and the listing again right after the create (a run
    # elsewhere may have created the incident at the same time).
    assert gh.app.reads() == 7


def test_resync_writes_nothing_with_or_without_local_state(gh: GH) -> None:
    gh.sync(CHECKOUT)
    gh.app.reset_log()
    result = gh.run("sync", str(CHECKOUT), "--json")
    assert result.exit_code == 0
    assert gh.screen(result.output) == (
        f'{{"incident": "{CHECKOUT_ID}", "tracker": "gh", "key": "#1", '
        '"url": "<gh>/acme/incidents/issues/1", "created": false, "operations": [], '
        '"error": null}\n'
    )
    assert gh.app.writes() == 0
    # A no-op resync is two reads: the listing by the incident's label and its comments.
    assert [(e.method, e.path) for e in gh.app.log] == [
        ("GET", R + "/issues"),
        ("GET", R + "/issues/1/comments"),
    ]
    gh.forget()
    gh.app.reset_log()
    gh.sync(CHECKOUT)
    # Without local state and without a marker key, the unsigned markers are trusted by
    # their author: the run asks once who its token is (with a key it never does).
    assert gh.app.writes() == 0 and gh.app.reads() == 3
    assert ("GET", "/user") in [(e.method, e.path) for e in gh.app.log]
    assert gh.marked(markers.BEGIN, CHECKOUT_ID) == [1]


def test_two_new_events_and_a_grade_change(gh: GH) -> None:
    data = ongoing()
    path = gh.write(data)
    gh.sync(path)
    issue = gh.incident(CHECKOUT_ID)
    gh.app.edit_issue(issue["number"], labels=[*issue["labels"], "customer-facing"])
    before = gh.events(CHECKOUT_ID)
    regrade(data)
    gh.write(data)
    gh.app.reset_log()
    gh.sync(path)
    assert gh.events(CHECKOUT_ID) == [*before, *event_ids(data)[4:6], "grade-SEV3-to-SEV1"]
    assert "SEV3 → SEV1" in gh.app.comment_bodies(issue["number"])[-1]
    # Exactly: two event comments, the regrade comment, the new grade's label, one PATCH.
    assert gh.writes() == [
        *[("POST", R + "/issues/1/comments")] * 3,
        ("POST", R + "/labels"),
        ("PATCH", R + "/issues/1"),
    ]
    patch = gh.app.payloads[-1][2]
    # People's label kept, the stale grade gone, the new one added, in one PATCH.
    assert patch["labels"] == [
        "incident",
        f"incident-id:{CHECKOUT_ID}",
        "customer-facing",
        "grade:SEV1",
    ]
    assert "state" not in patch  # still mitigated: open
    assert sorted(gh.incident(CHECKOUT_ID)["labels"]) == sorted(
        ["incident", "grade:SEV1", f"incident-id:{CHECKOUT_ID}", "customer-facing"]
    )
    assert gh.incident(CHECKOUT_ID)["state"] == "open"
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0


def normalised(app: FakeGitHub) -> dict[str, Any]:
    """Everything a person could see in the repository, without hosts and ports.

    (The digests cover the links, which hold the fake's port: they are left out too; the
    zero-write resync after convergence shows they match the content.)
    """

    def clean(text: str | None) -> str | None:
        return (
            re.sub(r"digest=[0-9a-f]+", "digest=…", text.replace(app.url, "URL")) if text else text
        )

    return {
        "issues": {
            n: (
                i["title"],
                clean(i["body"]),
                i["labels"],
                i["state"],
                i["state_reason"],
                i["assignees"],
                [clean(c) for c in app.comment_bodies(n)],
            )
            for n, i in sorted(app.issues.items())
        },
        "labels": sorted((x["name"], x["color"]) for x in app.labels.values()),
    }


@pytest.mark.parametrize("seed", [7, 11])
def test_thirty_percent_faults_converge_to_exactly_the_clean_state(
    gh: GH, seed: int, tmp_path: Path
) -> None:
    clean = FakeGitHub(users={"erin": "write", "alice": "write", "grace": "triage"}).start()
    try:
        (tmp_path / "clean").mkdir()
        reference = GH(clean, tmp_path / "clean")
        reference.sync(CHECKOUT)
        expected = normalised(clean)
    finally:
        clean.stop()

    gh.app.faults(0.3, seed=seed)
    codes = []
    for _ in range(15):
        codes.append(gh.run("sync", str(CHECKOUT)).exit_code)
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes
    gh.app.faults(0)
    faults = [e for e in gh.app.log if e.fault]
    assert len(faults) >= 3 and len({e.status for e in faults}) >= 2
    assert any(e.fault == "after" and e.method == "POST" for e in faults)  # writes that happened
    assert normalised(gh.app) == expected
    gh.app.reset_log()
    gh.sync(CHECKOUT)
    assert gh.app.writes() == 0


def test_peoples_text_labels_and_comments_survive(gh: GH) -> None:
    data = ongoing()
    path = gh.write(data)
    gh.sync(path)
    issue = gh.incident(CHECKOUT_ID)
    number = issue["number"]
    mine = "## Notes from the on-call\nCall the payments team first.\n\n"
    tail = "\n\n---\nSupport ticket: ZD-1234"
    gh.app.edit_issue(
        number,
        body=mine + issue["body"] + tail,
        labels=["customer-facing", *issue["labels"]],
    )
    gh.app.add_comment(number, "I am looking at the payments logs", user="alice")
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0  # people's edits are not "changes" to undo

    data.update(grade="SEV2", cause="A currency enum change.")
    gh.write(data)
    gh.sync(path)
    body = gh.incident(CHECKOUT_ID)["body"]
    assert body.startswith(mine) and body.endswith(tail)
    assert "A currency enum change." in body
    labels = gh.incident(CHECKOUT_ID)["labels"]
    assert "customer-facing" in labels and "grade:SEV2" in labels and "grade:SEV3" not in labels
    comments = gh.app.comment_bodies(number)
    assert "I am looking at the payments logs" in comments
    assert gh.events(CHECKOUT_ID) == [*event_ids(data), "grade-SEV3-to-SEV2"]
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0


def words(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(
        "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(2, 9)))
        for _ in range(n)
    )


@pytest.mark.parametrize("compressible", [True, False])
def test_a_body_over_githubs_limit_is_cut_never_rejected(gh: GH, compressible: bool) -> None:
    text = ("결제 서버 로그에서 타임아웃이 반복됨. " * 3200) if compressible else words(12_000)
    assert len(text) > 70_000
    data = ongoing(symptoms=text)
    data["timeline"].append(
        {"at": "2024-03-05T14:20:00Z", "text": text, "kind": "note", "id": "huge"}
    )
    path = gh.write(data)
    gh.sync(path)
    issue = gh.incident(CHECKOUT_ID)
    assert len(issue["body"]) <= BODY_LIMIT
    assert "GitHub 한도(65,536자)를 넘어" in issue["body"]  # the note says what happened
    assert markers.find(issue["body"], markers.BEGIN) is not None
    assert markers.find(issue["body"], markers.END) is not None
    snapshot = markers.find_snapshot(issue["body"])
    assert (snapshot is not None) is compressible  # kept when it fits, dropped when it cannot
    huge = [c for c in gh.app.comment_bodies(issue["number"]) if "id=huge" in c]
    assert len(huge) == 1 and len(huge[0]) <= BODY_LIMIT
    assert not any(e.status == 422 for e in gh.app.log)
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0
    if compressible:  # the imperative commands still read the incident from the snapshot
        assert gh.run("note", CHECKOUT_ID, "More logs collected").exit_code == 0
        assert len(gh.events(CHECKOUT_ID)) == 6


def test_a_bad_token_is_a_clear_error_and_never_shown(
    gh: GH, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "ghp_wrongTokenValue0123456789abcdef"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    result = gh.run("-vv", "sync", str(CHECKOUT))
    assert result.exit_code == 1
    assert result.stdout == (
        f"✗ {CHECKOUT_ID} → gh: cannot tell whether {CHECKOUT_ID} exists: list issues labelled "
        f"incident-id:{CHECKOUT_ID}: GitHub rejected the token in $GITHUB_TOKEN "
        "(Bad credentials) (HTTP 401)\n"
    )
    assert secret not in result.output  # -vv's debug logs included
    assert gh.app.writes() == 0 and gh.app.issues == {}
    assert {e.status for e in gh.app.log} == {401}


def test_postmortem_as_a_file_via_the_contents_api(gh: GH) -> None:
    gh.configure(postmortem="file", postmortem_path="docs/postmortems/{id}.md")
    data = load_yaml(CHECKOUT)
    path = gh.write(data)
    gh.sync(path)
    file_path = f"docs/postmortems/{CHECKOUT_ID}.md"
    text = gh.app.file(file_path)
    assert text is not None and text.startswith(f"<!-- incident-syncer:postmortem id={CHECKOUT_ID}")
    assert data["postmortem"]["summary"] in text
    assert gh.marked("postmortem", CHECKOUT_ID) == []  # no postmortem issue
    html = f"{gh.app.url}/acme/incidents/blob/main/{file_path}"
    assert html in gh.incident(CHECKOUT_ID)["body"]  # the issue links the file
    items = gh.marked("action", CHECKOUT_ID)
    assert len(items) == 2 and html in gh.app.issues[items[0]]["body"]
    assert [c["path"] for c in gh.app.commits] == [file_path]

    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0
    assert gh.app.reads() == 3  # listing, comments, the file

    data["postmortem"]["summary"] = "Rewritten after the review."
    gh.write(data)
    gh.app.reset_log()
    gh.sync(path)
    # The file updated in place (with its sha); the issue's snapshot holds the postmortem too.
    assert gh.writes() == [("PUT", f"{R}/contents/{file_path}"), ("PATCH", R + "/issues/1")]
    assert "sha" in gh.app.payloads[0][2]
    assert "Rewritten after the review." in (gh.app.file(file_path) or "")
    assert len(gh.app.commits) == 2
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0


def test_postmortem_file_on_a_branch(gh: GH) -> None:
    gh.app.add_branch("incident-docs")
    gh.configure(postmortem="file", postmortem_branch="incident-docs")
    gh.sync(CHECKOUT)
    assert gh.app.file(f"postmortems/{CHECKOUT_ID}.md", "incident-docs") is not None
    assert gh.app.file(f"postmortems/{CHECKOUT_ID}.md") is None
    gh.app.reset_log()
    gh.sync(CHECKOUT)
    assert gh.app.writes() == 0


def test_github_enterprise_base_url(gh: GH, tmp_path: Path) -> None:
    ghe = FakeGitHub(require_prefix=True, users={"erin": "write"}).start()
    try:
        enterprise = GH(ghe, tmp_path)
        enterprise.configure(base_url=ghe.ghe_url)
        enterprise.sync(CHECKOUT)
        assert len(enterprise.marked(markers.BEGIN, CHECKOUT_ID)) == 1
        assert enterprise.events(CHECKOUT_ID) == event_ids(load_yaml(CHECKOUT))
        assert ghe.log and all(e.path.startswith("/api/v3/repos/acme/incidents") for e in ghe.log)
        ghe.reset_log()
        enterprise.sync(CHECKOUT)
        assert ghe.writes() == 0
    finally:
        ghe.stop()


def test_a_create_whose_answer_is_lost_still_makes_one_issue(gh: GH) -> None:
    gh.app.fail_after("POST", r"/issues$", 502)
    gh.sync(CHECKOUT)
    creates = gh.app.entries("POST", r"/issues$")
    assert [e.status for e in creates][:2] == [502, 201]  # the incident's, then the postmortem's
    assert len(creates) == 4  # incident, postmortem, 2 action items: nothing sent twice
    assert gh.marked(markers.BEGIN, CHECKOUT_ID) == [1]
    assert gh.events(CHECKOUT_ID) == event_ids(load_yaml(CHECKOUT))


def test_pygithub_does_not_retry_writes_itself(gh: GH) -> None:
    gh.sync(gh.write(ongoing()))
    data = ongoing()
    data["timeline"].append({"at": "2024-03-05T14:30:00Z", "text": "One more", "kind": "note"})
    path = gh.write(data)
    gh.app.reset_log()
    gh.app.fail_after("POST", r"/comments$", 500)
    gh.sync(path)
    posts = gh.app.entries("POST", r"/comments$")
    assert [e.status for e in posts] == [500]  # one POST; the engine looked again, found it
    assert gh.events(CHECKOUT_ID) == event_ids(data)


def test_duplicates_heal_keeping_the_older(gh: GH) -> None:
    data = load_yaml(CHECKOUT)
    gh.sync(CHECKOUT)
    first = gh.incident(CHECKOUT_ID)
    # A racing second sync made #5 with only two of the events (and no label colour).
    dup = gh.app.add_issue(
        first["title"], first["body"], list(first["labels"]), user="incident-bot"
    )
    for body in gh.app.comment_bodies(1)[:2]:
        gh.app.add_comment(dup, body, user="incident-bot")
    # And the older one lost its last event (a person deleted the comment).
    last = gh.app.issues[1]["comments"][-1]
    gh.app.issues[1]["comments"].remove(last)
    gh.forget()
    gh.app.reset_log()
    result = gh.sync(CHECKOUT)
    assert gh.screen(result.output) == (
        f"✓ {CHECKOUT_ID} → gh #1 <gh>/acme/incidents/issues/1: updated\n"
        "    - add 1 timeline comment(s): e-0e8ccf01ca94\n"
        "    - close duplicate #5 (keeping the older one)\n"
    )
    assert gh.events(CHECKOUT_ID) == event_ids(data)  # the older one has every event
    younger = gh.app.issues[dup]
    assert (younger["state"], younger["state_reason"]) == ("closed", "not_planned")
    assert (
        f"incident-id:{CHECKOUT_ID}" not in younger["labels"] and "duplicate" in younger["labels"]
    )
    assert gh.app.comment_bodies(dup)[-1].startswith("Duplicate of #1")
    assert gh.writes() == [
        ("POST", R + "/issues/1/comments"),
        ("POST", f"{R}/issues/{dup}/comments"),
        ("PATCH", f"{R}/issues/{dup}"),
    ]
    gh.forget()
    gh.app.reset_log()
    gh.sync(CHECKOUT)
    assert gh.app.writes() == 0
    assert gh.marked(markers.BEGIN, CHECKOUT_ID) == [1, dup]  # the body is untouched...
    assert gh.incident(CHECKOUT_ID)["number"] == 1  # ...but only #1 is the incident


def test_secondary_rate_limit_is_waited_out_and_paced_for(gh: GH) -> None:
    gh.app.fail_next_secondary(403, retry_after="0")
    path = gh.write(ongoing())
    gh.sync(path)
    assert gh.app.log[0].status == 403
    assert len(gh.events(CHECKOUT_ID)) == 4

    # Unpaced, five writes in a burst exceed "3 writes a second"; paced at 2.5/s they don't.
    second = ongoing(id="INC-burst")
    gh.app.secondary_limit(3, 1.0, status=429, retry_after="0.2")
    gh.app.reset_log()
    gh.sync(gh.write(second, "burst.yaml"))
    assert any(e.status == 429 for e in gh.app.log)
    assert len(gh.events("INC-burst")) == 4
    gh.configure(writes_per_second=2.5)
    gh.app.secondary_limit(3, 1.0, status=429, retry_after="0.2")  # a fresh window
    gh.app.reset_log()
    gh.sync(gh.write(ongoing(id="INC-paced"), "paced.yaml"))
    assert not any(e.status == 429 for e in gh.app.log)
    assert len(gh.events("INC-paced")) == 4


def test_primary_rate_limit_waits_for_the_reset(gh: GH) -> None:
    gh.app.exhaust_primary(reset_in=30)  # longer than any backoff: only the reset explains a wait
    gh.sync(CHECKOUT)
    limited, retried = gh.app.log[:2]
    assert (limited.status, retried.status) == (403, 200)  # asked again once, when it was back
    assert retried.path == limited.path
    assert 29 <= retried.at - limited.at <= 31  # X-RateLimit-Reset: whole seconds
    assert gh.events(CHECKOUT_ID) == event_ids(load_yaml(CHECKOUT))


def test_comments_are_read_page_by_page(gh: GH) -> None:
    gh.configure(page_size=10)
    data = ongoing()
    data["timeline"] = [
        {"at": f"2024-03-05T14:{m:02d}:00Z", "text": f"step {m}", "kind": "note"} for m in range(25)
    ]
    path = gh.write(data)
    gh.sync(path)
    assert gh.events(CHECKOUT_ID) == event_ids(data)
    gh.forget()
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0
    pages = gh.app.entries("GET", r"/issues/1/comments$")
    assert len(pages) == 3  # 25 comments, 10 a page, following rel="next"
    data["timeline"] += [
        {"at": f"2024-03-05T15:{m:02d}:00Z", "text": f"step {m}", "kind": "note"} for m in range(5)
    ]
    gh.write(data)
    gh.sync(path)
    gh.forget()
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0
    pages = gh.app.entries("GET", r"/issues/1/comments$")
    assert len(pages) == 3  # 30 comments: the last full page has no next link, nothing more read


def test_reopen_and_close_again(gh: GH) -> None:
    data = load_yaml(CHECKOUT)
    path = gh.write(data)
    gh.sync(path)
    data["status"] = "investigating"
    for key in ("resolved_at", "closed_at"):
        data.pop(key)
    gh.write(data)
    gh.sync(path)
    issue = gh.incident(CHECKOUT_ID)
    assert (issue["state"], issue["state_reason"]) == ("open", "reopened")
    data["status"] = "resolved"
    data["resolved_at"] = "2024-03-05T16:00:00Z"
    gh.write(data)
    gh.sync(path)
    issue = gh.incident(CHECKOUT_ID)
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")


def test_commander_who_is_not_a_github_user_is_not_assigned(gh: GH) -> None:
    path = gh.write(ongoing(commander="김철수"))
    gh.sync(path)
    assert gh.incident(CHECKOUT_ID)["assignees"] == []
    assert not gh.app.entries("GET", "/assignees/")  # not a login: not even asked
    path = gh.write(ongoing(id="INC-2", commander="mallory"), "two.yaml")
    gh.sync(path)
    issue = gh.incident("INC-2")
    assert issue["assignees"] == []
    assert [e.status for e in gh.app.entries("GET", "/assignees/")] == [404]
    gh.configure(assign_commander=False)
    gh.sync(gh.write(ongoing(id="INC-3", commander="erin"), "three.yaml"))
    assert gh.incident("INC-3")["assignees"] == []


def test_many_incidents_in_parallel_share_one_adapter_safely(gh: GH) -> None:
    gh.app.latency = 0.005
    paths = []
    for i in range(6):
        data = copy.deepcopy(load_yaml(CHECKOUT))
        data["id"] = f"INC-par-{i}"
        paths.append(gh.write(data, f"par-{i}.yaml"))
    gh.sync(*paths)
    expected = event_ids(load_yaml(CHECKOUT))
    for i in range(6):
        assert gh.events(f"INC-par-{i}") == expected
        assert len(gh.marked("postmortem", f"INC-par-{i}")) == 1
        assert len(gh.marked("action", f"INC-par-{i}")) == 2
    assert len(gh.app.issues) == 6 * 4
    gh.app.reset_log()
    gh.sync(*paths)
    assert gh.app.writes() == 0


def test_long_incident_ids_get_a_short_stable_label(gh: GH) -> None:
    long_id = "INC-2024-0305-" + "checkout-payments-currency-enum-rollback"
    data = copy.deepcopy(load_yaml(CHECKOUT))
    data["id"] = long_id
    path = gh.write(data)
    gh.sync(path)
    labels = [x for x in gh.incident(long_id)["labels"] if x.startswith("incident-id:")]
    assert len(labels) == 1 and len(labels[0]) == 50
    assert re.fullmatch(r"incident-id:INC-2024-0305-checkout-paymen~[0-9a-f]{8}", labels[0])
    gh.forget()
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0


def test_unreachable_github_is_a_retryable_error(gh: GH) -> None:
    gh.app.stop()
    result = gh.run("sync", str(BANNER), "--json")
    assert result.exit_code == 1
    error = (
        "cannot tell whether INC-2024-0212-banner exists: list issues labelled "
        "incident-id:INC-2024-0212-banner: cannot reach <gh>: ConnectionError"
    )
    assert gh.screen(result.stdout) == (
        '{"incident": "INC-2024-0212-banner", "tracker": "gh", "key": null, "url": null, '
        f'"created": false, "operations": [], "error": "{error}"}}\n'
    )
    assert result.stderr == ""  # the failure is said once, in its result


def test_settings_are_checked_by_name(gh: GH) -> None:
    gh.configure(postmortem="wiki", colour="red")
    result = gh.run("sync", str(BANNER))
    assert result.exit_code == 2
    assert gh.screen(result.output) == (
        "Error: <tmp>/incident-syncer.toml:14: trackers.gh.postmortem: "
        "expected one of 'issue' or 'file', found 'wiki'\n"
        "Error: <tmp>/incident-syncer.toml:15: trackers.gh.colour: unknown key\n"
    )
    assert gh.app.calls() == 0


def test_a_long_title_is_cut_to_githubs_limit(gh: GH) -> None:
    path = gh.write(ongoing(title="Checkout-" * 28))  # 252 characters, 259 with the grade
    gh.sync(path)
    title = gh.incident(CHECKOUT_ID)["title"]
    assert len(title) == 256 and title.startswith("[SEV3] Checkout") and title.endswith("…")
    gh.app.reset_log()
    gh.sync(path)
    assert gh.app.writes() == 0


def test_a_token_that_cannot_label_is_a_clear_error(gh: GH) -> None:
    gh.app.push_access = False
    result = gh.sync(gh.write(ongoing()), expect=1)
    error = (
        "#1 was created without the labels ['grade:sev3', 'incident', "
        f"'incident-id:{CHECKOUT_ID.lower()}']: the token in $GITHUB_TOKEN needs write access "
        "to acme/incidents's issues (HTTP 403)"
    )
    assert result.stdout == f"✗ {CHECKOUT_ID} → gh: {error}\n"
    assert result.stderr == (
        "WARNING adapters.github: gh: cannot create label grade:SEV3: gh: create label "
        "grade:SEV3: Must have push access to repository (HTTP 403)\n"
    )
    assert len(gh.app.issues) == 1 and gh.app.comments == {}


def test_githubs_documented_budget_is_the_default(gh: GH) -> None:
    from adapters.github import GitHubAdapter, GitHubSettings
    from syncer import config

    settings = GitHubSettings.model_validate({"type": "github", "repo": "acme/incidents"})
    adapter = GitHubAdapter("paced", settings, config.parse({}, None))
    assert adapter.pacer.write_rate == 1.0  # GitHub: about one content-creating request a second
    assert adapter.pacer.write_windows == ((80, 60.0), (500, 3600.0))
    table = github_tracker(gh.app)
    lifted = GitHubAdapter("unpaced", GitHubSettings.model_validate(table), config.parse({}, None))
    assert not lifted.pacer.paced


def test_a_cached_issue_that_is_gone_is_looked_up_again(gh: GH) -> None:
    path = gh.write(ongoing())
    gh.sync(path)
    with gh.app.lock:
        del gh.app.issues[1]  # deleted by an admin; the local state still says #1
    gh.app.reset_log()
    result = gh.sync(path)
    assert gh.screen(result.output) == (
        f"✓ {CHECKOUT_ID} → gh #2 <gh>/acme/incidents/issues/2: created\n"
        "    - create issue '[SEV3] Checkout returns HTTP 500 after the payments deploy' "
        "with label grade:SEV3\n"
        "    - add 4 timeline comment(s): e-2ced840e625c, e-3b1b89e2f7cc, e-474219dc5bfe, "
        "e-e7d7bb0ee1a3\n"
    )
    assert gh.events(CHECKOUT_ID) == event_ids(ongoing())
    # The cached #1 is checked (a listing), found gone, looked up (a listing), created anew.
    assert [(e.method, e.path) for e in gh.app.log][:2] == [("GET", R + "/issues")] * 2
    assert len(gh.app.entries("POST", r"/issues$")) == 1
