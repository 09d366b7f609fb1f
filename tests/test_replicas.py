"""Several writers, one record: serve replicas and parallel runners on one PostgreSQL state.

* Two ``serve`` processes on one PostgreSQL state, the same alert groups
  delivered alternately to both, eight at a time; one is SIGKILLed mid-load
  and the survivor applies every delivery the dead one had accepted.
* Eight parallel ``sync`` processes (separate folders, one state): one issue,
  one postmortem, one set of action items on every tracker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer import config as config_mod
from syncer import markers
from syncer.state import open_state
from tests.conftest import BANNER, write_config
from tests.contract.suite import event_ids
from tests.pg import PG
from tests.procs import run_together, wait_until
from tests.test_ingest_helpers import am_alert, am_group
from tests.test_serve_process import ServeProcess, Trackers, each, incident_id, running_trackers

pytestmark = pytest.mark.slow  # several serve processes and syncs on one PostgreSQL state

GROUPS = 4


@pytest.fixture
def trackers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trackers]:
    with running_trackers(tmp_path, monkeypatch) as trackers:
        yield trackers


def query(pg: PG, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{pg.schema}"')
        return conn.execute(sql, args).fetchall()


def group(n: int, status: str = "firing", peer: int = 0) -> dict[str, Any]:
    alert = (
        am_alert(f"order-api-{n}", status="resolved", ends="2025-11-03T07:02:00Z")
        if status == "resolved"
        else am_alert(f"order-api-{n}")
    )
    return am_group(
        [alert],
        group_key=f'{{}}/{{namespace="shop-prod"}}:{{alertname="Replica{n}"}}',
        external_url=f"http://alertmanager-{peer}.monitoring:9093",
    )


def test_two_replicas_one_issue_per_group_and_a_killed_ones_deliveries_applied_by_the_other(
    trackers: Trackers, pg: PG, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "incident-syncer.toml",
        trackers.tables(),
        extra=(
            '\n[ingest]\non_resolved = "resolved"\n\n[serve]\nworkers = 4\n'
            # A short lease, so that the survivor takes the dead one's deliveries soon; longer
            # than a loaded machine stalls a replica, so that no live one loses its claims.
            "lease = 3.0\npoll_interval = 0.05\n"
        ),
        **pg.syncer_keys(),
    )
    replicas = [ServeProcess(config, tmp_path / f"serve-{n}.log").start() for n in range(2)]
    held = incident_id(config, group(0))  # its deliveries wait for the lock the test holds
    state = open_state(config_mod.load(str(config)))
    lock = ExitStack()
    trackers.github.latency = 0.05  # the work outlasts the answers: the kill lands mid-load
    try:
        lock.enter_context(state.incident_lock(f"group-{held}"))
        # Each group fires, delivered by both peers of the HA pair three times over.
        firing = [(n, peer) for _ in range(3) for n in range(GROUPS) for peer in range(2)]
        accepted: list[int] = []

        def send(data: dict[str, Any], to: ServeProcess) -> int:
            answer = to.post(data)
            assert answer.status_code == 202, answer.text
            return int(answer.json()["delivery"])

        with ThreadPoolExecutor(max_workers=8) as pool:  # alternately to each replica
            accepted += pool.map(
                lambda i: send(group(firing[i][0], peer=firing[i][1]), replicas[i % 2]),
                range(len(firing)),
            )
        # The held group's first delivery, claimed by a replica that waits for the lock: that
        # replica dies (mid-load: the other groups are being applied), still holding it.
        (owner,) = wait_until(
            "a replica to claim the held group's first delivery",
            lambda: query(
                pg,
                "SELECT claimed_by FROM deliveries WHERE grp=%s AND state='pending' "
                "AND claimed_by IS NOT NULL",
                held,
            ),
        )
        doomed = next(r for r in replicas if f":{r.pid}:" in owner[0])
        alive = next(r for r in replicas if r is not doomed)
        doomed.kill()
        orphans = [
            r[0]
            for r in query(
                pg, "SELECT id FROM deliveries WHERE state='pending' AND claimed_by=%s", owner[0]
            )
        ]
        assert orphans  # still held by the dead replica: only its lease frees them
        trackers.github.latency = 0.0
        lock.close()

        # Then every group resolves; the survivor takes every delivery alone.
        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted += pool.map(
                lambda n: send(group(n % GROUPS, "resolved", peer=n // GROUPS), alive),
                range(2 * GROUPS),
            )
        alive.wait_idle()  # every delivery of the shared journal finished
    finally:
        lock.close()
        state.close()
        for replica in replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                replica.kill()

    rows = query(pg, "SELECT id, state, outcome FROM deliveries ORDER BY id")
    assert sorted(accepted) == [r[0] for r in rows]  # every accepted delivery, once
    assert {r[1] for r in rows} == {"done"}
    assert set(orphans) <= {r[0] for r in rows if r[1] == "done"}
    outcomes = {r[0]: json.loads(r[2]) for r in rows}
    actions = [o["action"] for o in outcomes.values()]
    # The held group's first delivery never got past the dead replica's wait: the survivor
    # applied it, and it opened the incident.
    head = min(i for i in orphans if outcomes[i]["group"] == held)
    assert outcomes[head]["action"] == "opened"
    # A delivery is applied again when the replica applying it died (or stalled past its lease)
    # before its journal said so: the second time it reads "unchanged" (the incident shows it).
    # Each group opened once all the same, and the resolves all happened on the survivor.
    assert set(actions) <= {"opened", "unchanged", "resolved"}
    assert actions.count("opened") <= GROUPS and actions.count("resolved") == GROUPS
    for n in range(GROUPS):
        inc = incident_id(config, group(n))
        assert trackers.issues(inc) == each(1)
        assert trackers.events(inc) == each(2)  # fired, resolved: in that order, once each
        assert trackers.closed(inc) == each(True)


def test_eight_parallel_syncs_with_one_postgresql_state_create_everything_once(
    trackers: Trackers, pg: PG, tmp_path: Path
) -> None:
    data = yaml.safe_load(BANNER.read_text(encoding="utf-8"))
    inc = data["id"]
    runs = []
    for n in range(8):
        folder = tmp_path / f"runner-{n}"
        folder.mkdir()
        config = write_config(
            folder / "incident-syncer.toml",
            trackers.tables(),
            state_url_env="TEST_STATE_URL",
            state_schema=pg.schema,
        )
        (folder / "inc.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
        runs.append((folder, ["--config", str(config), "sync", "inc.yaml"]))
    codes = run_together(runs, {**trackers.env(), "TEST_STATE_URL": pg.dsn})
    logs = [(folder / "run.log").read_text(encoding="utf-8") for folder, _ in runs]
    assert codes == [0] * 8, logs
    assert sum("created" in log for log in logs) == 1, logs  # one runner created, seven found it
    items = len(data["postmortem"]["action_items"])
    for name in ("gh", "jira", "notion"):
        harness = trackers.harnesses[name]
        assert len(harness.issues(inc)) == 1, name
        assert harness.postmortems(inc) == 1, name
        assert harness.action_items(inc) == items, name
    stored = json.loads(trackers.store.read_text(encoding="utf-8"))["issues"].values()
    kinds = [i["kind"] for i in stored if i["incident"] == inc]
    assert sorted(kinds) == sorted(["incident", "postmortem"] + ["action_item"] * items)


def test_eight_runs_without_shared_state_then_one_stateless_sync_leave_one_of_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented GitHub Actions case: each runner with a state of its own (none shared)."""
    from tests.contract.test_github import GitHubHarness
    from tests.contract.test_jira import JiraHarness
    from tests.contract.test_notion import NotionHarness
    from tests.fakes.github import FakeGitHub, fresh_pacers
    from tests.fakes.jira import FakeJira
    from tests.fakes.notion import FakeNotion

    fresh_pacers(monkeypatch)
    github, jira, notion = FakeGitHub().start(), FakeJira(cloud=True).start(), FakeNotion()
    notion.start()
    harnesses: dict[str, Any] = {
        "gh": GitHubHarness(github),
        "jira": JiraHarness(jira, cloud=True),
        "notion": NotionHarness(notion, postmortem_database_id=notion.pm_db_id),
    }
    store = tmp_path / "memory-tracker.json"
    tables = {n: h.table for n, h in harnesses.items()} | {
        "mem": {"type": "memory", "path": str(store)}
    }
    env = {k: v for h in harnesses.values() for k, v in h.env.items()}
    data = yaml.safe_load(BANNER.read_text(encoding="utf-8"))
    inc, items = data["id"], len(data["postmortem"]["action_items"])
    try:
        runs = []
        for n in range(9):  # eight racing runners, then one more with no state at all
            folder = tmp_path / f"runner-{n}"
            folder.mkdir()
            config = write_config(folder / "incident-syncer.toml", tables)
            (folder / "inc.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
            runs.append((folder, ["--config", str(config), "sync", "inc.yaml"]))
        codes = run_together(runs[:8], env)
        # Racing runs may trip over each other's writes (exit 1, journaled); none may crash.
        logs = [(f / "run.log").read_text("utf-8") for f, _ in runs[:8]]
        assert set(codes) <= {0, 1} and not any("Traceback" in log for log in logs), logs
        assert run_together(runs[8:], env) == [0], (runs[8][0] / "run.log").read_text("utf-8")

        def jira_open(kind: str) -> int:
            return len(
                [
                    i
                    for i in harnesses["jira"]._of_kind(inc, kind)
                    if not any(x.startswith("incident-duplicate-") for x in i.labels)
                ]
            )

        counts = {
            "gh": (
                len(harnesses["gh"].issues(inc)),
                harnesses["gh"].postmortems(inc),
                harnesses["gh"].action_items(inc),
            ),
            "jira": (
                len(harnesses["jira"].issues(inc)),
                jira_open("postmortem"),
                jira_open("action"),
            ),
            "notion": (
                len(harnesses["notion"].issues(inc)),
                harnesses["notion"].postmortems(inc),
                harnesses["notion"].action_items(inc),
            ),
        }
        issues = json.loads(store.read_text(encoding="utf-8"))["issues"].values()
        kinds = [i["kind"] for i in issues if i["incident"] == inc]  # "duplicate" once closed
        counts["mem"] = (
            kinds.count("incident"),
            kinds.count("postmortem"),
            kinds.count("action_item"),
        )
        assert counts == dict.fromkeys(counts, (1, 1, items))
        # Each timeline entry once: the younger runs' repeats on the kept issue are removed.
        (kept,) = [i for i in issues if i["incident"] == inc and i["kind"] == "incident"]
        on_memory = [
            m["id"] for c in kept["comments"] if (m := markers.trailing(c["body"], "event"))
        ]
        timelines = {n: sorted(h.events(inc)) for n, h in harnesses.items()}
        timelines["mem"] = sorted(on_memory)
        assert timelines == dict.fromkeys(timelines, sorted(event_ids(data)))
    finally:
        for app in (github, jira, notion):
            app.stop()
